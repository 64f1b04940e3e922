//! Budget's exact costs against LiteLLM 1.110.2's own cost code.
//!
//! `tests/data/litellm_golden.json` is written by `tools/gen_pricing_golden.py`,
//! which runs `litellm.cost_per_token` on a few hundred cases. Every case must
//! agree to 1e-12 relative (1e-15 absolute for tiny values); LiteLLM multiplies
//! binary floats, we multiply exact decimals.

use std::str::FromStr;

use budget_actors::pricing::{LITELLM_VERSION, PriceTable, ServiceTier, Usage};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

const GOLDEN: &str = include_str!("data/litellm_golden.json");

#[derive(Deserialize)]
struct Golden {
    header: Header,
    cases: Vec<Case>,
    excluded: Vec<Excluded>,
}

#[derive(Deserialize)]
struct Header {
    litellm_version: String,
    cases: usize,
    excluded: usize,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    provider: String,
    model: String,
    usage: Usage,
    service_tier: ServiceTier,
    timestamp: DateTime<Utc>,
    litellm: LiteLlmResult,
}

#[derive(Deserialize)]
struct LiteLlmResult {
    total: String,
}

#[derive(Deserialize)]
struct Excluded {
    id: String,
    excluded_reason: String,
}

fn golden() -> Golden {
    serde_json::from_str(GOLDEN).expect("golden file parses")
}

/// LiteLLM's float total, as an exact decimal of its repr.
fn litellm_total(case: &Case) -> f64 {
    f64::from_str(&case.litellm.total).expect("float repr")
}

fn agrees(ours: Decimal, theirs: f64) -> bool {
    let ours = f64::try_from(ours).expect("decimal to f64");
    let diff = (ours - theirs).abs();
    diff <= 1e-15 || diff <= 1e-12 * theirs.abs().max(ours.abs())
}

#[test]
fn pricing_golden_header_matches() {
    let g = golden();
    assert_eq!(g.header.litellm_version, LITELLM_VERSION);
    assert_eq!(g.header.cases, g.cases.len());
    assert_eq!(g.header.excluded, g.excluded.len());
    assert!(g.cases.len() >= 300, "only {} golden cases", g.cases.len());
    for e in &g.excluded {
        assert!(!e.excluded_reason.is_empty(), "{} excluded without reason", e.id);
    }
}

#[test]
fn pricing_golden_costs_agree_with_litellm() {
    let table = PriceTable::builtin().expect("builtin map parses");
    let g = golden();
    let mut failures = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut requests = 0;
    for case in &g.cases {
        let Some((key, price)) = table.lookup(&case.provider, &case.model) else {
            failures.push(format!("{}: no entry for {}/{}", case.id, case.provider, case.model));
            continue;
        };
        let b = price.cost(&case.provider, &case.usage, case.timestamp, case.service_tier);
        // LiteLLM never charges input_cost_per_request; Budget does, as its own line.
        assert_eq!(b.request, price.input_cost_per_request.unwrap_or_default());
        labels.push(b.tier.clone());
        if !b.request.is_zero() {
            requests += 1;
        }
        let ours = b.litellm_total();
        let theirs = litellm_total(case);
        if !agrees(ours, theirs) {
            failures.push(format!(
                "{}: {}/{} (key {key}, tier {}) ours {ours} litellm {theirs} usage {:?}",
                case.id, case.provider, case.model, b.tier, case.usage
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases disagree:\n{}",
        failures.len(),
        g.cases.len(),
        failures.join("\n")
    );
    // The cases cover every rate set the cost code can pick.
    let count = |needle: &str| labels.iter().filter(|l| l.contains(needle)).count();
    for (needle, min) in [
        ("above_", 100),
        ("tiered_pricing[", 100),
        ("tiered_pricing[0]", 10),
        ("tiered_pricing[3]", 5),
        ("off_peak", 30),
        ("batches", 20),
        ("batches_half", 5),
        ("batches+above_", 2),
        ("flex", 10),
        ("flex+above_", 2),
        ("priority", 10),
        ("priority+above_", 2),
    ] {
        assert!(count(needle) >= min, "only {} golden cases priced at {needle}", count(needle));
    }
    assert!(requests >= 1, "no golden case charges input_cost_per_request");
}
