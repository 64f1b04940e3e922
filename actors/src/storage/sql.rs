//! The SQL repositories. Both databases share one schema shape and one set of queries
//! (`$N` placeholders work in both); they differ only in how money and time are stored
//! (SQLite: exact decimal TEXT and fixed-width RFC 3339 TEXT; PostgreSQL: NUMERIC and
//! TIMESTAMPTZ) and in how writes are committed. The shared part is written once in the
//! `sql_repository!` macro and instantiated per backend, because sqlx's generic executor
//! bounds for "any database" would be longer than the queries themselves.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, instrument, warn};
use uuid::Uuid;

use super::*;
use crate::domain::{Role, ScopeFilter, Severity};
use crate::money::decimal_from_str;

pub(super) fn parse_id(text: &str) -> StorageResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| EngineError::Internal(format!("bad id '{text}' in storage: {e}")))
}

fn alert_kind(text: &str) -> StorageResult<crate::domain::AlertKind> {
    crate::domain::AlertKind::parse(text)
        .ok_or_else(|| EngineError::Internal(format!("unknown alert kind '{text}' in storage")))
}

fn parse_ids(json: &str) -> StorageResult<Vec<Uuid>> {
    serde_json::from_str(json).map_err(|e| EngineError::Internal(format!("bad id list in storage: {e}")))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StorageResult<String> {
    serde_json::to_string(value).map_err(|e| EngineError::Internal(format!("serialize: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StorageResult<T> {
    serde_json::from_str(text).map_err(|e| EngineError::Internal(format!("bad {what} in storage: {e}")))
}

pub(super) fn tokens_in(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn tokens_out(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

// SQLite keeps times as fixed-width UTC text so that text order is time order.
pub(super) fn sqlite_ts_in(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn sqlite_ts_out(text: String) -> StorageResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| EngineError::Internal(format!("bad time '{text}' in storage: {e}")))
}

pub(super) fn sqlite_money_in(d: Decimal) -> String {
    d.to_string()
}

pub(super) fn sqlite_money_out(text: String) -> StorageResult<Decimal> {
    decimal_from_str(&text)
}

fn pg_ts_in(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

fn pg_ts_out(t: DateTime<Utc>) -> StorageResult<DateTime<Utc>> {
    Ok(t)
}

fn pg_money_in(d: Decimal) -> Decimal {
    d
}

fn pg_money_out(d: Decimal) -> StorageResult<Decimal> {
    Ok(d)
}

macro_rules! sql_repository {
    (
        $repo:ident, $db:ty, $ts:ty, $money:ty, $ts_in:path, $ts_out:path, $money_in:path, $money_out:path,
        $lock_rows:literal, $exact_sql_sums:literal
    ) => {
        impl $repo {
            fn row_budget(row: &<$db as sqlx::Database>::Row) -> StorageResult<Budget> {
                let id: String = row.try_get("id")?;
                let scope: String = row.try_get("scope")?;
                Ok(Budget {
                    id: parse_id(&id)?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    owner: row.try_get("owner")?,
                    scope: from_json::<ScopeFilter>(&scope, "scope")?,
                    policies: Vec::new(),
                    created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                    updated_at: $ts_out(row.try_get::<$ts, _>("updated_at")?)?,
                })
            }

            fn row_allocation(row: &<$db as sqlx::Database>::Row) -> StorageResult<Allocation> {
                let id: String = row.try_get("id")?;
                let status: String = row.try_get("status")?;
                let budgets: String = row.try_get("budgets")?;
                let released: Option<$ts> = row.try_get("released_at")?;
                Ok(Allocation {
                    id: parse_id(&id)?,
                    component: row.try_get("component")?,
                    context_id: row.try_get("context_id")?,
                    provider: row.try_get("provider")?,
                    model: row.try_get("model")?,
                    task_type: row.try_get("task_type")?,
                    tier: row.try_get("tier")?,
                    priority: u8::try_from(row.try_get::<i64, _>("priority")?).unwrap_or(5),
                    reserved_cost: $money_out(row.try_get::<$money, _>("reserved_cost")?)?,
                    reserved_tokens: tokens_out(row.try_get("reserved_tokens")?),
                    priced: row.try_get("priced")?,
                    // Filled in from the allocation's usage records by `with_used`.
                    used_cost: Decimal::ZERO,
                    used_tokens: 0,
                    status: AllocationStatus::parse(&status)?,
                    budgets: parse_ids(&budgets)?,
                    created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                    expires_at: $ts_out(row.try_get::<$ts, _>("expires_at")?)?,
                    released_at: released.map($ts_out).transpose()?,
                })
            }

            fn row_usage(row: &<$db as sqlx::Database>::Row) -> StorageResult<UsageRecord> {
                let id: String = row.try_get("id")?;
                let allocation_id: Option<String> = row.try_get("allocation_id")?;
                let cost: Option<$money> = row.try_get("cost")?;
                let breakdown: Option<String> = row.try_get("cost_breakdown")?;
                let metadata: String = row.try_get("metadata")?;
                let budgets: String = row.try_get("budgets")?;
                Ok(UsageRecord {
                    id: parse_id(&id)?,
                    allocation_id: allocation_id.as_deref().map(parse_id).transpose()?,
                    component: row.try_get("component")?,
                    context_id: row.try_get("context_id")?,
                    provider: row.try_get("provider")?,
                    model: row.try_get("model")?,
                    task_type: row.try_get("task_type")?,
                    tier: row.try_get("tier")?,
                    input_tokens: tokens_out(row.try_get("input_tokens")?),
                    output_tokens: tokens_out(row.try_get("output_tokens")?),
                    cache_read_tokens: tokens_out(row.try_get("cache_read_tokens")?),
                    cache_write_tokens: tokens_out(row.try_get("cache_write_tokens")?),
                    cache_write_1h_tokens: tokens_out(row.try_get("cache_write_1h_tokens")?),
                    reasoning_tokens: tokens_out(row.try_get("reasoning_tokens")?),
                    total_tokens: tokens_out(row.try_get("total_tokens")?),
                    cost: cost.map($money_out).transpose()?,
                    priced: row.try_get("priced")?,
                    cost_breakdown: breakdown.as_deref().map(|b| from_json(b, "cost breakdown")).transpose()?,
                    price_ref: row.try_get("price_ref")?,
                    request_id: row.try_get("request_id")?,
                    timestamp: $ts_out(row.try_get::<$ts, _>("timestamp")?)?,
                    recorded_at: $ts_out(row.try_get::<$ts, _>("recorded_at")?)?,
                    metadata: from_json(&metadata, "metadata")?,
                    budgets: parse_ids(&budgets)?,
                })
            }

            fn row_hold(row: &<$db as sqlx::Database>::Row) -> StorageResult<Hold> {
                Ok(Hold {
                    allocation_id: parse_id(&row.try_get::<String, _>("allocation_id")?)?,
                    policy_id: parse_id(&row.try_get::<String, _>("policy_id")?)?,
                    budget_id: parse_id(&row.try_get::<String, _>("budget_id")?)?,
                    window_key: row.try_get("window_key")?,
                    cost: $money_out(row.try_get::<$money, _>("cost")?)?,
                    tokens: tokens_out(row.try_get("tokens")?),
                    expires_at: $ts_out(row.try_get::<$ts, _>("expires_at")?)?,
                })
            }

            fn row_pending(row: &<$db as sqlx::Database>::Row) -> StorageResult<PendingRow> {
                let decided: Option<$ts> = row.try_get("decided_at")?;
                Ok(PendingRow {
                    id: parse_id(&row.try_get::<String, _>("id")?)?,
                    provider: row.try_get("provider")?,
                    model: row.try_get("model")?,
                    reason: row.try_get("reason")?,
                    status: row.try_get("status")?,
                    verification: row.try_get("verification")?,
                    proposed: row.try_get("proposed")?,
                    changes: row.try_get("changes")?,
                    candidates: row.try_get("candidates")?,
                    source: row.try_get("source")?,
                    created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                    decided_at: decided.map($ts_out).transpose()?,
                    note: row.try_get("note")?,
                })
            }

            fn row_key(row: &<$db as sqlx::Database>::Row) -> StorageResult<ApiKeyInfo> {
                let id: String = row.try_get("id")?;
                let role: String = row.try_get("role")?;
                let revoked: Option<$ts> = row.try_get("revoked_at")?;
                Ok(ApiKeyInfo {
                    id: parse_id(&id)?,
                    name: row.try_get("name")?,
                    role: Role::parse(&role)?,
                    prefix: row.try_get("prefix")?,
                    created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                    revoked_at: revoked.map($ts_out).transpose()?,
                })
            }

            async fn sum_window(
                conn: &mut <$db as sqlx::Database>::Connection,
                policy_id: Uuid,
                window_key: &str,
                now: DateTime<Utc>,
            ) -> StorageResult<Totals> {
                if $exact_sql_sums {
                    // NUMERIC sums are exact: one row back instead of every row of the window
                    // (this runs under the budget's lock for each hard-limit allocation).
                    let charges = sqlx::query(
                        "SELECT COALESCE(SUM(cost), 0) AS cost, LEAST(COALESCE(SUM(tokens), 0), 9223372036854775807)::BIGINT AS tokens \
                         FROM charges WHERE policy_id = $1 AND window_key = $2",
                    )
                    .bind(policy_id.to_string())
                    .bind(window_key)
                    .fetch_one(&mut *conn)
                    .await?;
                    let holds = sqlx::query(
                        "SELECT COALESCE(SUM(cost), 0) AS cost, LEAST(COALESCE(SUM(tokens), 0), 9223372036854775807)::BIGINT AS tokens \
                         FROM holds WHERE policy_id = $1 AND window_key = $2 AND expires_at > $3",
                    )
                    .bind(policy_id.to_string())
                    .bind(window_key)
                    .bind($ts_in(now))
                    .fetch_one(&mut *conn)
                    .await?;
                    return Ok(Totals {
                        settled_cost: $money_out(charges.try_get::<$money, _>("cost")?)?,
                        settled_tokens: tokens_out(charges.try_get("tokens")?),
                        reserved_cost: $money_out(holds.try_get::<$money, _>("cost")?)?,
                        reserved_tokens: tokens_out(holds.try_get("tokens")?),
                    });
                }
                // SQLite keeps money as text: SQL SUM would go through floating point, so the
                // rows are added here in decimals.
                let mut totals = Totals::default();
                let charges = sqlx::query("SELECT cost, tokens FROM charges WHERE policy_id = $1 AND window_key = $2")
                    .bind(policy_id.to_string())
                    .bind(window_key)
                    .fetch_all(&mut *conn)
                    .await?;
                for row in &charges {
                    totals.settled_cost += $money_out(row.try_get::<$money, _>("cost")?)?;
                    totals.settled_tokens += tokens_out(row.try_get("tokens")?);
                }
                let holds = sqlx::query(
                    "SELECT cost, tokens FROM holds WHERE policy_id = $1 AND window_key = $2 AND expires_at > $3",
                )
                .bind(policy_id.to_string())
                .bind(window_key)
                .bind($ts_in(now))
                .fetch_all(&mut *conn)
                .await?;
                for row in &holds {
                    totals.reserved_cost += $money_out(row.try_get::<$money, _>("cost")?)?;
                    totals.reserved_tokens += tokens_out(row.try_get("tokens")?);
                }
                Ok(totals)
            }

            /// Applies one write inside the caller's transaction.
            async fn apply(
                conn: &mut <$db as sqlx::Database>::Connection,
                op: &WriteOp,
            ) -> StorageResult<WriteOutcome> {
                match op {
                    WriteOp::Allocate { allocation: a, holds, .. } => {
                        sqlx::query(
                            "INSERT INTO allocations (id, component, context_id, provider, model, task_type, tier, priority, \
                             reserved_cost, reserved_tokens, priced, status, budgets, created_at, \
                             expires_at, released_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                        )
                        .bind(a.id.to_string())
                        .bind(&a.component)
                        .bind(&a.context_id)
                        .bind(&a.provider)
                        .bind(&a.model)
                        .bind(&a.task_type)
                        .bind(&a.tier)
                        .bind(i64::from(a.priority))
                        .bind($money_in(a.reserved_cost))
                        .bind(tokens_in(a.reserved_tokens))
                        .bind(a.priced)
                        .bind(a.status.as_str())
                        .bind(to_json(&a.budgets)?)
                        .bind($ts_in(a.created_at))
                        .bind($ts_in(a.expires_at))
                        .bind(a.released_at.map($ts_in))
                        .execute(&mut *conn)
                        .await?;
                        for h in holds {
                            sqlx::query(
                                "INSERT INTO holds (allocation_id, policy_id, budget_id, window_key, cost, tokens, expires_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            )
                            .bind(h.allocation_id.to_string())
                            .bind(h.policy_id.to_string())
                            .bind(h.budget_id.to_string())
                            .bind(&h.window_key)
                            .bind($money_in(h.cost))
                            .bind(tokens_in(h.tokens))
                            .bind($ts_in(h.expires_at))
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                    WriteOp::Record { record: r, charges, hold_shrinks } => {
                        let inserted = sqlx::query(
                            "INSERT INTO usage_records (id, allocation_id, component, context_id, provider, model, task_type, \
                             tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, \
                             reasoning_tokens, total_tokens, cost, priced, cost_breakdown, price_ref, request_id, timestamp, \
                             recorded_at, metadata, budgets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) ON CONFLICT (request_id) DO NOTHING",
                        )
                        .bind(r.id.to_string())
                        .bind(r.allocation_id.map(|a| a.to_string()))
                        .bind(&r.component)
                        .bind(&r.context_id)
                        .bind(&r.provider)
                        .bind(&r.model)
                        .bind(&r.task_type)
                        .bind(&r.tier)
                        .bind(tokens_in(r.input_tokens))
                        .bind(tokens_in(r.output_tokens))
                        .bind(tokens_in(r.cache_read_tokens))
                        .bind(tokens_in(r.cache_write_tokens))
                        .bind(tokens_in(r.cache_write_1h_tokens))
                        .bind(tokens_in(r.reasoning_tokens))
                        .bind(tokens_in(r.total_tokens))
                        .bind(r.cost.map($money_in))
                        .bind(r.priced)
                        .bind(r.cost_breakdown.as_ref().map(to_json).transpose()?)
                        .bind(&r.price_ref)
                        .bind(&r.request_id)
                        .bind($ts_in(r.timestamp))
                        .bind($ts_in(r.recorded_at))
                        .bind(to_json(&r.metadata)?)
                        .bind(to_json(&r.budgets)?)
                        .execute(&mut *conn)
                        .await;
                        // Only a repeated request_id can make the insert a no-op.
                        if inserted?.rows_affected() == 0 {
                            return Ok(WriteOutcome::DuplicateRequest);
                        }
                        for c in charges {
                            sqlx::query(
                                "INSERT INTO charges (record_id, policy_id, budget_id, window_key, cost, tokens) \
                                 VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(c.record_id.to_string())
                            .bind(c.policy_id.to_string())
                            .bind(c.budget_id.to_string())
                            .bind(&c.window_key)
                            .bind($money_in(c.cost))
                            .bind(tokens_in(c.tokens))
                            .execute(&mut *conn)
                            .await?;
                        }
                        // Read, shrink, write, with the row locked where several daemons share
                        // it (SQLite has one writer). Exact decimals: SQL arithmetic on SQLite's
                        // TEXT money would go through floating point.
                        for u in hold_shrinks {
                            let held = sqlx::query(concat!(
                                "SELECT cost, tokens FROM holds WHERE allocation_id = $1 AND policy_id = $2",
                                $lock_rows
                            ))
                            .bind(u.allocation_id.to_string())
                            .bind(u.policy_id.to_string())
                            .fetch_optional(&mut *conn)
                            .await?;
                            // Released or expired meanwhile: nothing is held any more.
                            let Some(held) = held else { continue };
                            let cost = ($money_out(held.try_get::<$money, _>("cost")?)? - u.cost).max(Decimal::ZERO);
                            let tokens = tokens_out(held.try_get("tokens")?).saturating_sub(u.tokens);
                            sqlx::query("UPDATE holds SET cost = $1, tokens = $2 WHERE allocation_id = $3 AND policy_id = $4")
                                .bind($money_in(cost))
                                .bind(tokens_in(tokens))
                                .bind(u.allocation_id.to_string())
                                .bind(u.policy_id.to_string())
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    WriteOp::Close { allocation_id, status, at } => {
                        sqlx::query("UPDATE allocations SET status = $1, released_at = $2 WHERE id = $3 AND status = 'active'")
                            .bind(status.as_str())
                            .bind($ts_in(*at))
                            .bind(allocation_id.to_string())
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("DELETE FROM holds WHERE allocation_id = $1")
                            .bind(allocation_id.to_string())
                            .execute(&mut *conn)
                            .await?;
                    }
                    WriteOp::Alert(alert) => {
                        sqlx::query(
                            "INSERT INTO alerts (id, severity, kind, budget_id, policy_id, message, details, created_at, acknowledged) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(alert.id.to_string())
                        .bind(alert.severity.as_str())
                        .bind(alert.kind.as_str())
                        .bind(alert.budget_id.map(|b| b.to_string()))
                        .bind(alert.policy_id.map(|p| p.to_string()))
                        .bind(&alert.message)
                        .bind(to_json(&alert.details)?)
                        .bind($ts_in(alert.created_at))
                        .bind(alert.acknowledged)
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                Ok(WriteOutcome::Done)
            }

            /// What an allocation's usage records add up to. Kept out of the allocation row so
            /// that recording usage is one insert, not a read-modify-write of the allocation.
            async fn with_used(&self, mut a: Allocation) -> StorageResult<Allocation> {
                let rows = sqlx::query("SELECT cost, total_tokens FROM usage_records WHERE allocation_id = $1")
                    .bind(a.id.to_string())
                    .fetch_all(&self.read)
                    .await?;
                for row in &rows {
                    if let Some(cost) = row.try_get::<Option<$money>, _>("cost")? {
                        a.used_cost += $money_out(cost)?;
                    }
                    a.used_tokens += tokens_out(row.try_get("total_tokens")?);
                }
                Ok(a)
            }

            /// Stores a price version, closing the open version it supersedes.
            async fn insert_version_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                v: &PriceVersionRow,
            ) -> StorageResult<()> {
                sqlx::query(
                    "UPDATE prices SET effective_to = $1 WHERE provider = $2 AND model = $3 AND effective_to IS NULL \
                     AND effective_from <= $1",
                )
                .bind($ts_in(v.effective_from))
                .bind(&v.provider)
                .bind(&v.model)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO prices (id, provider, model, source, body, effective_from, effective_to, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(v.id.to_string())
                .bind(&v.provider)
                .bind(&v.model)
                .bind(&v.source)
                .bind(&v.body)
                .bind($ts_in(v.effective_from))
                .bind(v.effective_to.map($ts_in))
                .bind($ts_in(v.created_at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn bump_catalog(conn: &mut <$db as sqlx::Database>::Connection) -> StorageResult<()> {
                sqlx::query("UPDATE catalog_version SET version = version + 1 WHERE id = 1").execute(&mut *conn).await?;
                Ok(())
            }

            async fn insert_policy_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                p: &Policy,
            ) -> StorageResult<()> {
                sqlx::query(
                    "INSERT INTO policies (id, budget_id, body, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                )
                .bind(p.id.to_string())
                .bind(p.budget_id.to_string())
                .bind(to_json(p)?)
                .bind($ts_in(p.created_at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Repository for $repo {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            #[instrument(target = "repository", level = "debug", skip_all)]
            async fn write(&self, op: WriteOp) -> StorageResult<WriteOutcome> {
                self.commit(op).await
            }

            fn is_shared(&self) -> bool {
                Self::SHARED
            }

            async fn catalog_version(&self) -> StorageResult<i64> {
                let row = sqlx::query("SELECT version FROM catalog_version WHERE id = 1").fetch_one(&self.read).await?;
                Ok(row.try_get("version")?)
            }

            async fn ping(&self) -> StorageResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await?;
                Ok(())
            }

            async fn insert_budget(&self, b: &Budget) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO budgets (id, name, description, owner, scope, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(b.id.to_string())
                .bind(&b.name)
                .bind(&b.description)
                .bind(&b.owner)
                .bind(to_json(&b.scope)?)
                .bind($ts_in(b.created_at))
                .bind($ts_in(b.updated_at))
                .execute(&mut *tx)
                .await;
                if let Err(e) = &inserted
                    && is_unique_violation(e)
                {
                    return Err(EngineError::Conflict(format!("a budget named '{}' already exists", b.name)));
                }
                inserted?;
                for p in &b.policies {
                    Self::insert_policy_in(&mut tx, p).await?;
                }
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_budget(&self, b: &Budget) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query(
                    "UPDATE budgets SET name = $1, description = $2, owner = $3, scope = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(&b.name)
                .bind(&b.description)
                .bind(&b.owner)
                .bind(to_json(&b.scope)?)
                .bind($ts_in(b.updated_at))
                .bind(b.id.to_string())
                .execute(&mut *tx)
                .await;
                if let Err(e) = &updated
                    && is_unique_violation(e)
                {
                    return Err(EngineError::Conflict(format!("a budget named '{}' already exists", b.name)));
                }
                if updated?.rows_affected() == 0 {
                    return Err(EngineError::not_found("budget", b.id));
                }
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_budget(&self, id: Uuid) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM policies WHERE budget_id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM holds WHERE budget_id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                let deleted = sqlx::query("DELETE FROM budgets WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                if deleted.rows_affected() == 0 {
                    return Err(EngineError::not_found("budget", id));
                }
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_budgets(&self) -> StorageResult<Vec<Budget>> {
                let rows = sqlx::query("SELECT * FROM budgets ORDER BY name").fetch_all(&self.read).await?;
                let mut budgets = rows.iter().map(Self::row_budget).collect::<StorageResult<Vec<_>>>()?;
                let policy_rows =
                    sqlx::query("SELECT body FROM policies ORDER BY created_at, id").fetch_all(&self.read).await?;
                for row in &policy_rows {
                    let body: String = row.try_get("body")?;
                    let policy: Policy = from_json(&body, "policy")?;
                    if let Some(b) = budgets.iter_mut().find(|b| b.id == policy.budget_id) {
                        b.policies.push(policy);
                    }
                }
                Ok(budgets)
            }

            async fn upsert_policy(&self, p: &Policy) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_policy_in(&mut tx, p).await?;
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_policy(&self, id: Uuid) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                let deleted = sqlx::query("DELETE FROM policies WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                if deleted.rows_affected() == 0 {
                    return Err(EngineError::not_found("policy", id));
                }
                sqlx::query("DELETE FROM holds WHERE policy_id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn window_totals(&self, policy_id: Uuid, window_key: &str, now: DateTime<Utc>) -> StorageResult<Totals> {
                let mut conn = self.read.acquire().await?;
                Self::sum_window(&mut conn, policy_id, window_key, now).await
            }

            async fn active_holds(&self, budget_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>> {
                let rows = sqlx::query("SELECT * FROM holds WHERE budget_id = $1 AND expires_at > $2")
                    .bind(budget_id.to_string())
                    .bind($ts_in(now))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::row_hold).collect()
            }

            async fn allocation_holds(&self, allocation_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>> {
                let rows = sqlx::query("SELECT * FROM holds WHERE allocation_id = $1 AND expires_at > $2")
                    .bind(allocation_id.to_string())
                    .bind($ts_in(now))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::row_hold).collect()
            }

            async fn expired_active_allocations(&self, now: DateTime<Utc>) -> StorageResult<Vec<Uuid>> {
                let rows = sqlx::query("SELECT id FROM allocations WHERE status = 'active' AND expires_at <= $1")
                    .bind($ts_in(now))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(|r| parse_id(&r.try_get::<String, _>("id")?)).collect()
            }

            async fn get_allocation(&self, id: Uuid) -> StorageResult<Option<Allocation>> {
                let row = sqlx::query("SELECT * FROM allocations WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.read)
                    .await?;
                match row.as_ref().map(Self::row_allocation).transpose()? {
                    Some(a) => Ok(Some(self.with_used(a).await?)),
                    None => Ok(None),
                }
            }

            async fn list_allocations(&self, f: &AllocationFilter) -> StorageResult<Vec<Allocation>> {
                let rows = sqlx::query(
                    "SELECT * FROM allocations WHERE ($1 IS NULL OR context_id = $1) AND ($2 IS NULL OR status = $2) \
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(&f.context_id)
                .bind(f.status.map(|s| s.as_str()))
                .bind(i64::from(f.limit.max(1)))
                .fetch_all(&self.read)
                .await?;
                let mut out: Vec<Allocation> = rows.iter().map(Self::row_allocation).collect::<Result<_, _>>()?;
                if out.is_empty() {
                    return Ok(out);
                }
                // What each listed allocation used, in one query for the whole page (its ids,
                // at most 1,000: well under either database's limit on bound values) rather
                // than one per allocation.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT allocation_id, cost, total_tokens FROM usage_records WHERE allocation_id IN (",
                );
                let mut ids = query.separated(", ");
                for a in &out {
                    ids.push_bind(a.id.to_string());
                }
                ids.push_unseparated(")");
                let used = query.build().fetch_all(&self.read).await?;
                let index: HashMap<Uuid, usize> = out.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
                for row in &used {
                    let allocation_id = parse_id(&row.try_get::<String, _>("allocation_id")?)?;
                    let Some(&i) = index.get(&allocation_id) else { continue };
                    if let Some(cost) = row.try_get::<Option<$money>, _>("cost")? {
                        out[i].used_cost += $money_out(cost)?;
                    }
                    out[i].used_tokens = out[i].used_tokens.saturating_add(tokens_out(row.try_get("total_tokens")?));
                }
                Ok(out)
            }

            async fn get_usage(&self, id: Uuid) -> StorageResult<Option<UsageRecord>> {
                let row = sqlx::query("SELECT * FROM usage_records WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::row_usage).transpose()
            }

            async fn usage_by_request_id(&self, request_id: &str) -> StorageResult<Option<UsageRecord>> {
                let row = sqlx::query("SELECT * FROM usage_records WHERE request_id = $1")
                    .bind(request_id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::row_usage).transpose()
            }

            async fn list_usage(&self, f: &UsageFilter) -> StorageResult<Vec<UsageRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM usage_records WHERE ($1 IS NULL OR timestamp >= $1) AND ($2 IS NULL OR timestamp < $2) \
                     AND ($3 IS NULL OR provider = $3) AND ($4 IS NULL OR model = $4) AND ($5 IS NULL OR component = $5) \
                     AND ($6 IS NULL OR context_id = $6) AND ($7 IS NULL OR task_type = $7) \
                     AND ($8 IS NULL OR allocation_id = $8) AND ($9 IS NULL OR id > $9) ORDER BY id LIMIT $10",
                )
                .bind(f.from.map($ts_in))
                .bind(f.to.map($ts_in))
                .bind(&f.provider)
                .bind(&f.model)
                .bind(&f.component)
                .bind(&f.context_id)
                .bind(&f.task_type)
                .bind(f.allocation_id.map(|a| a.to_string()))
                .bind(f.after.map(|a| a.to_string()))
                .bind(i64::from(f.limit.max(1)))
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(Self::row_usage).collect()
            }

            async fn insert_price_version(&self, v: &PriceVersionRow) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_version_in(&mut tx, v).await?;
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn price_versions(&self) -> StorageResult<Vec<PriceVersionRow>> {
                let rows = sqlx::query("SELECT * FROM prices ORDER BY provider, model, effective_from")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let effective_to: Option<$ts> = row.try_get("effective_to")?;
                        Ok(PriceVersionRow {
                            id: parse_id(&row.try_get::<String, _>("id")?)?,
                            provider: row.try_get("provider")?,
                            model: row.try_get("model")?,
                            source: row.try_get("source")?,
                            body: row.try_get("body")?,
                            effective_from: $ts_out(row.try_get::<$ts, _>("effective_from")?)?,
                            effective_to: effective_to.map($ts_out).transpose()?,
                            created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                        })
                    })
                    .collect()
            }

            async fn list_alerts(&self, limit: u32) -> StorageResult<Vec<Alert>> {
                let rows = sqlx::query("SELECT * FROM alerts ORDER BY id DESC LIMIT $1")
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let budget_id: Option<String> = row.try_get("budget_id")?;
                        let policy_id: Option<String> = row.try_get("policy_id")?;
                        let details: String = row.try_get("details")?;
                        Ok(Alert {
                            id: parse_id(&row.try_get::<String, _>("id")?)?,
                            severity: Severity::parse(&row.try_get::<String, _>("severity")?),
                            kind: alert_kind(&row.try_get::<String, _>("kind")?)?,
                            budget_id: budget_id.as_deref().map(parse_id).transpose()?,
                            policy_id: policy_id.as_deref().map(parse_id).transpose()?,
                            message: row.try_get("message")?,
                            details: from_json(&details, "alert details")?,
                            created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                            acknowledged: row.try_get("acknowledged")?,
                        })
                    })
                    .collect()
            }

            async fn upsert_source_state(&self, st: &SourceStateRow) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO price_source_state (name, last_attempt, last_success, last_error, last_error_at, \
                     model_count, agreements, disagreements, etag, last_modified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (name) DO UPDATE SET last_attempt = excluded.last_attempt, last_success = excluded.last_success, \
                     last_error = excluded.last_error, last_error_at = excluded.last_error_at, model_count = excluded.model_count, \
                     agreements = excluded.agreements, disagreements = excluded.disagreements, etag = excluded.etag, \
                     last_modified = excluded.last_modified",
                )
                .bind(&st.name)
                .bind(st.last_attempt.map($ts_in))
                .bind(st.last_success.map($ts_in))
                .bind(&st.last_error)
                .bind(st.last_error_at.map($ts_in))
                .bind(tokens_in(st.model_count))
                .bind(tokens_in(st.agreements))
                .bind(tokens_in(st.disagreements))
                .bind(&st.etag)
                .bind(&st.last_modified)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn source_states(&self) -> StorageResult<Vec<SourceStateRow>> {
                let rows = sqlx::query("SELECT * FROM price_source_state ORDER BY name").fetch_all(&self.read).await?;
                rows.iter()
                    .map(|row| {
                        let opt_ts = |col: &str| -> StorageResult<Option<DateTime<Utc>>> {
                            row.try_get::<Option<$ts>, _>(col)?.map($ts_out).transpose()
                        };
                        Ok(SourceStateRow {
                            name: row.try_get("name")?,
                            last_attempt: opt_ts("last_attempt")?,
                            last_success: opt_ts("last_success")?,
                            last_error: row.try_get("last_error")?,
                            last_error_at: opt_ts("last_error_at")?,
                            model_count: tokens_out(row.try_get("model_count")?),
                            agreements: tokens_out(row.try_get("agreements")?),
                            disagreements: tokens_out(row.try_get("disagreements")?),
                            etag: row.try_get("etag")?,
                            last_modified: row.try_get("last_modified")?,
                        })
                    })
                    .collect()
            }

            async fn apply_price_change(
                &self,
                v: &PriceVersionRow,
                u: &PriceUpdateRow,
                effect: PendingEffect,
            ) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_version_in(&mut tx, v).await?;
                sqlx::query(
                    "INSERT INTO price_updates (id, provider, model, version_id, source, kind, status, changes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(u.id.to_string())
                .bind(&u.provider)
                .bind(&u.model)
                .bind(u.version_id.to_string())
                .bind(&u.source)
                .bind(&u.kind)
                .bind(&u.status)
                .bind(&u.changes)
                .bind($ts_in(u.created_at))
                .execute(&mut *tx)
                .await?;
                match effect {
                    // Approval and the new version commit together, once: a concurrent approve,
                    // reject or supersede makes this one fail and roll back.
                    PendingEffect::Approve(id) => {
                        let done = sqlx::query(
                            "UPDATE price_pending SET status = 'approved', decided_at = $1 WHERE id = $2 AND status = 'pending'",
                        )
                        .bind($ts_in(u.created_at))
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            tx.rollback().await?;
                            return Err(EngineError::Conflict(format!("pending change {id} was decided meanwhile")));
                        }
                    }
                    PendingEffect::Keep => {}
                    // A price applied by itself makes older held proposals for the model stale.
                    PendingEffect::Supersede => {
                        sqlx::query(
                            "UPDATE price_pending SET status = 'superseded', decided_at = $1 \
                             WHERE provider = $2 AND model = $3 AND status = 'pending'",
                        )
                        .bind($ts_in(u.created_at))
                        .bind(&u.provider)
                        .bind(&u.model)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Self::bump_catalog(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_price_updates(
                &self,
                provider: Option<&str>,
                model: Option<&str>,
                limit: u32,
            ) -> StorageResult<Vec<PriceUpdateRow>> {
                let rows = sqlx::query(
                    "SELECT * FROM price_updates WHERE ($1 IS NULL OR provider = $1) AND ($2 IS NULL OR model = $2) \
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(provider)
                .bind(model)
                .bind(i64::from(limit.max(1)))
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(PriceUpdateRow {
                            id: parse_id(&row.try_get::<String, _>("id")?)?,
                            provider: row.try_get("provider")?,
                            model: row.try_get("model")?,
                            version_id: parse_id(&row.try_get::<String, _>("version_id")?)?,
                            source: row.try_get("source")?,
                            kind: row.try_get("kind")?,
                            status: row.try_get("status")?,
                            changes: row.try_get("changes")?,
                            created_at: $ts_out(row.try_get::<$ts, _>("created_at")?)?,
                        })
                    })
                    .collect()
            }

            async fn insert_pending(&self, p: &PendingRow) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE price_pending SET status = 'superseded', decided_at = $1 \
                     WHERE provider = $2 AND model = $3 AND status = 'pending'",
                )
                .bind($ts_in(p.created_at))
                .bind(&p.provider)
                .bind(&p.model)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO price_pending (id, provider, model, reason, status, verification, proposed, changes, \
                     candidates, source, created_at, decided_at, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(p.id.to_string())
                .bind(&p.provider)
                .bind(&p.model)
                .bind(&p.reason)
                .bind(&p.status)
                .bind(&p.verification)
                .bind(&p.proposed)
                .bind(&p.changes)
                .bind(&p.candidates)
                .bind(&p.source)
                .bind($ts_in(p.created_at))
                .bind(p.decided_at.map($ts_in))
                .bind(&p.note)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_pending(&self, status: Option<&str>, limit: u32) -> StorageResult<Vec<PendingRow>> {
                let rows = sqlx::query("SELECT * FROM price_pending WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2")
                    .bind(status)
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(Self::row_pending).collect()
            }

            async fn get_pending(&self, id: Uuid) -> StorageResult<Option<PendingRow>> {
                let row = sqlx::query("SELECT * FROM price_pending WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::row_pending).transpose()
            }

            async fn decide_pending(&self, id: Uuid, status: &str, at: DateTime<Utc>, note: Option<&str>) -> StorageResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE price_pending SET status = $1, decided_at = $2, note = $3 WHERE id = $4 AND status = 'pending'",
                )
                .bind(status)
                .bind($ts_in(at))
                .bind(note)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_key(&self, info: &ApiKeyInfo, key_hash: &str) -> StorageResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO api_keys (id, name, role, prefix, key_hash, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(info.id.to_string())
                .bind(&info.name)
                .bind(info.role.as_str())
                .bind(&info.prefix)
                .bind(key_hash)
                .bind($ts_in(info.created_at))
                .bind(info.revoked_at.map($ts_in))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_key(&self, key_hash: &str) -> StorageResult<Option<ApiKeyInfo>> {
                let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(Self::row_key).transpose()
            }

            async fn list_keys(&self) -> StorageResult<Vec<ApiKeyInfo>> {
                let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at").fetch_all(&self.read).await?;
                rows.iter().map(Self::row_key).collect()
            }

            async fn revoke_key(&self, id: Uuid, at: DateTime<Utc>) -> StorageResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind($ts_in(at))
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

type Reply = oneshot::Sender<StorageResult<WriteOutcome>>;

/// SQLite, embedded: WAL, one writer connection fed by a group-commit task, a reader pool.
pub struct SqliteRepository {
    read: SqlitePool,
    write: SqlitePool,
    queue: mpsc::Sender<(WriteOp, Reply)>,
    /// Held for the repository's life: one daemon per database file.
    _lock: std::fs::File,
}

/// Most writes one group commit takes; bounded so that one batch cannot delay replies for long.
const MAX_BATCH: usize = 1024;

impl SqliteRepository {
    const BACKEND: &'static str = "sqlite";
    /// One daemon owns the file: its in-memory catalogue is always current.
    const SHARED: bool = false;

    pub async fn open(path: &Path) -> StorageResult<SqliteRepository> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::Storage(format!("cannot create data directory {}: {e}", dir.display())))?;
        }
        let lock = Self::lock(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Statement journals and sorts in memory, not in temp files opened and unlinked
            // per statement (seen under load with strace: dozens a second).
            .pragma("temp_store", "memory");
        // No ping before each use: a local file's connection does not go stale, and a ping is
        // one more round trip to sqlx's worker thread per group commit.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|e| EngineError::Storage(format!("cannot open SQLite database {}: {e}", path.display())))?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| EngineError::Storage(format!("migrating {}: {e}", path.display())))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| EngineError::Storage(format!("cannot open SQLite reader {}: {e}", path.display())))?;
        let (queue, rx) = mpsc::channel(8192);
        tokio::spawn(Self::writer(write.clone(), rx));
        Ok(SqliteRepository { read, write, queue, _lock: lock })
    }

    /// Takes `<db>.lock` exclusively. Two daemons writing one SQLite file would each cache
    /// budgets the other cannot see, so the second is refused with a clear error.
    fn lock(path: &Path) -> StorageResult<std::fs::File> {
        let mut lock_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| EngineError::Storage(format!("cannot open lock file {}: {e}", lock_path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Storage(format!(
                "{} is in use by another budget daemon (lock {}); use PostgreSQL (DATABASE_URL) to run several",
                path.display(),
                lock_path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(EngineError::Storage(format!("cannot lock {}: {e}", lock_path.display())))
            }
        }
    }

    async fn begin_write(&self) -> StorageResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn commit(&self, op: WriteOp) -> StorageResult<WriteOutcome> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((op, tx))
            .await
            .map_err(|_| EngineError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await.map_err(|_| EngineError::Unavailable("the SQLite writer dropped a write".into()))?
    }

    /// The group-commit loop: whatever is queued (up to `MAX_BATCH`) goes into one
    /// transaction, and every waiter is answered after it commits.
    async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<(WriteOp, Reply)>) {
        let mut batch: Vec<(WriteOp, Reply)> = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let size = batch.len();
            let results = Self::commit_batch(&pool, &batch).await;
            debug!(target: "repository", size, "group commit");
            match results {
                Ok(results) => {
                    for ((_, reply), result) in batch.drain(..).zip(results) {
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    warn!(target: "repository", error = %e, size, "group commit failed");
                    for (_, reply) in batch.drain(..) {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Applies a batch in one transaction, as a few multi-row statements. A failure other
    /// than a duplicate request id is rare (a bug or a full disk); then the batch is rolled back
    /// and each write is retried in its own transaction, so one bad write cannot fail its
    /// neighbours.
    async fn commit_batch(
        pool: &SqlitePool,
        batch: &[(WriteOp, Reply)],
    ) -> StorageResult<Vec<StorageResult<WriteOutcome>>> {
        let ops: Vec<&WriteOp> = batch.iter().map(|(op, _)| op).collect();
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        match super::sqlite_batch::apply_batch(&mut tx, &ops).await {
            Ok(outcomes) => {
                tx.commit().await?;
                return Ok(outcomes.into_iter().map(Ok).collect());
            }
            Err(e) => {
                tx.rollback().await?;
                warn!(target: "repository", size = batch.len(), error = %e, "group commit failed; retrying one by one");
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for op in ops {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let result = Self::apply(&mut tx, op).await;
            if result.is_ok() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            results.push(result);
        }
        Ok(results)
    }
}

sql_repository!(
    SqliteRepository,
    sqlx::Sqlite,
    String,
    String,
    sqlite_ts_in,
    sqlite_ts_out,
    sqlite_money_in,
    sqlite_money_out,
    "",
    false
);

/// PostgreSQL, for several daemons sharing one database.
pub struct PostgresRepository {
    read: PgPool,
}

impl PostgresRepository {
    const BACKEND: &'static str = "postgres";
    /// Several daemons may share the database.
    const SHARED: bool = true;

    pub async fn connect(url: &str) -> StorageResult<PostgresRepository> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| EngineError::Storage(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| EngineError::Storage(format!("migrating PostgreSQL: {e}")))?;
        Ok(PostgresRepository { read: pool })
    }

    async fn begin_write(&self) -> StorageResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.read.begin().await?)
    }

    /// One transaction per write. Allocations lock their budgets (advisory locks, in budget id
    /// order so two daemons never deadlock) and re-check every hard limit against the database,
    /// which is the serialization point across processes.
    async fn commit(&self, op: WriteOp) -> StorageResult<WriteOutcome> {
        let mut tx = self.read.begin().await?;
        if let WriteOp::Allocate { allocation, checks, .. } = &op {
            let mut budget_ids: Vec<String> = checks.iter().map(|c| c.budget_id.to_string()).collect();
            budget_ids.sort();
            budget_ids.dedup();
            for id in &budget_ids {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7013))")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            for check in checks {
                let totals =
                    Self::sum_window(&mut tx, check.policy_id, &check.window_key, allocation.created_at).await?;
                let limits = crate::domain::LimitCheck {
                    budget: &check.budget_name,
                    budget_id: check.budget_id,
                    policy: check.policy_id,
                    period: &check.period,
                    cost_limit: check.cost_limit,
                    token_limit: check.token_limit,
                };
                if let Some(denial) = limits.exceeded(&totals, Some(check.cost), check.tokens) {
                    return Err(EngineError::BudgetExceeded(Box::new(denial)));
                }
            }
        }
        let outcome = Self::apply(&mut tx, &op).await?;
        if outcome == WriteOutcome::Done {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }
}

sql_repository!(
    PostgresRepository,
    sqlx::Postgres,
    DateTime<Utc>,
    Decimal,
    pg_ts_in,
    pg_ts_out,
    pg_money_in,
    pg_money_out,
    " FOR UPDATE",
    true
);

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<SqliteRepository>();
    is::<PostgresRepository>();
    let _ = Decimal::from_str("0");
}
