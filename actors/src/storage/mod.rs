//! Storage: narrow traits by concern (catalogue, ledger, usage, prices, keys) combined in
//! [`Repository`], one implementation per database, chosen from the URL.
//!
//! SQLite (embedded default) writes through a single writer task that groups whatever is
//! queued into one transaction (group commit), so an acknowledged write is durable without
//! paying one fsync per request. PostgreSQL serves several daemons sharing one database: each
//! allocation re-checks its hard limits inside a transaction holding per-budget advisory
//! locks, so a limit holds across processes.
//!
//! Both databases share one schema shape: the column lists, the queries whose text is the same
//! on both (`$N` placeholders work in both) and the row-to-domain mapping live in `rows` and
//! `queries`; each backend module binds and reads its own money and time types.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

use crate::domain::{
    Alert, AlertChannel, AlertDelivery, Allocation, AllocationStatus, ApiKeyInfo, AttemptOutcome, Budget, Charge,
    HardCheck, Hold, HoldShrink, Policy, Totals, UsageRecord,
};
use crate::error::EngineError;

mod postgres;
mod queries;
mod report_sql;
mod rows;
mod sqlite;

pub use postgres::PostgresRepository;
pub use sqlite::SqliteRepository;

pub type StorageResult<T> = Result<T, EngineError>;

// Here, not in `error.rs`: errors name no storage type.
impl From<sqlx::Error> for EngineError {
    fn from(err: sqlx::Error) -> Self {
        // A row referring to a budget or policy deleted meanwhile (by a request running at the
        // same time, or by another daemon): what the caller named is gone, not a storage fault.
        if let sqlx::Error::Database(db) = &err
            && db.is_foreign_key_violation()
        {
            return EngineError::NotFound { what: "budget or policy", id: "(deleted while this request ran)".into() };
        }
        EngineError::Storage(err.to_string())
    }
}

/// A second channel of one name is the caller's conflict, not a storage fault.
pub(super) fn name_taken(e: sqlx::Error) -> EngineError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            EngineError::Conflict("an alert channel of that name exists".into())
        }
        _ => e.into(),
    }
}

/// One durable change; each is applied atomically.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Allocate {
        allocation: Allocation,
        holds: Vec<Hold>,
        checks: Vec<HardCheck>,
    },
    /// A usage record with what it charged, the holds it shrinks, and the alerts it raised
    /// (stored in the same transaction, so an alert never outlives a record that failed).
    Record {
        record: Box<UsageRecord>,
        charges: Vec<Charge>,
        hold_shrinks: Vec<HoldShrink>,
        alerts: Vec<Alert>,
    },
    /// Ends an allocation: released, or expired (only if its lease has run out by `at`).
    Close {
        allocation_id: Uuid,
        status: AllocationStatus,
        at: DateTime<Utc>,
    },
    /// A new lease end for an allocation still active and unexpired at `at`; otherwise
    /// nothing changes (the caller reads the allocation back to know which).
    Extend {
        allocation_id: Uuid,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// An alert on its own (not raised by a usage record).
    Alert(Alert),
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Done,
    /// A usage record with the same `request_id` already exists.
    DuplicateRequest,
}

#[derive(Debug, Clone, Default)]
pub struct AllocationFilter {
    pub context_id: Option<String>,
    pub status: Option<AllocationStatus>,
    pub limit: u32,
}

/// Which alerts to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub kind: Option<crate::domain::AlertKind>,
    pub severity: Option<crate::domain::Severity>,
    pub budget_id: Option<Uuid>,
    pub acknowledged: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub component: Option<String>,
    pub context_id: Option<String>,
    pub task_type: Option<String>,
    pub allocation_id: Option<Uuid>,
    /// Records with an id after this one (ids are time-ordered UUIDv7).
    pub after: Option<Uuid>,
    pub limit: u32,
}

/// A stored price version (manual override or, later, a verified source update).
#[derive(Debug, Clone, PartialEq)]
pub struct PriceVersionRow {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub source: String,
    pub body: String,
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A price source's health, persisted so that a restart keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStateRow {
    pub name: String,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub model_count: u64,
    pub agreements: u64,
    pub disagreements: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// An applied price change.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceUpdateRow {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub version_id: Uuid,
    pub source: String,
    pub kind: String,
    pub status: String,
    /// JSON `[{field, old, new, percent}]`.
    pub changes: String,
    pub created_at: DateTime<Utc>,
}

/// What applying a price does to the model's held changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PendingEffect {
    /// This approves that pending change (and fails if it is no longer pending).
    Approve(Uuid),
    /// A price applied by itself makes older proposals stale.
    Supersede,
    /// A backfilled past period says nothing about proposals for the present.
    Keep,
}

