//! One test per rule of PRICING_SEMANTICS.md, on real entries of the builtin map
//! where the map has one that shows the rule (synthetic entries otherwise).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use super::model::parse_decimal_text;
use super::*;

fn table() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(|| PriceTable::builtin().expect("builtin map parses"))
}

fn d(s: &str) -> Decimal {
    parse_decimal_text(s).unwrap_or_else(|| panic!("bad decimal {s}"))
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("timestamp").with_timezone(&Utc)
}

/// Monday 02:00 UTC: peak for every off-peak block in the map.
fn peak() -> DateTime<Utc> {
    ts("2026-03-02T02:00:00Z")
}

fn get(key: &str) -> &'static ModelPrice {
    table().get(key).unwrap_or_else(|| panic!("{key} missing from the builtin map"))
}

fn usage(u: u64, r: u64, w: u64, w1h: u64, o: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: u,
        cache_read_tokens: r,
        cache_write_tokens: w,
        cache_write_1h_tokens: w1h,
        output_tokens: o,
        reasoning_tokens: reasoning,
    }
}

fn cost(key: &str, provider: &str, u: &Usage) -> CostBreakdown {
    get(key).cost(provider, u, peak(), ServiceTier::Standard)
}

fn synthetic(entry: serde_json::Value) -> ModelPrice {
    ModelPrice::from_litellm("synthetic", &entry).expect("synthetic entry parses")
}

fn n(tokens: u64) -> Decimal {
    Decimal::from(tokens)
}

// ---------------------------------------------------------------- parsing

#[test]
fn decimal_text_is_parsed_exactly() {
    assert_eq!(d("3e-06"), Decimal::new(3, 6));
    assert_eq!(d("3e-06").to_string(), "0.000003");
    assert_eq!(d("1.875e-06"), Decimal::new(1875, 9));
    assert_eq!(d("2.5E-7"), Decimal::new(25, 8));
    assert_eq!(d("1e+3"), Decimal::from(1000));
    assert_eq!(d("5"), Decimal::from(5));
    assert_eq!(d("0.0"), Decimal::ZERO);
    assert!(parse_decimal_text("abc").is_none());
    assert!(parse_decimal_text("1e").is_none());
}

