//! Alerts that reach people: the AlertActor (a child of the root supervisor) delivers every
//! stored alert to the channels that subscribe to it; [`AlertService`] is the typed handle the
//! front doors call for channels, test sends and the delivery log.
//!
//! Alerts are decided where they happen (a threshold crossing in the BudgetActor, a denial in
//! the engine, a failing source in the price monitor) and stored in the same transaction as
//! what raised them, with a key that makes them unique (one per policy, window and kind, across
//! every daemon on a database). That row is the outbox the AlertActor works through: an alert
//! is never lost between a commit and a send, and sending never slows a budget operation.

mod actor;
pub mod send;

use chrono::Utc;
use ractor::{Actor, ActorCell, ActorRef};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::api::{ChannelList, ChannelPatch, ChannelTest, CreatedChannel, DeliveriesQuery, DeliveryList, NewChannel};
use crate::domain::text::{NAME_MAX, check_budget_name};
use crate::domain::{AlertChannel, AlertKind, ChannelKind, DeliveryStatus, Severity, check_channel_url, check_secret};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::storage::DeliveryFilter;

pub use actor::ToAlertActor;

/// `[alerts]` in the configuration.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// How often the outbox is looked at when nothing wakes the actor (alerts stored by
    /// another daemon, retries falling due).
    pub poll_interval: Duration,
    /// One attempt's time limit.
    pub request_timeout: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles it, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Deliveries sent at once.
    pub max_concurrent: usize,
    /// Alerts fanned out, and deliveries claimed, per pass.
    pub batch: u32,
    /// How often alerts of ended windows are resolved.
    pub resolve_interval: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            max_attempts: 8,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(900),
            max_concurrent: 8,
            batch: 200,
            resolve_interval: Duration::from_secs(60),
        }
    }
}

/// The typed handle: channels, test sends, the delivery log. Cheap to clone.
#[derive(Clone)]
pub struct AlertService {
    engine: Engine,
    actor: ActorRef<ToAlertActor>,
    pass: Arc<actor::Pass>,
}

impl AlertService {
    /// Starts the AlertActor (linked under `parent` when given).
    pub async fn start_under(
        engine: Engine,
        settings: AlertSettings,
        parent: Option<ActorCell>,
    ) -> Result<AlertService, EngineError> {
        let pass = Arc::new(actor::Pass {
            engine: engine.clone(),
            sender: send::Sender::new(settings.request_timeout),
            settings,
            last_resolve: std::sync::Mutex::new(None),
        });
        let spawned = match parent {
            Some(parent) => {
                Actor::spawn_linked(Some("alerts".into()), actor::AlertActor { pass: pass.clone() }, (), parent).await
            }
            None => Actor::spawn(Some("alerts".into()), actor::AlertActor { pass: pass.clone() }, ()).await,
        };
        let (actor, _) = spawned.map_err(|e| EngineError::Internal(format!("cannot start the AlertActor: {e}")))?;
        Ok(AlertService { engine, actor, pass })
    }

    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Asks for a pass now (tests; the engine wakes the actor itself when it stores alerts).
    pub fn wake(&self) {
        let _ = self.actor.cast(ToAlertActor::Wake);
    }

    pub async fn list_channels(&self) -> Result<ChannelList, EngineError> {
        Ok(ChannelList { channels: self.engine.repo().list_channels().await? })
    }

    pub async fn get_channel(&self, id_or_name: &str) -> Result<AlertChannel, EngineError> {
        let channels = self.engine.repo().list_channels().await?;
        let id = Uuid::parse_str(id_or_name).ok();
        channels
            .into_iter()
            .find(|c| Some(c.id) == id || c.name == id_or_name)
            .ok_or_else(|| EngineError::not_found("alert channel", id_or_name))
    }

