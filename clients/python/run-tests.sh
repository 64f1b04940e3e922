#!/usr/bin/env bash
# Checks the Python client: mypy --strict on the package, then pytest against real daemons.
#
#   clients/python/run-tests.sh [path/to/budget]
#
# The optional argument is the daemon binary the tests start (exported as BUDGET_BINARY;
# default <repo>/target/debug/budget). The venv lives in <repo>/target/py-venv and is reused.
# Exits non-zero if either mypy or pytest fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="$REPO/target/py-venv"
PYTHON="${PYTHON:-python3}"

if [[ $# -gt 1 ]]; then
    echo "usage: $0 [path/to/budget]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    BUDGET_BINARY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    export BUDGET_BINARY
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

cd "$REPO"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "clients/python[test]"

status=0
echo "== mypy --strict"
(cd "$HERE" && "$VENV/bin/python" -m mypy --strict src/tekton_budget) || status=1
echo "== pytest"
"$VENV/bin/python" -m pytest -q clients/python/tests || status=1

exit "$status"
