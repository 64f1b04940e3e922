//! A typed Rust client of the REST API. The CLI is built on it; other Rust programs can use it
//! the same way (`budget::client::BudgetClient`).

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

use budget_actors::api::*;
use budget_actors::domain::{Alert, Allocation, ApiKeyInfo, Budget, Policy, PolicySpec, UsageRecord};
use budget_actors::monitor::{Conflict, PendingChange, PriceUpdate, RefreshReport, SourceStatus};
use budget_actors::prices::PriceSummary;

/// An error answer of the API, or a transport failure (`status` 0).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}{} ({code}, HTTP {status})", field_note(.details))]
pub struct ClientError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Value,
}

impl ClientError {
    fn transport(err: reqwest::Error) -> ClientError {
        ClientError { status: 0, code: "transport".into(), message: err.to_string(), details: Value::Null }
    }
}

/// The field the server named, when it named one.
fn field_note(details: &Value) -> String {
    details.get("field").and_then(Value::as_str).map(|f| format!(" [field {f}]")).unwrap_or_default()
}

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Clone)]
pub struct BudgetClient {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl BudgetClient {
    pub fn new(base_url: &str, api_key: Option<String>) -> ClientResult<BudgetClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(ClientError::transport)?;
        Ok(BudgetClient { base: base_url.trim_end_matches('/').to_string(), api_key, http })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{}", self.base, path));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> ClientResult<(StatusCode, T)> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        read_answer(request, path).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        Ok(self.send::<(), T>(Method::GET, path, None).await?.1)
    }

