"""Test fixtures: a real Tekton Budget daemon per session (and fresh ones where a test
module needs a daemon to itself), started from ``$BUDGET_BINARY`` or
``<repo>/target/debug/budget``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from tekton_budget import AsyncBudgetClient, BudgetClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
# Real Rhetor and Apollo data, copied with its provenance into the repository.
FIXTURES = Path(os.environ.get("TEKTON_FIXTURES", REPO / "tests" / "fixtures" / "tekton"))

_LISTENING = re.compile(r"budget listening on (http://\S+)")
# Variables the daemon (and the client) would read; the tests set what they need.
_DAEMON_ENV_DROP = (
    "BUDGET_URL",
    "BUDGET_API_KEY",
    "BUDGET_CONFIG",
    "BUDGET_DATA_DIR",
    "BUDGET_BIND",
    "BUDGET_PORT",
    "BUDGET_TIMEZONE",
    "TEKTON_DATA_DIR",
    "DATABASE_URL",
)


def budget_binary() -> Path:
    configured = os.environ.get("BUDGET_BINARY")
    path = Path(configured) if configured else REPO / "target" / "debug" / "budget"
    return path.resolve()


@dataclass
class Daemon:
    url: str
    admin_key: str
    data_dir: Path
    process: subprocess.Popen[str]
    stdout_lines: list[str] = field(default_factory=list)

    def client(self, key: str | None = None) -> BudgetClient:
        return BudgetClient(self.url, key or self.admin_key)

    def async_client(self, key: str | None = None) -> AsyncBudgetClient:
        return AsyncBudgetClient(self.url, key or self.admin_key)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_daemon(workdir: Path, timeout: float = 60.0) -> Daemon:
    binary = budget_binary()
    if not binary.is_file():
        pytest.fail(
            f"budget binary not found at {binary}: build it (cargo build) or set BUDGET_BINARY",
            pytrace=False,
        )
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "budget.toml"
    config.write_text("[price_monitor]\nenabled = false\n", encoding="utf-8")
    data_dir = workdir / "data"
    env = {k: v for k, v in os.environ.items() if k not in _DAEMON_ENV_DROP}
    env.setdefault("RUST_LOG", "warn")
    stderr = open(workdir / "daemon.stderr.log", "w", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(binary),
            "serve",
            "--config",
            str(config),
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=workdir,
    )
    stderr.close()
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not found.is_set():
                url.append(match.group(1))
                found.set()

    threading.Thread(target=pump, name="budget-daemon-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (workdir / "daemon.stderr.log").read_text(encoding="utf-8", errors="replace")
            pytest.fail(
                f"the daemon did not report its address (exit {process.poll()}):\n"
                + "\n".join(lines)
                + "\n"
                + log[-4000:],
                pytrace=False,
            )
    key_file = data_dir / "admin.key"
    while not key_file.is_file() or not key_file.read_text(encoding="utf-8").strip():
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the daemon wrote no admin.key", pytrace=False)
        time.sleep(0.05)
    return Daemon(
        url=url[0],
        admin_key=key_file.read_text(encoding="utf-8").strip(),
        data_dir=data_dir,
        process=process,
        stdout_lines=lines,
    )


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The daemon shared by the whole session."""
    d = start_daemon(tmp_path_factory.mktemp("budget-session"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def own_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A fresh daemon for one test module (drop-ins that use the default budget names
    and unscoped budgets, and the README examples)."""
    d = start_daemon(tmp_path_factory.mktemp("budget-module"))
    yield d
    d.stop()


@pytest.fixture(scope="session")
def admin(daemon: Daemon) -> Iterator[BudgetClient]:
    with daemon.client() as c:
        yield c


@pytest_asyncio.fixture
async def aadmin(daemon: Daemon) -> AsyncIterator[AsyncBudgetClient]:
    async with daemon.async_client() as c:
        yield c


@pytest.fixture(scope="session")
def read_key(admin: BudgetClient) -> str:
    return admin.create_key("pytest-read", "read").key


@pytest.fixture
def name() -> str:
    """A unique budget/component name for one test."""
    return f"t-{uuid.uuid4().hex[:12]}"
