use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tracing::instrument;
use uuid::Uuid;

use super::{PostgresRepository, sum_window};
use crate::domain::{Alert, Allocation, Hold, Totals, UsageRecord};
use crate::storage::rows::{self, ReadRow};
use crate::storage::{
    AlertFilter, AllocationFilter, LedgerStore, StorageResult, UsageFilter, UsageStore, WriteOp, WriteOutcome, queries,
};

impl PostgresRepository {
    /// What an allocation's usage records add up to. Kept out of the allocation row so
    /// that recording usage is one insert, not a read-modify-write of the allocation.
    async fn with_used(&self, mut a: Allocation) -> StorageResult<Allocation> {
        let rows = sqlx::query(queries::ALLOCATION_USED).bind(a.id.to_string()).fetch_all(&self.read).await?;
        for row in &rows {
            rows::add_used(&mut a, row)?;
        }
        Ok(a)
    }
}

#[async_trait]
impl LedgerStore for PostgresRepository {
    #[instrument(target = "repository", level = "debug", skip_all)]
    async fn write(&self, op: WriteOp) -> StorageResult<WriteOutcome> {
        self.commit(op).await
    }

    async fn window_totals(&self, policy_id: Uuid, window_key: &str, now: DateTime<Utc>) -> StorageResult<Totals> {
        let mut conn = self.read.acquire().await?;
        sum_window(&mut conn, policy_id, window_key, now).await
    }

    async fn active_holds(&self, budget_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>> {
        let rows =
            sqlx::query(queries::BUDGET_HOLDS).bind(budget_id.to_string()).bind(now).fetch_all(&self.read).await?;
        rows.iter().map(rows::hold).collect()
    }

    async fn allocation_holds(&self, allocation_id: Uuid, now: DateTime<Utc>) -> StorageResult<Vec<Hold>> {
        let rows = sqlx::query(queries::ALLOCATION_HOLDS)
            .bind(allocation_id.to_string())
            .bind(now)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rows::hold).collect()
    }

    async fn expired_active_allocations(&self, now: DateTime<Utc>) -> StorageResult<Vec<Uuid>> {
        let rows = sqlx::query(queries::EXPIRED_ACTIVE).bind(now).fetch_all(&self.read).await?;
        rows.iter().map(|r| r.id("id")).collect()
    }

    async fn get_allocation(&self, id: Uuid) -> StorageResult<Option<Allocation>> {
        let row = sqlx::query(queries::GET_ALLOCATION).bind(id.to_string()).fetch_optional(&self.read).await?;
        match row.as_ref().map(rows::allocation).transpose()? {
            Some(a) => Ok(Some(self.with_used(a).await?)),
            None => Ok(None),
        }
    }

    async fn list_allocations(&self, f: &AllocationFilter) -> StorageResult<Vec<Allocation>> {
        let rows = sqlx::query(queries::LIST_ALLOCATIONS)
            .bind(&f.context_id)
            .bind(f.status.map(|s| s.as_str()))
            .bind(i64::from(f.limit.max(1)))
            .fetch_all(&self.read)
            .await?;
        let mut out: Vec<Allocation> = rows.iter().map(rows::allocation).collect::<Result<_, _>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        // What each listed allocation used, in one query for the whole page (its ids, at most
        // 1,000: well under either database's limit on bound values) rather than one per
        // allocation.
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(queries::ALLOCATIONS_USED_HEAD);
        let mut ids = query.separated(", ");
        for a in &out {
            ids.push_bind(a.id.to_string());
        }
        ids.push_unseparated(")");
        let used = query.build().fetch_all(&self.read).await?;
        let index: HashMap<Uuid, usize> = out.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        for row in &used {
            let Some(&i) = index.get(&row.id("allocation_id")?) else { continue };
            rows::add_used(&mut out[i], row)?;
        }
        Ok(out)
    }
}

#[async_trait]
impl UsageStore for PostgresRepository {
    async fn get_usage(&self, id: Uuid) -> StorageResult<Option<UsageRecord>> {
        let row = sqlx::query(queries::GET_USAGE).bind(id.to_string()).fetch_optional(&self.read).await?;
        row.as_ref().map(rows::usage).transpose()
    }

    async fn usage_by_request_id(&self, request_id: &str) -> StorageResult<Option<UsageRecord>> {
        let row = sqlx::query(queries::USAGE_BY_REQUEST).bind(request_id).fetch_optional(&self.read).await?;
        row.as_ref().map(rows::usage).transpose()
    }

    async fn list_usage(&self, f: &UsageFilter) -> StorageResult<Vec<UsageRecord>> {
        let rows = sqlx::query(queries::LIST_USAGE)
            .bind(f.from)
            .bind(f.to)
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
        rows.iter().map(rows::usage).collect()
    }

    async fn list_alerts(&self, f: &AlertFilter) -> StorageResult<Vec<Alert>> {
        let since = f.since;
        let rows = sqlx::query(queries::LIST_ALERTS)
            .bind(f.kind.map(|k| k.as_str()))
            .bind(f.severity.map(|s| s.as_str()))
            .bind(f.budget_id.map(|b| b.to_string()))
            .bind(f.acknowledged)
            .bind(since)
            .bind(i64::from(f.limit.max(1)))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn acknowledge_alert(&self, id: Uuid, at: DateTime<Utc>) -> StorageResult<Option<Alert>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::ACKNOWLEDGE_ALERT).bind(id.to_string()).bind(at).execute(&mut *tx).await?;
        let row = sqlx::query(queries::GET_ALERT).bind(id.to_string()).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        row.as_ref().map(rows::alert).transpose()
    }
}
