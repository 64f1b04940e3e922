//! Black-box tests of the REST API: the real binary on a random port.

mod common;

use common::Daemon;
use reqwest::Method;
use serde_json::{Value, json};

async fn rhetor_budget(d: &Daemon) -> Value {
    let (status, body) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "rhetor", "component": "rhetor",
                   "policies": [{"period": "daily", "cost_limit": "5.00", "enforcement": "hard_limit"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn the_life_of_a_call_over_http() {
    let d = Daemon::start();
    let budget = rhetor_budget(&d).await;
    let (status, grant) = d
        .post(
            "/api/v1/allocations",
            json!({"component": "rhetor", "context_id": "ctx1", "provider": "anthropic",
                   "model": "claude-sonnet-4-5", "input_tokens": 2000, "max_output_tokens": 1000}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["status"], "granted");
    assert_eq!(grant["reserved_cost"], "0.021000", "money is a decimal string");
    assert_eq!(grant["budgets"][0]["budget"], "rhetor");
    let id = grant["id"].as_str().expect("id").to_string();

    let (status, record) =
        d.post("/api/v1/usage/record", json!({"allocation_id": id, "input_tokens": 1800, "output_tokens": 640})).await;
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["cost"], "0.015000");
    assert_eq!(record["priced"], true);
    assert_eq!(record["cost_breakdown"]["input"], "0.005400");
    assert_eq!(record["cost_breakdown"]["output"], "0.009600");
    assert_eq!(record["record"]["component"], "rhetor", "filled in from the allocation");

    let (_, status_body) = d.get("/api/v1/budgets/rhetor/status").await;
    let policy = &status_body["policies"][0];
    assert_eq!(policy["limit"], "5.00");
    assert_eq!(policy["settled"], "0.015");
    assert_eq!(policy["reserved"], "0.006");
    assert_eq!(policy["remaining"], "4.979");
    assert_eq!(policy["state"], "ok");
    assert!(policy["window_start"].as_str().is_some_and(|s| s.ends_with("T00:00:00Z")), "{policy}");

    let (status, released) = d.post(&format!("/api/v1/allocations/{id}/release"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(released["status"], "released");
    let (_, by_id) = d.get(&format!("/api/v1/budgets/{}/status", budget["id"].as_str().expect("id"))).await;
    assert_eq!(by_id["policies"][0]["reserved"], "0");
    let (_, listed) = d.get("/api/v1/allocations?context_id=ctx1").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    d.stop();
}

#[tokio::test]
async fn a_denial_is_402_with_what_remains() {
    let d = Daemon::start();
    rhetor_budget(&d).await;
    let (status, body) = d
        .post(
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "5.01"}),
        )
        .await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded");
    assert_eq!(body["error"]["details"]["budget"], "rhetor");
    assert_eq!(body["error"]["details"]["limit"], "5.00");
    assert_eq!(body["error"]["details"]["remaining"], "5.00");
    assert!(body["error"]["details"]["policy"].is_string());
    d.stop();
}

#[tokio::test]
async fn repeated_request_id_returns_the_first_record() {
    let d = Daemon::start();
    rhetor_budget(&d).await;
    let body = json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5",
                      "input_tokens": 100, "output_tokens": 100, "request_id": "req-42"});
    let (first_status, first) = d.post("/api/v1/usage/record", body.clone()).await;
    let (second_status, second) = d.post("/api/v1/usage/record", body).await;
    assert_eq!((first_status, second_status), (201, 200));
    assert_eq!(first["id"], second["id"]);
    let (_, s) = d.get("/api/v1/budgets/rhetor/status").await;
    assert_eq!(s["policies"][0]["settled"], "0.0018", "counted once");
    d.stop();
}

#[tokio::test]
async fn openai_usage_shape_is_converted_at_the_door() {
    let d = Daemon::start();
    // prompt 1000 of which 400 cached: uncached 600 × $2.5/M + 400 × $1.25/M, output 200 × $10/M.
    let (status, body) = d
        .post(
            "/api/v1/prices/estimate",
            json!({"provider": "openai", "model": "gpt-4o", "usage": {"prompt_tokens": 1000, "completion_tokens": 200,
                   "prompt_tokens_details": {"cached_tokens": 400}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cost_breakdown"]["input"], "0.0015000");
    assert_eq!(body["cost_breakdown"]["cache_read"], "0.00050000");
    assert_eq!(body["cost"], "0.00400000");
    let (status, body) = d
        .post(
            "/api/v1/usage/record",
            json!({"component": "x", "provider": "openai", "model": "gpt-4o",
                   "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 400}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["record"]["input_tokens"], 600);
    assert_eq!(body["record"]["cache_read_tokens"], 400);
    d.stop();
}

#[tokio::test]
async fn unknown_models_are_recorded_unpriced_never_free() {
    let d = Daemon::start();
    let (status, body) = d
        .post(
            "/api/v1/usage/record",
            json!({"component": "x", "provider": "acme", "model": "mystery-1", "input_tokens": 5, "output_tokens": 5}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["cost"], Value::Null);
    assert_eq!(body["priced"], false);
    let (_, alerts) = d.get("/api/v1/alerts").await;
    assert!(alerts.as_array().expect("list").iter().any(|a| a["kind"] == "unpriced_model"));
    // Under a hard cost limit an allocation for it is denied like any other denial: 402
    // budget_exceeded with the policy, its limit and what remains, and the reason.
    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "x", "component": "x", "policies": [{"period": "daily", "cost_limit": "5.00"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, denied) = d
        .post(
            "/api/v1/allocations",
            json!({"component": "x", "provider": "acme", "model": "mystery-1", "input_tokens": 5, "max_output_tokens": 5}),
        )
        .await;
    assert_eq!(status, 402, "{denied}");
    assert_eq!(denied["error"]["code"], "budget_exceeded");
    let details = &denied["error"]["details"];
    assert_eq!(details["reason"], "unpriced_model", "{denied}");
    assert_eq!((details["budget"].as_str(), details["limit"].as_str()), (Some("x"), Some("5.00")), "{denied}");
    assert_eq!(details["remaining"], "5.00", "{denied}");
    assert!(details["policy"].is_string(), "{denied}");
    d.stop();
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_naming_the_field() {
    let d = Daemon::start();
    rhetor_budget(&d).await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/api/v1/budgets",
            json!({"name": "x", "policies": [{"period": "daily", "cost_limit": "-1"}]}),
            400,
            "policies[0].cost_limit",
        ),
        (
            "/api/v1/budgets",
            json!({"name": "x", "policies": [{"period": "daily", "cost_limit": "abc"}]}),
            400,
            "policies[0].cost_limit",
        ),
        ("/api/v1/budgets", json!({"name": "x", "policies": [{"period": "daily"}]}), 400, "policies[0].cost_limit"),
        (
            "/api/v1/budgets",
            json!({"name": "x", "policies": [{"period": "fortnightly", "cost_limit": "1"}]}),
            400,
            "policies[0].period",
        ),
        (
            "/api/v1/budgets",
            json!({"name": "x", "policies": [{"period": "daily", "cost_limit": "1", "enforcement": "maybe"}]}),
            400,
            "policies[0].enforcement",
        ),
        ("/api/v1/budgets", json!({"name": ""}), 400, "name"),
        (
            "/api/v1/usage/record",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 10}),
            400,
            "output_tokens",
        ),
        (
            "/api/v1/usage/record",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "output_tokens": 10}),
            400,
            "input_tokens",
        ),
        ("/api/v1/budgets", json!({"name": "rhetor"}), 409, ""),
        (
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "m", "amount": "79228162514264337593543950335"}),
            400,
            "amount",
        ),
        (
            "/api/v1/budgets",
            json!({"name": "x", "policies": [{"period": "daily", "cost_limit": "1e30"}]}),
            400,
            "policies[0].cost_limit",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "m", "amount": "-3"}),
            400,
            "amount",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "m", "input_tokens": -5}),
            400,
            "input_tokens",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "m"}),
            400,
            "input_tokens",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "", "provider": "anthropic", "model": "m", "amount": "1"}),
            400,
            "component",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "c", "provider": "p", "model": "m", "amount": "1", "ttl_seconds": 0}),
            400,
            "ttl_seconds",
        ),
        (
            "/api/v1/usage/record",
            json!({"component": "c", "provider": "p", "model": "m", "input_tokens": "many"}),
            400,
            "input_tokens",
        ),
        (
            "/api/v1/usage/record",
            json!({"component": "c", "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "reasoning_tokens": 5}),
            400,
            "reasoning_tokens",
        ),
        (
            "/api/v1/usage/record",
            json!({"allocation_id": "00000000-0000-7000-8000-000000000000", "input_tokens": 1, "output_tokens": 1}),
            400,
            "allocation_id",
        ),
        (
            "/api/v1/usage/record",
            json!({"component": "c", "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "bogus": 1}),
            400,
            "",
        ),
        (
            "/api/v1/budgets/rhetor/policies",
            json!({"period": "cron", "cron": "not a cron", "token_limit": 5}),
            400,
            "cron",
        ),
        (
            "/api/v1/budgets/rhetor/policies",
            json!({"period": "daily", "cost_limit": "1", "timezone": "Mars/Olympus"}),
            400,
            "timezone",
        ),
    ];
    for (path, body, want, field) in cases {
        let (status, answer) = d.post(path, body.clone()).await;
        assert_eq!(status, want, "{path} {body} → {answer}");
        assert!(answer["error"]["code"].is_string(), "error shape for {body}: {answer}");
        assert!(!answer["error"]["message"].as_str().unwrap_or("").is_empty());
        if !field.is_empty() {
            let named = answer["error"]["details"]["field"].as_str().unwrap_or("").to_string();
            assert!(
                named == field || answer["error"]["message"].as_str().unwrap_or("").contains(field),
                "{body} should name {field}: {answer}"
            );
        }
    }
    let (status, answer) = d.raw_post("/api/v1/allocations", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "malformed_json");
    let (status, answer) = d.raw_post("/api/v1/usage/record", "[1,2,3]").await;
    assert_eq!(status, 400, "{answer}");
    for path in [
        "/api/v1/budgets/nope",
        "/api/v1/allocations/00000000-0000-7000-8000-000000000000",
        "/api/v1/policies/00000000-0000-7000-8000-000000000000",
        "/api/v1/prices/acme/unknown-model",
        "/api/v1/no-such-route",
    ] {
        let (status, answer) = d.get(path).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    let (status, _) = d.get("/api/v1/allocations/not-a-uuid").await;
    assert_eq!(status, 400);
    let (status, answer) = d.get("/api/v1/allocations?status=maybe").await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "status", "{answer}");
    let (status, answer) = d.get("/api/v1/usage/summary?group_by=planet").await;
    assert_eq!(status, 400, "{answer}");
    // The daemon is still healthy after all of that.
    let (status, _) = d.get("/health").await;
    assert_eq!(status, 200);
    d.stop();
}

/// A body over `server.max_body_bytes` gets 413 with the usual error shape, and the daemon
/// keeps serving. The limit is small here so the whole body is in the socket before the
/// server answers: with a body larger than the socket buffers, the server's early answer
/// and close can reach the client as a reset while it is still writing.
#[tokio::test]
async fn an_oversized_body_is_413() {
    let d = Daemon::start_with_config("[server]\nmax_body_bytes = 1024\n\n[price_monitor]\nenabled = false\n");
    let body = format!("{{\"name\": \"{}\"}}", "x".repeat(4096));
    // The server does not read the rest of the body, so HTTP/1.1 makes it close the
    // connection; a client of its own keeps the shared pool from reusing that connection.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/budgets", d.url))
        .bearer_auth(&d.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 413);
    let answer: Value = response.json().await.expect("JSON error body");
    assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
    // The same JSON answer where a body is read as raw bytes (an optional reject note).
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/prices/pending/00000000-0000-7000-8000-000000000000/reject", d.url))
        .bearer_auth(&d.admin_key)
        .header("content-type", "application/json")
        .body(format!("{{\"note\": \"{}\"}}", "x".repeat(4096)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 413);
    let answer: Value = response.json().await.expect("JSON error body");
    assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
    // Just under the limit is an ordinary request.
    let padding = "p".repeat(800);
    let (status, answer) =
        d.post("/api/v1/budgets", json!({"name": "padded", "description": padding, "owner": "svc"})).await;
    assert_eq!(status, 201, "{answer}");
    d.stop();
}

#[tokio::test]
async fn keys_and_roles() {
    let d = Daemon::start();
    let (status, _) = d.call(Method::GET, "/api/v1/budgets", None, None).await;
    assert_eq!(status, 401);
    // The scheme name is case-insensitive.
    let response = d
        .http
        .get(format!("{}/api/v1/budgets", d.url))
        .header("authorization", format!("BEARER {}", d.admin_key))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let (status, _) = d.call(Method::GET, "/api/v1/budgets", Some("bgt_wrong"), None).await;
    assert_eq!(status, 401);
    for open in ["/health", "/ready", "/metrics"] {
        let (status, _) = d.call(Method::GET, open, None, None).await;
        assert_eq!(status, 200, "{open} is open");
    }
    let (status, created) = d.post("/api/v1/keys", json!({"name": "reader", "role": "read"})).await;
    assert_eq!(status, 201);
    let reader = created["key"].as_str().expect("secret").to_string();
    let (status, _) = d.call(Method::GET, "/api/v1/budgets", Some(&reader), None).await;
    assert_eq!(status, 200, "read keys read");
    let (status, answer) = d.call(Method::POST, "/api/v1/budgets", Some(&reader), Some(json!({"name": "x"}))).await;
    assert_eq!(status, 403, "read keys cannot write: {answer}");
    let (status, _) = d
        .call(
            Method::POST,
            "/api/v1/prices/estimate",
            Some(&reader),
            Some(json!({"provider": "openai", "model": "gpt-4o", "input_tokens": 1})),
        )
        .await;
    assert_eq!(status, 200, "estimates are reads");
    let (_, writer) = d.post("/api/v1/keys", json!({"name": "writer", "role": "write"})).await;
    let writer = writer["key"].as_str().expect("secret").to_string();
    let (status, _) = d
        .call(
            Method::PUT,
            "/api/v1/prices/acme/m1",
            Some(&writer),
            Some(json!({"input_cost_per_token": "0.1", "output_cost_per_token": "0.2"})),
        )
        .await;
    assert_eq!(status, 403, "manual prices need admin");
    let (status, _) = d.call(Method::GET, "/api/v1/keys", Some(&writer), None).await;
    assert_eq!(status, 403);
    let (status, _) = d
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{}", created["info"]["id"].as_str().expect("id")),
            Some(&d.admin_key),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = d.call(Method::GET, "/api/v1/budgets", Some(&reader), None).await;
    assert_eq!(status, 401, "revoked keys stop working");
    let mode = std::fs::metadata(d.data_dir.join("admin.key")).expect("admin.key").permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
    d.stop();
}

/// Each handler names the role it needs: a read key gets 403 on write and admin routes, a write
/// key 403 on admin routes, with the role in the message; the key is checked before the body.
#[tokio::test]
async fn each_route_checks_its_role_before_the_body() {
    let d = Daemon::start();
    let (_, reader) = d.post("/api/v1/keys", json!({"name": "reader", "role": "read"})).await;
    let reader = reader["key"].as_str().expect("secret").to_string();
    let (_, writer) = d.post("/api/v1/keys", json!({"name": "writer", "role": "write"})).await;
    let writer = writer["key"].as_str().expect("secret").to_string();
    let pending = "/api/v1/prices/pending/00000000-0000-7000-8000-000000000000";
    let writes = [
        (Method::POST, "/api/v1/budgets".to_string()),
        (Method::PATCH, "/api/v1/budgets/x".to_string()),
        (Method::DELETE, "/api/v1/policies/00000000-0000-7000-8000-000000000000".to_string()),
        (Method::POST, "/api/v1/allocations".to_string()),
        (Method::POST, "/api/v1/allocations/00000000-0000-7000-8000-000000000000/release".to_string()),
        (Method::POST, "/api/v1/usage/record".to_string()),
    ];
    let admins = [
        (Method::GET, "/api/v1/keys".to_string()),
        (Method::POST, "/api/v1/keys".to_string()),
        (Method::DELETE, "/api/v1/keys/00000000-0000-7000-8000-000000000000".to_string()),
        (Method::PUT, "/api/v1/prices/acme/m1".to_string()),
        (Method::POST, "/api/v1/prices/refresh".to_string()),
        (Method::POST, format!("{pending}/approve")),
        (Method::POST, format!("{pending}/reject")),
    ];
    // A body that would be a 400 shows that the key is checked first.
    let junk = Some(json!({"junk": true}));
    for (method, path) in &writes {
        let (status, answer) = d.call(method.clone(), path, Some(&reader), junk.clone()).await;
        assert_eq!(status, 403, "read key, {method} {path}: {answer}");
        assert_eq!(answer["error"]["message"], "this key has role 'read', the request needs 'write'");
    }
    for (method, path) in &admins {
        for (key, role) in [(&reader, "read"), (&writer, "write")] {
            let (status, answer) = d.call(method.clone(), path, Some(key), junk.clone()).await;
            assert_eq!(status, 403, "{role} key, {method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
            let message = format!("this key has role '{role}', the request needs 'admin'");
            assert_eq!(answer["error"]["message"], message.as_str());
        }
    }
    for path in ["/api/v1/budgets", "/api/v1/alerts", "/api/v1/prices?limit=1", "/api/v1/usage/summary"] {
        let (status, answer) = d.call(Method::GET, path, Some(&reader), None).await;
        assert_eq!(status, 200, "read key reads {path}: {answer}");
    }
    d.stop();
}

/// A method a route does not serve is still 401 without a key and 403 for a key below the
/// route's role (with `Allow`), and 405 only for a key that would do; an unknown path is 404.
#[tokio::test]
async fn a_wrong_method_needs_a_key_first() {
    let d = Daemon::start();
    let (_, writer) = d.post("/api/v1/keys", json!({"name": "writer", "role": "write"})).await;
    let writer = writer["key"].as_str().expect("secret").to_string();
    let send = |method: Method, path: &str, key: Option<&str>| {
        let mut request = d.http.request(method, format!("{}{path}", d.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.expect("sent");
            let allow = response.headers().get("allow").and_then(|v| v.to_str().ok()).map(String::from);
            (response.status().as_u16(), allow)
        }
    };
    assert_eq!(send(Method::PUT, "/api/v1/budgets", None).await, (401, Some("GET,HEAD,POST".into())));
    assert_eq!(send(Method::PUT, "/api/v1/budgets", Some(&writer)).await, (405, Some("GET,HEAD,POST".into())));
    assert_eq!(send(Method::PUT, "/api/v1/keys", Some(&writer)).await.0, 403, "/keys is admin whatever the method");
    assert_eq!(send(Method::PUT, "/api/v1/keys", Some(&d.admin_key)).await.0, 405);
    assert_eq!(send(Method::GET, "/api/v1/prices/refresh", None).await.0, 401);
    assert_eq!(send(Method::GET, "/api/v1/prices/refresh", Some(&writer)).await, (405, Some("POST".into())));
    for key in [None, Some(d.admin_key.as_str())] {
        let (status, _) = send(Method::GET, "/api/v1/no-such-route", key).await;
        assert_eq!(status, 404);
    }
    d.stop();
}

#[tokio::test]
async fn prices_list_show_set_and_history() {
    let d = Daemon::start();
    let (status, show) = d.get("/api/v1/prices/anthropic/claude-sonnet-4-5").await;
    assert_eq!(status, 200, "{show}");
    assert_eq!(show["input_cost_per_token"], "0.000003");
    assert_eq!(show["source"], "builtin:litellm@1.110.2");
    let (_, listed) = d.get("/api/v1/prices?provider=anthropic&search=sonnet").await;
    assert!(listed.as_array().expect("list").len() >= 3);
    let (status, set) = d
        .put(
            "/api/v1/prices/acme/house-model",
            json!({"input_cost_per_million": "1.5", "output_cost_per_million": "6"}),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["input_cost_per_token"], "0.0000015");
    // Cache rates per million too; one rate in both forms is refused, naming it.
    let (status, cached) = d
        .put(
            "/api/v1/prices/acme/cached-model",
            json!({"input_cost_per_million": "1.5", "output_cost_per_million": "6",
                        "cache_read_input_cost_per_million": "0.15", "cache_creation_input_cost_per_million": "1.875"}),
        )
        .await;
    assert_eq!(status, 200, "{cached}");
    assert_eq!(cached["cache_read_input_token_cost"], "0.00000015");
    assert_eq!(cached["cache_creation_input_token_cost"], "0.000001875");
    let (status, both) = d
        .put(
            "/api/v1/prices/acme/cached-model",
            json!({"input_cost_per_million": "1.5", "output_cost_per_million": "6",
                        "cache_read_input_token_cost": "0.00000015", "cache_read_input_cost_per_million": "0.15"}),
        )
        .await;
    assert_eq!(status, 400, "{both}");
    assert_eq!(both["error"]["details"]["field"], "cache_read_input_token_cost", "{both}");
    let (status, history) = d
        .put(
            "/api/v1/prices/acme/house-model/history",
            json!({"input_cost_per_million": "1", "output_cost_per_million": "2"}),
        )
        .await;
    // The history is read-only: its PUT is a 405 naming what the document declares there.
    assert_eq!(status, 405, "{history}");
    let (_, est) = d
        .post(
            "/api/v1/prices/estimate",
            json!({"provider": "acme", "model": "house-model", "input_tokens": 1000, "output_tokens": 1000}),
        )
        .await;
    assert_eq!(est["cost"], "0.0075000");
    let (_, history) = d.get("/api/v1/prices/acme/house-model/history").await;
    assert_eq!(history["versions"].as_array().map(Vec::len), Some(1), "{history}");
    assert_eq!(history["versions"][0]["source"], "manual");
    // Model names with slashes.
    let (status, body) = d.get("/api/v1/prices/openrouter/openrouter/anthropic/claude-3.5-sonnet").await;
    assert!(status == 200 || status == 404, "{body}");
    d.stop();
}

#[tokio::test]
async fn usage_listing_paging_and_summary() {
    let d = Daemon::start();
    rhetor_budget(&d).await;
    for (i, model) in
        ["claude-sonnet-4-5", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o", "gpt-4o"].iter().enumerate()
    {
        let provider = if model.starts_with("gpt") { "openai" } else { "anthropic" };
        let (status, _) = d
            .post(
                "/api/v1/usage/record",
                json!({"component": if i % 2 == 0 { "rhetor" } else { "apollo" }, "provider": provider, "model": model,
                       "input_tokens": 1000, "output_tokens": 100, "task_type": "chat"}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (_, page1) = d.get("/api/v1/usage/records?limit=2").await;
    assert_eq!(page1["records"].as_array().map(Vec::len), Some(2));
    let cursor = page1["next_cursor"].as_str().expect("cursor").to_string();
    let (_, page2) = d.get(&format!("/api/v1/usage/records?limit=2&cursor={cursor}")).await;
    assert_ne!(page1["records"][0]["id"], page2["records"][0]["id"]);
    let (_, page3) =
        d.get(&format!("/api/v1/usage/records?limit=2&cursor={}", page2["next_cursor"].as_str().expect("c"))).await;
    assert_eq!(page3["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(page3["next_cursor"], Value::Null);
    let (_, by_provider) = d.get("/api/v1/usage/records?provider=openai").await;
    assert_eq!(by_provider["records"].as_array().map(Vec::len), Some(2));

    let (status, summary) = d.get("/api/v1/usage/summary?group_by=provider,model").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["total_records"], 5);
    let rows = summary["rows"].as_array().expect("rows");
    let sonnet = rows.iter().find(|r| r["group"]["model"] == "claude-sonnet-4-5").expect("sonnet row");
    assert_eq!(sonnet["records"], 2);
    assert_eq!(sonnet["cost"], "0.009000", "2 × (1000×$3/M + 100×$15/M)");
    let (_, by_budget) = d.get("/api/v1/usage/summary?group_by=budget,day").await;
    let rhetor_row =
        by_budget["rows"].as_array().expect("rows").iter().find(|r| r["group"]["budget"] == "rhetor").expect("rhetor");
    assert_eq!(rhetor_row["records"], 3);
    d.stop();
}

#[tokio::test]
async fn budgets_and_policies_crud() {
    let d = Daemon::start();
    let budget = rhetor_budget(&d).await;
    let (status, policy) = d
        .post(
            "/api/v1/budgets/rhetor/policies",
            json!({"period": "monthly", "cost_limit": "100", "enforcement": "warn", "provider": "anthropic"}),
        )
        .await;
    assert_eq!(status, 201, "{policy}");
    let pid = policy["id"].as_str().expect("id").to_string();
    let (status, patched) = d
        .call(
            Method::PATCH,
            &format!("/api/v1/policies/{pid}"),
            Some(&d.admin_key.clone()),
            Some(json!({"cost_limit": "150.50"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["cost_limit"], "150.50");
    let (_, shown) = d.get(&format!("/api/v1/policies/{pid}")).await;
    assert_eq!(shown["provider"], "anthropic");
    // Filters can be changed and removed; a limit can be removed while another remains.
    let patch = |body: serde_json::Value| {
        let d = &d;
        let path = format!("/api/v1/policies/{pid}");
        async move { d.call(Method::PATCH, &path, Some(&d.admin_key.clone()), Some(body)).await }
    };
    let (status, patched) = patch(json!({"model": "claude-sonnet-4-5", "provider": ""})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["model"], "claude-sonnet-4-5");
    assert!(patched.get("provider").is_none(), "{patched}");
    let (status, patched) = patch(json!({"token_limit": 5000, "clear": ["cost_limit", "model"]})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!((patched["token_limit"].as_u64(), patched["cost_limit"].is_null()), (Some(5000), true), "{patched}");
    assert!(patched.get("model").is_none(), "{patched}");
    let (status, refused) = patch(json!({"clear": ["token_limit"]})).await;
    assert_eq!(status, 400, "a policy keeps a limit: {refused}");
    assert_eq!(refused["error"]["details"]["field"], "cost_limit");
    let (status, refused) = patch(json!({"clear": ["colour"]})).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["details"]["field"], "clear");
    let (status, refused) = patch(json!({"tier": "gold", "clear": ["tier"]})).await;
    assert_eq!(status, 400, "set and cleared at once: {refused}");
    assert_eq!(refused["error"]["details"]["field"], "clear");
    let (_, b) = d.get("/api/v1/budgets/rhetor").await;
    assert_eq!(b["policies"].as_array().map(Vec::len), Some(2));
    let (status, renamed) = d
        .call(
            Method::PATCH,
            "/api/v1/budgets/rhetor",
            Some(&d.admin_key.clone()),
            Some(json!({"name": "rhetor-main", "owner": "ops"})),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["id"], budget["id"]);
    let (status, _) =
        d.call(Method::DELETE, &format!("/api/v1/policies/{pid}"), Some(&d.admin_key.clone()), None).await;
    assert_eq!(status, 204);
    let (status, _) = d.call(Method::DELETE, "/api/v1/budgets/rhetor-main", Some(&d.admin_key.clone()), None).await;
    assert_eq!(status, 204);
    let (_, list) = d.get("/api/v1/budgets").await;
    assert_eq!(list, json!([]));
    d.stop();
}

#[tokio::test]
async fn openapi_and_metrics_are_served() {
    let d = Daemon::start();
    let (status, doc) = d.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/allocations",
        "/api/v1/usage/record",
        "/api/v1/budgets/{id}/status",
        "/api/v1/prices/estimate",
        "/api/v1/prices/{provider}/{model}/history",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi documents {path}");
    }
    rhetor_budget(&d).await;
    d.post(
        "/api/v1/allocations",
        json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "1"}),
    )
    .await;
    let text = d.http.get(format!("{}/metrics", d.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(text.contains("budget_allocations_total"), "{text}");
    assert!(text.contains("budget_http_requests_total"), "{text}");
    d.stop();
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let d = Daemon::start_in(&data);
    rhetor_budget(&d).await;
    let (_, grant) = d
        .post("/api/v1/allocations", json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "4.00", "ttl_seconds": 3600}))
        .await;
    assert!(grant["id"].is_string(), "{grant}");
    d.stop();
    let again = Daemon::start_in(&data);
    let (status, body) = again
        .post(
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "1.50"}),
        )
        .await;
    assert_eq!(status, 402, "the $4 hold survived the restart: {body}");
    let (status, _) = again
        .post(
            "/api/v1/allocations",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "1.00"}),
        )
        .await;
    assert_eq!(status, 201);
    again.stop();
}

// ---- issue 7: hostile input ---------------------------------------------------------------

/// Request bodies are JSON objects, at the top and where a nested object belongs: serde would
/// otherwise fill a struct from an array's elements (201 and 200 for `[null, null]`).
#[tokio::test]
async fn non_object_bodies_are_refused() {
    let d = Daemon::start();
    rhetor_budget(&d).await;
    for (method, path, body) in [
        (Method::POST, "/api/v1/budgets", json!([null, null])),
        (Method::PATCH, "/api/v1/budgets/rhetor", json!([null, null])),
        (Method::POST, "/api/v1/budgets", json!("rhetor")),
        (Method::POST, "/api/v1/budgets", json!({"name": "x", "scope": [null, null]})),
        (Method::POST, "/api/v1/budgets", json!({"name": "x", "policies": [["daily", "5"]]})),
        (
            Method::POST,
            "/api/v1/usage/record",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "usage": [1, 2]}),
        ),
        (
            Method::POST,
            "/api/v1/usage/record",
            json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "input_tokens": 1, "output_tokens": 1, "metadata": [null]}),
        ),
    ] {
        let (status, answer) = d.call(method.clone(), path, Some(&d.admin_key), Some(body.clone())).await;
        assert_eq!(status, 400, "{method} {path} {body} → {answer}");
    }
    let (_, budgets) = d.get("/api/v1/budgets").await;
    assert_eq!(budgets.as_array().map(Vec::len), Some(1), "nothing was created: {budgets}");
    let (_, rhetor) = d.get("/api/v1/budgets/rhetor").await;
    assert_eq!(rhetor["policies"].as_array().map(Vec::len), Some(1), "nothing was changed: {rhetor}");
}

/// One set of string rules: over-long free text and identifiers, and model or provider names
/// that are paths, are refused naming the field; nothing is stored.
#[tokio::test]
async fn strings_follow_one_set_of_documented_limits() {
    let d = Daemon::start();
    let huge = "x".repeat(900 * 1024);
    let cases = [
        ("/api/v1/budgets", json!({"name": "a", "description": huge}), "description"),
        ("/api/v1/budgets", json!({"name": "a", "owner": "o".repeat(257)}), "owner"),
        ("/api/v1/budgets", json!({"name": "n".repeat(129)}), "name"),
        ("/api/v1/budgets", json!({"name": " padded"}), "name"),
        (
            "/api/v1/budgets",
            json!({"name": "a", "policies": [{"period": "daily", "cost_limit": "1", "model": "m".repeat(300)}]}),
            "policies[0].model",
        ),
        (
            "/api/v1/budgets",
            json!({"name": "a", "policies": [{"period": "daily", "cost_limit": "1", "context_id": "c".repeat(100 * 1024)}]}),
            "policies[0].context_id",
        ),
        (
            "/api/v1/budgets",
            json!({"name": "a", "policies": [{"period": "DAILY", "cost_limit": "1"}]}),
            "policies[0].period",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "svc", "provider": "anthropic", "model": "../../etc/passwd", "amount": "1"}),
            "model",
        ),
        (
            "/api/v1/allocations",
            json!({"component": "svc", "provider": "an thropic", "model": "m", "amount": "1"}),
            "provider",
        ),
        ("/api/v1/prices/estimate", json!({"provider": "openai", "model": "a//b", "input_tokens": 1}), "model"),
    ];
    for (path, body, field) in cases {
        let (status, answer) = d.post(path, body).await;
        assert_eq!(status, 400, "{path} → {answer}");
        assert_eq!(answer["error"]["details"]["field"], field, "{answer}");
    }
    let price = json!({"input_cost_per_million": "1", "output_cost_per_million": "2"});
    for path in ["/api/v1/prices/trav/../../../../etc/passwd", "/api/v1/prices/trav/..%2F..%2Fetc%2Fpasswd"] {
        let (status, answer) = d.put(path, price.clone()).await;
        assert!(status == 400 || status == 404, "{path} → {status} {answer}");
    }
    let (status, answer) = d.put(&format!("/api/v1/prices/trav/{}", "m".repeat(60 * 1024)), price.clone()).await;
    assert_eq!(status, 400, "{answer}");
    let (_, budgets) = d.get("/api/v1/budgets").await;
    assert_eq!(budgets, json!([]), "nothing was stored");
    let (status, _) = d.get("/api/v1/prices/trav/etc/passwd").await;
    assert_eq!(status, 404, "no such price was stored");
}

