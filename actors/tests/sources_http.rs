//! Price source adapters over real HTTP: a local axum server started by each
//! test serves the fixture files and broken responses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use budget_actors::pricing::BUILTIN_LITELLM_JSON;
use budget_actors::sources::{
    FetchOutcome, HtmlTableConfig, Snapshot, SourceConfig, SourceError, SourceKind, Validators, build_source,
    http_client, sanity_check,
};
use rust_decimal::Decimal;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{rel}")).expect("fixture readable")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

#[derive(Default)]
struct Hits {
    errors: AtomicUsize,
    etag: AtomicUsize,
    not_found: AtomicUsize,
}

/// Serves `/fixtures/{dir}/{file}`, `/litellm.json` and a set of broken endpoints.
async fn serve() -> (String, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .route(
            "/fixtures/{dir}/{file}",
            get(|Path((dir, file)): Path<(String, String)>| async move {
                match std::fs::read_to_string(format!("{FIXTURES}/{dir}/{file}")) {
                    Ok(text) => text.into_response(),
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route("/litellm.json", get(|| async { BUILTIN_LITELLM_JSON }))
        .route(
            "/error500",
            get(|State(h): State<Arc<Hits>>| async move {
                h.errors.fetch_add(1, Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded")
            }),
        )
        .route(
            "/missing",
            get(|State(h): State<Arc<Hits>>| async move {
                h.not_found.fetch_add(1, Ordering::SeqCst);
                StatusCode::NOT_FOUND
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(300)).await;
                "too late"
            }),
        )
        .route(
            "/truncated",
            get(|| async {
                let text = fixture("llm-prices/current-v1.json");
                text[..text.len() / 2].to_string()
            }),
        )
        .route("/big", get(|| async { "x".repeat(64 * 1024) }))
        .route(
            "/big-chunked",
            get(|| async {
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/shrunk",
            get(|| async {
                let mut feed: serde_json::Value =
                    serde_json::from_str(&fixture("llm-prices/current-v1.json")).expect("json");
                let prices = feed["prices"].as_array_mut().expect("prices");
                let keep = prices.len() / 10;
                prices.truncate(keep);
                feed.to_string()
            }),
        )
        .route(
            "/negative",
            get(|| async {
                r#"{"updated_at":"2026-08-05","prices":[
                    {"id":"gpt-4o","vendor":"openai","name":"GPT-4o","input":2.5,"output":10,"input_cached":1.25},
                    {"id":"gpt-4.1","vendor":"openai","name":"GPT-4.1","input":-2,"output":8,"input_cached":0.5}]}"#
            }),
        )
        .route(
            "/non-numeric",
            get(|| async {
                r#"{"updated_at":"2026-08-05","prices":[
                    {"id":"gpt-4o","vendor":"openai","name":"GPT-4o","input":"two fifty","output":10,"input_cached":null}]}"#
            }),
        )
        .route(
            "/etag",
            get(|State(h): State<Arc<Hits>>, headers: HeaderMap| async move {
                h.etag.fetch_add(1, Ordering::SeqCst);
                let tag = "\"prices-v1\"";
                if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(tag) {
                    return Response::builder()
                        .status(StatusCode::NOT_MODIFIED)
                        .header(header::ETAG, tag)
                        .body(Body::empty())
                        .expect("response");
                }
                Response::builder()
                    .header(header::ETAG, tag)
                    .header(header::LAST_MODIFIED, "Wed, 05 Aug 2026 00:00:00 GMT")
                    .body(Body::from(fixture("llm-prices/current-v1.json")))
                    .expect("response")
            }),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server");
    });
    (format!("http://{addr}"), hits)
}

/// A config for tests: no rate limit, no retries, short timeouts and backoff.
fn config(kind: SourceKind, url: String) -> SourceConfig {
    SourceConfig {
        min_interval_seconds: 0,
        retries: 0,
        retry_min_delay_ms: 10,
        timeout_seconds: 10,
        ..SourceConfig::new(format!("test-{}", kind.as_str()), kind, url)
    }
}

async fn fetch(cfg: &SourceConfig) -> Result<FetchOutcome, SourceError> {
    let source = build_source(cfg, http_client()).expect("source builds");
    source.fetch(&Validators::default()).await
}

async fn fresh(cfg: &SourceConfig) -> Snapshot {
    match fetch(cfg).await {
        Ok(FetchOutcome::Fresh(s)) => s,
        Ok(FetchOutcome::NotModified) => panic!("unexpected 304"),
        Err(e) => panic!("fetch failed: {e}"),
    }
}

fn find<'a>(s: &'a Snapshot, source_id: &str) -> &'a budget_actors::sources::SourcePrice {
    s.prices.iter().find(|p| p.source_id == source_id).unwrap_or_else(|| panic!("{source_id} missing"))
}

