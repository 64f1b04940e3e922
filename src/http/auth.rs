//! Bearer API keys, checked by extractors: a handler names the role it needs ([`ReadKey`],
//! [`WriteKey`], [`AdminKey`]) as its first extractor, so the key is checked before the path,
//! query or body is parsed, and a route's role is written beside its handler.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use std::marker::PhantomData;

use budget_actors::domain::{ApiKeyInfo, Role};

use super::AppState;
use super::error::ApiError;

/// The role a key type stands for.
pub trait Needs: Send + Sync + 'static {
    const ROLE: Role;
}

pub struct Read;
pub struct Write;
pub struct Admin;

impl Needs for Read {
    const ROLE: Role = Role::Read;
}
impl Needs for Write {
    const ROLE: Role = Role::Write;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// A known, unrevoked key whose role is at least `R::ROLE`.
pub struct Key<R: Needs> {
    pub info: ApiKeyInfo,
    _role: PhantomData<R>,
}

/// Any key (reads, estimates).
pub type ReadKey = Key<Read>;
/// A write or admin key (changes).
pub type WriteKey = Key<Write>;
/// An admin key (keys, manual prices, price approval, refresh).
pub type AdminKey = Key<Admin>;

impl<R: Needs> FromRequestParts<AppState> for Key<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let info = authorize(state, &parts.headers, R::ROLE).await?;
        Ok(Key { info, _role: PhantomData })
    }
}

/// 401 for a missing or unknown key, 403 for a key whose role is below `needed`.
pub async fn authorize(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<ApiKeyInfo, ApiError> {
    let token = bearer(headers).ok_or_else(|| ApiError::unauthorized("missing bearer API key"))?;
    let key =
        state.keys.authenticate(token).await?.ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))?;
    if key.role < needed {
        return Err(ApiError::forbidden(&format!(
            "this key has role '{}', the request needs '{}'",
            key.role.as_str(),
            needed.as_str()
        )));
    }
    Ok(key)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme name is case-insensitive (RFC 9110).
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

// ---- methods a route does not serve ------------------------------------------------------
//
// A wrong method still needs a key first, so it is 401/403 before 405, as when auth was a layer
// over the whole API (axum adds the `Allow` header to these answers). The role is the one the
// method would need on that route.

async fn not_allowed(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<StatusCode, ApiError> {
    authorize(state, headers, needed).await?;
    Ok(StatusCode::METHOD_NOT_ALLOWED)
}

fn read_or_write(method: &Method) -> Role {
    if method == Method::GET || method == Method::HEAD { Role::Read } else { Role::Write }
}

/// Default: read for GET/HEAD, write otherwise.
pub async fn method_not_allowed(State(state): State<AppState>, method: Method, headers: HeaderMap) -> ApiResult {
    not_allowed(&state, &headers, read_or_write(&method)).await
}

/// Routes under `/prices/`: a PUT there would be a manual price, so admin.
pub async fn prices_method_not_allowed(State(state): State<AppState>, method: Method, headers: HeaderMap) -> ApiResult {
    let needed = if method == Method::PUT { Role::Admin } else { read_or_write(&method) };
    not_allowed(&state, &headers, needed).await
}

/// `/prices/estimate`: an estimate is a read whatever the method (PUT is admin, as under all
/// of `/prices/`).
pub async fn estimate_method_not_allowed(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let needed = if method == Method::PUT { Role::Admin } else { Role::Read };
    not_allowed(&state, &headers, needed).await
}

/// `/keys`: admin whatever the method.
pub async fn admin_method_not_allowed(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    not_allowed(&state, &headers, Role::Admin).await
}

type ApiResult = Result<StatusCode, ApiError>;