/// A method the document does not declare on a path is a 405 whose `Allow` names what it
/// declares, including the read-only history that shares a wildcard route with the price.
#[tokio::test]
async fn undeclared_methods_are_405_with_the_documented_allow() {
    let d = Daemon::start();
    let send = |method: Method, path: &str| {
        let request = d.http.request(method, format!("{}{path}", d.url)).bearer_auth(&d.admin_key);
        async move {
            let response = request.send().await.expect("sent");
            let allow = response.headers().get("allow").and_then(|v| v.to_str().ok()).map(String::from);
            (response.status().as_u16(), allow)
        }
    };
    let history = "/api/v1/prices/openai/gpt-4o/history";
    assert_eq!(send(Method::PUT, history).await, (405, Some("GET,HEAD".into())));
    assert_eq!(send(Method::OPTIONS, history).await, (405, Some("GET,HEAD".into())));
    assert_eq!(send(Method::DELETE, "/api/v1/prices/openai/gpt-4o").await, (405, Some("GET,HEAD,PUT".into())));
    assert_eq!(send(Method::GET, "/api/v1/prices/estimate").await, (405, Some("POST".into())));
    assert_eq!(send(Method::PUT, "/api/v1/keys").await, (405, Some("GET,HEAD,POST".into())));
    assert_eq!(send(Method::PATCH, "/api/v1/prices/sources").await, (405, Some("GET,HEAD".into())));
}

