#!/usr/bin/env bash
# Fuzz the REST API with Schemathesis (issue 7): start a daemon on a fresh data directory,
# seed it with a few budgets and a usage record, run every Schemathesis phase (examples,
# coverage, fuzzing, stateful) with every check against the daemon's own OpenAPI document,
# then check that the daemon is alive and that what it lists agrees with what the run
# created and deleted (tools/fuzz_check.py).
#
#   tools/fuzz.sh [PATH_TO_BUDGET_BINARY]        (default: target/debug/budget)
#
# Exit status: 0 when Schemathesis found nothing and the consistency check passed; 1 on a
# failure of either; 2 when the harness itself could not run (no binary, install failed,
# daemon did not start, Schemathesis stopped with an error of its own).
# Reports go to target/fuzz-report/: schemathesis.txt (console output), junit.xml, har.json
# (every request and response), daemon.log, seeded.txt, check.txt, rss.txt.
#
# Environment (all optional):
#   FUZZ_VENV          venv for Schemathesis              (default: target/fuzz-venv)
#   FUZZ_SEED          Schemathesis seed                  (default: 7)
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default: 100; ~2-3 min in all)
#   FUZZ_WORKERS       Schemathesis workers               (default: 2)
#   FUZZ_PYTHON        python used to create the venv     (default: the first of python3.13,
#                      python3.14, python3.12, pyenv's 3.13+, python3 that is not 3.11.0-3.11.7
#                      or 3.12.0-3.12.1, whose ast.parse fails under threads — CPython
#                      gh-106905 — which makes Hypothesis, and so Schemathesis, error out)
set -uo pipefail

SCHEMATHESIS_VERSION=4.32.5   # newest 4.x on PyPI when this was written

t0=$(date +%s)
orig_pwd=$PWD
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2

bin=${1:-target/debug/budget}
if [[ -n ${1:-} && $bin != /* && -e $orig_pwd/$bin ]]; then bin=$orig_pwd/$bin; fi
venv=${FUZZ_VENV:-target/fuzz-venv}
seed=${FUZZ_SEED:-7}
max_examples=${FUZZ_MAX_EXAMPLES:-100}
workers=${FUZZ_WORKERS:-2}
good_python() { # a python >= 3.10 without the threaded ast.parse bug
  "$1" -c 'import sys; v = sys.version_info[:3]
sys.exit(not (v >= (3, 10) and not ((3, 11) <= v < (3, 11, 8)) and not ((3, 12) <= v < (3, 12, 2))))' 2>/dev/null
}
python=${FUZZ_PYTHON:-}
if [[ -z $python ]]; then
  pyenv_root=$(pyenv root 2>/dev/null || true)
  for c in python3.13 python3.14 python3.12 ${pyenv_root:+"$pyenv_root"/versions/3.1[3-9]*/bin/python3} python3; do
    if good_python "$c"; then python=$c; break; fi
  done
  if [[ -z $python ]]; then
    python=python3
    echo "fuzz: warning: no python >= 3.12.2 or 3.11.8 found; using $(python3 --version 2>&1) (Hypothesis may fail with 'AST constructor recursion depth mismatch')" >&2
  fi
fi
report_dir=$root/target/fuzz-report

elapsed() { echo "fuzz: total wall time $(( $(date +%s) - t0 )) s"; }

if [[ ! -x $bin ]]; then
  echo "fuzz: no executable budget binary at '$bin' (build it with 'cargo build')" >&2
  elapsed; exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
mkdir -p "$(dirname "$venv")" && venv=$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")

# --- Schemathesis, pinned, installed once into the venv --------------------------------
installed=$("$venv/bin/schemathesis" --version 2>/dev/null || true)
if [[ $installed != *"version $SCHEMATHESIS_VERSION" ]] || ! good_python "$venv/bin/python"; then
  echo "fuzz: installing schemathesis==$SCHEMATHESIS_VERSION into $venv with $("$python" --version 2>&1)"
  { { [[ -x $venv/bin/python ]] && good_python "$venv/bin/python"; } || "$python" -m venv --clear "$venv"; } &&
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "schemathesis==$SCHEMATHESIS_VERSION" || { echo "fuzz: could not install schemathesis" >&2; elapsed; exit 2; }
fi
"$venv/bin/schemathesis" --version

# Also skipped: GET /api/v1/events, a Server-Sent Events stream that by design never ends
# (tests/alerts.rs covers it), and POST /api/v1/alert-channels/{id}/test, which sends to
# whatever URL a fuzzed channel names (tests/alerts.rs sends to a local receiver).

# --- the daemon, on a fresh data directory ------------------------------------------------
rm -rf "$report_dir"; mkdir -p "$report_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/budget-fuzz.XXXXXX")
daemon_log=$report_dir/daemon.log
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The price monitor stays on (its routes are fuzzed too) but never goes to the network:
# both default sources are disabled, nothing is fetched on start, and the fuzz skips
# POST /api/v1/prices/refresh.
cat > "$work/budget.toml" <<'EOF'
[log]
format = "text"

