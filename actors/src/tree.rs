//! The root of the supervision tree. `Tree::start` opens storage and starts, linked under one
//! RootSupervisor, the budget subtree (BudgetSupervisor → one BudgetActor per budget) and the
//! price subtree (PriceSupervisor → one SourceActor per source and the VerifierActor), and
//! the AlertActor and the ReporterActor. The AssistantActor will be the root's next child.
//!
//! ```text
//! RootSupervisor
//!  ├─ BudgetSupervisor ─ BudgetActor × N    (budgets/)
//!  ├─ PriceSupervisor  ─ SourceActor × M    (monitor/)
//!  │                   └ VerifierActor
//!  ├─ AlertActor                            (alerts/)
//!  └─ ReporterActor                         (reports/)
//! ```
//!
//! Each subtree supervisor handles its children's failures itself (restart with bounded
//! intensity) and never fails on their account. Should one fail all the same, the root
//! logs it and reports the tree degraded in `/ready`, rather than restarting it behind the
//! back of the handles that hold its address.

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

use crate::alerts::{AlertService, AlertSettings};
use crate::error::EngineError;
use crate::keys::KeyStore;
use crate::monitor::{MonitorSettings, PriceMonitor};
use crate::reports::ReportService;
use crate::storage::Repository;
use crate::{Engine, EngineConfig};

/// How long shutdown waits for a subtree to stop before going on.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// What the daemon starts.
#[derive(Clone)]
pub struct TreeConfig {
    /// `sqlite://path` (or a bare path) or `postgres://…`.
    pub database_url: String,
    pub engine: EngineConfig,
    /// `None` when `[price_monitor] enabled = false`.
    pub monitor: Option<MonitorSettings>,
    pub alerts: AlertSettings,
}

pub enum ToRoot {
    /// Subtrees that failed since start (empty when healthy).
    Failed(RpcReplyPort<Vec<String>>),
}

struct RootSupervisor;

