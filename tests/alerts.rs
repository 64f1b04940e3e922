//! Alerts reaching people, end to end: the real binary, a real local webhook receiver that
//! checks the HMAC signature itself, the delivery log, retries, a killed daemon, the event
//! stream, and two daemons sharing PostgreSQL.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Daemon;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec_receiver_test_secret_0123456789";

/// Fast retries so a test sees several attempts in seconds.
const CONFIG: &str = "[price_monitor]\nenabled = false\n\n[alerts]\nretry_base_seconds = 1\nretry_max_seconds = 2\n\
                      poll_interval_ms = 100\nmax_attempts = 6\n";

/// A webhook receiver: answers with the status set in `answer` (a 5xx while "down"), keeps
/// every request it got, and verifies each signature on its own (not with the daemon's code).
#[derive(Clone, Default)]
struct Receiver {
    answer: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    bad_signatures: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(answer: u16) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver.answer.store(answer, Ordering::SeqCst);
        let app = axum::Router::new().route("/hook", post(hook)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.got.lock().expect("lock").clone()
    }

    fn alerts_of_kind(&self, kind: &str) -> usize {
        self.requests().iter().filter(|(_, b)| b["alert"]["kind"] == kind).count()
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let timestamp: i64 = header("x-budget-timestamp").parse().unwrap_or(0);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
    if header("x-budget-signature") != expected || !fresh {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
    }
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.got.lock().expect("lock").push((headers, value));
    StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn webhook_channel(d: &Daemon, name: &str, url: &str, kinds: Value) -> Value {
    let (status, channel) = d
        .post(
            "/api/v1/alert-channels",
            json!({"name": name, "kind": "webhook", "url": url, "secret": SECRET, "kinds": kinds}),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    channel
}

/// A budget of $1.00 in total (no window, so no run-rate projection), soft: usage goes past.
async fn dollar_budget(d: &Daemon, name: &str) {
    let (status, body) = d
        .post(
            "/api/v1/budgets",
            json!({"name": name, "component": name,
                   "policies": [{"period": "total", "cost_limit": "1.00", "enforcement": "soft_limit"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// 100,000 input tokens of claude-sonnet-4-5 at $3 per million: $0.30.
async fn spend_30_cents(d: &Daemon, component: &str) {
    let (status, body) = d
        .post(
            "/api/v1/usage/record",
            json!({"component": component, "provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 100000, "output_tokens": 0}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["cost"], "0.300000");
}

async fn deliveries(d: &Daemon, query: &str) -> Vec<Value> {
    let (status, body) = d.get(&format!("/api/v1/alert-deliveries?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_80_and_100_percent_is_one_signed_delivery_each() {
    let (receiver, url) = Receiver::start(200).await;
    let d = Daemon::start_configured(None, None, CONFIG);
    let channel = webhook_channel(&d, "ops", &url, json!(["budget_warning", "budget_exceeded"])).await;
    assert_eq!(channel["has_secret"], true);
    assert_eq!(channel["secret"], SECRET, "the secret is shown in the create reply");
    let (_, listed) = d.get("/api/v1/alert-channels").await;
    assert!(listed.to_string().find(SECRET).is_none(), "never again: {listed}");
    dollar_budget(&d, "alerting").await;

    for _ in 0..3 {
        spend_30_cents(&d, "alerting").await; // 0.30, 0.60, 0.90: past 80% at the third
    }
    for _ in 0..3 {
        spend_30_cents(&d, "alerting").await; // 1.20: past 100%; then more of the same
    }
    wait_for("two deliveries", async || receiver.requests().len() >= 2).await;
    // Nothing more arrives: each crossing is one alert, delivered once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.alerts_of_kind("budget_warning"), 1);
    assert_eq!(receiver.alerts_of_kind("budget_exceeded"), 1);
    assert_eq!(receiver.requests().len(), 2, "{:?}", receiver.requests());
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0, "every signature verifies");
    let (headers, body) = &receiver.requests()[0];
    assert_eq!(headers["x-budget-event"], "alert");
    assert_eq!(headers["x-budget-delivery"].to_str().ok(), body["delivery_id"].as_str());
    assert_eq!(body["channel"], "ops");
    assert!(body["alert"]["budget_id"].as_str().is_some(), "{body}");

    let (_, alerts) = d.get("/api/v1/alerts?budget=alerting").await;
    let kinds: Vec<&str> = alerts.as_array().expect("list").iter().filter_map(|a| a["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "budget_warning").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "budget_exceeded").count(), 1, "{kinds:?}");
    let log = deliveries(&d, "channel=ops").await;
    assert_eq!(log.len(), 2, "{log:?}");
    for delivery in &log {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["last_status_code"], 200);
    }
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_gets_retries_until_it_answers() {
    let (receiver, url) = Receiver::start(503).await;
    let d = Daemon::start_configured(None, None, CONFIG);
    webhook_channel(&d, "flaky", &url, json!([])).await;
    dollar_budget(&d, "retrying").await;
    for _ in 0..3 {
        spend_30_cents(&d, "retrying").await;
    }
    wait_for("two failed attempts", async || {
        deliveries(&d, "channel=flaky").await.iter().any(|x| x["attempts"].as_u64() >= Some(2))
    })
    .await;
    let pending = deliveries(&d, "channel=flaky").await;
    assert_eq!(pending[0]["status"], "pending", "{pending:?}");
    assert_eq!(pending[0]["last_status_code"], 503);
    assert!(pending[0]["last_error"].as_str().is_some_and(|e| e.contains("503")), "{pending:?}");
    assert!(pending[0]["next_attempt_at"].is_string());

    receiver.answer.store(200, Ordering::SeqCst);
    wait_for("the delivery after the receiver came back", async || {
        deliveries(&d, "channel=flaky").await.iter().all(|x| x["status"] == "delivered")
    })
    .await;
    let done = deliveries(&d, "channel=flaky").await;
    assert_eq!(done.len(), 1, "one alert (the 80% crossing): {done:?}");
    assert!(done[0]["attempts"].as_u64() >= Some(3), "{done:?}");
    assert!(done[0]["last_error"].is_null());
    // Every attempt carried the same delivery id, for the receiver to de-duplicate on.
    let ids: std::collections::HashSet<String> = receiver
        .requests()
        .iter()
        .map(|(h, _)| h["x-budget-delivery"].to_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 1);
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_delivers_its_undelivered_alerts_after_restart() {
    let (receiver, url) = Receiver::start(503).await;
    let data = tempfile::tempdir().expect("temp dir");
    let d = Daemon::start_configured(Some(data.path()), None, CONFIG);
    webhook_channel(&d, "after-restart", &url, json!([])).await;
    dollar_budget(&d, "restarting").await;
    for _ in 0..4 {
        spend_30_cents(&d, "restarting").await;
    }
    wait_for("a failed attempt", async || !receiver.requests().is_empty()).await;
    d.kill();
    let before = receiver.requests().len();

    receiver.answer.store(200, Ordering::SeqCst);
    let d = Daemon::start_configured(Some(data.path()), None, CONFIG);
    wait_for("delivery after the restart", async || {
        let log = deliveries(&d, "channel=after-restart").await;
        !log.is_empty() && log.iter().all(|x| x["status"] == "delivered")
    })
    .await;
    assert!(receiver.requests().len() > before);
    let kinds: std::collections::HashSet<String> =
        receiver.requests().iter().filter_map(|(_, b)| b["alert"]["kind"].as_str().map(str::to_string)).collect();
    assert!(kinds.contains("budget_warning") && kinds.contains("budget_exceeded"), "{kinds:?}");
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_checked_tested_filtered_and_removed() {
    let (receiver, url) = Receiver::start(200).await;
    let d = Daemon::start_configured(None, None, CONFIG);
    dollar_budget(&d, "quiet").await;
    for (body, field) in [
        (json!({"name": "x", "kind": "pager"}), "kind"),
        (json!({"name": "x", "kind": "webhook"}), "url"),
        (json!({"name": "x", "kind": "webhook", "url": "ftp://example.com/x"}), "url"),
        (json!({"name": "x", "kind": "webhook", "url": url, "secret": "short"}), "secret"),
        (json!({"name": "x", "kind": "log", "url": url}), "url"),
        (json!({"name": "x", "kind": "log", "min_severity": "loud"}), "min_severity"),
        (json!({"name": "x", "kind": "log", "kinds": ["budget_warning", "nope"]}), "kinds[1]"),
        (json!({"name": "x", "kind": "log", "budgets": ["no-such-budget"]}), "budgets[0]"),
        (json!({"name": "x", "kind": "log", "quiet_hours": {"start": "25:00", "end": "07:00"}}), "quiet_hours.start"),
    ] {
        let (status, error) = d.post("/api/v1/alert-channels", body.clone()).await;
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(error["error"]["details"]["field"], field, "{body} → {error}");
    }
    // A generated secret, shown once.
    let (status, created) =
        d.post("/api/v1/alert-channels", json!({"name": "generated", "kind": "webhook", "url": url})).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["secret"].as_str().is_some_and(|s| s.starts_with("whsec_") && s.len() > 40));
    let (status, again) = d.post("/api/v1/alert-channels", json!({"name": "generated", "kind": "log"})).await;
    assert_eq!(status, 409, "{again}");

    // The test send reaches the receiver with a `test` body; a read key may not send one.
    let (status, tested) = d.post("/api/v1/alert-channels/generated/test", json!({})).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["status"], "delivered");
    assert_eq!(tested["status_code"], 200);
    assert!(receiver.requests().iter().any(|(h, b)| h["x-budget-event"] == "test" && b["type"] == "test"));
    let (_, read_key) = d.post("/api/v1/keys", json!({"name": "reader", "role": "read"})).await;
    let read_key = read_key["key"].as_str().expect("key").to_string();
    let (status, _) =
        d.call(reqwest::Method::POST, "/api/v1/alert-channels/generated/test", Some(&read_key), Some(json!({}))).await;
    assert_eq!(status, 403);
    let (status, seen) = d.call(reqwest::Method::GET, "/api/v1/alert-channels", Some(&read_key), None).await;
    assert_eq!(status, 200, "a read key sees channels: {seen}");

    // A channel for errors only does not get a warning; quiet hours hold back all but errors.
    let (status, _) = d
        .post(
            "/api/v1/alert-channels",
            json!({"name": "errors-only", "kind": "webhook", "url": url,
               "secret": SECRET, "min_severity": "critical", "budgets": ["quiet"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = d
        .post(
            "/api/v1/alert-channels",
            json!({"name": "sleeping", "kind": "webhook", "url": url, "secret": SECRET,
               "quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, patched) = d
        .call(
            reqwest::Method::PATCH,
            "/api/v1/alert-channels/generated",
            Some(&d.admin_key),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["enabled"], false);
    for _ in 0..3 {
        spend_30_cents(&d, "quiet").await; // a warning
    }
    wait_for("the warning's deliveries to be decided", async || {
        let sleeping = deliveries(&d, "channel=sleeping").await;
        sleeping.len() == 1 && sleeping[0]["attempts"] == 0 && sleeping[0]["next_attempt_at"].is_string()
    })
    .await;
    assert!(deliveries(&d, "channel=errors-only").await.is_empty(), "a warning is below its min severity");
    assert!(deliveries(&d, "channel=generated").await.is_empty(), "a disabled channel subscribes to nothing");
    let held = deliveries(&d, "channel=sleeping").await;
    assert_eq!(held[0]["status"], "pending", "held until the quiet hours end: {held:?}");

    let (status, _) =
        d.call(reqwest::Method::DELETE, "/api/v1/alert-channels/sleeping", Some(&d.admin_key), None).await;
    assert_eq!(status, 204);
    let (status, _) = d.get("/api/v1/alert-channels/sleeping").await;
    assert_eq!(status, 404);
    let (status, error) = d.get("/api/v1/alert-deliveries?status=lost").await;
    assert_eq!(status, 400, "{error}");
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_carries_every_budget_event() {
    use futures::StreamExt;
    let d = Daemon::start_configured(None, None, CONFIG);
    dollar_budget(&d, "streamed").await;
    let response =
        d.http.get(format!("{}/api/v1/events", d.url)).bearer_auth(&d.admin_key).send().await.expect("stream opened");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();

    let (status, grant) = d
        .post(
            "/api/v1/allocations",
            json!({"component": "streamed", "provider": "anthropic",
               "model": "claude-sonnet-4-5", "input_tokens": 1000, "max_output_tokens": 100}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let id = grant["id"].as_str().expect("id").to_string();
    let (status, _) =
        d.post("/api/v1/usage/record", json!({"allocation_id": id, "input_tokens": 300000, "output_tokens": 0})).await;
    assert_eq!(status, 201);
    let (status, _) = d.post(&format!("/api/v1/allocations/{id}/release"), json!({})).await;
    assert_eq!(status, 200);

    let wanted = ["allocation_granted", "usage_recorded", "allocation_released", "alert"];
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if wanted.iter().all(|k| text.contains(&format!("event: {k}\n"))) {
                return;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "not every event arrived: {text}");
    let usage = text
        .split("\n\n")
        .find(|e| e.contains("event: usage_recorded"))
        .and_then(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str::<Value>(d).expect("json data"))
        .expect("usage event");
    assert_eq!(usage["kind"], "usage_recorded");
    assert_eq!(usage["data"]["cost"], "0.900000");
    assert!(usage["seq"].as_u64().is_some());

    let (status, error) = d.get("/api/v1/events?kinds=alert,bogus").await;
    assert_eq!(status, 400, "{error}");
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn two_daemons_on_postgres_deliver_a_crossing_once() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let (receiver, hook) = Receiver::start(200).await;
    let first = Daemon::start_configured(None, Some(&url), CONFIG);
    let mut second = Daemon::start_configured(None, Some(&url), CONFIG);
    second.admin_key = first.admin_key.clone();
    webhook_channel(&first, "shared", &hook, json!(["budget_warning", "budget_exceeded"])).await;
    dollar_budget(&first, "shared").await;
    // Both daemons record; both see the crossings; one alert and one delivery each.
    let (a, b) = tokio::join!(
        async {
            for _ in 0..3 {
                spend_30_cents(&first, "shared").await;
            }
        },
        async {
            for _ in 0..3 {
                spend_30_cents(&second, "shared").await;
            }
        }
    );
    let _ = (a, b);
    wait_for("two deliveries", async || receiver.requests().len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.alerts_of_kind("budget_warning"), 1, "{:?}", receiver.requests());
    assert_eq!(receiver.alerts_of_kind("budget_exceeded"), 1, "{:?}", receiver.requests());
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    first.stop();
    second.stop();
}
