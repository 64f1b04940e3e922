#!/usr/bin/env bash
# The MCP door checked by the official MCP Python SDK (PyPI `mcp`, pinned below), an
# independent client: a daemon on a fresh data directory, then tools/mcp_sdk_check.py over
# streamable HTTP (/mcp) and over stdio (`budget mcp`).
#
#   tools/mcp-sdk-test.sh [PATH_TO_BUDGET_BINARY]     (default: target/debug/budget)
#
# Exit status: the check's (0 pass, 1 a check failed); 2 when it could not run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/target/debug/budget}
[[ $bin == /* ]] || bin=$PWD/$bin
MCP_SDK_VERSION=2.3.0
venv=$root/target/mcp-venv
die() { echo "mcp-sdk-test: $*" >&2; exit 2; }
[[ -x $bin ]] || die "no executable budget binary at '$bin' (build it with 'cargo build')"
if ! "$venv/bin/python" -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$MCP_SDK_VERSION'" 2>/dev/null; then
  echo "mcp-sdk-test: installing mcp==$MCP_SDK_VERSION into $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_SDK_VERSION" ||
    die "could not install the MCP SDK"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/budget-mcp.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
printf '[price_monitor]\nenabled = false\n' > "$work/budget.toml"
"$bin" serve --config "$work/budget.toml" --bind 127.0.0.1:0 --data-dir "$work/data" > "$work/daemon.log" 2>&1 &
pid=$!
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's|^budget listening on http://\([^ ]*\).*|\1|p' "$work/daemon.log" | head -n1)
  [[ -n $addr ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $addr && -s $work/data/admin.key ]] || { tail -n 30 "$work/daemon.log" >&2; die "the daemon did not start"; }
echo "mcp-sdk-test: daemon at http://$addr, MCP Python SDK $MCP_SDK_VERSION"
"$venv/bin/python" "$root/tools/mcp_sdk_check.py" --binary "$bin" --base "http://$addr" \
  --key "$(tr -d '[:space:]' < "$work/data/admin.key")"
