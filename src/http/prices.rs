//! `/prices`: the price table (list, show, history, manual set) and estimates.

use axum::extract::{FromRequest, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use budget_actors::api::{EstimateRequest, EstimateResponse, PriceHistory, PricesQuery, SetPrice};
use budget_actors::prices::PriceSummary;

use super::auth::{self, AdminKey, ReadKey};
use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/prices", get(list_prices))
        .route("/prices/estimate", post(estimate).fallback(auth::estimate_method_not_allowed))
        .route("/prices/{provider}/{*model}", get(show_price).put(set_price).fallback(auth::prices_method_not_allowed))
}

#[utoipa::path(get, path = "/api/v1/prices", tag = "prices", params(PricesQuery), responses((status = 200, body = [PriceSummary])))]
pub async fn list_prices(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PricesQuery>,
) -> ApiResult<Json<Vec<PriceSummary>>> {
    Ok(Json(s.engine.list_prices(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/prices/{provider}/{model}", tag = "prices",
    responses((status = 200, body = PriceSummary), (status = 404)))]
pub async fn show_price(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath((provider, model)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    if let Some(model) = model.strip_suffix("/history") {
        return price_history(&s, &provider, model).await;
    }
    Ok(Json(s.engine.show_price(&provider, &model).await?).into_response())
}

/// Reached through `show_price`: a model name may itself hold slashes, so one wildcard route
/// serves both, and this entry documents the history path in OpenAPI.
#[utoipa::path(get, path = "/api/v1/prices/{provider}/{model}/history", tag = "prices",
    responses((status = 200, body = PriceHistory, description = "the stored price versions and the applied updates")))]
pub async fn price_history(s: &AppState, provider: &str, model: &str) -> ApiResult<Response> {
    let history: PriceHistory = s.engine.price_history_view(provider, model).await?;
    Ok(Json(history).into_response())
}

#[utoipa::path(put, path = "/api/v1/prices/{provider}/{model}", tag = "prices", request_body = SetPrice,
    responses((status = 200, body = PriceSummary), (status = 400), (status = 403)))]
pub async fn set_price(
    _: AdminKey,
    State(s): State<AppState>,
    ApiPath((provider, model)): ApiPath<(String, String)>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    // `…/{model}/history` shares this wildcard route but is read-only: its PUT is a 405
    // before any body is read (the router's `Allow` middleware names what the document
    // declares there).
    if model.ends_with("/history") {
        return Ok(axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    let ApiJson(req) = ApiJson::<SetPrice>::from_request(request, &s).await?;
    Ok(Json(s.engine.set_price(&provider, &model, req).await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/prices/estimate", tag = "prices", request_body = EstimateRequest,
    responses((status = 200, body = EstimateResponse), (status = 400)))]
pub async fn estimate(
    _: ReadKey,
    State(s): State<AppState>,
    ApiJson(req): ApiJson<EstimateRequest>,
) -> ApiResult<Json<EstimateResponse>> {
    Ok(Json(s.engine.estimate(req).await?))
}
