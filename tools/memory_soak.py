#!/usr/bin/env python3
"""Memory under a steady mix of requests: is resident memory bounded by the data kept, or does
it grow with the number of requests served? (issue 7)

Runs ROUNDS rounds of REQUESTS requests each against a running daemon -- reads, listings,
estimates, allocate/record/release, budget create/delete, and the bad requests a fuzzer sends
(400, 404, 405, unknown tokens) -- so the data kept stays about the same from round to round,
and prints the daemon's VmRSS after each round. Stdlib only.

    tools/memory_soak.py --base http://127.0.0.1:8013 --key "$(cat data/admin.key)" --pid PID \
        [--rounds 6] [--requests 3000]
"""
import argparse
import json
import random
import urllib.error
import urllib.request


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=3000)
    args = ap.parse_args()
    rng = random.Random(7)

    def call(method, path, body=None, key=args.key, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(args.base + path, data=data, method=method)
        if key:
            req.add_header("Authorization", "Bearer " + key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            e.read()
            return e.code, None

    call("POST", "/api/v1/budgets", {"name": "soak", "component": "soak",
                                      "policies": [{"period": "daily", "cost_limit": "1000000", "enforcement": "hard_limit"},
                                                   {"period": "per_session", "cost_limit": "100", "enforcement": "warn"}]})
    call_kinds = ["status", "list", "estimate", "allocate", "record", "churn", "bad", "openapi", "prices"]
    print(f"round 0: RSS {rss_kb(args.pid)} kB (before)", flush=True)
    for round_no in range(1, args.rounds + 1):
        statuses = {}
        for i in range(args.requests):
            kind = call_kinds[i % len(call_kinds)]
            ctx = f"ctx-{rng.randrange(50)}"  # a bounded set of sessions: the data kept stays bounded
            if kind == "status":
                s, _ = call("GET", f"/api/v1/budgets/soak/status?context_id={ctx}")
            elif kind == "list":
                s, _ = call("GET", "/api/v1/budgets")
            elif kind == "estimate":
                s, _ = call("POST", "/api/v1/prices/estimate", {"provider": "anthropic", "model": "claude-sonnet-4-5",
                                                                  "input_tokens": rng.randrange(1, 5000), "output_tokens": 100})
            elif kind == "allocate":
                s, grant = call("POST", "/api/v1/allocations", {"component": "soak", "context_id": ctx, "provider": "anthropic",
                                                                 "model": "claude-sonnet-4-5", "input_tokens": 100, "max_output_tokens": 100})
                if s == 201 and grant:
                    call("POST", f"/api/v1/allocations/{grant['id']}/release")
            elif kind == "record":
                s, _ = call("POST", "/api/v1/usage/record", {"component": "soak", "context_id": ctx, "provider": "anthropic",
                                                              "model": "claude-sonnet-4-5", "input_tokens": 10, "output_tokens": 10})
            elif kind == "churn":
                name = f"churn-{i}"
                s, _ = call("POST", "/api/v1/budgets", {"name": name, "policies": [{"period": "hourly", "cost_limit": "1"}]})
                call("DELETE", f"/api/v1/budgets/{name}")
            elif kind == "bad":
                choice = i % 5
                if choice == 0:
                    s, _ = call("POST", "/api/v1/budgets", raw=b"[null, null]")
                elif choice == 1:
                    s, _ = call("GET", f"/api/v1/budgets/nope-{rng.random()}")
                elif choice == 2:
                    s, _ = call("PUT", "/api/v1/budgets")
                elif choice == 3:
                    s, _ = call("GET", "/api/v1/budgets", key=f"bgt_{rng.random()}")
                else:
                    s, _ = call("GET", f"/no/such/route/{rng.random()}")
            elif kind == "openapi":
                s, _ = call("GET", "/api/v1/openapi.json", key=None)
            else:
                s, _ = call("GET", "/api/v1/prices?limit=50")
            statuses[s] = statuses.get(s, 0) + 1
        print(f"round {round_no}: RSS {rss_kb(args.pid)} kB after {round_no * args.requests} requests; statuses {dict(sorted(statuses.items()))}", flush=True)


if __name__ == "__main__":
    main()
