//! Price monitoring: several sources fetched on a schedule, compared, scored; small verified
//! changes applied as new price versions, large ones and conflicts held for approval.
//!
//! ```text
//! PriceMonitor (handle)
//!  ├─ PriceSupervisor ─ SourceActor × N   schedule, fetch (in a task), sanity, health
//!  └─ VerifierActor                       consensus, trust, apply or queue
//! ```

mod source_actor;
mod supervisor;
mod verifier;
pub mod verify;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorRef};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Engine;
use crate::error::EngineError;
use crate::pricing::ModelPrice;
use crate::sources::{PriceSource, SourceConfig, build_source, http_client};
use supervisor::{PriceSupervisor, ToPriceSupervisor};
use verifier::{ToVerifier, VerifierActor, VerifierSlot, apply_price, current};
pub use verify::{FieldChange, Verification};

/// `[price_monitor]` settings plus the `[[price_sources]]`.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    pub sources: Vec<SourceConfig>,
    /// Two prices agree within this fraction of the larger (default 0.10).
    pub tolerance: Decimal,
    /// A change larger than this percent waits for approval (default 20).
    pub approval_threshold_percent: Decimal,
    /// A single source's (unverified) change applies on its own only from this effective trust.
    pub auto_apply_min_trust: Decimal,
    /// Fetch every enabled source once at start (otherwise at the first scheduled time).
    pub fetch_on_start: bool,
    /// Run sources on their schedules (tests turn this off and refresh on demand).
    pub schedules: bool,
    /// First wait before a failed source actor is restarted; it doubles with each failure in
    /// the restart window (default 1 s, so 1, 2, 4, 8 and 16 s before the source is left
    /// stopped), and never waits more than 60 times this.
    pub restart_backoff: std::time::Duration,
    /// Extra identity mappings, `"provider/model"` as a source names it → canonical.
    pub model_map: crate::sources::identity::ModelMap,
}

impl MonitorSettings {
    /// Names the first setting out of range: a negative tolerance would make no two sources
    /// ever agree, a trust above 1 could never be reached. (Each source has its own
    /// `SourceConfig::validate`.)
    pub fn validate(&self) -> Result<(), EngineError> {
        let fraction = |field: &str, v: Decimal| {
            if v < Decimal::ZERO || v > Decimal::ONE {
                Err(EngineError::invalid(field, format!("{field} must be between 0 and 1, not {v}")))
            } else {
                Ok(())
            }
        };
        fraction("tolerance", self.tolerance)?;
        fraction("auto_apply_min_trust", self.auto_apply_min_trust)?;
        if self.approval_threshold_percent < Decimal::ZERO {
            return Err(EngineError::invalid(
                "approval_threshold_percent",
                format!("approval_threshold_percent must not be negative, not {}", self.approval_threshold_percent),
            ));
        }
        Ok(())
    }
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            sources: vec![SourceConfig::defaults_litellm(), SourceConfig::defaults_llm_prices()],
            tolerance: Decimal::new(1, 1),
            approval_threshold_percent: Decimal::from(20),
            auto_apply_min_trust: Decimal::new(8, 1),
            fetch_on_start: false,
            schedules: true,
            restart_backoff: std::time::Duration::from_secs(1),
            model_map: crate::sources::identity::ModelMap::default(),
        }
    }
}

/// A source's health, as `GET /api/v1/prices/sources` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub enabled: bool,
    /// False when its actor is stopped (restarting, or given up after repeated failures).
    pub running: bool,
    /// The last fetch succeeded (or none was made yet).
    pub healthy: bool,
    pub fetching: bool,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub next_run: Option<DateTime<Utc>>,
    pub model_count: u64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub trust: Decimal,
    /// Configured trust scaled by the source's agreement with the consensus.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub effective_trust: Option<Decimal>,
    pub agreements: u64,
    pub disagreements: u64,
}

impl SourceStatus {
    fn stopped(config: &SourceConfig, why: Option<String>) -> SourceStatus {
        SourceStatus {
            name: config.name.clone(),
            kind: config.kind.as_str().to_string(),
            url: config.url.clone(),
            enabled: config.enabled,
            running: false,
            healthy: false,
            fetching: false,
            last_attempt: None,
            last_success: None,
            last_error: why,
            last_error_at: None,
            next_run: None,
            model_count: 0,
            trust: config.trust,
            effective_trust: None,
            agreements: 0,
            disagreements: 0,
        }
    }
}

