//! The ledger of a policy window: what allocations hold, what usage charged, and the sums.
//! The BudgetActor keeps these in memory; storage keeps the same rows.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// What an active allocation holds against one policy window.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub allocation_id: Uuid,
    pub policy_id: Uuid,
    pub budget_id: Uuid,
    pub window_key: String,
    pub cost: Decimal,
    pub tokens: u64,
    pub expires_at: DateTime<Utc>,
}

/// What a usage record charged to one policy window.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub record_id: Uuid,
    pub policy_id: Uuid,
    pub budget_id: Uuid,
    pub window_key: String,
    pub cost: Decimal,
    pub tokens: u64,
}

/// A hard limit the database re-checks at commit time (PostgreSQL, several daemons).
#[derive(Debug, Clone, PartialEq)]
pub struct HardCheck {
    pub budget_id: Uuid,
    pub budget_name: String,
    pub policy_id: Uuid,
    pub period: String,
    pub window_key: String,
    pub cost_limit: Option<Decimal>,
    pub token_limit: Option<u64>,
    pub cost: Decimal,
    pub tokens: u64,
}

/// Settled and reserved amounts of one policy window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub settled_cost: Decimal,
    pub settled_tokens: u64,
    pub reserved_cost: Decimal,
    pub reserved_tokens: u64,
}

/// Shrinks an allocation's stored hold on one policy by what a usage cost (never below zero).
/// A shrink, not a new absolute value: shrinks commute, so two usages of one allocation whose
/// writes land in either order (or on two daemons sharing a database) leave the same hold.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldShrink {
    pub allocation_id: Uuid,
    pub policy_id: Uuid,
    pub cost: Decimal,
    pub tokens: u64,
}
