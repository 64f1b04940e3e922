//! `/keys`: API keys, admin only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

use budget_actors::api::{CreateKey, CreatedKey};
use budget_actors::domain::{ApiKeyInfo, Role};

use super::auth::{self, AdminKey};
use super::{ApiJson, ApiPath, ApiResult, AppState, parse_uuid};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/keys", get(list_keys).post(create_key).fallback(auth::admin_method_not_allowed))
        .route("/keys/{id}", delete(revoke_key).fallback(auth::admin_method_not_allowed))
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", responses((status = 200, body = [ApiKeyInfo])))]
pub async fn list_keys(_: AdminKey, State(s): State<AppState>) -> ApiResult<Json<Vec<ApiKeyInfo>>> {
    Ok(Json(s.keys.list().await?))
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = CreateKey, responses((status = 201, body = CreatedKey)))]
pub async fn create_key(
    _: AdminKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let role = Role::parse(&req.role)?;
    Ok((StatusCode::CREATED, Json(s.keys.create(&req.name, role).await?)))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", responses((status = 204), (status = 404)))]
pub async fn revoke_key(_: AdminKey, State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<StatusCode> {
    s.keys.revoke(parse_uuid("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
