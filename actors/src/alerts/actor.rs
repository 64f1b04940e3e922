//! The AlertActor: works through the outbox. Woken by the engine when alerts are stored, and
//! by its own tick (alerts another daemon stored, retries falling due), it runs one pass at a
//! time in a task of its own, so its mailbox never waits on a receiver:
//!
//! 1. fan out: each undispatched alert becomes one pending delivery per channel that wants
//!    it, and an `alert` event on the event stream;
//! 2. send: due deliveries are claimed (so no other pass or daemon sends them meanwhile) and
//!    sent, a few at once; each outcome is written to the delivery log, failures with their
//!    next attempt (exponential backoff) until the attempts run out;
//! 3. resolve: alerts of windows that ended are marked resolved (once a minute).
//!
//! A killed daemon leaves deliveries pending or claimed; the claims lapse and the next start
//! sends them.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

use super::AlertSettings;
use super::send::{Message, Sender};
use crate::domain::{Alert, AlertChannel, AlertDelivery, AttemptOutcome, retry_delay};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::events::EventKind;

pub enum ToAlertActor {
    /// Something may be due: run a pass (or another after the running one).
    Wake,
    /// The running pass ended; `more` when it stopped at its batch size.
    PassDone { more: bool },
}

pub(super) struct AlertActor {
    pub(super) pass: Arc<Pass>,
}

pub(super) struct AlertState {
    running: bool,
    again: bool,
    ticker: tokio::task::JoinHandle<()>,
}

impl Actor for AlertActor {
    type Msg = ToAlertActor;
    type State = AlertState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<ToAlertActor>, _: ()) -> Result<AlertState, ActorProcessingErr> {
        let (signal, every) = (self.pass.engine.alerts_stored_signal(), self.pass.settings.poll_interval);
        let me = myself.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = signal.notified() => {}
                }
                if me.cast(ToAlertActor::Wake).is_err() {
                    break;
                }
            }
        });
        Ok(AlertState { running: false, again: false, ticker })
    }

    async fn post_stop(&self, _: ActorRef<ToAlertActor>, state: &mut AlertState) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ToAlertActor>,
        message: ToAlertActor,
        state: &mut AlertState,
    ) -> Result<(), ActorProcessingErr> {
        let start = match message {
            ToAlertActor::Wake if state.running => {
                state.again = true;
                false
            }
            ToAlertActor::Wake => true,
            ToAlertActor::PassDone { more } => {
                state.running = false;
                std::mem::take(&mut state.again) || more
            }
        };
        if start {
            state.running = true;
            let pass = self.pass.clone();
            tokio::spawn(async move {
                let more = match pass.run().await {
                    Ok(more) => more,
                    Err(e) => {
                        warn!(target: "alerts", error = %e, "alert pass failed; retried on the next tick");
                        false
                    }
                };
                let _ = myself.cast(ToAlertActor::PassDone { more });
            });
        }
        Ok(())
    }
}

/// What a pass needs; shared by the actor's passes and the handle's test sends.
pub(super) struct Pass {
    pub(super) engine: Engine,
    pub(super) settings: AlertSettings,
    pub(super) sender: Sender,
    pub(super) last_resolve: std::sync::Mutex<Option<Instant>>,
}

impl Pass {
    /// One pass; true when a batch was full (run again at once).
    async fn run(&self) -> Result<bool, EngineError> {
        let repo = self.engine.repo();
        let channels = repo.list_channels().await?;
        let fanned = self.fan_out(&channels).await?;
        let sent = self.send_due(&channels).await?;
        self.resolve_if_due().await;
        Ok(fanned || sent)
    }

    async fn fan_out(&self, channels: &[AlertChannel]) -> Result<bool, EngineError> {
        let batch = self.settings.batch;
        let alerts = self.engine.repo().undispatched_alerts(batch).await?;
        if alerts.is_empty() {
            return Ok(false);
        }
        let deliveries: Vec<(Uuid, Uuid, Uuid)> = alerts
            .iter()
            .flat_map(|a| channels.iter().filter(|c| c.wants(a)).map(|c| (Uuid::now_v7(), a.id, c.id)))
            .collect();
        let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
        self.engine.repo().dispatch_alerts(&ids, &deliveries, crate::domain::now()).await?;
        metrics::counter!("budget_alerts_dispatched_total").increment(alerts.len() as u64);
        for alert in &alerts {
            self.engine.events().publish(EventKind::Alert, || serde_json::to_value(alert).unwrap_or_default());
        }
        debug!(target: "alerts", alerts = alerts.len(), deliveries = deliveries.len(), "alerts fanned out");
        Ok(alerts.len() as u32 >= batch)
    }

