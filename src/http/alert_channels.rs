//! `/alert-channels` (where alerts go) and `/alert-deliveries` (what became of each send).
//! Reading needs a read key; changing a channel or sending a test needs admin, as a channel
//! decides where every alert, with its figures, is sent.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use budget_actors::api::{
    ChannelList, ChannelPatch, ChannelTest, CreatedChannel, DeliveriesQuery, DeliveryList, NewChannel,
};
use budget_actors::domain::AlertChannel;

use super::auth::{self, AdminKey, ReadKey};
use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alert-channels", get(list_channels).post(create_channel).fallback(auth::method_not_allowed))
        .route(
            "/alert-channels/{id}",
            get(get_channel).patch(update_channel).delete(delete_channel).fallback(auth::method_not_allowed),
        )
        .route("/alert-channels/{id}/test", post(test_channel).fallback(auth::admin_method_not_allowed))
        .route("/alert-deliveries", get(list_deliveries))
}

#[utoipa::path(get, path = "/api/v1/alert-channels", tag = "alerts", responses((status = 200, body = ChannelList)))]
pub async fn list_channels(_: ReadKey, State(s): State<AppState>) -> ApiResult<Json<ChannelList>> {
    Ok(Json(s.tree.alerts().list_channels().await?))
}

#[utoipa::path(post, path = "/api/v1/alert-channels", tag = "alerts", request_body = NewChannel,
    responses((status = 201, body = CreatedChannel, description = "the channel; a webhook's `secret` is in this reply only"), (status = 409)))]
pub async fn create_channel(
    _: AdminKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<NewChannel>,
) -> ApiResult<(StatusCode, Json<CreatedChannel>)> {
    Ok((StatusCode::CREATED, Json(s.tree.alerts().create_channel(req).await?)))
}

#[utoipa::path(get, path = "/api/v1/alert-channels/{id}", tag = "alerts",
    responses((status = 200, body = AlertChannel), (status = 404)))]
pub async fn get_channel(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlertChannel>> {
    Ok(Json(s.tree.alerts().get_channel(&id).await?))
}

#[utoipa::path(patch, path = "/api/v1/alert-channels/{id}", tag = "alerts", request_body = ChannelPatch,
    responses((status = 200, body = AlertChannel), (status = 404), (status = 409)))]
pub async fn update_channel(
    _: AdminKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> ApiResult<Json<AlertChannel>> {
    Ok(Json(s.tree.alerts().update_channel(&id, patch).await?))
}

#[utoipa::path(delete, path = "/api/v1/alert-channels/{id}", tag = "alerts", responses((status = 204), (status = 404)))]
pub async fn delete_channel(
    _: AdminKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    s.tree.alerts().delete_channel(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/alert-channels/{id}/test", tag = "alerts",
    responses((status = 200, body = ChannelTest, description = "what the receiver answered (a failed send is still a 200: the test ran)"), (status = 404)))]
pub async fn test_channel(
    _: AdminKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChannelTest>> {
    Ok(Json(s.tree.alerts().test_channel(&id).await?))
}

#[utoipa::path(get, path = "/api/v1/alert-deliveries", tag = "alerts", params(DeliveriesQuery),
    responses((status = 200, body = DeliveryList), (status = 404)))]
pub async fn list_deliveries(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<DeliveryList>> {
    Ok(Json(s.tree.alerts().list_deliveries(&q).await?))
}
