//! Alerts: something a person or a component should know about.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    /// Ordered info < warning < error.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
        }
    }

    /// A severity a caller asked for (a filter, a subscription). `critical` is another name
    /// for `error`, the severity served since the first release.
    pub fn parse_input(field: &str, text: &str) -> Result<Severity, crate::error::EngineError> {
        match text {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "error" | "critical" => Ok(Severity::Error),
            other => Err(crate::error::EngineError::invalid(
                field,
                format!("unknown severity '{other}' (expected info, warning, error or critical)"),
            )),
        }
    }

    pub fn parse(text: &str) -> Severity {
        match text {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// What an alert is about. Serialized as the snake_case strings stored and served since the
/// first release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Settled spend crossed a policy's warning threshold.
    BudgetWarning,
    /// Settled spend crossed a policy's action threshold.
    BudgetActionThreshold,
    /// Settled spend reached a policy's limit.
    BudgetExceeded,
    /// Usage of a model with no known price (recorded with cost null).
    UnpricedModel,
    /// A price source's fetch failed.
    PriceSourceFailed,
    /// A new price was put in force by the monitor.
    PriceChanged,
    /// A price change is held for approval.
    PricePending,
    /// Sources disagree; the change is held for approval.
    PriceConflict,
    /// At the current window's run-rate, settled spend reaches the limit before the window
    /// ends (once per policy window).
    BudgetProjectedToExceed,
    /// A hard limit refused an allocation (once per policy window).
    AllocationDenied,
    /// Allocations' leases ran out without a release (once a day).
    AllocationExpired,
}

impl AlertKind {
    pub const ALL: [AlertKind; 11] = [
        AlertKind::BudgetWarning,
        AlertKind::BudgetActionThreshold,
        AlertKind::BudgetExceeded,
        AlertKind::UnpricedModel,
        AlertKind::PriceSourceFailed,
        AlertKind::PriceChanged,
        AlertKind::PricePending,
        AlertKind::PriceConflict,
        AlertKind::BudgetProjectedToExceed,
        AlertKind::AllocationDenied,
        AlertKind::AllocationExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::BudgetWarning => "budget_warning",
            AlertKind::BudgetActionThreshold => "budget_action_threshold",
            AlertKind::BudgetExceeded => "budget_exceeded",
            AlertKind::UnpricedModel => "unpriced_model",
            AlertKind::PriceSourceFailed => "price_source_failed",
            AlertKind::PriceChanged => "price_changed",
            AlertKind::PricePending => "price_pending",
            AlertKind::PriceConflict => "price_conflict",
            AlertKind::BudgetProjectedToExceed => "budget_projected_to_exceed",
            AlertKind::AllocationDenied => "allocation_denied",
            AlertKind::AllocationExpired => "allocation_expired",
        }
    }

    /// The kind stored as `text`, if it is one.
    pub fn parse(text: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AlertKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Something a person or a component should know about (threshold crossed, unpriced model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub severity: Severity,
    pub kind: AlertKind,
    pub budget_id: Option<Uuid>,
    pub policy_id: Option<Uuid>,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub acknowledged: bool,
    /// When it was acknowledged (`POST /alerts/{id}/acknowledge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Alerts with one key are stored once: a threshold crossing is keyed by kind, policy and
    /// window (however many daemons see it), an unpriced model by model and day. `None`:
    /// never merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// The end of the policy window the alert is about (threshold, projection and denial
    /// alerts of windowed policies). When the next window starts the alert is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<DateTime<Utc>>,
    /// When it was resolved: its window ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// The key of a policy's threshold crossing in one window.
    pub fn crossing_key(kind: AlertKind, policy_id: Uuid, window_key: &str) -> String {
        format!("{kind}:{policy_id}:{window_key}")
    }
}
