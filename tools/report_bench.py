#!/usr/bin/env python3
"""Reports over a year of usage (issue 8): how long a report grouped by model and day takes
over N usage records on SQLite, and how much memory a CSV export of all of them costs.

1. starts the daemon on a fresh data directory and records 60 real usage records through
   the API (four priced models, one unpriced), so every column is what the daemon writes;
2. stops it and multiplies those rows to N (default 1,000,000) straight into SQLite, with
   time-ordered ids and timestamps spread over the year before --to;
3. starts it again and times GET /api/v1/reports/usage?group_by=model&bucket=day over the
   year (--runs times; min and median), checks that its total equals the exact sum of the
   cost column (Python's decimal), then streams GET /api/v1/reports/usage/records?format=csv
   while sampling the daemon's VmRSS, and prints peak RSS before, during and after.

Stdlib only.  tools/report_bench.py target/release/budget [--records 1000000] [--runs 5]
"""
import argparse
import decimal
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

MODELS = [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"),
          ("gemini", "gemini-2.5-flash"), ("acme", "mystery-1")]


def start(binary, data, config):
    proc = subprocess.Popen([binary, "serve", "--config", config, "--bind", "127.0.0.1:0", "--data-dir", data],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "RUST_LOG": "warn"})
    for line in proc.stdout:
        if line.startswith("budget listening on "):
            base = line.split()[-1].strip()
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, base
    raise SystemExit("the daemon did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def call(base, key, path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    req.add_header("Authorization", "Bearer " + key)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def uuid7(ms, counter):
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (counter & 0xFFF) << 64 | 0b10 << 62 | (counter >> 12)
    return str(uuid.UUID(int=value))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--to", default="2026-12-01T00:00:00Z")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="budget-report-bench.")
    data, config = os.path.join(work, "data"), os.path.join(work, "budget.toml")
    with open(config, "w") as f:
        f.write("[price_monitor]\nenabled = false\n")

    proc, base = start(args.binary, data, config)
    key = open(os.path.join(data, "admin.key")).read().strip()
    call(base, key, "/api/v1/budgets", {"name": "bench", "component": "rhetor",
                                         "policies": [{"period": "monthly", "cost_limit": "100000"}]})
    for i in range(60):
        provider, model = MODELS[i % len(MODELS)]
        call(base, key, "/api/v1/usage/record", {
            "component": "rhetor" if i % 2 else "apollo", "provider": provider, "model": model,
            "input_tokens": 100 + i * 37, "output_tokens": 10 + i * 11, "cache_read_tokens": i * 3})
    stop(proc)

    t0 = time.time()
    db = sqlite3.connect(os.path.join(data, "budget.db"))
    cols = [c[1] for c in db.execute("PRAGMA table_info(usage_records)")]
    templates = db.execute("SELECT * FROM usage_records").fetchall()
    id_i, ts_i, rid_i = cols.index("id"), cols.index("timestamp"), cols.index("request_id")
    end_ms = int(time.mktime(time.strptime(args.to, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone) * 1000
    start_ms = end_ms - 365 * 86_400_000
    step = (end_ms - start_ms) / args.records
    db.execute("DELETE FROM usage_records")
    placeholders = ",".join("?" * len(cols))
    batch = []
    for n in range(args.records):
        row = list(templates[n % len(templates)])
        ms = int(start_ms + n * step)
        row[id_i] = uuid7(ms, n)
        row[ts_i] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%06dZ" % ((ms % 1000) * 1000)
        row[rid_i] = None
        batch.append(row)
        if len(batch) == 20_000:
            db.executemany(f"INSERT INTO usage_records VALUES ({placeholders})", batch)
            batch.clear()
    if batch:
        db.executemany(f"INSERT INTO usage_records VALUES ({placeholders})", batch)
    db.commit()
    exact = sum((decimal.Decimal(c) for (c,) in db.execute("SELECT cost FROM usage_records WHERE cost IS NOT NULL")),
                decimal.Decimal(0))
    db.close()
    print(f"seeded {args.records:,} records in {time.time() - t0:.1f} s; exact cost {exact}")

    proc, base = start(args.binary, data, config)
    frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms / 1000))
    query = f"/api/v1/reports/usage?group_by=model&bucket=day&tz=UTC&from={frm}&to={args.to}"
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        report = call(base, key, query)
        times.append(time.perf_counter() - t)
    total = decimal.Decimal(report["totals"]["cost"])
    assert total == exact, f"report total {total} != exact {exact}"
    assert report["totals"]["requests"] == args.records
    print(f"report group_by=model&bucket=day over a year: {len(report['rows'])} rows, "
          f"min {min(times):.3f} s, median {statistics.median(times):.3f} s ({args.runs} runs); total exact")

    rss_before = rss_kb(proc.pid)
    peak = [rss_before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(proc.pid))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    t = time.perf_counter()
    req = urllib.request.Request(base + f"/api/v1/reports/usage/records?format=csv&from={frm}&to={args.to}")
    req.add_header("Authorization", "Bearer " + key)
    lines, size = 0, 0
    with urllib.request.urlopen(req, timeout=3600) as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - t
    done.set()
    time.sleep(0.1)
    print(f"CSV export: {lines - 1:,} records, {size / 1e6:.0f} MB in {elapsed:.1f} s "
          f"({(lines - 1) / elapsed:,.0f} records/s); daemon VmRSS {rss_before / 1024:.1f} MB before, "
          f"{peak[0] / 1024:.1f} MB peak while streaming, {rss_kb(proc.pid) / 1024:.1f} MB after "
          f"(VmHWM {rss_kb(proc.pid, 'VmHWM') / 1024:.1f} MB)")
    assert lines - 1 == args.records
    stop(proc)


if __name__ == "__main__":
    sys.exit(main())
