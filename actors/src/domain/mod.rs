//! Domain types of the budget engine: budgets, policies, allocations, usage records,
//! alerts and API keys, with their validation rules.
//!
//! Money is `Decimal` (USD) everywhere and travels as a decimal string on the wire.

mod alert;
mod allocation;
mod budget;
mod channel;
mod key;
pub mod ledger;
pub mod limits;
mod policy;
mod scope;
pub mod text;
mod usage;

pub use alert::*;
pub use allocation::*;
pub use budget::*;
pub use channel::*;
pub use key::*;
pub use ledger::*;
pub use limits::*;
pub use policy::*;
pub use scope::*;
pub use usage::*;

use chrono::{DateTime, Utc};

use crate::error::EngineError;

/// The window of time the API accepts for `at`, `timestamp` and `effective_from`: years
/// 2000 to 2199 (UTC). Wide enough for any imported history and any window end; outside it,
/// period arithmetic in a far time zone could leave chrono's range.
pub const EARLIEST_TIME: &str = "2000-01-01T00:00:00Z";
pub const LATEST_TIME: &str = "2200-01-01T00:00:00Z";

/// Refuses a time outside [`EARLIEST_TIME`, `LATEST_TIME`), naming `field`.
pub fn check_time(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
    use chrono::Datelike;
    if (2000..2200).contains(&at.year()) {
        Ok(at)
    } else {
        Err(EngineError::invalid(
            field,
            format!("{field} must be between {EARLIEST_TIME} and {LATEST_TIME} (got {})", at.to_rfc3339()),
        ))
    }
}

/// The current time at the precision storage keeps (microseconds), so that what an API call
/// returns equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    fn call(provider: &str, component: &str) -> CallScope {
        CallScope::new(component.into(), Some("c1".into()), provider.into(), "m".into(), None, None)
            .expect("valid call")
    }

    #[test]
    fn shorthand_parses_cost_and_tokens() {
        let spec = PolicySpec::parse_shorthand("daily:5.00:hard_limit").expect("parses");
        assert_eq!(spec.cost_limit, Some(Decimal::new(500, 2)));
        assert_eq!(spec.enforcement.as_deref(), Some("hard_limit"));
        let spec = PolicySpec::parse_shorthand("hourly:100000t:warn").expect("parses");
        assert_eq!(spec.token_limit, Some(100_000));
        assert!(PolicySpec::parse_shorthand("daily").is_err());
        assert!(PolicySpec::parse_shorthand("daily:-1:warn").is_err());
        assert!(PolicySpec::parse_shorthand("daily:abc:warn").is_err());
    }

    #[test]
    fn policy_validation_names_the_field() {
        let now = Utc::now();
        let err = PolicySpec { period: "daily".into(), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("no limit");
        assert_eq!(err.field(), Some("cost_limit"));
        let err = PolicySpec { period: "fortnightly".into(), cost_limit: Some(Decimal::ONE), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("bad period");
        assert_eq!(err.field(), Some("period"));
        let err = PolicySpec {
            period: "daily".into(),
            cost_limit: Some(Decimal::ONE),
            enforcement: Some("maybe".into()),
            ..Default::default()
        }
        .into_policy(Uuid::now_v7(), now)
        .expect_err("bad enforcement");
        assert_eq!(err.field(), Some("enforcement"));
        let err = PolicySpec { period: "cron".into(), token_limit: Some(5), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("cron without expression");
        assert_eq!(err.field(), Some("cron"));
    }

    #[test]
    fn scope_filters_match_case_insensitively_and_empty_matches_all() {
        let filter = ScopeFilter { provider: Some("Anthropic".into()), ..Default::default() };
        assert!(filter.matches(&call("anthropic", "rhetor")));
        assert!(!filter.matches(&call("openai", "rhetor")));
        assert!(ScopeFilter::default().matches(&call("openai", "x")));
        let ctx = ScopeFilter { context_id: Some("c2".into()), ..Default::default() };
        assert!(!ctx.matches(&call("openai", "x")));
    }

    #[test]
    fn default_tiers_follow_apollo() {
        assert_eq!(default_tier("anthropic"), "remote_heavyweight");
        assert_eq!(default_tier("ollama"), "local_midweight");
        assert_eq!(default_tier("local"), "local_lightweight");
    }

    #[test]
    fn budget_names_cannot_look_like_ids() {
        assert!(validate_budget_name(&Uuid::now_v7().to_string()).is_err());
        assert!(validate_budget_name("  ").is_err());
        // Names are taken as given: space at either end is refused, not trimmed away, so the
        // OpenAPI pattern and the server agree on every string.
        assert!(validate_budget_name(" rhetor ").is_err());
        assert_eq!(validate_budget_name("rhetor team").expect("valid"), "rhetor team");
    }
}
