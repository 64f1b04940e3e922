//! `/allocations`: reserve before a call, read, extend the lease, release.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use budget_actors::api::{AllocationGrant, AllocationRequest, AllocationsQuery, ExtendAllocation};
use budget_actors::domain::Allocation;

use super::auth::{ReadKey, WriteKey};
use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/allocations", get(list_allocations).post(allocate))
        .route("/allocations/{id}", get(get_allocation))
        .route("/allocations/{id}/release", post(release))
        .route("/allocations/{id}/extend", post(extend))
}

#[utoipa::path(post, path = "/api/v1/allocations", tag = "allocations", request_body = AllocationRequest,
    responses((status = 201, body = AllocationGrant), (status = 402, description = "budget_exceeded (details.reason: limit or unpriced_model)"), (status = 400)))]
pub async fn allocate(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<AllocationRequest>,
) -> ApiResult<(StatusCode, Json<AllocationGrant>)> {
    Ok((StatusCode::CREATED, Json(s.engine.allocate(req).await?)))
}

#[utoipa::path(get, path = "/api/v1/allocations", tag = "allocations", params(AllocationsQuery), responses((status = 200, body = [Allocation])))]
pub async fn list_allocations(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AllocationsQuery>,
) -> ApiResult<Json<Vec<Allocation>>> {
    Ok(Json(s.engine.list_allocations(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/allocations/{id}", tag = "allocations", responses((status = 200, body = Allocation), (status = 404)))]
pub async fn get_allocation(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Allocation>> {
    Ok(Json(s.engine.get_allocation(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/allocations/{id}/release", tag = "allocations", responses((status = 200, body = Allocation), (status = 404)))]
pub async fn release(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Allocation>> {
    Ok(Json(s.engine.release(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/allocations/{id}/extend", tag = "allocations", request_body = ExtendAllocation,
    responses((status = 200, body = Allocation), (status = 404), (status = 409, description = "conflict: the allocation is released, expired or past its lease")))]
pub async fn extend(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ExtendAllocation>,
) -> ApiResult<Json<Allocation>> {
    Ok(Json(s.engine.extend(parse_uuid("id", &id)?, req.ttl_seconds).await?))
}
