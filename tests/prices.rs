//! Price monitoring through the daemon's front doors: sources configured in budget.toml
//! (the `file` kind on the real fixture files), REST endpoints and CLI commands.

mod common;

use common::Daemon;
use serde_json::json;

fn config() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    format!(
        r#"
[price_monitor]
fetch_on_start = false

[[price_sources]]
name = "litellm"
kind = "file"
format = "litellm"
url = "{root}/actors/data/litellm/model_prices_and_context_window.json"
trust = "0.9"
min_interval_seconds = 0

[[price_sources]]
name = "llm-prices"
kind = "file"
format = "llm_prices"
url = "{root}/actors/tests/fixtures/llm-prices/current-v1.json"
trust = "0.7"
min_interval_seconds = 0
"#
    )
}

#[tokio::test]
async fn price_monitoring_over_http_and_cli() {
    let d = Daemon::start_with_config(&config());
    let (status, sources) = d.get("/api/v1/prices/sources").await;
    assert_eq!(status, 200, "{sources}");
    assert_eq!(sources.as_array().map(Vec::len), Some(2));
    assert_eq!(sources[0]["name"], "litellm");
    assert!(sources[0]["next_run"].is_string(), "scheduled: {sources}");

    let (status, reports) = d.post("/api/v1/prices/refresh", json!({})).await;
    assert_eq!(status, 200, "{reports}");
    let litellm = reports.as_array().expect("reports").iter().find(|r| r["source"] == "litellm").expect("litellm");
    assert_eq!(litellm["models"], 4876);
    assert_eq!(litellm["applied"], 0, "the file is the built-in map: {litellm}");
    assert_eq!(litellm["error"], serde_json::Value::Null);

    let (status, one) = d.post("/api/v1/prices/refresh?source=llm-prices", json!({})).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    let (status, missing) = d.post("/api/v1/prices/refresh?source=nope", json!({})).await;
    assert_eq!(status, 404, "{missing}");

    let (status, pending) = d.get("/api/v1/prices/pending").await;
    assert_eq!(status, 200, "{pending}");
    let (status, _) = d.get("/api/v1/prices/conflicts").await;
    assert_eq!(status, 200);
    let (status, _) = d.get("/api/v1/prices/updates").await;
    assert_eq!(status, 200);
    let (status, bad) = d.get("/api/v1/prices/pending?status=maybe").await;
    assert_eq!(status, 400, "{bad}");

    // llm-prices proposes models LiteLLM lacks; alone and not trusted enough, each is held.
    let pending = pending.as_array().expect("pending list");
    assert!(pending.len() >= 2, "{pending:?}");
    let id = pending[0]["id"].as_str().expect("id");
    let (status, rejected) =
        d.post(&format!("/api/v1/prices/pending/{id}/reject"), json!({"note": "not a model"})).await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    let (status, again) = d.post(&format!("/api/v1/prices/pending/{id}/approve"), json!({})).await;
    assert_eq!(status, 409, "{again}");
    // Approving another one (through the CLI) prices a model that had no price.
    let (id, provider, model) = (
        pending[1]["id"].as_str().expect("id"),
        pending[1]["provider"].as_str().expect("provider"),
        pending[1]["model"].as_str().expect("model"),
    );
    let price_path = format!("/api/v1/prices/{provider}/{model}");
    let (status, before) = d.get(&price_path).await;
    assert_eq!(status, 404, "{model} had no price: {before}");
    let approved = d.cli_json(&["prices", "approve", id]);
    assert_eq!(approved["status"], "approved", "{approved}");
    let (status, after) = d.get(&price_path).await;
    assert_eq!(status, 200, "{after}");
    assert!(after["input_cost_per_token"].is_string(), "{after}");
    let (_, updates) = d.get(&format!("/api/v1/prices/updates?provider={provider}&model={model}")).await;
    assert_eq!(updates[0]["kind"], "approved", "{updates}");
    assert_eq!(updates[0]["source"], "llm-prices", "{updates}");

    // A read key may look but not refresh or approve.
    let (_, reader) = d.post("/api/v1/keys", json!({"name": "r", "role": "read"})).await;
    let reader = reader["key"].as_str().expect("key").to_string();
    let (status, _) = d.call(reqwest::Method::GET, "/api/v1/prices/sources", Some(&reader), None).await;
    assert_eq!(status, 200);
    let (status, _) = d.call(reqwest::Method::POST, "/api/v1/prices/refresh", Some(&reader), Some(json!({}))).await;
    assert_eq!(status, 403);

    let sources = d.cli_json(&["prices", "sources"]);
    assert_eq!(sources[0]["model_count"], 4876);
    let refreshed = d.cli_json(&["prices", "refresh", "--source", "litellm"]);
    assert_eq!(refreshed[0]["source"], "litellm");
    d.cli_json(&["prices", "pending", "--status", "all"]);
    d.cli_json(&["prices", "conflicts"]);
    d.cli_json(&["prices", "updates"]);
    let history = d.cli_json(&["prices", "history", "anthropic", "claude-sonnet-4-5"]);
    assert_eq!(history["model"], "claude-sonnet-4-5");
    let (ok, table, err) = d.cli(&["prices", "sources"]);
    assert!(ok && table.contains("llm-prices"), "{err}");
    d.stop();
}
