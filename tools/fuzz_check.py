#!/usr/bin/env python3
"""After a fuzz run (tools/fuzz.sh): is the daemon alive, and does what it lists agree with
what the run did?

    tools/fuzz_check.py --base http://127.0.0.1:PORT --key ADMIN_KEY --seed-out FILE
    tools/fuzz_check.py --base http://127.0.0.1:PORT --key ADMIN_KEY [--seeded FILE] [--har FILE]

With --seed-out (before the fuzz run): gives the fuzzer real data to find and work on — three
budgets (a daily cost limit, a monthly token limit, a scoped total), one allocation against
the first and the usage record that settles it — and writes the ids of the budgets to FILE.

Without it (after the run), checks, against a daemon that started on an empty data directory
(plus the budgets in --seeded):
  * GET /health and GET /ready answer 200;
  * GET /api/v1/budgets answers 200, and for every listed budget GET /api/v1/budgets/{id},
    GET /api/v1/budgets/{name} and GET /api/v1/budgets/{id}/status answer 200 with that budget;
  * every usage record (GET /api/v1/usage/records, all pages) and every allocation
    (GET /api/v1/allocations) names only budgets that the run created;
  * with the HAR file Schemathesis wrote (every request it sent and every answer): the budgets
    listed are exactly those that got a 201 on POST /api/v1/budgets less those that got a 204
    on DELETE /api/v1/budgets/{id}: the count agrees, no listed budget was never created, and
    no budget deleted by id is still listed;
  * the daemon still works: a new budget is created, listed, read (by id, by name, its status
    and policies), deleted (204) and then gone (404).

Standard library only. Exit 0 when everything holds, 1 otherwise.
"""

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}")


def ok(msg):
    print(f"ok:   {msg}")


def get(base, key, path, timeout=30, method="GET", body=None):
    """A request to base+path; returns (status, parsed JSON or text), status None if no answer."""
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        return None, str(err)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


def quote(segment):
    return urllib.parse.quote(segment, safe="")


def short(value, n=160):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= n else text[:n] + "…"


BUDGETS = "/api/v1/budgets"
ONE_BUDGET = re.compile(r"^/api/v1/budgets/([^/]+)$")


def read_har(path):
    """What the run did to budgets, from the HAR file Schemathesis wrote."""
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)["log"]["entries"]
    seen = {
        "requests": len(entries),
        "created": {},  # id -> name, from the 201 bodies
        "created_201": 0,  # 201s on POST /api/v1/budgets (some bodies may be unreadable)
        "create_unknown": 0,  # POSTs with no answer: may or may not have created one
        "deleted_204": 0,
        "deleted_keys": [],  # the {id} of each 204 DELETE (an id or a name)
        "delete_unknown": 0,
    }
    for entry in entries:
        req, resp = entry["request"], entry["response"]
        method = req["method"].upper()
        path = urllib.parse.urlsplit(req["url"]).path
        status = resp.get("status", 0)
        if method == "POST" and path.rstrip("/") == BUDGETS:
            if status == 201:
                seen["created_201"] += 1
                try:
                    body = json.loads(resp["content"]["text"])
                    seen["created"][body["id"]] = body.get("name")
                except (KeyError, TypeError, ValueError):
                    pass
            elif status == 0:
                seen["create_unknown"] += 1
        elif method == "DELETE" and ONE_BUDGET.match(path):
            if status == 204:
                seen["deleted_204"] += 1
                seen["deleted_keys"].append(urllib.parse.unquote(ONE_BUDGET.match(path).group(1)))
            elif status == 0:
                seen["delete_unknown"] += 1
    return seen


SEED_BUDGETS = [
    {"name": "fuzz-seed-daily", "description": "seeded by tools/fuzz.sh", "owner": "fuzz", "component": "fuzz",
     "policies": [{"period": "daily", "cost_limit": "5.00", "enforcement": "hard_limit"}]},
    {"name": "fuzz-seed-tokens", "policies": [{"period": "monthly", "token_limit": 1000000, "enforcement": "soft_limit"}]},
    {"name": "fuzz-seed-total", "scope": {"provider": "openai"},
     "policies": [{"period": "total", "cost_limit": "100", "enforcement": "warn"}]},
]


