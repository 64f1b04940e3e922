//! The REST front door (axum). Handlers only parse, call the engine's typed handle and format
//! the reply; every rule lives in the `budget-actors` crate.

pub mod error;

use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;
use uuid::Uuid;

use budget_actors::Engine;
use budget_actors::api::*;
use budget_actors::domain::{Allocation, ApiKeyInfo, Budget, Policy, PolicySpec, Role, UsageRecord};
use budget_actors::keys::KeyStore;
use budget_actors::monitor::{Conflict, PendingChange, PriceMonitor, PriceUpdate, RefreshReport, SourceStatus};
use budget_actors::prices::PriceSummary;

use error::ApiError;

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
        .route("/budgets", get(list_budgets).post(create_budget))
        .route("/budgets/{id}", get(get_budget).patch(update_budget).delete(delete_budget))
        .route("/budgets/{id}/policies", get(list_policies).post(add_policy))
        .route("/budgets/{id}/status", get(budget_status))
        .route("/policies/{id}", get(get_policy).patch(update_policy).delete(delete_policy))
        .route("/allocations", get(list_allocations).post(allocate))
        .route("/allocations/{id}", get(get_allocation))
        .route("/allocations/{id}/release", post(release))
        .route("/usage/record", post(record_usage))
        .route("/usage/records", get(list_usage))
        .route("/usage/records/{id}", get(get_usage))
        .route("/usage/summary", get(usage_summary))
        .route("/prices", get(list_prices))
        .route("/prices/estimate", post(estimate))
        .route("/prices/sources", get(price_sources))
        .route("/prices/refresh", post(refresh_prices))
        .route("/prices/updates", get(price_updates))
        .route("/prices/pending", get(pending_prices))
        .route("/prices/pending/{id}/approve", post(approve_price))
        .route("/prices/pending/{id}/reject", post(reject_price))
        .route("/prices/conflicts", get(price_conflicts))
        .route("/prices/{provider}/{*model}", get(show_price).put(set_price))
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/{id}", axum::routing::delete(revoke_key))
        .route("/alerts", get(list_alerts))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/openapi.json", get(openapi))
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

/// Role a request needs: admin for keys and manual prices, write for changes, read otherwise.
fn required_role(method: &Method, path: &str) -> Role {
    let price_admin = path == "/prices/refresh" || path.starts_with("/prices/pending/");
    if path.starts_with("/keys")
        || (method == Method::PUT && path.starts_with("/prices/"))
        || (method == Method::POST && price_admin)
    {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD || path == "/prices/estimate" {
        Role::Read
    } else {
        Role::Write
    }
}

async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let token = bearer(request.headers()).ok_or_else(|| ApiError::unauthorized("missing bearer API key"))?;
    let key =
        state.keys.authenticate(token).await?.ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
    let path = request.uri().path().to_string();
    let needed = required_role(request.method(), &path);
    if key.role < needed {
        return Err(ApiError::forbidden(&format!(
            "this key has role '{}', the request needs '{}'",
            key.role.as_str(),
            needed.as_str()
        )));
    }
    Ok(next.run(request).await)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme name is case-insensitive (RFC 9110).
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
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

// ---- open endpoints ------------------------------------------------------------------

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "component": "budget", "version": env!("CARGO_PKG_VERSION")}))
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.tree.ready().await {
        Ok(()) => Json(serde_json::json!({"status": "ready", "storage": state.tree.backend()})).into_response(),
        Err(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()).into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled in this process").into_response(),
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

// ---- budgets and policies -------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/budgets", tag = "budgets", responses((status = 200, body = [Budget])))]
async fn list_budgets(State(s): State<AppState>) -> ApiResult<Json<Vec<Budget>>> {
    Ok(Json(s.engine.list_budgets().await?))
}

#[utoipa::path(post, path = "/api/v1/budgets", tag = "budgets", request_body = CreateBudget,
    responses((status = 201, body = Budget), (status = 400), (status = 409)))]
async fn create_budget(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateBudget>,
) -> ApiResult<(StatusCode, Json<Budget>)> {
    Ok((StatusCode::CREATED, Json(s.engine.create_budget(req).await?)))
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}", tag = "budgets", params(("id" = String, Path, description = "id or unique name")),
    responses((status = 200, body = Budget), (status = 404)))]
async fn get_budget(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Budget>> {
    Ok(Json(s.engine.get_budget(&id).await?))
}

#[utoipa::path(patch, path = "/api/v1/budgets/{id}", tag = "budgets", request_body = UpdateBudget,
    params(("id" = String, Path, description = "id or unique name")), responses((status = 200, body = Budget)))]
async fn update_budget(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateBudget>,
) -> ApiResult<Json<Budget>> {
    Ok(Json(s.engine.update_budget(&id, req).await?))
}

#[utoipa::path(delete, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = String, Path, description = "id or unique name")), responses((status = 204), (status = 404)))]
async fn delete_budget(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    s.engine.delete_budget(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}/policies", tag = "policies",
    params(("id" = String, Path, description = "budget id or name")), responses((status = 200, body = [Policy])))]
