//! Reports end to end: totals equal the records to the last digit on both databases, time
//! buckets in a zone, budgets, top-N, CSV / Markdown / streamed exports, the overview, the
//! CLI, and bad input.

mod common;

use common::Daemon;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;

const MODELS: [(&str, &str); 4] = [
    ("anthropic", "claude-sonnet-4-5"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("gemini", "gemini-2.5-flash"),
];

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("money is a string: {v}"))).expect("decimal")
}

/// 240 records over ten days (2026-11-20 … 11-29), on four priced models and one unpriced,
/// with token counts that give costs of many digits. Returns each record as the daemon
/// answered it.
async fn seed(d: &Daemon) -> Vec<Value> {
    let (status, body) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "reporting", "component": "rhetor",
               "policies": [{"period": "monthly", "cost_limit": "1000"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut records = Vec::new();
    let mut seed: u64 = 7;
    for i in 0..240u64 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let (provider, model) = if i % 23 == 0 { ("acme", "mystery-1") } else { MODELS[(seed >> 33) as usize % 4] };
        let component = if i % 3 == 0 { "apollo" } else { "rhetor" };
        let day = 20 + (i % 10);
        let hour = (seed >> 40) % 24;
        let body = json!({
            "component": component, "provider": provider, "model": model,
            "input_tokens": 1 + (seed >> 20) % 9_973, "output_tokens": (seed >> 30) % 1_999,
            "cache_read_tokens": (seed >> 25) % 777,
            "timestamp": format!("2026-11-{day:02}T{hour:02}:{:02}:17.123Z", i % 60),
        });
        let (status, record) = d.post("/api/v1/usage/record", body.clone()).await;
        assert_eq!(status, 201, "{body} → {record}");
        records.push(record["record"].clone());
    }
    records
}

fn window() -> &'static str {
    "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
}

