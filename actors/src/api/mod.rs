//! Wire types shared by every front door (REST, CLI client, MCP): requests the engine takes
//! and replies it gives. Money is a decimal string; token counts are integers.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Allocation, Budget, PolicySpec, PolicyState, ScopeFilter, UsageRecord};
use crate::prices::PriceVersion;
use crate::pricing::{CostBreakdown, ServiceTier};

mod channels;
mod check;
mod import;
mod query;
mod reports;
pub mod strict;
pub use channels::*;
pub use check::*;
pub use import::*;
pub use query::*;
pub use reports::*;

/// `GET /api/v1/prices/{provider}/{model}/history`: every stored version of a model's price
/// and the update records that made them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceHistory {
    pub provider: String,
    pub model: String,
    pub versions: Vec<PriceVersion>,
    pub updates: Vec<crate::monitor::PriceUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBudget {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Calls outside this scope never count against the budget.
    #[serde(default, deserialize_with = "strict::object")]
    pub scope: Option<ScopeFilter>,
    /// Shorthand for `scope.component`.
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default, deserialize_with = "strict::objects")]
    pub policies: Vec<PolicySpec>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBudget {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "strict::object")]
    pub scope: Option<ScopeFilter>,
}

/// Partial update of a policy: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cost_limit: Option<Decimal>,
    #[serde(default)]
    pub token_limit: Option<u64>,
    #[serde(default)]
    pub enforcement: Option<String>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub warning_threshold: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub action_threshold: Option<Decimal>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub allow_unpriced: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Filters: a value sets the filter, `""` removes it.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub context_id: Option<String>,
    /// Fields to remove: `cost_limit`, `token_limit` (a policy keeps at least one), or any
    /// filter, `cron`, `timezone`.
    #[serde(default)]
    pub clear: Vec<String>,
}

/// `POST /allocations/{id}/extend`: a new lease for an active allocation.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendAllocation {
    /// The lease from now on, in seconds: 1 to the daemon's `max_ttl_seconds` (86,400 by
    /// default). It replaces the old lease, whether longer or shorter.
    #[schema(minimum = 1, example = 600)]
    pub ttl_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub component: String,
    #[serde(default)]
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// A dollar amount to reserve instead of an estimate from tokens.
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.05")]
    pub amount: Option<Decimal>,
    /// Lease length; default 300 s, at most 86,400 s.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// 1–10; 10 bypasses hard limits (Apollo's rule). Default 5.
    #[serde(default)]
    pub priority: Option<u8>,
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
}

/// What one budget reserved for an allocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetReservation {
    pub budget_id: Uuid,
    pub budget: String,
    pub policies: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AllocationGrant {
    pub id: Uuid,
    /// Always `granted` (a denial is an HTTP 402 error).
    pub status: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.0156")]
    pub reserved_cost: Decimal,
    pub reserved_tokens: u64,
    /// False when the model has no known price (nothing could be reserved in dollars).
    pub priced: bool,
    pub expires_at: DateTime<Utc>,
    pub budgets: Vec<BudgetReservation>,
    pub allocation: Allocation,
}

/// OpenAI-style usage, converted at the door: uncached input = prompt − cached − cache writes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct OpenAiUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    #[serde(default, deserialize_with = "strict::object")]
    pub prompt_tokens_details: Option<OpenAiPromptDetails>,
    #[serde(default, deserialize_with = "strict::object")]
    pub completion_tokens_details: Option<OpenAiCompletionDetails>,
    /// Anthropic-through-OpenAI shape: cache writes counted inside `prompt_tokens`.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub total_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct OpenAiPromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct OpenAiCompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    #[serde(default)]
    pub allocation_id: Option<Uuid>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub context_id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_1h_tokens: Option<u64>,
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
    /// Alternative to the token fields above.
    #[serde(default, deserialize_with = "strict::object")]
    pub usage: Option<OpenAiUsage>,
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
    /// Idempotency key: a repeated record with the same id returns the first one.
    #[serde(default)]
    pub request_id: Option<String>,
    /// When the call happened (default: now). Priced with the price in force then.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How one policy stands after a record or at a status query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyStatus {
    pub policy_id: Uuid,
    pub period: String,
    pub enforcement: String,
    pub window_key: String,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
    /// Cost limit (null when the policy only limits tokens).
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "5.00")]
    pub limit: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub settled: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub reserved: Decimal,
    /// `limit − settled − reserved`, never below zero; null without a cost limit.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub remaining: Option<Decimal>,
    pub token_limit: Option<u64>,
    pub tokens_settled: u64,
    pub tokens_reserved: u64,
    pub tokens_remaining: Option<u64>,
    /// `ok`, `warning` (settled ≥ warning_threshold × limit) or `exceeded` (settled ≥ limit).
    pub state: PolicyState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetStatus {
    pub budget_id: Uuid,
    pub budget: String,
    /// The worst state of its policies.
    pub state: PolicyState,
    pub policies: Vec<PolicyStatus>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetEffect {
    pub budget_id: Uuid,
    pub budget: String,
    pub policies: Vec<PolicyStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    pub id: Uuid,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.01500")]
    pub cost: Option<Decimal>,
    pub priced: bool,
    #[schema(value_type = Option<Object>)]
    pub cost_breakdown: Option<CostBreakdown>,
    /// False when this answers a repeated `request_id` with the first record.
    pub created: bool,
    pub budgets: Vec<BudgetEffect>,
    pub record: UsageRecord,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_1h_tokens: Option<u64>,
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, deserialize_with = "strict::object")]
    pub usage: Option<OpenAiUsage>,
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EstimateResponse {
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.0156")]
    pub cost: Option<Decimal>,
    pub priced: bool,
    #[schema(value_type = Option<Object>)]
    pub cost_breakdown: Option<CostBreakdown>,
    pub price_ref: Option<String>,
}

/// A manual price (per-token or per-million rates; exactly one form for each rate).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPrice {
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.000003")]
    pub input_cost_per_token: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.000015")]
    pub output_cost_per_token: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "3.00")]
    pub input_cost_per_million: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "15.00")]
    pub output_cost_per_million: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cache_read_input_token_cost: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cache_creation_input_token_cost: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.30")]
    pub cache_read_input_cost_per_million: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "3.75")]
    pub cache_creation_input_cost_per_million: Option<Decimal>,
    /// Default: now. Usage before it keeps its old price.
    #[serde(default)]
    pub effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SummaryRow {
    /// Group values, keyed by the `group_by` names.
    #[schema(value_type = Object)]
    pub group: serde_json::Map<String, serde_json::Value>,
    pub records: u64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub cost: Decimal,
    pub unpriced_records: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageSummary {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub group_by: Vec<String>,
    pub rows: Vec<SummaryRow>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub total_cost: Decimal,
    pub total_records: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsagePage {
    pub records: Vec<UsageRecord>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    /// The secret; shown only here.
    pub key: String,
    pub info: crate::domain::ApiKeyInfo,
}

pub type BudgetView = Budget;
