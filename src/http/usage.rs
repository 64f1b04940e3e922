//! `/usage`: record what a call used, list records, summarize.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use budget_actors::api::{
    ImportUsageRequest, ImportUsageResponse, SummaryQuery, UsagePage, UsageQuery, UsageRequest, UsageResponse,
    UsageSummary,
};
use budget_actors::domain::UsageRecord;

use super::auth::{AdminKey, ReadKey, WriteKey};
use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage/record", post(record_usage))
        .route("/usage/import", post(import_usage))
        .route("/usage/records", get(list_usage))
        .route("/usage/records/{id}", get(get_usage))
        .route("/usage/summary", get(usage_summary))
}

#[utoipa::path(post, path = "/api/v1/usage/record", tag = "usage", request_body = UsageRequest,
    responses((status = 201, body = UsageResponse), (status = 200, description = "repeated request_id: the first record", body = UsageResponse), (status = 400)))]
pub async fn record_usage(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<UsageRequest>,
) -> ApiResult<(StatusCode, Json<UsageResponse>)> {
    let response = s.engine.record_usage(req).await?;
    let status = if response.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(response)))
}

/// Usage recorded elsewhere (a migration), kept with its source's cost. Admin: an import
/// writes costs the daemon did not compute.
#[utoipa::path(post, path = "/api/v1/usage/import", tag = "usage", request_body = ImportUsageRequest,
    responses((status = 200, description = "one result per record: created, already_imported, invalid or would_create", body = ImportUsageResponse), (status = 400)))]
pub async fn import_usage(
    _: AdminKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ImportUsageRequest>,
) -> ApiResult<Json<ImportUsageResponse>> {
    Ok(Json(s.engine.import_usage(req).await?))
}

#[utoipa::path(get, path = "/api/v1/usage/records", tag = "usage", params(UsageQuery), responses((status = 200, body = UsagePage)))]
pub async fn list_usage(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsagePage>> {
    Ok(Json(s.engine.list_usage(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/usage/records/{id}", tag = "usage", responses((status = 200, body = UsageRecord), (status = 404)))]
pub async fn get_usage(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<UsageRecord>> {
    Ok(Json(s.engine.get_usage(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(get, path = "/api/v1/usage/summary", tag = "usage", params(SummaryQuery), responses((status = 200, body = UsageSummary), (status = 400)))]
pub async fn usage_summary(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<UsageSummary>> {
    Ok(Json(s.engine.usage_summary(&q).await?))
}
