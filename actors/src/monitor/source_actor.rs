//! PriceSourceActor (one per configured source) and the PriceSupervisor above them.
//!
//! A source actor wakes on its cron schedule or on demand, fetches in a spawned task (so it
//! keeps answering status questions while a slow server times out), checks the result's
//! sanity, hands a good snapshot to the VerifierActor, and records its health. A failed fetch
//! changes nothing: the prices in force stay. A source actor that fails is restarted by the
//! supervisor after a backoff that doubles (1, 2, 4, 8, 16 s); more than `MAX_RESTARTS` failures in
//! `RESTART_WINDOW` leave it stopped and reported as such.

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

use super::SourceHealth;
use super::verifier::{ToVerifier, VerifierSlot, current, raise};
use super::{RefreshReport, SourceStatus};
use crate::Engine;
use crate::domain::{AlertKind, Severity};
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
