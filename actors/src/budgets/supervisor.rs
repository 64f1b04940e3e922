//! BudgetSupervisor: spawns one BudgetActor per budget on first use and restarts a failed one
//! with its budget, rebuilding its state from storage. Restart intensity is bounded: a budget
//! whose actor fails more than `MAX_RESTARTS` times within `RESTART_WINDOW` is left stopped
//! (its calls fail with `unavailable`) until the next request asks for it again after the
//! window, instead of looping forever.

use chrono_tz::Tz;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};
use uuid::Uuid;

use super::actor::BudgetActor;
use super::messages::{ActorRegistry, ToBudgetActor, ToBudgetSupervisor};
use crate::domain::Budget;
use crate::error::EngineError;
use crate::restart::RestartIntensity;
use crate::storage::Repository;

pub const MAX_RESTARTS: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

pub struct BudgetSupervisor {
    pub repo: Arc<dyn Repository>,
    pub default_tz: Tz,
    pub window_cache_limit: usize,
    pub registry: ActorRegistry,
}

struct Child {
    budget: Arc<Budget>,
    actor: ActorRef<ToBudgetActor>,
}

pub struct SupervisorState {
    children: HashMap<Uuid, Child>,
    /// The newest version of each budget updated since start, with its `seq`: an actor
    /// spawned or restarted later starts from it.
    latest: HashMap<Uuid, (Arc<Budget>, u64)>,
    /// Budgets deleted since start: a late update of one must not bring it back.
    removed: std::collections::HashSet<Uuid>,
    intensity: RestartIntensity<Uuid>,
    restarts: HashMap<Uuid, usize>,
}

impl BudgetSupervisor {
    async fn spawn_child(
        &self,
        myself: &ActorRef<ToBudgetSupervisor>,
        budget: Arc<Budget>,
    ) -> Result<ActorRef<ToBudgetActor>, EngineError> {
        let handler = BudgetActor {
            repo: self.repo.clone(),
            default_tz: self.default_tz,
            window_cache_limit: self.window_cache_limit,
        };
        let (actor, _join) = Actor::spawn_linked(None, handler, budget.clone(), myself.get_cell())
            .await
            .map_err(|e| EngineError::Unavailable(format!("cannot start actor for budget '{}': {e}", budget.name)))?;
        Ok(actor)
    }

    fn publish(&self, id: Uuid, actor: Option<&ActorRef<ToBudgetActor>>) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        match actor {
            Some(a) => {
                registry.insert(id, a.clone());
            }
            None => {
                registry.remove(&id);
            }
        }
    }

    fn child_of(state: &SupervisorState, cell: &ActorCell) -> Option<Uuid> {
        state.children.iter().find(|(_, c)| c.actor.get_id() == cell.get_id()).map(|(id, _)| *id)
    }
}

impl Actor for BudgetSupervisor {
    type Msg = ToBudgetSupervisor;
    type State = SupervisorState;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, _: ()) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            children: HashMap::new(),
            latest: HashMap::new(),
            removed: std::collections::HashSet::new(),
            intensity: RestartIntensity::new(MAX_RESTARTS, RESTART_WINDOW),
            restarts: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ToBudgetSupervisor,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToBudgetSupervisor::ActorFor { budget, reply } => {
                let result = match state.children.get(&budget.id) {
                    Some(child) => Ok(child.actor.clone()),
                    None if state.intensity.resting(&budget.id) => Err(EngineError::Unavailable(format!(
                        "budget '{}' failed more than {MAX_RESTARTS} times in {} s; retry later",
                        budget.name,
                        RESTART_WINDOW.as_secs()
                    ))),
                    None => {
                        // An update processed before this request may be newer than the
                        // caller's copy.
                        let newest = state.latest.get(&budget.id);
                        let budget = newest.map(|(b, _)| b.clone()).unwrap_or(budget);
                        match self.spawn_child(&myself, budget.clone()).await {
                            Ok(actor) => {
                                if let Some((b, seq)) = newest {
                                    let _ = actor.cast(ToBudgetActor::Update { budget: b.clone(), seq: *seq });
                                }
                                self.publish(budget.id, Some(&actor));
                                state.children.insert(budget.id, Child { budget, actor: actor.clone() });
                                Ok(actor)
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                let _ = reply.send(result);
            }
            ToBudgetSupervisor::Update { budget, seq } => {
                if state.removed.contains(&budget.id)
                    || state.latest.get(&budget.id).is_some_and(|(_, newest)| *newest >= seq)
                {
                    return Ok(());
                }
                state.latest.insert(budget.id, (budget.clone(), seq));
                if let Some(child) = state.children.get_mut(&budget.id) {
                    // Also forwarded: if the actor was restarted between the engine's direct
                    // message and this one, the direct message went to the dead actor and the
                    // new one was built from the old version. The actor ignores the copy it
                    // already has (by `seq`).
                    let _ = child.actor.cast(ToBudgetActor::Update { budget: budget.clone(), seq });
                    child.budget = budget;
                }
            }
            ToBudgetSupervisor::Remove(id) => {
                self.publish(id, None);
                state.latest.remove(&id);
                state.removed.insert(id);
                if let Some(child) = state.children.remove(&id) {
                    child.actor.stop(Some("budget deleted".into()));
                }
            }
            ToBudgetSupervisor::SweepAll => {
                for child in state.children.values() {
                    let _ = child.actor.cast(ToBudgetActor::Sweep);
                }
            }
            ToBudgetSupervisor::Restarts(reply) => {
                let _ = reply.send(state.restarts.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Handled here so that one failing budget never stops the supervisor (ractor's default).
        match event {
            SupervisionEvent::ActorFailed(cell, reason) => {
                let Some(id) = Self::child_of(state, &cell) else { return Ok(()) };
                let Some(child) = state.children.remove(&id) else { return Ok(()) };
                self.publish(id, None);
                warn!(target: "engine", budget = %child.budget.name, %reason, "budget actor failed");
                let failures = state.intensity.record(id);
                if state.intensity.exceeded(failures) {
                    error!(target: "engine", budget = %child.budget.name, "budget actor keeps failing; not restarting now");
                    return Ok(());
                }
                match self.spawn_child(&myself, child.budget.clone()).await {
                    Ok(actor) => {
                        *state.restarts.entry(id).or_default() += 1;
                        if let Some((b, seq)) = state.latest.get(&id) {
                            let _ = actor.cast(ToBudgetActor::Update { budget: b.clone(), seq: *seq });
                        }
                        self.publish(id, Some(&actor));
                        info!(target: "engine", budget = %child.budget.name, "budget actor restarted from storage");
                        state.children.insert(id, Child { budget: child.budget, actor });
                    }
                    Err(e) => error!(target: "engine", error = %e, "budget actor restart failed"),
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                if let Some(id) = Self::child_of(state, &cell) {
                    state.children.remove(&id);
                    self.publish(id, None);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
