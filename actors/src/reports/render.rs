//! Reports as CSV and Markdown, and usage records as CSV lines for a streamed export. CSV
//! quoting is the `csv` crate's (RFC 4180); money stays an exact decimal string.

use crate::api::{MEASURE_FIELDS, Measures, UsageReport};
use crate::domain::UsageRecord;

/// The measures in [`MEASURE_FIELDS`] order.
fn measure_values(m: &Measures) -> Vec<String> {
    vec![
        m.requests.to_string(),
        m.unpriced_requests.to_string(),
        m.cost.to_string(),
        m.avg_cost_per_request.map(|a| a.to_string()).unwrap_or_default(),
        m.input_tokens.to_string(),
        m.output_tokens.to_string(),
        m.cache_read_tokens.to_string(),
        m.cache_write_tokens.to_string(),
        m.cache_write_1h_tokens.to_string(),
        m.reasoning_tokens.to_string(),
        m.total_tokens.to_string(),
    ]
}

fn key_columns(report: &UsageReport) -> Vec<String> {
    let mut keys = Vec::new();
    if report.bucket.is_some() {
        keys.push("bucket".to_string());
    }
    keys.extend(report.group_by.iter().cloned());
    keys
}

fn csv_line(fields: &[String]) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(fields);
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The report as CSV: a header, one line per row, and a last line of totals (keys `TOTAL`).
pub fn report_csv(report: &UsageReport) -> String {
    let keys = key_columns(report);
    let mut header = keys.clone();
    header.extend(MEASURE_FIELDS.iter().map(|m| m.to_string()));
    let mut out = csv_line(&header);
    for row in &report.rows {
        let mut fields: Vec<String> =
            keys.iter().map(|k| row.keys.get(k).cloned().flatten().unwrap_or_default()).collect();
        fields.extend(measure_values(&row.measures));
        out.push_str(&csv_line(&fields));
    }
    // Without keys the one row is the totals already; no second, unlabelled copy.
    if !keys.is_empty() {
        let mut totals: Vec<String> = keys.iter().map(|_| "TOTAL".to_string()).collect();
        totals.extend(measure_values(&report.totals));
        out.push_str(&csv_line(&totals));
    } else if report.rows.is_empty() {
        out.push_str(&csv_line(&measure_values(&report.totals)));
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as a Markdown summary: the range and totals, then a table of the rows.
pub fn report_markdown(report: &UsageReport) -> String {
    let t = &report.totals;
    let mut out = format!(
        "# Usage report\n\n{} to {} ({}){}{}\n\n",
        report.from.to_rfc3339(),
        report.to.to_rfc3339(),
        report.timezone,
        if report.group_by.is_empty() { String::new() } else { format!(", by {}", report.group_by.join(", ")) },
        report.bucket.as_deref().map(|b| format!(", per {b}")).unwrap_or_default(),
    );
    out.push_str(&format!(
        "- Cost: **${}** over {} requests ({} unpriced)\n- Average per priced request: ${}\n- Tokens: {} in, {} out, {} cache read, {} cache write, {} in all\n\n",
        t.cost,
        t.requests,
        t.unpriced_requests,
        t.avg_cost_per_request.map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
        t.input_tokens,
        t.output_tokens,
        t.cache_read_tokens,
        t.cache_write_tokens + t.cache_write_1h_tokens,
        t.total_tokens,
    ));
    let keys = key_columns(report);
    if report.rows.is_empty() || keys.is_empty() {
        return out;
    }
    let mut header: Vec<String> = keys.clone();
    header.extend(["requests", "cost", "avg cost", "input tokens", "output tokens"].map(String::from));
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
    for row in &report.rows {
        let mut cells: Vec<String> =
            keys.iter().map(|k| md_cell(&row.keys.get(k).cloned().flatten().unwrap_or_default())).collect();
        let m = &row.measures;
        cells.extend([
            m.requests.to_string(),
            format!("${}", m.cost),
            m.avg_cost_per_request.map(|a| format!("${a}")).unwrap_or_default(),
            m.input_tokens.to_string(),
            m.output_tokens.to_string(),
        ]);
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// The header of a records export.
pub fn records_csv_header() -> String {
    csv_line(
        &[
            "id",
            "timestamp",
            "component",
            "context_id",
            "provider",
            "model",
            "task_type",
            "tier",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cost",
            "priced",
            "allocation_id",
            "request_id",
            "budgets",
        ]
        .map(String::from),
    )
}

/// One record as a CSV line.
pub fn record_csv(r: &UsageRecord) -> String {
    csv_line(&[
        r.id.to_string(),
        r.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        r.component.clone(),
        r.context_id.clone().unwrap_or_default(),
        r.provider.clone(),
        r.model.clone(),
        r.task_type.clone().unwrap_or_default(),
        r.tier.clone(),
        r.input_tokens.to_string(),
        r.output_tokens.to_string(),
        r.cache_read_tokens.to_string(),
        r.cache_write_tokens.to_string(),
        r.cache_write_1h_tokens.to_string(),
        r.reasoning_tokens.to_string(),
        r.total_tokens.to_string(),
        r.cost.map(|c| c.to_string()).unwrap_or_default(),
        r.priced.to_string(),
        r.allocation_id.map(|a| a.to_string()).unwrap_or_default(),
        r.request_id.clone().unwrap_or_default(),
        r.budgets.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(" "),
    ])
}
