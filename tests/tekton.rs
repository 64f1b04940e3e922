//! Tekton's tool endpoints (`/api/mcp/v2`) against the real binary: discovery, every tool,
//! and every way a call can fail answered as `{"status": "error"}`.

mod common;

use common::Daemon;
use reqwest::Method;
use serde_json::{Value, json};

async fn process(d: &Daemon, key: &str, tool: &str, arguments: Value) -> (u16, Value) {
    d.call(Method::POST, "/api/mcp/v2/process", Some(key), Some(json!({"tool_name": tool, "arguments": arguments})))
        .await
}

fn result(body: &Value) -> &Value {
    assert_eq!(body["status"], "success", "{body}");
    &body["result"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tekton_tools_are_listed_and_each_one_works() {
    let d = Daemon::start();
    let admin = d.admin_key.clone();
    let (status, health) = d.call(Method::GET, "/api/mcp/v2/health", None, None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("healthy")), "{health}");
    let (_, caps) = d.call(Method::GET, "/api/mcp/v2/capabilities", None, None).await;
    assert_eq!(caps["count"], 2);
    let (_, tools) = d.call(Method::GET, "/api/mcp/v2/tools", None, None).await;
    let names: Vec<&str> =
        tools["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in ["AllocateBudget", "CheckBudget", "RecordUsage", "GetBudgetStatus", "GetUsageAnalytics"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(tools["tools"].as_array().expect("tools").iter().all(|t| t["schema"]["type"] == "object"));

    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "tekton", "component": "rhetor",
               "policies": [{"period": "daily", "cost_limit": "0.05", "enforcement": "hard_limit"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let call = json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5",
                      "input_tokens": 2000, "max_output_tokens": 1000});

    let (status, check) = process(&d, &admin, "CheckBudget", call.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(result(&check)["allowed"], true, "{check}");
    assert_eq!(result(&check)["estimated_cost"], "0.021000");

    let (_, grant) = process(&d, &admin, "AllocateBudget", call.clone()).await;
    let id = result(&grant)["id"].as_str().expect("id").to_string();
    let (_, recorded) =
        process(&d, &admin, "RecordUsage", json!({"allocation_id": id, "input_tokens": 1800, "output_tokens": 640}))
            .await;
    assert_eq!(result(&recorded)["cost"], "0.015000");
    let (_, released) = process(&d, &admin, "release_allocation", json!({"allocation_id": id})).await;
    assert_eq!(result(&released)["status"], "released");
    let (_, status_body) = process(&d, &admin, "GetBudgetStatus", json!({"budget": "tekton"})).await;
    assert_eq!(result(&status_body)["policies"][0]["settled"], "0.015");
    let (_, estimate) = process(
        &d,
        &admin,
        "EstimateCost",
        json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1800, "output_tokens": 640}),
    )
    .await;
    assert_eq!(result(&estimate)["cost"], "0.015000", "{estimate}");
    let (_, prices) = process(&d, &admin, "ListPrices", json!({"provider": "anthropic", "limit": 3})).await;
    assert_eq!(result(&prices).as_array().map(Vec::len), Some(3), "{prices}");
    let (_, analytics) = process(&d, &admin, "GetUsageAnalytics", json!({"group_by": "model"})).await;
    assert_eq!(result(&analytics)["totals"]["cost"], "0.015000", "{analytics}");
    let (_, overview) = process(&d, &admin, "GetBudgetOverview", Value::Null).await;
    assert_eq!(result(&overview)["budgets"][0]["budget"], "tekton");

    // Spend past the limit: the check says no, with the reason; the allocation is refused.
    for _ in 0..3 {
        let (_, r) = process(
            &d,
            &admin,
            "RecordUsage",
            json!({"component": "rhetor", "provider": "anthropic",
            "model": "claude-sonnet-4-5", "input_tokens": 1800, "output_tokens": 640}),
        )
        .await;
        result(&r);
    }
    let (_, check) = process(&d, &admin, "CheckBudget", call.clone()).await;
    assert_eq!(result(&check)["allowed"], false, "{check}");
    assert!(result(&check)["reasons"][0].as_str().is_some_and(|r| r.contains("remains")), "{check}");
    let (status, refused) = process(&d, &admin, "AllocateBudget", call.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        (refused["status"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("budget_exceeded")),
        "{refused}"
    );
    assert!(refused["details"]["remaining"].is_string(), "{refused}");

    let (_, alerts) = process(&d, &admin, "ListAlerts", json!({"budget": "tekton"})).await;
    let alert_id = result(&alerts)[0]["id"].as_str().expect("an alert").to_string();
    let (_, acked) = process(&d, &admin, "AcknowledgeAlert", json!({"alert_id": alert_id})).await;
    assert_eq!(result(&acked)["acknowledged"], true);
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tekton_errors_are_envelopes_never_500() {
    let d = Daemon::start();
    let admin = d.admin_key.clone();
    let (status, unknown) = process(&d, &admin, "MakeCoffee", json!({})).await;
    assert_eq!(
        (status, unknown["status"].as_str(), unknown["code"].as_str()),
        (200, Some("error"), Some("unknown_tool"))
    );
    let (_, bad) = process(&d, &admin, "AllocateBudget", json!({"component": "x", "provider": "anthropic"})).await;
    assert_eq!(bad["status"], "error");
    assert!(bad["error"].as_str().is_some_and(|e| e.contains("model")), "{bad}");
    let (_, typed) = process(
        &d,
        &admin,
        "AllocateBudget",
        json!({"component": "x", "provider": "anthropic", "model": "m", "input_tokens": "many"}),
    )
    .await;
    assert_eq!(typed["details"]["field"], "input_tokens", "{typed}");
    let (_, id) = process(&d, &admin, "ReleaseAllocation", json!({"allocation_id": "nope"})).await;
    assert_eq!(id["details"]["field"], "allocation_id", "{id}");
    let (_, missing) = process(&d, &admin, "GetBudgetStatus", json!({"budget": "none-such"})).await;
    assert_eq!(missing["code"], "not_found", "{missing}");

    let (_, read) = d.post("/api/v1/keys", json!({"name": "reader", "role": "read"})).await;
    let read = read["key"].as_str().expect("key").to_string();
    let (_, forbidden) = process(
        &d,
        &read,
        "AllocateBudget",
        json!({"component": "x", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "1"}),
    )
    .await;
    assert_eq!(forbidden["code"], "forbidden", "a read key cannot allocate: {forbidden}");
    let (_, allowed) = process(
        &d,
        &read,
        "EstimateCost",
        json!({"provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1, "output_tokens": 1}),
    )
    .await;
    assert_eq!(allowed["status"], "success");

    let (status, _) =
        d.call(Method::POST, "/api/mcp/v2/process", None, Some(json!({"tool_name": "CheckBudget"}))).await;
    assert_eq!(status, 401);
    let (status, no_name) = d.post("/api/mcp/v2/process", json!({"arguments": {}})).await;
    assert_eq!((status, no_name["status"].as_str()), (400, Some("error")), "{no_name}");
    let (status, malformed) = d.raw_post("/api/mcp/v2/process", "{not json").await;
    assert_eq!((status, malformed["status"].as_str()), (400, Some("error")), "{malformed}");
    d.stop();
}
