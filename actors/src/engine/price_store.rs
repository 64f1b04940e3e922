//! The price store: the one way a price is put in force (a manual price, a change the
//! monitor verified, an approved or a backfilled one), and the monitor's records (held
//! changes, update records, source health). The price monitor asks these methods and never
//! touches storage rows; the conversion between rows and its types is written here, once.

use chrono::{DateTime, Utc};
use tracing::debug;
use uuid::Uuid;

use super::*;
use crate::domain::Alert;
use crate::monitor::{FieldChange, PendingChange, PriceUpdate, SourceHealth, Verification};
use crate::prices::PriceVersion;
use crate::pricing::ModelPrice;
use crate::storage::{PendingEffect, PendingRow, PriceUpdateRow, PriceVersionRow, SourceStateRow, WriteOp};

/// What putting a price in force does to the model's held changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeldEffect {
    /// It approves this held change (and fails if that is no longer pending).
    Approves(Uuid),
    /// A price applied by itself makes older proposals stale.
    Supersedes,
    /// A backfilled past period says nothing about proposals for the present.
    Keeps,
}

/// The update record a price change leaves in `/prices/updates` (a manual price leaves none).
pub struct UpdateRecord<'a> {
    pub source: &'a str,
    /// `auto`, `approved` or `backfill`.
    pub kind: &'a str,
    pub status: Verification,
    pub changes: &'a [FieldChange],
    pub effect: HeldEffect,
}

/// A new price version.
pub struct PriceChange<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub price: &'a ModelPrice,
    /// Where the version came from (`manual`, a source's name, `name:history`).
    pub source: String,
    pub effective_from: DateTime<Utc>,
    /// Set for a closed past period (backfill).
    pub effective_to: Option<DateTime<Utc>>,
    pub update: Option<UpdateRecord<'a>>,
}

/// A change to hold for approval.
pub struct HeldChange<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    /// `threshold`, `conflict`, `manual` or `untrusted`.
    pub reason: &'a str,
    pub verification: Verification,
    pub proposed: &'a ModelPrice,
    pub changes: &'a [FieldChange],
    pub candidates: serde_json::Value,
    pub source: &'a str,
    pub at: DateTime<Utc>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, EngineError> {
    serde_json::to_string(value).map_err(|e| EngineError::Internal(format!("serialize: {e}")))
}

fn bad_row(e: serde_json::Error) -> EngineError {
    EngineError::Internal(format!("bad stored price change: {e}"))
}

fn update_from_row(r: &PriceUpdateRow) -> Result<PriceUpdate, EngineError> {
    Ok(PriceUpdate {
        id: r.id,
        provider: r.provider.clone(),
        model: r.model.clone(),
        version_id: r.version_id,
        source: r.source.clone(),
        kind: r.kind.clone(),
        status: r.status.clone(),
        changes: serde_json::from_str(&r.changes).map_err(bad_row)?,
        created_at: r.created_at,
    })
}

fn held_from_row(r: &PendingRow) -> Result<PendingChange, EngineError> {
    Ok(PendingChange {
        id: r.id,
        provider: r.provider.clone(),
        model: r.model.clone(),
        reason: r.reason.clone(),
        status: r.status.clone(),
        verification: r.verification.clone(),
        changes: serde_json::from_str(&r.changes).map_err(bad_row)?,
        candidates: serde_json::from_str(&r.candidates).map_err(bad_row)?,
        source: r.source.clone(),
        created_at: r.created_at,
        decided_at: r.decided_at,
        note: r.note.clone(),
    })
}

fn health_from_row(r: SourceStateRow) -> SourceHealth {
    SourceHealth {
        name: r.name,
        last_attempt: r.last_attempt,
        last_success: r.last_success,
        last_error: r.last_error,
        last_error_at: r.last_error_at,
        model_count: r.model_count,
        agreements: r.agreements,
        disagreements: r.disagreements,
        etag: r.etag,
        last_modified: r.last_modified,
    }
}

