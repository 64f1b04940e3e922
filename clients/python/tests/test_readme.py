"""Runs the README's ```python blocks, in order, in one namespace, against a daemon of
their own (BUDGET_URL / BUDGET_API_KEY set as a user would)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Daemon

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_examples() -> None:
    assert len(python_blocks()) >= 8


def test_readme_examples_run(own_daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_URL", own_daemon.url)
    monkeypatch.setenv("BUDGET_API_KEY", own_daemon.admin_key)
    namespace: dict[str, object] = {"__name__": "readme"}
    for index, block in enumerate(python_blocks(), start=1):
        code = compile(block, f"README.md:python-block-{index}", "exec")
        exec(code, namespace)  # noqa: S102 - the README is ours
    client = namespace["client"]
    close = getattr(client, "close")
    close()
