#!/usr/bin/env bash
# Browser test of the dashboard (/ui): start a daemon on a fresh data directory, seed it
# through the REST API (two budgets, usage over two weeks on four models, allocations,
# alerts, a price change held for approval), then drive Debian's Chromium through every view
# with tests/ui/dashboard.mjs (playwright-core, pinned in tests/ui/package-lock.json).
#
#   tools/ui-test.sh [PATH_TO_BUDGET_BINARY]        (default: target/debug/budget)
#
# Exit status: the browser test's (0 pass, 1 a check failed); 2 when the harness could not
# run (no binary, no Chromium, install failed, the daemon did not start or does not serve
# /ui/, seeding failed).
# Reports go to target/ui-report/: <view>.png screenshots, daemon.log, seed.log.
#
# Environment (all optional):
#   CHROMIUM             the browser (default /usr/bin/chromium; installed with apt-get when
#                        missing and running as root)
#   UI_TEST_TIMEOUT_MS   per-step timeout of the browser test (default 20000)
set -euo pipefail

t0=$(date +%s)
orig_pwd=$PWD
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bin=${1:-target/debug/budget}
if [[ -n ${1:-} && $bin != /* && -e $orig_pwd/$bin ]]; then bin=$orig_pwd/$bin; fi
report_dir=$root/target/ui-report
chromium=${CHROMIUM:-/usr/bin/chromium}

say() { echo "ui-test: $*"; }
die() { echo "ui-test: $*" >&2; echo "ui-test: total wall time $(( $(date +%s) - t0 )) s" >&2; exit 2; }

if [[ ! -x $bin ]]; then die "no executable budget binary at '$bin' (build it with 'cargo build')"; fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v node >/dev/null || die "node is needed (Debian: apt-get install nodejs npm)"
command -v curl >/dev/null || die "curl is needed"

# --- Chromium (Debian's) and playwright-core (pinned) -----------------------------------------
if [[ ! -x $chromium ]]; then
  if [[ $chromium == /usr/bin/chromium && $(id -u) == 0 ]]; then
    say "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } ||
      die "could not install chromium with apt-get"
  else
    die "no Chromium at $chromium: install Debian's package (apt-get install chromium) or set CHROMIUM"
  fi
fi
export CHROMIUM=$chromium
if [[ ! -d tests/ui/node_modules/playwright-core ]]; then
  say "installing tests/ui dependencies (npm ci)"
  npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error || die "npm ci --prefix tests/ui failed"
fi

# --- the daemon, on a fresh data directory ----------------------------------------------------
rm -rf "$report_dir"; mkdir -p "$report_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/budget-ui.XXXXXX")
daemon_log=$report_dir/daemon.log
seed_log=$report_dir/seed.log
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two local price feeds (LiteLLM's format) instead of the network sources: feed-a proposes a
# new gpt-4o-mini price (held for approval, since that price is set by hand below) and
# disagrees with feed-b on claude-haiku-4-5 (a conflict).
mkdir -p "$work/feeds"
cat > "$work/feeds/feed-a.json" <<'EOF'
{
  "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat",
                  "input_cost_per_token": 2e-07, "output_cost_per_token": 8e-07},
  "claude-haiku-4-5": {"litellm_provider": "anthropic", "mode": "chat",
                       "input_cost_per_token": 1e-05, "output_cost_per_token": 5e-06}
}
EOF
cat > "$work/feeds/feed-b.json" <<'EOF'
{
  "claude-haiku-4-5": {"litellm_provider": "anthropic", "mode": "chat",
                       "input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06}
}
EOF
cat > "$work/budget.toml" <<EOF
[log]
format = "text"

[price_monitor]
enabled = true
fetch_on_start = false

[[price_sources]]
name = "feed-a"
kind = "file"
format = "litellm"
url = "$work/feeds/feed-a.json"
schedule = "0 0 0 1 1 *"
trust = "0.9"
min_interval_seconds = 0

[[price_sources]]
name = "feed-b"
kind = "file"
format = "litellm"
url = "$work/feeds/feed-b.json"
schedule = "0 0 0 1 1 *"
trust = "0.7"
min_interval_seconds = 0
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
  tail -n 40 "$daemon_log" >&2
  die "the daemon did not start (log above)"
fi
base=http://$addr
key=$(tr -d '[:space:]' < "$work/data/admin.key")
say "daemon pid $pid at $base, data in $work/data"

ui_status=$(curl -s -o /dev/null -w '%{http_code}' "$base/ui/") || ui_status=000
[[ $ui_status == 200 ]] || die "GET $base/ui/ answered $ui_status: this binary does not serve the dashboard"

# --- seeding through the REST API ---------------------------------------------------------------
# api METHOD PATH [JSON] [EXPECTED_STATUS]: the response body on stdout; any status other than
# 2xx (or EXPECTED_STATUS) fails the seeding.
api() {
  local method=$1 path=$2 data=${3:-} expect=${4:-2..}
  local args=(-sS -X "$method" -H "Authorization: Bearer $key" -o "$work/resp" -w '%{http_code}')
  if [[ -n $data ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$data"); fi
  local code
  code=$(curl "${args[@]}" "$base$path") || code=000
  echo "$method $path -> $code" >> "$seed_log"
  if [[ ! $code =~ ^$expect$ ]]; then
    { echo "ui-test: $method $path answered $code (expected $expect):"; cat "$work/resp"; echo; } | tee -a "$seed_log" >&2
    return 1
  fi
  cat "$work/resp"
}
# jget FIELD.PATH: a field of the JSON on stdin ("" when absent); "length" of an array.
jget() {
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    let v = JSON.parse(s); for (const k of process.argv[1].split(".")) v = v == null ? v : v[k];
    console.log(v == null ? "" : typeof v === "object" ? JSON.stringify(v) : v); });' "$1"
}
ago() { date -u -d "-$1 days" +%Y-%m-%dT%H:%M:%SZ; }

seed() {
  # the models used below must have a price in this build
  local pm
  for pm in anthropic/claude-sonnet-4-5 openai/gpt-4o openai/gpt-4o-mini gemini/gemini-2.5-flash; do
    api GET "/api/v1/prices/$pm" > /dev/null
  done

  # Rhetor: a small daily hard limit that today's calls take past its warning and action
  # thresholds; Apollo: a weekly token limit (warn) and a monthly soft limit.
  api POST /api/v1/budgets '{"name":"rhetor","description":"Rhetor: $0.50 a day","owner":"rhetor","component":"rhetor",
    "policies":[{"period":"daily","cost_limit":"0.50","enforcement":"hard_limit","warning_threshold":"0.5","action_threshold":"0.8"},
                {"period":"monthly","cost_limit":"100","enforcement":"hard_limit"}]}' > /dev/null
  api POST /api/v1/budgets '{"name":"apollo","description":"Apollo: tokens per week, dollars per month","component":"apollo",
    "policies":[{"period":"weekly","token_limit":200000,"enforcement":"warn","warning_threshold":"0.5"},
                {"period":"monthly","cost_limit":"50","enforcement":"soft_limit"}]}' > /dev/null

  # Two weeks of calls on four models (athena has no budget); today's come last.
  local d i
  for d in 13 12 11 10 9 8 7 6 5 4 3 2 1 0; do
    local ts; ts=$(ago "$d")
    local n=$(( (d % 4) + 1 ))
    api POST /api/v1/usage/record "{\"component\":\"rhetor\",\"context_id\":\"ctx-$d\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",\"task_type\":\"chat\",
      \"input_tokens\":$(( 5000 * n )),\"cache_read_tokens\":$(( 2000 * n )),\"output_tokens\":$(( 800 * n )),\"timestamp\":\"$ts\",\"request_id\":\"seed-rhetor-$d\"}" > /dev/null
    api POST /api/v1/usage/record "{\"component\":\"rhetor\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"task_type\":\"summarize\",
      \"input_tokens\":$(( 12000 * n )),\"output_tokens\":$(( 1500 * n )),\"timestamp\":\"$ts\",\"request_id\":\"seed-mini-$d\"}" > /dev/null
    api POST /api/v1/usage/record "{\"component\":\"apollo\",\"provider\":\"openai\",\"model\":\"gpt-4o\",\"task_type\":\"plan\",
      \"usage\":{\"prompt_tokens\":$(( 9000 * n )),\"completion_tokens\":$(( 700 * n )),\"prompt_tokens_details\":{\"cached_tokens\":$(( 3000 * n ))}},
      \"timestamp\":\"$ts\",\"request_id\":\"seed-apollo-$d\"}" > /dev/null
    api POST /api/v1/usage/record "{\"component\":\"athena\",\"provider\":\"gemini\",\"model\":\"gemini-2.5-flash\",
      \"input_tokens\":$(( 20000 * n )),\"output_tokens\":$(( 2000 * n )),\"timestamp\":\"$ts\",\"request_id\":\"seed-athena-$d\"}" > /dev/null
  done
  # Today: Rhetor past 80 % of its $0.50 (about $0.42 settled), Apollo past half its tokens.
  for i in 1 2 3 4; do
    api POST /api/v1/usage/record "{\"component\":\"rhetor\",\"context_id\":\"burst\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5\",
      \"input_tokens\":20000,\"output_tokens\":2000,\"request_id\":\"seed-burst-$i\"}" > /dev/null
  done
  for i in 1 2 3; do
    api POST /api/v1/usage/record "{\"component\":\"apollo\",\"provider\":\"openai\",\"model\":\"gpt-4o\",
      \"input_tokens\":30000,\"cache_read_tokens\":10000,\"output_tokens\":3000,\"request_id\":\"seed-apollo-burst-$i\"}" > /dev/null
  done
  # An unpriced model: recorded with cost null, alerted.
  api POST /api/v1/usage/record '{"component":"athena","provider":"acme","model":"mystery-1","input_tokens":100,"output_tokens":10}' > /dev/null

  # Allocations: one settled and still holding the rest (reserved), one settled and released,
  # one denied by Rhetor's daily hard limit (402, alert allocation_denied).
  local alloc
  alloc=$(api POST /api/v1/allocations '{"component":"rhetor","context_id":"ctx-ui","provider":"anthropic","model":"claude-sonnet-4-5",
    "task_type":"chat","input_tokens":2000,"max_output_tokens":1000,"ttl_seconds":3600}' | jget id)
  api POST /api/v1/usage/record "{\"allocation_id\":\"$alloc\",\"input_tokens\":1800,\"output_tokens\":640,\"request_id\":\"seed-alloc-1\"}" > /dev/null
  alloc=$(api POST /api/v1/allocations '{"component":"apollo","provider":"openai","model":"gpt-4o","input_tokens":4000,"max_output_tokens":500}' | jget id)
  api POST /api/v1/usage/record "{\"allocation_id\":\"$alloc\",\"input_tokens\":3500,\"output_tokens\":420,\"request_id\":\"seed-alloc-2\"}" > /dev/null
  api POST "/api/v1/allocations/$alloc/release" > /dev/null
  api POST /api/v1/allocations '{"component":"rhetor","provider":"anthropic","model":"claude-sonnet-4-5","amount":"1"}' 402 > /dev/null

  # Prices: gpt-4o-mini set by hand, then both feeds fetched: feed-a's different gpt-4o-mini
  # price is held for approval (reason manual), claude-haiku-4-5 is a conflict.
  api PUT /api/v1/prices/openai/gpt-4o-mini '{"input_cost_per_million":"0.15","output_cost_per_million":"0.60","cache_read_input_cost_per_million":"0.075"}' > /dev/null
  api POST /api/v1/prices/refresh > "$work/refresh.json"
  echo "refresh: $(cat "$work/refresh.json")" >> "$seed_log"
}

say "seeding"
# In a subshell of its own with errexit, so that the first failed call stops the seeding
# (errexit does not apply to a function called as part of `||`).
set +e
(set -e; seed)
seed_rc=$?
set -e
if (( seed_rc != 0 )); then tail -n 20 "$daemon_log" >&2; die "seeding failed (see $seed_log)"; fi
pending=$(api GET /api/v1/prices/pending | jget length)
alerts=$(api GET '/api/v1/alerts?acknowledged=false' | jget length)
budgets=$(api GET /api/v1/budgets | jget length)
say "seeded: $budgets budgets, $alerts open alerts, $pending pending price changes"
(( alerts > 0 )) || die "seeding raised no alert"
expect_pending=()
if (( pending > 0 )); then expect_pending=(--expect-pending); else say "warning: no pending price change was produced"; fi

# --- the browser test ----------------------------------------------------------------------------
rc=0
node tests/ui/dashboard.mjs --base "$base" --key "$key" --out "$report_dir" "${expect_pending[@]}" || rc=$?
if (( rc != 0 )); then
  say "the tail of the daemon's log ($daemon_log):"
  tail -n 20 "$daemon_log"
fi
say "reports in $report_dir; total wall time $(( $(date +%s) - t0 )) s"
exit $rc
