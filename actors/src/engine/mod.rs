//! The engine: the typed handle every front door calls. It owns the price book, the budget
//! catalogue and the budget subtree's handle, and coordinates multi-budget operations:
//! reserve in each matching budget's actor in budget-id order (releasing earlier
//! reservations when a later one refuses), then make the result durable before answering.
//!
//! One file per operation: `lifecycle` (start, shutdown, sweeper), `catalogue` (budgets and
//! policies), `allocate`, `record`, `release`, `reports` (status, usage, alerts) and
//! `prices` (price administration).

mod allocate;
mod catalogue;
mod check;
mod import;
mod lifecycle;
mod price_store;
mod prices;
mod record;
mod release;
mod reports;

use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

pub use price_store::{HeldChange, HeldEffect, PriceChange, UpdateRecord};

use crate::budgets::BudgetActors;
use crate::domain::{Allocation, Budget};
use crate::error::EngineError;
use crate::prices::PriceBook;
use crate::storage::Repository;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Zone that period windows align to unless a policy names its own.
    pub default_timezone: Tz,
    pub default_ttl: Duration,
    pub max_ttl: Duration,
    /// How often expired leases are swept.
    pub sweep_interval: Duration,
    /// Windows (period or session totals) a budget actor keeps in memory before a sweep
    /// drops those no lease holds; a dropped window is re-read from storage when next used.
    pub window_cache_limit: usize,
    /// A repeating alert (a failing price source) is raised at most once in this long.
    pub alert_cooldown: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_timezone: Tz::UTC,
            default_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(86_400),
            sweep_interval: Duration::from_secs(1),
            window_cache_limit: 10_000,
            alert_cooldown: Duration::from_secs(3600),
        }
    }
}

struct Inner {
    repo: Arc<dyn Repository>,
    prices: PriceBook,
    budgets: RwLock<Arc<Vec<Arc<Budget>>>>,
    /// The budget subtree: one BudgetActor per budget.
    actors: BudgetActors,
    config: EngineConfig,
    /// The storage catalogue version the in-memory budgets reflect (shared databases only).
    catalog_version: std::sync::atomic::AtomicI64,
    /// Active allocations of this daemon, so that settle and release need no database read.
    /// Embedded database only: with a shared one, another daemon may change them.
    active: std::sync::Mutex<HashMap<Uuid, Allocation>>,
    /// Orders budget updates (see `announce_update`).
    update_seq: std::sync::atomic::AtomicU64,
    /// Bumped (under the `budgets` lock) by every change of the in-memory catalogue, so a
    /// reload that read the database before a change does not undo it (`sync_catalog`).
    catalog_generation: std::sync::atomic::AtomicU64,
    /// Held by every change to budgets and policies from its read of the catalogue to its
    /// replacement: each change is a read-modify-write across a storage write, and two at once
    /// would lose one in memory (or bring a budget deleted meanwhile back). Changes are rare;
    /// reads never take it.
    catalog_writes: tokio::sync::Mutex<()>,
    /// Stops the lease sweeper; its task is joined at shutdown.
    sweeper: lifecycle::Sweeper,
    /// Budget events, for `GET /events` and the AlertActor.
    events: crate::events::EventBus,
    /// Woken after alerts are stored, so the AlertActor delivers them without waiting for
    /// its next poll.
    alerts_stored: Arc<tokio::sync::Notify>,
    /// Keys of alerts this daemon stored (or found stored) on a shared database, so that a
    /// level already alerted is not written again by every later record. Bounded: cleared
    /// when full, which costs only writes that the database's key refuses.
    raised: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn repo(&self) -> &Arc<dyn Repository> {
        &self.inner.repo
    }

    pub fn prices(&self) -> &PriceBook {
        &self.inner.prices
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// This daemon's budget events.
    pub fn events(&self) -> &crate::events::EventBus {
        &self.inner.events
    }

    /// Notified whenever alerts were stored.
    pub fn alerts_stored_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.alerts_stored.clone()
    }

    fn alerts_stored(&self) {
        self.inner.alerts_stored.notify_one();
    }

    fn already_raised(&self, key: &str) -> bool {
        self.inner.raised.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    fn remember_raised(&self, key: String) {
        let mut raised = self.inner.raised.lock().unwrap_or_else(|p| p.into_inner());
        if raised.len() >= 100_000 {
            raised.clear();
        }
        raised.insert(key);
    }

    /// How many times each budget's actor was restarted.
    pub async fn actor_restarts(&self) -> Result<HashMap<Uuid, usize>, EngineError> {
        self.inner.actors.restarts().await
    }

    /// Fault injection for tests: makes a budget's actor fail.
    #[cfg(any(test, feature = "testing"))]
    pub async fn crash_budget_actor(&self, id_or_name: &str) -> Result<(), EngineError> {
        self.inner.actors.crash(&self.find_budget(id_or_name)?).await
    }

    /// Fault injection for tests: one request to a budget's actor panics.
    #[cfg(any(test, feature = "testing"))]
    pub async fn panic_in_budget_actor(&self, id_or_name: &str) -> Result<(), EngineError> {
        self.inner.actors.panic_in_request(&self.find_budget(id_or_name)?).await
    }

    /// For tests: how many windows a budget's actor holds in memory.
    #[cfg(any(test, feature = "testing"))]
    pub async fn cached_windows(&self, id_or_name: &str) -> Result<usize, EngineError> {
        self.inner.actors.cached_windows(&self.find_budget(id_or_name)?).await
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Allocation>> {
        self.inner.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached_allocation(&self, id: Uuid) -> Option<Allocation> {
        self.active().get(&id).filter(|a| a.expires_at > crate::domain::now()).cloned()
    }
}

/// Names a nested field in an invalid-input error (`policies[2].period`).
pub(super) fn prefix_field(err: EngineError, prefix: &str) -> EngineError {
    match err {
        EngineError::Invalid { field, message } => EngineError::Invalid { field: format!("{prefix}.{field}"), message },
        other => other,
    }
}
