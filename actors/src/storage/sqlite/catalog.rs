use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::{SqliteRepository, ts};
use crate::domain::{ApiKeyInfo, Budget, Policy};
use crate::error::EngineError;
use crate::storage::rows::{self, from_json, is_unique_violation, to_json};
use crate::storage::{ApiKeyStore, CatalogStore, StorageResult, queries};

impl SqliteRepository {
    async fn bump_catalog(conn: &mut sqlx::SqliteConnection) -> StorageResult<()> {
        sqlx::query(queries::BUMP_CATALOG).execute(&mut *conn).await?;
        Ok(())
    }

    async fn upsert_policy_in(conn: &mut sqlx::SqliteConnection, p: &Policy) -> StorageResult<()> {
        sqlx::query(queries::UPSERT_POLICY)
            .bind(p.id.to_string())
            .bind(p.budget_id.to_string())
            .bind(to_json(p)?)
            .bind(ts(p.created_at))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

fn name_taken(b: &Budget) -> EngineError {
    EngineError::Conflict(format!("a budget named '{}' already exists", b.name))
}

#[async_trait]
impl CatalogStore for SqliteRepository {
    async fn catalog_version(&self) -> StorageResult<i64> {
        let row = sqlx::query(queries::CATALOG_VERSION).fetch_one(&self.read).await?;
        Ok(row.try_get("version")?)
    }

    async fn insert_budget(&self, b: &Budget) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(queries::INSERT_BUDGET)
            .bind(b.id.to_string())
            .bind(&b.name)
            .bind(&b.description)
            .bind(&b.owner)
            .bind(to_json(&b.scope)?)
            .bind(ts(b.created_at))
            .bind(ts(b.updated_at))
            .execute(&mut *tx)
            .await;
        if let Err(e) = &inserted
            && is_unique_violation(e)
        {
            return Err(name_taken(b));
        }
        inserted?;
        for p in &b.policies {
            Self::upsert_policy_in(&mut tx, p).await?;
        }
        Self::bump_catalog(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_budget(&self, b: &Budget) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(queries::UPDATE_BUDGET)
            .bind(&b.name)
            .bind(&b.description)
            .bind(&b.owner)
            .bind(to_json(&b.scope)?)
            .bind(ts(b.updated_at))
            .bind(b.id.to_string())
            .execute(&mut *tx)
            .await;
        if let Err(e) = &updated
            && is_unique_violation(e)
        {
            return Err(name_taken(b));
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
        sqlx::query(queries::DELETE_BUDGET_POLICIES).bind(id.to_string()).execute(&mut *tx).await?;
        sqlx::query(queries::DELETE_BUDGET_HOLDS).bind(id.to_string()).execute(&mut *tx).await?;
        let deleted = sqlx::query(queries::DELETE_BUDGET).bind(id.to_string()).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(EngineError::not_found("budget", id));
        }
        Self::bump_catalog(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_budgets(&self) -> StorageResult<Vec<Budget>> {
        let rows = sqlx::query(queries::LIST_BUDGETS).fetch_all(&self.read).await?;
        let mut budgets = rows.iter().map(rows::budget).collect::<StorageResult<Vec<_>>>()?;
        let policy_rows = sqlx::query(queries::LIST_POLICY_BODIES).fetch_all(&self.read).await?;
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
        Self::upsert_policy_in(&mut tx, p).await?;
        Self::bump_catalog(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_policy(&self, id: Uuid) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(queries::DELETE_POLICY).bind(id.to_string()).execute(&mut *tx).await?;
        if deleted.rows_affected() == 0 {
            return Err(EngineError::not_found("policy", id));
        }
        sqlx::query(queries::DELETE_POLICY_HOLDS).bind(id.to_string()).execute(&mut *tx).await?;
        Self::bump_catalog(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for SqliteRepository {
    async fn insert_key(&self, info: &ApiKeyInfo, key_hash: &str) -> StorageResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(queries::INSERT_KEY)
            .bind(info.id.to_string())
            .bind(&info.name)
            .bind(info.role.as_str())
            .bind(&info.prefix)
            .bind(key_hash)
            .bind(ts(info.created_at))
            .bind(info.revoked_at.map(ts))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_key(&self, key_hash: &str) -> StorageResult<Option<ApiKeyInfo>> {
        let row = sqlx::query(queries::FIND_KEY).bind(key_hash).fetch_optional(&self.read).await?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn list_keys(&self) -> StorageResult<Vec<ApiKeyInfo>> {
        let rows = sqlx::query(queries::LIST_KEYS).fetch_all(&self.read).await?;
        rows.iter().map(rows::key).collect()
    }

    async fn revoke_key(&self, id: Uuid, at: DateTime<Utc>) -> StorageResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(queries::REVOKE_KEY).bind(ts(at)).bind(id.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