async fn list_policies(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Vec<Policy>>> {
    Ok(Json(s.engine.get_budget(&id).await?.policies))
}

#[utoipa::path(post, path = "/api/v1/budgets/{id}/policies", tag = "policies", request_body = PolicySpec,
    params(("id" = String, Path, description = "budget id or name")), responses((status = 201, body = Policy), (status = 400)))]
async fn add_policy(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<PolicySpec>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    Ok((StatusCode::CREATED, Json(s.engine.add_policy(&id, spec).await?)))
}

#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "policies", responses((status = 200, body = Policy), (status = 404)))]
async fn get_policy(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Policy>> {
    Ok(Json(s.engine.get_policy(parse_uuid("id", &id)?)?))
}

#[utoipa::path(patch, path = "/api/v1/policies/{id}", tag = "policies", request_body = UpdatePolicy,
    responses((status = 200, body = Policy), (status = 400), (status = 404)))]
async fn update_policy(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<UpdatePolicy>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(s.engine.update_policy(parse_uuid("id", &id)?, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/policies/{id}", tag = "policies", responses((status = 204), (status = 404)))]
async fn delete_policy(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    s.engine.delete_policy(parse_uuid("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}/status", tag = "budgets", params(StatusQuery, ("id" = String, Path, description = "id or name")),
    responses((status = 200, body = BudgetStatus), (status = 404)))]
async fn budget_status(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<BudgetStatus>> {
    Ok(Json(s.engine.budget_status(&id, &q).await?))
}

// ---- allocations ---------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/allocations", tag = "allocations", request_body = AllocationRequest,
    responses((status = 201, body = AllocationGrant), (status = 402, description = "budget_exceeded (details.reason: limit or unpriced_model)"), (status = 400)))]
async fn allocate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<AllocationRequest>,
) -> ApiResult<(StatusCode, Json<AllocationGrant>)> {
    Ok((StatusCode::CREATED, Json(s.engine.allocate(req).await?)))
}

#[utoipa::path(get, path = "/api/v1/allocations", tag = "allocations", params(AllocationsQuery), responses((status = 200, body = [Allocation])))]
async fn list_allocations(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AllocationsQuery>,
) -> ApiResult<Json<Vec<Allocation>>> {
    Ok(Json(s.engine.list_allocations(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/allocations/{id}", tag = "allocations", responses((status = 200, body = Allocation), (status = 404)))]
async fn get_allocation(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Allocation>> {
    Ok(Json(s.engine.get_allocation(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/allocations/{id}/release", tag = "allocations", responses((status = 200, body = Allocation), (status = 404)))]
async fn release(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<Allocation>> {
    Ok(Json(s.engine.release(parse_uuid("id", &id)?).await?))
}

// ---- usage ---------------------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/usage/record", tag = "usage", request_body = UsageRequest,
    responses((status = 201, body = UsageResponse), (status = 200, description = "repeated request_id: the first record", body = UsageResponse), (status = 400)))]
async fn record_usage(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<UsageRequest>,
) -> ApiResult<(StatusCode, Json<UsageResponse>)> {
    let response = s.engine.record_usage(req).await?;
    let status = if response.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(response)))
}

#[utoipa::path(get, path = "/api/v1/usage/records", tag = "usage", params(UsageQuery), responses((status = 200, body = UsagePage)))]
async fn list_usage(State(s): State<AppState>, ApiQuery(q): ApiQuery<UsageQuery>) -> ApiResult<Json<UsagePage>> {
    Ok(Json(s.engine.list_usage(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/usage/records/{id}", tag = "usage", responses((status = 200, body = UsageRecord), (status = 404)))]
async fn get_usage(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<UsageRecord>> {
    Ok(Json(s.engine.get_usage(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(get, path = "/api/v1/usage/summary", tag = "usage", params(SummaryQuery), responses((status = 200, body = UsageSummary), (status = 400)))]
async fn usage_summary(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<UsageSummary>> {
    Ok(Json(s.engine.usage_summary(&q).await?))
}

// ---- prices --------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/prices", tag = "prices", params(PricesQuery), responses((status = 200, body = [PriceSummary])))]
async fn list_prices(State(s): State<AppState>, ApiQuery(q): ApiQuery<PricesQuery>) -> Json<Vec<PriceSummary>> {
    Json(s.engine.list_prices(&q))
}

#[utoipa::path(get, path = "/api/v1/prices/{provider}/{model}", tag = "prices",
    responses((status = 200, body = PriceSummary), (status = 404)))]
async fn show_price(
    State(s): State<AppState>,
    ApiPath((provider, model)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    if let Some(model) = model.strip_suffix("/history") {
        return price_history(&s, &provider, model).await;
    }
    Ok(Json(s.engine.show_price(&provider, &model)?).into_response())
}

/// Reached through `show_price`: a model name may itself hold slashes, so one wildcard route
/// serves both, and this entry documents the history path in OpenAPI.
#[utoipa::path(get, path = "/api/v1/prices/{provider}/{model}/history", tag = "prices",
    responses((status = 200, body = PriceHistory, description = "the stored price versions and the applied updates")))]
async fn price_history(s: &AppState, provider: &str, model: &str) -> ApiResult<Response> {
    Ok(Json(s.engine.price_history_view(provider, model).await?).into_response())
}

#[utoipa::path(put, path = "/api/v1/prices/{provider}/{model}", tag = "prices", request_body = SetPrice,
    responses((status = 200, body = PriceSummary), (status = 400), (status = 403)))]
async fn set_price(
    State(s): State<AppState>,
    ApiPath((provider, model)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<SetPrice>,
) -> ApiResult<Json<PriceSummary>> {
    Ok(Json(s.engine.set_price(&provider, &model, req).await?))
}

#[utoipa::path(post, path = "/api/v1/prices/estimate", tag = "prices", request_body = EstimateRequest,
    responses((status = 200, body = EstimateResponse), (status = 400)))]
async fn estimate(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<EstimateRequest>,
) -> ApiResult<Json<EstimateResponse>> {
    Ok(Json(s.engine.estimate(req)?))
}

// ---- price monitoring ----------------------------------------------------------------

fn monitor(s: &AppState) -> ApiResult<&PriceMonitor> {
    s.monitor.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the price monitor is disabled ([price_monitor] enabled = false)",
        )
    })
}

#[utoipa::path(get, path = "/api/v1/prices/sources", tag = "price monitoring", responses((status = 200, body = [SourceStatus])))]
async fn price_sources(State(s): State<AppState>) -> ApiResult<Json<Vec<SourceStatus>>> {
    Ok(Json(monitor(&s)?.sources().await?))
}

#[utoipa::path(post, path = "/api/v1/prices/refresh", tag = "price monitoring", params(RefreshQuery),
    responses((status = 200, body = [RefreshReport]), (status = 404)))]
async fn refresh_prices(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RefreshQuery>,
) -> ApiResult<Json<Vec<RefreshReport>>> {
    Ok(Json(monitor(&s)?.refresh(q.source.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/prices/updates", tag = "price monitoring", params(UpdatesQuery),
    responses((status = 200, body = [PriceUpdate])))]
async fn price_updates(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> ApiResult<Json<Vec<PriceUpdate>>> {
    Ok(Json(monitor(&s)?.updates(q.provider.as_deref(), q.model.as_deref(), q.limit.unwrap_or(100)).await?))
}

#[utoipa::path(get, path = "/api/v1/prices/pending", tag = "price monitoring", params(PendingQuery),
    responses((status = 200, body = [PendingChange])))]
async fn pending_prices(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PendingQuery>,
) -> ApiResult<Json<Vec<PendingChange>>> {
    Ok(Json(monitor(&s)?.pending(q.status.as_deref(), q.limit.unwrap_or(100)).await?))
}

#[utoipa::path(post, path = "/api/v1/prices/pending/{id}/approve", tag = "price monitoring",
    responses((status = 200, body = PendingChange), (status = 404), (status = 409)))]
async fn approve_price(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<Json<PendingChange>> {
    Ok(Json(monitor(&s)?.approve(parse_uuid("id", &id)?).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/prices/pending/{id}/reject", tag = "price monitoring", request_body = Option<RejectBody>,
    responses((status = 200, body = PendingChange), (status = 404), (status = 409)))]
async fn reject_price(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<PendingChange>> {
    let body = body?;
    // The body is optional: nothing, or {"note": "..."}.
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RejectBody>(&body)
            .map_err(|e| ApiError::bad_request("note", format!("body must be {{\"note\": \"...\"}}: {e}")))?
            .note
    };
    Ok(Json(monitor(&s)?.reject(parse_uuid("id", &id)?, note.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/prices/conflicts", tag = "price monitoring", responses((status = 200, body = [Conflict])))]
async fn price_conflicts(State(s): State<AppState>) -> ApiResult<Json<Vec<Conflict>>> {
    Ok(Json(monitor(&s)?.conflicts().await?))
}

// ---- keys and alerts -----------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", responses((status = 200, body = [ApiKeyInfo])))]
async fn list_keys(State(s): State<AppState>) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(s.keys.list().await?))
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = CreateKey, responses((status = 201, body = CreatedKey)))]
async fn create_key(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let role = Role::parse(&req.role)?;
    Ok((StatusCode::CREATED, Json(s.keys.create(&req.name, role).await?)))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", responses((status = 204), (status = 404)))]
async fn revoke_key(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    s.keys.revoke(parse_uuid("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = [budget_actors::domain::Alert])))]
async fn list_alerts(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> ApiResult<Json<Vec<budget_actors::domain::Alert>>> {
    Ok(Json(s.engine.list_alerts(&q).await?))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tekton Budget", description = "LLM cost and budget daemon. Money is a decimal string (USD); token counts are integers."),
    paths(
        list_budgets, create_budget, get_budget, update_budget, delete_budget, list_policies, add_policy, get_policy,
        update_policy, delete_policy, budget_status, allocate, list_allocations, get_allocation, release, record_usage,
        list_usage, get_usage, usage_summary, list_prices, show_price, price_history, set_price, estimate, list_keys, create_key,
        revoke_key, list_alerts, price_sources, refresh_prices, price_updates, pending_prices, approve_price,
        reject_price, price_conflicts
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
