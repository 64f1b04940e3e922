//! The verification rule, as plain functions: which sources agree on a model's price, which
//! one to believe, and what would change. The VerifierActor applies it.
//!
//! - Two prices agree when every headline rate both give (input, output, cache read, cache
//!   write) is within `tolerance` of the larger of the two (default 10 %). Rates only one of
//!   them gives are no evidence either way.
//! - Sources are grouped by agreement, most trusted first; the group with the largest summed
//!   (effective) trust wins, and its most trusted member gives the price.
//! - One source only: `unverified`. A winning group of two or more: `verified` (sources
//!   outside it are outliers, listed as conflicts). A winning group of one while others
//!   disagree: `conflict` — nothing is applied without a person.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::pricing::ModelPrice;
use crate::sources::SourcePrice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    Verified,
    Unverified,
    Conflict,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Verified => "verified",
            Verification::Unverified => "unverified",
            Verification::Conflict => "conflict",
        }
    }
}

/// One source's word on one model.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub source: &'a str,
    /// Who publishes the source (its configured `publisher`, else its name): two feeds of
    /// one publisher are one voice.
    pub publisher: &'a str,
    pub trust: Decimal,
    pub price: &'a SourcePrice,
}

/// A group's weight: each publisher counts once, with its most trusted source.
fn weight(group: &[&Candidate<'_>]) -> (Decimal, usize) {
    let mut best: Vec<(&str, Decimal)> = Vec::new();
    for c in group {
        match best.iter_mut().find(|(p, _)| *p == c.publisher) {
            Some((_, t)) => *t = (*t).max(c.trust),
            None => best.push((c.publisher, c.trust)),
        }
    }
    (best.iter().map(|(_, t)| *t).sum(), best.len())
}

#[derive(Debug, Clone)]
pub struct Consensus<'a> {
    pub status: Verification,
    /// The price to believe (absent only without candidates).
    pub chosen: Option<Candidate<'a>>,
    pub agreeing: Vec<&'a str>,
    pub outliers: Vec<&'a str>,
}

/// A rate that would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub old: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub new: Option<Decimal>,
    /// `(new − old) / old × 100`, rounded to 4 places; null when the field appears or
    /// disappears (no old or no new value) or the old value was zero.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub percent: Option<Decimal>,
}

fn rates_agree(a: Decimal, b: Decimal, tolerance: Decimal) -> bool {
    let larger = a.max(b);
    if larger.is_zero() {
        return true;
    }
    // Checked: a source's absurd rate must not overflow (and panic) the verifier; a rate
    // that large agrees with nothing.
    match tolerance.checked_mul(larger) {
        Some(bound) => (a - b).abs() <= bound,
        None => false,
    }
}

/// Whether two prices agree within `tolerance` on every rate both give.
pub fn agree(a: &SourcePrice, b: &SourcePrice, tolerance: Decimal) -> bool {
    a.rates().into_iter().zip(b.rates()).all(|((_, x), (_, y))| match (x, y) {
        (Some(x), Some(y)) => rates_agree(x, y, tolerance),
        _ => true,
    })
}

/// Whether a price gives any headline rate at all (image or search entries may not).
pub fn has_rates(p: &SourcePrice) -> bool {
    p.rates().iter().any(|(_, r)| r.is_some())
}

pub fn consensus<'a>(candidates: &[Candidate<'a>], tolerance: Decimal) -> Consensus<'a> {
    let mut sorted: Vec<&Candidate<'a>> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.trust.cmp(&a.trust).then(a.source.cmp(b.source)));
    let mut groups: Vec<Vec<&Candidate<'a>>> = Vec::new();
    for c in sorted {
        match groups.iter_mut().find(|g| agree(g[0].price, c.price, tolerance)) {
            Some(group) => group.push(c),
            None => groups.push(vec![c]),
        }
    }
    let Some(best) = groups.iter().max_by(|a, b| {
        let (ta, _) = weight(a);
        let (tb, _) = weight(b);
        // Ties go to the group holding the single most trusted source (it came first).
        ta.cmp(&tb).then(b[0].trust.cmp(&a[0].trust).reverse())
    }) else {
        return Consensus { status: Verification::Unverified, chosen: None, agreeing: vec![], outliers: vec![] };
    };
    let agreeing: Vec<&'a str> = best.iter().map(|c| c.source).collect();
    let outliers: Vec<&'a str> = candidates.iter().map(|c| c.source).filter(|s| !agreeing.contains(s)).collect();
    let publishers = {
        let mut all: Vec<&str> = candidates.iter().map(|c| c.publisher).collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    };
    let status = if publishers == 1 {
        Verification::Unverified
    } else if weight(best).1 >= 2 {
        Verification::Verified
    } else {
        Verification::Conflict
    };
    Consensus { status, chosen: Some(best[0].clone()), agreeing, outliers }
}

