#!/usr/bin/env python3
"""Generate actors/tests/data/litellm_golden.json: LiteLLM's own costs for chat usage.

For a few hundred (provider, model, usage, service tier, timestamp) cases that cover
every pricing feature Budget implements (long-context thresholds, xai's inclusive
thresholds, tiered_pricing ranges, cache reads/writes and their fallbacks, 1-hour
cache writes, reasoning rates, fireworks/perplexity/dashscope quirks, off-peak
windows, batch/flex/priority tiers, alias_of rows, provider-prefixed twins), this
calls LiteLLM's `cost_per_token` with an OpenAI-shaped `Usage` and records the
float result (as repr strings). `actors/tests/pricing_golden.rs` checks Budget's
exact decimal totals against them.

Usage (LiteLLM must be the version the map comes from):

    python3 -m venv /tmp/llvenv
    /tmp/llvenv/bin/pip install litellm==1.110.2
    /tmp/llvenv/bin/python tools/gen_pricing_golden.py

The run is deterministic (fixed timestamps, seeded sampling) and uses only the
local price map (LITELLM_LOCAL_MODEL_COST_MAP=True).
"""

from __future__ import annotations

import json
import os
import random
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402
from litellm._internal_context import pinned_billing_time  # noqa: E402
from litellm.types.utils import (  # noqa: E402
    CacheCreationTokenDetails,
    CompletionTokensDetailsWrapper,
    PromptTokensDetailsWrapper,
    Usage,
)

REPO = Path(__file__).resolve().parent.parent
MAP_PATH = REPO / "actors" / "data" / "litellm" / "model_prices_and_context_window.json"
OUT_PATH = REPO / "actors" / "tests" / "data" / "litellm_golden.json"
EXPECTED_LITELLM = "1.110.2"

# Monday 2026-03-02 02:00 UTC: a weekday peak hour for every off-peak block in the map.
PEAK = "2026-03-02T02:00:00Z"
RESERVED = {"sample_spec", "fallback_generalizations"}
SUFFIXES = ("_batches", "_flex", "_priority", "_ultrafast", "_balanced", "_fast", "_decisions")


def litellm_version() -> str:
    from importlib.metadata import version

    return version("litellm")


def load_map() -> dict:
    with MAP_PATH.open() as f:
        return json.load(f)


def usage(u=0, r=0, w=0, w1h=0, o=0, reasoning=0) -> dict:
    return {
        "input_tokens": u,
        "cache_read_tokens": r,
        "cache_write_tokens": w,
        "cache_write_1h_tokens": w1h,
        "output_tokens": o,
        "reasoning_tokens": reasoning,
    }


def to_litellm_usage(x: dict) -> Usage:
    """Anthropic-style disjoint counts -> LiteLLM's OpenAI-shaped Usage."""
    u, r, w, w1h = x["input_tokens"], x["cache_read_tokens"], x["cache_write_tokens"], x["cache_write_1h_tokens"]
    o, reasoning = x["output_tokens"], x["reasoning_tokens"]
    prompt = u + r + w + w1h
    details = None
    if r or w or w1h:
        details = PromptTokensDetailsWrapper(
            cached_tokens=r,
            cache_creation_tokens=w + w1h,
            cache_creation_token_details=CacheCreationTokenDetails(
                ephemeral_5m_input_tokens=w, ephemeral_1h_input_tokens=w1h
            )
            if (w or w1h)
            else None,
        )
    completion_details = CompletionTokensDetailsWrapper(reasoning_tokens=reasoning) if reasoning else None
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=o,
        total_tokens=prompt + o,
        prompt_tokens_details=details,
        completion_tokens_details=completion_details,
    )


def split_key(key: str, entry: dict) -> tuple[str, str]:
    """(provider, model) a caller would send for a map key."""
    provider = entry.get("litellm_provider") or ""
    if provider and key.startswith(provider + "/"):
        return provider, key[len(provider) + 1 :]
    return provider, key


def thresholds(entry: dict, suffix: str = "") -> list[int]:
    out = set()
    for k, v in entry.items():
        if v is None or "_above_" not in k:
            continue
        name = k
        if suffix:
            if not name.endswith(suffix):
                continue
            name = name[: -len(suffix)]
        elif name.endswith(SUFFIXES):
            continue
        if not name.endswith("_tokens"):
            continue
        base, n = name[: -len("_tokens")].rsplit("_above_", 1)
        if base not in (
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
            "cache_creation_input_token_cost_above_1hr",
        ):
            continue
        try:
            out.add(int(n[:-1]) * 1000 if n.endswith("k") else int(n))
        except ValueError:
            pass
    return sorted(out)


