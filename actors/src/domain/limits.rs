//! The limit rules: when a hard limit refuses, and how a policy's standing is judged.

use chrono::Utc;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Alert, AlertKind, Budget, CallScope, Enforcement, Policy, Severity, Totals};
use crate::api::PolicyStatus;
use crate::error::{EngineError, Exceeded};
use crate::period::Window;

/// What a hard limit is checked with: the budget and policy it belongs to, and its limits.
pub struct LimitCheck<'a> {
    pub budget: &'a str,
    pub budget_id: Uuid,
    pub policy: Uuid,
    pub period: &'a str,
    pub cost_limit: Option<Decimal>,
    pub token_limit: Option<u64>,
}

impl LimitCheck<'_> {
    /// The denial if `cost` (when priced) or `tokens` more would cross a limit over what
    /// `totals` has settled and reserved. One rule for the actor's check and the shared
    /// database's re-check.
    pub fn exceeded(&self, totals: &Totals, cost: Option<Decimal>, tokens: u64) -> Option<Exceeded> {
        let denial = |limit_kind, limit, remaining, requested| Exceeded {
            budget: self.budget.to_string(),
            budget_id: self.budget_id,
            policy: self.policy,
            period: self.period.to_string(),
            limit_kind,
            limit,
            remaining,
            requested,
        };
        if let (Some(limit), Some(cost)) = (self.cost_limit, cost) {
            let used = totals.settled_cost + totals.reserved_cost;
            if used + cost > limit {
                return Some(denial("cost", limit, (limit - used).max(Decimal::ZERO), cost));
            }
        }
        if let Some(limit) = self.token_limit {
            let used = totals.settled_tokens.saturating_add(totals.reserved_tokens);
            if used.saturating_add(tokens) > limit {
                return Some(denial(
                    "tokens",
                    Decimal::from(limit),
                    Decimal::from(limit.saturating_sub(used)),
                    Decimal::from(tokens),
                ));
            }
        }
        None
    }
}

/// Priority at which Apollo lets a call through hard limits.
pub const BYPASS_PRIORITY: u8 = 10;

/// How one policy stands given its window's totals.
pub fn policy_status(policy: &Policy, window: &Window, totals: &Totals) -> PolicyStatus {
    let ratio = usage_ratio(policy, totals.settled_cost, totals.settled_tokens);
    PolicyStatus {
        policy_id: policy.id,
        period: policy.period.as_str().into(),
        enforcement: policy.enforcement.as_str().into(),
        window_key: window.key.clone(),
        window_start: window.start,
        window_end: window.end,
        limit: policy.cost_limit,
        // Normalized so that equal amounts read the same whatever their history of scales.
        settled: totals.settled_cost.normalize(),
        reserved: totals.reserved_cost.normalize(),
        remaining: policy
            .cost_limit
            .map(|l| (l - totals.settled_cost - totals.reserved_cost).max(Decimal::ZERO).normalize()),
        token_limit: policy.token_limit,
        tokens_settled: totals.settled_tokens,
        tokens_reserved: totals.reserved_tokens,
        tokens_remaining: policy.token_limit.map(|l| l.saturating_sub(totals.settled_tokens + totals.reserved_tokens)),
        state: state_of(policy, ratio),
    }
}

/// Denies when `settled + reserved + estimate > limit` for cost or tokens.
/// `totals` is what the limit is checked against; `seen` is this actor's own view, which only
/// reports what remains when an unpriced call is refused (the two differ with a shared
/// database, where the database re-check is the authority on amounts).
pub fn check_hard_limit(
    budget: &Budget,
    policy: &Policy,
    totals: &Totals,
    seen: &Totals,
    cost: Option<Decimal>,
    tokens: u64,
    call: &CallScope,
) -> Result<(), EngineError> {
    if let (Some(limit), None) = (policy.cost_limit, cost)
        && !policy.allow_unpriced
    {
        let used = seen.settled_cost + seen.reserved_cost;
        return Err(EngineError::Unpriced(Box::new(crate::error::UnpricedDenial {
            provider: call.provider.clone(),
            model: call.model.clone(),
            budget: budget.name.clone(),
            budget_id: budget.id,
            policy: policy.id,
            period: policy.period.as_str().to_string(),
            limit,
            remaining: (limit - used).max(Decimal::ZERO),
        })));
    }
    let check = crate::domain::LimitCheck {
        budget: &budget.name,
        budget_id: budget.id,
        policy: policy.id,
        period: policy.period.as_str(),
        cost_limit: policy.cost_limit,
        token_limit: policy.token_limit,
    };
    match check.exceeded(totals, cost, tokens) {
        Some(denial) => Err(EngineError::BudgetExceeded(Box::new(denial))),
        None => Ok(()),
    }
}

