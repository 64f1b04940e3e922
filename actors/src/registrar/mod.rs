//! The Registrar: Budget's entry in Hermes, Tekton's service registry (TEKTON.md). A child of
//! the root supervisor, started once the daemon knows its address. It registers (name
//! `budget`, version, endpoint, capabilities, the tool list), registers each tool as
//! `budget_<Name>`, heartbeats every `heartbeat` with the token Hermes returned in
//! `X-Authentication-Token`, registers again when Hermes has forgotten us or refuses the
//! token, and unregisters on shutdown.
//!
//! Hermes never delays the daemon: the first attempt is a message to itself after start,
//! every call has a short timeout, failures are retried with backoff (1 s doubling to 60 s),
//! and the unregister at shutdown waits at most two seconds. What it knows is in
//! [`HermesStatus`], shown in `/ready`.

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tracing::{info, warn};

use crate::error::EngineError;

/// `[hermes]` in the configuration (or `HERMES_URL`).
#[derive(Debug, Clone)]
pub struct HermesSettings {
    /// Hermes' base URL, e.g. `http://127.0.0.1:8001`.
    pub url: String,
    pub heartbeat: Duration,
    /// One call's time limit.
    pub request_timeout: Duration,
}

/// What Budget tells Hermes about itself.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Where Tekton reaches this daemon, e.g. `http://127.0.0.1:8013`.
    pub endpoint: String,
    pub port: u16,
    pub capabilities: Vec<String>,
    /// The tools in Tekton's listing shape (`{name, description, schema, tags, category}`).
    pub tools: Vec<Value>,
}

/// The registration as `/ready` shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct HermesStatus {
    pub url: String,
    /// `registering`, `registered` or `retrying`.
    pub state: String,
    pub component_id: Option<String>,
    pub registrations: u32,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

pub enum ToRegistrar {
    Tick,
}

struct Registrar {
    settings: HermesSettings,
    registration: Registration,
    status: Arc<RwLock<HermesStatus>>,
    http: reqwest::Client,
}

struct State {
    token: Option<String>,
    component_id: Option<String>,
    failures: u32,
}

/// The running Registrar's handle.
#[derive(Clone)]
pub struct RegistrarHandle {
    actor: ActorRef<ToRegistrar>,
    status: Arc<RwLock<HermesStatus>>,
}

impl RegistrarHandle {
    pub async fn start(
        settings: HermesSettings,
        registration: Registration,
        parent: Option<ActorCell>,
    ) -> Result<RegistrarHandle, EngineError> {
        let status = Arc::new(RwLock::new(HermesStatus {
            url: settings.url.clone(),
            state: "registering".into(),
            ..Default::default()
        }));
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .build()
            .map_err(|e| EngineError::Internal(format!("Hermes client: {e}")))?;
        let registrar = Registrar { settings, registration, status: status.clone(), http };
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(Some("registrar".into()), registrar, (), parent).await,
            None => Actor::spawn(Some("registrar".into()), registrar, ()).await,
        };
        let (actor, _) = spawned.map_err(|e| EngineError::Internal(format!("cannot start the Registrar: {e}")))?;
        Ok(RegistrarHandle { actor, status })
    }

    pub fn status(&self) -> HermesStatus {
        self.status.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(Duration::from_secs(60))
}

