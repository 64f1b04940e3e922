//! Release: give back what an allocation still holds.

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
}