/// The OpenAPI document describes the API: every path parameter is declared, query
/// parameters are in the query, every operation documents its error answers with the error
/// schema, and the server's rules are in the schema.
#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let d = Daemon::start();
    let (status, doc) = d.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            operations += 1;
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                assert!(
                    params.iter().any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true),
                    "{method} {path} does not declare {{{name}}}"
                );
            }
            for p in params.iter().filter(|p| p["in"] != "path") {
                assert_eq!(p["in"], "query", "{method} {path} {p}");
                assert_ne!(p["required"], true, "{method} {path} {p}");
            }
            for status in ["401", "403", "503"] {
                assert_eq!(
                    op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(op["responses"].get(status).is_some(), "{method} {path} documents {status}");
                }
            }
            for p in params.iter().filter(|p| p["name"] == "limit") {
                assert_eq!((p["schema"]["minimum"].as_u64(), p["schema"]["maximum"].as_u64()), (Some(1), Some(1000)));
            }
        }
    }
    assert!(operations >= 50, "{operations}");
    // A created key's id is under info: the link says so, and names the revoke operation.
    let link = &doc["paths"]["/api/v1/keys"]["post"]["responses"]["201"]["links"]["RevokeKey"];
    assert_eq!(link["parameters"]["id"], "$response.body#/info/id");
    assert_eq!(link["operationId"], doc["paths"]["/api/v1/keys/{id}"]["delete"]["operationId"]);
    assert!(link["operationId"].is_string());
    let status_enum = |path: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "status"))
            .map(|p| p["schema"]["enum"].clone())
    };
    assert_eq!(status_enum("/api/v1/allocations"), Some(json!(["active", "released", "expired"])));
    assert_eq!(
        status_enum("/api/v1/prices/pending"),
        Some(json!(["pending", "approved", "rejected", "superseded", "all"]))
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["CreateBudget"]["properties"]["name"]["minLength"], 1);
    assert_eq!(schemas["CreateBudget"]["properties"]["name"]["maxLength"], 128);
    assert_eq!(schemas["CreateKey"]["properties"]["role"]["enum"], json!(["read", "write", "admin"]));
    assert!(
        schemas["PolicySpec"]["properties"]["period"]["enum"].as_array().is_some_and(|e| e.contains(&json!("daily")))
    );
    assert!(schemas["AllocationRequest"]["properties"]["model"]["pattern"].is_string());
    assert_eq!(schemas["AllocationRequest"]["properties"]["priority"]["maximum"], 10);
    assert_eq!(status_enum("/api/v1/alert-deliveries"), Some(json!(["pending", "delivered", "failed"])));
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_default()
    };
    // Reports group by tier (not day); the summary by day (not tier).
    let report_group = param("/api/v1/reports/usage", "group_by")["pattern"].as_str().unwrap_or_default().to_string();
    assert!(report_group.contains("tier") && !report_group.contains("day"), "{report_group}");
    assert!(param("/api/v1/usage/summary", "group_by")["pattern"].as_str().is_some_and(|p| p.contains("day")));
    assert_eq!(param("/api/v1/reports/usage/records", "format")["enum"], json!(["csv", "ndjson"]));
    assert_eq!(param("/api/v1/reports/usage", "format")["enum"], json!(["json", "csv", "md"]));
    assert_eq!(doc["paths"]["/api/v1/alert-channels/{id}"]["get"]["parameters"][0]["schema"]["format"], Value::Null);
    assert!(
        schemas["NewChannel"]["properties"]["url"]["pattern"].as_str().is_some_and(|p| p.starts_with("^https?://"))
    );
    assert!(doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"].is_object());
}

