//! Usage records: what a call really used and cost.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::EngineError;
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

/// The largest token count a call may report; anything above is a client bug.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;

pub fn check_tokens(field: &str, value: u64) -> Result<(), EngineError> {
    if value > MAX_TOKENS {
        return Err(EngineError::invalid(field, format!("{field} is implausibly large ({value})")));
    }
    Ok(())
}

/// Builds a disjoint `Usage` from the Anthropic-style fields or an OpenAI-style object.
pub fn usage_from_fields(
    openai: Option<crate::api::OpenAiUsage>,
    fields: [(&str, Option<u64>); 6],
    require_counts: bool,
) -> Result<Usage, EngineError> {
    let given = fields.iter().any(|(_, v)| v.is_some());
    for (name, value) in &fields {
        check_tokens(name, value.unwrap_or(0))?;
    }
    let usage = match openai {
        Some(_) if given => {
            return Err(EngineError::invalid("usage", "give either the token fields or a usage object, not both"));
        }
        Some(o) => {
            check_tokens("usage.prompt_tokens", o.prompt_tokens)?;
            check_tokens("usage.completion_tokens", o.completion_tokens)?;
            let cached = o.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0);
            let created = o
                .cache_creation_input_tokens
                .or_else(|| o.prompt_tokens_details.as_ref().and_then(|d| d.cache_creation_tokens))
                .unwrap_or(0);
            let reasoning = o.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0);
            check_tokens("usage.prompt_tokens_details.cached_tokens", cached)?;
            check_tokens("usage.cache_creation_input_tokens", created)?;
            check_tokens("usage.completion_tokens_details.reasoning_tokens", reasoning)?;
            if cached.saturating_add(created) > o.prompt_tokens {
                return Err(EngineError::invalid(
                    "usage.prompt_tokens_details.cached_tokens",
                    "cached and cache-creation tokens are part of prompt_tokens and cannot exceed it",
                ));
            }
            if reasoning > o.completion_tokens {
                return Err(EngineError::invalid(
                    "usage.completion_tokens_details.reasoning_tokens",
                    "reasoning_tokens cannot exceed completion_tokens",
                ));
            }
            Usage::from_openai(o.prompt_tokens, o.completion_tokens, cached, created, reasoning)
        }
        None => {
            let get = |i: usize| fields[i].1.unwrap_or(0);
            // Both counts are required: a forgotten output count would bill a call as if it
            // had produced nothing. (An embedding says output_tokens: 0.)
            if require_counts && let Some((field, _)) = fields[..2].iter().find(|(_, v)| v.is_none()) {
                return Err(EngineError::invalid(
                    field,
                    "input_tokens and output_tokens are required (or an OpenAI-style usage object)",
                ));
            }
            let usage = Usage {
                input_tokens: get(0),
                output_tokens: get(1),
                cache_read_tokens: get(2),
                cache_write_tokens: get(3),
                cache_write_1h_tokens: get(4),
                reasoning_tokens: get(5),
            };
            if usage.reasoning_tokens > usage.output_tokens {
                return Err(EngineError::invalid(
                    "reasoning_tokens",
                    "reasoning_tokens is part of output_tokens and cannot exceed it",
                ));
            }
            usage
        }
    };
    Ok(usage)
}
