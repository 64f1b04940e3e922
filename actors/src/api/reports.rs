//! Wire types of reports: `GET /api/v1/reports/usage` (grouped, bucketed measures),
//! `GET /api/v1/reports/usage/records` (every record, streamed) and
//! `GET /api/v1/reports/overview` (each budget's standing with a forecast).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::PolicyStatus;
use crate::domain::PolicyState;

/// The keys a report groups by (besides the time `bucket`).
pub const REPORT_KEYS: [&str; 7] = ["provider", "model", "component", "task_type", "context_id", "tier", "budget"];
/// Time buckets.
pub const BUCKETS: [&str; 4] = ["hour", "day", "week", "month"];
/// A report covers at most this many buckets (an hourly report of a year is 8,784).
pub const MAX_BUCKETS: usize = 20_000;

/// `GET /api/v1/reports/usage` and `GET /api/v1/reports/usage/records`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start (RFC 3339, inclusive); default 30 days before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); default now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Only usage counted against this budget (id or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Comma-separated keys: provider, model, component, task_type, context_id, tier, budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    /// A time bucket per row: hour, day, week (from Monday) or month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The IANA time zone buckets align to (default the daemon's `engine.timezone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Only the N rows of highest cost (1–1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<u32>,
    /// json (default), csv or md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// What a group of usage adds up to. Money is an exact decimal string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Measures {
    pub requests: u64,
    /// Records of models without a price (their cost is not in `cost`).
    pub unpriced_requests: u64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "12.345678")]
    pub cost: Decimal,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    /// `cost ÷ priced requests`, to 10 decimal places; null without priced requests.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub avg_cost_per_request: Option<Decimal>,
}

impl Measures {
    /// The sum of two sets of measures (the average is left to [`Measures::with_average`]).
    pub fn plus(mut self, other: &Measures) -> Measures {
        self.requests += other.requests;
        self.unpriced_requests += other.unpriced_requests;
        self.cost += other.cost;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cache_write_1h_tokens += other.cache_write_1h_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.total_tokens += other.total_tokens;
        self
    }

    /// Fills `avg_cost_per_request` from the sums.
    pub fn with_average(mut self) -> Measures {
        let priced = self.requests.saturating_sub(self.unpriced_requests);
        self.avg_cost_per_request = (priced > 0).then(|| (self.cost / Decimal::from(priced)).round_dp(10).normalize());
        self
    }
}

/// One group: its keys (those asked for, plus `bucket`: the bucket's start, RFC 3339 UTC) and
/// its measures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportRow {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub keys: BTreeMap<String, Option<String>>,
    #[serde(flatten)]
    pub measures: Measures,
}

/// The measure fields of a row, in the order of a report's CSV columns; every other field of
/// a row is a group key.
pub const MEASURE_FIELDS: [&str; 11] = [
    "requests",
    "unpriced_requests",
    "cost",
    "avg_cost_per_request",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "total_tokens",
];

// By hand: serde cannot tell a flattened map of keys from the flattened measures beside it.
impl<'de> Deserialize<'de> for ReportRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = serde_json::Map::deserialize(d)?;
        let mut keys = BTreeMap::new();
        let names: Vec<String> = fields.keys().filter(|k| !MEASURE_FIELDS.contains(&k.as_str())).cloned().collect();
        for name in names {
            if let Some(value) = fields.remove(&name) {
                keys.insert(name, value.as_str().map(str::to_string));
            }
        }
        let measures = serde_json::from_value(serde_json::Value::Object(fields)).map_err(serde::de::Error::custom)?;
        Ok(ReportRow { keys, measures })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub timezone: String,
    pub group_by: Vec<String>,
    pub bucket: Option<String>,
    /// Highest cost first (then by keys); with a bucket, in time order within that.
    pub rows: Vec<ReportRow>,
    /// Over every record in range and filter (not only the `top` rows; a record counted
    /// against two budgets counts once here).
    pub totals: Measures,
}

/// A policy's standing with a linear forecast to the end of its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyForecast {
    #[serde(flatten)]
    pub status: PolicyStatus,
    /// Null for windows without an end (total, per session) or in their first tenth.
    pub forecast: Option<Forecast>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Forecast {
    /// Settled spend at the current run-rate at the window's end.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub projected: Decimal,
    /// Whether `projected` reaches the cost limit.
    pub will_exceed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetOverview {
    pub budget_id: Uuid,
    pub budget: String,
    pub state: PolicyState,
    pub policies: Vec<PolicyForecast>,
}

/// `GET /api/v1/reports/overview`: what the dashboard's first page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    pub at: DateTime<Utc>,
    pub budgets: Vec<BudgetOverview>,
    pub unacknowledged_alerts: u64,
    /// Usage of the last 24 hours and of the last 30 days.
    pub last_24h: Measures,
    pub last_30d: Measures,
}