class Cases:
    def __init__(self) -> None:
        self.cases: list[dict] = []
        self.seen: set[str] = set()

    def add(self, feature, provider, model, u, tier="standard", ts=PEAK):
        case = {
            "feature": feature,
            "provider": provider,
            "model": model,
            "usage": u,
            "service_tier": tier,
            "timestamp": ts,
        }
        ident = json.dumps([provider, model, u, tier, ts], sort_keys=True)
        if ident in self.seen:
            return
        self.seen.add(ident)
        case["id"] = f"{len(self.cases):04d}-{feature}"
        self.cases.append(case)


def is_chat(entry: dict) -> bool:
    return entry.get("mode") in ("chat", "completion", "responses") and (
        entry.get("input_cost_per_token") is not None or entry.get("tiered_pricing") is not None
    )


def build_cases(m: dict) -> list[dict]:
    rng = random.Random(20260302)
    c = Cases()
    entries = {k: v for k, v in m.items() if k not in RESERVED and isinstance(v, dict) and "alias_of" not in v}
    chat = {k: v for k, v in entries.items() if is_chat(v)}

    def pick(pred, n):
        keys = sorted(k for k, v in chat.items() if pred(k, v))
        return keys if len(keys) <= n else sorted(rng.sample(keys, n))

    # 1. Long-context thresholds: just below, at, just above each threshold, with caches.
    thr_keys = pick(lambda k, v: thresholds(v) and not v.get("tiered_pricing"), 30)
    for k in thr_keys:
        prov, model = split_key(k, chat[k])
        for n in thresholds(chat[k]):
            for total in (n - 1, n, n + 1, n + 50_000):
                c.add("threshold", prov, model, usage(u=total - 3000, r=2000, w=1000, o=1500))
    # multi-threshold entries (several N)
    for k in pick(lambda k, v: len(thresholds(v)) >= 2 and not v.get("tiered_pricing"), 12):
        prov, model = split_key(k, chat[k])
        ns = thresholds(chat[k])
        for total in (ns[0] + 1, ns[-1] + 1, ns[-1] + 10_000):
            c.add("multi_threshold", prov, model, usage(u=total - 1000, r=600, w=400, o=900))
    # xai: inclusive thresholds
    for k in pick(lambda k, v: v.get("litellm_provider") == "xai" and thresholds(v), 10):
        prov, model = split_key(k, chat[k])
        for n in thresholds(chat[k]):
            for total in (n - 1, n, n + 1):
                c.add("xai_threshold", prov, model, usage(u=total - 100, r=100, o=700, reasoning=300))

    # 2. tiered_pricing: boundaries lo < x <= hi and above the last range.
    tiered_keys = sorted(k for k, v in chat.items() if v.get("tiered_pricing"))
    by_provider: dict[str, list[str]] = {}
    for k in tiered_keys:
        by_provider.setdefault(chat[k].get("litellm_provider") or "", []).append(k)
    tiered_pick = sorted({k for ks in by_provider.values() for k in rng.sample(ks, min(4, len(ks)))})
    for k in tiered_pick:
        prov, model = split_key(k, chat[k])
        tiers = chat[k]["tiered_pricing"]
        points = set()
        for t in tiers:
            lo, hi = int(t["range"][0]), int(t["range"][1])
            points.update({lo + 1, hi, hi + 1})
        points.discard(0)
        for total in sorted(points):
            c.add("tiered", prov, model, usage(u=max(total - 30, 0), r=min(20, total), w=min(10, max(total - 20, 0)), o=800, reasoning=200))
        for total in (1000, int(tiers[-1]["range"][1]) + 5000):
            c.add("tiered_plain", prov, model, usage(u=total, o=500))

    # 3. caches: with rates, without (fallback to input), explicit 0.0
    for k in pick(lambda k, v: v.get("cache_read_input_token_cost") is not None, 40):
        prov, model = split_key(k, chat[k])
        c.add("cache", prov, model, usage(u=1234, r=5678, w=910, o=321))
    for k in pick(lambda k, v: v.get("cache_read_input_token_cost") is None and v.get("cache_creation_input_token_cost") is None, 25):
        prov, model = split_key(k, chat[k])
        c.add("cache_fallback", prov, model, usage(u=1000, r=3000, w=2000, o=400))
    for k in pick(lambda k, v: v.get("cache_creation_input_token_cost") == 0 or v.get("cache_read_input_token_cost") == 0, 15):
        prov, model = split_key(k, chat[k])
        c.add("cache_zero", prov, model, usage(u=1000, r=3000, w=2000, o=400))

    # 4. 1-hour cache writes
    for k in pick(lambda k, v: v.get("cache_creation_input_token_cost_above_1hr") is not None, 20):
        prov, model = split_key(k, chat[k])
        c.add("cache_1h", prov, model, usage(u=1500, r=4000, w=700, w1h=900, o=600))
        for n in thresholds(chat[k])[:1]:
            c.add("cache_1h_threshold", prov, model, usage(u=n, r=4000, w=700, w1h=900, o=600))
    for k in pick(lambda k, v: v.get("cache_creation_input_token_cost_above_1hr") is None and v.get("cache_creation_input_token_cost") is not None, 10):
        prov, model = split_key(k, chat[k])
        c.add("cache_1h_fallback", prov, model, usage(u=1500, r=4000, w=700, w1h=900, o=600))

    # 5. reasoning rate
    for k in pick(lambda k, v: v.get("output_cost_per_reasoning_token") is not None, 25):
        prov, model = split_key(k, chat[k])
        c.add("reasoning", prov, model, usage(u=2000, o=3000, reasoning=2500))
        for n in thresholds(chat[k])[:1]:
            c.add("reasoning_threshold", prov, model, usage(u=n + 10, o=3000, reasoning=2500))
    for k in pick(lambda k, v: v.get("output_cost_per_reasoning_token") is None, 10):
        prov, model = split_key(k, chat[k])
        c.add("reasoning_as_output", prov, model, usage(u=2000, o=3000, reasoning=2500))

    # 6. provider quirks
    for k in pick(lambda k, v: v.get("litellm_provider") == "fireworks_ai", 15):
        prov, model = split_key(k, chat[k])
        c.add("fireworks", prov, model, usage(u=1000, r=4000, w=500, o=700))
    pplx = sorted(k for k, v in chat.items() if v.get("litellm_provider") == "perplexity")
    pplx_special = [k for k in pplx if any(f in chat[k] for f in ("input_cost_per_request", "output_cost_per_reasoning_token", "cache_read_input_token_cost"))]
    for k in sorted(set(pplx_special[:12]) | set(rng.sample(pplx, min(8, len(pplx))))):
        prov, model = split_key(k, chat[k])
        c.add("perplexity", prov, model, usage(u=1000, r=4000, w=500, w1h=100, o=700, reasoning=300))
    for k in sorted(k for k, v in chat.items() if v.get("litellm_provider") in ("dashscope", "qwencloud", "qwen_ai_platform") and not v.get("tiered_pricing"))[:15]:
        prov, model = split_key(k, chat[k])
        c.add("dashscope_flat", prov, model, usage(u=300_000, r=4000, w=500, o=700, reasoning=100))

    # 7. off-peak windows (all entries with off_peak_pricing) at fixed timestamps
    stamps = [
        "2026-03-02T00:30:00Z",  # Mon, in 00:00-01:00
        "2026-03-02T01:00:00Z",  # Mon, end of window (exclusive)
        "2026-03-02T02:00:00Z",  # Mon, peak
        "2026-03-02T05:59:59Z",  # Mon, in 04:00-06:00
        "2026-03-02T09:59:00Z",  # Mon, peak
        "2026-03-02T10:00:00Z",  # Mon, start of 10:00-00:00
        "2026-03-02T23:59:59Z",  # Mon, before midnight
        "2026-03-07T02:00:00Z",  # Sat, whole day 00:00-00:00
        "2026-03-08T08:00:00Z",  # Sun
        "2026-03-06T17:00:00Z",  # Fri UTC = Sat Asia/Shanghai
        "2026-03-08T20:00:00Z",  # Sun UTC = Mon Asia/Shanghai
        "2026-03-09T03:00:00Z",  # Mon peak
    ]
    for k in sorted(k for k, v in entries.items() if v.get("off_peak_pricing")):
        prov, model = split_key(k, entries[k])
        for ts in stamps:
            c.add("off_peak", prov, model, usage(u=10_000, r=20_000, w=3000, o=5000, reasoning=1000), ts=ts)

    # 8. service tiers
    for k in pick(lambda k, v: v.get("input_cost_per_token_batches") is not None, 25):
        prov, model = split_key(k, chat[k])
        c.add("batch", prov, model, usage(u=5000, r=3000, w=1000, w1h=500, o=2000, reasoning=500), tier="batch")
        for n in thresholds(chat[k], "_batches")[:1]:
            c.add("batch_threshold", prov, model, usage(u=n + 1, r=3000, w=1000, o=2000), tier="batch")
    for k in pick(lambda k, v: v.get("input_cost_per_token_batches") is None and v.get("input_cost_per_token") is not None, 10):
        prov, model = split_key(k, chat[k])
        c.add("batch_half", prov, model, usage(u=5000, r=3000, w=1000, o=2000), tier="batch")
    for suffix, tier in (("_flex", "flex"), ("_priority", "priority")):
        for k in pick(lambda k, v, s=suffix: v.get("input_cost_per_token" + s) is not None, 15):
            prov, model = split_key(k, chat[k])
            c.add(tier, prov, model, usage(u=5000, r=3000, w=1000, o=2000, reasoning=700), tier=tier)
            for n in thresholds(chat[k], suffix)[:1] or thresholds(chat[k])[:1]:
                c.add(tier + "_threshold", prov, model, usage(u=n + 1, r=3000, w=1000, w1h=300, o=2000), tier=tier)

    # 9. alias_of rows and provider-prefixed twins
    alias_keys = sorted(k for k, v in m.items() if isinstance(v, dict) and "alias_of" in v)
    for k in sorted(rng.sample(alias_keys, min(20, len(alias_keys)))):
        target = m.get(m[k]["alias_of"])
        if not isinstance(target, dict):
            continue
        prov = target.get("litellm_provider") or ""
        model = k[len(prov) + 1 :] if prov and k.startswith(prov + "/") else k
        c.add("alias", prov, model, usage(u=3000, r=1000, w=500, o=800))
    for prov, model in (
        ("deepseek", "deepseek-chat"),
        ("deepseek", "deepseek-reasoner"),
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "openai/gpt-4o"),
    ):
        c.add("lookup_twin", prov, model, usage(u=3000, r=1000, w=500, o=800))

    # Explicit edge cases: LiteLLM provider aliasing, tierless providers, per-request prices.
    c.add("explicit", "ai21", "jamba-1.5", usage(u=5000, r=3000, w=1000, o=2000), tier="batch")
    c.add("explicit", "fireworks_ai", "accounts/fireworks/models/gpt-oss-120b", usage(u=5000, r=3000, o=2000), tier="priority")
    c.add("explicit", "deepseek", "deepseek-chat", usage(u=5000, r=3000, o=2000), tier="flex")
    c.add("explicit", "perplexity", "pplx-70b-online", usage(u=5000, o=2000))
    for model in ("perplexity/deepseek-v4-flash-0731", "perplexity/perplexity/deepseek-v4-flash-0731",
                  "sonar", "perplexity/sonar", "perplexity/perplexity/sonar"):
        c.add("explicit", "perplexity", model, usage(u=5000, r=3000, w=100, o=2000))
    c.add("explicit", "openai", "openai/openai/gpt-4o", usage(u=5000, r=3000, o=2000))

    # 10. a broad random sample of chat entries
    for k in pick(lambda k, v: True, 60):
        prov, model = split_key(k, chat[k])
        c.add("sample", prov, model, usage(u=rng.randint(1, 90_000), r=rng.randint(0, 50_000), w=rng.randint(0, 9000), o=rng.randint(1, 9000)))

    return c.cases