/// What one refresh of one source did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefreshReport {
    pub source: String,
    pub models: usize,
    pub not_modified: bool,
    pub applied: usize,
    pub pending: usize,
    pub conflicts: usize,
    /// Closed past price periods stored as versions (historical feeds).
    pub backfilled: usize,
    pub error: Option<String>,
}

/// Sources that disagree about a model's price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conflict {
    pub provider: String,
    pub model: String,
    pub status: Verification,
    pub agreeing: Vec<String>,
    pub outliers: Vec<String>,
    /// Each source's rates, decimal strings per token.
    #[schema(value_type = Object)]
    pub candidates: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceUpdate {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub version_id: Uuid,
    pub source: String,
    /// `auto`, `approved` or `backfill` (a closed past period from a historical feed).
    pub kind: String,
    pub status: String,
    pub changes: Vec<FieldChange>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingChange {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    /// `threshold`, `conflict`, `manual` (the price in force was set by hand) or `untrusted`.
    pub reason: String,
    /// `pending`, `approved`, `rejected` or `superseded`.
    pub status: String,
    pub verification: String,
    pub changes: Vec<FieldChange>,
    #[schema(value_type = Object)]
    pub candidates: serde_json::Value,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// A source's health as stored, so that a restart keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceHealth {
    pub name: String,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub model_count: u64,
    pub agreements: u64,
    pub disagreements: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The typed handle the front doors call.
#[derive(Clone)]
pub struct PriceMonitor {
    engine: Engine,
    supervisor: ActorRef<ToPriceSupervisor>,
    verifier: VerifierSlot,
}

impl PriceMonitor {
    /// Starts the price subtree on its own (tests, benchmarks); the daemon starts it under
    /// the root supervisor.
    pub async fn start(engine: Engine, settings: MonitorSettings) -> Result<PriceMonitor, EngineError> {
        PriceMonitor::start_under(engine, settings, None).await
    }

    /// Starts the PriceSupervisor (linked under `parent` when given), which starts the
    /// VerifierActor and one SourceActor per source, and restarts any of them that fails.
    pub async fn start_under(
        engine: Engine,
        settings: MonitorSettings,
        parent: Option<ActorCell>,
    ) -> Result<PriceMonitor, EngineError> {
        let mut names = std::collections::HashSet::new();
        let http = http_client();
        let mut sources: Vec<(SourceConfig, Arc<dyn PriceSource>)> = Vec::new();
        for config in &settings.sources {
            if !names.insert(config.name.clone()) {
                return Err(EngineError::invalid(
                    "price_sources",
                    format!("two price sources are named '{}'", config.name),
                ));
            }
            let source = build_source(config, http.clone())
                .map_err(|e| EngineError::invalid("price_sources", format!("price source '{}': {e}", config.name)))?;
            sources.push((config.clone(), Arc::from(source)));
        }
        let verifier: VerifierSlot = Arc::new(std::sync::RwLock::new(None));
        let supervisor_actor = PriceSupervisor {
            engine: engine.clone(),
            verifier_actor: VerifierActor { engine: engine.clone(), settings: settings.clone() },
            verifier: verifier.clone(),
            sources,
            schedule_enabled: settings.schedules,
            fetch_on_start: settings.fetch_on_start,
            restart_backoff: settings.restart_backoff,
        };
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(Some("prices".into()), supervisor_actor, (), parent).await,
            None => Actor::spawn(None, supervisor_actor, ()).await,
        };
        let (supervisor, _) =
            spawned.map_err(|e| EngineError::Internal(format!("cannot start the price supervisor: {e}")))?;
        Ok(PriceMonitor { engine, supervisor, verifier })
    }

    /// Stops the price subtree (sources and verifier with it).
    pub fn shutdown(&self) {
        self.supervisor.stop(None);
    }

    /// The PriceSupervisor's cell, for the root's supervision.
    pub(crate) fn cell(&self) -> ActorCell {
        self.supervisor.get_cell()
    }

    fn verifier(&self) -> Result<ActorRef<ToVerifier>, EngineError> {
        current(&self.verifier).ok_or_else(|| unavailable("the price verifier is restarting"))
    }

    pub async fn sources(&self) -> Result<Vec<SourceStatus>, EngineError> {
        let mut statuses = ractor::call!(self.supervisor, ToPriceSupervisor::Statuses).map_err(unavailable)?;
        let trust = ractor::call!(self.verifier()?, ToVerifier::Trust).map_err(unavailable)?;
        for status in &mut statuses {
            if let Some(score) = trust.get(&status.name) {
                status.effective_trust = Some(score.effective());
                status.agreements = score.agreements;
                status.disagreements = score.disagreements;
            }
        }
        Ok(statuses)
    }

    /// Fetches now (one source or all) and answers when verified.
    pub async fn refresh(&self, source: Option<&str>) -> Result<Vec<RefreshReport>, EngineError> {
        let source = source.map(String::from);
        ractor::call!(self.supervisor, |reply| ToPriceSupervisor::Refresh { source, reply }).map_err(unavailable)?
    }

    pub async fn updates(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PriceUpdate>, EngineError> {
        self.engine.price_updates(provider, model, limit).await
    }

    /// Held changes with `status` (`pending`, `approved`, `rejected`, `superseded`), or all
    /// of them for `all`; only the pending ones when no status is given.
    pub async fn pending(&self, status: Option<&str>, limit: u32) -> Result<Vec<PendingChange>, EngineError> {
        let status = match status {
            None => Some("pending"),
            Some("all") => None,
            Some(s) if ["pending", "approved", "rejected", "superseded"].contains(&s) => Some(s),
            Some(s) => {
                return Err(EngineError::invalid(
                    "status",
                    format!("unknown status '{s}' (pending, approved, rejected, superseded or all)"),
                ));
            }
        };
        self.engine.held_changes(status, limit).await
    }

    /// Puts a held change in force from now.
    pub async fn approve(&self, id: Uuid) -> Result<PendingChange, EngineError> {
        let (held, price) = self.still_pending(id).await?;
        let verification = match held.verification.as_str() {
            "verified" => Verification::Verified,
            "conflict" => Verification::Conflict,
            _ => Verification::Unverified,
        };
        let key = (held.provider.clone(), held.model.clone());
        apply_price(
            &self.engine,
            &key,
            &price,
            &held.changes,
            &held.source,
            verification,
            "approved",
            Some(id),
            crate::domain::now(),
        )
        .await?;
        self.get_pending(id).await
    }

    pub async fn reject(&self, id: Uuid, note: Option<&str>) -> Result<PendingChange, EngineError> {
        if let Some(note) = note {
            crate::domain::text::check_text("note", note, crate::domain::text::DESCRIPTION_MAX)?;
        }
        self.still_pending(id).await?;
        if !self.engine.decide_held_change(id, "rejected", note).await? {
            return Err(EngineError::Conflict(format!("pending change {id} was decided meanwhile")));
        }
        self.get_pending(id).await
    }

    /// A held change that is still pending, with the price it proposes.
    async fn still_pending(&self, id: Uuid) -> Result<(PendingChange, ModelPrice), EngineError> {
        let (held, price) =
            self.engine.held_change(id).await?.ok_or_else(|| EngineError::not_found("pending price change", id))?;
        if held.status != "pending" {
            return Err(EngineError::Conflict(format!("pending change {id} is already {}", held.status)));
        }
        Ok((held, price))
    }

    pub async fn get_pending(&self, id: Uuid) -> Result<PendingChange, EngineError> {
        let (held, _) =
            self.engine.held_change(id).await?.ok_or_else(|| EngineError::not_found("pending price change", id))?;
        Ok(held)
    }

    pub async fn conflicts(&self) -> Result<Vec<Conflict>, EngineError> {
        ractor::call!(self.verifier()?, ToVerifier::Conflicts).map_err(unavailable)
    }

    /// Fault injection for tests: makes one source actor panic.
    #[cfg(any(test, feature = "testing"))]
    pub fn crash_source(&self, name: &str) {
        let _ = self.supervisor.cast(ToPriceSupervisor::Panic(name.to_string()));
    }

    /// Fault injection for tests: makes the verifier fail.
    #[cfg(any(test, feature = "testing"))]
    pub fn crash_verifier(&self) {
        let _ = self.supervisor.cast(ToPriceSupervisor::CrashVerifier);
    }

    /// Restarts per source, and of the verifier under `"(verifier)"`.
    pub async fn source_restarts(&self) -> Result<HashMap<String, usize>, EngineError> {
        ractor::call!(self.supervisor, ToPriceSupervisor::Restarts).map_err(unavailable)
    }
}

fn unavailable<E: std::fmt::Display>(e: E) -> EngineError {
    EngineError::Unavailable(format!("price monitor: {e}"))
}