impl Engine {
    /// Stores a new price version (closing the one it supersedes), with its update record
    /// when given, atomically, and puts it in force in the price book. Every price change
    /// goes through here.
    pub async fn put_price_in_force(&self, change: PriceChange<'_>) -> Result<Uuid, EngineError> {
        let now = crate::domain::now();
        let version = PriceVersionRow {
            id: Uuid::now_v7(),
            provider: change.provider.to_string(),
            model: change.model.to_string(),
            source: change.source,
            body: to_json(change.price)?,
            effective_from: change.effective_from,
            effective_to: change.effective_to,
            created_at: now,
        };
        match change.update {
            None => self.inner.repo.insert_price_version(&version).await?,
            Some(update) => {
                let row = PriceUpdateRow {
                    id: Uuid::now_v7(),
                    provider: version.provider.clone(),
                    model: version.model.clone(),
                    version_id: version.id,
                    source: update.source.to_string(),
                    kind: update.kind.to_string(),
                    status: update.status.as_str().to_string(),
                    changes: to_json(&update.changes)?,
                    created_at: now,
                };
                let effect = match update.effect {
                    HeldEffect::Approves(id) => PendingEffect::Approve(id),
                    HeldEffect::Supersedes => PendingEffect::Supersede,
                    HeldEffect::Keeps => PendingEffect::Keep,
                };
                self.inner.repo.apply_price_change(&version, &row, effect).await?;
            }
        }
        self.inner.prices.add_version(PriceVersion::from_row(&version)?);
        self.inner.events.publish(crate::events::EventKind::PriceChanged, || {
            serde_json::json!({"provider": version.provider, "model": version.model, "source": version.source,
                "version_id": version.id, "effective_from": version.effective_from})
        });
        debug!(target: "engine", provider = %version.provider, model = %version.model, source = %version.source, "price put in force");
        Ok(version.id)
    }

    /// Applied price changes, newest first.
    pub async fn price_updates(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PriceUpdate>, EngineError> {
        let rows = self.inner.repo.list_price_updates(provider, model, limit).await?;
        rows.iter().map(update_from_row).collect()
    }

    /// Held changes with `status` (all when `None`).
    pub async fn held_changes(&self, status: Option<&str>, limit: u32) -> Result<Vec<PendingChange>, EngineError> {
        let rows = self.inner.repo.list_pending(status, limit).await?;
        rows.iter().map(held_from_row).collect()
    }

    /// One held change and the price it proposes.
    pub async fn held_change(&self, id: Uuid) -> Result<Option<(PendingChange, ModelPrice)>, EngineError> {
        let Some(row) = self.inner.repo.get_pending(id).await? else { return Ok(None) };
        let proposed: ModelPrice = serde_json::from_str(&row.proposed).map_err(bad_row)?;
        Ok(Some((held_from_row(&row)?, proposed)))
    }

    /// Holds a change for approval; an older pending change of the same model is superseded.
    pub async fn hold_price_change(&self, held: HeldChange<'_>) -> Result<Uuid, EngineError> {
        let row = PendingRow {
            id: Uuid::now_v7(),
            provider: held.provider.to_string(),
            model: held.model.to_string(),
            reason: held.reason.to_string(),
            status: "pending".into(),
            verification: held.verification.as_str().into(),
            proposed: to_json(held.proposed)?,
            changes: to_json(&held.changes)?,
            candidates: held.candidates.to_string(),
            source: held.source.to_string(),
            created_at: held.at,
            decided_at: None,
            note: None,
        };
        self.inner.repo.insert_pending(&row).await?;
        Ok(row.id)
    }

    /// Moves a held change to `status`; false if it was no longer pending.
    pub async fn decide_held_change(&self, id: Uuid, status: &str, note: Option<&str>) -> Result<bool, EngineError> {
        self.inner.repo.decide_pending(id, status, crate::domain::now(), note).await
    }

    /// Every source's stored health.
    pub async fn source_health(&self) -> Result<Vec<SourceHealth>, EngineError> {
        Ok(self.inner.repo.source_states().await?.into_iter().map(health_from_row).collect())
    }

    pub async fn save_source_health(&self, health: &SourceHealth) -> Result<(), EngineError> {
        let row = SourceStateRow {
            name: health.name.clone(),
            last_attempt: health.last_attempt,
            last_success: health.last_success,
            last_error: health.last_error.clone(),
            last_error_at: health.last_error_at,
            model_count: health.model_count,
            agreements: health.agreements,
            disagreements: health.disagreements,
            etag: health.etag.clone(),
            last_modified: health.last_modified.clone(),
        };
        self.inner.repo.upsert_source_state(&row).await
    }

    /// Stores an alert on its own (one not tied to a usage record). A repeating kind without
    /// a key of its own (a failing price source) is keyed by its subject and a cooldown
    /// period, so it is raised at most once per `alert_cooldown`, however often it recurs.
    pub async fn store_alert(&self, mut alert: Alert) -> Result<(), EngineError> {
        if alert.dedup_key.is_none() && alert.kind == crate::domain::AlertKind::PriceSourceFailed {
            let cooldown = self.inner.config.alert_cooldown.as_secs().max(1) as i64;
            let subject = alert.details.get("source").and_then(|s| s.as_str()).unwrap_or_default();
            let bucket = alert.created_at.timestamp().div_euclid(cooldown);
            alert.dedup_key = Some(format!("{}:{subject}:{cooldown}:{bucket}", alert.kind));
        }
        self.inner.repo.write(WriteOp::Alert(alert)).await?;
        self.alerts_stored();
        Ok(())
    }
}