/// Usage ratio of settled spend (the larger of the cost and token ratios).
pub fn usage_ratio(policy: &Policy, settled_cost: Decimal, settled_tokens: u64) -> Decimal {
    let mut ratio = Decimal::ZERO;
    if let Some(limit) = policy.cost_limit {
        ratio = ratio.max(if limit.is_zero() {
            if settled_cost.is_zero() { Decimal::ZERO } else { Decimal::ONE }
        } else {
            // A limit of a tiny fraction of a cent makes the ratio overflow: it is then as
            // exceeded as it gets, not a panic in the actor.
            settled_cost.checked_div(limit).unwrap_or(Decimal::MAX)
        });
    }
    if let Some(limit) = policy.token_limit {
        ratio = ratio.max(if limit == 0 {
            if settled_tokens == 0 { Decimal::ZERO } else { Decimal::ONE }
        } else {
            Decimal::from(settled_tokens) / Decimal::from(limit)
        });
    }
    ratio
}

/// Where a policy stands: its settled spend against its warning threshold and limit.
/// Ordered from best to worst, so a budget's state is the `max` of its policies'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyState {
    #[default]
    Ok,
    Warning,
    Exceeded,
}

impl PolicyState {
    pub fn as_str(&self) -> &'static str {
        match self {
            PolicyState::Ok => "ok",
            PolicyState::Warning => "warning",
            PolicyState::Exceeded => "exceeded",
        }
    }

    /// The worst of several states (`ok` for none).
    pub fn worst(states: impl IntoIterator<Item = PolicyState>) -> PolicyState {
        states.into_iter().max().unwrap_or_default()
    }
}

