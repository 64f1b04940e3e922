use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{SqliteRepository, ts};
use crate::error::EngineError;
use crate::storage::rows::{self, tokens_in};
use crate::storage::{
    PendingEffect, PendingRow, PriceStore, PriceUpdateRow, PriceVersionRow, SourceStateRow, StorageResult, queries,
};

impl SqliteRepository {
    /// Stores a price version, closing the open version it supersedes.
    async fn insert_version_in(conn: &mut sqlx::SqliteConnection, v: &PriceVersionRow) -> StorageResult<()> {
        sqlx::query(queries::CLOSE_PRICE_VERSION)
            .bind(ts(v.effective_from))
            .bind(&v.provider)
            .bind(&v.model)
            .execute(&mut *conn)
            .await?;
        sqlx::query(queries::INSERT_PRICE_VERSION)
            .bind(v.id.to_string())
            .bind(&v.provider)
            .bind(&v.model)
            .bind(&v.source)
            .bind(&v.body)
            .bind(ts(v.effective_from))
            .bind(v.effective_to.map(ts))
            .bind(ts(v.created_at))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Older pending changes of the model are stale once something newer is applied or queued.
    async fn supersede_pending_in(
        conn: &mut sqlx::SqliteConnection,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        sqlx::query(queries::SUPERSEDE_PENDING).bind(ts(at)).bind(provider).bind(model).execute(&mut *conn).await?;
        Ok(())
    }
}

#[async_trait]
impl PriceStore for SqliteRepository {
    async fn insert_price_version(&self, v: &PriceVersionRow) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        Self::insert_version_in(&mut tx, v).await?;
        sqlx::query(queries::BUMP_CATALOG).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn price_versions(&self) -> StorageResult<Vec<PriceVersionRow>> {
        let rows = sqlx::query(queries::PRICE_VERSIONS).fetch_all(&self.read).await?;
        rows.iter().map(rows::price_version).collect()
    }

    async fn upsert_source_state(&self, st: &SourceStateRow) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::UPSERT_SOURCE_STATE)
            .bind(&st.name)
            .bind(st.last_attempt.map(ts))
            .bind(st.last_success.map(ts))
            .bind(&st.last_error)
            .bind(st.last_error_at.map(ts))
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
        let rows = sqlx::query(queries::SOURCE_STATES).fetch_all(&self.read).await?;
        rows.iter().map(rows::source_state).collect()
    }

    async fn apply_price_change(
        &self,
        v: &PriceVersionRow,
        u: &PriceUpdateRow,
        effect: PendingEffect,
    ) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        Self::insert_version_in(&mut tx, v).await?;
        sqlx::query(queries::INSERT_PRICE_UPDATE)
            .bind(u.id.to_string())
            .bind(&u.provider)
            .bind(&u.model)
            .bind(u.version_id.to_string())
            .bind(&u.source)
            .bind(&u.kind)
            .bind(&u.status)
            .bind(&u.changes)
            .bind(ts(u.created_at))
            .execute(&mut *tx)
            .await?;
        match effect {
            // Approval and the new version commit together, once: a concurrent approve,
            // reject or supersede makes this one fail and roll back.
            PendingEffect::Approve(id) => {
                let done = sqlx::query(queries::APPROVE_PENDING)
                    .bind(ts(u.created_at))
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
                Self::supersede_pending_in(&mut tx, &u.provider, &u.model, u.created_at).await?;
            }
        }
        sqlx::query(queries::BUMP_CATALOG).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_price_updates(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        limit: u32,
    ) -> StorageResult<Vec<PriceUpdateRow>> {
        let rows = sqlx::query(queries::LIST_PRICE_UPDATES)
            .bind(provider)
            .bind(model)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rows::price_update).collect()
    }

    async fn insert_pending(&self, p: &PendingRow) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        Self::supersede_pending_in(&mut tx, &p.provider, &p.model, p.created_at).await?;
        sqlx::query(queries::INSERT_PENDING)
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
            .bind(ts(p.created_at))
            .bind(p.decided_at.map(ts))
            .bind(&p.note)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_pending(&self, status: Option<&str>, limit: u32) -> StorageResult<Vec<PendingRow>> {
        let rows =
            sqlx::query(queries::LIST_PENDING).bind(status).bind(i64::from(limit.max(1))).fetch_all(&self.read).await?;
        rows.iter().map(rows::pending).collect()
    }

    async fn get_pending(&self, id: Uuid) -> StorageResult<Option<PendingRow>> {
        let row = sqlx::query(queries::GET_PENDING).bind(id.to_string()).fetch_optional(&self.read).await?;
        row.as_ref().map(rows::pending).transpose()
    }

    async fn decide_pending(
        &self,
        id: Uuid,
        status: &str,
        at: DateTime<Utc>,
        note: Option<&str>,
    ) -> StorageResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(queries::DECIDE_PENDING)
            .bind(status)
            .bind(ts(at))
            .bind(note)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
