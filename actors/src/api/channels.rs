//! Wire types of alert channels and the delivery log (`/api/v1/alert-channels`,
//! `/api/v1/alert-deliveries`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{AlertChannel, QuietHours};

/// `POST /api/v1/alert-channels`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Unique; 1–128 characters.
    #[schema(example = "ops-webhook")]
    pub name: String,
    /// `webhook`, `slack` or `log`.
    #[schema(example = "webhook")]
    pub kind: String,
    /// `http(s)://…` for webhook and slack; absent for log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://hooks.example.com/budget")]
    pub url: Option<String>,
    /// Webhook signing secret (16–256 printable ASCII characters). Absent: one is generated
    /// and returned once in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The least severity sent: info, warning, error (or critical). Default info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<String>,
    /// Only these alert kinds (default: every kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// Only alerts of these budgets, by id or name (default: every alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::strict::object")]
    pub quiet_hours: Option<QuietHours>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/alert-channels/{id}`: fields given are changed. `quiet_hours: null` removes
/// the quiet hours; a `secret` replaces the secret (it is not returned).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<String>>,
    /// An object sets quiet hours, `null` removes them, absent keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "nullable_quiet_hours")]
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<Option<QuietHours>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

fn nullable_quiet_hours<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<QuietHours>>, D::Error> {
    super::strict::object(d).map(Some)
}

/// A channel as created: with its secret, this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedChannel {
    #[serde(flatten)]
    pub channel: AlertChannel,
    /// The webhook's signing secret; never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /api/v1/alert-channels`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<AlertChannel>,
}

/// `POST /api/v1/alert-channels/{id}/test`: what a test message got.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelTest {
    pub channel_id: Uuid,
    /// `delivered` or `failed`.
    pub status: String,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// `GET /api/v1/alert-deliveries`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this alert's deliveries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Uuid>,
    /// Only this channel's (id or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// pending, delivered or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// 1–1000, default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `GET /api/v1/alert-deliveries`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<crate::domain::AlertDelivery>,
}
