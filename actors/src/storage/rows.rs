//! What both databases share about rows: the column lists of the ledger tables (written by
//! single inserts and by SQLite's multi-row batches alike) and the mapping from a row to a
//! domain value, written once over [`ReadRow`]. Each backend implements `ReadRow` for its row
//! type, reading money and time the way it stores them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{PendingRow, PriceUpdateRow, PriceVersionRow, SourceStateRow, StorageResult};
use crate::domain::{
    Alert, AlertChannel, AlertDelivery, Allocation, AllocationStatus, ApiKeyInfo, Budget, ChannelKind, DeliveryStatus,
    Hold, Role, Severity, UsageRecord,
};
use crate::error::EngineError;

/// `allocations`, in the order the backends bind them.
pub(super) const ALLOCATION_COLUMNS: &str = "id, component, context_id, provider, model, task_type, tier, priority, \
     reserved_cost, reserved_tokens, priced, status, budgets, created_at, expires_at, released_at";
/// `holds`, in bind order.
pub(super) const HOLD_COLUMNS: &str = "allocation_id, policy_id, budget_id, window_key, cost, tokens, expires_at";
/// `usage_records`, in bind order (24 columns: the widest row of a batch).
pub(super) const USAGE_COLUMNS: &str = "id, allocation_id, component, context_id, provider, model, task_type, tier, \
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, \
     total_tokens, cost, priced, cost_breakdown, price_ref, request_id, timestamp, recorded_at, metadata, budgets";
/// `charges`, in bind order.
pub(super) const CHARGE_COLUMNS: &str = "record_id, policy_id, budget_id, window_key, cost, tokens";
/// `alerts`, in bind order.
pub(super) const ALERT_COLUMNS: &str = "id, severity, kind, budget_id, policy_id, message, details, created_at, acknowledged, acknowledged_at, dedup_key, \
     window_end";

/// `INSERT INTO <table> (<columns>) ` — the head that `QueryBuilder::push_values` completes.
pub(super) fn insert_head(table: &str, columns: &str) -> String {
    format!("INSERT INTO {table} ({columns}) ")
}

/// Reads one column of a row. Text, integers and flags read the same on both databases;
/// money and time are per backend (SQLite: decimal and RFC 3339 TEXT; PostgreSQL: NUMERIC and
/// TIMESTAMPTZ).
pub(super) trait ReadRow {
    fn text(&self, col: &str) -> StorageResult<String>;
    fn opt_text(&self, col: &str) -> StorageResult<Option<String>>;
    fn int(&self, col: &str) -> StorageResult<i64>;
    fn opt_int(&self, col: &str) -> StorageResult<Option<i64>>;
    fn flag(&self, col: &str) -> StorageResult<bool>;
    fn time(&self, col: &str) -> StorageResult<DateTime<Utc>>;
    fn opt_time(&self, col: &str) -> StorageResult<Option<DateTime<Utc>>>;
    fn money(&self, col: &str) -> StorageResult<Decimal>;
    fn opt_money(&self, col: &str) -> StorageResult<Option<Decimal>>;

    fn id(&self, col: &str) -> StorageResult<Uuid> {
        parse_id(&self.text(col)?)
    }

    fn opt_id(&self, col: &str) -> StorageResult<Option<Uuid>> {
        self.opt_text(col)?.as_deref().map(parse_id).transpose()
    }

    fn tokens(&self, col: &str) -> StorageResult<u64> {
        Ok(tokens_out(self.int(col)?))
    }
}

pub(super) fn parse_id(text: &str) -> StorageResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| EngineError::Internal(format!("bad id '{text}' in storage: {e}")))
}

