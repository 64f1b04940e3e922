//! One error type for the engine. Each variant maps to one HTTP status at the front door,
//! so callers get a 4xx for what they got wrong and a 5xx only for our own faults.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request is malformed; `field` names what was wrong.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{what} '{id}' not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// A hard limit would be crossed.
    #[error(
        "budget '{}' policy {} ({}) would exceed its {} limit {}: {} remains, {} requested",
        .0.budget, .0.policy, .0.period, .0.limit_kind, .0.limit, .0.remaining, .0.requested
    )]
    BudgetExceeded(Box<Exceeded>),
    /// The model has no known price and a matching hard policy does not allow unpriced calls.
    /// On the wire it is a `budget_exceeded` denial (the contract for every denial) with
    /// `reason: "unpriced_model"`.
    #[error(
        "no price is known for {}/{}; budget '{}' policy {} ({}) has a hard cost limit and does not allow unpriced calls",
        .0.provider, .0.model, .0.budget, .0.policy, .0.period
    )]
    Unpriced(Box<UnpricedDenial>),
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("the engine is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A hard cost policy refusing a call it cannot price.
#[derive(Debug, Clone, PartialEq)]
pub struct UnpricedDenial {
    pub provider: String,
    pub model: String,
    pub budget: String,
    pub budget_id: Uuid,
    pub policy: Uuid,
    pub period: String,
    pub limit: Decimal,
    pub remaining: Decimal,
}

/// Which limit refused an allocation, and by how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub budget: String,
    pub budget_id: Uuid,
    pub policy: Uuid,
    pub period: String,
    /// "cost" or "tokens"
    pub limit_kind: &'static str,
    pub limit: Decimal,
    pub remaining: Decimal,
    pub requested: Decimal,
}

impl EngineError {
    pub fn invalid(field: &str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid { field: field.to_string(), message: message.into() }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> EngineError {
        EngineError::NotFound { what, id: id.to_string() }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            EngineError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Stable machine-readable code for the wire.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Invalid { .. } => "invalid_request",
            EngineError::NotFound { .. } => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::BudgetExceeded(_) => "budget_exceeded",
            EngineError::Unpriced(_) => "budget_exceeded",
            EngineError::Storage(_) => "storage_error",
            EngineError::Unavailable(_) => "unavailable",
            EngineError::Internal(_) => "internal_error",
        }
    }

    pub fn details(&self) -> Value {
        match self {
            EngineError::Invalid { field, .. } => json!({ "field": field }),
            EngineError::NotFound { what, id } => json!({ "resource": what, "id": id }),
            EngineError::BudgetExceeded(e) => json!({
                "reason": crate::domain::DenialReason::Limit,
                "budget": e.budget,
                "budget_id": e.budget_id,
                "policy": e.policy,
                "period": e.period,
                "limit_kind": e.limit_kind,
                "limit": e.limit.to_string(),
                "remaining": e.remaining.to_string(),
                "requested": e.requested.to_string(),
            }),
            EngineError::Unpriced(e) => json!({
                "reason": crate::domain::DenialReason::UnpricedModel,
                "budget": e.budget,
                "budget_id": e.budget_id,
                "policy": e.policy,
                "period": e.period,
                "limit_kind": "cost",
                "limit": e.limit.to_string(),
                "remaining": e.remaining.to_string(),
                "requested": Value::Null,
                "provider": e.provider,
                "model": e.model,
            }),
            _ => json!({}),
        }
    }
}
