#!/usr/bin/env python3
"""The MCP door checked with the official MCP Python SDK (PyPI `mcp`), an independent client
(issue 9): over streamable HTTP at /mcp with an API key, and over stdio through `budget mcp`.

Initializes, lists the tools, calls every tool, and checks the error cases: a refused
allocation and a bad argument are tool results with isError naming the limit or field; an
unknown tool is a protocol error; a read key cannot allocate; no key is a 401.

    tools/mcp_sdk_check.py --binary target/debug/budget --base http://127.0.0.1:PORT --key bgt_...
Prints one line per check and "N passed, M failed"; exit status 1 on any failure.
"""
import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"  {'ok ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)[:400]}", flush=True)


def rest(base, key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + key)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def structured(result):
    return result.structured_content or {}


async def over_http(base, key, read_key):
    estimate = {"component": "sdk", "provider": "anthropic", "model": "claude-sonnet-4-5",
                "input_tokens": 2000, "max_output_tokens": 1000}
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
        async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check("http: initialize", init.server_info.name == "tekton-budget", init)
                tools = (await session.list_tools()).tools
                names = {t.name for t in tools}
                expected = {"check_budget", "allocate", "record_usage", "release_allocation", "extend_allocation", "budget_status",
                            "estimate_cost", "list_prices", "usage_summary", "list_alerts", "budget_overview",
                            "acknowledge_alert"}
                check("http: tools/list names every tool", expected <= names, sorted(names))
                check("http: every tool has an object schema",
                      all(t.input_schema.get("type") == "object" for t in tools))

                r = await session.call_tool("check_budget", estimate)
                check("check_budget", not r.is_error and structured(r).get("allowed") is True, r)
                r = await session.call_tool("allocate", estimate)
                alloc = structured(r).get("id")
                check("allocate", not r.is_error and structured(r).get("reserved_cost") == "0.021000", r)
                r = await session.call_tool("record_usage",
                                            {"allocation_id": alloc, "input_tokens": 1800, "output_tokens": 640})
                check("record_usage (money as a decimal string)", structured(r).get("cost") == "0.015000", r)
                r = await session.call_tool("extend_allocation", {"allocation_id": alloc, "ttl_seconds": 3600})
                check("extend_allocation", not r.is_error and structured(r).get("status") == "active", r)
                r = await session.call_tool("release_allocation", {"allocation_id": alloc})
                check("release_allocation", structured(r).get("status") == "released", r)
                r = await session.call_tool("budget_status", {"budget": "sdk"})
                check("budget_status", structured(r).get("budget") == "sdk", r)
                r = await session.call_tool("estimate_cost", {"provider": "anthropic", "model": "claude-sonnet-4-5",
                                                              "input_tokens": 1800, "output_tokens": 640})
                check("estimate_cost", structured(r).get("cost") == "0.015000", r)
                r = await session.call_tool("list_prices", {"provider": "openai", "limit": 3})
                check("list_prices", len(structured(r).get("prices", [])) == 3, r)
                r = await session.call_tool("usage_summary", {"group_by": "model"})
                check("usage_summary", structured(r).get("totals", {}).get("cost") == "0.015000", r)
                r = await session.call_tool("budget_overview", {})
                check("budget_overview", structured(r).get("budgets", [{}])[0].get("budget") == "sdk", r)
                for _ in range(3):
                    await session.call_tool("record_usage", {"component": "sdk", "provider": "anthropic",
                                                             "model": "claude-sonnet-4-5", "input_tokens": 1800,
                                                             "output_tokens": 640})
                r = await session.call_tool("list_alerts", {"budget": "sdk"})
                alerts = structured(r).get("alerts", [])
                check("list_alerts", len(alerts) >= 1, r)
                r = await session.call_tool("acknowledge_alert", {"alert_id": alerts[0]["id"]} if alerts else {})
                check("acknowledge_alert", structured(r).get("acknowledged") is True, r)

                r = await session.call_tool("allocate", estimate)
                check("a refusal is isError with the limit",
                      r.is_error and structured(r).get("code") == "budget_exceeded"
                      and "remaining" in structured(r).get("details", {}), r)
                r = await session.call_tool("allocate", {**estimate, "input_tokens": "many"})
                check("a bad argument is isError naming the field",
                      r.is_error and structured(r).get("details", {}).get("field") == "input_tokens", r)
                try:
                    r = await session.call_tool("make_coffee", {})
                    check("an unknown tool is a protocol error", False, r)
                except Exception as e:  # the SDK raises McpError for a JSON-RPC error
                    check("an unknown tool is a protocol error", "make_coffee" in str(e), e)

    async with create_mcp_http_client(headers={"Authorization": f"Bearer {read_key}"}) as http:
        async with streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                r = await session.call_tool("allocate", estimate)
                check("a read key cannot allocate", r.is_error and structured(r).get("code") == "forbidden", r)
                r = await session.call_tool("budget_status", {"budget": "sdk"})
                check("a read key can read", not r.is_error, r)


async def over_stdio(binary, base, key):
    params = StdioServerParameters(command=binary, args=["--url", base, "--api-key", key, "mcp"])
    async with stdio_client(params) as (read, write, *_):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check("stdio: initialize (budget mcp)", init.server_info.name == "tekton-budget", init)
            tools = (await session.list_tools()).tools
            check("stdio: tools/list", any(t.name == "allocate" for t in tools))
            r = await session.call_tool("estimate_cost", {"provider": "anthropic", "model": "claude-sonnet-4-5",
                                                          "input_tokens": 1800, "output_tokens": 640})
            check("stdio: estimate_cost through the daemon", structured(r).get("cost") == "0.015000", r)
            r = await session.call_tool("budget_status", {"budget": "no-such-budget"})
            check("stdio: not found is isError", r.is_error and structured(r).get("code") == "not_found", r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    args = ap.parse_args()
    rest(args.base, args.key, "POST", "/api/v1/budgets",
         {"name": "sdk", "component": "sdk",
          "policies": [{"period": "daily", "cost_limit": "0.05", "enforcement": "hard_limit"}]})
    read_key = rest(args.base, args.key, "POST", "/api/v1/keys", {"name": "sdk-reader", "role": "read"})["key"]
    try:
        urllib.request.urlopen(urllib.request.Request(
            args.base + "/mcp", method="POST", data=b"{}",
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}), timeout=10)
        check("no key is a 401", False, "accepted")
    except urllib.error.HTTPError as e:
        check("no key is a 401", e.code == 401, e.code)
    asyncio.run(over_http(args.base, args.key, read_key))
    asyncio.run(over_stdio(args.binary, args.base, args.key))
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
