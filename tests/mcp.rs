//! The Model Context Protocol against the real binary, with rmcp's own client: `/mcp` over
//! streamable HTTP with API keys, and `budget mcp` on stdio bridging to the daemon.

mod common;

use common::Daemon;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Default::default(),
    }
}

fn structured(result: &CallToolResult) -> Value {
    result.structured_content.clone().unwrap_or(Value::Null)
}

async fn http_client(d: &Daemon, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", d.url)).auth_header(key.to_string());
    ().serve(StreamableHttpClientTransport::from_config(config)).await.expect("MCP session over HTTP")
}

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &'static str,
    args: Value,
) -> CallToolResult {
    client.call_tool(CallToolRequestParams::new(name).with_arguments(arguments(args))).await.expect("tools/call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_http_lists_and_calls_every_tool() {
    let d = Daemon::start();
    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "agents", "component": "claude",
               "policies": [{"period": "daily", "cost_limit": "0.05", "enforcement": "hard_limit"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let client = http_client(&d, &d.admin_key).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("tekton-budget"));
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    for expected in [
        "check_budget",
        "allocate",
        "record_usage",
        "release_allocation",
        "extend_allocation",
        "budget_status",
        "estimate_cost",
        "list_prices",
        "usage_summary",
        "list_alerts",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert!(tools.iter().all(|t| t.input_schema.get("type") == Some(&json!("object"))));

    let estimate = json!({"component": "claude", "provider": "anthropic", "model": "claude-sonnet-4-5",
                          "input_tokens": 2000, "max_output_tokens": 1000});
    let check = call(&client, "check_budget", estimate.clone()).await;
    assert_ne!(check.is_error, Some(true));
    assert_eq!(structured(&check)["allowed"], true);
    let grant = call(&client, "allocate", estimate.clone()).await;
    let id = structured(&grant)["id"].as_str().expect("allocation id").to_string();
    assert_eq!(structured(&grant)["reserved_cost"], "0.021000", "money is a decimal string");
    let extended = call(&client, "extend_allocation", json!({"allocation_id": id, "ttl_seconds": 3600})).await;
    assert_ne!(extended.is_error, Some(true));
    assert_eq!(structured(&extended)["status"], "active");
    let recorded =
        call(&client, "record_usage", json!({"allocation_id": id, "input_tokens": 1800, "output_tokens": 640})).await;
    assert_eq!(structured(&recorded)["cost"], "0.015000");
    let released = call(&client, "release_allocation", json!({"allocation_id": id})).await;
    assert_eq!(structured(&released)["status"], "released");
    // An ended allocation is not extended: a tool error naming the conflict.
    let ended = call(&client, "extend_allocation", json!({"allocation_id": id, "ttl_seconds": 60})).await;
    assert_eq!((ended.is_error, structured(&ended)["code"].clone()), (Some(true), json!("conflict")));
    let status = call(&client, "budget_status", json!({"budget": "agents"})).await;
    assert_eq!(structured(&status)["budget"], "agents");
    let cost = call(
        &client,
        "estimate_cost",
        json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1800, "output_tokens": 640}),
    )
    .await;
    assert_eq!(structured(&cost)["cost"], "0.015000");
    let prices = call(&client, "list_prices", json!({"provider": "anthropic", "limit": 2})).await;
    assert_eq!(structured(&prices)["prices"].as_array().map(Vec::len), Some(2), "{:?}", structured(&prices));
    let summary = call(&client, "usage_summary", json!({"group_by": "model"})).await;
    assert_eq!(structured(&summary)["totals"]["cost"], "0.015000");
    let overview = call(&client, "budget_overview", json!({})).await;
    assert_eq!(structured(&overview)["budgets"][0]["budget"], "agents");
    let alerts = call(&client, "list_alerts", json!({})).await;
    assert!(structured(&alerts)["alerts"].is_array(), "{:?}", structured(&alerts));

    // Refusals and bad arguments are tool results with isError, naming the limit or field.
    for _ in 0..3 {
        call(
            &client,
            "record_usage",
            json!({"component": "claude", "provider": "anthropic",
            "model": "claude-sonnet-4-5", "input_tokens": 1800, "output_tokens": 640}),
        )
        .await;
    }
    let refused = call(&client, "allocate", estimate.clone()).await;
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(structured(&refused)["code"], "budget_exceeded", "{:?}", structured(&refused));
    assert!(structured(&refused)["details"]["remaining"].is_string());
    let bad = call(
        &client,
        "allocate",
        json!({"component": "claude", "provider": "anthropic",
        "model": "claude-sonnet-4-5", "input_tokens": -5}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    assert_eq!(structured(&bad)["details"]["field"], "input_tokens", "{:?}", structured(&bad));
    // An unknown tool is a protocol error, not a result.
    let unknown = client.call_tool(CallToolRequestParams::new("make_coffee")).await;
    assert!(unknown.is_err(), "{unknown:?}");
    client.cancel().await.expect("close");

    // A read key may read but not allocate.
    let (_, read) = d.post("/api/v1/keys", json!({"name": "agent-reader", "role": "read"})).await;
    let read = read["key"].as_str().expect("key").to_string();
    let reader = http_client(&d, &read).await;
    let denied = call(&reader, "allocate", estimate).await;
    assert_eq!(denied.is_error, Some(true));
    assert_eq!(structured(&denied)["code"], "forbidden");
    assert_ne!(call(&reader, "budget_status", json!({"budget": "agents"})).await.is_error, Some(true));
    reader.cancel().await.expect("close");

    // No key, no session: 401 before MCP.
    let response = d
        .http
        .post(format!("{}/mcp", d.url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    // A foreign Host is refused (DNS-rebinding guard).
    let response = d
        .http
        .post(format!("{}/mcp", d.url))
        .bearer_auth(&d.admin_key)
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_client_error(), "{}", response.status());
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_mcp_bridges_stdio_to_the_daemon() {
    let d = Daemon::start();
    let mut command = tokio::process::Command::new(common::binary());
    command.args(["--url", &d.url, "--api-key", &d.admin_key, "mcp"]).env_remove("BUDGET_URL");
    let client = ().serve(TokioChildProcess::new(command).expect("spawn budget mcp")).await.expect("MCP over stdio");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "allocate"));
    let cost = call(
        &client,
        "estimate_cost",
        json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1800, "output_tokens": 640}),
    )
    .await;
    assert_eq!(structured(&cost)["cost"], "0.015000");
    let missing = call(&client, "budget_status", json!({"budget": "nope"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert_eq!(structured(&missing)["code"], "not_found");
    client.cancel().await.expect("close");
    d.stop();
}