#[test]
fn json_numbers_keep_their_text() {
    // arbitrary_precision: the rate is the map's decimal text, not a float.
    let p = synthetic(json!({"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05}));
    assert_eq!(p.standard.rates.input, Some(Decimal::new(3, 6)));
    let p: ModelPrice = r#"{"input_cost_per_token": 1.1e-07, "output_cost_per_token": 0.1}"#.parse().expect("parses");
    assert_eq!(p.standard.rates.input, Some(Decimal::new(11, 8)));
    assert_eq!(p.standard.rates.output, Some(Decimal::new(1, 1)));
}

#[test]
fn real_entry_parses_every_price_list() {
    let p = get("azure/gpt-5.4");
    assert_eq!(p.litellm_provider.as_deref(), Some("azure"));
    assert_eq!(p.mode.as_deref(), Some("chat"));
    assert_eq!(p.max_input_tokens, Some(922_000));
    assert_eq!(p.standard.rates.input, Some(d("2.5e-06")));
    assert_eq!(p.standard.rates.cache_read, Some(d("2.5e-07")));
    let t = p.standard.at_threshold(272_000).expect("272k threshold");
    assert_eq!(t.input, Some(d("5e-06")));
    assert_eq!(t.output, Some(d("2.25e-05")));
    assert_eq!(t.cache_read, Some(d("5e-07")));
    assert_eq!(p.batches.rates.input, Some(d("1.25e-06")));
    assert_eq!(p.batches.at_threshold(272_000).and_then(|r| r.output), Some(d("1.125e-05")));
    assert_eq!(p.flex.rates.output, Some(d("7.5e-06")));
    assert_eq!(p.priority.rates.cache_read, Some(d("5e-07")));
    assert_eq!(p.priority.at_threshold(272_000).and_then(|r| r.input), Some(d("1e-05")));
    let s = p.to_summary();
    assert_eq!(s.input_cost_per_token, Some(d("2.5e-06")));
    assert_eq!(s.thresholds, vec![272_000]);
}

#[test]
fn one_hour_write_rate_is_a_ttl_not_a_threshold() {
    let p = get("anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(p.standard.rates.cache_write_1h, Some(d("6e-06")));
    let t = p.standard.at_threshold(200_000).expect("200k");
    assert_eq!(t.cache_write_1h, Some(d("1.2e-05")));
    assert_eq!(t.cache_write, Some(d("7.5e-06")));
    assert_eq!(p.standard.thresholds.iter().map(|t| t.above_tokens).collect::<Vec<_>>(), vec![200_000]);
}

#[test]
fn bad_entries_are_errors_with_context() {
    let e = ModelPrice::from_litellm("k", &json!({"input_cost_per_token": "cheap"})).unwrap_err();
    assert!(e.to_string().contains("input_cost_per_token"), "{e}");
    assert!(ModelPrice::from_litellm("k", &json!([1, 2])).is_err());
    assert!(ModelPrice::from_litellm("k", &json!({"input_cost_per_token": -1})).is_err());
    assert!(matches!(
        ModelPrice::from_litellm("k", &json!({"alias_of": "x"})),
        Err(PriceParseError::AliasEntry { .. })
    ));
    assert!(
        ModelPrice::from_litellm("k", &json!({"tiered_pricing": [{"range": [0, 1], "input_cost_per_token": "x"}]}))
            .is_err()
    );
    // tiers without a token range (search entries' `max_results_range`) are not token tiers
    let search = get("exa_ai/search");
    assert!(search.tiered_pricing.is_empty());
}

#[test]
fn table_skips_bad_entries_and_counts_them() {
    let t = PriceTable::from_litellm_json(
        r#"{"sample_spec": {"input_cost_per_token": "x"},
            "ok": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            "bad": {"input_cost_per_token": "cheap"},
            "alias": {"alias_of": "ok"},
            "dangling": {"alias_of": "nowhere"}}"#,
    )
    .expect("map parses");
    assert_eq!(t.len(), 2);
    assert_eq!(t.skipped(), 2);
    assert!(t.get("sample_spec").is_none());
    assert_eq!(t.get("alias").map(|p| p.key.as_str()), Some("alias"));
    assert!(matches!(PriceTable::from_litellm_json("[1]"), Err(PriceParseError::TopLevelNotObject)));
    assert!(PriceTable::from_litellm_json("{").is_err());
}

#[test]
fn builtin_map_parses_nearly_everything() {
    let t = table();
    assert!(t.len() > 4_800, "{} entries", t.len());
    assert_eq!(t.skipped(), 0, "skipped {:?}", t.skipped_entries());
    assert!(t.get("sample_spec").is_none());
    assert!(t.get("fallback_generalizations").is_none());
    assert!(!t.is_empty());
    assert_eq!(t.iter().count(), t.len());
}

// ---------------------------------------------------------------- usage

#[test]
fn usage_openai_conversion() {
    let u = Usage::from_openai(10_000, 500, 6_000, 1_000, 200);
    assert_eq!(u, usage(3_000, 6_000, 1_000, 0, 500, 200));
    assert_eq!(u.prompt_tokens(), 10_000);
    assert_eq!(u.total_tokens(), 10_500);
    // never below zero
    assert_eq!(Usage::from_openai(100, 0, 80, 50, 0).input_tokens, 0);
}

// ---------------------------------------------------------------- base rates

#[test]
fn base_rates_and_line_items() {
    // claude-sonnet-4-5: in 3e-06, out 1.5e-05, cr 3e-07, cw 3.75e-06, cw1h 6e-06
    let b = cost("claude-sonnet-4-5", "anthropic", &usage(1000, 2000, 300, 400, 500, 0));
    assert_eq!(b.input, n(1000) * d("3e-06"));
    assert_eq!(b.cache_read, n(2000) * d("3e-07"));
    assert_eq!(b.cache_write, n(300) * d("3.75e-06"));
    assert_eq!(b.cache_write_1h, n(400) * d("6e-06"));
    assert_eq!(b.output, n(500) * d("1.5e-05"));
    assert_eq!(b.total, d("0.003") + d("0.0006") + d("0.001125") + d("0.0024") + d("0.0075"));
    assert_eq!(b.tier, "base");
    assert!(b.notes.is_empty());
}

#[test]
fn missing_cache_rates_fall_back_to_input() {
    // computer-use-preview has no cache rates at all.
    let b = cost("computer-use-preview", "openai", &usage(100, 1000, 200, 300, 0, 0));
    assert_eq!(b.cache_read, n(1000) * d("3e-06"));
    assert_eq!(b.cache_write, n(200) * d("3e-06"));
    assert_eq!(b.cache_write_1h, n(300) * d("3e-06"));
}

#[test]
fn explicit_zero_cache_rate_is_a_price() {
    // coralbricks/glm-5.3: cache_read_input_token_cost 0.0
    let b = cost("coralbricks/glm-5.3", "coralbricks", &usage(100, 1000, 0, 0, 0, 0));
    assert_eq!(b.cache_read, Decimal::ZERO);
    assert_eq!(b.input, n(100) * d("1.12e-06"));
}

#[test]
fn one_hour_write_falls_back_to_the_write_rate() {
    // coralbricks/glm-5.3 has a 5-minute write rate and no 1-hour one.
    let b = cost("coralbricks/glm-5.3", "coralbricks", &usage(0, 0, 10, 20, 0, 0));
    assert_eq!(b.cache_write, n(10) * d("1.68e-06"));
    assert_eq!(b.cache_write_1h, n(20) * d("1.68e-06"));
}

// ---------------------------------------------------------------- thresholds

const SONNET_BEDROCK: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

#[test]
fn thresholds_are_strictly_greater() {
    let at = cost(SONNET_BEDROCK, "bedrock", &usage(199_000, 1000, 0, 0, 10, 0));
    assert_eq!(at.tier, "base");
    assert_eq!(at.input, n(199_000) * d("3e-06"));
    let above = cost(SONNET_BEDROCK, "bedrock", &usage(199_001, 1000, 0, 0, 10, 0));
    assert_eq!(above.tier, "above_200k");
}

#[test]
fn crossing_reprices_the_whole_request() {
    let u = usage(150_000, 40_000, 9_000, 2_000, 8_000, 0);
    let b = cost(SONNET_BEDROCK, "bedrock", &u);
    assert_eq!(b.tier, "above_200k");
    assert_eq!(b.input, n(150_000) * d("6e-06"));
    assert_eq!(b.cache_read, n(40_000) * d("6e-07"));
    assert_eq!(b.cache_write, n(9_000) * d("7.5e-06"));
    assert_eq!(b.cache_write_1h, n(2_000) * d("1.2e-05"));
    // output size never matters, but output is repriced too
    assert_eq!(b.output, n(8_000) * d("2.25e-05"));
    let small_output = cost(SONNET_BEDROCK, "bedrock", &usage(150_000, 40_000, 9_000, 2_000, 1, 0));
    assert_eq!(small_output.tier, "above_200k");
}

#[test]
fn output_tokens_do_not_cross_thresholds() {
    let b = cost(SONNET_BEDROCK, "bedrock", &usage(1_000, 0, 0, 0, 500_000, 0));
    assert_eq!(b.tier, "base");
    assert_eq!(b.output, n(500_000) * d("1.5e-05"));
}

#[test]
fn xai_thresholds_are_inclusive() {
    let key = "xai/grok-4.20-0309-reasoning";
    let u = usage(199_000, 1_000, 0, 0, 100, 0);
    let xai = cost(key, "xai", &u);
    assert_eq!(xai.tier, "above_200k");
    assert_eq!(xai.input, n(199_000) * d("2.5e-06"));
    assert_eq!(xai.cache_read, n(1_000) * d("4e-07"));
    assert_eq!(xai.output, n(100) * d("5e-06"));
    // the same entry billed by another provider: strictly greater
    let other = cost(key, "openrouter", &u);
    assert_eq!(other.tier, "base");
    assert_eq!(other.input, n(199_000) * d("1.25e-06"));
    let below = cost(key, "xai", &usage(199_999, 0, 0, 0, 1, 0));
    assert_eq!(below.tier, "base");
}

#[test]
fn xai_bills_reasoning_as_output() {
    let b = get("xai/grok-4.20-0309-reasoning");
    let c = b.cost("xai", &usage(10, 0, 0, 0, 100, 60), peak(), ServiceTier::Standard);
    assert_eq!(c.output + c.reasoning, n(100) * d("2.5e-06"));
}

#[test]
fn highest_crossed_threshold_per_rate() {
    // kyma/qwen3.7-flash: 32k and 256k thresholds for input and output, none for cache read.
    let key = "kyma/qwen3.7-flash";
    let mid = cost(key, "kyma", &usage(100_000, 1_000, 0, 0, 10, 0));
    assert_eq!(mid.tier, "above_32k");
    assert_eq!(mid.input, n(100_000) * d("1.35e-07"));
    assert_eq!(mid.output, n(10) * d("5.4e-07"));
    assert_eq!(mid.cache_read, n(1_000) * d("8.1e-09"));
    let top = cost(key, "kyma", &usage(300_000, 1_000, 0, 0, 10, 0));
    assert_eq!(top.tier, "above_256k");
    assert_eq!(top.input, n(300_000) * d("2.7e-07"));
    assert_eq!(top.output, n(10) * d("1.08e-06"));
    assert_eq!(top.cache_read, n(1_000) * d("8.1e-09"));

    // A rate defined only at the lower threshold keeps its lower-threshold value.
    let p = synthetic(json!({
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "cache_read_input_token_cost": 1e-07,
        "input_cost_per_token_above_100k_tokens": 2e-06,
        "cache_read_input_token_cost_above_100k_tokens": 2e-07,
        "input_cost_per_token_above_200k_tokens": 4e-06,
    }));
    let b = p.cost("x", &usage(300_000, 1, 0, 0, 1, 0), peak(), ServiceTier::Standard);
    assert_eq!(b.tier, "above_200k");
    assert_eq!(b.input, n(300_000) * d("4e-06"));
    assert_eq!(b.cache_read, d("2e-07"));
    assert_eq!(b.output, d("2e-06"));
}

#[test]
fn service_tier_keys_are_not_thresholds() {
    // azure/gpt-5.4 has `_above_272k_tokens_flex` etc.; standard pricing below 272k is base.
    let b = cost("azure/gpt-5.4", "azure", &usage(100_000, 0, 0, 0, 10, 0));
    assert_eq!(b.tier, "base");
    assert_eq!(b.input, n(100_000) * d("2.5e-06"));
}

// ---------------------------------------------------------------- tiered_pricing

#[test]
fn tiered_pricing_boundaries() {
    let key = "dashscope/qwen3-coder-flash";
    let at_hi = cost(key, "dashscope", &usage(31_000, 1_000, 0, 0, 10, 0));
    assert_eq!(at_hi.tier, "tiered_pricing[0]");
    assert_eq!(at_hi.input, n(31_000) * d("3e-07"));
    assert_eq!(at_hi.cache_read, n(1_000) * d("8e-08"));
    let above = cost(key, "dashscope", &usage(31_001, 1_000, 0, 0, 10, 0));
    assert_eq!(above.tier, "tiered_pricing[1]");
    assert_eq!(above.input, n(31_001) * d("5e-07"));
    assert_eq!(above.output, n(10) * d("2.5e-06"));
    let beyond = cost(key, "dashscope", &usage(1_000_001, 0, 0, 0, 10, 0));
    assert_eq!(beyond.tier, "tiered_pricing[3]");
    assert_eq!(beyond.input, n(1_000_001) * d("1.6e-06"));
    // missing cache-write rate: the tier's input rate
    let w = cost(key, "dashscope", &usage(0, 0, 40_000, 0, 0, 0));
    assert_eq!(w.tier, "tiered_pricing[1]");
    assert_eq!(w.cache_write, n(40_000) * d("5e-07"));
}

#[test]
fn tiered_pricing_in_the_generic_path() {
    // The same rules for a provider priced by the generic code.
    let p = synthetic(json!({
        "litellm_provider": "volcengine",
        "output_cost_per_token": 9e-06,
        "input_cost_per_token_above_1k_tokens": 1.0,
        "tiered_pricing": [
            {"range": [0, 1000], "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            {"range": [1000, 5000], "input_cost_per_token": 3e-06,
             "cache_read_input_token_cost": 1e-07},
        ],
    }));
    let low = p.cost("volcengine", &usage(1000, 0, 0, 0, 1, 0), peak(), ServiceTier::Standard);
    assert_eq!(low.tier, "tiered_pricing[0]");
    assert_eq!(low.total, d("0.001") + d("2e-06"));
    let high = p.cost("volcengine", &usage(1000, 1, 2, 3, 1, 0), peak(), ServiceTier::Standard);
    // tiered_pricing wins over `_above_` keys; missing output -> top-level output
    assert_eq!(high.tier, "tiered_pricing[1]");
    assert_eq!(high.cache_read, d("1e-07"));
    assert_eq!(high.cache_write, n(2) * d("3e-06"));
    assert_eq!(high.cache_write_1h, n(3) * d("3e-06"));
    assert_eq!(high.output, d("9e-06"));
    let above_all = p.cost("volcengine", &usage(9000, 0, 0, 0, 0, 0), peak(), ServiceTier::Standard);
    assert_eq!(above_all.tier, "tiered_pricing[1]");
}

#[test]
fn tiered_reasoning_rate() {
    let key = "dashscope/qwen-plus-2025-07-28";
    let b = cost(key, "dashscope", &usage(300_000, 0, 0, 0, 1000, 400));
    assert_eq!(b.tier, "tiered_pricing[1]");
    assert_eq!(b.output, n(600) * d("3.6e-06"));
    assert_eq!(b.reasoning, n(400) * d("1.2e-05"));
}

// ---------------------------------------------------------------- reasoning

#[test]
fn reasoning_rate_applies_to_the_reasoning_part() {
    let p = synthetic(json!({
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "output_cost_per_reasoning_token": 5e-06,
        "input_cost_per_token_above_100k_tokens": 2e-06,
        "output_cost_per_token_above_100k_tokens": 4e-06,
    }));
    let b = p.cost("openai", &usage(10, 0, 0, 0, 100, 30), peak(), ServiceTier::Standard);
    assert_eq!(b.output, n(70) * d("2e-06"));
    assert_eq!(b.reasoning, n(30) * d("5e-06"));
    // thresholds do not raise the top-level reasoning rate
    let big = p.cost("openai", &usage(200_000, 0, 0, 0, 100, 30), peak(), ServiceTier::Standard);
    assert_eq!(big.output, n(70) * d("4e-06"));
    assert_eq!(big.reasoning, n(30) * d("5e-06"));
}

#[test]
fn reasoning_without_a_rate_is_output() {
    let b = cost("claude-sonnet-4-5", "anthropic", &usage(10, 0, 0, 0, 100, 30));
    assert_eq!(b.output, n(70) * d("1.5e-05"));
    assert_eq!(b.reasoning, n(30) * d("1.5e-05"));
    // reasoning above output is clamped, with a note
    let c = cost("claude-sonnet-4-5", "anthropic", &usage(0, 0, 0, 0, 10, 30));
    assert_eq!(c.total, n(10) * d("1.5e-05"));
    assert_eq!(c.notes.len(), 1);
}

#[test]
fn dashscope_flat_reasoning_rate() {
    let b = cost("dashscope/qwen-turbo", "dashscope", &usage(10, 0, 0, 0, 100, 40));
    assert_eq!(b.output, n(60) * d("2e-07"));
    assert_eq!(b.reasoning, n(40) * d("5e-07"));
}

// ---------------------------------------------------------------- provider quirks

#[test]
fn fireworks_reads_cache_at_half_input() {
    let key = "fireworks_ai/accounts/fireworks/models/deepseek-r1";
    let u = usage(0, 1000, 0, 0, 0, 0);
    assert_eq!(cost(key, "fireworks_ai", &u).cache_read, n(1000) * d("1.5e-06"));
    // the quirk is fireworks' own: another provider falls back to the input rate
    assert_eq!(cost(key, "together_ai", &u).cache_read, n(1000) * d("3e-06"));
}

#[test]
fn perplexity_has_no_cache_write_rate_and_no_thresholds() {
    let b = cost("perplexity/openai/gpt-5.2", "perplexity", &usage(100, 1000, 50, 20, 10, 0));
    assert_eq!(b.input, n(100) * d("1.75e-06"));
    assert_eq!(b.cache_write, n(50) * d("1.75e-06"));
    assert_eq!(b.cache_write_1h, n(20) * d("1.75e-06"));
    assert_eq!(b.cache_read, n(1000) * d("1.75e-07"));
    let p = synthetic(json!({
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "cache_creation_input_token_cost": 9.0,
        "input_cost_per_token_above_1k_tokens": 9.0,
    }));
    let q = p.cost("perplexity", &usage(5000, 0, 10, 0, 1, 0), peak(), ServiceTier::Standard);
    assert_eq!(q.total, n(5010) * d("1e-06") + d("2e-06"));
    assert_eq!(q.tier, "base");
}

#[test]
fn perplexity_reasoning_rate() {
    let b = cost("perplexity/sonar-deep-research", "perplexity", &usage(10, 0, 0, 0, 100, 40));
    assert_eq!(b.output, n(60) * d("8e-06"));
    assert_eq!(b.reasoning, n(40) * d("3e-06"));
}

#[test]
fn dashscope_ignores_above_keys() {
    let p = synthetic(json!({
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "input_cost_per_token_above_1k_tokens": 9.0,
    }));
    for provider in ["dashscope", "qwencloud", "qwen_ai_platform"] {
        let b = p.cost(provider, &usage(5000, 0, 0, 0, 1, 0), peak(), ServiceTier::Standard);
        assert_eq!(b.total, d("0.005") + d("2e-06"), "{provider}");
    }
    let generic = p.cost("openai", &usage(5000, 0, 0, 0, 1, 0), peak(), ServiceTier::Standard);
    assert_eq!(generic.input, d("45000"));
}

#[test]
fn input_cost_per_request_is_charged_with_a_note() {
    let b = cost("perplexity/pplx-70b-online", "perplexity", &usage(1000, 0, 0, 0, 100, 0));
    assert_eq!(b.request, d("0.005"));
    assert_eq!(b.total, d("0.005") + n(100) * d("2.8e-06"));
    assert_eq!(b.litellm_total(), n(100) * d("2.8e-06"));
    assert!(b.notes.iter().any(|n| n == NOTE_REQUEST_CHARGED));
}

// ---------------------------------------------------------------- off-peak

#[test]
fn off_peak_windows() {
    let p = get("deepseek/deepseek-v4-flash");
    let u = usage(1000, 2000, 0, 0, 100, 0);
    let at = |s: &str| p.cost("deepseek", &u, ts(s), ServiceTier::Standard);
    let peak_cost = n(1000) * d("3e-07") + n(2000) * d("6e-09") + n(100) * d("1.2e-06");
    let off_cost = n(1000) * d("1.5e-07") + n(2000) * d("3e-09") + n(100) * d("6e-07");
    for (t, off) in [
        ("2026-03-02T00:00:00Z", true),  // Mon, window start inclusive
        ("2026-03-02T00:59:59Z", true),  // Mon
        ("2026-03-02T01:00:00Z", false), // Mon, window end exclusive
        ("2026-03-02T02:00:00Z", false), // Mon peak
        ("2026-03-02T05:30:00Z", true),  // Mon 04:00-06:00
        ("2026-03-02T09:59:59Z", false), // Mon peak
        ("2026-03-02T10:00:00Z", true),  // "10:00-00:00" runs to midnight
        ("2026-03-02T23:59:59Z", true),
        ("2026-03-07T02:00:00Z", true),  // Sat "00:00-00:00" = whole day
        ("2026-03-08T09:00:00Z", true),  // Sun
        ("2026-03-09T03:00:00Z", false), // Mon peak
    ] {
        let b = at(t);
        assert_eq!(b.total, if off { off_cost } else { peak_cost }, "{t}");
        assert_eq!(b.tier, if off { "off_peak" } else { "base" }, "{t}");
    }
}

#[test]
fn off_peak_explicit_zero_write_and_weekday_timezone() {
    let p = synthetic(json!({
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "off_peak_pricing": {
            "input_cost_per_token": 5e-07,
            "weekday_timezone": "Asia/Shanghai",
            "windows": [{"hours_utc": "17:00-18:00", "weekdays": [6]}],
        },
    }));
    let u = usage(1000, 0, 0, 0, 0, 0);
    // Friday 17:30 UTC is Saturday 01:30 in Shanghai: open.
    let fri = p.cost("x", &u, ts("2026-03-06T17:30:00Z"), ServiceTier::Standard);
    assert_eq!(fri.input, d("0.0005"));
    // Saturday 17:30 UTC is Sunday in Shanghai: closed.
    let sat = p.cost("x", &u, ts("2026-03-07T17:30:00Z"), ServiceTier::Standard);
    assert_eq!(sat.input, d("0.001"));
    // missing cache rates fall back to the off-peak input rate
    let c = p.cost("x", &usage(0, 10, 0, 0, 0, 0), ts("2026-03-06T17:30:00Z"), ServiceTier::Standard);
    assert_eq!(c.cache_read, n(10) * d("5e-07"));
}

#[test]
fn tencent_off_peak_uses_shanghai_weekdays() {
    let p = get("tencent/deepseek-v4.1-flash");
    let o = p.off_peak_pricing.as_ref().expect("off-peak block");
    assert_eq!(o.weekday_timezone.as_deref(), Some("Asia/Shanghai"));
    assert!(o.is_open(ts("2026-03-07T02:00:00Z")));
    assert!(!o.is_open(ts("2026-03-02T02:00:00Z")));
}

// ---------------------------------------------------------------- service tiers

#[test]
fn batch_tier_uses_batch_rates() {
    let p = get("claude-sonnet-4-5");
    let b = p.cost("anthropic", &usage(1000, 2000, 300, 0, 500, 100), peak(), ServiceTier::Batch);
    assert_eq!(b.tier, "batches");
    assert_eq!(b.input, n(1000) * d("1.5e-06"));
    assert_eq!(b.cache_read, n(2000) * d("1.5e-07"));
    assert_eq!(b.cache_write, n(300) * d("1.875e-06"));
    assert_eq!(b.output + b.reasoning, n(500) * d("7.5e-06"));
}

#[test]
fn batch_tier_thresholds_and_half_rates() {
    let p = get("azure/gpt-5.4");
    let b = p.cost("azure", &usage(280_000, 0, 0, 0, 10, 0), peak(), ServiceTier::Batch);
    assert_eq!(b.tier, "batches+above_272k");
    assert_eq!(b.input, n(280_000) * d("2.5e-06"));
    assert_eq!(b.output, n(10) * d("1.125e-05"));
    // no `_batches` keys: half the standard rates
    let h = get("computer-use-preview").cost("openai", &usage(1000, 0, 0, 0, 100, 0), peak(), ServiceTier::Batch);
    assert_eq!(h.tier, "batches_half");
    assert_eq!(h.total, n(1000) * d("1.5e-06") + n(100) * d("6e-06"));
}

#[test]
fn flex_and_priority_tiers() {
    let p = get("azure/gpt-5.4");
    let u = usage(1000, 100, 0, 0, 10, 0);
    let flex = p.cost("azure", &u, peak(), ServiceTier::Flex);
    assert_eq!(flex.tier, "flex");
    assert_eq!(flex.input, n(1000) * d("1.25e-06"));
    // no flex cache-read key below 272k: the standard one
    assert_eq!(flex.cache_read, n(100) * d("2.5e-07"));
    let pri = p.cost("azure", &u, peak(), ServiceTier::Priority);
    assert_eq!(pri.input, n(1000) * d("5e-06"));
    assert_eq!(pri.cache_read, n(100) * d("5e-07"));
    let big = usage(280_000, 100, 0, 0, 10, 0);
    let flex_big = p.cost("azure", &big, peak(), ServiceTier::Flex);
    assert_eq!(flex_big.tier, "flex+above_272k");
    assert_eq!(flex_big.input, n(280_000) * d("2.5e-06"));
    assert_eq!(flex_big.cache_read, n(100) * d("2.5e-07"));
    let pri_big = p.cost("azure", &big, peak(), ServiceTier::Priority);
    assert_eq!(pri_big.input, n(280_000) * d("1e-05"));
    assert_eq!(pri_big.output, n(10) * d("4.5e-05"));
}

#[test]
fn tierless_providers_ignore_flex_and_priority() {
    let key = "fireworks_ai/accounts/fireworks/models/gpt-oss-120b";
    let u = usage(1000, 0, 0, 0, 10, 0);
    let pri = get(key).cost("fireworks_ai", &u, peak(), ServiceTier::Priority);
    let std = get(key).cost("fireworks_ai", &u, peak(), ServiceTier::Standard);
    assert_eq!(pri.total, std.total);
    assert_eq!(pri.notes.len(), 1);
}

// ---------------------------------------------------------------- lookup

#[test]
fn alias_of_takes_the_target_fields() {
    let (key, alias) = table().lookup("bedrock", "claude-opus-latest").expect("alias resolves");
    assert_eq!(key, "bedrock/claude-opus-latest");
    let target = get("global.anthropic.claude-opus-5-5");
    assert_eq!(alias.standard, target.standard);
    assert_eq!(alias.standard.rates.cache_write_1h, Some(d("8e-06")));
}

#[test]
fn provider_twin_wins() {
    let u = usage(1000, 0, 500, 0, 0, 0);
    let (key, twin) = table().lookup("deepseek", "deepseek-chat").expect("twin");
    assert_eq!(key, "deepseek/deepseek-chat");
    // the twin writes cache at an explicit 0.0 ...
    assert_eq!(twin.cost("deepseek", &u, peak(), ServiceTier::Standard).cache_write, Decimal::ZERO);
    // ... the bare key has no write rate: input rate
    let (bare_key, bare) = table().lookup("", "deepseek-chat").expect("bare");
    assert_eq!(bare_key, "deepseek-chat");
    assert_eq!(bare.cost("deepseek", &u, peak(), ServiceTier::Standard).cache_write, n(500) * d("2.8e-07"));
}

#[test]
fn lookup_order() {
    let t = table();
    // "{provider}/{model}" missing -> model
    assert_eq!(t.lookup("openai", "gpt-4o").map(|(k, _)| k), Some("gpt-4o"));
    // model already prefixed: as written, and repeated prefixes collapse
    assert_eq!(t.lookup("openai", "openai/gpt-4o").map(|(k, _)| k), Some("gpt-4o"));
    assert_eq!(t.lookup("openai", "openai/openai/gpt-4o").map(|(k, _)| k), Some("gpt-4o"));
    assert_eq!(t.lookup("perplexity", "perplexity/sonar").map(|(k, _)| k), Some("perplexity/sonar"));
    assert_eq!(
        t.lookup("perplexity", "perplexity/deepseek-v4-flash-0731").map(|(k, _)| k),
        Some("perplexity/perplexity/deepseek-v4-flash-0731")
    );
    // first path segment removed
    assert_eq!(
        t.lookup("my-proxy", "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0").map(|(k, _)| k),
        Some(SONNET_BEDROCK)
    );
    assert!(t.lookup("openai", "no-such-model").is_none());
    assert!(t.lookup("", "sample_spec").is_none());
}

// ---------------------------------------------------------------- overrides, wire format

#[test]
fn manual_override() {
    let mut t = PriceTable::default();
    let p = ModelPrice::manual(d("1e-06"), d("2e-06"), Some(d("1e-07")), None, "acme");
    t.insert("acme/model".to_string(), p);
    let (key, p) = t.lookup("acme", "model").expect("inserted");
    assert_eq!(key, "acme/model");
    assert_eq!(p.key, "acme/model");
    assert!(p.manual);
    let b = p.cost("acme", &usage(10, 10, 10, 10, 10, 0), peak(), ServiceTier::Standard);
    assert_eq!(b.total, n(10) * (d("1e-06") + d("1e-07") + d("1e-06") + d("1e-06") + d("2e-06")));
}

#[test]
fn breakdown_serializes_decimals_as_strings() {
    let b = cost("claude-sonnet-4-5", "anthropic", &usage(1, 0, 0, 0, 1, 0));
    let v = serde_json::to_value(&b).expect("serializes");
    assert_eq!(v["input"], json!("0.000003"));
    assert_eq!(v["total"], json!("0.000018"));
    let back: CostBreakdown = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, b);
    assert_eq!(serde_json::to_value(ServiceTier::Batch).expect("tier"), json!("batch"));
}