[price_monitor]
enabled = true
fetch_on_start = false

[[price_sources]]
name = "litellm"
kind = "litellm"
url = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
schedule = "0 0 */6 * * *"
trust = "0.9"
enabled = false

[[price_sources]]
name = "llm-prices"
kind = "llm_prices"
url = "https://www.llm-prices.com/current-v1.json"
schedule = "0 30 */6 * * *"
trust = "0.7"
publisher = "llm-prices.com"
enabled = false
EOF

NO_COLOR=1 BUDGET_DATA_DIR=$work/data "$bin" serve --config "$work/budget.toml" --bind 127.0.0.1:0 \
  > "$daemon_log" 2>&1 &
pid=$!
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's|^budget listening on http://\([^ ]*\).*|\1|p' "$daemon_log" | head -n1)
  [[ -n $addr ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $addr || ! -s $work/data/admin.key ]]; then
  echo "fuzz: the daemon did not start; the tail of its log:" >&2
  tail -n 40 "$daemon_log" >&2
  elapsed; exit 2
fi
base=http://$addr
key=$(tr -d '[:space:]' < "$work/data/admin.key")
rss() { sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null; }
rss_start=$(rss)
echo "fuzz: daemon pid $pid at $base, data in $work/data, RSS after start: $rss_start"

# --- Schemathesis ---------------------------------------------------------------------------
# The run must not revoke the key it runs with: Schemathesis learns ids from responses
# (GET /api/v1/keys lists this key) and would send DELETE /api/v1/keys/<its id>, after which
# every request is a 401. A before_call hook sends such a request with a fresh random id
# instead (a 404); DELETE /api/v1/keys/{id} is still fuzzed, and keys the run creates may be
# revoked. The OpenAPI document is used as the daemon serves it.
admin_key_ids=$("$venv/bin/python" - "$base" "$key" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/v1/keys", headers={"Authorization": "Bearer " + sys.argv[2]})
print(",".join(k["id"] for k in json.load(urllib.request.urlopen(req, timeout=30))))
PY
) || admin_key_ids=
if [[ -z $admin_key_ids ]]; then
  echo "fuzz: could not list the daemon's keys with the admin key" >&2; tail -n 40 "$daemon_log" >&2
  elapsed; exit 2
fi
# Something for the fuzzer to find: three budgets, an allocation and its usage record.
"$venv/bin/python" "$root/tools/fuzz_check.py" --base "$base" --key "$key" --seed-out "$report_dir/seeded.txt" ||
  { echo "fuzz: could not seed the daemon" >&2; tail -n 40 "$daemon_log" >&2; elapsed; exit 2; }
# The run must keep its own admin key: a DELETE of it is turned into the DELETE of a decoy,
# a read key created for the purpose, so the answer is still the 204 of a key that existed
# (a random id's 404 would be reported by the stateful phase as "created resource not found"
# when it reached that DELETE through a link).
cat > "$work/fuzz_hooks.py" <<'PY'
import json
import os
import urllib.request

import schemathesis

PROTECTED = set(filter(None, os.environ.get("FUZZ_PROTECTED_KEY_IDS", "").split(",")))


