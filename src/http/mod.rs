//! The REST front door (axum). Handlers only parse, call the engine's typed handle and format
//! the reply; every rule lives in the `budget-actors` crate. One file per resource; each
//! handler names the role it needs as its first extractor (see `auth`).

mod alert_channels;
mod alerts;
mod allocations;
pub mod auth;
mod budgets;
pub mod error;
mod events;
mod keys;
mod monitoring;
pub mod openapi;
mod ops;
mod policies;
mod prices;
mod reports;
pub mod server;
pub mod tekton;
mod usage;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

use budget_actors::Engine;
use budget_actors::keys::KeyStore;
use budget_actors::monitor::PriceMonitor;

use error::ApiError;

pub use openapi::ApiDoc;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub keys: Arc<KeyStore>,
    pub metrics: Option<PrometheusHandle>,
    /// Absent when `[price_monitor] enabled = false`.
    pub monitor: Option<PriceMonitor>,
    /// The actor tree, for readiness.
    pub tree: budget_actors::Tree,
    /// The OpenAPI document, built once (it names configured bounds).
    pub openapi: Arc<serde_json::Value>,
    /// Becomes true when the daemon begins to shut down: ends the event streams, which would
    /// otherwise hold the graceful shutdown for their whole drain time.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// JSON body extractor whose rejections use our error shape. Every request body of this API
/// is a JSON object: anything else (an array, a string, `null`) is a 400 before serde sees it,
/// as serde would otherwise fill a struct from an array's elements in order.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let body = axum::body::Bytes::from_request(request, state).await?;
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(_) => return Err(ApiError::bad_request("", "the request body must be a JSON object")),
            None => return Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "the request body is empty")),
        }
        Ok(ApiJson(axum::Json::<T>::from_bytes(&body)?.0))
    }
}

/// `application/json` or `application/<something>+json`, as axum's own `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(mime) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

type ApiResult<T> = Result<T, ApiError>;

fn parse_uuid(field: &str, text: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(text).map_err(|_| ApiError::bad_request(field, format!("'{text}' is not a valid id")))
}

/// `[mcp]`: the Model Context Protocol door at `/mcp`.
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub enabled: bool,
    /// `Host` values accepted (DNS-rebinding guard); loopback by default.
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s accepted; empty: no Origin check (requests without one still pass).
    pub allowed_origins: Vec<String>,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            enabled: true,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
        }
    }
}

/// `/mcp`: rmcp's streamable HTTP service behind our key check, which puts the caller's role
/// in the request for the tools to read. Ended at shutdown (its streams would otherwise hold
/// the drain).
fn mcp_routes(state: &AppState, settings: &McpSettings) -> Router<AppState> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(settings.allowed_origins.clone());
    let cancel = config.cancellation_token.clone();
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
        cancel.cancel();
    });
    let tools = budget_actors::tools::Tools::new(state.tree.clone());
    let service = StreamableHttpService::new(
        move || Ok(crate::mcp::BudgetMcp::new(crate::mcp::Backend::Local(tools.clone()))),
        LocalSessionManager::default().into(),
        config,
    );
    Router::new().route_service("/mcp", service).layer(middleware::from_fn_with_state(state.clone(), mcp_key))
}

async fn mcp_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match auth::authorize(&state, request.headers(), budget_actors::domain::Role::Read).await {
        Ok(key) => {
            request.extensions_mut().insert(key.role);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

pub fn router(
    state: AppState,
    max_body_bytes: usize,
    request_timeout: std::time::Duration,
    mcp: &McpSettings,
) -> Router {
    let api = Router::new()
        .merge(budgets::routes())
        .merge(policies::routes())
        .merge(allocations::routes())
        .merge(usage::routes())
        .merge(prices::routes())
        .merge(monitoring::routes())
        .merge(keys::routes())
        .merge(alerts::routes())
        .merge(alert_channels::routes())
        .merge(reports::routes())
        // A method a route does not serve still needs a key first (401/403 before 405, as
        // when auth was a layer); routes that need more than read/write set their own.
        .method_not_allowed_fallback(auth::method_not_allowed);
    Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics_text))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .merge(crate::ui::routes())
        .merge(tekton::routes())
        .nest("/api/v1", api)
        .fallback(not_found)
        // A bug must cost one request a 500, never the connection or the process. Inside the
        // metrics layer, so such a 500 is counted.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!(target: "api", "a request handler panicked");
            error::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error").into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), allow_header))
        // Inside the metrics layer, so a 408 is counted.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        // Streams live as long as their client: outside the request timeout.
        .merge(
            Router::new()
                .route("/api/v1/events", get(events::events))
                .route("/api/v1/reports/usage/records", get(reports::usage_records))
                .merge(if mcp.enabled { mcp_routes(&state, mcp) } else { Router::new() }),
        )
        .layer(middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let start = Instant::now();
    // Any token is a valid HTTP method: a label per method sent would grow without bound.
    let method = match *request.method() {
        axum::http::Method::GET
        | axum::http::Method::HEAD
        | axum::http::Method::POST
        | axum::http::Method::PUT
        | axum::http::Method::PATCH
        | axum::http::Method::DELETE
        | axum::http::Method::OPTIONS => request.method().to_string(),
        _ => "other".to_string(),
    };
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("budget_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("budget_http_request_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Every 405 names, in `Allow`, the methods the OpenAPI document declares on the path (plus
/// HEAD where GET is): axum only adds `Allow` to its own 405s and knows nothing of the
/// read-only `…/history` that shares a wildcard route with the price itself.
async fn allow_header(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(allow) = openapi::allowed_methods(&state.openapi, &path)
        && let Ok(value) = axum::http::HeaderValue::from_str(&allow)
    {
        response.headers_mut().insert(axum::http::header::ALLOW, value);
    }
    response
}
