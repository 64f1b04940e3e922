//! The budget subtree: a BudgetSupervisor with one BudgetActor per budget, spawned on first
//! use. [`BudgetActors`] is the only way in: callers never build messages or hold the
//! registry of live actors.

mod actor;
mod messages;
mod supervisor;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ractor::{Actor, ActorCell, ActorRef, call};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

pub use actor::BudgetActor;
pub use messages::{ReserveRequest, SettleOutcome, SettleRequest};
pub use supervisor::{MAX_RESTARTS, RESTART_WINDOW};

use crate::api::PolicyStatus;
use crate::domain::{Budget, CallScope, Charge, Hold, HoldShrink};
use crate::error::EngineError;
use crate::storage::Repository;
use messages::{ActorRegistry, ToBudgetActor, ToBudgetSupervisor};
use supervisor::BudgetSupervisor;

/// Typed handle on the budget subtree. Cheap to clone.
#[derive(Clone)]
pub struct BudgetActors {
    supervisor: ActorRef<ToBudgetSupervisor>,
    /// Written by the supervisor whenever it spawns, restarts or stops an actor; read on
    /// every call, so the hot path needs no round trip through the supervisor.
    registry: ActorRegistry,
}

/// The actor that answered a settle. A follow-up about that change (its undo, or that its
/// write committed) must reach that actor, not a successor rebuilt from storage since,
/// which never had the change: to a dead actor the follow-up is dropped, rightly.
#[derive(Clone)]
pub struct SettledBy(ActorRef<ToBudgetActor>);

impl SettledBy {
    /// Takes back exactly what the settle added (its write failed or was a duplicate).
    pub fn unsettle(&self, charges: Vec<Charge>, hold_shrinks: Vec<HoldShrink>) {
        let _ = self.0.cast(ToBudgetActor::Unsettle { charges, hold_shrinks });
    }

    /// The settle's write committed: its windows may be evicted again.
    pub fn settle_done(&self, windows: Vec<(Uuid, String)>) {
        let _ = self.0.cast(ToBudgetActor::SettleDone { windows });
    }
}