fn parse_ids(json: &str) -> StorageResult<Vec<Uuid>> {
    serde_json::from_str(json).map_err(|e| EngineError::Internal(format!("bad id list in storage: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StorageResult<String> {
    serde_json::to_string(value).map_err(|e| EngineError::Internal(format!("serialize: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StorageResult<T> {
    serde_json::from_str(text).map_err(|e| EngineError::Internal(format!("bad {what} in storage: {e}")))
}

/// Token counts are u64 in the domain, BIGINT in the databases; beyond i64 they saturate.
pub(super) fn tokens_in(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn tokens_out(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// A budget without its policies (they are read from `policies` and attached by the caller).
pub(super) fn budget(row: &impl ReadRow) -> StorageResult<Budget> {
    Ok(Budget {
        id: row.id("id")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
        owner: row.opt_text("owner")?,
        scope: from_json(&row.text("scope")?, "scope")?,
        policies: Vec::new(),
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(super) fn allocation(row: &impl ReadRow) -> StorageResult<Allocation> {
    Ok(Allocation {
        id: row.id("id")?,
        component: row.text("component")?,
        context_id: row.opt_text("context_id")?,
        provider: row.text("provider")?,
        model: row.text("model")?,
        task_type: row.opt_text("task_type")?,
        tier: row.text("tier")?,
        priority: u8::try_from(row.int("priority")?).unwrap_or(5),
        reserved_cost: row.money("reserved_cost")?,
        reserved_tokens: row.tokens("reserved_tokens")?,
        priced: row.flag("priced")?,
        // Filled in from the allocation's usage records by the backend (`with_used`).
        used_cost: Decimal::ZERO,
        used_tokens: 0,
        status: AllocationStatus::parse(&row.text("status")?)?,
        budgets: parse_ids(&row.text("budgets")?)?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        released_at: row.opt_time("released_at")?,
    })
}

/// Adds one `usage_records` row (`cost`, `total_tokens`) to what its allocation used.
pub(super) fn add_used(a: &mut Allocation, row: &impl ReadRow) -> StorageResult<()> {
    if let Some(cost) = row.opt_money("cost")? {
        a.used_cost += cost;
    }
    a.used_tokens = a.used_tokens.saturating_add(row.tokens("total_tokens")?);
    Ok(())
}

pub(super) fn usage(row: &impl ReadRow) -> StorageResult<UsageRecord> {
    let breakdown = row.opt_text("cost_breakdown")?;
    Ok(UsageRecord {
        id: row.id("id")?,
        allocation_id: row.opt_id("allocation_id")?,
        component: row.text("component")?,
        context_id: row.opt_text("context_id")?,
        provider: row.text("provider")?,
        model: row.text("model")?,
        task_type: row.opt_text("task_type")?,
        tier: row.text("tier")?,
        input_tokens: row.tokens("input_tokens")?,
        output_tokens: row.tokens("output_tokens")?,
        cache_read_tokens: row.tokens("cache_read_tokens")?,
        cache_write_tokens: row.tokens("cache_write_tokens")?,
        cache_write_1h_tokens: row.tokens("cache_write_1h_tokens")?,
        reasoning_tokens: row.tokens("reasoning_tokens")?,
        total_tokens: row.tokens("total_tokens")?,
        cost: row.opt_money("cost")?,
        priced: row.flag("priced")?,
        cost_breakdown: breakdown.as_deref().map(|b| from_json(b, "cost breakdown")).transpose()?,
        price_ref: row.opt_text("price_ref")?,
        request_id: row.opt_text("request_id")?,
        timestamp: row.time("timestamp")?,
        recorded_at: row.time("recorded_at")?,
        metadata: from_json(&row.text("metadata")?, "metadata")?,
        budgets: parse_ids(&row.text("budgets")?)?,
    })
}

pub(super) fn hold(row: &impl ReadRow) -> StorageResult<Hold> {
    Ok(Hold {
        allocation_id: row.id("allocation_id")?,
        policy_id: row.id("policy_id")?,
        budget_id: row.id("budget_id")?,
        window_key: row.text("window_key")?,
        cost: row.money("cost")?,
        tokens: row.tokens("tokens")?,
        expires_at: row.time("expires_at")?,
    })
}

pub(super) fn alert(row: &impl ReadRow) -> StorageResult<Alert> {
    Ok(Alert {
        id: row.id("id")?,
        severity: Severity::parse(&row.text("severity")?),
        kind: alert_kind(&row.text("kind")?)?,
        budget_id: row.opt_id("budget_id")?,
        policy_id: row.opt_id("policy_id")?,
        message: row.text("message")?,
        details: from_json(&row.text("details")?, "alert details")?,
        created_at: row.time("created_at")?,
        acknowledged: row.flag("acknowledged")?,
        acknowledged_at: row.opt_time("acknowledged_at")?,
        dedup_key: row.opt_text("dedup_key")?,
        window_end: row.opt_time("window_end")?,
        resolved_at: row.opt_time("resolved_at")?,
    })
}

pub(super) fn channel(row: &impl ReadRow) -> StorageResult<AlertChannel> {
    let kind = row.text("kind")?;
    let secret = row.opt_text("secret")?;
    Ok(AlertChannel {
        id: row.id("id")?,
        name: row.text("name")?,
        kind: ChannelKind::parse(&kind)
            .ok_or_else(|| EngineError::Internal(format!("unknown channel kind '{kind}' in storage")))?,
        url: row.opt_text("url")?,
        has_secret: secret.is_some(),
        secret,
        min_severity: Severity::parse(&row.text("min_severity")?),
        kinds: from_json(&row.text("kinds")?, "channel kinds")?,
        budgets: from_json(&row.text("budgets")?, "channel budgets")?,
        quiet_hours: row.opt_text("quiet_hours")?.map(|q| from_json(&q, "quiet hours")).transpose()?,
        enabled: row.flag("enabled")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// A channel's list and object columns as stored: kinds, budgets, quiet hours (JSON text).
pub(super) fn channel_json(c: &AlertChannel) -> StorageResult<(String, String, Option<String>)> {
    Ok((to_json(&c.kinds)?, to_json(&c.budgets)?, c.quiet_hours.as_ref().map(to_json).transpose()?))
}

pub(super) fn delivery(row: &impl ReadRow) -> StorageResult<AlertDelivery> {
    let status = row.text("status")?;
    Ok(AlertDelivery {
        id: row.id("id")?,
        alert_id: row.id("alert_id")?,
        channel_id: row.id("channel_id")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| EngineError::Internal(format!("unknown delivery status '{status}' in storage")))?,
        attempts: u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: row.opt_time("next_attempt_at")?,
        last_status_code: row.opt_int("last_status_code")?.and_then(|c| u16::try_from(c).ok()),
        last_error: row.opt_text("last_error")?,
        delivered_at: row.opt_time("delivered_at")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// A row of the report query (`report_sql::usage_report`) with `keys` group keys.
pub(super) fn aggregate(row: &impl ReadRow, keys: usize, bucketed: bool) -> StorageResult<super::AggregateRow> {
    let count = |col: &str| -> StorageResult<u64> { Ok(row.opt_int(col)?.map(tokens_out).unwrap_or(0)) };
    Ok(super::AggregateRow {
        bucket: if bucketed { row.opt_time("bucket")? } else { None },
        keys: (0..keys).map(|i| row.opt_text(&format!("k{i}"))).collect::<StorageResult<_>>()?,
        measures: crate::api::Measures {
            requests: count("requests")?,
            unpriced_requests: count("unpriced_requests")?,
            cost: row.opt_money("cost")?.unwrap_or_default(),
            input_tokens: count("input_tokens")?,
            output_tokens: count("output_tokens")?,
            cache_read_tokens: count("cache_read_tokens")?,
            cache_write_tokens: count("cache_write_tokens")?,
            cache_write_1h_tokens: count("cache_write_1h_tokens")?,
            reasoning_tokens: count("reasoning_tokens")?,
            total_tokens: count("total_tokens")?,
            avg_cost_per_request: None,
        }
        .with_average(),
    })
}

pub(super) fn price_version(row: &impl ReadRow) -> StorageResult<PriceVersionRow> {
    Ok(PriceVersionRow {
        id: row.id("id")?,
        provider: row.text("provider")?,
        model: row.text("model")?,
        source: row.text("source")?,
        body: row.text("body")?,
        effective_from: row.time("effective_from")?,
        effective_to: row.opt_time("effective_to")?,
        created_at: row.time("created_at")?,
    })
}

pub(super) fn price_update(row: &impl ReadRow) -> StorageResult<PriceUpdateRow> {
    Ok(PriceUpdateRow {
        id: row.id("id")?,
        provider: row.text("provider")?,
        model: row.text("model")?,
        version_id: row.id("version_id")?,
        source: row.text("source")?,
        kind: row.text("kind")?,
        status: row.text("status")?,
        changes: row.text("changes")?,
        created_at: row.time("created_at")?,
    })
}

pub(super) fn pending(row: &impl ReadRow) -> StorageResult<PendingRow> {
    Ok(PendingRow {
        id: row.id("id")?,
        provider: row.text("provider")?,
        model: row.text("model")?,
        reason: row.text("reason")?,
        status: row.text("status")?,
        verification: row.text("verification")?,
        proposed: row.text("proposed")?,
        changes: row.text("changes")?,
        candidates: row.text("candidates")?,
        source: row.text("source")?,
        created_at: row.time("created_at")?,
        decided_at: row.opt_time("decided_at")?,
        note: row.opt_text("note")?,
    })
}

pub(super) fn source_state(row: &impl ReadRow) -> StorageResult<SourceStateRow> {
    Ok(SourceStateRow {
        name: row.text("name")?,
        last_attempt: row.opt_time("last_attempt")?,
        last_success: row.opt_time("last_success")?,
        last_error: row.opt_text("last_error")?,
        last_error_at: row.opt_time("last_error_at")?,
        model_count: row.tokens("model_count")?,
        agreements: row.tokens("agreements")?,
        disagreements: row.tokens("disagreements")?,
        etag: row.opt_text("etag")?,
        last_modified: row.opt_text("last_modified")?,
    })
}

pub(super) fn key(row: &impl ReadRow) -> StorageResult<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: row.id("id")?,
        name: row.text("name")?,
        role: Role::parse(&row.text("role")?)?,
        prefix: row.text("prefix")?,
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

fn alert_kind(text: &str) -> StorageResult<crate::domain::AlertKind> {
    crate::domain::AlertKind::parse(text)
        .ok_or_else(|| EngineError::Internal(format!("unknown alert kind '{text}' in storage")))
}
