//! Allocations: leases on part of one or more budgets.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::*;
use crate::error::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    Active,
    Released,
    Expired,
}

impl AllocationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AllocationStatus::Active => "active",
            AllocationStatus::Released => "released",
            AllocationStatus::Expired => "expired",
        }
    }
    pub const ALL: [AllocationStatus; 3] =
        [AllocationStatus::Active, AllocationStatus::Released, AllocationStatus::Expired];

    /// A status as read from storage: an unknown one is our fault.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| EngineError::Internal(format!("unknown allocation status '{text}' in storage")))
    }

    /// A status a caller asked for (a filter): an unknown one is the caller's mistake.
    pub fn parse_input(field: &str, text: &str) -> Result<Self, EngineError> {
        Self::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
            EngineError::invalid(field, format!("unknown status '{text}' (expected active, released or expired)"))
        })
    }
}

/// A lease on part of one or more budgets, taken before an LLM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub id: Uuid,
    pub component: String,
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub task_type: Option<String>,
    pub tier: String,
    pub priority: u8,
    /// Estimated cost held against the budgets; unpriced estimates hold nothing.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.021")]
    pub reserved_cost: Decimal,
    pub reserved_tokens: u64,
    pub priced: bool,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.0150")]
    pub used_cost: Decimal,
    pub used_tokens: u64,
    pub status: AllocationStatus,
    pub budgets: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

impl Allocation {
    pub fn call_scope(&self) -> CallScope {
        CallScope {
            component: self.component.clone(),
            context_id: self.context_id.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            task_type: self.task_type.clone(),
            tier: self.tier.clone(),
        }
    }
}