/// A change held for approval.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRow {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub reason: String,
    pub status: String,
    pub verification: String,
    /// JSON `ModelPrice`.
    pub proposed: String,
    pub changes: String,
    pub candidates: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// Budgets and their policies, and the counter that tells other daemons they changed.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// A counter bumped by every budget, policy or price change.
    async fn catalog_version(&self) -> StorageResult<i64>;
    async fn insert_budget(&self, budget: &Budget) -> StorageResult<()>;
    async fn update_budget(&self, budget: &Budget) -> StorageResult<()>;
    async fn delete_budget(&self, id: Uuid) -> StorageResult<()>;
    async fn list_budgets(&self) -> StorageResult<Vec<Budget>>;
    async fn upsert_policy(&self, policy: &Policy) -> StorageResult<()>;
    async fn delete_policy(&self, id: Uuid) -> StorageResult<()>;
}

/// The ledger: allocations, their holds and the charges of usage, written as [`WriteOp`]s.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Applies one change durably; returns once it is committed.
    async fn write(&self, op: WriteOp) -> StorageResult<WriteOutcome>;
    async fn window_totals(&self, policy_id: Uuid, window_key: &str, now: DateTime<Utc>) -> StorageResult<Totals>;
    async fn active_holds(&self, budget_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>>;
    /// The unexpired holds of one allocation.
    async fn allocation_holds(&self, allocation_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>>;
    /// Allocations still marked active whose lease ran out (left over from a previous run).
    async fn expired_active_allocations(&self, now: DateTime<Utc>) -> StorageResult<Vec<Uuid>>;
    async fn get_allocation(&self, id: Uuid) -> StorageResult<Option<Allocation>>;
    async fn list_allocations(&self, filter: &AllocationFilter) -> StorageResult<Vec<Allocation>>;
}

/// What was used (usage records) and what was said about it (alerts).
#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn get_usage(&self, id: Uuid) -> StorageResult<Option<UsageRecord>>;
    async fn usage_by_request_id(&self, request_id: &str) -> StorageResult<Option<UsageRecord>>;
    async fn list_usage(&self, filter: &UsageFilter) -> StorageResult<Vec<UsageRecord>>;
    async fn list_alerts(&self, filter: &AlertFilter) -> StorageResult<Vec<Alert>>;
    /// Marks an alert acknowledged; a second acknowledgement keeps the first time. `None`
    /// when there is no such alert.
    async fn acknowledge_alert(&self, id: Uuid, at: DateTime<Utc>) -> StorageResult<Option<Alert>>;
}

/// Where alerts go: channels, and the delivery log that the AlertActor works through. The
/// alerts table is the outbox: an alert is stored with whatever raised it and fanned out here.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// A name in use is a conflict.
    async fn insert_channel(&self, channel: &AlertChannel) -> StorageResult<()>;
    /// False when there is no such channel.
    async fn update_channel(&self, channel: &AlertChannel) -> StorageResult<bool>;
    /// False when there is no such channel. Its deliveries go with it.
    async fn delete_channel(&self, id: Uuid) -> StorageResult<bool>;
    async fn list_channels(&self) -> StorageResult<Vec<AlertChannel>>;
    async fn get_alert(&self, id: Uuid) -> StorageResult<Option<Alert>>;
    /// Alerts not fanned out to channels yet, oldest first.
    async fn undispatched_alerts(&self, limit: u32) -> StorageResult<Vec<Alert>>;
    /// In one transaction: a pending delivery per (alert, channel) pair, due at
    /// `created_at` (a pair stored already, by another daemon, is kept), and the alerts
    /// marked dispatched.
    async fn dispatch_alerts(
        &self,
        alert_ids: &[Uuid],
        deliveries: &[(Uuid, Uuid, Uuid)],
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Up to `limit` due pending deliveries, claimed until `until` so that no other pass or
    /// daemon sends them meanwhile.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StorageResult<Vec<AlertDelivery>>;
    /// Records an attempt's outcome (and releases the claim).
    async fn finish_delivery(&self, id: Uuid, outcome: &AttemptOutcome, at: DateTime<Utc>) -> StorageResult<()>;
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StorageResult<Vec<AlertDelivery>>;
    /// Resolves the alerts whose window ended by `now`; returns how many.
    async fn resolve_alerts(&self, now: DateTime<Utc>) -> StorageResult<u64>;
}

/// A key a usage report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKey {
    Provider,
    Model,
    Component,
    TaskType,
    ContextId,
    Tier,
    /// Each budget the record counted against (a record of two budgets is in both groups).
    Budget,
    /// The record's UTC date, `YYYY-MM-DD` (`usage/summary`'s `day`).
    UtcDay,
}

/// What a usage report sums: records in `[from, to)` matching the filters, grouped by the
/// keys and, when given, by the buckets (`[start, end)` pairs, in order).
#[derive(Debug, Clone, Default)]
pub struct ReportSpec {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub component: Option<String>,
    pub task_type: Option<String>,
    pub context_id: Option<String>,
    pub tier: Option<String>,
    pub budget_id: Option<Uuid>,
    pub group_by: Vec<ReportKey>,
    pub buckets: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
}