impl Actor for RootSupervisor {
    type Msg = ToRoot;
    type State = Vec<String>;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<ToRoot>, _: ()) -> Result<Vec<String>, ActorProcessingErr> {
        Ok(Vec::new())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ToRoot>,
        message: ToRoot,
        failed: &mut Vec<String>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToRoot::Failed(reply) => {
                let _ = reply.send(failed.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<ToRoot>,
        event: SupervisionEvent,
        failed: &mut Vec<String>,
    ) -> Result<(), ActorProcessingErr> {
        // Handled here so that a failing subtree never stops the root (ractor's default).
        match event {
            SupervisionEvent::ActorFailed(cell, reason) => {
                let name = cell.get_name().unwrap_or_else(|| cell.get_id().to_string());
                error!(target: "engine", subtree = %name, %reason, "a subtree supervisor failed");
                failed.push(format!("{name}: {reason}"));
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let name = cell.get_name().unwrap_or_else(|| cell.get_id().to_string());
                info!(target: "engine", subtree = %name, reason = ?reason, "subtree stopped");
            }
            _ => {}
        }
        Ok(())
    }
}

/// The running daemon's engine side: the root supervisor and the typed handles the front
/// doors call. Cheap to clone.
#[derive(Clone)]
pub struct Tree {
    root: ActorRef<ToRoot>,
    repo: Arc<dyn Repository>,
    engine: Engine,
    monitor: Option<PriceMonitor>,
    alerts: AlertService,
    reports: ReportService,
    keys: Arc<KeyStore>,
    /// Hermes registration, once started (`start_registrar`).
    registrar: Arc<std::sync::Mutex<Option<crate::registrar::RegistrarHandle>>>,
}

impl Tree {
    /// Opens storage (applying migrations) and starts the tree.
    pub async fn start(config: TreeConfig) -> Result<Tree, EngineError> {
        let repo = crate::storage::open(&config.database_url).await?;
        let (root, _) = Actor::spawn(Some("root".into()), RootSupervisor, ())
            .await
            .map_err(|e| EngineError::Internal(format!("cannot start the root supervisor: {e}")))?;
        let parent = Some(root.get_cell());
        let engine = match Engine::start_under(repo.clone(), config.engine, parent.clone()).await {
            Ok(engine) => engine,
            Err(e) => {
                root.stop(None);
                return Err(e);
            }
        };
        let alerts = match AlertService::start_under(engine.clone(), config.alerts, parent.clone()).await {
            Ok(alerts) => alerts,
            Err(e) => {
                engine.shutdown().await;
                root.stop(None);
                return Err(e);
            }
        };
        let reports = match ReportService::start_under(engine.clone(), parent.clone()).await {
            Ok(reports) => reports,
            Err(e) => {
                stop_and_wait(alerts.cell(), "alert actor").await;
                engine.shutdown().await;
                root.stop(None);
                return Err(e);
            }
        };
        let monitor = match config.monitor {
            Some(settings) => match PriceMonitor::start_under(engine.clone(), settings, parent).await {
                Ok(monitor) => Some(monitor),
                Err(e) => {
                    stop_and_wait(alerts.cell(), "alert actor").await;
                    stop_and_wait(reports.cell(), "reporter").await;
                    engine.shutdown().await;
                    root.stop(None);
                    return Err(e);
                }
            },
            None => None,
        };
        let keys = Arc::new(KeyStore::new(repo.clone()));
        Ok(Tree { root, repo, engine, monitor, alerts, reports, keys, registrar: Default::default() })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `None` when the price monitor is disabled.
    pub fn monitor(&self) -> Option<&PriceMonitor> {
        self.monitor.as_ref()
    }

    pub fn alerts(&self) -> &AlertService {
        &self.alerts
    }

    pub fn reports(&self) -> &ReportService {
        &self.reports
    }

    /// Starts the Registrar under the root (once the daemon knows its address). Never waits
    /// for Hermes.
    pub async fn start_registrar(
        &self,
        settings: crate::registrar::HermesSettings,
        registration: crate::registrar::Registration,
    ) -> Result<(), EngineError> {
        let handle =
            crate::registrar::RegistrarHandle::start(settings, registration, Some(self.root.get_cell())).await?;
        *self.registrar.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(())
    }

    /// Where the Hermes registration stands; `None` without Hermes.
    pub fn hermes_status(&self) -> Option<crate::registrar::HermesStatus> {
        self.registrar.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|r| r.status())
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.repo.backend()
    }

    /// Whether the daemon can serve: storage answers and no subtree has failed.
    pub async fn ready(&self) -> Result<(), EngineError> {
        self.repo.ping().await?;
        let failed = ractor::call!(self.root, ToRoot::Failed)
            .map_err(|e| EngineError::Unavailable(format!("root supervisor: {e}")))?;
        if !failed.is_empty() {
            return Err(EngineError::Unavailable(format!("failed: {}", failed.join("; "))));
        }
        Ok(())
    }

    /// Stops the tree in order: the price subtree (it writes prices), the AlertActor (a pass
    /// in flight is cut short: its claims lapse and the next start sends again), the engine (its sweeper
    /// and the budget subtree), then storage — queued writes are committed and the pools
    /// closed — and last the root. Returns when all of it has stopped.
    pub async fn shutdown(&self) {
        // First out of Hermes (it unregisters, two seconds at most).
        let registrar = self.registrar.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(registrar) = registrar {
            stop_and_wait(registrar.cell(), "registrar").await;
        }
        if let Some(monitor) = &self.monitor {
            stop_and_wait(monitor.cell(), "price subtree").await;
        }
        stop_and_wait(self.alerts.cell(), "alert actor").await;
        stop_and_wait(self.reports.cell(), "reporter").await;
        self.engine.shutdown().await;
        self.repo.close().await;
        stop_and_wait(self.root.get_cell(), "root").await;
        info!(target: "engine", "actor tree stopped");
    }
}

async fn stop_and_wait(cell: ActorCell, what: &str) {
    if let Err(e) = cell.stop_and_wait(Some("shutdown".into()), Some(STOP_WAIT)).await {
        warn!(target: "engine", subtree = what, error = %e, "did not stop cleanly");
    }
}
