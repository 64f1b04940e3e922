//! PriceSourceActor (one per configured source) and the PriceSupervisor above them.
//!
//! A source actor wakes on its cron schedule or on demand, fetches in a spawned task (so it
//! keeps answering status questions while a slow server times out), checks the result's
//! sanity, hands a good snapshot to the VerifierActor, and records its health. A failed fetch
//! changes nothing: the prices in force stay. A source actor that fails is restarted by the
//! supervisor after a backoff that doubles (1, 2, 4, 8, 16 s); more than `MAX_RESTARTS` failures in
//! `RESTART_WINDOW` leave it stopped and reported as such.

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, error, info, warn};

use super::SourceHealth;
use super::verifier::{ToVerifier, VerifierActor, VerifierSlot, current, raise};
use super::{RefreshReport, SourceStatus};
use crate::Engine;
use crate::domain::{AlertKind, Severity};
use crate::error::EngineError;
use crate::restart::RestartIntensity;
use crate::sources::{FetchOutcome, PriceSource, SourceConfig, SourceError, Validators, sanity_check};

pub const MAX_RESTARTS: usize = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(600);

pub enum ToSourceActor {
    /// Scheduled run.
    Tick,
    /// Run now; answer when done.
    Refresh(Option<RpcReplyPort<RefreshReport>>),
    FetchDone(Result<FetchOutcome, SourceError>),
    Status(RpcReplyPort<SourceStatus>),
    /// The verifier was restarted and lost the snapshots it had: the next fetch must be
    /// unconditional, or a 304 would leave it without this source.
    VerifierRestarted,
    /// Fault injection for tests: the handler panics.
    #[cfg(any(test, feature = "testing"))]
    Panic,
}

pub struct SourceActor {
    pub config: SourceConfig,
    pub source: Arc<dyn PriceSource>,
    pub verifier: VerifierSlot,
    pub engine: Engine,
    pub schedule_enabled: bool,
}

pub struct SourceState {
    row: SourceHealth,
    in_flight: bool,
    waiters: Vec<RpcReplyPort<RefreshReport>>,
    next_run: Option<DateTime<Utc>>,
    schedule: Option<cron::Schedule>,
    last_good_count: Option<usize>,
    /// A full snapshot reached the verifier in this process. Until then fetches are
    /// unconditional: after a restart a 304 would leave the verifier without this source.
    verified_here: bool,
}

impl SourceActor {
    fn schedule_next(&self, myself: &ActorRef<ToSourceActor>, state: &mut SourceState) {
        if !self.schedule_enabled || !self.config.enabled {
            state.next_run = None;
            return;
        }
        let Some(schedule) = &state.schedule else { return };
        let now = Utc::now();
        state.next_run = schedule.after(&now).next();
        if let Some(next) = state.next_run {
            let wait = (next - now).to_std().unwrap_or(Duration::from_secs(1));
            myself.send_after(wait, || ToSourceActor::Tick);
        }
    }

    fn start_fetch(&self, myself: &ActorRef<ToSourceActor>, state: &mut SourceState) {
        if state.in_flight {
            return;
        }
        state.in_flight = true;
        state.row.last_attempt = Some(crate::domain::now());
        let source = self.source.clone();
        let previous = if state.verified_here {
            Validators { etag: state.row.etag.clone(), last_modified: state.row.last_modified.clone() }
        } else {
            Validators::default()
        };
        let me = myself.clone();
        debug!(target: "price_monitor", source = %self.config.name, "fetch started");
        tokio::spawn(async move {
            let result = source.fetch(&previous).await;
            let _ = me.cast(ToSourceActor::FetchDone(result));
        });
    }

