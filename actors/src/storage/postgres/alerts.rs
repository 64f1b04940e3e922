//! Alert channels and the delivery log on PostgreSQL. Several daemons share them: a delivery is
//! claimed with `FOR UPDATE SKIP LOCKED`, so each is sent by one daemon at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PostgresRepository;
use crate::domain::{Alert, AlertChannel, AlertDelivery, AttemptOutcome};
use crate::storage::rows::{self, channel_json};
use crate::storage::{AlertStore, DeliveryFilter, StorageResult, finish_columns, name_taken, queries};

impl PostgresRepository {
    async fn write_channel(&self, sql: &'static str, c: &AlertChannel) -> StorageResult<u64> {
        let (kinds, budgets, quiet) = channel_json(c)?;
        let mut tx = self.read.begin().await?;
        let mut q = sqlx::query(sql)
            .bind(c.id.to_string())
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(&c.url)
            .bind(&c.secret)
            .bind(c.min_severity.as_str())
            .bind(kinds)
            .bind(budgets)
            .bind(quiet)
            .bind(c.enabled);
        if sql == queries::INSERT_CHANNEL {
            q = q.bind(c.created_at);
        }
        let done = q.bind(c.updated_at).execute(&mut *tx).await.map_err(name_taken)?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl AlertStore for PostgresRepository {
    async fn insert_channel(&self, channel: &AlertChannel) -> StorageResult<()> {
        self.write_channel(queries::INSERT_CHANNEL, channel).await.map(|_| ())
    }

    async fn update_channel(&self, channel: &AlertChannel) -> StorageResult<bool> {
        Ok(self.write_channel(queries::UPDATE_CHANNEL, channel).await? > 0)
    }

    async fn delete_channel(&self, id: Uuid) -> StorageResult<bool> {
        let mut tx = self.read.begin().await?;
        let done = sqlx::query(queries::DELETE_CHANNEL).bind(id.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_channels(&self) -> StorageResult<Vec<AlertChannel>> {
        let rows = sqlx::query(queries::LIST_CHANNELS).fetch_all(&self.read).await?;
        rows.iter().map(rows::channel).collect()
    }

    async fn get_alert(&self, id: Uuid) -> StorageResult<Option<Alert>> {
        let row = sqlx::query(queries::GET_ALERT).bind(id.to_string()).fetch_optional(&self.read).await?;
        row.as_ref().map(rows::alert).transpose()
    }

    async fn undispatched_alerts(&self, limit: u32) -> StorageResult<Vec<Alert>> {
        let rows = sqlx::query(queries::UNDISPATCHED_ALERTS).bind(i64::from(limit)).fetch_all(&self.read).await?;
        rows.iter().map(rows::alert).collect()
    }

    async fn dispatch_alerts(
        &self,
        alert_ids: &[Uuid],
        deliveries: &[(Uuid, Uuid, Uuid)],
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        let mut tx = self.read.begin().await?;
        for (id, alert, channel) in deliveries {
            sqlx::query(queries::INSERT_DELIVERY)
                .bind(id.to_string())
                .bind(alert.to_string())
                .bind(channel.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        for id in alert_ids {
            sqlx::query(queries::MARK_DISPATCHED).bind(id.to_string()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StorageResult<Vec<AlertDelivery>> {
        if sqlx::query(queries::ANY_DUE_DELIVERY).bind(now).fetch_optional(&self.read).await?.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.read.begin().await?;
        let rows = sqlx::query(queries::CLAIM_DELIVERIES_POSTGRES)
            .bind(now)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(rows::delivery).collect()
    }

    async fn finish_delivery(&self, id: Uuid, outcome: &AttemptOutcome, at: DateTime<Utc>) -> StorageResult<()> {
        let (status, attempts, next, code, error, delivered) = finish_columns(outcome, at);
        let mut tx = self.read.begin().await?;
        sqlx::query(queries::FINISH_DELIVERY)
            .bind(id.to_string())
            .bind(status)
            .bind(attempts)
            .bind(next)
            .bind(code)
            .bind(error)
            .bind(delivered)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_deliveries(&self, f: &DeliveryFilter) -> StorageResult<Vec<AlertDelivery>> {
        let rows = sqlx::query(queries::LIST_DELIVERIES)
            .bind(f.alert_id.map(|a| a.to_string()))
            .bind(f.channel_id.map(|c| c.to_string()))
            .bind(f.status.map(|s| s.as_str()))
            .bind(i64::from(f.limit.max(1)))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rows::delivery).collect()
    }

    async fn resolve_alerts(&self, now: DateTime<Utc>) -> StorageResult<u64> {
        let mut tx = self.read.begin().await?;
        let done = sqlx::query(queries::RESOLVE_ALERTS).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