impl std::fmt::Display for PolicyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for PolicyState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why an allocation was refused (`details.reason` of a 402 `budget_exceeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// A cost or token limit would be crossed.
    Limit,
    /// The model has no known price and the hard cost limit does not allow unpriced calls.
    UnpricedModel,
}

/// The state of a policy whose settled ratio is `ratio`.
pub fn state_of(policy: &Policy, ratio: Decimal) -> PolicyState {
    if ratio >= Decimal::ONE {
        PolicyState::Exceeded
    } else if ratio >= policy.warning_threshold {
        PolicyState::Warning
    } else {
        PolicyState::Ok
    }
}

/// The share of a window that must have passed before its run-rate is trusted: in the first
/// minutes of a day one call would project anything.
pub const PROJECTION_MIN_ELAPSED: Decimal = Decimal::from_parts(1, 0, 0, false, 1); // 0.1

/// An alert when this record makes the window's run-rate reach the limit before the window
/// ends: settled ÷ elapsed share of the window ≥ 1 after the record and < 1 before it, while
/// the limit itself is not reached yet. Only for windows with an end, at least
/// [`PROJECTION_MIN_ELAPSED`] into them.
#[allow(clippy::too_many_arguments)]
pub fn projection_alert(
    budget: &Budget,
    policy: &Policy,
    window_key: &str,
    start: Option<chrono::DateTime<Utc>>,
    end: Option<chrono::DateTime<Utc>>,
    before: &Totals,
    after: &Totals,
    at: chrono::DateTime<Utc>,
) -> Option<Alert> {
    if policy.enforcement == Enforcement::Ignore {
        return None;
    }
    let (start, end) = (start?, end?);
    let (elapsed, length) = ((at - start).num_seconds(), (end - start).num_seconds());
    if elapsed <= 0 || length <= 0 || elapsed >= length {
        return None;
    }
    let share = Decimal::from(elapsed) / Decimal::from(length);
    if share < PROJECTION_MIN_ELAPSED {
        return None;
    }
    let ratio_before = usage_ratio(policy, before.settled_cost, before.settled_tokens);
    let ratio_after = usage_ratio(policy, after.settled_cost, after.settled_tokens);
    let projected = |ratio: Decimal| ratio.checked_div(share).unwrap_or(Decimal::MAX);
    if ratio_after >= Decimal::ONE || projected(ratio_after) < Decimal::ONE || projected(ratio_before) >= Decimal::ONE {
        return None;
    }
    let projected_ratio = projected(ratio_after).round_dp(2);
    let kind = AlertKind::BudgetProjectedToExceed;
    Some(Alert {
        id: Uuid::now_v7(),
        severity: Severity::Warning,
        kind,
        budget_id: Some(budget.id),
        policy_id: Some(policy.id),
        message: format!(
            "budget '{}' {} policy is projected to reach its limit before {}: {} of the window has passed and {} of the limit is used (run-rate {}× the limit)",
            budget.name,
            policy.period.as_str(),
            end.to_rfc3339(),
            share.round_dp(2),
            ratio_after.round_dp(2),
            projected_ratio
        ),
        details: json!({
            "window": window_key,
            "window_end": end.to_rfc3339(),
            "elapsed_share": share.round_dp(4).to_string(),
            "used_share": ratio_after.round_dp(4).to_string(),
            "projected_share": projected_ratio.to_string(),
            "settled": after.settled_cost.to_string(),
            "settled_tokens": after.settled_tokens,
            "limit": policy.cost_limit.map(|l| l.to_string()),
            "token_limit": policy.token_limit,
        }),
        created_at: Utc::now(),
        acknowledged: false,
        acknowledged_at: None,
        dedup_key: Some(Alert::crossing_key(kind, policy.id, window_key)),
        window_end: Some(end),
        resolved_at: None,
    })
}

pub fn crossing_alerts(
    budget: &Budget,
    policy: &Policy,
    window_key: &str,
    window_end: Option<chrono::DateTime<Utc>>,
    before: &Totals,
    after: &Totals,
) -> Vec<Alert> {
    if policy.enforcement == Enforcement::Ignore {
        return Vec::new();
    }
    // Alert levels: 0 ok, 1 warning threshold, 2 action threshold, 3 limit reached.
    let level = |t: &Totals| {
        let ratio = usage_ratio(policy, t.settled_cost, t.settled_tokens);
        if ratio >= Decimal::ONE {
            3
        } else if ratio >= policy.action_threshold {
            2
        } else if ratio >= policy.warning_threshold {
            1
        } else {
            0
        }
    };
    let (was, is) = (level(before), level(after));
    // Every threshold this record crossed has its alert (0.6 → 1.2 crosses the action
    // threshold and the limit): each is one per policy window by its key.
    (was + 1..=is).map(|lvl| crossing_alert(budget, policy, window_key, window_end, after, lvl)).collect()
}

fn crossing_alert(
    budget: &Budget,
    policy: &Policy,
    window_key: &str,
    window_end: Option<chrono::DateTime<Utc>>,
    after: &Totals,
    level: u8,
) -> Alert {
    let (kind, severity, now) = match (level, policy.enforcement) {
        (3, Enforcement::Warn) => (AlertKind::BudgetExceeded, Severity::Warning, "exceeded"),
        (3, _) => (AlertKind::BudgetExceeded, Severity::Error, "exceeded"),
        (2, Enforcement::Warn) => (AlertKind::BudgetActionThreshold, Severity::Warning, "past its action threshold"),
        (2, _) => (AlertKind::BudgetActionThreshold, Severity::Error, "past its action threshold"),
        _ => (AlertKind::BudgetWarning, Severity::Warning, "past its warning threshold"),
    };
    Alert {
        id: Uuid::now_v7(),
        severity,
        kind,
        budget_id: Some(budget.id),
        policy_id: Some(policy.id),
        message: format!(
            "budget '{}' {} policy is {}: settled {} of {}",
            budget.name,
            policy.period.as_str(),
            now,
            after.settled_cost,
            policy
                .cost_limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| format!("{} tokens", policy.token_limit.unwrap_or(0))),
        ),
        details: json!({
            "window": window_key,
            "settled": after.settled_cost.to_string(),
            "settled_tokens": after.settled_tokens,
            "limit": policy.cost_limit.map(|l| l.to_string()),
            "token_limit": policy.token_limit,
            "enforcement": policy.enforcement.as_str(),
        }),
        created_at: Utc::now(),
        acknowledged: false,
        acknowledged_at: None,
        dedup_key: Some(Alert::crossing_key(kind, policy.id, window_key)),
        window_end,
        resolved_at: None,
    }
}