/// The rates that would change if `proposed` replaced `current`: every field of a full
/// LiteLLM entry (long-context thresholds, service-tier lists, tiered and off-peak pricing,
/// per-request prices), else the headline rates a source gives. A field that appears or
/// disappears has no percent: for the approval threshold that is as large as a change gets.
pub fn diff(current: Option<&ModelPrice>, proposed: &SourcePrice) -> Vec<FieldChange> {
    if let Some(full) = &proposed.full {
        if current == Some(full) {
            return Vec::new();
        }
        let old = current.map(ModelPrice::rate_fields).unwrap_or_default();
        let new = full.rate_fields();
        let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        return names
            .into_iter()
            .filter_map(|field| {
                let (old, new) = (old.get(field).copied(), new.get(field).copied());
                (old != new).then(|| FieldChange { field: field.clone(), old, new, percent: percent(old, new) })
            })
            .collect();
    }
    let old = current.map(|p| &p.standard.rates);
    let olds = [
        old.and_then(|r| r.input),
        old.and_then(|r| r.output),
        old.and_then(|r| r.cache_read),
        old.and_then(|r| r.cache_write),
    ];
    let mut out = Vec::new();
    for ((field, new), old) in proposed.rates().into_iter().zip(olds) {
        let Some(new) = new else { continue };
        if old == Some(new) {
            continue;
        }
        out.push(FieldChange { field: field.to_string(), old, new: Some(new), percent: percent(old, Some(new)) });
    }
    out
}

/// `(new − old) / old × 100`, rounded to 4 places; `None` when either side is missing, the
/// old value is zero, or the ratio is beyond `Decimal` (an absurd rate: unbounded, so it
/// waits for approval).
fn percent(old: Option<Decimal>, new: Option<Decimal>) -> Option<Decimal> {
    let (old, new) = (old.filter(|o| !o.is_zero())?, new?);
    let ratio = new.checked_sub(old)?.checked_div(old)?.checked_mul(Decimal::from(100))?;
    Some(ratio.round_dp(4).normalize())
}

/// The largest absolute percent change; `None` (unbounded) when a rate had no old value or
/// an old value of zero — a rate appearing from nowhere is as big a change as there is.
pub fn largest_change(changes: &[FieldChange]) -> Option<Decimal> {
    let mut largest = Decimal::ZERO;
    for c in changes {
        largest = largest.max(c.percent?.abs());
    }
    Some(largest)
}