def decoy_key_id():
    request = urllib.request.Request(
        os.environ["FUZZ_BASE"] + "/api/v1/keys", method="POST",
        data=json.dumps({"name": "fuzz-decoy", "role": "read"}).encode(),
        headers={"Authorization": "Bearer " + os.environ["FUZZ_KEY"], "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["info"]["id"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if (case.method.upper() == "DELETE" and case.path == "/api/v1/keys/{id}"
            and str((case.path_parameters or {}).get("id")) in PROTECTED):
        case.path_parameters["id"] = decoy_key_id()
PY
# An explicit config file, so that a schemathesis.toml in this or a parent directory cannot
# change the run. Every option is on the command line but this one: by default Schemathesis
# masks any field whose name holds "token" or "key" in the reproductions it prints, which
# turns this API's input_tokens, token_limit, ... into "[Filtered]"; only the bearer key is
# masked here.
cat > "$work/schemathesis.toml" <<'TOML'
[output.sanitization]
keys-to-sanitize = ["authorization"]
sensitive-markers = ["authorization"]
TOML
# Every check runs but positive_data_acceptance ("a schema-valid request must not get a
# 400"): the schema states every rule a schema can (lengths, patterns, enums, ranges, formats),
# but not the rules across fields (a cron period needs a cron expression; token fields or an
# amount; per token or per million), the 2000-2199 time window inside format date-time, nor
# existence (an allocation_id that was never granted), and a 402 is a budget doing its job.
# The other direction, a schema-violating request accepted, is checked (negative_data_rejection).
st_cmd=("$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/api/v1/openapi.json"
  --header "Authorization: Bearer $key"
  --checks all
  --exclude-checks positive_data_acceptance
  --phases examples,coverage,fuzzing,stateful
  --exclude-name "POST /api/v1/prices/refresh"
  --exclude-name "GET /api/v1/events"
  --exclude-name "POST /api/v1/alert-channels/{id}/test"
  --seed "$seed"
  --max-examples "$max_examples"
  --workers "$workers"
  --continue-on-failure
  --request-timeout 30
  --generation-database none
  --report junit,har
  --report-dir "$report_dir"
  --report-junit-path "$report_dir/junit.xml"
  --report-har-path "$report_dir/har.json"
  --no-color)
shown=$(printf ' %q' "${st_cmd[@]}"); echo "fuzz: running${shown//"$key"/<admin key>}"
t_st=$(date +%s)
# Run from the report directory so that anything Schemathesis leaves behind lands there.
(cd "$report_dir" && PYTHONPATH=$work SCHEMATHESIS_HOOKS=fuzz_hooks FUZZ_PROTECTED_KEY_IDS=$admin_key_ids FUZZ_BASE=$base FUZZ_KEY=$key \
  "${st_cmd[@]}") 2>&1 | tee "$report_dir/schemathesis.txt"
st_rc=${PIPESTATUS[0]}
echo "fuzz: schemathesis exited $st_rc after $(( $(date +%s) - t_st )) s"

# --- the daemon afterwards: alive, and consistent with what the run did --------------------
"$venv/bin/python" "$root/tools/fuzz_check.py" --base "$base" --key "$key" --har "$report_dir/har.json" \
  --seeded "$report_dir/seeded.txt" \
  2>&1 | tee "$report_dir/check.txt"
check_rc=${PIPESTATUS[0]}

alive=no
if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then alive=yes; fi
rss_end=$(rss); hwm_end=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
printf 'RSS after start: %s\nRSS at the end:  %s (peak %s)\n' "$rss_start" "${rss_end:-gone}" "${hwm_end:-?}" |
  tee "$report_dir/rss.txt"

rc=0
if [[ $alive != yes ]]; then echo "fuzz: FAIL: the daemon died during the run"; rc=1; fi
if (( st_rc == 1 )); then echo "fuzz: FAIL: schemathesis reported failures (exit 1)"; rc=1
elif (( st_rc != 0 )); then echo "fuzz: ERROR: schemathesis did not run to its end (exit $st_rc)"; rc=2; fi
if (( check_rc != 0 )); then echo "fuzz: FAIL: the consistency check failed (exit $check_rc)"; (( rc )) || rc=1; fi
if (( rc != 0 )); then
  echo "fuzz: the tail of the daemon's log ($daemon_log):"
  tail -n 30 "$daemon_log"
else
  echo "fuzz: PASS"
fi
echo "fuzz: reports in $report_dir"
elapsed
exit $rc
