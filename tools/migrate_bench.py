#!/usr/bin/env python3
"""Migration of a large Rhetor database (issue 9): how long `budget migrate rhetor` takes for
N usage rows, and whether the daemon's totals equal the source's afterwards.

1. writes a Rhetor database with Rhetor's schema: N usage rows (default 100,000) over the
   90 days before now, spread over Rhetor's models and Tekton's components, costs computed
   in floats as Rhetor did, and Rhetor's three default settings;
2. starts the daemon on a fresh data directory (embedded SQLite, price monitor off);
3. times `budget migrate rhetor --db … --timezone UTC` (import), then once more (a rerun,
   which imports nothing), and checks with GET /api/v1/reports/usage that the stored
   total equals the sum of the rows' costs at 15 significant digits (Python's decimal).

Stdlib only.  tools/migrate_bench.py target/release/budget [--rows 100000]
"""
import argparse
import decimal
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone

MODELS = [("openai", "gpt-4o", 2.5e-6, 1e-5), ("openai", "gpt-4", 3e-5, 6e-5),
          ("anthropic", "claude-3-opus-20240229", 1.5e-5, 7.5e-5),
          ("anthropic", "claude-3-haiku-20240307", 2.5e-7, 1.25e-6), ("ollama", "llama3", 0.0, 0.0)]
COMPONENTS = ["apollo", "athena", "rhetor", "hermes", "engram", "ergon", "metis", "prometheus"]
TASKS = ["chat", "code", "planning", "reasoning", "default"]


def write_db(path, rows):
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, provider TEXT,
            model TEXT, component TEXT, task_type TEXT, input_tokens INTEGER,
            output_tokens INTEGER, cost REAL, metadata TEXT);
        CREATE TABLE budget_settings (id INTEGER PRIMARY KEY AUTOINCREMENT, period TEXT,
            provider TEXT, limit_amount REAL, enforcement TEXT, start_date TEXT, active INTEGER);
    """)
    start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=90)
    batch = []
    for i in range(rows):
        provider, model, rin, rout = rng.choice(MODELS)
        tin, tout = rng.randint(50, 8000), rng.randint(10, 4000)
        at = start + timedelta(seconds=int(i * 90 * 86400 / rows))
        batch.append((at.isoformat(), provider, model, rng.choice(COMPONENTS), rng.choice(TASKS), tin, tout,
                      tin * rin + tout * rout, json.dumps({"seq": i})))
        if len(batch) == 10000:
            conn.executemany("INSERT INTO usage (timestamp, provider, model, component, task_type, input_tokens,"
                             " output_tokens, cost, metadata) VALUES (?,?,?,?,?,?,?,?,?)", batch)
            batch = []
    if batch:
        conn.executemany("INSERT INTO usage (timestamp, provider, model, component, task_type, input_tokens,"
                         " output_tokens, cost, metadata) VALUES (?,?,?,?,?,?,?,?,?)", batch)
    conn.executemany("INSERT INTO budget_settings (period, provider, limit_amount, enforcement, start_date, active)"
                     " VALUES (?,?,?,?,?,1)", [("daily", "all", 50.0, "warn", start.isoformat()),
                                               ("weekly", "all", 250.0, "warn", start.isoformat()),
                                               ("monthly", "all", 1000.0, "enforce", start.isoformat())])
    conn.commit()
    total = sum(decimal.Decimal(f"{c:.15g}") for (c,) in conn.execute("SELECT cost FROM usage"))
    conn.close()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rows", type=int, default=100_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "rhetor.db")
        t = time.perf_counter()
        source_total = write_db(db, a.rows)
        print(f"wrote {a.rows} rows in {time.perf_counter() - t:.1f} s; source total {source_total}")
        data, config = os.path.join(tmp, "data"), os.path.join(tmp, "budget.toml")
        with open(config, "w") as f:
            f.write("[price_monitor]\nenabled = false\n")
        proc = subprocess.Popen([a.binary, "serve", "--config", config, "--bind", "127.0.0.1:0", "--data-dir", data],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "RUST_LOG": "warn"})
        base = None
        for line in proc.stdout:
            if line.startswith("budget listening on "):
                base = line.split()[-1].strip()
                break
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        key = open(os.path.join(data, "admin.key")).read().strip()
        env = {**os.environ, "BUDGET_URL": base, "BUDGET_API_KEY": key}
        try:
            for label in ("import", "rerun"):
                t = time.perf_counter()
                # GNU time, when present, reports the command's peak RSS (KiB) on stderr.
                timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
                out = subprocess.run(timer + [a.binary, "--output", "json", "migrate", "rhetor", "--db", db,
                                              "--timezone", "UTC"], env=env, capture_output=True, text=True, check=True)
                took = time.perf_counter() - t
                u = json.loads(out.stdout)["usage"]
                rss = f"; CLI peak RSS {int(out.stderr.split()[-1]) / 1024:.0f} MiB" if timer else ""
                print(f"{label}: {took:.1f} s ({a.rows / took:,.0f} rows/s); created {u['created']}, "
                      f"already imported {u['already_imported']}, stored cost {u['stored_cost']}{rss}")
            req = urllib.request.Request(base + "/api/v1/reports/usage?budget=rhetor&from=2000-01-01T00:00:00Z")
            req.add_header("Authorization", "Bearer " + key)
            with urllib.request.urlopen(req, timeout=600) as r:
                report = json.loads(r.read())
            stored = decimal.Decimal(report["totals"]["cost"])
            print(f"daemon report total {stored}: {'equals' if stored == source_total else 'DIFFERS FROM'} the source")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
