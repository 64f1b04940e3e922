//! `/budgets`, `/budgets/{id}` and `/budgets/{id}/status`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use budget_actors::api::{BudgetStatus, CreateBudget, StatusQuery, UpdateBudget};
use budget_actors::domain::Budget;

use super::auth::{ReadKey, WriteKey};
use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/budgets", get(list_budgets).post(create_budget))
        .route("/budgets/{id}", get(get_budget).patch(update_budget).delete(delete_budget))
        .route("/budgets/{id}/status", get(budget_status))
}

#[utoipa::path(get, path = "/api/v1/budgets", tag = "budgets", responses((status = 200, body = [Budget])))]
pub async fn list_budgets(_: ReadKey, State(s): State<AppState>) -> ApiResult<Json<Vec<Budget>>> {
    Ok(Json(s.engine.list_budgets().await?))
}

#[utoipa::path(post, path = "/api/v1/budgets", tag = "budgets", request_body = CreateBudget,
    responses((status = 201, body = Budget), (status = 400), (status = 409)))]
pub async fn create_budget(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateBudget>,
) -> ApiResult<(StatusCode, Json<Budget>)> {
    Ok((StatusCode::CREATED, Json(s.engine.create_budget(req).await?)))
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}", tag = "budgets", params(("id" = String, Path, description = "id or unique name")),
    responses((status = 200, body = Budget), (status = 404)))]
pub async fn get_budget(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Budget>> {
    Ok(Json(s.engine.get_budget(&id).await?))
}

#[utoipa::path(patch, path = "/api/v1/budgets/{id}", tag = "budgets", request_body = UpdateBudget,
    params(("id" = String, Path, description = "id or unique name")), responses((status = 200, body = Budget), (status = 409, description = "another budget has that name")))]
pub async fn update_budget(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateBudget>,
) -> ApiResult<Json<Budget>> {
    Ok(Json(s.engine.update_budget(&id, req).await?))
}

#[utoipa::path(delete, path = "/api/v1/budgets/{id}", tag = "budgets",
    params(("id" = String, Path, description = "id or unique name")), responses((status = 204), (status = 404)))]
pub async fn delete_budget(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.engine.delete_budget(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/budgets/{id}/status", tag = "budgets", params(StatusQuery, ("id" = String, Path, description = "id or name")),
    responses((status = 200, body = BudgetStatus), (status = 404)))]
pub async fn budget_status(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<BudgetStatus>> {
    Ok(Json(s.engine.budget_status(&id, &q).await?))
}