/// A client that opens connections and never finishes its request head does not hold them:
/// each is closed after `server.header_read_timeout_seconds`, and with every slot of
/// `server.max_connections` taken by such clients the daemon still answers once they are gone.
#[tokio::test]
async fn stalled_clients_are_dropped_and_do_not_starve_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = Daemon::start_with_config(
        "[server]\nheader_read_timeout_seconds = 1\nmax_connections = 3\n\n[price_monitor]\nenabled = false\n",
    );
    let address = d.url.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for i in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
        if i > 0 {
            // Half a request head; the first sends nothing at all.
            stream.write_all(b"GET /health HTTP/1.1\r\nHost: budget\r\n").await.expect("write");
        }
        stalled.push(stream);
    }
    for (i, mut stream) in stalled.into_iter().enumerate() {
        let mut buf = [0u8; 256];
        let closed = async {
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        // The bound only keeps a daemon without the limit from hanging the suite.
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), closed).await;
        assert!(outcome.is_ok(), "stalled connection {i} was still open after 60 s");
    }
    let (status, _) = d.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
}

/// Alerts are listed with filters and acknowledged over HTTP and through the CLI; a threshold
/// crossing is one alert however often its window is charged again.
#[tokio::test]
async fn alerts_are_filtered_and_acknowledged() {
    let d = Daemon::start();
    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "rhetor", "component": "rhetor",
                   "policies": [{"period": "daily", "cost_limit": "0.018", "enforcement": "warn"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let usage = json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5",
                       "input_tokens": 1800, "output_tokens": 640});
    for _ in 0..3 {
        let (status, body) = d.post("/api/v1/usage/record", usage.clone()).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, all) = d.get("/api/v1/alerts?budget=rhetor").await;
    assert_eq!(status, 200, "{all}");
    // (Past a tenth of the day a `budget_projected_to_exceed` comes too; it depends on the
    // hour the test runs.)
    let kinds: Vec<&str> = all
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .filter(|k| *k != "budget_projected_to_exceed")
        .collect();
    // The third record passes the action threshold and the limit at once: one alert for each.
    assert_eq!(
        kinds,
        ["budget_exceeded", "budget_action_threshold", "budget_warning"],
        "one alert per threshold crossed: {all}"
    );
    let (_, exceeded) = d.get("/api/v1/alerts?kind=budget_exceeded&severity=warning").await;
    let id = exceeded[0]["id"].as_str().expect("id").to_string();
    assert_eq!(exceeded.as_array().map(Vec::len), Some(1), "{exceeded}");

    let (status, acked) = d.post(&format!("/api/v1/alerts/{id}/acknowledge"), json!({})).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged"], true);
    assert!(acked["acknowledged_at"].is_string(), "{acked}");
    let (_, open) = d.get("/api/v1/alerts?acknowledged=false").await;
    let open: Vec<&str> = open.as_array().expect("list").iter().filter_map(|a| a["kind"].as_str()).collect();
    assert!(open.contains(&"budget_warning") && !open.contains(&"budget_exceeded"), "{open:?}");

    let (status, answer) = d.get("/api/v1/alerts?kind=nonsense").await;
    assert_eq!((status, answer["error"]["details"]["field"].as_str()), (400, Some("kind")), "{answer}");
    let (status, _) = d.post("/api/v1/alerts/00000000-0000-7000-8000-000000000000/acknowledge", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = d.get("/api/v1/alerts?budget=nope").await;
    assert_eq!(status, 404);

    // The CLI: the bare command still lists; `list` filters; `ack` acknowledges.
    let listed = d.cli_json(&["alerts"]);
    assert_eq!(listed.as_array().map(Vec::len), all.as_array().map(Vec::len), "{listed}");
    let warnings = ["alerts", "list", "--unacknowledged", "--budget", "rhetor", "--kind", "budget_warning"];
    let open = d.cli_json(&warnings);
    let warning = open[0]["id"].as_str().expect("id").to_string();
    let acked = d.cli_json(&["alerts", "ack", &warning]);
    assert_eq!(acked["acknowledged"], true, "{acked}");
    assert_eq!(d.cli_json(&warnings), json!([]));
}

/// A lease extended before it runs out keeps its reservation past the first lease; the
/// expiry sweep leaves it alone; a released, expired or unknown allocation is not extended.
async fn check_lease_extension(d: &Daemon) {
    rhetor_budget(d).await;
    let allocate = |ttl: u64| {
        json!({"component": "rhetor", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "3.00",
               "ttl_seconds": ttl})
    };
    let (status, grant) = d.post("/api/v1/allocations", allocate(2)).await;
    assert_eq!(status, 201, "{grant}");
    let id = grant["id"].as_str().expect("id").to_string();
    let (status, extended) = d.post(&format!("/api/v1/allocations/{id}/extend"), json!({"ttl_seconds": 120})).await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["status"], "active");
    let ends =
        chrono::DateTime::parse_from_rfc3339(extended["expires_at"].as_str().expect("expires_at")).expect("time");
    assert!(ends > chrono::Utc::now() + chrono::Duration::seconds(100), "{extended}");

    // Past the first lease (2 s) and several sweeps (every second): still held.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let (_, now) = d.get(&format!("/api/v1/allocations/{id}")).await;
    assert_eq!(now["status"], "active", "{now}");
    let (_, status_body) = d.get("/api/v1/budgets/rhetor/status").await;
    assert_eq!(status_body["policies"][0]["reserved"], "3", "{status_body}");
    // The day's 5.00 holds 3.00 for it: another 3.00 is refused.
    let (status, denied) = d.post("/api/v1/allocations", allocate(60)).await;
    assert_eq!(status, 402, "{denied}");

    // A shorter lease is a lease too; bad leases are named.
    for (ttl, field) in [(json!(0), "ttl_seconds"), (json!(100_000_000), "ttl_seconds"), (json!("soon"), "ttl_seconds")]
    {
        let (status, body) = d.post(&format!("/api/v1/allocations/{id}/extend"), json!({"ttl_seconds": ttl})).await;
        assert_eq!((status, body["error"]["details"]["field"].clone()), (400, json!(field)), "{body}");
    }
    let (status, _) = d.post(&format!("/api/v1/allocations/{id}/release"), json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = d.post(&format!("/api/v1/allocations/{id}/extend"), json!({"ttl_seconds": 60})).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("conflict")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("released")), "{body}");
    let (status, _) =
        d.post("/api/v1/allocations/01a23d77-8926-727b-8118-2c4da20aff89/extend", json!({"ttl_seconds": 60})).await;
    assert_eq!(status, 404);

    // A lease that has run out is not brought back.
    let (_, short) = d.post("/api/v1/allocations", allocate(1)).await;
    let short_id = short["id"].as_str().expect("id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = d.post(&format!("/api/v1/allocations/{short_id}/extend"), json!({"ttl_seconds": 60})).await;
    assert_eq!(status, 409, "{body}");
    let (_, after) = d.get(&format!("/api/v1/allocations/{short_id}")).await;
    assert_eq!(after["status"], "expired", "{after}");
}

#[tokio::test]
async fn a_lease_is_extended_while_it_runs() {
    let d = Daemon::start();
    check_lease_extension(&d).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn a_lease_is_extended_while_it_runs_on_postgres() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let d = Daemon::start_postgres(&url);
    check_lease_extension(&d).await;
}
