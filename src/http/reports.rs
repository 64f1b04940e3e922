//! `/reports`: usage grouped and bucketed in the database (JSON, CSV or Markdown), every
//! record as a streamed CSV or NDJSON export, and the dashboard's overview.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;

use budget_actors::api::{Overview, ReportQuery, UsageReport};
use budget_actors::reports::render;

use super::auth::ReadKey;
use super::error::ApiError;
use super::{ApiQuery, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reports/usage", get(usage_report))
        .route("/reports/timeseries", get(timeseries))
        .route("/reports/breakdown", get(breakdown))
        .route("/reports/overview", get(overview))
}

#[utoipa::path(get, path = "/api/v1/reports/usage", tag = "reports", params(ReportQuery),
    responses((status = 200, body = UsageReport, description = "JSON; `format=csv` gives text/csv, `format=md` text/markdown")))]
pub async fn usage_report(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let format = q.format.clone().unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv" | "md") {
        return Err(ApiError::bad_request("format", format!("unknown format '{format}' (expected json, csv or md)")));
    }
    let report = s.tree.reports().usage(&q).await?;
    Ok(match format.as_str() {
        "csv" => text(render::report_csv(&report), "text/csv; charset=utf-8", "usage-report.csv"),
        "md" => text(render::report_markdown(&report), "text/markdown; charset=utf-8", "usage-report.md"),
        _ => Json(report).into_response(),
    })
}

/// `/reports/usage` per time bucket (default `day`): what a chart draws.
#[utoipa::path(get, path = "/api/v1/reports/timeseries", tag = "reports", params(ReportQuery),
    responses((status = 200, body = UsageReport)))]
pub async fn timeseries(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(mut q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<UsageReport>> {
    json_only(&q)?;
    if q.bucket.as_deref().is_none_or(str::is_empty) {
        q.bucket = Some("day".into());
    }
    Ok(Json(s.tree.reports().usage(&q).await?))
}

/// `/reports/usage` grouped (default by `model`), highest cost first.
#[utoipa::path(get, path = "/api/v1/reports/breakdown", tag = "reports", params(ReportQuery),
    responses((status = 200, body = UsageReport)))]
pub async fn breakdown(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(mut q): ApiQuery<ReportQuery>,
) -> ApiResult<Json<UsageReport>> {
    json_only(&q)?;
    if q.group_by.as_deref().is_none_or(|g| g.trim().is_empty()) {
        q.group_by = Some("model".into());
    }
    Ok(Json(s.tree.reports().usage(&q).await?))
}

#[utoipa::path(get, path = "/api/v1/reports/overview", tag = "reports", responses((status = 200, body = Overview)))]
pub async fn overview(_: ReadKey, State(s): State<AppState>) -> ApiResult<Json<Overview>> {
    Ok(Json(s.tree.reports().overview().await?))
}

/// Every record in range and filter, oldest first, as CSV (default) or NDJSON, streamed page
/// by page: memory stays flat however many records there are. Served outside the request
/// timeout. A storage error mid-stream ends the body early (the client sees a truncated
/// transfer, never a silently short file: the last line is complete and no trailer says done).
#[utoipa::path(get, path = "/api/v1/reports/usage/records", tag = "reports", params(ReportQuery),
    responses((status = 200, content_type = "text/csv", description = "one line per record (`format=ndjson`: one JSON object per line)")))]
pub async fn usage_records(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let ndjson = match q.format.as_deref().unwrap_or("csv") {
        "csv" => false,
        "ndjson" => true,
        other => {
            return Err(ApiError::bad_request("format", format!("unknown format '{other}' (expected csv or ndjson)")));
        }
    };
    // Checked (once) before the first byte, so a bad query is still a 400.
    let reports = s.tree.reports().clone();
    let plan = reports.plan(&q).await?;
    let header = if ndjson { String::new() } else { render::records_csv_header() };
    let stream = futures::stream::unfold(Some((reports, plan, None)), move |state| async move {
        let (reports, plan, after) = state?;
        match reports.records_page(&plan, after).await {
            Ok(page) => {
                let mut chunk = String::with_capacity(page.records.len() * 256);
                for record in &page.records {
                    if ndjson {
                        chunk.push_str(&serde_json::to_string(record).unwrap_or_default());
                        chunk.push('\n');
                    } else {
                        chunk.push_str(&render::record_csv(record));
                    }
                }
                let next = page.next.map(|next| (reports, plan, Some(next)));
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(chunk)), next))
            }
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    let body = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(header)) }).chain(stream);
    let (content_type, file) = if ndjson {
        ("application/x-ndjson", "usage-records.ndjson")
    } else {
        ("text/csv; charset=utf-8", "usage-records.csv")
    };
    Ok(with_type(Body::from_stream(body).into_response(), content_type, file))
}

/// The chart endpoints answer JSON only (`/reports/usage` has the other formats).
fn json_only(q: &ReportQuery) -> ApiResult<()> {
    match q.format.as_deref() {
        None | Some("json") => Ok(()),
        Some(other) => Err(ApiError::bad_request(
            "format",
            format!("'{other}': this endpoint answers JSON only (use /api/v1/reports/usage for csv and md)"),
        )),
    }
}

fn text(body: String, content_type: &'static str, file: &str) -> Response {
    with_type(body.into_response(), content_type, file)
}

fn with_type(mut response: Response, content_type: &'static str, file: &str) -> Response {
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{file}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