#[tokio::test]
async fn sources_litellm_over_http() {
    let (base, _) = serve().await;
    let snap = fresh(&config(SourceKind::Litellm, format!("{base}/litellm.json"))).await;
    println!("LiteLLM over HTTP: {} SourcePrices from {} bytes", snap.prices.len(), snap.bytes);
    assert_eq!(snap.prices.len(), 4_876);
    assert_eq!(snap.bytes, BUILTIN_LITELLM_JSON.len());
    let sonnet = find(&snap, "claude-sonnet-4-5");
    assert_eq!((sonnet.provider.as_str(), sonnet.model.as_str()), ("anthropic", "claude-sonnet-4-5"));
    assert_eq!(sonnet.input_cost_per_token, Some(dec("0.000003")));
    assert_eq!(sonnet.output_cost_per_token, Some(dec("0.000015")));
    assert_eq!(sonnet.cache_read_input_token_cost, Some(dec("0.0000003")));
    assert_eq!(sonnet.cache_creation_input_token_cost, Some(dec("0.00000375")));
    let full = sonnet.full.as_ref().expect("full entry kept");
    assert_eq!(full.batches.rates.input, Some(dec("0.0000015")), "batch list kept");
    assert_eq!(full.standard.rates.cache_write_1h, Some(dec("0.000006")));
    let gemini = find(&snap, "gemini/gemini-2.5-pro");
    assert_eq!((gemini.provider.as_str(), gemini.model.as_str()), ("gemini", "gemini-2.5-pro"));
    let above = gemini.full.as_ref().and_then(|f| f.standard.at_threshold(200_000)).expect("long-context tier kept");
    assert_eq!(above.input, Some(dec("0.0000025")));
    let ds = find(&snap, "deepseek/deepseek-chat");
    assert_eq!(ds.cache_creation_input_token_cost, Some(Decimal::ZERO), "explicit 0.0 is a price");
    assert!(snap.prices.iter().all(|p| p.full.is_some() && p.effective_from.is_none()));
    assert!(snap.prices.iter().all(|p| p.source_id != "sample_spec"));
    assert!(snap.validators.etag.is_none());
}

#[tokio::test]
async fn sources_llm_prices_current_and_historical_over_http() {
    let (base, _) = serve().await;
    let cur = fresh(&config(SourceKind::LlmPrices, format!("{base}/fixtures/llm-prices/current-v1.json"))).await;
    // 142 rows, one exact repeat (xai/grok-4-fast listed twice with the same prices).
    assert_eq!(cur.prices.len(), 141);
    let nova = find(&cur, "amazon/amazon-nova-micro");
    assert_eq!(nova.input_cost_per_token, Some(dec("0.000000035")));
    assert_eq!(nova.output_cost_per_token, Some(dec("0.00000014")));
    assert_eq!(nova.cache_read_input_token_cost, None);
    assert_eq!((nova.provider.as_str(), nova.model.as_str()), ("bedrock", "nova-micro"));
    let grok = cur.prices.iter().filter(|p| p.source_id == "xai/grok-4-fast").count();
    assert_eq!(grok, 1);
    let flash = find(&cur, "deepseek/deepseek-v4-flash");
    assert_eq!(flash.cache_read_input_token_cost, Some(dec("0.000000028")));
    let gpt = find(&cur, "openai/gpt-5.2-pro");
    assert_eq!(gpt.output_cost_per_token, Some(dec("0.000168")));

    let hist =
        fresh(&config(SourceKind::LlmPricesHistorical, format!("{base}/fixtures/llm-prices/historical-v1.json"))).await;
    let sonnet5: Vec<_> = hist.prices.iter().filter(|p| p.source_id == "anthropic/claude-sonnet-5").collect();
    assert_eq!(sonnet5.len(), 2);
    let cut = chrono::DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").expect("date").to_utc();
    let old = sonnet5.iter().find(|p| p.effective_to == Some(cut)).expect("old price");
    let new = sonnet5.iter().find(|p| p.effective_from == Some(cut)).expect("new price");
    assert_eq!(old.effective_from, None);
    assert_eq!(old.input_cost_per_token, Some(dec("0.000002")));
    assert_eq!(new.effective_to, None);
    assert_eq!(new.input_cost_per_token, Some(dec("0.000003")));
    assert!(old.in_force_at(cut - chrono::Duration::seconds(1)) && !old.in_force_at(cut));
    assert!(new.in_force_at(cut));
}

