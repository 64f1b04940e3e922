//! The end of a lease: release gives back what an allocation still holds; extend moves the
//! end of an active allocation's lease.

use tracing::instrument;
use uuid::Uuid;

use super::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::storage::WriteOp;

impl Engine {
    /// Returns what an allocation still holds to its budgets. Releasing twice is harmless.
    #[instrument(target = "allocation", level = "debug", skip(self))]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn release(&self, id: Uuid) -> Result<Allocation, EngineError> {
        let engine = self.clone();
        let released = tokio::spawn(async move { engine.release_to_end(id).await })
            .await
            .map_err(|e| EngineError::Internal(format!("release task: {e}")))?;
        if let Ok(a) = &released {
            self.inner.events.publish(crate::events::EventKind::AllocationReleased, || {
                serde_json::json!({"allocation_id": a.id, "status": a.status, "used_cost": a.used_cost.to_string(),
                    "budgets": a.budgets})
            });
        }
        released
    }

    async fn release_to_end(&self, id: Uuid) -> Result<Allocation, EngineError> {
        let cached = self.active().remove(&id);
        let allocation = match &cached {
            Some(a) => a.clone(),
            None => self.get_allocation(id).await?,
        };
        if allocation.status != AllocationStatus::Active {
            return Ok(allocation);
        }
        // Durable first, then memory: until the actors drop the hold they over-count, which
        // can only refuse, never over-admit; and a failed write leaves nothing to undo.
        let at = crate::domain::now();
        let closed =
            self.inner.repo.write(WriteOp::Close { allocation_id: id, status: AllocationStatus::Released, at }).await;
        if let Err(e) = closed {
            if let Some(a) = cached {
                self.active().insert(id, a);
            }
            return Err(e);
        }
        for budget_id in &allocation.budgets {
            self.inner.actors.unreserve(*budget_id, id);
        }
        metrics::counter!("budget_releases_total").increment(1);
        match cached {
            Some(mut a) => {
                a.status = AllocationStatus::Released;
                a.released_at = Some(at);
                Ok(a)
            }
            None => self.get_allocation(id).await,
        }
    }

    /// Gives an active allocation a new lease of `ttl_seconds` from now (longer or shorter),
    /// so a call that runs longer than its first lease keeps its reservation.
    #[instrument(target = "allocation", level = "debug", skip(self))]
    pub async fn extend(&self, id: Uuid, ttl_seconds: u64) -> Result<Allocation, EngineError> {
        let engine = self.clone();
        // To the end, as release: storage and the actors must agree on the lease.
        tokio::spawn(async move { engine.extend_to_end(id, ttl_seconds).await })
            .await
            .map_err(|e| EngineError::Internal(format!("extend task: {e}")))?
    }

    async fn extend_to_end(&self, id: Uuid, ttl_seconds: u64) -> Result<Allocation, EngineError> {
        let now = crate::domain::now();
        let expires_at = self.lease_end(Some(ttl_seconds), now)?;
        let cached = self.active().get(&id).cloned();
        let allocation = match cached {
            Some(a) => a,
            None => self.get_allocation(id).await?,
        };
        let not_active = |a: &Allocation| {
            EngineError::Conflict(format!(
                "allocation {id} is {}: only an active allocation's lease can be extended",
                if a.status == AllocationStatus::Active { "past its lease" } else { a.status.as_str() }
            ))
        };
        if allocation.status != AllocationStatus::Active || allocation.expires_at <= now {
            return Err(not_active(&allocation));
        }
        // Durable first: storage moves the lease only while the allocation is active and its
        // lease has not run out, and the expiry sweep closes only leases that did.
        self.inner.repo.write(WriteOp::Extend { allocation_id: id, expires_at, at: now }).await?;
        let stored =
            self.inner.repo.get_allocation(id).await?.ok_or_else(|| EngineError::not_found("allocation", id))?;
        if stored.status != AllocationStatus::Active || stored.expires_at != expires_at {
            return Err(not_active(&stored));
        }
        // Then memory: each budget holding a part of it moves the lease in its actor.
        let held_in: std::collections::BTreeSet<Uuid> =
            self.inner.repo.allocation_holds(id, now).await?.iter().map(|h| h.budget_id).collect();
        for budget_id in held_in {
            self.inner.actors.extend(budget_id, id, expires_at);
        }
        // The cached entry, when there is one, also knows what the allocation has used.
        let cached = self.active().get_mut(&id).map(|entry| {
            entry.expires_at = expires_at;
            entry.clone()
        });
        metrics::counter!("budget_extensions_total").increment(1);
        Ok(cached.unwrap_or(stored))
    }
}