    /// A GET with a typed query (one of `budget_actors::api`'s `*Query` structs).
    async fn get_query<Q: Serialize, T: DeserializeOwned>(&self, path: &str, query: &Q) -> ClientResult<T> {
        Ok(read_answer(self.request(Method::GET, path).query(query), path).await?.1)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> ClientResult<T> {
        Ok(self.send(Method::POST, path, Some(body)).await?.1)
    }

    pub async fn health(&self) -> ClientResult<Value> {
        self.get("/health").await
    }

    pub async fn create_budget(&self, req: &CreateBudget) -> ClientResult<Budget> {
        self.post("/api/v1/budgets", req).await
    }

    pub async fn list_budgets(&self) -> ClientResult<Vec<Budget>> {
        self.get("/api/v1/budgets").await
    }

    pub async fn get_budget(&self, id: &str) -> ClientResult<Budget> {
        self.get(&format!("/api/v1/budgets/{}", enc(id))).await
    }

    pub async fn update_budget(&self, id: &str, req: &UpdateBudget) -> ClientResult<Budget> {
        Ok(self.send(Method::PATCH, &format!("/api/v1/budgets/{}", enc(id)), Some(req)).await?.1)
    }

    pub async fn delete_budget(&self, id: &str) -> ClientResult<()> {
        self.send::<(), Value>(Method::DELETE, &format!("/api/v1/budgets/{}", enc(id)), None).await.map(|_| ())
    }

    pub async fn add_policy(&self, budget: &str, spec: &PolicySpec) -> ClientResult<Policy> {
        self.post(&format!("/api/v1/budgets/{}/policies", enc(budget)), spec).await
    }

    pub async fn get_policy(&self, id: &str) -> ClientResult<Policy> {
        self.get(&format!("/api/v1/policies/{}", enc(id))).await
    }

    pub async fn update_policy(&self, id: &str, patch: &UpdatePolicy) -> ClientResult<Policy> {
        Ok(self.send(Method::PATCH, &format!("/api/v1/policies/{}", enc(id)), Some(patch)).await?.1)
    }

    pub async fn delete_policy(&self, id: &str) -> ClientResult<()> {
        self.send::<(), Value>(Method::DELETE, &format!("/api/v1/policies/{}", enc(id)), None).await.map(|_| ())
    }

    pub async fn status(&self, budget: &str, query: &StatusQuery) -> ClientResult<BudgetStatus> {
        self.get_query(&format!("/api/v1/budgets/{}/status", enc(budget)), query).await
    }

    pub async fn allocate(&self, req: &AllocationRequest) -> ClientResult<AllocationGrant> {
        self.post("/api/v1/allocations", req).await
    }

    pub async fn get_allocation(&self, id: &str) -> ClientResult<Allocation> {
        self.get(&format!("/api/v1/allocations/{}", enc(id))).await
    }

    pub async fn list_allocations(&self, query: &AllocationsQuery) -> ClientResult<Vec<Allocation>> {
        self.get_query("/api/v1/allocations", query).await
    }

    pub async fn release(&self, id: &str) -> ClientResult<Allocation> {
        self.post(&format!("/api/v1/allocations/{}/release", enc(id)), &serde_json::json!({})).await
    }

    /// Records usage; the answer tells whether it was new (201) or a repeat (200).
    pub async fn record_usage(&self, req: &UsageRequest) -> ClientResult<UsageResponse> {
        self.post("/api/v1/usage/record", req).await
    }

    /// Imports usage recorded elsewhere (admin key); see `POST /api/v1/usage/import`.
    /// A new lease of `ttl_seconds` from now for an active allocation.
    pub async fn extend_allocation(&self, id: &str, ttl_seconds: u64) -> ClientResult<Allocation> {
        self.post(&format!("/api/v1/allocations/{}/extend", enc(id)), &ExtendAllocation { ttl_seconds }).await
    }

    pub async fn import_usage(&self, req: &ImportUsageRequest) -> ClientResult<ImportUsageResponse> {
        self.post("/api/v1/usage/import", req).await
    }

    pub async fn list_usage(&self, query: &UsageQuery) -> ClientResult<UsagePage> {
        self.get_query("/api/v1/usage/records", query).await
    }

    pub async fn get_usage(&self, id: &str) -> ClientResult<UsageRecord> {
        self.get(&format!("/api/v1/usage/records/{}", enc(id))).await
    }

    pub async fn usage_summary(&self, query: &SummaryQuery) -> ClientResult<UsageSummary> {
        self.get_query("/api/v1/usage/summary", query).await
    }

    pub async fn list_prices(&self, query: &PricesQuery) -> ClientResult<Vec<PriceSummary>> {
        self.get_query("/api/v1/prices", query).await
    }

    pub async fn show_price(&self, provider: &str, model: &str) -> ClientResult<PriceSummary> {
        self.get(&format!("/api/v1/prices/{}/{}", enc(provider), enc_path(model))).await
    }

    pub async fn set_price(&self, provider: &str, model: &str, req: &SetPrice) -> ClientResult<PriceSummary> {
        Ok(self.send(Method::PUT, &format!("/api/v1/prices/{}/{}", enc(provider), enc_path(model)), Some(req)).await?.1)
    }

    pub async fn estimate(&self, req: &EstimateRequest) -> ClientResult<EstimateResponse> {
        self.post("/api/v1/prices/estimate", req).await
    }

    pub async fn create_key(&self, req: &CreateKey) -> ClientResult<CreatedKey> {
        self.post("/api/v1/keys", req).await
    }

    pub async fn list_keys(&self) -> ClientResult<Vec<ApiKeyInfo>> {
        self.get("/api/v1/keys").await
    }

    pub async fn revoke_key(&self, id: &str) -> ClientResult<()> {
        self.send::<(), Value>(Method::DELETE, &format!("/api/v1/keys/{}", enc(id)), None).await.map(|_| ())
    }

    pub async fn price_sources(&self) -> ClientResult<Vec<SourceStatus>> {
        self.get("/api/v1/prices/sources").await
    }

    pub async fn refresh_prices(&self, query: &RefreshQuery) -> ClientResult<Vec<RefreshReport>> {
        let request = self.request(Method::POST, "/api/v1/prices/refresh").query(query).json(&serde_json::json!({}));
        Ok(read_answer(request, "/api/v1/prices/refresh").await?.1)
    }

    pub async fn price_updates(&self, query: &UpdatesQuery) -> ClientResult<Vec<PriceUpdate>> {
        self.get_query("/api/v1/prices/updates", query).await
    }

    pub async fn pending_prices(&self, query: &PendingQuery) -> ClientResult<Vec<PendingChange>> {
        self.get_query("/api/v1/prices/pending", query).await
    }

    pub async fn approve_price(&self, id: &str) -> ClientResult<PendingChange> {
        self.post(&format!("/api/v1/prices/pending/{}/approve", enc(id)), &serde_json::json!({})).await
    }

    pub async fn reject_price(&self, id: &str, note: Option<&str>) -> ClientResult<PendingChange> {
        self.post(&format!("/api/v1/prices/pending/{}/reject", enc(id)), &serde_json::json!({ "note": note })).await
    }

    pub async fn price_conflicts(&self) -> ClientResult<Vec<Conflict>> {
        self.get("/api/v1/prices/conflicts").await
    }

    pub async fn price_history(&self, provider: &str, model: &str) -> ClientResult<PriceHistory> {
        self.get(&format!("/api/v1/prices/{}/{}/history", enc(provider), enc_path(model))).await
    }

    pub async fn list_alerts(&self, query: &AlertsQuery) -> ClientResult<Vec<Alert>> {
        self.get_query("/api/v1/alerts", query).await
    }

    pub async fn acknowledge_alert(&self, id: &str) -> ClientResult<Alert> {
        self.post(&format!("/api/v1/alerts/{}/acknowledge", enc(id)), &serde_json::json!({})).await
    }

    pub async fn create_channel(
        &self,
        req: &budget_actors::api::NewChannel,
    ) -> ClientResult<budget_actors::api::CreatedChannel> {
        self.post("/api/v1/alert-channels", req).await
    }

    pub async fn list_channels(&self) -> ClientResult<budget_actors::api::ChannelList> {
        self.get("/api/v1/alert-channels").await
    }

    pub async fn delete_channel(&self, id: &str) -> ClientResult<()> {
        self.send::<(), Value>(Method::DELETE, &format!("/api/v1/alert-channels/{}", enc(id)), None).await.map(|_| ())
    }

    pub async fn test_channel(&self, id: &str) -> ClientResult<budget_actors::api::ChannelTest> {
        self.post(&format!("/api/v1/alert-channels/{}/test", enc(id)), &serde_json::json!({})).await
    }

    pub async fn usage_report(
        &self,
        query: &budget_actors::api::ReportQuery,
    ) -> ClientResult<budget_actors::api::UsageReport> {
        self.get_query("/api/v1/reports/usage", query).await
    }

    pub async fn overview(&self) -> ClientResult<budget_actors::api::Overview> {
        self.get("/api/v1/reports/overview").await
    }

    /// A GET whose body is not JSON (a CSV or Markdown report, a streamed export), written to
    /// `out` as it arrives.
    pub async fn download<Q: Serialize>(
        &self,
        path: &str,
        query: &Q,
        out: &mut (dyn std::io::Write + Send),
    ) -> ClientResult<u64> {
        let mut response = self.request(Method::GET, path).query(query).send().await.map_err(ClientError::transport)?;
        if !response.status().is_success() {
            let status = response.status();
            let bytes = response.bytes().await.map_err(ClientError::transport)?;
            return Err(api_error(status, &bytes));
        }
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(ClientError::transport)? {
            out.write_all(&chunk).map_err(|e| ClientError {
                status: 0,
                code: "write_failed".into(),
                message: format!("writing the answer of {path}: {e}"),
                details: Value::Null,
            })?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Calls a tool through Tekton's `/api/mcp/v2/process`: the envelope
    /// (`{status, result, error, code, details}`) as answered, a tool's failure included.
    pub async fn process_tool(&self, name: &str, arguments: &Value) -> ClientResult<Value> {
        self.post("/api/mcp/v2/process", &serde_json::json!({"tool_name": name, "arguments": arguments})).await
    }

    pub async fn list_deliveries(
        &self,
        query: &budget_actors::api::DeliveriesQuery,
    ) -> ClientResult<budget_actors::api::DeliveryList> {
        self.get_query("/api/v1/alert-deliveries", query).await
    }
}

/// Sends a request and reads the answer: the value on success, the API's error shape otherwise.
async fn read_answer<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    path: &str,
) -> ClientResult<(StatusCode, T)> {
    let response = request.send().await.map_err(ClientError::transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(ClientError::transport)?;
    if !status.is_success() {
        return Err(api_error(status, &bytes));
    }
    let value = if bytes.is_empty() { serde_json::from_str("null") } else { serde_json::from_slice(&bytes) };
    value.map(|v| (status, v)).map_err(|e| ClientError {
        status: status.as_u16(),
        code: "bad_response".into(),
        message: format!("cannot read the answer of {path}: {e}"),
        details: Value::Null,
    })
}

/// The API's error shape read from a failed answer's body.
fn api_error(status: StatusCode, bytes: &[u8]) -> ClientError {
    let parsed: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let error = &parsed["error"];
    ClientError {
        status: status.as_u16(),
        code: error["code"].as_str().unwrap_or("http_error").to_string(),
        message: error["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned()),
        details: error["details"].clone(),
    }
}

/// Percent-encodes one path segment (queries go through `.query()` and the typed structs).
pub fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Like `enc` but keeps `/` (model names such as `openrouter/anthropic/claude-3`).
fn enc_path(text: &str) -> String {
    text.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_field_the_server_named() {
        let err = |details: Value| ClientError {
            status: 400,
            code: "invalid_request".into(),
            message: "ttl_seconds must be at least 1".into(),
            details,
        };
        assert_eq!(
            err(serde_json::json!({"field": "ttl_seconds"})).to_string(),
            "ttl_seconds must be at least 1 [field ttl_seconds] (invalid_request, HTTP 400)"
        );
        assert_eq!(err(Value::Null).to_string(), "ttl_seconds must be at least 1 (invalid_request, HTTP 400)");
    }
}