def seed(base, key, out):
    ids = []
    for spec in SEED_BUDGETS:
        s, body = get(base, key, BUDGETS, method="POST", body=spec)
        if s != 201:
            print(f"seed: POST {BUDGETS} {spec['name']} -> {s}: {short(body)}")
            return 1
        ids.append(body["id"])
    alloc = {"component": "fuzz", "context_id": "fuzz-ctx", "provider": "anthropic", "model": "claude-sonnet-4-5",
             "task_type": "chat", "input_tokens": 2000, "max_output_tokens": 1000}
    s, body = get(base, key, "/api/v1/allocations", method="POST", body=alloc)
    if s != 201:
        print(f"seed: POST /api/v1/allocations -> {s}: {short(body)}")
        return 1
    usage = {"allocation_id": body["id"], "input_tokens": 1800, "output_tokens": 640, "request_id": "fuzz-seed-1"}
    s, rec = get(base, key, "/api/v1/usage/record", method="POST", body=usage)
    if s != 201:
        print(f"seed: POST /api/v1/usage/record -> {s}: {short(rec)}")
        return 1
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(ids) + "\n")
    print(f"seed: {len(ids)} budgets, allocation {body['id']}, usage record {rec.get('id')} (cost {rec.get('cost')})")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="http://host:port of the daemon")
    ap.add_argument("--key", required=True, help="an admin API key")
    ap.add_argument("--har", help="the HAR file of the Schemathesis run")
    ap.add_argument("--seed-out", help="seed data before the run; write the seeded budget ids here")
    ap.add_argument("--seeded", help="the file --seed-out wrote")
    args = ap.parse_args()
    base, key = args.base.rstrip("/"), args.key
    if args.seed_out:
        return seed(base, key, args.seed_out)
    seeded = []
    if args.seeded:
        with open(args.seeded, encoding="utf-8") as f:
            seeded = [line.strip() for line in f if line.strip()]

    # Alive?
    for path in ("/health", "/ready"):
        status, body = get(base, key, path)
        if status == 200:
            ok(f"GET {path} -> 200")
        else:
            fail(f"GET {path} -> {status}: {short(body)}")
    if any(f.startswith("GET /health") for f in failures):
        print("the daemon does not answer; nothing else to check")
        return 1

    # The listing, and each budget in it.
    status, listed = get(base, key, BUDGETS)
    if status != 200 or not isinstance(listed, list):
        fail(f"GET {BUDGETS} -> {status}: {short(listed)}")
        return 1
    ok(f"GET {BUDGETS} -> 200 with {len(listed)} budgets")
    listed_ids = {}
    bad_items = 0
    for item in listed:
        if not isinstance(item, dict) or "id" not in item:
            fail(f"GET {BUDGETS}: an item without an id: {short(item)}")
            continue
        bid, name = item["id"], item.get("name")
        if bid in listed_ids:
            fail(f"GET {BUDGETS}: budget {bid} is listed twice")
        listed_ids[bid] = name
        before = len(failures)
        for path in (f"{BUDGETS}/{quote(bid)}", f"{BUDGETS}/{quote(bid)}/status"):
            s, body = get(base, key, path)
            if s != 200:
                fail(f"listed budget {bid} ({name!r}): GET {path} -> {s}: {short(body)}")
            elif path.endswith("/status") and isinstance(body, dict) and body.get("budget_id") != bid:
                fail(f"GET {path} answered for budget {body.get('budget_id')!r}")
            elif not path.endswith("/status") and isinstance(body, dict) and body.get("id") != bid:
                fail(f"GET {path} answered budget {body.get('id')!r}")
        if isinstance(name, str) and name:
            path = f"{BUDGETS}/{quote(name)}"
            s, body = get(base, key, path)
            if s != 200 or not isinstance(body, dict) or body.get("id") != bid:
                fail(f"listed budget {bid}: GET by its name {path} -> {s}: {short(body)}")
        bad_items += len(failures) > before
    if listed and not bad_items:
        ok(f"each listed budget answers GET by id, by name and /status with 200")

    # What the run did, from its HAR file.
    seen = None
    if args.har:
        try:
            seen = read_har(args.har)
        except (OSError, ValueError, KeyError) as err:
            fail(f"could not read the HAR file {args.har}: {err}")
    if seen is not None:
        created = dict(seen["created"])
        created.update({bid: None for bid in seeded})
        seen["created_201"] += len(seeded)
        expected = seen["created_201"] - seen["deleted_204"]
        print(
            f"run:  {len(seeded)} budgets seeded; {seen['requests']} requests; POST {BUDGETS}:"
            f" {seen['created_201'] - len(seeded)} x 201"
            f" ({seen['create_unknown']} without an answer); DELETE {BUDGETS}/{{id}}:"
            f" {seen['deleted_204']} x 204 ({seen['delete_unknown']} without an answer)"
        )
        low, high = expected - seen["delete_unknown"], expected + seen["create_unknown"]
        if low <= len(listed_ids) <= high:
            ok(f"listed {len(listed_ids)} = created {seen['created_201']} (with the seeded) - deleted {seen['deleted_204']}")
        else:
            fail(
                f"listed {len(listed_ids)} budgets, but the run created {seen['created_201']} and deleted"
                f" {seen['deleted_204']} (expected {expected})"
            )
        if len(created) == seen["created_201"]:
            never = sorted(set(listed_ids) - set(created))
            if never:
                fail(f"{len(never)} listed budgets never got a 201: {', '.join(never[:5])}")
            else:
                ok("every listed budget is one the run created")
            gone = set(created) - set(listed_ids)
            if len(gone) != seen["deleted_204"] and not seen["delete_unknown"]:
                fail(
                    f"{len(gone)} created budgets are no longer listed, but {seen['deleted_204']} deletes"
                    f" answered 204"
                )
        else:
            print(f"note: {seen['created_201'] - len(created)} 201 bodies could not be read; id checks skipped")
        still = [k for k in seen["deleted_keys"] if k in listed_ids]
        if still:
            fail(f"{len(still)} budgets deleted by id (204) are still listed: {', '.join(still[:5])}")
        elif seen["deleted_keys"]:
            ok("no budget deleted by id is still listed")
        known = set(created) | set(listed_ids)
    else:
        print("note: no HAR file; the listing is not compared with the run")
        known = None

    # Usage records and allocations name only budgets that exist or existed.
    def check_refs(what, rid, refs):
        if not isinstance(refs, list):
            fail(f"{what} {rid}: budgets is {short(refs)}")
            return
        for ref in refs:
            if known is not None and ref not in known:
                fail(f"{what} {rid} names budget {ref}, which the run never created")
            elif known is None and ref not in listed_ids:
                s, _ = get(base, key, f"{BUDGETS}/{quote(ref)}")
                if s not in (200, 404):
                    fail(f"{what} {rid} names budget {ref}: GET -> {s}")

    records, cursor, pages = 0, None, 0
    while True:
        path = "/api/v1/usage/records?limit=1000" + (f"&cursor={quote(cursor)}" if cursor else "")
        s, page = get(base, key, path)
        pages += 1
        if s != 200 or not isinstance(page, dict) or not isinstance(page.get("records"), list):
            fail(f"GET {path} -> {s}: {short(page)}")
            break
        for rec in page["records"]:
            records += 1
            check_refs("usage record", rec.get("id"), rec.get("budgets"))
        cursor = page.get("next_cursor")
        if not cursor or pages > 1000:
            break
    ok(f"GET /api/v1/usage/records: {records} records in {pages} pages read")

    for st in ("active", "released", "expired"):
        path = f"/api/v1/allocations?status={st}&limit=1000"
        s, allocs = get(base, key, path)
        if s != 200 or not isinstance(allocs, list):
            fail(f"GET {path} -> {s}: {short(allocs)}")
            continue
        for alloc in allocs:
            check_refs("allocation", alloc.get("id") if isinstance(alloc, dict) else alloc,
                       alloc.get("budgets") if isinstance(alloc, dict) else None)
        ok(f"GET {path}: {len(allocs)} allocations")

    # The daemon still works after the run: a budget's whole life, start to end.
    name = f"fuzz-check-{uuid.uuid4().hex[:12]}"
    spec = {"name": name, "policies": [{"period": "daily", "cost_limit": "1", "enforcement": "hard_limit"}]}
    s, body = get(base, key, BUDGETS, method="POST", body=spec)
    if s != 201 or not isinstance(body, dict) or "id" not in body:
        fail(f"round trip: POST {BUDGETS} -> {s}: {short(body)}")
    else:
        bid, before = body["id"], len(failures)
        s, lst = get(base, key, BUDGETS)
        if s != 200 or not isinstance(lst, list) or bid not in [b.get("id") for b in lst if isinstance(b, dict)]:
            fail(f"round trip: the new budget {bid} is not in GET {BUDGETS} ({s})")
        for path in (f"{BUDGETS}/{bid}", f"{BUDGETS}/{name}", f"{BUDGETS}/{bid}/status", f"{BUDGETS}/{bid}/policies"):
            s, b = get(base, key, path)
            if s != 200:
                fail(f"round trip: GET {path} -> {s}: {short(b)}")
        s, b = get(base, key, f"{BUDGETS}/{bid}", method="DELETE")
        if s != 204:
            fail(f"round trip: DELETE {BUDGETS}/{bid} -> {s}: {short(b)}")
        s, b = get(base, key, f"{BUDGETS}/{bid}")
        if s != 404:
            fail(f"round trip: GET {BUDGETS}/{bid} after its delete -> {s}: {short(b)}")
        if len(failures) == before:
            ok("round trip: a new budget is created, listed, read by id, name, status and policies, deleted")

    print(f"consistency check: {'FAILED, ' + str(len(failures)) + ' problems' if failures else 'passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
