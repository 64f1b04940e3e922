//! Hermes registration against a local stand-in that speaks Hermes' documented protocol
//! (TEKTON.md) and records what it receives: register, tools, heartbeats with the token,
//! Hermes forgetting us and refusing a stale token, unregister at shutdown, and a Hermes that
//! never answers (nothing in the daemon waits for it).

mod common;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::Daemon;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A call Hermes received: its path, the token header, the body.
type Call = (String, Option<String>, Value);

#[derive(Clone, Default)]
struct Hermes {
    calls: Arc<Mutex<Vec<Call>>>,
    tokens: Arc<AtomicU32>,
    /// What the next heartbeats answer (200 when 0).
    heartbeat_answer: Arc<AtomicU32>,
}

impl Hermes {
    async fn start() -> (Hermes, String) {
        let hermes = Hermes::default();
        let app = Router::new()
            .route("/api/register", post(register))
            .route("/api/heartbeat", post(heartbeat))
            .route("/api/unregister", post(unregister))
            .route("/api/mcp/v2/tools", post(tool))
            .with_state(hermes.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (hermes, url)
    }

    fn record(&self, path: &str, headers: &HeaderMap, body: Value) {
        let token = headers.get("x-authentication-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        self.calls.lock().expect("lock").push((path.to_string(), token, body));
    }

    fn calls(&self, path: &str) -> Vec<(Option<String>, Value)> {
        self.calls.lock().expect("lock").iter().filter(|c| c.0 == path).map(|c| (c.1.clone(), c.2.clone())).collect()
    }

    fn current_token(&self) -> String {
        format!("tok-{}", self.tokens.load(Ordering::SeqCst))
    }
}

async fn register(State(h): State<Hermes>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    h.record("register", &headers, body);
    let n = h.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"success": true, "componentId": "budget", "token": format!("tok-{n}"), "message": "registered"}))
}

async fn heartbeat(State(h): State<Hermes>, headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    h.record("heartbeat", &headers, body);
    let answer = h.heartbeat_answer.swap(0, Ordering::SeqCst);
    let token_ok = headers.get("x-authentication-token").and_then(|v| v.to_str().ok()) == Some(&h.current_token());
    match (answer, token_ok) {
        (0, true) => (StatusCode::OK, Json(json!({"success": true}))),
        (0, false) => (StatusCode::UNAUTHORIZED, Json(json!({"detail": "invalid token"}))),
        (code, _) => (
            StatusCode::from_u16(code as u16).unwrap_or(StatusCode::NOT_FOUND),
            Json(json!({"detail": "unknown component"})),
        ),
    }
}

async fn unregister(
    State(h): State<Hermes>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    h.record("unregister", &headers, json!(q));
    Json(json!({"success": true}))
}

async fn tool(State(h): State<Hermes>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    h.record("tool", &headers, body);
    Json(json!({"success": true}))
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn config(url: &str) -> String {
    format!(
        "[price_monitor]\nenabled = false\n\n[hermes]\nurl = \"{url}\"\nheartbeat_seconds = 1\nrequest_timeout_seconds = 1\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_heartbeats_recovers_and_unregisters() {
    let (hermes, url) = Hermes::start().await;
    let d = Daemon::start_configured(None, None, &config(&url));
    wait_for("registration", || !hermes.calls("register").is_empty()).await;
    let (_, registration) = hermes.calls("register")[0].clone();
    assert_eq!(registration["name"], "budget");
    assert_eq!(registration["endpoint"], d.url, "{registration}");
    assert!(registration["capabilities"].as_array().is_some_and(|c| c.contains(&json!("budget_management"))));
    assert_eq!(registration["metadata"]["tools"].as_array().map(Vec::len), Some(12), "{registration}");
    wait_for("the tools", || hermes.calls("tool").len() >= 12).await;
    assert!(hermes.calls("tool").iter().all(|(_, t)| t["name"].as_str().is_some_and(|n| n.starts_with("budget_"))));
    assert!(hermes.calls("tool").iter().any(|(_, t)| t["name"] == "budget_AllocateBudget"));

    wait_for("a heartbeat with the token", || {
        hermes.calls("heartbeat").iter().any(|(t, _)| t.as_deref() == Some("tok-1"))
    })
    .await;
    let (_, ready) = d.get("/ready").await;
    assert_eq!(ready["hermes"]["state"], "registered", "{ready}");

    // Hermes restarted and forgot us: register again, then heartbeat with the new token.
    hermes.heartbeat_answer.store(404, Ordering::SeqCst);
    wait_for("a second registration", || hermes.calls("register").len() >= 2).await;
    wait_for("a heartbeat with tok-2", || hermes.calls("heartbeat").iter().any(|(t, _)| t.as_deref() == Some("tok-2")))
        .await;
    // Hermes refuses a stale token: register again.
    hermes.heartbeat_answer.store(401, Ordering::SeqCst);
    wait_for("a third registration", || hermes.calls("register").len() >= 3).await;
    wait_for("a heartbeat with tok-3", || hermes.calls("heartbeat").iter().any(|(t, _)| t.as_deref() == Some("tok-3")))
        .await;
    let (_, ready) = d.get("/ready").await;
    assert_eq!(ready["hermes"]["registrations"], 3, "{ready}");

    d.stop();
    let unregistered = hermes.calls("unregister");
    assert_eq!(unregistered.len(), 1, "unregistered once at shutdown");
    assert_eq!(unregistered[0].0.as_deref(), Some("tok-3"), "with the token");
    assert_eq!(unregistered[0].1["component_id"], "budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hermes_that_never_answers_delays_nothing() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in silent.incoming().flatten() {
            keep.lock().expect("lock").push(stream);
        }
    });
    // It starts (announces its address) although Hermes hangs.
    let d = Daemon::start_configured(None, None, &config(&url));
    let (status, body) = d
        .post(
            "/api/v1/allocations",
            json!({"component": "x", "provider": "anthropic", "model": "claude-sonnet-4-5",
               "input_tokens": 10, "max_output_tokens": 10}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut ready = Value::Null;
    for _ in 0..100 {
        let (status, body) = d.get("/ready").await;
        assert_eq!(status, 200, "Hermes is not a reason to be unready: {body}");
        ready = body;
        if ready["hermes"]["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready["hermes"]["state"], "retrying", "{ready}");
    assert!(ready["hermes"]["last_error"].is_string(), "{ready}");
    // SIGTERM: the daemon exits by itself (status 0) within the harness' grace period, not
    // killed while waiting on Hermes.
    assert_eq!(d.stop_status().and_then(|s| s.code()), Some(0));
}
