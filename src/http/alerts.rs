//! `/alerts`: recent alerts, newest first, and their acknowledgement.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};

use budget_actors::api::AlertsQuery;
use budget_actors::domain::Alert;

use super::auth::{ReadKey, WriteKey};
use super::{ApiPath, ApiQuery, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    Router::new().route("/alerts", get(list_alerts)).route("/alerts/{id}/acknowledge", post(acknowledge_alert))
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = [budget_actors::domain::Alert])))]
pub async fn list_alerts(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> ApiResult<Json<Vec<Alert>>> {
    Ok(Json(s.engine.list_alerts(&q).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    responses((status = 200, body = budget_actors::domain::Alert, description = "the alert, acknowledged (again: the first time is kept)"), (status = 404)))]
pub async fn acknowledge_alert(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Alert>> {
    Ok(Json(s.engine.acknowledge_alert(parse_uuid("id", &id)?).await?))
}
