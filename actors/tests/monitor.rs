//! Price monitoring end to end: real sources served over real HTTP by a server in the test,
//! verification, approval, versioned prices, failures and restarts.

mod common;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Duration;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use budget_actors::api::EstimateRequest;
use budget_actors::monitor::{MonitorSettings, PriceMonitor, Verification};
use budget_actors::pricing::BUILTIN_LITELLM_JSON;
use budget_actors::sources::{SourceConfig, SourceKind};
use budget_actors::{Engine, EngineError};

type Files = Arc<Mutex<HashMap<String, (u16, String)>>>;

async fn serve(State(files): State<Files>, Path(name): Path<String>) -> impl IntoResponse {
    let entry = files.lock().expect("lock").get(&name).cloned();
    match entry {
        Some((status, body)) => (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_server(files: Files) -> String {
    let app = Router::new().route("/{name}", axum::routing::get(serve)).with_state(files);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// LiteLLM's map with claude-sonnet-4-5's input price replaced.
fn litellm_with_sonnet_input(price: &str) -> String {
    let mut map: Value = serde_json::from_str(BUILTIN_LITELLM_JSON).expect("builtin map");
    map["claude-sonnet-4-5"]["input_cost_per_token"] = serde_json::from_str(price).expect("number");
    serde_json::to_string(&map).expect("serialize")
}

/// llm-prices.com's feed (the real fixture) with claude-sonnet-4.5's input per million replaced.
fn llm_prices_with_sonnet_input(per_million: &str) -> String {
    let text = include_str!("fixtures/llm-prices/current-v1.json");
    let mut feed: Value = serde_json::from_str(text).expect("feed");
    for p in feed["prices"].as_array_mut().expect("prices") {
        if p["id"] == "claude-sonnet-4.5" {
            p["input"] = serde_json::from_str(per_million).expect("number");
        }
    }
    serde_json::to_string(&feed).expect("serialize")
}

fn source(name: &str, kind: SourceKind, url: String, trust: &str) -> SourceConfig {
    SourceConfig {
        trust: dec(trust),
        retries: 0,
        min_interval_seconds: 0,
        timeout_seconds: 30,
        ..SourceConfig::new(name, kind, url)
    }
}

struct Setup {
    engine: Engine,
    monitor: PriceMonitor,
    files: Files,
    _repo: common::TestRepo,
}

async fn setup() -> Setup {
    setup_with(&[], |_| {}).await
}

/// The two usual sources (LiteLLM's map at 0.9, the llm-prices feed at 0.7) served by a test
/// server, plus `extra` sources of the llm-prices kind at 0.7 each (name, feed); `tweak`
/// adjusts the settings.
async fn setup_with(extra: &[(&str, String)], tweak: impl FnOnce(&mut MonitorSettings)) -> Setup {
    let files: Files = Arc::new(Mutex::new(HashMap::new()));
    {
        let mut f = files.lock().expect("lock");
        f.insert("litellm.json".into(), (200, BUILTIN_LITELLM_JSON.to_string()));
        f.insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("3")));
        for (name, feed) in extra {
            f.insert(format!("{name}.json"), (200, feed.clone()));
        }
    }
    let base = start_server(files.clone()).await;
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let mut sources = vec![
        source("litellm", SourceKind::Litellm, format!("{base}/litellm.json"), "0.9"),
        source("llm-prices", SourceKind::LlmPrices, format!("{base}/llm-prices.json"), "0.7"),
    ];
    for (name, _) in extra {
        sources.push(source(name, SourceKind::LlmPrices, format!("{base}/{name}.json"), "0.7"));
    }
    let mut settings =
        MonitorSettings { sources, schedules: false, fetch_on_start: false, ..MonitorSettings::default() };
    tweak(&mut settings);
    let monitor = PriceMonitor::start(engine.clone(), settings).await.expect("monitor starts");
    Setup { engine, monitor, files, _repo: repo }
}

async fn sonnet_input(engine: &Engine) -> Decimal {
    sonnet_input_at_tier(engine, budget_actors::pricing::ServiceTier::Standard).await
}

/// What a million input tokens of claude-sonnet-4-5 cost at a service tier.
async fn sonnet_input_at_tier(engine: &Engine, tier: budget_actors::pricing::ServiceTier) -> Decimal {
    engine
        .estimate(EstimateRequest {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: Some(1_000_000),
            output_tokens: Some(0),
            service_tier: Some(tier),
            ..Default::default()
        })
        .await
        .expect("estimate")
        .cost
        .expect("priced")
}

/// Changes held for claude-sonnet-4-5 (llm-prices also proposes models LiteLLM lacks; a
/// single, not fully trusted source's new models wait for approval too).
async fn sonnet_pending(monitor: &PriceMonitor) -> Vec<budget_actors::monitor::PendingChange> {
    let all = monitor.pending(Some("pending"), 1000).await.expect("pending");
    all.into_iter().filter(|p| p.provider == "anthropic" && p.model == "claude-sonnet-4-5").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_that_agree_with_the_built_in_table_change_nothing() {
    let s = setup().await;
    let reports = s.monitor.refresh(None).await.expect("refresh");
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.applied, 0, "the built-in table is the same map: {r:?}");
    }
    assert!(reports.iter().find(|r| r.source == "litellm").expect("litellm").models > 4000);
    assert_eq!(sonnet_input(&s.engine).await, dec("3"));
    let sources = s.monitor.sources().await.expect("sources");
    assert!(sources.iter().all(|x| x.healthy && x.last_success.is_some()), "{sources:?}");
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_off_by_1000x_is_a_conflict_and_not_applied() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    // llm-prices now says $3,000 per million for claude-sonnet-4.5; LiteLLM still says $3.
    s.files.lock().expect("lock").insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("3000")));
    let reports = s.monitor.refresh(Some("llm-prices")).await.expect("refresh");
    let updates = s.monitor.updates(None, None, 5).await.expect("updates");
    assert_eq!(reports[0].applied, 0, "{reports:?} {updates:#?}");
    assert_eq!(sonnet_input(&s.engine).await, dec("3"), "the 1000x price is not applied");
    let conflicts = s.monitor.conflicts().await.expect("conflicts");
    let sonnet = conflicts
        .iter()
        .find(|c| c.provider == "anthropic" && c.model == "claude-sonnet-4-5")
        .expect("claude-sonnet-4-5 is listed as a conflict");
    assert_eq!(sonnet.status, Verification::Conflict);
    assert_eq!(sonnet.agreeing, vec!["litellm"], "the more trusted source wins");
    assert_eq!(sonnet.outliers, vec!["llm-prices"]);
    let trust = s.monitor.sources().await.expect("sources");
    let llm = trust.iter().find(|x| x.name == "llm-prices").expect("llm-prices");
    assert!(llm.disagreements >= 1);
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_verified_change_applies_and_reprices_only_later_usage() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    let before = budget_actors::domain::now();
    // Both sources move claude-sonnet-4-5's input from $3 to $3.30 per million (+10 %).
    {
        let mut f = s.files.lock().expect("lock");
        f.insert("litellm.json".into(), (200, litellm_with_sonnet_input("3.3e-06")));
        f.insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("3.3")));
    }
    s.monitor.refresh(Some("llm-prices")).await.expect("llm-prices");
    assert_eq!(sonnet_input(&s.engine).await, dec("3"), "one source alone disagreeing with the other is not enough");
    let reports = s.monitor.refresh(Some("litellm")).await.expect("litellm");
    assert_eq!(reports[0].applied, 1, "{reports:?}");
    assert_eq!(sonnet_input(&s.engine).await, dec("3.3"));
    let updates = s.monitor.updates(Some("anthropic"), Some("claude-sonnet-4-5"), 10).await.expect("updates");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].kind, "auto");
    assert_eq!(updates[0].status, "verified");
    let change = &updates[0].changes[0];
    assert_eq!(change.field, "input_cost_per_token");
    assert_eq!(
        (change.old, change.new, change.percent),
        (Some(dec("0.000003")), Some(dec("0.0000033")), Some(dec("10")))
    );
    // Usage before the change keeps the old price.
    let earlier = s
        .engine
        .estimate(EstimateRequest {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: Some(1_000_000),
            timestamp: Some(before - Duration::seconds(1)),
            ..Default::default()
        })
        .await
        .expect("estimate");
    assert_eq!(earlier.cost, Some(dec("3")));
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_change_waits_for_approval() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    {
        let mut f = s.files.lock().expect("lock");
        f.insert("litellm.json".into(), (200, litellm_with_sonnet_input("4.5e-06")));
        f.insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("4.5")));
    }
    s.monitor.refresh(None).await.expect("refresh");
    assert_eq!(sonnet_input(&s.engine).await, dec("3"), "+50 % is held");
    let pending = sonnet_pending(&s.monitor).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "threshold");
    assert_eq!(pending[0].changes[0].percent, Some(dec("50")));
    // Refreshing again does not queue the same change twice.
    s.monitor.refresh(None).await.expect("again");
    assert_eq!(sonnet_pending(&s.monitor).await.len(), 1);

    let before_approval = budget_actors::domain::now();
    let approved = s.monitor.approve(pending[0].id).await.expect("approve");
    assert_eq!(approved.status, "approved");
    assert_eq!(sonnet_input(&s.engine).await, dec("4.5"));
    let earlier = s
        .engine
        .estimate(EstimateRequest {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            input_tokens: Some(1_000_000),
            timestamp: Some(before_approval - Duration::milliseconds(1)),
            ..Default::default()
        })
        .await
        .expect("estimate");
    assert_eq!(earlier.cost, Some(dec("3")), "usage before the approval keeps its price");
    assert!(matches!(s.monitor.approve(pending[0].id).await, Err(EngineError::Conflict(_))), "decided once");
    let history = s.engine.price_history("anthropic", "claude-sonnet-4-5");
    assert_eq!(history.len(), 1);
    let updates = s.monitor.updates(Some("anthropic"), Some("claude-sonnet-4-5"), 10).await.expect("updates");
    assert_eq!(updates[0].kind, "approved");
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_change_stays_out() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    {
        let mut f = s.files.lock().expect("lock");
        f.insert("litellm.json".into(), (200, litellm_with_sonnet_input("6e-06")));
        f.insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("6")));
    }
    s.monitor.refresh(None).await.expect("refresh");
    let pending = sonnet_pending(&s.monitor).await;
    let rejected = s.monitor.reject(pending[0].id, Some("typo upstream")).await.expect("reject");
    assert_eq!((rejected.status.as_str(), rejected.note.as_deref()), ("rejected", Some("typo upstream")));
    assert_eq!(sonnet_input(&s.engine).await, dec("3"));
    assert!(matches!(s.monitor.reject(uuid::Uuid::now_v7(), None).await, Err(EngineError::NotFound { .. })));
    // The same change is not proposed again.
    s.monitor.refresh(None).await.expect("refresh again");
    assert!(sonnet_pending(&s.monitor).await.is_empty(), "a rejected change stays rejected");
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fetches_keep_the_previous_prices() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    let cases = [
        (500, "{}".to_string()),
        (200, BUILTIN_LITELLM_JSON[..BUILTIN_LITELLM_JSON.len() / 2].to_string()),
        // 90 % of the models gone.
        (200, {
            let map: serde_json::Map<String, Value> = serde_json::from_str(BUILTIN_LITELLM_JSON).expect("map");
            let kept: serde_json::Map<String, Value> = map.into_iter().take(400).collect();
            serde_json::to_string(&kept).expect("serialize")
        }),
    ];
    for (status, body) in cases {
        s.files.lock().expect("lock").insert("litellm.json".into(), (status, body));
        let reports = s.monitor.refresh(Some("litellm")).await.expect("refresh answers");
        assert!(reports[0].error.is_some(), "{reports:?}");
        assert_eq!(sonnet_input(&s.engine).await, dec("3"), "prices in force are unchanged");
        let sources = s.monitor.sources().await.expect("sources");
        let litellm = sources.iter().find(|x| x.name == "litellm").expect("litellm");
        assert!(!litellm.healthy && litellm.last_error.is_some());
        assert!(litellm.model_count > 4000, "the last good count is kept");
    }
    let alerts = s
        .engine
        .list_alerts(&budget_actors::api::AlertsQuery { limit: Some(50), ..Default::default() })
        .await
        .expect("alerts");
    assert!(alerts.iter().any(|a| a.kind == "price_source_failed"));
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_source_actor_is_restarted_and_the_others_keep_running() {
    let s = setup().await;
    s.monitor.crash_source("llm-prices");
    // The litellm source answers while llm-prices is down.
    let reports = s.monitor.refresh(Some("litellm")).await.expect("litellm refresh");
    assert_eq!(reports[0].error, None);
    // First restart after a 1 s backoff.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.monitor.source_restarts().await.expect("restarts").get("llm-prices") != Some(&1) {
        assert!(tokio::time::Instant::now() < deadline, "llm-prices was not restarted within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reports = s.monitor.refresh(Some("llm-prices")).await.expect("llm-prices refresh");
    assert_eq!(reports[0].error, None, "{reports:?}");
    assert!(matches!(s.monitor.refresh(Some("nope")).await, Err(EngineError::NotFound { .. })));
    s.monitor.shutdown();
}

/// The VerifierActor is supervised like the sources: when it fails, the PriceSupervisor
/// starts a successor at once, and the next refresh of each source is a full fetch that the
/// new verifier verifies (no 304 leaving it without that source's prices).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_verifier_is_restarted_and_verification_goes_on() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    s.monitor.crash_verifier();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.monitor.source_restarts().await.expect("restarts").get("(verifier)") != Some(&1) {
        assert!(tokio::time::Instant::now() < deadline, "the verifier was not restarted within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let reports = s.monitor.refresh(None).await.expect("refresh after the restart");
    assert!(reports.iter().all(|r| r.error.is_none() && !r.not_modified), "{reports:?}");
    let sources = s.monitor.sources().await.expect("sources answer through the new verifier");
    assert!(sources.iter().all(|x| x.healthy), "{sources:?}");
    assert!(s.monitor.conflicts().await.is_ok());
    s.monitor.shutdown();
}

/// Sets a price by hand (per million input and output tokens), as `PUT /prices/…` does.
async fn set_manual_price(engine: &Engine, provider: &str, model: &str, input: &str, output: &str) {
    let price = budget_actors::api::SetPrice {
        input_cost_per_million: Some(dec(input)),
        output_cost_per_million: Some(dec(output)),
        ..Default::default()
    };
    engine.set_price(provider, model, price).await.expect("manual price");
}

/// A monitor whose one source is the historical llm-prices fixture feed, for `engine`.
async fn history_monitor(engine: &Engine) -> PriceMonitor {
    let files: Files = Arc::new(Mutex::new(HashMap::new()));
    files
        .lock()
        .expect("lock")
        .insert("historical.json".into(), (200, include_str!("fixtures/llm-prices/historical-v1.json").to_string()));
    let base = start_server(files).await;
    let settings = MonitorSettings {
        sources: vec![source(
            "llm-prices-history",
            SourceKind::LlmPricesHistorical,
            format!("{base}/historical.json"),
            "0.7",
        )],
        schedules: false,
        ..MonitorSettings::default()
    };
    PriceMonitor::start(engine.clone(), settings).await.expect("monitor")
}

/// What a million input and a million output tokens of deepseek-chat cost at `when`.
async fn deepseek_chat_at(engine: &Engine, when: &str) -> Decimal {
    engine
        .estimate(EstimateRequest {
            provider: "deepseek".into(),
            model: "deepseek-chat".into(),
            input_tokens: Some(1_000_000),
            output_tokens: Some(1_000_000),
            timestamp: Some(chrono::DateTime::parse_from_rfc3339(when).expect("time").to_utc()),
            ..Default::default()
        })
        .await
        .expect("estimate")
        .cost
        .expect("priced")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn historical_feed_backfills_closed_periods_once() {
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let monitor = history_monitor(&engine).await;
    let reports = monitor.refresh(None).await.expect("refresh");
    assert_eq!(reports[0].error, None, "{reports:?}");
    assert!(reports[0].backfilled >= 1, "{reports:?}");
    // deepseek-chat cost $0.14/$0.28 per million until 2025-02-08 (the fixture's history).
    assert_eq!(deepseek_chat_at(&engine, "2025-01-15T00:00:00Z").await, dec("0.42"));
    let now_cost = deepseek_chat_at(&engine, "2026-11-01T00:00:00Z").await;
    assert_ne!(now_cost, dec("0.42"), "after the period the current price applies");
    let again = monitor.refresh(None).await.expect("again");
    assert_eq!(again[0].backfilled, 0, "once per model");
    monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_model_map_joins_a_source_name_to_a_model() {
    let files: Files = Arc::new(Mutex::new(HashMap::new()));
    // A feed that calls the model "house-sonnet" from vendor "acme", at the same price.
    let feed = json_feed("acme", "house-sonnet", "3", "15");
    {
        let mut f = files.lock().expect("lock");
        f.insert("litellm.json".into(), (200, BUILTIN_LITELLM_JSON.to_string()));
        f.insert("acme.json".into(), (200, feed));
    }
    let base = start_server(files.clone()).await;
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let mut map = budget_actors::sources::identity::ModelMap::default();
    map.insert("acme/house-sonnet", "anthropic/claude-sonnet-4-5");
    let settings = MonitorSettings {
        sources: vec![
            source("litellm", SourceKind::Litellm, format!("{base}/litellm.json"), "0.9"),
            source("acme", SourceKind::LlmPrices, format!("{base}/acme.json"), "0.7"),
        ],
        schedules: false,
        model_map: map,
        ..MonitorSettings::default()
    };
    let monitor = PriceMonitor::start(engine.clone(), settings).await.expect("monitor");
    monitor.refresh(None).await.expect("refresh");
    let sources = monitor.sources().await.expect("sources");
    let acme = sources.iter().find(|s| s.name == "acme").expect("acme");
    assert_eq!((acme.agreements, acme.disagreements), (1, 0), "house-sonnet was compared with claude-sonnet-4-5");
    monitor.shutdown();
}

fn json_feed(vendor: &str, id: &str, input: &str, output: &str) -> String {
    format!(
        r#"{{"updated_at": "2026-08-05", "prices": [{{"id": "{id}", "vendor": "{vendor}", "name": "{id}", "input": {input}, "output": {output}, "input_cached": null}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_price_is_only_replaced_with_approval() {
    let s = setup().await;
    set_manual_price(&s.engine, "anthropic", "claude-sonnet-4-5", "3.1", "15").await;
    let reports = s.monitor.refresh(None).await.expect("refresh");
    assert_eq!(reports.iter().map(|r| r.applied).sum::<usize>(), 0, "{reports:?}");
    assert_eq!(sonnet_input(&s.engine).await, dec("3.1"), "the manual price stays");
    let pending = sonnet_pending(&s.monitor).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "manual");
    s.monitor.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_disabled_sources_are_not_failures() {
    let files: Files = Arc::new(Mutex::new(HashMap::new()));
    files.lock().expect("lock").insert("llm-prices.json".into(), (200, llm_prices_with_sonnet_input("3")));
    let base = start_server(files.clone()).await;
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let limited = SourceConfig {
        min_interval_seconds: 3600,
        ..source("llm-prices", SourceKind::LlmPrices, format!("{base}/llm-prices.json"), "0.7")
    };
    let disabled = SourceConfig {
        enabled: false,
        ..source("off", SourceKind::LlmPrices, format!("{base}/llm-prices.json"), "0.7")
    };
    let settings = MonitorSettings { sources: vec![limited, disabled], schedules: false, ..MonitorSettings::default() };
    let monitor = PriceMonitor::start(engine.clone(), settings).await.expect("monitor");
    assert_eq!(monitor.refresh(Some("llm-prices")).await.expect("first")[0].error, None);
    let second = monitor.refresh(Some("llm-prices")).await.expect("second");
    assert!(second[0].error.as_deref().is_some_and(|e| e.contains("rate limited")), "{second:?}");
    let off = monitor.refresh(Some("off")).await.expect("disabled");
    assert!(off[0].error.as_deref().is_some_and(|e| e.contains("disabled")), "{off:?}");
    let sources = monitor.sources().await.expect("sources");
    let llm = sources.iter().find(|x| x.name == "llm-prices").expect("llm-prices");
    assert!(llm.healthy, "a rate-limited refresh is not a failure: {llm:?}");
    let off = sources.iter().find(|x| x.name == "off").expect("off");
    assert_eq!(off.last_attempt, None, "a disabled source is never fetched");
    assert!(
        !engine
            .list_alerts(&budget_actors::api::AlertsQuery { limit: Some(50), ..Default::default() })
            .await
            .expect("alerts")
            .iter()
            .any(|a| a.kind == "price_source_failed")
    );
    monitor.shutdown();
}

/// After a restart the first fetch of a source is unconditional even though its ETag was
/// stored: a 304 then would leave the new process's verifier without that source's prices.
/// Later fetches are conditional again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_fetch_after_a_restart_is_unconditional() {
    type Seen = Arc<Mutex<Vec<Option<String>>>>;
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/feed.json",
            axum::routing::get(|State(seen): State<Seen>, headers: axum::http::HeaderMap| async move {
                let tag = "\"feed-v1\"";
                let condition =
                    headers.get(axum::http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(String::from);
                seen.lock().expect("lock").push(condition.clone());
                let mut response = if condition.as_deref() == Some(tag) {
                    StatusCode::NOT_MODIFIED.into_response()
                } else {
                    llm_prices_with_sonnet_input("3").into_response()
                };
                response.headers_mut().insert(axum::http::header::ETAG, axum::http::HeaderValue::from_static(tag));
                response
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let settings = || MonitorSettings {
        sources: vec![source("llm-prices", SourceKind::LlmPrices, format!("{base}/feed.json"), "0.7")],
        schedules: false,
        fetch_on_start: false,
        ..MonitorSettings::default()
    };

    // The same process twice over the same database: each first fetch is unconditional.
    for life in ["first start", "after a restart"] {
        let monitor = PriceMonitor::start(engine.clone(), settings()).await.expect("monitor starts");
        let fresh = monitor.refresh(None).await.expect("refresh");
        assert!(!fresh[0].not_modified && fresh[0].models > 100, "{life}: {fresh:?}");
        let again = monitor.refresh(None).await.expect("refresh");
        assert!(again[0].not_modified, "{life}: the stored ETag makes the next fetch conditional: {again:?}");
        monitor.shutdown();
    }

    let tag = Some("\"feed-v1\"".to_string());
    assert_eq!(*seen.lock().expect("lock"), vec![None, tag.clone(), None, tag], "If-None-Match per request");
}

/// LiteLLM's map with claude-sonnet-4-5's batch rates replaced (its headline rates unchanged).
fn litellm_with_sonnet_batches(input: &str, output: &str) -> String {
    let mut map: Value = serde_json::from_str(BUILTIN_LITELLM_JSON).expect("builtin map");
    map["claude-sonnet-4-5"]["input_cost_per_token_batches"] = serde_json::from_str(input).expect("number");
    map["claude-sonnet-4-5"]["output_cost_per_token_batches"] = serde_json::from_str(output).expect("number");
    serde_json::to_string(&map).expect("serialize")
}

async fn sonnet_batch_input(engine: &Engine) -> Decimal {
    sonnet_input_at_tier(engine, budget_actors::pricing::ServiceTier::Batch).await
}

/// A LiteLLM change confined to fields beyond the headline rates (here the batch list) is
/// verified, recorded field by field and held over the threshold like any other change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_batch_rates_alone_is_recorded_and_checked() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    assert_eq!(sonnet_batch_input(&s.engine).await, dec("1.5"));
    // Batch input +10 %: applied, with an update record naming the field.
    s.files
        .lock()
        .expect("lock")
        .insert("litellm.json".into(), (200, litellm_with_sonnet_batches("1.65e-06", "7.5e-06")));
    let reports = s.monitor.refresh(Some("litellm")).await.expect("litellm");
    assert_eq!(reports[0].applied, 1, "{reports:?}");
    assert_eq!(sonnet_batch_input(&s.engine).await, dec("1.65"));
    assert_eq!(sonnet_input(&s.engine).await, dec("3"), "the headline rate did not move");
    let updates = s.monitor.updates(Some("anthropic"), Some("claude-sonnet-4-5"), 10).await.expect("updates");
    assert_eq!(updates.len(), 1);
    let fields: Vec<_> = updates[0].changes.iter().map(|c| (c.field.as_str(), c.percent)).collect();
    assert_eq!(fields, vec![("input_cost_per_token_batches", Some(dec("10")))]);
    // Batch output +50 %: held for approval.
    s.files
        .lock()
        .expect("lock")
        .insert("litellm.json".into(), (200, litellm_with_sonnet_batches("1.65e-06", "1.125e-05")));
    let reports = s.monitor.refresh(Some("litellm")).await.expect("litellm");
    assert_eq!((reports[0].applied, reports[0].pending), (0, 1), "{reports:?}");
    let pending = sonnet_pending(&s.monitor).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "threshold");
    assert_eq!(pending[0].changes.len(), 1, "{:?}", pending[0].changes);
    assert_eq!(pending[0].changes[0].field, "output_cost_per_token_batches");
    assert_eq!(pending[0].changes[0].percent, Some(dec("50")));
    s.monitor.shutdown();
}

/// The issue's case: two sources that agree, one off by 1000× — here the most trusted one.
/// The two agreeing publishers outweigh it: the 1000× price is listed as a conflict, its
/// source as the outlier, and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agree_and_the_most_trusted_is_off_by_1000x() {
    // Another publisher of the same feed format (publisher defaults to the name).
    let s = setup_with(&[("mirror", llm_prices_with_sonnet_input("3"))], |_| {}).await;
    let (engine, monitor, files) = (&s.engine, &s.monitor, &s.files);
    monitor.refresh(None).await.expect("baseline");
    files.lock().expect("lock").insert("litellm.json".into(), (200, litellm_with_sonnet_input("3e-03")));
    let reports = monitor.refresh(None).await.expect("refresh");
    assert!(reports.iter().all(|r| r.error.is_none() && r.applied == 0), "{reports:?}");
    assert_eq!(sonnet_input(engine).await, dec("3"), "the 1000x price is not applied");
    assert!(sonnet_pending(monitor).await.is_empty(), "the consensus is the price in force: nothing to approve");
    let conflicts = monitor.conflicts().await.expect("conflicts");
    let sonnet = conflicts
        .iter()
        .find(|c| c.provider == "anthropic" && c.model == "claude-sonnet-4-5")
        .expect("claude-sonnet-4-5 is listed as a conflict");
    let mut agreeing = sonnet.agreeing.clone();
    agreeing.sort();
    assert_eq!(agreeing, vec!["llm-prices", "mirror"]);
    assert_eq!(sonnet.outliers, vec!["litellm"]);
    monitor.shutdown();
}

/// When the 1000× price comes from the more trusted of two sources, it would win on trust
/// alone: it is held in the pending queue as a conflict instead of taking effect, and once
/// rejected it is not proposed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_source_off_by_1000x_is_held_as_a_conflict() {
    let s = setup().await;
    s.monitor.refresh(None).await.expect("baseline");
    s.files.lock().expect("lock").insert("litellm.json".into(), (200, litellm_with_sonnet_input("3e-03")));
    let reports = s.monitor.refresh(None).await.expect("refresh");
    assert!(reports.iter().all(|r| r.applied == 0), "{reports:?}");
    assert_eq!(sonnet_input(&s.engine).await, dec("3"), "held, not applied");
    let pending = sonnet_pending(&s.monitor).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((pending[0].reason.as_str(), pending[0].verification.as_str()), ("conflict", "conflict"));
    assert_eq!(pending[0].changes[0].field, "input_cost_per_token");
    assert_eq!(pending[0].changes[0].percent, Some(dec("99900")));
    s.monitor.reject(pending[0].id, Some("a typo upstream")).await.expect("reject");
    s.monitor.refresh(None).await.expect("again");
    assert!(sonnet_pending(&s.monitor).await.is_empty(), "a rejected change is not proposed again");
    assert_eq!(sonnet_input(&s.engine).await, dec("3"));
    s.monitor.shutdown();
}

/// A source that keeps failing is restarted with a growing backoff until it has failed more
/// than five times in ten minutes; then it is left stopped, says why, and a refresh of it is
/// refused while the other source keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_keeps_failing_is_left_stopped() {
    // 10 ms, 20 ms, 40 ms … instead of 1 s, 2 s, 4 s …
    let s = setup_with(&[], |settings| settings.restart_backoff = std::time::Duration::from_millis(10)).await;
    let monitor = &s.monitor;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    for restarts in 1..=5 {
        monitor.crash_source("llm-prices");
        while monitor.source_restarts().await.expect("restarts").get("llm-prices") != Some(&restarts) {
            assert!(tokio::time::Instant::now() < deadline, "restart {restarts} did not happen");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    // The sixth failure within the window: left stopped.
    monitor.crash_source("llm-prices");
    loop {
        let sources = monitor.sources().await.expect("sources");
        let llm = sources.iter().find(|s| s.name == "llm-prices").expect("llm-prices");
        if llm.last_error.as_deref().is_some_and(|e| e.starts_with("stopped after 6 failures")) {
            assert!(!llm.healthy);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not left stopped: {llm:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Well past any backoff, it is still stopped and refreshing it is refused.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(monitor.source_restarts().await.expect("restarts").get("llm-prices"), Some(&5));
    assert!(matches!(monitor.refresh(Some("llm-prices")).await, Err(EngineError::Unavailable(_))));
    let reports = monitor.refresh(Some("litellm")).await.expect("the other source still works");
    assert_eq!(reports[0].error, None);
    monitor.shutdown();
}

/// A model that already has a stored version (here a price set by hand today) still gets
/// the history that came before it; periods overlapping it are left alone, and the next
/// fetch adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_backfilled_before_a_model_s_first_stored_version() {
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    set_manual_price(&engine, "deepseek", "deepseek-chat", "0.5", "1").await;
    let monitor = history_monitor(&engine).await;
    let reports = monitor.refresh(None).await.expect("refresh");
    assert_eq!(reports[0].error, None, "{reports:?}");
    assert_eq!(deepseek_chat_at(&engine, "2025-01-15T00:00:00Z").await, dec("0.42"), "the feed's past period");
    let now = budget_actors::domain::now().to_rfc3339();
    assert_eq!(deepseek_chat_at(&engine, &now).await, dec("1.5"), "the price set by hand");
    let history = engine.price_history("deepseek", "deepseek-chat");
    assert!(history.len() >= 2, "{history:?}");
    assert!(history[..history.len() - 1].iter().all(|v| v.source == "llm-prices-history:history"));
    let again = monitor.refresh(None).await.expect("again");
    assert_eq!(again[0].backfilled, 0, "{again:?}");
    assert_eq!(engine.price_history("deepseek", "deepseek-chat").len(), history.len());
    monitor.shutdown();
}