def run_case(case: dict) -> dict:
    ts = datetime.strptime(case["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    tier = case["service_tier"]
    kwargs = {}
    if tier in ("flex", "priority"):
        kwargs["service_tier"] = tier
    call_type = "retrieve_batch" if tier == "batch" else "completion"
    with pinned_billing_time(ts):
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=case["model"],
            custom_llm_provider=case["provider"] or None,
            usage_object=to_litellm_usage(case["usage"]),
            call_type=call_type,
            **kwargs,
        )
    return {
        "prompt_cost": repr(float(prompt_cost)),
        "completion_cost": repr(float(completion_cost)),
        "total": repr(float(prompt_cost) + float(completion_cost)),
    }


def our_entry(m: dict, provider: str, model: str) -> dict | None:
    """The entry Budget's lookup (PriceTable::lookup) picks."""
    if not provider:
        candidates = [model]
    else:
        prefix = provider + "/"
        while model.startswith(prefix) and model[len(prefix):].startswith(prefix):
            model = model[len(prefix):]
        candidates = [model, prefix + model] if model.startswith(prefix) else [prefix + model, model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for k in candidates:
        v = m.get(k)
        if k not in RESERVED and isinstance(v, dict):
            return m.get(v["alias_of"]) if "alias_of" in v else v
    return None


def silent_zero_reason(m: dict, case: dict) -> str | None:
    """LiteLLM returns 0.0 instead of raising when its own lookup misses the entry."""
    if float(case["litellm"]["total"]) != 0.0:
        return None
    entry = our_entry(m, case["provider"], case["model"]) or {}
    rates = [entry.get(f) for f in ("input_cost_per_token", "output_cost_per_token")]
    if not any(isinstance(r, (int, float)) and r > 0 for r in rates):
        return None
    try:
        _, resolved, _, _ = litellm.get_llm_provider(model=case["model"], custom_llm_provider=case["provider"])
    except Exception as e:  # noqa: BLE001
        return f"litellm returned 0.0 for a priced entry; get_llm_provider raised {type(e).__name__}"
    try:
        litellm.get_model_info(model=case["model"], custom_llm_provider=resolved)
    except Exception as e:  # noqa: BLE001
        return (
            f"litellm returned 0.0 for a priced entry: get_llm_provider maps provider "
            f"{case['provider']!r} to {resolved!r} and get_model_info then raises {type(e).__name__}"
        )
    return "litellm returned 0.0 for a priced entry"


def main() -> int:
    version = litellm_version()
    if version != EXPECTED_LITELLM:
        print(f"litellm {version} installed, expected {EXPECTED_LITELLM}", file=sys.stderr)
        return 1
    m = load_map()
    cases = build_cases(m)
    included, excluded = [], []
    for case in cases:
        try:
            case["litellm"] = run_case(case)
            reason = silent_zero_reason(m, case)
            if reason is None:
                included.append(case)
            else:
                case["excluded_reason"] = reason
                excluded.append(case)
        except Exception as e:  # noqa: BLE001 - recorded, not hidden
            case["excluded_reason"] = f"litellm raised {type(e).__name__}: {str(e).splitlines()[0][:300]}"
            excluded.append(case)
    out = {
        "header": {
            "generator": "tools/gen_pricing_golden.py",
            "litellm_version": version,
            "price_map": str(MAP_PATH.relative_to(REPO)),
            "function": "litellm.cost_per_token(model, custom_llm_provider, usage_object, service_tier, call_type) "
            "inside litellm._internal_context.pinned_billing_time(timestamp)",
            "usage_shape": "prompt_tokens = U+R+W+W1h; prompt_tokens_details.cached_tokens = R; "
            "cache_creation_tokens = W+W1h with cache_creation_token_details 5m=W, 1h=W1h; "
            "completion_tokens = O; completion_tokens_details.reasoning_tokens = reasoning",
            "float_results": "repr() of Python floats; total = prompt_cost + completion_cost",
            "cases": len(included),
            "excluded": len(excluded),
        },
        "cases": included,
        "excluded": excluded,
    }
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    with OUT_PATH.open("w") as f:
        f.write("{\n")
        f.write(f' "header": {json.dumps(out["header"], indent=1)},\n')
        for name in ("cases", "excluded"):
            rows = ",\n".join("  " + json.dumps(row) for row in out[name])
            f.write(f' "{name}": [\n{rows}\n ]' + (",\n" if name == "cases" else "\n"))
        f.write("}\n")
    print(f"wrote {OUT_PATH}: {len(included)} cases, {len(excluded)} excluded")
    for e in excluded:
        print("  excluded", e["id"], e["provider"], e["model"], e["excluded_reason"][:160])
    return 0


if __name__ == "__main__":
    sys.exit(main())