#[tokio::test]
async fn sources_pretrained_preset_and_changed_layout_over_http() {
    let (base, _) = serve().await;
    let snap = fresh(&config(SourceKind::Pretrained, format!("{base}/fixtures/pages/pretrained-pricing.html"))).await;
    assert_eq!(snap.prices.len(), 12);
    let sonnet = snap.prices.iter().find(|p| p.model == "claude-sonnet-4-5").expect("sonnet");
    assert_eq!(sonnet.provider, "anthropic");
    assert_eq!(sonnet.input_cost_per_token, Some(dec("0.000003")));
    assert_eq!(sonnet.cache_creation_input_token_cost, Some(dec("0.00000375")));
    let gemini = snap.prices.iter().find(|p| p.model == "gemini-2.5-pro").expect("gemini");
    assert_eq!(gemini.provider, "gemini");
    assert_eq!(gemini.cache_creation_input_token_cost, None);

    let changed =
        config(SourceKind::Pretrained, format!("{base}/fixtures/pages/pretrained-pricing-changed-layout.html"));
    match fetch(&changed).await {
        Err(SourceError::Layout(msg)) => println!("changed layout: {msg}"),
        other => panic!("expected a layout error, got {other:?}"),
    }

    // The generic html_table kind with an explicit (nth-child) configuration.
    let mut cfg = config(SourceKind::HtmlTable, format!("{base}/fixtures/pages/pretrained-pricing.html"));
    let mut html = HtmlTableConfig::pretrained_preset();
    for col in &mut html.columns {
        col.selector = match col.selector.as_str() {
            "td.input" => "td:nth-child(3)".into(),
            "td.output" => "td:nth-child(4)".into(),
            other => other.to_string(),
        };
    }
    cfg.html = Some(html);
    assert_eq!(fresh(&cfg).await.prices.len(), 12);
}

#[tokio::test]
async fn sources_http_500_is_retried_then_fails() {
    let (base, hits) = serve().await;
    let cfg = SourceConfig { retries: 2, ..config(SourceKind::LlmPrices, format!("{base}/error500")) };
    let err = fetch(&cfg).await.expect_err("500 fails");
    assert_eq!(err, SourceError::Http { status: 500, url: format!("{base}/error500") });
    println!("HTTP 500: server saw {} attempts", hits.errors.load(Ordering::SeqCst));
    assert_eq!(hits.errors.load(Ordering::SeqCst), 3, "1 attempt + 2 retries");

    let cfg = SourceConfig { retries: 2, ..config(SourceKind::LlmPrices, format!("{base}/missing")) };
    let err = fetch(&cfg).await.expect_err("404 fails");
    assert!(matches!(err, SourceError::Http { status: 404, .. }), "{err:?}");
    assert_eq!(hits.not_found.load(Ordering::SeqCst), 1, "4xx is not retried");
}

#[tokio::test]
async fn sources_timeout() {
    let (base, _) = serve().await;
    let cfg = SourceConfig { timeout_seconds: 1, retries: 0, ..config(SourceKind::LlmPrices, format!("{base}/slow")) };
    let started = Instant::now();
    let err = fetch(&cfg).await.expect_err("times out");
    assert!(matches!(err, SourceError::Timeout { seconds: 1, .. }), "{err:?}");
    // The server would answer after 300 s; returning this soon shows the 1 s timeout acted
    // (with room for a loaded machine).
    assert!(started.elapsed() < Duration::from_secs(20), "bounded by the timeout");
}

#[tokio::test]
async fn sources_truncated_json_is_a_parse_error() {
    let (base, _) = serve().await;
    let err = fetch(&config(SourceKind::LlmPrices, format!("{base}/truncated"))).await.expect_err("truncated");
    assert!(matches!(err, SourceError::Parse(_)), "{err:?}");
    let err = fetch(&config(SourceKind::Litellm, format!("{base}/truncated"))).await.expect_err("truncated");
    assert!(matches!(err, SourceError::Parse(_)), "{err:?}");
}