async fn report(d: &Daemon, query: &str) -> Value {
    let (status, body) = d.get(&format!("/api/v1/reports/usage?{}&{query}", window())).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

async fn totals_equal_the_records(d: &Daemon) {
    let records = seed(d).await;
    let exact: Decimal =
        records.iter().filter_map(|r| r["cost"].as_str()).map(|c| Decimal::from_str(c).expect("cost")).sum();
    let input: u64 = records.iter().map(|r| r["input_tokens"].as_u64().expect("tokens")).sum();

    // By model and day (UTC): every group equals the sum of its records, to the last digit.
    let by = report(d, "group_by=model&bucket=day&tz=UTC").await;
    let mut expected: BTreeMap<(String, String), (Decimal, u64)> = BTreeMap::new();
    for r in &records {
        let day = format!("{}T00:00:00Z", &r["timestamp"].as_str().expect("ts")[..10]);
        let entry = expected.entry((r["model"].as_str().expect("model").to_string(), day)).or_default();
        entry.0 += r["cost"].as_str().map(|c| Decimal::from_str(c).expect("cost")).unwrap_or_default();
        entry.1 += 1;
    }
    let rows = by["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), expected.len(), "{by}");
    for row in rows {
        let key =
            (row["model"].as_str().expect("model").to_string(), row["bucket"].as_str().expect("bucket").to_string());
        let (cost, requests) = expected.get(&key).unwrap_or_else(|| panic!("unexpected group {key:?}"));
        assert_eq!(dec(&row["cost"]), *cost, "{key:?}");
        assert_eq!(row["requests"].as_u64(), Some(*requests), "{key:?}");
    }
    assert_eq!(dec(&by["totals"]["cost"]), exact, "report total = the records' exact sum");
    assert_eq!(by["totals"]["requests"], 240);
    assert_eq!(by["totals"]["input_tokens"].as_u64(), Some(input));
    assert!(by["totals"]["unpriced_requests"].as_u64() >= Some(1));
    let sum_of_rows: Decimal = rows.iter().map(|r| dec(&r["cost"])).sum();
    assert_eq!(sum_of_rows, exact);
    // Rows come in time order.
    let buckets: Vec<&str> = rows.iter().filter_map(|r| r["bucket"].as_str()).collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");

    // The same money in another zone's days: buckets start at its midnight.
    let ny = report(d, "bucket=day&tz=America/New_York").await;
    assert_eq!(dec(&ny["totals"]["cost"]), exact);
    let ny_rows = ny["rows"].as_array().expect("rows");
    assert!(ny_rows.iter().all(|r| r["bucket"].as_str().is_some_and(|b| b.ends_with("T05:00:00Z"))), "{ny}");
    assert_eq!(ny_rows.iter().map(|r| dec(&r["cost"])).sum::<Decimal>(), exact);

    // By budget: the unpriced and apollo records count against no budget.
    let budgets = report(d, "group_by=budget,component").await;
    let reporting: Decimal = budgets["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["budget"] == "reporting")
        .map(|r| dec(&r["cost"]))
        .sum();
    let rhetor: Decimal = records
        .iter()
        .filter(|r| r["component"] == "rhetor")
        .filter_map(|r| r["cost"].as_str())
        .map(|c| Decimal::from_str(c).expect("cost"))
        .sum();
    assert_eq!(reporting, rhetor);
    let only = report(d, "budget=reporting").await;
    assert_eq!(dec(&only["totals"]["cost"]), rhetor);

    // Top 2 models; totals still cover everything.
    let top = report(d, "group_by=provider,model&top=2").await;
    let top_rows = top["rows"].as_array().expect("rows");
    assert_eq!(top_rows.len(), 2);
    assert!(dec(&top_rows[0]["cost"]) >= dec(&top_rows[1]["cost"]));
    assert_eq!(dec(&top["totals"]["cost"]), exact);
    let avg = dec(&top_rows[0]["avg_cost_per_request"]);
    assert!(avg > Decimal::ZERO);

    // CSV and Markdown of the same report.
    let csv = d
        .http
        .get(format!("{}/api/v1/reports/usage?{}&group_by=model&format=csv", d.url, window()))
        .bearer_auth(&d.admin_key)
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.expect("body");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("model,requests,unpriced_requests,cost,"), "{csv}");
    assert_eq!(lines.len(), 1 + 5 + 1, "header, five models, totals: {csv}");
    let total_line: Vec<&str> = lines[6].split(',').collect();
    assert_eq!(total_line[0], "TOTAL");
    assert_eq!(Decimal::from_str(total_line[3]).expect("cost"), exact);
    let md = d
        .http
        .get(format!("{}/api/v1/reports/usage?{}&group_by=model&format=md", d.url, window()))
        .bearer_auth(&d.admin_key)
        .send()
        .await
        .expect("md")
        .text()
        .await
        .expect("body");
    assert!(md.starts_with("# Usage report"), "{md}");
    assert!(md.contains(&format!("**${exact}**")) || md.contains(&format!("**${}**", exact.normalize())), "{md}");
    assert!(md.contains("| model | requests | cost |"), "{md}");

    // The records export: every record once, streamed, in CSV and NDJSON, with filters.
    let export = |query: &'static str| {
        let request = d
            .http
            .get(format!("{}/api/v1/reports/usage/records?{}&{query}", d.url, window()))
            .bearer_auth(&d.admin_key);
        async move { request.send().await.expect("export").text().await.expect("body") }
    };
    let all = export("format=csv").await;
    assert_eq!(all.lines().count(), 1 + 240);
    assert!(all.starts_with("id,timestamp,component,"));
    let exported: Decimal = all
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(15).filter(|c| !c.is_empty()).map(|c| Decimal::from_str(c).expect("cost")))
        .sum();
    assert_eq!(exported, exact);
    let gpt = export("format=ndjson&model=gpt-4o").await;
    let n = records.iter().filter(|r| r["model"] == "gpt-4o").count();
    assert_eq!(gpt.lines().count(), n);
    assert!(gpt.lines().all(|l| serde_json::from_str::<Value>(l).expect("json")["model"] == "gpt-4o"));

    // The old summary reads the same money.
    let (_, summary) = d.get(&format!("/api/v1/usage/summary?{}&group_by=model", window())).await;
    assert_eq!(dec(&summary["total_cost"]), exact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_totals_equal_the_records_on_sqlite() {
    let d = Daemon::start();
    totals_equal_the_records(&d).await;
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn report_totals_equal_the_records_on_postgres() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let d = Daemon::start_postgres(&url);
    totals_equal_the_records(&d).await;
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_report_queries_name_the_field() {
    let d = Daemon::start();
    for (query, field) in [
        ("group_by=model,colour", "group_by"),
        ("bucket=year", "bucket"),
        ("tz=Mars/Olympus", "tz"),
        ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "from"),
        ("top=0", "top"),
        ("format=xml", "format"),
        ("budget=nope", ""),
        ("from=1999-01-01T00:00:00Z", "from"),
        ("bucket=hour&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "bucket"),
    ] {
        let (status, body) = d.get(&format!("/api/v1/reports/usage?{query}")).await;
        if field.is_empty() {
            assert_eq!(status, 404, "{query}: {body}");
        } else {
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["error"]["details"]["field"], field, "{query}: {body}");
        }
    }
    let (status, body) = d.get("/api/v1/reports/usage/records?format=md").await;
    assert_eq!(status, 400, "{body}");
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_forecasts_and_cli_reports() {
    let d = Daemon::start();
    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "forecast", "component": "fc",
               "policies": [{"period": "monthly", "cost_limit": "0.01"}, {"period": "total", "cost_limit": "5"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = d
        .post(
            "/api/v1/usage/record",
            json!({"component": "fc", "provider": "anthropic", "model": "claude-sonnet-4-5",
               "input_tokens": 10000, "output_tokens": 0}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, overview) = d.get("/api/v1/reports/overview").await;
    assert_eq!(status, 200, "{overview}");
    let budget = &overview["budgets"][0];
    assert_eq!(budget["budget"], "forecast");
    let monthly =
        budget["policies"].as_array().expect("policies").iter().find(|p| p["period"] == "monthly").expect("monthly");
    assert_eq!(dec(&monthly["settled"]), Decimal::from_str("0.03").expect("dec"));
    // Past the month's first tenth (the test may run early in a month: then no forecast).
    if !monthly["forecast"].is_null() {
        assert_eq!(monthly["forecast"]["will_exceed"], true, "{monthly}");
        assert!(dec(&monthly["forecast"]["projected"]) >= Decimal::from_str("0.03").expect("dec"));
    }
    let total =
        budget["policies"].as_array().expect("policies").iter().find(|p| p["period"] == "total").expect("total");
    assert!(total["forecast"].is_null(), "no window end, no forecast");
    assert_eq!(overview["last_24h"]["requests"], 1);
    // A bucket cut by `from` is still labelled with its calendar start.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, clipped) = d.get(&format!("/api/v1/reports/usage?from={today}T00:00:01Z&bucket=day&tz=UTC")).await;
    assert_eq!(clipped["rows"][0]["bucket"], format!("{today}T00:00:00Z"), "{clipped}");
    // Without keys the CSV is a header and the one row (which is the totals).
    let csv = d
        .http
        .get(format!("{}/api/v1/reports/usage?format=csv", d.url))
        .bearer_auth(&d.admin_key)
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert_eq!(dec(&overview["last_30d"]["cost"]), Decimal::from_str("0.03").expect("dec"));
    assert!(overview["unacknowledged_alerts"].as_u64() >= Some(1), "the month's limit is exceeded");

    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("report.csv");
    let (ok, _, err) =
        d.cli(&["report", "usage", "--group-by", "model", "--format", "csv", "--out", out.to_str().expect("path")]);
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(&out).expect("written");
    assert!(csv.starts_with("model,requests,"), "{csv}");
    assert!(csv.contains("claude-sonnet-4-5,1,0,0.030000,") || csv.contains("claude-sonnet-4-5,1,0,0.03,"), "{csv}");
    let json = d.cli_json(&["report", "usage", "--group-by", "provider", "--bucket", "day"]);
    assert_eq!(json["rows"][0]["provider"], "anthropic");
    let records = dir.path().join("records.csv");
    let (ok, _, err) = d.cli(&["report", "usage", "--records", "--out", records.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&records).expect("written").lines().count(), 2);
    let overview = d.cli_json(&["report", "overview"]);
    assert_eq!(overview["budgets"][0]["budget"], "forecast");
    let (ok, _, err) = d.cli(&["report", "usage", "--group-by", "colour"]);
    assert!(!ok && err.contains("group_by"), "{err}");
    d.stop();
}

/// A records export filtered by budget (a filter applied after each page is read) goes on past
/// pages the filter empties: 2,010 records of no budget come first, then the budget's 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_export_reads_past_pages_the_filter_empties() {
    let d = Daemon::start();
    let (status, _) = d
        .post(
            "/api/v1/budgets",
            json!({"name": "sparse", "component": "sparse",
               "policies": [{"period": "total", "cost_limit": "1000"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let record = |component: &'static str| {
        json!({"component": component, "provider": "openai", "model": "gpt-4o-mini",
               "input_tokens": 10, "output_tokens": 1, "timestamp": "2026-11-10T12:00:00Z"})
    };
    for chunk in 0..(2010 / 30) {
        let calls = (0..30).map(|_| d.post("/api/v1/usage/record", record("noise")));
        for (status, body) in futures::future::join_all(calls).await {
            assert_eq!(status, 201, "{chunk}: {body}");
        }
    }
    for _ in 0..3 {
        let (status, _) = d.post("/api/v1/usage/record", record("sparse")).await;
        assert_eq!(status, 201);
    }
    let csv = d
        .http
        .get(format!("{}/api/v1/reports/usage/records?{}&budget=sparse", d.url, window()))
        .bearer_auth(&d.admin_key)
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.lines().count(), 1 + 3, "the header and the budget's three records");
    assert!(csv.lines().skip(1).all(|l| l.contains(",sparse,")), "{csv}");
    d.stop();
}
