//! The REST front door (axum). Handlers only parse, call the engine's typed handle and format
//! the reply; every rule lives in the `budget-actors` crate. One file per resource; each
//! handler names the role it needs as its first extractor (see `auth`).

mod alerts;
mod allocations;
pub mod auth;
mod budgets;
pub mod error;
mod keys;
mod monitoring;
pub mod openapi;
mod ops;
mod policies;
mod prices;
mod usage;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
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
}

/// JSON body extractor whose rejections use our error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

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

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .merge(budgets::routes())
        .merge(policies::routes())
        .merge(allocations::routes())
        .merge(usage::routes())
        .merge(prices::routes())
        .merge(monitoring::routes())
        .merge(keys::routes())
        .merge(alerts::routes())
        // A method a route does not serve still needs a key first (401/403 before 405, as
        // when auth was a layer); routes that need more than read/write set their own.
        .method_not_allowed_fallback(auth::method_not_allowed);
    Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics_text))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .nest("/api/v1", api)
        .fallback(not_found)
        // A bug must cost one request a 500, never the connection or the process. Inside the
        // metrics layer, so such a 500 is counted.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!(target: "api", "a request handler panicked");
            error::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error").into_response()
        }))
        .layer(middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
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