#[tokio::test]
async fn sources_oversized_body_is_refused() {
    let (base, _) = serve().await;
    for path in ["big", "big-chunked"] {
        let cfg = SourceConfig { max_bytes: 4096, ..config(SourceKind::LlmPrices, format!("{base}/{path}")) };
        let err = fetch(&cfg).await.expect_err("too large");
        assert_eq!(err, SourceError::TooLarge { limit: 4096 }, "{path}");
    }
}

#[tokio::test]
async fn sources_feed_missing_most_models_fails_sanity() {
    let (base, _) = serve().await;
    let good = fresh(&config(SourceKind::LlmPrices, format!("{base}/fixtures/llm-prices/current-v1.json"))).await;
    let shrunk = fresh(&config(SourceKind::LlmPrices, format!("{base}/shrunk"))).await;
    assert_eq!(shrunk.prices.len(), 14);
    let err = sanity_check(&shrunk.prices, Some(good.prices.len()), dec("0.5")).expect_err("90% gone");
    assert!(matches!(err, SourceError::Sanity(_)), "{err:?}");
    println!("{err}");
    sanity_check(&good.prices, Some(good.prices.len()), dec("0.5")).expect("same size passes");
}

#[tokio::test]
async fn sources_negative_and_non_numeric_prices() {
    let (base, _) = serve().await;
    let err = fetch(&config(SourceKind::LlmPrices, format!("{base}/negative"))).await.expect_err("negative");
    assert!(matches!(&err, SourceError::Sanity(m) if m.contains("openai/gpt-4.1")), "{err:?}");
    let err = fetch(&config(SourceKind::LlmPrices, format!("{base}/non-numeric"))).await.expect_err("non-numeric");
    assert!(matches!(&err, SourceError::Parse(m) if m.contains("two fifty")), "{err:?}");
}

#[tokio::test]
async fn sources_etag_conditional_get() {
    let (base, hits) = serve().await;
    let cfg = config(SourceKind::LlmPrices, format!("{base}/etag"));
    let source = build_source(&cfg, http_client()).expect("source");
    let first = match source.fetch(&Validators::default()).await.expect("first fetch") {
        FetchOutcome::Fresh(s) => s,
        FetchOutcome::NotModified => panic!("first fetch cannot be 304"),
    };
    assert_eq!(first.validators.etag.as_deref(), Some("\"prices-v1\""));
    assert_eq!(first.validators.last_modified.as_deref(), Some("Wed, 05 Aug 2026 00:00:00 GMT"));
    let second = source.fetch(&first.validators).await.expect("second fetch");
    assert!(matches!(second, FetchOutcome::NotModified));
    assert_eq!(hits.etag.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sources_rate_limit() {
    let (base, _) = serve().await;
    let cfg = SourceConfig {
        min_interval_seconds: 60,
        ..config(SourceKind::LlmPrices, format!("{base}/fixtures/llm-prices/current-v1.json"))
    };
    let source = build_source(&cfg, http_client()).expect("source");
    source.fetch(&Validators::default()).await.expect("first fetch allowed");
    match source.fetch(&Validators::default()).await {
        Err(SourceError::RateLimited { retry_in_secs }) => assert!((1..=60).contains(&retry_in_secs)),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn sources_file_kind_over_http_url() {
    let (base, _) = serve().await;
    let cfg = SourceConfig {
        format: Some(SourceKind::LlmPricesHistorical),
        ..config(SourceKind::File, format!("{base}/fixtures/llm-prices/historical-v1.json"))
    };
    let snap = fresh(&cfg).await;
    assert!(snap.prices.iter().any(|p| p.effective_to.is_some()));
}

/// Nothing listening: a network error that names the URL once, followed by the cause.
#[tokio::test]
async fn sources_connection_refused_is_a_network_error() {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let url = format!("http://{}/prices.json", listener.local_addr().expect("addr"));
    drop(listener);
    let err = fetch(&config(SourceKind::LlmPrices, url.clone())).await.expect_err("nothing listens");
    let SourceError::Network(message) = &err else { panic!("{err:?}") };
    assert!(message.starts_with(&url), "{message}");
    assert_eq!(message.matches(url.as_str()).count(), 1, "{message}");
    assert!(err.to_string().starts_with("network error: "), "{err}");
}
