//! Start, shutdown and the lease sweeper.

use ractor::ActorCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::*;
use crate::domain::{Alert, AlertKind, AllocationStatus, Severity};
use crate::prices::PriceVersion;
use crate::pricing::PriceTable;
use crate::storage::WriteOp;

/// The sweeper task and the switch that stops it.
pub(super) struct Sweeper {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Starts the engine over an opened repository, on its own (tests, benchmarks). The
    /// daemon starts it under the root supervisor instead (`crate::tree::Tree`).
    pub async fn start(repo: Arc<dyn Repository>, config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::start_under(repo, config, None).await
    }

    /// Starts the engine: loads budgets and price versions, starts the budget subtree (linked
    /// under `parent` when given) and the lease sweeper.
    pub async fn start_under(
        repo: Arc<dyn Repository>,
        config: EngineConfig,
        parent: Option<ActorCell>,
    ) -> Result<Engine, EngineError> {
        let builtin = PriceTable::builtin().map_err(|e| EngineError::Internal(format!("built-in price table: {e}")))?;
        let stored = repo.price_versions().await?.iter().map(PriceVersion::from_row).collect::<Result<Vec<_>, _>>()?;
        let prices = PriceBook::new(builtin, stored);
        let catalog_version = repo.catalog_version().await?;
        let budgets: Vec<Arc<Budget>> = repo.list_budgets().await?.into_iter().map(Arc::new).collect();
        let actors =
            BudgetActors::start(repo.clone(), config.default_timezone, config.window_cache_limit, parent).await?;
        info!(target: "engine", budgets = budgets.len(), prices = prices.builtin_len(), backend = repo.backend(), "engine started");
        let (stop, _) = watch::channel(false);
        let engine = Engine {
            inner: Arc::new(Inner {
                repo,
                prices,
                budgets: RwLock::new(Arc::new(budgets)),
                actors,
                config,
                catalog_version: std::sync::atomic::AtomicI64::new(catalog_version),
                active: std::sync::Mutex::new(HashMap::new()),
                update_seq: std::sync::atomic::AtomicU64::new(0),
                catalog_generation: std::sync::atomic::AtomicU64::new(0),
                catalog_writes: tokio::sync::Mutex::new(()),
                sweeper: Sweeper { stop, task: std::sync::Mutex::new(None) },
                events: crate::events::EventBus::default(),
                alerts_stored: Arc::new(tokio::sync::Notify::new()),
                raised: std::sync::Mutex::new(std::collections::HashSet::new()),
            }),
        };
        engine.spawn_sweeper();
        Ok(engine)
    }

    /// Stops the sweeper (and waits for it) and the budget subtree. Storage stays open: it
    /// belongs to whoever opened it (the root closes it after everything that writes).
    pub async fn shutdown(&self) {
        let _ = self.inner.sweeper.stop.send(true);
        let task = self.inner.sweeper.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            warn!(target: "engine", error = %e, "lease sweeper ended abnormally");
        }
        self.inner.actors.stop().await;
        info!(target: "engine", "engine stopped");
    }

    fn spawn_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let period = self.inner.config.sweep_interval;
        let mut stop = self.inner.sweeper.stop.subscribe();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.changed() => break,
                }
                let Some(inner) = weak.upgrade() else { break };
                let engine = Engine { inner };
                if let Err(e) = engine.sweep_expired().await {
                    warn!(target: "engine", error = %e, "lease sweep failed");
                }
            }
        });
        *self.inner.sweeper.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Marks every lease that ran out as expired, in memory and in storage.
    pub async fn sweep_expired(&self) -> Result<usize, EngineError> {
        self.inner.actors.sweep_all();
        let now = crate::domain::now();
        let expired = self.inner.repo.expired_active_allocations(now).await?;
        {
            let mut active = self.active();
            for id in &expired {
                active.remove(id);
            }
        }
        // Together, so that on SQLite they share group commits instead of one fsync each.
        let closes = expired.iter().map(|id| {
            self.inner.repo.write(WriteOp::Close { allocation_id: *id, status: AllocationStatus::Expired, at: now })
        });
        for result in futures::future::join_all(closes).await {
            result?;
        }
        debug!(target: "allocation", expired = expired.len(), "leases expired");
        if let Some(first) = expired.first() {
            metrics::counter!("budget_allocations_expired_total").increment(expired.len() as u64);
            // Once a day (the key): a caller that never releases would otherwise raise one per
            // lease.
            let alert = Alert {
                id: Uuid::now_v7(),
                severity: Severity::Info,
                kind: AlertKind::AllocationExpired,
                budget_id: None,
                policy_id: None,
                message: format!(
                    "{} allocation lease(s) ran out without a release (first: {first}); callers should release what they do not use",
                    expired.len()
                ),
                details: serde_json::json!({"expired": expired.len(), "first": first}),
                created_at: now,
                acknowledged: false,
                acknowledged_at: None,
                dedup_key: Some(format!("{}:{}", AlertKind::AllocationExpired, now.date_naive())),
                window_end: None,
                resolved_at: None,
            };
            match self.inner.repo.write(WriteOp::Alert(alert)).await {
                Ok(_) => self.alerts_stored(),
                Err(e) => tracing::warn!(target: "engine", error = %e, "allocation_expired alert not stored"),
            }
        }
        Ok(expired.len())
    }
}