impl BudgetActors {
    /// Starts the BudgetSupervisor, linked under `parent` (the root supervisor) when given.
    pub async fn start(
        repo: Arc<dyn Repository>,
        default_tz: Tz,
        window_cache_limit: usize,
        parent: Option<ActorCell>,
    ) -> Result<BudgetActors, EngineError> {
        let registry: ActorRegistry = Arc::new(RwLock::new(HashMap::new()));
        let supervisor = BudgetSupervisor { repo, default_tz, window_cache_limit, registry: registry.clone() };
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(Some("budgets".into()), supervisor, (), parent).await,
            None => Actor::spawn(None, supervisor, ()).await,
        };
        let (supervisor, _) =
            spawned.map_err(|e| EngineError::Internal(format!("cannot start the budget supervisor: {e}")))?;
        Ok(BudgetActors { supervisor, registry })
    }

    /// Stops the subtree (every BudgetActor with it) and waits until it has stopped.
    pub async fn stop(&self) {
        let wait = Some(std::time::Duration::from_secs(10));
        if let Err(e) = self.supervisor.stop_and_wait(Some("shutdown".into()), wait).await {
            tracing::warn!(target: "engine", error = %e, "the budget subtree did not stop cleanly");
        }
    }

    /// Reserves an estimate in one budget, on every matching policy, all or nothing.
    pub async fn reserve(&self, budget: &Arc<Budget>, request: ReserveRequest) -> Result<Vec<Hold>, EngineError> {
        self.ask(budget, |reply| ToBudgetActor::Reserve { request: request.clone(), reply }).await.map(|(r, _)| r)
    }

    /// Drops what an allocation holds in one budget.
    pub fn unreserve(&self, budget_id: Uuid, allocation_id: Uuid) {
        self.tell(budget_id, ToBudgetActor::Unreserve { allocation_id });
    }

    /// Moves the end of an allocation's lease in one budget (stored already).
    pub fn extend(&self, budget_id: Uuid, allocation_id: Uuid, expires_at: chrono::DateTime<chrono::Utc>) {
        self.tell(budget_id, ToBudgetActor::Extend { allocation_id, expires_at });
    }

    /// Charges a usage to one budget's windows; answers with the actor that did it.
    pub async fn settle(
        &self,
        budget: &Arc<Budget>,
        request: SettleRequest,
    ) -> Result<(SettleOutcome, SettledBy), EngineError> {
        self.ask(budget, |reply| ToBudgetActor::Settle { request: request.clone(), reply })
            .await
            .map(|(outcome, actor)| (outcome, SettledBy(actor)))
    }

    /// Standing of one budget's policies (those matching `call`, if given) at `at`.
    pub async fn status(
        &self,
        budget: &Arc<Budget>,
        at: DateTime<Utc>,
        context_id: Option<&str>,
        call: Option<&CallScope>,
    ) -> Result<Vec<PolicyStatus>, EngineError> {
        let context_id = context_id.map(String::from);
        let call = call.cloned();
        self.ask(budget, |reply| ToBudgetActor::Status {
            at,
            context_id: context_id.clone(),
            call: call.clone(),
            reply,
        })
        .await
        .map(|(r, _)| r)
    }

    /// A new version of a budget. Sent to the actor directly, so the change is ordered before
    /// this caller's next request, and to the supervisor, which keeps it for restarts and
    /// passes it on; `seq` lets the actor ignore whichever copy of an older version is late.
    pub fn update(&self, budget: Arc<Budget>, seq: u64) {
        self.tell(budget.id, ToBudgetActor::Update { budget: budget.clone(), seq });
        let _ = self.supervisor.cast(ToBudgetSupervisor::Update { budget, seq });
    }

    /// A deleted budget: its actor stops and a late update cannot bring it back.
    pub fn remove(&self, budget_id: Uuid) {
        let _ = self.supervisor.cast(ToBudgetSupervisor::Remove(budget_id));
    }

    /// Every actor drops the holds whose lease ran out.
    pub fn sweep_all(&self) {
        let _ = self.supervisor.cast(ToBudgetSupervisor::SweepAll);
    }

    /// How many times each budget's actor was restarted.
    pub async fn restarts(&self) -> Result<HashMap<Uuid, usize>, EngineError> {
        call!(self.supervisor, ToBudgetSupervisor::Restarts).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    /// Fault injection for tests: makes a budget's actor fail.
    #[cfg(any(test, feature = "testing"))]
    pub async fn crash(&self, budget: &Arc<Budget>) -> Result<(), EngineError> {
        let actor = self.actor_for(budget).await?;
        actor.cast(ToBudgetActor::Crash).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    /// Fault injection for tests: one request to a budget's actor panics.
    #[cfg(any(test, feature = "testing"))]
    pub async fn panic_in_request(&self, budget: &Arc<Budget>) -> Result<(), EngineError> {
        let actor = self.actor_for(budget).await?;
        call!(actor, ToBudgetActor::PanicInRequest).map_err(|e| EngineError::Unavailable(e.to_string()))?
    }

    /// For tests: how many windows a budget's actor holds in memory.
    #[cfg(any(test, feature = "testing"))]
    pub async fn cached_windows(&self, budget: &Arc<Budget>) -> Result<usize, EngineError> {
        let actor = self.actor_for(budget).await?;
        call!(actor, ToBudgetActor::CachedWindows).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    async fn actor_for(&self, budget: &Arc<Budget>) -> Result<ActorRef<ToBudgetActor>, EngineError> {
        if let Some(actor) = self.registry.read().unwrap_or_else(|p| p.into_inner()).get(&budget.id) {
            return Ok(actor.clone());
        }
        self.fresh_actor(budget).await
    }

    async fn fresh_actor(&self, budget: &Arc<Budget>) -> Result<ActorRef<ToBudgetActor>, EngineError> {
        call!(self.supervisor, |reply| ToBudgetSupervisor::ActorFor { budget: budget.clone(), reply })
            .map_err(|e| EngineError::Unavailable(format!("budget supervisor: {e}")))?
    }

    /// Calls a budget's actor; if it died in between, asks the supervisor for its successor
    /// once. Answers with the actor that answered.
    async fn ask<T: Send + 'static>(
        &self,
        budget: &Arc<Budget>,
        build: impl Fn(ractor::RpcReplyPort<Result<T, EngineError>>) -> ToBudgetActor,
    ) -> Result<(T, ActorRef<ToBudgetActor>), EngineError> {
        let actor = self.actor_for(budget).await?;
        match actor.call(&build, None).await {
            Ok(ractor::rpc::CallResult::Success(result)) => result.map(|r| (r, actor)),
            _ => {
                let actor = self.fresh_actor(budget).await?;
                match actor.call(&build, None).await {
                    Ok(ractor::rpc::CallResult::Success(result)) => result.map(|r| (r, actor)),
                    Ok(_) => Err(EngineError::Unavailable(format!("budget '{}' did not answer", budget.name))),
                    Err(e) => Err(EngineError::Unavailable(format!("budget '{}': {e}", budget.name))),
                }
            }
        }
    }

    fn tell(&self, budget_id: Uuid, message: ToBudgetActor) {
        if let Some(actor) = self.registry.read().unwrap_or_else(|p| p.into_inner()).get(&budget_id) {
            let _ = actor.cast(message);
        }
    }
}
