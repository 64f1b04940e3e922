//! Tekton's own tool endpoints, `/api/mcp/v2` (TEKTON.md): `GET /health`,
//! `GET /capabilities`, `GET /tools` and `POST /process` with `{tool_name, arguments,
//! context?}` → `{status: "success"|"error", result, error}`. The tools are the catalogue's
//! (`budget_actors::tools`), by their PascalCase names (the snake_case ones work too), calling
//! the same handles as REST and MCP. Discovery is open; `/process` needs an API key, and
//! each tool the role it names. A tool's failure — unknown tool, bad arguments, a refusal —
//! is `{"status": "error"}`, never a 500.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use budget_actors::domain::Role;
use budget_actors::tools::{CATALOGUE, Tools};

use super::AppState;
use super::auth::authorize;

/// The capabilities Budget advertises to Tekton (and Hermes).
pub const CAPABILITIES: [&str; 2] = ["budget_management", "budget_analytics"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/mcp/v2/health", get(health))
        .route("/api/mcp/v2/capabilities", get(capabilities))
        .route("/api/mcp/v2/tools", get(tools))
        .route("/api/mcp/v2/process", post(process))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "component": "budget", "version": env!("CARGO_PKG_VERSION"),
                "tools": CATALOGUE.len()}))
}

async fn capabilities() -> Json<Value> {
    Json(json!({"capabilities": CAPABILITIES, "count": CAPABILITIES.len()}))
}

/// Every tool in Tekton's listing shape.
pub fn tool_list() -> Vec<Value> {
    CATALOGUE
        .iter()
        .map(|t| {
            json!({"name": t.tekton_name, "description": t.description, "schema": t.input_schema(),
                   "tags": t.tags, "category": t.category, "role": t.role.as_str(), "mcp_name": t.name})
        })
        .collect()
}

async fn tools() -> Json<Value> {
    let tools = tool_list();
    Json(json!({"count": tools.len(), "tools": tools}))
}

fn envelope_error(status: StatusCode, error: &str, details: Value) -> Response {
    (status, Json(json!({"status": "error", "result": null, "error": error, "details": details}))).into_response()
}

async fn process(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let key = match authorize(&s, &headers, Role::Read).await {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) => return envelope_error(StatusCode::BAD_REQUEST, "the body must be a JSON object", json!({})),
        Err(e) => return envelope_error(StatusCode::BAD_REQUEST, &format!("malformed JSON: {e}"), json!({})),
    };
    let Some(name) = request.get("tool_name").and_then(Value::as_str) else {
        return envelope_error(
            StatusCode::BAD_REQUEST,
            "tool_name (a string) is required",
            json!({"field": "tool_name"}),
        );
    };
    let arguments = request.get("arguments").cloned().unwrap_or(Value::Null);
    match Tools::new(s.tree.clone()).call(name, arguments, key.role).await {
        Ok(result) => Json(json!({"status": "success", "result": result, "error": null})).into_response(),
        // The tool ran and said no (or was asked wrongly): an answer, not a transport failure.
        Err(e) => Json(json!({"status": "error", "result": null, "error": e.message, "code": e.code,
                              "details": e.details}))
        .into_response(),
    }
}