    async fn send_due(&self, channels: &[AlertChannel]) -> Result<bool, EngineError> {
        let now = crate::domain::now();
        // The claim outlives the slowest attempt, so a delivery is never sent twice at once.
        let lease = chrono::Duration::from_std(self.settings.request_timeout * 2 + std::time::Duration::from_secs(5))
            .unwrap_or(chrono::Duration::seconds(60));
        let claimed = self.engine.repo().claim_deliveries(now, now + lease, self.settings.batch).await?;
        if claimed.is_empty() {
            return Ok(false);
        }
        let full = claimed.len() as u32 >= self.settings.batch;
        let by_id: HashMap<Uuid, &AlertChannel> = channels.iter().map(|c| (c.id, c)).collect();
        let mut alerts: HashMap<Uuid, Option<Alert>> = HashMap::new();
        for d in &claimed {
            if let std::collections::hash_map::Entry::Vacant(slot) = alerts.entry(d.alert_id) {
                slot.insert(self.engine.repo().get_alert(d.alert_id).await?);
            }
        }
        futures::stream::iter(claimed)
            .for_each_concurrent(self.settings.max_concurrent, |delivery| {
                let channel = by_id.get(&delivery.channel_id).copied();
                let alert = alerts.get(&delivery.alert_id).cloned().flatten();
                async move { self.attempt(delivery, channel, alert).await }
            })
            .await;
        Ok(full)
    }

    async fn attempt(&self, delivery: AlertDelivery, channel: Option<&AlertChannel>, alert: Option<Alert>) {
        let now = crate::domain::now();
        let outcome = match (channel, alert) {
            // Its channel was deleted meanwhile (its deliveries go with it) or disabled.
            (None, _) => return,
            (Some(channel), _) if !channel.enabled => {
                AttemptOutcome::Failed { status_code: None, error: "the channel is disabled".into(), retry_at: None }
            }
            (Some(_), None) => {
                AttemptOutcome::Failed { status_code: None, error: "the alert no longer exists".into(), retry_at: None }
            }
            (Some(channel), Some(alert)) => match channel.held_until(alert.severity, now) {
                Some(until) => AttemptOutcome::Deferred(until),
                None => self.send(&delivery, channel, &alert, now).await,
            },
        };
        if let Err(e) = self.engine.repo().finish_delivery(delivery.id, &outcome, crate::domain::now()).await {
            // The claim lapses and the delivery is attempted again: at least once, never lost.
            warn!(target: "alerts", delivery = %delivery.id, error = %e, "delivery outcome not stored");
        }
    }

    async fn send(
        &self,
        delivery: &AlertDelivery,
        channel: &AlertChannel,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> AttemptOutcome {
        let attempt = self.sender.send(channel, &Message::Alert { alert, delivery_id: delivery.id }).await;
        let attempts = delivery.attempts + 1;
        if attempt.delivered {
            metrics::counter!("budget_alert_deliveries_total", "outcome" => "delivered", "kind" => channel.kind.as_str())
                .increment(1);
            return AttemptOutcome::Delivered { status_code: attempt.status_code };
        }
        let error = attempt.error.unwrap_or_else(|| "failed".into());
        let retry_at = (attempts < self.settings.max_attempts)
            .then(|| now + retry_delay(attempts, self.settings.retry_base, self.settings.retry_max, delivery.id));
        let outcome = if retry_at.is_some() { "retrying" } else { "failed" };
        metrics::counter!("budget_alert_deliveries_total", "outcome" => outcome, "kind" => channel.kind.as_str())
            .increment(1);
        warn!(target: "alerts", channel = %channel.name, delivery = %delivery.id, attempts, %error, retry_at = ?retry_at,
            "alert delivery failed");
        AttemptOutcome::Failed { status_code: attempt.status_code, error, retry_at }
    }

    async fn resolve_if_due(&self) {
        {
            let mut last = self.last_resolve.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.settings.resolve_interval) {
                return;
            }
            *last = Some(Instant::now());
        }
        match self.engine.repo().resolve_alerts(crate::domain::now()).await {
            Ok(0) => {}
            Ok(n) => debug!(target: "alerts", resolved = n, "alerts of ended windows resolved"),
            Err(e) => warn!(target: "alerts", error = %e, "resolving alerts failed"),
        }
    }
}
