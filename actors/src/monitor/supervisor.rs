//! PriceSupervisor: starts the VerifierActor and one SourceActor per configured source,
//! restarts a failed source with a growing backoff (bounded intensity) and a failed verifier
//! at once, and answers refreshes and status questions for the handle.

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

use super::source_actor::{MAX_RESTARTS, RESTART_WINDOW, SourceActor, ToSourceActor};
#[cfg(any(test, feature = "testing"))]
use super::verifier::{ToVerifier, current};
use super::verifier::{VerifierActor, VerifierSlot};
use super::{RefreshReport, SourceStatus};
use crate::Engine;
use crate::error::EngineError;
use crate::restart::RestartIntensity;
use crate::sources::{PriceSource, SourceConfig};

pub enum ToPriceSupervisor {
    Refresh {
        source: Option<String>,
        reply: RpcReplyPort<Result<Vec<RefreshReport>, EngineError>>,
    },
    Statuses(RpcReplyPort<Vec<SourceStatus>>),
    Restart(String),
    #[cfg(any(test, feature = "testing"))]
    Panic(String),
    #[cfg(any(test, feature = "testing"))]
    CrashVerifier,
    Restarts(RpcReplyPort<HashMap<String, usize>>),
}

/// Restart-count key of the verifier in `source_restarts`.
pub const VERIFIER_KEY: &str = "(verifier)";

pub struct PriceSupervisor {
    pub engine: Engine,
    /// What the verifier is started with, again on each restart.
    pub verifier_actor: VerifierActor,
    pub verifier: VerifierSlot,
    pub sources: Vec<(SourceConfig, Arc<dyn PriceSource>)>,
    pub schedule_enabled: bool,
    pub fetch_on_start: bool,
    pub restart_backoff: Duration,
}

pub struct PriceSupervisorState {
    children: HashMap<String, ActorRef<ToSourceActor>>,
    verifier_cell: Option<ActorCell>,
    intensity: RestartIntensity<String>,
    restarts: HashMap<String, usize>,
    stopped: HashMap<String, String>,
}

impl PriceSupervisor {
    async fn spawn_child(
        &self,
        myself: &ActorRef<ToPriceSupervisor>,
        name: &str,
        fetch_now: bool,
    ) -> Option<ActorRef<ToSourceActor>> {
        let (config, source) = self.sources.iter().find(|(c, _)| c.name == name)?;
        let actor = SourceActor {
            config: config.clone(),
            source: source.clone(),
            verifier: self.verifier.clone(),
            engine: self.engine.clone(),
            schedule_enabled: self.schedule_enabled,
        };
        match Actor::spawn_linked(None, actor, fetch_now, myself.get_cell()).await {
            Ok((actor, _)) => Some(actor),
            Err(e) => {
                error!(target: "price_monitor", source = name, error = %e, "source actor did not start");
                None
            }
        }
    }

    /// Starts the verifier linked to this supervisor and publishes it in the slot.
    async fn spawn_verifier(&self, myself: &ActorRef<ToPriceSupervisor>) -> Result<ActorCell, ActorProcessingErr> {
        let (verifier, _) = Actor::spawn_linked(None, self.verifier_actor.clone(), (), myself.get_cell()).await?;
        *self.verifier.write().unwrap_or_else(|p| p.into_inner()) = Some(verifier.clone());
        Ok(verifier.get_cell())
    }

    fn name_of(state: &PriceSupervisorState, cell: &ActorCell) -> Option<String> {
        state.children.iter().find(|(_, a)| a.get_id() == cell.get_id()).map(|(n, _)| n.clone())
    }
}