impl Registrar {
    fn set_status(&self, f: impl FnOnce(&mut HermesStatus)) {
        f(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<(u16, Value), String> {
        let mut request = self.http.post(format!("{}{path}", self.settings.url.trim_end_matches('/'))).json(body);
        if let Some(token) = token {
            request = request.header("X-Authentication-Token", token);
        }
        let response =
            request.send().await.map_err(|e| if e.is_timeout() { "timed out".into() } else { e.to_string() })?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn register(&self, state: &mut State) -> Result<(), String> {
        let r = &self.registration;
        let names: Vec<&str> = r.tools.iter().filter_map(|t| t["name"].as_str()).collect();
        let body = json!({
            "component_id": "budget", "name": "budget", "version": env!("CARGO_PKG_VERSION"), "type": "budget",
            "endpoint": r.endpoint, "capabilities": r.capabilities,
            "metadata": {"port": r.port, "tools": names, "mcp_endpoint": format!("{}/api/mcp/v2", r.endpoint),
                          "description": "LLM cost and budget daemon"},
        });
        let (status, answer) = self.post("/api/register", None, &body).await?;
        let token = answer["token"].as_str();
        if !(200..300).contains(&status) || answer["success"] == false || token.is_none() {
            return Err(format!("Hermes refused the registration ({status}): {answer}"));
        }
        state.token = token.map(str::to_string);
        state.component_id =
            Some(answer["componentId"].as_str().or(answer["component_id"].as_str()).unwrap_or("budget").to_string());
        for tool in &r.tools {
            let name = tool["name"].as_str().unwrap_or_default();
            let body = json!({
                "name": format!("budget_{name}"), "description": tool["description"], "schema": tool["schema"],
                "tags": tool["tags"], "version": env!("CARGO_PKG_VERSION"),
                "endpoint": format!("{}/api/mcp/v2/process", r.endpoint),
                "metadata": {"component": "budget", "tool_name": name, "category": tool["category"]},
            });
            // A tool Hermes did not take is logged; the registration itself stands.
            match self.post("/api/mcp/v2/tools", state.token.as_deref(), &body).await {
                Ok((s, _)) if (200..300).contains(&s) => {}
                Ok((s, a)) => warn!(target: "hermes", tool = name, status = s, answer = %a, "tool not registered"),
                Err(e) => warn!(target: "hermes", tool = name, error = %e, "tool not registered"),
            }
        }
        let id = state.component_id.clone();
        self.set_status(|s| {
            s.state = "registered".into();
            s.component_id = id;
            s.registrations += 1;
            s.last_error = None;
        });
        info!(target: "hermes", url = %self.settings.url, "registered with Hermes");
        Ok(())
    }

    /// Ok(true) when Hermes still knows us; Ok(false) when it must hear from us again.
    async fn heartbeat(&self, state: &State) -> Result<bool, String> {
        let body = json!({"component_id": state.component_id, "status": {"state": "healthy",
            "version": env!("CARGO_PKG_VERSION")}});
        let (status, answer) = self.post("/api/heartbeat", state.token.as_deref(), &body).await?;
        match status {
            200..=299 => {
                self.set_status(|s| {
                    s.last_heartbeat = Some(Utc::now());
                    s.last_error = None;
                });
                Ok(true)
            }
            // Forgotten (a restarted Hermes) or a token it no longer accepts: register again.
            401 | 403 | 404 | 410 | 422 => {
                warn!(target: "hermes", status, answer = %answer, "Hermes does not know this registration; registering again");
                Ok(false)
            }
            other => Err(format!("heartbeat answered {other}: {answer}")),
        }
    }
}

impl Actor for Registrar {
    type Msg = ToRegistrar;
    type State = State;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<ToRegistrar>, _: ()) -> Result<State, ActorProcessingErr> {
        // The first attempt is a message: starting never waits for Hermes.
        let _ = myself.cast(ToRegistrar::Tick);
        Ok(State { token: None, component_id: None, failures: 0 })
    }

    async fn handle(
        &self,
        myself: ActorRef<ToRegistrar>,
        message: ToRegistrar,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let ToRegistrar::Tick = message;
        let outcome = if state.token.is_none() {
            self.register(state).await
        } else {
            match self.heartbeat(state).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    state.token = None;
                    self.register(state).await
                }
                Err(e) => Err(e),
            }
        };
        let next = match outcome {
            Ok(()) => {
                state.failures = 0;
                self.settings.heartbeat
            }
            Err(e) => {
                state.failures += 1;
                warn!(target: "hermes", error = %e, failures = state.failures, "Hermes unreachable; retrying");
                let registered = state.token.is_some();
                self.set_status(|s| {
                    s.state = if registered { "registered".into() } else { "retrying".into() };
                    s.last_error = Some(e);
                });
                if registered { self.settings.heartbeat } else { backoff(state.failures) }
            }
        };
        myself.send_after(next, || ToRegistrar::Tick);
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<ToRegistrar>, state: &mut State) -> Result<(), ActorProcessingErr> {
        let (Some(token), Some(id)) = (&state.token, &state.component_id) else { return Ok(()) };
        let url = format!("{}/api/unregister?component_id={id}", self.settings.url.trim_end_matches('/'));
        let unregister = self.http.post(url).header("X-Authentication-Token", token).send();
        // Shutdown waits two seconds at most for Hermes.
        match tokio::time::timeout(Duration::from_secs(2), unregister).await {
            Ok(Ok(r)) if r.status().is_success() => info!(target: "hermes", "unregistered from Hermes"),
            Ok(Ok(r)) => warn!(target: "hermes", status = r.status().as_u16(), "Hermes refused the unregister"),
            Ok(Err(e)) => warn!(target: "hermes", error = %e, "unregister failed"),
            Err(_) => warn!(target: "hermes", "unregister timed out"),
        }
        Ok(())
    }
}
