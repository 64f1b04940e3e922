//! The limit rules: when a hard limit refuses, and how a policy's standing is judged.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::Totals;
use crate::error::Exceeded;

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