impl Actor for PriceSupervisor {
    type Msg = ToPriceSupervisor;
    type State = PriceSupervisorState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, _: ()) -> Result<PriceSupervisorState, ActorProcessingErr> {
        let verifier_cell = Some(self.spawn_verifier(&myself).await?);
        let mut children = HashMap::new();
        for (config, _) in &self.sources {
            if let Some(actor) = self.spawn_child(&myself, &config.name, self.fetch_on_start).await {
                children.insert(config.name.clone(), actor);
            }
        }
        Ok(PriceSupervisorState {
            children,
            verifier_cell,
            intensity: RestartIntensity::new(MAX_RESTARTS, RESTART_WINDOW),
            restarts: HashMap::new(),
            stopped: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ToPriceSupervisor,
        state: &mut PriceSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToPriceSupervisor::Refresh { source, reply } => {
                let targets: Vec<(String, ActorRef<ToSourceActor>)> = match &source {
                    Some(name) => match state.children.get(name) {
                        Some(a) => vec![(name.clone(), a.clone())],
                        None => {
                            let known = self.sources.iter().any(|(c, _)| &c.name == name);
                            let err = if known {
                                EngineError::Unavailable(format!("price source '{name}' is stopped"))
                            } else {
                                EngineError::not_found("price source", name)
                            };
                            let _ = reply.send(Err(err));
                            return Ok(());
                        }
                    },
                    None => {
                        let mut all: Vec<_> = state.children.iter().map(|(n, a)| (n.clone(), a.clone())).collect();
                        all.sort_by(|a, b| a.0.cmp(&b.0));
                        all
                    }
                };
                // Wait in a task: the supervisor must stay free to restart children meanwhile.
                tokio::spawn(async move {
                    let mut reports = Vec::new();
                    for (name, actor) in targets {
                        match ractor::call!(actor, |r| ToSourceActor::Refresh(Some(r))) {
                            Ok(report) => reports.push(report),
                            Err(e) => reports.push(RefreshReport {
                                source: name,
                                error: Some(format!("source actor unavailable: {e}")),
                                ..Default::default()
                            }),
                        }
                    }
                    reports.sort_by(|a, b| a.source.cmp(&b.source));
                    let _ = reply.send(Ok(reports));
                });
            }
            ToPriceSupervisor::Statuses(reply) => {
                let children: Vec<(String, ActorRef<ToSourceActor>)> =
                    state.children.iter().map(|(n, a)| (n.clone(), a.clone())).collect();
                let stopped = state.stopped.clone();
                let configs: Vec<SourceConfig> = self.sources.iter().map(|(c, _)| c.clone()).collect();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for config in configs {
                        let running = children.iter().find(|(n, _)| *n == config.name).map(|(_, a)| a.clone());
                        let status = match running {
                            Some(actor) => ractor::call!(actor, ToSourceActor::Status).ok(),
                            None => None,
                        };
                        out.push(
                            status
                                .unwrap_or_else(|| SourceStatus::stopped(&config, stopped.get(&config.name).cloned())),
                        );
                    }
                    let _ = reply.send(out);
                });
            }
            ToPriceSupervisor::Restart(name) => {
                if !state.children.contains_key(&name) {
                    match self.spawn_child(&myself, &name, false).await {
                        Some(actor) => {
                            *state.restarts.entry(name.clone()).or_default() += 1;
                            state.stopped.remove(&name);
                            info!(target: "price_monitor", source = %name, "source actor restarted");
                            state.children.insert(name, actor);
                        }
                        // Not "restarting in …" forever: say it did not start.
                        None => {
                            state.stopped.insert(name, "could not be restarted (see the log)".into());
                        }
                    }
                }
            }
            #[cfg(any(test, feature = "testing"))]
            ToPriceSupervisor::Panic(name) => {
                if let Some(actor) = state.children.get(&name) {
                    let _ = actor.cast(ToSourceActor::Panic);
                }
            }
            #[cfg(any(test, feature = "testing"))]
            ToPriceSupervisor::CrashVerifier => {
                if let Some(verifier) = current(&self.verifier) {
                    let _ = verifier.cast(ToVerifier::Crash);
                }
            }
            ToPriceSupervisor::Restarts(reply) => {
                let _ = reply.send(state.restarts.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut PriceSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason, failed) = match event {
            SupervisionEvent::ActorFailed(cell, reason) => (cell, reason.to_string(), true),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()), false)
            }
            _ => return Ok(()),
        };
        if state.verifier_cell.as_ref().is_some_and(|v| v.get_id() == cell.get_id()) {
            // Stopped on purpose (shutdown) is not a failure.
            if failed {
                return self.verifier_stopped(&myself, state, reason).await;
            }
            return Ok(());
        }
        let Some(name) = Self::name_of(state, &cell) else { return Ok(()) };
        state.children.remove(&name);
        warn!(target: "price_monitor", source = %name, %reason, "source actor stopped");
        let failures = state.intensity.record(name.clone());
        if state.intensity.exceeded(failures) {
            error!(target: "price_monitor", source = %name, "source actor keeps failing; left stopped");
            state.stopped.insert(name, format!("stopped after {failures} failures: {reason}"));
            return Ok(());
        }
        // Backoff doubles with each failure in the window: 1, 2, 4, 8, 16 s for the default
        // base of 1 s (the cap of 60 × base only matters if MAX_RESTARTS grows).
        let factor = (1u32 << (failures - 1).min(6)).min(60);
        let delay = self.restart_backoff.saturating_mul(factor);
        let wait = match delay.subsec_nanos() {
            0 => format!("{} s", delay.as_secs()),
            _ => format!("{} ms", delay.as_millis()),
        };
        state.stopped.insert(name.clone(), format!("restarting in {wait}: {reason}"));
        myself.send_after(delay, move || ToPriceSupervisor::Restart(name));
        Ok(())
    }
}

impl PriceSupervisor {
    /// The verifier failed: start a successor at once (sources wait on it), unless it keeps
    /// failing, and tell each source that its next fetch must be a full one.
    async fn verifier_stopped(
        &self,
        myself: &ActorRef<ToPriceSupervisor>,
        state: &mut PriceSupervisorState,
        reason: String,
    ) -> Result<(), ActorProcessingErr> {
        *self.verifier.write().unwrap_or_else(|p| p.into_inner()) = None;
        state.verifier_cell = None;
        warn!(target: "price_monitor", %reason, "price verifier stopped");
        let failures = state.intensity.record(VERIFIER_KEY.to_string());
        if state.intensity.exceeded(failures) {
            error!(target: "price_monitor", "price verifier keeps failing; left stopped");
            return Ok(());
        }
        match self.spawn_verifier(myself).await {
            Ok(cell) => {
                state.verifier_cell = Some(cell);
                *state.restarts.entry(VERIFIER_KEY.to_string()).or_default() += 1;
                for source in state.children.values() {
                    let _ = source.cast(ToSourceActor::VerifierRestarted);
                }
                info!(target: "price_monitor", "price verifier restarted");
            }
            Err(e) => error!(target: "price_monitor", error = %e, "price verifier did not restart"),
        }
        Ok(())
    }
}
