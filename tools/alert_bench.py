#!/usr/bin/env python3
"""Do alert channels slow budget operations? (issue 8)

Runs `budget bench` (HTTP: allocate -> record -> release from --clients clients) against a
fresh daemon in three set-ups, alternating, --rounds times each:

  none   no alert channel;
  up     two webhook channels subscribed to every alert (min severity info, all kinds), both
         answered by a local receiver (204);
  down   the same two channels pointing at a port where nothing listens (every attempt
         fails and is retried with backoff);
  events no channel, but a client (this script, in Python) reading GET /api/v1/events, so
         that every operation builds and sends an event.

In every set-up a second budget with no scope and a `per_session` warn policy of $0.0001
makes each of the bench's 64 contexts cross its warning, action and limit thresholds:
192 alerts early in each run (and one delivery per alert per channel), plus whatever the
bench's own budget raises. Prints operations per second per run and the median per set-up.

Stdlib only.  tools/alert_bench.py target/release/budget [--seconds 10] [--clients 32] [--rounds 3]
"""
import argparse
import http.server
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import urllib.request


class Receiver(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def start_daemon(binary):
    work = tempfile.mkdtemp(prefix="budget-alert-bench.")
    config = os.path.join(work, "budget.toml")
    with open(config, "w") as f:
        f.write("[price_monitor]\nenabled = false\n[log]\nlevel = \"error\"\n")
    proc = subprocess.Popen([binary, "serve", "--config", config, "--bind", "127.0.0.1:0",
                             "--data-dir", os.path.join(work, "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("budget listening on "):
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            key = open(os.path.join(work, "data", "admin.key")).read().strip()
            return proc, line.split()[-1].strip(), key
    raise SystemExit("daemon did not start")


def post(base, key, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + key)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def listen_events(base, key, stop):
    req = urllib.request.Request(base + "/api/v1/events")
    req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            while not stop.is_set():
                if not r.readline():
                    break
    except Exception:
        pass


def run(binary, setup, args, hook_up, hook_down):
    proc, base, key = start_daemon(binary)
    stop = threading.Event()
    post(base, key, "/api/v1/budgets", {"name": "sessions", "policies": [
        {"period": "per_session", "cost_limit": "0.0001", "enforcement": "warn"}]})
    if setup in ("up", "down"):
        url = hook_up if setup == "up" else hook_down
        for name in ("hook-a", "hook-b"):
            post(base, key, "/api/v1/alert-channels", {"name": name, "kind": "webhook", "url": url})
    if setup == "events":
        threading.Thread(target=listen_events, args=(base, key, stop), daemon=True).start()
    out = subprocess.run([binary, "--url", base, "--api-key", key, "bench", "--seconds", str(args.seconds),
                          "--clients", str(args.clients)], capture_output=True, text=True, check=True).stdout
    stop.set()
    ops = float(re.search(r"throughput:\s+([\d.]+) operations/s", out).group(1))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return ops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_up = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        hook_down = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    results = {"none": [], "up": [], "down": [], "events": []}
    for r in range(args.rounds):
        for setup in results:
            before = Receiver.count
            ops = run(args.binary, setup, args, hook_up, hook_down)
            results[setup].append(ops)
            print(f"round {r + 1} {setup:>6}: {ops:,.0f} ops/s"
                  + (f" ({Receiver.count - before} webhook deliveries received)" if setup == "up" else ""), flush=True)
    for setup, values in results.items():
        print(f"{setup:>6}: median {statistics.median(values):,.0f} ops/s over {len(values)} runs "
              f"({', '.join(f'{v:,.0f}' for v in values)})")


if __name__ == "__main__":
    main()
