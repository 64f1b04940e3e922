//! Price monitoring: `/prices/sources`, `refresh`, `updates`, `pending` (approve, reject) and
//! `conflicts`. Each answers 404 when the monitor is disabled.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use budget_actors::api::{PendingQuery, RefreshQuery, UpdatesQuery};
use budget_actors::monitor::{Conflict, PendingChange, PriceMonitor, PriceUpdate, RefreshReport, SourceStatus};

use super::auth::{self, AdminKey, ReadKey};
use super::error::ApiError;
use super::{ApiPath, ApiQuery, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    // Every path here is under /prices/, where a PUT would be an admin's.
    let r = |m: MethodRouter<AppState>| m.fallback(auth::prices_method_not_allowed);
    Router::new()
        .route("/prices/sources", r(get(price_sources)))
        .route("/prices/refresh", r(post(refresh_prices)))
        .route("/prices/updates", r(get(price_updates)))
        .route("/prices/pending", r(get(pending_prices)))
        .route("/prices/pending/{id}/approve", r(post(approve_price)))
        .route("/prices/pending/{id}/reject", r(post(reject_price)))
        .route("/prices/conflicts", r(get(price_conflicts)))
}

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
pub async fn price_sources(_: ReadKey, State(s): State<AppState>) -> ApiResult<Json<Vec<SourceStatus>>> {
    Ok(Json(monitor(&s)?.sources().await?))
}

#[utoipa::path(post, path = "/api/v1/prices/refresh", tag = "price monitoring", params(RefreshQuery),
    responses((status = 200, body = [RefreshReport]), (status = 404)))]
pub async fn refresh_prices(
    _: AdminKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<RefreshQuery>,
) -> ApiResult<Json<Vec<RefreshReport>>> {
    Ok(Json(monitor(&s)?.refresh(q.source.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/prices/updates", tag = "price monitoring", params(UpdatesQuery),
    responses((status = 200, body = [PriceUpdate])))]
pub async fn price_updates(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> ApiResult<Json<Vec<PriceUpdate>>> {
    Ok(Json(
        monitor(&s)?
            .updates(q.provider.as_deref(), q.model.as_deref(), budget_actors::api::check_limit(q.limit, 100)?)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/prices/pending", tag = "price monitoring", params(PendingQuery),
    responses((status = 200, body = [PendingChange])))]
pub async fn pending_prices(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PendingQuery>,
) -> ApiResult<Json<Vec<PendingChange>>> {
    Ok(Json(monitor(&s)?.pending(q.status.as_deref(), budget_actors::api::check_limit(q.limit, 100)?).await?))
}

#[utoipa::path(post, path = "/api/v1/prices/pending/{id}/approve", tag = "price monitoring",
    responses((status = 200, body = PendingChange), (status = 404), (status = 409)))]
pub async fn approve_price(
    _: AdminKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PendingChange>> {
    Ok(Json(monitor(&s)?.approve(parse_uuid("id", &id)?).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/prices/pending/{id}/reject", tag = "price monitoring", request_body = Option<RejectBody>,
    responses((status = 200, body = PendingChange), (status = 404), (status = 409)))]
pub async fn reject_price(
    _: AdminKey,
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
pub async fn price_conflicts(_: ReadKey, State(s): State<AppState>) -> ApiResult<Json<Vec<Conflict>>> {
    Ok(Json(monitor(&s)?.conflicts().await?))
}
