//! Check: would an allocation be granted now? Prices the estimate as `allocate` does and
//! compares it with every matching policy's remaining cost and tokens, reserving nothing.
//! A check is a snapshot: another caller may take what remains before an allocation comes.

use super::*;
use crate::api::{AllocationRequest, BudgetCheck, CheckedBudget, CheckedPolicy};
use crate::domain::{BYPASS_PRIORITY, Enforcement};
use crate::error::EngineError;

impl Engine {
    pub async fn check_allocation(&self, req: AllocationRequest) -> Result<BudgetCheck, EngineError> {
        self.sync_catalog().await?;
        let now = crate::domain::now();
        let allocate::EstimatedCall { call, cost, tokens, priority } = self.estimate_call(&req, now)?;
        let mut reasons = Vec::new();
        let mut budgets = Vec::new();
        for budget in self.matching_budgets(&call) {
            let statuses = self.policy_statuses(&budget, Some(&call), call.context_id.as_deref(), now).await?;
            let mut policies = Vec::with_capacity(statuses.len());
            for status in statuses {
                let Some(policy) = budget.policies.iter().find(|p| p.id == status.policy_id) else { continue };
                let cost_fits = match (status.remaining, cost) {
                    (Some(remaining), Some(cost)) => cost <= remaining,
                    (Some(_), None) => policy.allow_unpriced,
                    (None, _) => true,
                };
                let tokens_fit = status.tokens_remaining.is_none_or(|remaining| tokens <= remaining);
                let fits = cost_fits && tokens_fit;
                if !fits && policy.enforcement == Enforcement::HardLimit && priority < BYPASS_PRIORITY {
                    reasons.push(match (cost_fits, cost) {
                        (false, None) => format!(
                            "budget '{}' {} policy refuses unpriced models ({}/{} has no price)",
                            budget.name, status.period, call.provider, call.model
                        ),
                        (false, Some(cost)) => format!(
                            "budget '{}' {} policy: {} requested, {} remains",
                            budget.name,
                            status.period,
                            cost,
                            status.remaining.unwrap_or_default()
                        ),
                        _ => format!(
                            "budget '{}' {} policy: {} tokens requested, {} remain",
                            budget.name,
                            status.period,
                            tokens,
                            status.tokens_remaining.unwrap_or_default()
                        ),
                    });
                }
                policies.push(CheckedPolicy { status, fits });
            }
            budgets.push(CheckedBudget { budget_id: budget.id, budget: budget.name.clone(), policies });
        }
        Ok(BudgetCheck {
            allowed: reasons.is_empty(),
            estimated_cost: cost,
            estimated_tokens: tokens,
            reasons,
            budgets,
        })
    }
}
