//! Open endpoints (no key): `/health`, `/ready`, `/metrics` and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "component": "budget", "version": env!("CARGO_PKG_VERSION")}))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.tree.ready().await {
        // Hermes is reported, never a reason not to be ready: Budget serves without it.
        Ok(()) => Json(serde_json::json!({"status": "ready", "storage": state.tree.backend(),
                                          "hermes": state.tree.hermes_status()}))
        .into_response(),
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()).into_response(),
    }
}

pub async fn metrics_text(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled in this process").into_response(),
    }
}

pub async fn openapi(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi.to_string()).into_response()
}
