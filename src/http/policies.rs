//! `/budgets/{id}/policies` and `/policies/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use budget_actors::api::UpdatePolicy;
use budget_actors::domain::{Policy, PolicySpec};

use super::auth::{ReadKey, WriteKey};
use super::{ApiJson, ApiPath, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/budgets/{id}/policies", get(list_policies).post(add_policy))
        .route("/policies/{id}", get(get_policy).patch(update_policy).delete(delete_policy))
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}/policies", tag = "policies",
    params(("id" = String, Path, description = "budget id or name")), responses((status = 200, body = [Policy])))]
pub async fn list_policies(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<Policy>>> {
    Ok(Json(s.engine.get_budget(&id).await?.policies))
}

#[utoipa::path(post, path = "/api/v1/budgets/{id}/policies", tag = "policies", request_body = PolicySpec,
    params(("id" = String, Path, description = "budget id or name")), responses((status = 201, body = Policy), (status = 400)))]
pub async fn add_policy(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<PolicySpec>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    Ok((StatusCode::CREATED, Json(s.engine.add_policy(&id, spec).await?)))
}

#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "policies", responses((status = 200, body = Policy), (status = 404)))]
pub async fn get_policy(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(s.engine.get_policy(parse_uuid("id", &id)?).await?))
}

#[utoipa::path(patch, path = "/api/v1/policies/{id}", tag = "policies", request_body = UpdatePolicy,
    responses((status = 200, body = Policy), (status = 400), (status = 404)))]
pub async fn update_policy(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<UpdatePolicy>,
) -> ApiResult<Json<Policy>> {
    Ok(Json(s.engine.update_policy(parse_uuid("id", &id)?, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/policies/{id}", tag = "policies", responses((status = 204), (status = 404)))]
pub async fn delete_policy(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.engine.delete_policy(parse_uuid("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