    pub async fn create_channel(&self, req: NewChannel) -> Result<CreatedChannel, EngineError> {
        check_budget_name("name", &req.name)?;
        let kind = ChannelKind::parse(&req.kind).ok_or_else(|| {
            EngineError::invalid(
                "kind",
                format!("unknown channel kind '{}' (expected webhook, slack or log)", req.kind),
            )
        })?;
        check_channel_url(kind, req.url.as_deref())?;
        let secret = match (kind, req.secret) {
            (ChannelKind::Webhook, Some(secret)) => {
                check_secret(&secret)?;
                Some(secret)
            }
            (ChannelKind::Webhook, None) => {
                Some(format!("whsec_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()))
            }
            (_, Some(_)) => return Err(EngineError::invalid("secret", "only a webhook channel takes a secret")),
            (_, None) => None,
        };
        if let Some(q) = &req.quiet_hours {
            q.validate()?;
        }
        let now = Utc::now();
        let channel = AlertChannel {
            id: Uuid::now_v7(),
            name: req.name,
            kind,
            url: req.url,
            has_secret: secret.is_some(),
            secret: secret.clone(),
            min_severity: req
                .min_severity
                .as_deref()
                .map(|s| Severity::parse_input("min_severity", s))
                .transpose()?
                .unwrap_or(Severity::Info),
            kinds: self.kinds(req.kinds)?,
            budgets: self.budgets(req.budgets).await?,
            quiet_hours: req.quiet_hours,
            enabled: req.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        self.engine.repo().insert_channel(&channel).await?;
        Ok(CreatedChannel { channel, secret })
    }

    pub async fn update_channel(&self, id_or_name: &str, patch: ChannelPatch) -> Result<AlertChannel, EngineError> {
        let mut channel = self.get_channel(id_or_name).await?;
        if let Some(name) = patch.name {
            check_budget_name("name", &name)?;
            channel.name = name;
        }
        if let Some(url) = patch.url {
            check_channel_url(channel.kind, Some(&url))?;
            channel.url = Some(url);
        }
        if let Some(secret) = patch.secret {
            if channel.kind != ChannelKind::Webhook {
                return Err(EngineError::invalid("secret", "only a webhook channel takes a secret"));
            }
            check_secret(&secret)?;
            channel.secret = Some(secret);
            channel.has_secret = true;
        }
        if let Some(s) = patch.min_severity {
            channel.min_severity = Severity::parse_input("min_severity", &s)?;
        }
        if patch.kinds.is_some() {
            channel.kinds = self.kinds(patch.kinds)?;
        }
        if patch.budgets.is_some() {
            channel.budgets = self.budgets(patch.budgets).await?;
        }
        if let Some(quiet) = patch.quiet_hours {
            if let Some(q) = &quiet {
                q.validate()?;
            }
            channel.quiet_hours = quiet;
        }
        if let Some(enabled) = patch.enabled {
            channel.enabled = enabled;
        }
        channel.updated_at = Utc::now();
        if !self.engine.repo().update_channel(&channel).await? {
            return Err(EngineError::not_found("alert channel", id_or_name));
        }
        Ok(channel)
    }

    pub async fn delete_channel(&self, id_or_name: &str) -> Result<(), EngineError> {
        let channel = self.get_channel(id_or_name).await?;
        if !self.engine.repo().delete_channel(channel.id).await? {
            return Err(EngineError::not_found("alert channel", id_or_name));
        }
        Ok(())
    }

    /// Sends a test message to the channel now (quiet hours do not apply) and says what
    /// the receiver answered. Not kept in the delivery log.
    pub async fn test_channel(&self, id_or_name: &str) -> Result<ChannelTest, EngineError> {
        let channel = self.get_channel(id_or_name).await?;
        let attempt = self.pass.sender.send(&channel, &send::Message::Test { at: Utc::now() }).await;
        Ok(ChannelTest {
            channel_id: channel.id,
            status: if attempt.delivered { "delivered" } else { "failed" }.into(),
            status_code: attempt.status_code,
            error: attempt.error,
        })
    }

    pub async fn list_deliveries(&self, query: &DeliveriesQuery) -> Result<DeliveryList, EngineError> {
        let channel_id = match query.channel.as_deref() {
            Some(c) => Some(self.get_channel(c).await?.id),
            None => None,
        };
        let status = query
            .status
            .as_deref()
            .map(|s| {
                DeliveryStatus::parse(s).ok_or_else(|| {
                    EngineError::invalid(
                        "status",
                        format!("unknown status '{s}' (expected pending, delivered or failed)"),
                    )
                })
            })
            .transpose()?;
        let filter = DeliveryFilter {
            alert_id: query.alert,
            channel_id,
            status,
            limit: crate::api::check_limit(query.limit, 100)?,
        };
        Ok(DeliveryList { deliveries: self.engine.repo().list_deliveries(&filter).await? })
    }

    fn kinds(&self, kinds: Option<Vec<String>>) -> Result<Vec<AlertKind>, EngineError> {
        let mut out = Vec::new();
        for (i, k) in kinds.unwrap_or_default().iter().enumerate() {
            let kind = AlertKind::parse(k)
                .ok_or_else(|| EngineError::invalid(&format!("kinds[{i}]"), format!("unknown alert kind '{k}'")))?;
            if !out.contains(&kind) {
                out.push(kind);
            }
        }
        Ok(out)
    }

    async fn budgets(&self, budgets: Option<Vec<String>>) -> Result<Vec<Uuid>, EngineError> {
        let mut out = Vec::new();
        for (i, b) in budgets.unwrap_or_default().iter().enumerate() {
            if b.chars().count() > NAME_MAX.max(36) {
                return Err(EngineError::invalid(&format!("budgets[{i}]"), "no budget has so long a name"));
            }
            let id = self
                .engine
                .get_budget(b)
                .await
                .map_err(|_| EngineError::invalid(&format!("budgets[{i}]"), format!("budget '{b}' does not exist")))?
                .id;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }
}
