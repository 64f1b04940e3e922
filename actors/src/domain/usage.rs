//! Usage records: what a call really used and cost.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::pricing::{CostBreakdown, Usage};

/// What an LLM call really used, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRecord {
    pub id: Uuid,
    pub allocation_id: Option<Uuid>,
    pub component: String,
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub task_type: Option<String>,
    pub tier: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    /// Exact cost; null when the model has no known price.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.0150")]
    pub cost: Option<Decimal>,
    pub priced: bool,
    #[schema(value_type = Option<Object>)]
    pub cost_breakdown: Option<CostBreakdown>,
    /// The price entry used (e.g. `claude-sonnet-4-5` or `manual:anthropic/foo@v3`).
    pub price_ref: Option<String>,
    pub request_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub budgets: Vec<Uuid>,
}

impl UsageRecord {
    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
        }
    }
}
