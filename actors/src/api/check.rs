//! `check_budget` (MCP) / `CheckBudget` (Tekton): would this call be allowed now?

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::PolicyStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    /// Whether an allocation of this estimate would be granted now (nothing is reserved).
    pub allowed: bool,
    /// The estimate's cost; null when the model has no known price.
    #[serde(with = "crate::money::option")]
    pub estimated_cost: Option<Decimal>,
    pub estimated_tokens: u64,
    /// Why it would be refused (one line per hard policy it would pass).
    pub reasons: Vec<String>,
    pub budgets: Vec<CheckedBudget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedBudget {
    pub budget_id: Uuid,
    pub budget: String,
    pub policies: Vec<CheckedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedPolicy {
    #[serde(flatten)]
    pub status: PolicyStatus,
    /// Whether the estimate fits in what remains (for any enforcement).
    pub fits: bool,
}
