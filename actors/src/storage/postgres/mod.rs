//! PostgreSQL, for several daemons sharing one database. Money is NUMERIC and time
//! TIMESTAMPTZ, so sums are exact in SQL. Every write is its own transaction; an allocation
//! takes its budgets' advisory locks and re-checks their hard limits there, which is the
//! serialization point across processes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
use std::time::Duration;
use uuid::Uuid;

use super::rows::ReadRow;
use super::{Repository, StorageResult, WriteOp, WriteOutcome};
use crate::domain::{LimitCheck, Totals};
use crate::error::EngineError;

mod alerts;
mod catalog;
mod ledger;
mod prices;
mod reports;
mod write;

impl ReadRow for PgRow {
    fn text(&self, col: &str) -> StorageResult<String> {
        Ok(self.try_get(col)?)
    }

    fn opt_text(&self, col: &str) -> StorageResult<Option<String>> {
        Ok(self.try_get(col)?)
    }

    fn int(&self, col: &str) -> StorageResult<i64> {
        Ok(self.try_get(col)?)
    }

    fn opt_int(&self, col: &str) -> StorageResult<Option<i64>> {
        Ok(self.try_get(col)?)
    }

    fn flag(&self, col: &str) -> StorageResult<bool> {
        Ok(self.try_get(col)?)
    }

    fn time(&self, col: &str) -> StorageResult<DateTime<Utc>> {
        Ok(self.try_get(col)?)
    }

    fn opt_time(&self, col: &str) -> StorageResult<Option<DateTime<Utc>>> {
        Ok(self.try_get(col)?)
    }

    fn money(&self, col: &str) -> StorageResult<Decimal> {
        Ok(self.try_get(col)?)
    }

    fn opt_money(&self, col: &str) -> StorageResult<Option<Decimal>> {
        Ok(self.try_get(col)?)
    }
}

/// PostgreSQL, for several daemons sharing one database.
pub struct PostgresRepository {
    read: PgPool,
}

impl PostgresRepository {
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
    /// order so two daemons never deadlock) and re-check every hard limit against the database.
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
                let totals = sum_window(&mut tx, check.policy_id, &check.window_key, allocation.created_at).await?;
                let limits = LimitCheck {
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
        let outcome = write::apply(&mut tx, &op).await?;
        if outcome == WriteOutcome::Done {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }
}

/// A window's settled and reserved sums. NUMERIC sums are exact: one row back instead of every
/// row of the window (this runs under the budget's lock for each hard-limit allocation).
async fn sum_window(
    conn: &mut PgConnection,
    policy_id: Uuid,
    window_key: &str,
    now: DateTime<Utc>,
) -> StorageResult<Totals> {
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
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Totals {
        settled_cost: charges.money("cost")?,
        settled_tokens: charges.tokens("tokens")?,
        reserved_cost: holds.money("cost")?,
        reserved_tokens: holds.tokens("tokens")?,
    })
}

#[async_trait]
impl Repository for PostgresRepository {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Several daemons may share the database.
    fn is_shared(&self) -> bool {
        true
    }

    async fn close(&self) {
        self.read.close().await;
    }
}