    async fn finish(&self, state: &mut SourceState, result: Result<FetchOutcome, SourceError>) -> RefreshReport {
        let now = crate::domain::now();
        let mut report = RefreshReport { source: self.config.name.clone(), ..Default::default() };
        let outcome = match result {
            Ok(FetchOutcome::NotModified) => {
                report.not_modified = true;
                report.models = state.last_good_count.unwrap_or(0);
                Ok(())
            }
            Ok(FetchOutcome::Fresh(snapshot)) => {
                match sanity_check(&snapshot.prices, state.last_good_count, self.config.min_model_ratio) {
                    Err(e) => Err(e.to_string()),
                    Ok(()) => {
                        let count = snapshot.prices.len();
                        let validators = snapshot.validators.clone();
                        let snapshot = Arc::new(snapshot);
                        let verified = match current(&self.verifier) {
                            Some(verifier) => ractor::call!(verifier, |reply| ToVerifier::Verify {
                                snapshot: snapshot.clone(),
                                reply
                            })
                            .map_err(|e| e.to_string()),
                            None => Err("it is being restarted".to_string()),
                        };
                        match verified {
                            Ok(Ok(r)) => {
                                report = r;
                                state.last_good_count = Some(count);
                                state.verified_here = true;
                                state.row.model_count = count as u64;
                                state.row.etag = validators.etag;
                                state.row.last_modified = validators.last_modified;
                                Ok(())
                            }
                            Ok(Err(e)) => Err(format!("verification failed: {e}")),
                            Err(e) => Err(format!("verifier unavailable: {e}")),
                        }
                    }
                }
            }
            // Asked again too soon: nothing is wrong with the source.
            Err(SourceError::RateLimited { retry_in_secs }) => {
                report.models = state.last_good_count.unwrap_or(0);
                report.error = Some(format!("rate limited: try again in {retry_in_secs} s"));
                return report;
            }
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                state.row.last_success = Some(now);
                state.row.last_error = None;
            }
            Err(message) => {
                warn!(target: "price_monitor", source = %self.config.name, error = %message, "fetch failed; previous prices stay");
                state.row.last_error = Some(message.clone());
                state.row.last_error_at = Some(now);
                report.error = Some(message.clone());
                raise(
                    &self.engine,
                    AlertKind::PriceSourceFailed,
                    Severity::Warning,
                    format!("price source '{}' failed: {message}", self.config.name),
                    json!({"source": self.config.name, "error": message}),
                )
                .await;
            }
        }
        // Keep the agreement counts the verifier persisted.
        if let Ok(rows) = self.engine.source_health().await
            && let Some(stored) = rows.into_iter().find(|r| r.name == self.config.name)
        {
            state.row.agreements = stored.agreements;
            state.row.disagreements = stored.disagreements;
        }
        if let Err(e) = self.engine.save_source_health(&state.row).await {
            warn!(target: "price_monitor", error = %e, "source state not stored");
        }
        debug!(target: "price_monitor", source = %self.config.name, ?report, "fetch finished");
        report
    }

    fn status(&self, state: &SourceState) -> SourceStatus {
        SourceStatus {
            name: self.config.name.clone(),
            kind: self.config.kind.as_str().to_string(),
            url: self.config.url.clone(),
            enabled: self.config.enabled,
            running: true,
            healthy: state.row.last_error.is_none(),
            fetching: state.in_flight,
            last_attempt: state.row.last_attempt,
            last_success: state.row.last_success,
            last_error: state.row.last_error.clone(),
            last_error_at: state.row.last_error_at,
            next_run: state.next_run,
            model_count: state.row.model_count,
            trust: self.config.trust,
            effective_trust: None,
            agreements: state.row.agreements,
            disagreements: state.row.disagreements,
        }
    }
}

impl Actor for SourceActor {
    type Msg = ToSourceActor;
    type State = SourceState;
    type Arguments = bool;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, fetch_now: bool) -> Result<SourceState, ActorProcessingErr> {
        let stored = self.engine.source_health().await?;
        let row = stored
            .into_iter()
            .find(|r| r.name == self.config.name)
            .unwrap_or_else(|| SourceHealth { name: self.config.name.clone(), ..Default::default() });
        let schedule = self.config.cron_schedule().ok();
        let mut state = SourceState {
            last_good_count: (row.model_count > 0).then_some(row.model_count as usize),
            row,
            in_flight: false,
            waiters: Vec::new(),
            next_run: None,
            schedule,
            verified_here: false,
        };
        self.schedule_next(&myself, &mut state);
        if fetch_now && self.config.enabled {
            self.start_fetch(&myself, &mut state);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ToSourceActor,
        state: &mut SourceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToSourceActor::Tick => {
                self.start_fetch(&myself, state);
                self.schedule_next(&myself, state);
            }
            ToSourceActor::Refresh(reply) => {
                if !self.config.enabled {
                    if let Some(reply) = reply {
                        let _ = reply.send(RefreshReport {
                            source: self.config.name.clone(),
                            error: Some("the source is disabled (enabled = false)".into()),
                            ..Default::default()
                        });
                    }
                    return Ok(());
                }
                if let Some(reply) = reply {
                    state.waiters.push(reply);
                }
                self.start_fetch(&myself, state);
            }
            ToSourceActor::FetchDone(result) => {
                let report = self.finish(state, result).await;
                state.in_flight = false;
                for waiter in state.waiters.drain(..) {
                    let _ = waiter.send(report.clone());
                }
            }
            ToSourceActor::Status(reply) => {
                let _ = reply.send(self.status(state));
            }
            ToSourceActor::VerifierRestarted => state.verified_here = false,
            #[cfg(any(test, feature = "testing"))]
            ToSourceActor::Panic => panic!("fault injected: source actor panic"),
        }
        Ok(())
    }
}

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

/// Restart-count key of the verifier (no source name has parentheses... or if one does, it
/// is still a different string).
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