/// The price to store for an applied change: a LiteLLM entry as it is (all its tiers), else
/// the current price with its headline rates replaced, else a plain price of the rates.
pub fn proposed_price(current: Option<&ModelPrice>, proposed: &SourcePrice) -> Option<ModelPrice> {
    if let Some(full) = &proposed.full {
        return Some(full.clone());
    }
    match current {
        Some(current) => {
            let mut price = current.clone();
            let rates = &mut price.standard.rates;
            if let Some(v) = proposed.input_cost_per_token {
                rates.input = Some(v);
            }
            if let Some(v) = proposed.output_cost_per_token {
                rates.output = Some(v);
            }
            if let Some(v) = proposed.cache_read_input_token_cost {
                rates.cache_read = Some(v);
            }
            if let Some(v) = proposed.cache_creation_input_token_cost {
                rates.cache_write = Some(v);
            }
            Some(price)
        }
        None => Some(ModelPrice::manual(
            proposed.input_cost_per_token?,
            proposed.output_cost_per_token?,
            proposed.cache_read_input_token_cost,
            proposed.cache_creation_input_token_cost,
            &proposed.provider,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: &str, output: &str) -> SourcePrice {
        let mut p = SourcePrice::new("anthropic", "claude-sonnet-4-5", "x");
        p.input_cost_per_token = Some(input.parse().expect("decimal"));
        p.output_cost_per_token = Some(output.parse().expect("decimal"));
        p
    }

    fn cand<'a>(source: &'a str, trust: &str, price: &'a SourcePrice) -> Candidate<'a> {
        Candidate { source, publisher: source, trust: trust.parse().expect("decimal"), price }
    }

    /// A source's absurd rate (here the largest decimal against the smallest) is a change
    /// without a percent and agrees with nothing; nothing overflows.
    #[test]
    fn absurd_rates_do_not_overflow() {
        let tiny = Decimal::new(1, 28);
        assert_eq!(percent(Some(tiny), Some(Decimal::MAX)), None);
        assert!(!rates_agree(Decimal::MAX, tiny, Decimal::MAX));
        let changes = diff(None, &price("0.0000000000000000000000000001", "79228162514264337593543950335"));
        assert_eq!(changes.len(), 2);
        assert_eq!(largest_change(&changes), None, "unbounded: waits for approval");
        assert_eq!(percent(Some(Decimal::new(3, 6)), Some(Decimal::new(33, 7))), Some(Decimal::from(10)));
    }

    #[test]
    fn two_feeds_of_one_publisher_are_one_voice() {
        let stale = price("0.00001", "0.00004");
        let fresh = price("0.000002", "0.000008");
        let tol = Decimal::new(1, 1);
        let mut a = cand("llm-prices", "0.7", &stale);
        let mut b = cand("llm-prices-history", "0.7", &stale);
        a.publisher = "www.llm-prices.com";
        b.publisher = "www.llm-prices.com";
        let c = consensus(&[a.clone(), b.clone(), cand("litellm", "0.9", &fresh)], tol);
        assert_eq!(c.chosen.expect("chosen").source, "litellm", "0.7 once does not outvote 0.9");
        assert_eq!(c.status, Verification::Conflict);
        assert_eq!(consensus(&[a, b], tol).status, Verification::Unverified, "one publisher cannot verify itself");
    }

    #[test]
    fn two_agree_one_is_off_by_1000x() {
        let good = price("0.000003", "0.000015");
        let close = price("0.0000031", "0.000015");
        let wild = price("0.003", "0.015");
        let tol = Decimal::new(1, 1);
        let c = consensus(
            &[cand("litellm", "0.9", &good), cand("llm-prices", "0.7", &close), cand("scraper", "0.95", &wild)],
            tol,
        );
        assert_eq!(c.status, Verification::Verified);
        assert_eq!(c.chosen.expect("chosen").source, "litellm");
        assert_eq!(c.outliers, vec!["scraper"], "the 1000x source is an outlier even though it is the most trusted");
    }

    #[test]
    fn two_that_disagree_are_a_conflict_and_one_is_unverified() {
        let a = price("0.000003", "0.000015");
        let b = price("0.000006", "0.000015");
        let tol = Decimal::new(1, 1);
        assert_eq!(consensus(&[cand("a", "0.9", &a), cand("b", "0.7", &b)], tol).status, Verification::Conflict);
        assert_eq!(consensus(&[cand("a", "0.9", &a)], tol).status, Verification::Unverified);
        // Within 10 % of the larger: 0.0000030 vs 0.0000033 agree; 0.0000034 does not.
        assert!(agree(&a, &price("0.0000033", "0.000015"), tol));
        assert!(!agree(&a, &price("0.0000034", "0.000015"), tol));
    }

    #[test]
    fn diff_reports_exact_percentages() {
        let current = ModelPrice::manual(Decimal::new(3, 6), Decimal::new(15, 6), None, None, "anthropic");
        let changes = diff(Some(&current), &price("0.0000036", "0.000015"));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "input_cost_per_token");
        assert_eq!(changes[0].percent, Some(Decimal::from(20)));
        assert_eq!(largest_change(&changes), Some(Decimal::from(20)));
        assert!(diff(Some(&current), &price("0.000003", "0.000015")).is_empty());
        // A cache rate the current price lacks is an unbounded change: it waits for approval.
        let mut with_cache = price("0.000003", "0.000015");
        with_cache.cache_read_input_token_cost = Some(Decimal::new(3, 3));
        assert_eq!(largest_change(&diff(Some(&current), &with_cache)), None);
    }
}
