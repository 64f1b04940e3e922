//! `/alerts`: recent alerts, newest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use budget_actors::api::AlertsQuery;
use budget_actors::domain::Alert;

use super::auth::ReadKey;
use super::{ApiQuery, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/alerts", get(list_alerts))
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