/// One group's sums, as the database computed them.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    /// The bucket's start, when bucketed.
    pub bucket: Option<DateTime<Utc>>,
    /// The group keys, in `group_by` order (NULL where the record has none).
    pub keys: Vec<Option<String>>,
    pub measures: crate::api::Measures,
}

/// Usage summed in the database, for reports.
#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn aggregate_usage(&self, spec: &ReportSpec) -> StorageResult<Vec<AggregateRow>>;
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub alert_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub status: Option<crate::domain::DeliveryStatus>,
    pub limit: u32,
}

/// The columns [`AlertStore::finish_delivery`] writes for an outcome: status, attempts added,
/// next attempt, status code, error, delivered at.
pub(super) type FinishColumns =
    (&'static str, i64, Option<DateTime<Utc>>, Option<i64>, Option<String>, Option<DateTime<Utc>>);

pub(super) fn finish_columns(outcome: &AttemptOutcome, at: DateTime<Utc>) -> FinishColumns {
    match outcome {
        AttemptOutcome::Delivered { status_code } => ("delivered", 1, None, status_code.map(i64::from), None, Some(at)),
        AttemptOutcome::Failed { status_code, error, retry_at: Some(retry) } => {
            ("pending", 1, Some(*retry), status_code.map(i64::from), Some(error.clone()), None)
        }
        AttemptOutcome::Failed { status_code, error, retry_at: None } => {
            ("failed", 1, None, status_code.map(i64::from), Some(error.clone()), None)
        }
        AttemptOutcome::Deferred(until) => ("pending", 0, Some(*until), None, None, None),
    }
}

/// Price versions, applied updates, changes held for approval and the sources' health.
#[async_trait]
pub trait PriceStore: Send + Sync {
    /// Stores a new price version and closes the one it supersedes.
    async fn insert_price_version(&self, row: &PriceVersionRow) -> StorageResult<()>;
    async fn price_versions(&self) -> StorageResult<Vec<PriceVersionRow>>;
    async fn upsert_source_state(&self, state: &SourceStateRow) -> StorageResult<()>;
    async fn source_states(&self) -> StorageResult<Vec<SourceStateRow>>;
    /// Stores a new price version with its update record, atomically; `effect` says what
    /// happens to the model's pending changes.
    async fn apply_price_change(
        &self,
        version: &PriceVersionRow,
        update: &PriceUpdateRow,
        effect: PendingEffect,
    ) -> StorageResult<()>;
    async fn list_price_updates(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        limit: u32,
    ) -> StorageResult<Vec<PriceUpdateRow>>;
    /// Queues a change for approval; an older pending change of the same model is superseded.
    async fn insert_pending(&self, pending: &PendingRow) -> StorageResult<()>;
    async fn list_pending(&self, status: Option<&str>, limit: u32) -> StorageResult<Vec<PendingRow>>;
    async fn get_pending(&self, id: Uuid) -> StorageResult<Option<PendingRow>>;
    /// Moves a pending change to `status` (approved, rejected); false if it was not pending.
    async fn decide_pending(
        &self,
        id: Uuid,
        status: &str,
        at: DateTime<Utc>,
        note: Option<&str>,
    ) -> StorageResult<bool>;
}

/// API keys, stored by hash.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn insert_key(&self, info: &ApiKeyInfo, key_hash: &str) -> StorageResult<()>;
    async fn find_key(&self, key_hash: &str) -> StorageResult<Option<ApiKeyInfo>>;
    async fn list_keys(&self) -> StorageResult<Vec<ApiKeyInfo>>;
    async fn revoke_key(&self, id: Uuid, at: DateTime<Utc>) -> StorageResult<bool>;
}

/// All of storage, as one object (`Arc<dyn Repository>`); callers bring the narrow trait they
/// use into scope.
#[async_trait]
pub trait Repository:
    CatalogStore + LedgerStore + UsageStore + AlertStore + ReportStore + PriceStore + ApiKeyStore + 'static
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StorageResult<()>;
    /// Whether other daemons may change this database (PostgreSQL).
    fn is_shared(&self) -> bool;
    /// At shutdown: commits what is queued, stops the writer task (joined) and closes the
    /// connections. Writes after this fail with `unavailable`.
    async fn close(&self);
}

/// Opens the repository named by `url`: `sqlite://path` (or a bare path) or `postgres://…`.
/// Migrations are applied before it is returned.
pub async fn open(url: &str) -> StorageResult<Arc<dyn Repository>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresRepository::connect(url).await?))
    } else {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        Ok(Arc::new(SqliteRepository::open(std::path::Path::new(path)).await?))
    }
}
