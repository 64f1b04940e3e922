//! `POST /api/v1/usage/import`: usage that happened elsewhere (Rhetor's and Apollo's own
//! records), stored with the cost its source recorded instead of a price the daemon looks up.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The most records one import request may carry (a migration sends batches).
pub const IMPORT_BATCH_MAX: usize = 1000;

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportUsageRequest {
    /// Where the records come from (`rhetor`, `apollo`, ...): they are stored with
    /// `price_ref = "imported:<source>"`.
    pub source: String,
    #[serde(deserialize_with = "super::strict::objects")]
    pub records: Vec<ImportedUsage>,
    /// Check every record and say what would happen, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One usage record as its source stored it. Its values are checked record by record, with
/// the rules of `POST /api/v1/usage/record`: one that breaks them is answered `invalid` in
/// its result (naming `records[i].<field>`), and the other records are still imported.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedUsage {
    /// Idempotency key, required: a record whose key is already stored is not imported again.
    pub request_id: String,
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
    pub output_tokens: Option<u64>,
    /// Only for a source that kept a total without its input/output split (Apollo's
    /// `usage_type: total`); it must not be below input + output.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// The cost the source recorded, kept as the record's cost; null when the source kept
    /// none (the record is then unpriced).
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.08589")]
    pub cost: Option<Decimal>,
    /// When the call happened.
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What happened to one imported record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Stored now.
    Created,
    /// Its request_id was already stored (an earlier import): nothing was written.
    AlreadyImported,
    /// Refused; `error` says which field and why. Nothing was written for it.
    Invalid,
    /// Dry run: it would be stored.
    WouldCreate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    pub request_id: String,
    pub status: ImportStatus,
    /// The stored record (created or already imported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_id: Option<Uuid>,
    /// The stored record's cost.
    #[serde(default, with = "crate::money::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cost: Option<Decimal>,
    /// How the stored record was costed: `imported:<source>` when an import stored it, else
    /// the price the daemon charged it at (a live record under the same request id; absent
    /// when the daemon had no price for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "imported:rhetor")]
    pub price_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ImportResult {
    /// The answer for a record that is stored (now or by an earlier import).
    pub fn stored(request_id: String, status: ImportStatus, record: &crate::domain::UsageRecord) -> ImportResult {
        ImportResult {
            request_id,
            status,
            usage_id: Some(record.id),
            cost: record.cost,
            price_ref: record.price_ref.clone(),
            field: None,
            error: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportUsageResponse {
    pub dry_run: bool,
    pub created: u64,
    pub already_imported: u64,
    pub invalid: u64,
    pub would_create: u64,
    /// The exact sum of the costs stored by this request (created records only).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "2.85991425")]
    pub created_cost: Decimal,
    /// One entry per record, in the order sent.
    pub results: Vec<ImportResult>,
}
