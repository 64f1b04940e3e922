//! `budget migrate rhetor|apollo` against a real daemon: Rhetor's and Apollo's own data (the
//! fixtures) and generated sources with rows that cannot be read. Every figure is checked
//! against the source, read independently here (SQLite's own `printf('%.15g')` for Rhetor's
//! float costs).

mod common;

use chrono::Utc;
use common::Daemon;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::{Connection, Row, SqliteConnection};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tekton").join(name)
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}"))).expect("decimal")
}

/// Rhetor's costs as SQLite prints them (15 significant digits), by row id.
async fn rhetor_costs(db: &Path) -> HashMap<i64, Decimal> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.expect("open");
    let rows = sqlx::query("SELECT id, printf('%.15g', cost) FROM usage").fetch_all(&mut conn).await.expect("read");
    rows.iter().map(|r| (r.get::<i64, _>(0), Decimal::from_str(&r.get::<String, _>(1)).expect("cost"))).collect()
}

/// Every stored record (the NDJSON export), by request id.
async fn records(d: &Daemon) -> HashMap<String, Value> {
    let (status, body) = d.get("/api/v1/reports/usage/records?format=ndjson&from=2000-01-01T00:00:00Z").await;
    assert_eq!(status, 200);
    let text = match body {
        Value::String(s) => s,
        Value::Null => String::new(),
        one => one.to_string(),
    };
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("ndjson line"))
        .map(|r| (r["request_id"].as_str().unwrap_or_default().to_string(), r))
        .collect()
}

fn migrate(d: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["migrate"];
    all.extend_from_slice(args);
    d.cli_json(&all)
}

async fn check_rhetor_fixture(d: &Daemon) {
    let db = fixture("rhetor_budget.db");
    let db_arg = db.to_str().expect("path");
    let expected = rhetor_costs(&db).await;
    let expected_total: Decimal = expected.values().sum();
    // Python: sum(Decimal(f"{c:.15g}") for c in costs) over the fixture.
    assert_eq!(expected_total, Decimal::from_str("2.85991425").expect("decimal"));

    // A dry run changes nothing and says what would happen.
    let dry = migrate(d, &["rhetor", "--db", db_arg, "--timezone", "UTC", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["budget"]["action"], "would_create");
    assert_eq!(dry["budget"]["policies_added"], 5);
    assert_eq!(dry["usage"]["would_create"], 100);
    assert_eq!(dec(&dry["usage"]["source_cost"]), expected_total);
    assert_eq!(dry["skipped"], json!([]));
    assert_eq!(d.get("/api/v1/budgets/rhetor").await.0, 404);
    assert!(records(d).await.is_empty());

    // Small batches: the database is read and sent 7 rows at a time.
    let first = migrate(d, &["rhetor", "--db", db_arg, "--timezone", "UTC", "--batch-size", "7"]);
    assert_eq!(first["budget"]["action"], "created");
    assert_eq!(first["source_rows"], json!([{"table": "usage", "rows": 100}, {"table": "budget_settings", "rows": 5}]));
    assert_eq!(first["usage"]["created"], 100);
    assert_eq!(first["usage"]["refused"], 0);
    assert_eq!(dec(&first["usage"]["created_cost"]), expected_total);
    assert_eq!(dec(&first["usage"]["stored_cost"]), expected_total);
    assert_eq!(first["totals_problem"], Value::Null);

    // Each record: its source row's cost, time, tokens and names; marked imported.
    let stored = records(d).await;
    assert_eq!(stored.len(), 100);
    for r in stored.values() {
        let row = r["metadata"]["migrated_from"]["row_id"].as_i64().expect("row id");
        assert_eq!(dec(&r["cost"]), expected[&row], "row {row}");
        assert_eq!(r["price_ref"], "imported:rhetor");
        assert_eq!(r["priced"], true);
    }
    let row2 = stored.values().find(|r| r["metadata"]["migrated_from"]["row_id"] == 2).expect("row 2");
    assert_eq!(row2["timestamp"], "2026-10-31T06:44:36Z");
    assert_eq!(
        (row2["provider"].clone(), row2["model"].clone()),
        (json!("anthropic"), json!("claude-3-opus-20240229"))
    );
    assert_eq!((row2["component"].clone(), row2["task_type"].clone()), (json!("athena"), json!("planning")));
    assert_eq!((row2["input_tokens"].clone(), row2["output_tokens"].clone()), (json!(1681), json!(1197)));
    assert_eq!(row2["cost"], "0.11499");
    // Rhetor's own metadata is kept.
    assert_eq!(row2["metadata"]["request_id"], "req-0001");
    assert_eq!(row2["metadata"]["latency_ms"], 7759);

    // The daemon's own report over the budget equals the source.
    let (_, report) = d.get("/api/v1/reports/usage?budget=rhetor&from=2026-01-01T00:00:00Z").await;
    assert_eq!(dec(&report["totals"]["cost"]), expected_total, "{report}");
    assert_eq!(report["totals"]["requests"], 100);

    // budget_settings: one policy each, mapped as the issue says.
    let (_, budget) = d.get("/api/v1/budgets/rhetor").await;
    let policies: BTreeSet<String> = budget["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {} {}",
                p["period"], p["cost_limit"], p["enforcement"], p["provider"], p["timezone"], p["enabled"]
            )
        })
        .collect();
    let want: BTreeSet<String> = [
        r#""daily" "5" "warn" null "UTC" true"#,
        r#""weekly" "25" "warn" null "UTC" true"#,
        r#""monthly" "100" "hard_limit" null "UTC" true"#,
        r#""daily" "2" "hard_limit" "anthropic" "UTC" true"#,
        r#""monthly" "50" "warn" "openai" "UTC" true"#,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(policies, want);

    // A second run imports nothing twice.
    let again = migrate(d, &["rhetor", "--db", db_arg, "--timezone", "UTC"]);
    assert_eq!(again["budget"]["action"], "exists");
    assert_eq!(
        (again["budget"]["policies_added"].clone(), again["budget"]["policies_present"].clone()),
        (json!(0), json!(5))
    );
    assert_eq!((again["usage"]["created"].clone(), again["usage"]["already_imported"].clone()), (json!(0), json!(100)));
    assert_eq!(dec(&again["usage"]["stored_cost"]), expected_total);
    assert_eq!(records(d).await.len(), 100);
    let (_, budget) = d.get("/api/v1/budgets/rhetor").await;
    assert_eq!(budget["policies"].as_array().map(Vec::len), Some(5));
    assert_eq!(again["budget"]["policies_differing"], json!([]));

    // A limit changed since the import (by a person, or by the Rhetor drop-in) is left as it
    // is and never added a second time beside the new one.
    let daily_all = budget["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["period"] == "daily" && p["provider"].is_null()))
        .and_then(|p| p["id"].as_str())
        .expect("the daily policy")
        .to_string();
    let key = d.admin_key.clone();
    let (status, _) = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/policies/{daily_all}"),
            Some(&key),
            Some(json!({"cost_limit": "7.5"})),
        )
        .await;
    assert_eq!(status, 200);
    let edited = migrate(d, &["rhetor", "--db", db_arg, "--timezone", "UTC"]);
    assert_eq!(
        (edited["budget"]["policies_added"].clone(), edited["budget"]["policies_present"].clone()),
        (json!(0), json!(4))
    );
    assert_eq!(
        edited["budget"]["policies_differing"],
        json!([{"period": "daily", "scope": "all calls", "fields": ["cost_limit"]}])
    );
    // Without --timezone the source's policies carry no zone: every one differs in it alone.
    let no_zone = migrate(d, &["rhetor", "--db", db_arg]);
    assert_eq!(no_zone["budget"]["policies_added"], 0);
    let differing = no_zone["budget"]["policies_differing"].as_array().cloned().unwrap_or_default();
    assert_eq!(differing.len(), 5, "{differing:?}");
    assert!(differing.iter().all(|p| p["fields"].as_array().is_some_and(|f| f.contains(&json!("timezone")))));
    let (_, budget) = d.get("/api/v1/budgets/rhetor").await;
    assert_eq!(budget["policies"].as_array().map(Vec::len), Some(5));

    // History raises no alerts: every window it fell in has ended.
    let (_, alerts) = d.get("/api/v1/alerts").await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(0), "{alerts}");
}

#[tokio::test]
async fn rhetor_fixture_imports_exactly_once() {
    let d = Daemon::start();
    check_rhetor_fixture(&d).await;
}

#[tokio::test]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn rhetor_fixture_imports_exactly_once_on_postgres() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let d = Daemon::start_postgres(&url);
    check_rhetor_fixture(&d).await;
}

/// A Rhetor database with Rhetor's schema and rows Rhetor itself would not have written.
async fn odd_rhetor_db(path: &Path) {
    let now = Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("create");
    let script = format!(
        r#"
        CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, provider TEXT,
            model TEXT, component TEXT, task_type TEXT, input_tokens INTEGER,
            output_tokens INTEGER, cost REAL, metadata TEXT);
        CREATE TABLE budget_settings (id INTEGER PRIMARY KEY AUTOINCREMENT, period TEXT,
            provider TEXT, limit_amount REAL, enforcement TEXT, start_date TEXT, active INTEGER);
        INSERT INTO usage VALUES
            (1, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 'apollo', 'chat', 100, 50, 0.00075, '{{"a": 1}}'),
            (2, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 'apollo', 'chat', 100, 50, NULL, NULL),
            (3, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 'apollo', 'chat', 100, 50, -0.5, NULL),
            (4, '2026-11-03T10:00:00', 'anthropic', 'claude-3-haiku-20240307', NULL, NULL, 10, 5, '0.25', 'not json'),
            (5, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 'apollo', 'chat', 'abc', 50, 0.1, NULL),
            (6, 'yesterday', 'openai', 'gpt-4o', 'apollo', 'chat', 100, 50, 0.1, NULL),
            (7, '2026-11-02T10:00:00', 'openai', '', 'apollo', 'chat', 100, 50, 0.1, NULL),
            (8, '2026-11-02T10:00:00', 'open' || char(1) || 'ai', 'gpt-4o', 'apollo', 'chat', 100, 50, 0.1, NULL),
            (9, '2026-11-01T02:30:00+05:00', 'openai', 'gpt-4o', 'rhetor', 'code', 7, 3, 0.5, NULL),
            (10, '2026-11-05 08:00:00.250', 'ollama', 'llama3', 'metis', 'reasoning', 12.0, 0, 1e-7, '{{}}'),
            (11, '{now}', 'openai', 'gpt-4o', 'rhetor', 'chat', 1000, 1000, 6.0, NULL),
            (12, '2026-11-10T10:00:00', 'openai', 'gpt-4o', 'rhetor', 'chat', 1000, 1000, 7.0, NULL),
            (13, '2026-11-10T10:00:00', 'openai', 'gpt-4o', 'rhetor', 'chat', 2000000000000, 1, 0.2, NULL);
        INSERT INTO budget_settings VALUES
            (1, 'daily', 'all', 5.0, 'warn', '2026-11-01T00:00:00', 1),
            (2, 'weekly', 'all', 25.0, 'warn', '2026-11-01T00:00:00', 0),
            (3, 'monthly', 'anthropic', 10.0, 'enforce', '2026-11-01T00:00:00', 1),
            (4, 'monthly', 'anthropic', 20.0, 'enforce', '2026-11-01T00:00:00', 1),
            (5, 'yearly', 'all', 1.0, 'warn', '2026-11-01T00:00:00', 1),
            (6, 'daily', 'openai', 3.0, 'block', '2026-11-01T00:00:00', 1),
            (7, 'weekly', 'ALL', 0.0, 'ignore', '2026-11-01T00:00:00', 1),
            (8, 'daily', 'open' || char(1) || 'ai', 3.0, 'warn', '2026-11-01T00:00:00', 1),
            (9, 'weekly', 'openai', 2000000000000000, 'warn', '2026-11-01T00:00:00', 1),
            (10, 'monthly', 'google', 9.0, 'warn', '2026-11-01T00:00:00', NULL);
        "#
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut conn).await.expect("fill");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn rhetor_rows_that_cannot_be_read_are_named_and_skipped() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("rhetor.db");
    odd_rhetor_db(&db).await;
    let db_arg = db.to_str().expect("path");

    let report =
        migrate(&d, &["rhetor", "--db", db_arg, "--timezone", "UTC", "--budget", "rhetor-odd", "--batch-size", "2"]);
    let skipped: BTreeSet<(String, String)> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| (s["location"].as_str().unwrap_or_default().into(), s["row_id"].as_str().unwrap_or_default().into()))
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("usage", "2"),
        ("usage", "3"),
        ("usage", "5"),
        ("usage", "6"),
        ("usage", "7"),
        ("usage", "8"),
        ("usage", "13"),
    ]
    .into_iter()
    .chain([("budget_settings", "5"), ("budget_settings", "6"), ("budget_settings", "8"), ("budget_settings", "9")])
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(skipped, want, "{report}");
    let reason = |location: &str, row: &str| -> String {
        report["skipped"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["location"] == location && s["row_id"] == row))
            .map(|s| s["reason"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(reason("usage", "2").contains("cost is missing"), "{}", reason("usage", "2"));
    assert!(reason("usage", "3").contains("negative"));
    assert!(reason("usage", "5").contains("input_tokens"));
    assert!(reason("usage", "6").contains("timestamp 'yesterday'"));
    assert!(reason("usage", "7").contains("model is missing"));
    assert!(reason("usage", "8").starts_with("refused by the daemon") && reason("usage", "8").contains("provider"));
    assert!(reason("usage", "13").contains("implausibly large"), "{}", reason("usage", "13"));
    assert!(reason("budget_settings", "5").contains("yearly"));
    assert!(reason("budget_settings", "6").contains("block"));
    // Settings the daemon would refuse are skipped here, by row, before anything is created.
    assert!(reason("budget_settings", "8").contains("provider"), "{}", reason("budget_settings", "8"));
    assert!(reason("budget_settings", "9").contains("limit_amount"), "{}", reason("budget_settings", "9"));
    let not_imported: BTreeSet<(String, String)> = report["not_imported"]
        .as_array()
        .expect("not imported")
        .iter()
        .map(|s| (s["row_id"].as_str().unwrap_or_default().into(), s["reason"].as_str().unwrap_or_default().into()))
        .collect();
    assert_eq!(
        not_imported,
        [
            ("2".to_string(), "inactive".to_string()),
            ("4".to_string(), "another active row (3) has this period and provider; Rhetor reads that one".to_string()),
            ("10".to_string(), "inactive".to_string()),
        ]
        .into_iter()
        .collect()
    );

    // Rows 1, 4, 9, 10, 11, 12 stored; row 8 refused (its cost accounted for as refused).
    let u = &report["usage"];
    assert_eq!((u["rows"].clone(), u["created"].clone(), u["refused"].clone()), (json!(7), json!(6), json!(1)));
    let stored = Decimal::from_str("13.7507501").expect("decimal"); // 0.00075 + 0.25 + 0.5 + 0.0000001 + 6 + 7
    assert_eq!(dec(&u["stored_cost"]), stored);
    assert_eq!(dec(&u["refused_cost"]), Decimal::from_str("0.1").expect("decimal"));
    // Skipped rows whose cost could be read (5, 6, 7, 13) stay in the source's total; rows 2
    // (no cost) and 3 (negative) have none to count.
    assert_eq!(u["skipped_rows"], 6);
    assert_eq!(dec(&u["skipped_cost"]), Decimal::from_str("0.5").expect("decimal"));
    assert_eq!(
        report["skipped"].as_array().and_then(|a| a.iter().find(|s| s["row_id"] == "13")).map(|s| s["cost"].clone()),
        Some(json!("0.2"))
    );
    assert_eq!(dec(&u["source_cost"]), stored + Decimal::from_str("0.6").expect("decimal"));
    assert_eq!(report["totals_problem"], Value::Null);

    let by_row: HashMap<i64, Value> = records(&d)
        .await
        .into_values()
        .map(|r| (r["metadata"]["migrated_from"]["row_id"].as_i64().expect("row"), r))
        .collect();
    assert_eq!(by_row.keys().copied().collect::<BTreeSet<_>>(), BTreeSet::from([1, 4, 9, 10, 11, 12]));
    assert_eq!(by_row[&4]["component"], "rhetor", "a row without component is Rhetor's own");
    assert_eq!(by_row[&4]["cost"], "0.25");
    assert_eq!(by_row[&4]["metadata"]["source_metadata"], "not json");
    assert_eq!(by_row[&9]["timestamp"], "2026-10-31T21:30:00Z", "an explicit offset is kept");
    assert_eq!(by_row[&10]["timestamp"], "2026-11-05T08:00:00.250Z");
    assert_eq!(by_row[&10]["cost"], "0.0000001");
    assert_eq!(by_row[&10]["input_tokens"], 12);
    assert_eq!(by_row[&1]["metadata"]["a"], 1);

    // Policies: rows 1, 4 and 7 (a limit of 0 is Rhetor's "no limit": disabled; ALL is all).
    let (_, budget) = d.get("/api/v1/budgets/rhetor-odd").await;
    let policies: BTreeSet<String> = budget["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| format!("{} {} {} {} {}", p["period"], p["cost_limit"], p["enforcement"], p["provider"], p["enabled"]))
        .collect();
    assert_eq!(
        policies,
        [
            r#""daily" "5" "warn" null true"#,
            r#""monthly" "10" "hard_limit" "anthropic" true"#,
            r#""weekly" "0" "ignore" null false"#
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );

    // Row 11 is today's: its window is open, so crossing the daily 5.00 is news. Row 12
    // crossed it on a day that has ended: history, no alert.
    let (_, alerts) = d.get("/api/v1/alerts").await;
    let alerts = alerts.as_array().cloned().unwrap_or_default();
    assert!(!alerts.is_empty(), "today's crossing is alerted");
    for a in &alerts {
        let end = a["window_end"].as_str().expect("window end");
        assert!(end > Utc::now().to_rfc3339().as_str(), "only open windows alert: {a}");
    }

    // Again: nothing twice, the same totals.
    let again = migrate(&d, &["rhetor", "--db", db_arg, "--timezone", "UTC", "--budget", "rhetor-odd"]);
    assert_eq!((again["usage"]["created"].clone(), again["usage"]["already_imported"].clone()), (json!(0), json!(6)));
    assert_eq!(dec(&again["usage"]["stored_cost"]), stored);
    assert_eq!(records(&d).await.len(), 6);
}

#[tokio::test]
async fn a_row_larger_than_the_daemons_body_limit_is_skipped_and_the_rest_imported() {
    // A daemon that takes bodies of 8 KiB at most: the batch of 31 rows is split until it
    // fits, and the one row that never fits alone (20 KB of metadata) is named and skipped.
    let d = Daemon::start_with_config("[server]\nmax_body_bytes = 8192\n");
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("rhetor.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.expect("create");
    sqlx::raw_sql(
        "CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, provider TEXT,
            model TEXT, component TEXT, task_type TEXT, input_tokens INTEGER,
            output_tokens INTEGER, cost REAL, metadata TEXT);",
    )
    .execute(&mut conn)
    .await
    .expect("schema");
    for id in 1..=31_i64 {
        let metadata = if id == 17 { format!("{{\"note\": \"{}\"}}", "x".repeat(20_000)) } else { "{}".into() };
        sqlx::query(
            "INSERT INTO usage VALUES (?, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 'apollo', 'chat', 10, 5, ?, ?)",
        )
        .bind(id)
        .bind(0.25_f64)
        .bind(metadata)
        .execute(&mut conn)
        .await
        .expect("row");
    }
    conn.close().await.expect("close");

    let report = migrate(&d, &["rhetor", "--db", db.to_str().expect("path"), "--timezone", "UTC"]);
    let u = &report["usage"];
    assert_eq!((u["created"].clone(), u["refused"].clone()), (json!(30), json!(1)), "{report}");
    let skipped = report["skipped"].as_array().cloned().unwrap_or_default();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["row_id"], "17");
    assert!(skipped[0]["reason"].as_str().is_some_and(|r| r.contains("request body limit")), "{skipped:?}");
    assert_eq!(dec(&u["stored_cost"]), Decimal::from_str("7.5").expect("decimal"));
    assert_eq!(dec(&u["refused_cost"]), Decimal::from_str("0.25").expect("decimal"));
    assert_eq!(report["totals_problem"], Value::Null);
    assert_eq!(records(&d).await.len(), 30);
}

#[tokio::test]
async fn apollo_fixture_and_odd_files() {
    let d = Daemon::start();
    let apollo = fixture("apollo");
    let report = migrate(&d, &["apollo", "--dir", apollo.to_str().expect("path"), "--timezone", "UTC"]);
    assert_eq!(report["budget"]["action"], "created");
    assert_eq!(report["budget"]["policies_added"], 11);
    assert_eq!((report["usage"]["created"].clone(), report["usage"]["without_cost"].clone()), (json!(1), json!(1)));
    assert_eq!(report["skipped"], json!([]));

    // Policies: Apollo's file, field for field.
    let source: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(apollo.join("budget_policies.json")).expect("read"))
            .expect("json");
    let key = |kind: &Value, period: &Value, tier: &Value, component: &Value, task: &Value, limit: &Value| {
        format!("{kind} {period} {tier} {component} {task} {limit}")
    };
    let want: BTreeSet<String> = source
        .iter()
        .map(|p| key(&p["type"], &p["period"], &p["tier"], &p["component"], &p["task_type"], &p["limit"]))
        .collect();
    let (_, budget) = d.get("/api/v1/budgets/apollo").await;
    let got: BTreeSet<String> = budget["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| key(&p["enforcement"], &p["period"], &p["tier"], &p["component"], &p["task_type"], &p["token_limit"]))
        .collect();
    assert_eq!(got, want);
    assert!(
        budget["policies"]
            .as_array()
            .expect("policies")
            .iter()
            .all(|p| p["warning_threshold"] == "0.8" && p["action_threshold"] == "0.95" && p["cost_limit"].is_null())
    );

    // The usage record: Apollo's tokens (a total without split), no cost, its context.
    let stored = records(&d).await;
    let r = &stored["apollo:8db8d283-8e83-469a-87fd-dcd2cd370218"];
    assert_eq!((r["total_tokens"].clone(), r["input_tokens"].clone()), (json!(16000), json!(0)));
    assert_eq!((r["cost"].clone(), r["priced"].clone()), (Value::Null, json!(false)));
    assert_eq!((r["context_id"].clone(), r["component"].clone()), (json!("ctx1"), json!("rhetor")));
    assert_eq!((r["tier"].clone(), r["price_ref"].clone()), (json!("remote_heavyweight"), json!("imported:apollo")));
    assert_eq!(r["timestamp"], "2026-11-29T01:46:47.327068Z");
    assert_eq!(r["metadata"]["migrated_from"]["allocation_id"], "02b59649-2b1a-4c76-9e11-ff49bf2d9a26");

    let again = migrate(&d, &["apollo", "--dir", apollo.to_str().expect("path"), "--timezone", "UTC"]);
    assert_eq!((again["usage"]["created"].clone(), again["usage"]["already_imported"].clone()), (json!(0), json!(1)));
    assert_eq!(again["budget"]["policies_added"], 0);

    // A generated directory with what Apollo would not write.
    let dir = tempfile::tempdir().expect("dir");
    let policies = json!([
        {"policy_id": "p1", "type": "hard_limit", "period": "per_task", "tier": "local_midweight", "limit": 4000,
         "warning_threshold": 0.7, "action_threshold": 0.9, "enabled": true},
        {"policy_id": "p2", "type": "warn", "period": "daily", "tier": null, "limit": 100, "end_date": "2020-01-01T00:00:00"},
        {"policy_id": "p3", "type": "block", "period": "daily", "limit": 100}
    ]);
    std::fs::write(dir.path().join("budget_policies.json"), policies.to_string()).expect("write");
    let usage = json!([
        {"record_id": "r1", "context_id": "c9", "component": "athena", "provider": "ollama", "model": "llama3",
         "task_type": "chat", "tokens_used": 300, "usage_type": "input", "timestamp": "2026-11-20T10:00:00"},
        {"context_id": "c9", "component": "athena", "tokens_used": 1, "timestamp": "2026-11-20T10:00:00"},
        {"record_id": "r3", "component": "athena", "tokens_used": -5, "timestamp": "2026-11-20T10:00:00"},
        {"record_id": "r4", "component": "athena", "tokens_used": 5, "usage_type": "weird", "timestamp": "2026-11-20T10:00:00"},
        // Crosses the per-session (per_task) limit of 4000 in a session long over: no alert.
        {"record_id": "r5", "context_id": "c10", "component": "athena", "provider": "ollama", "model": "llama3",
         "tokens_used": 5000, "timestamp": "2026-11-21T10:00:00"}
    ]);
    std::fs::write(dir.path().join("usage_records_1.json"), usage.to_string()).expect("write");
    std::fs::write(dir.path().join("usage_records_2.json"), "{not json").expect("write");
    // Apollo rewrites its last records at every stop: a later file repeats r1 (not imported
    // again) and holds an r5 with other contents (skipped, named).
    let later = json!([usage[0].clone(), {"record_id": "r5", "component": "athena", "tokens_used": 7, "timestamp": "2026-11-21T10:00:00"}]);
    std::fs::write(dir.path().join("usage_records_3.json"), later.to_string()).expect("write");
    let path = dir.path().to_str().expect("path");
    let report = migrate(&d, &["apollo", "--dir", path, "--timezone", "UTC", "--budget", "apollo-odd"]);
    let skipped: BTreeSet<String> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s["location"].as_str().unwrap_or_default(),
                s["row_id"].as_str().unwrap_or_default(),
                s["reason"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let expect = [
        "budget_policies.json p3 type 'block'",
        "usage_records_1.json #1 record_id is missing",
        "usage_records_1.json r3 tokens_used is -5",
        "usage_records_1.json r4 usage_type 'weird'",
        "usage_records_2.json - is not valid JSON",
        "usage_records_3.json r5 record_id is also in usage_records_1.json, with other contents",
    ];
    assert_eq!(skipped.len(), expect.len(), "{skipped:?}");
    for (got, want) in skipped.iter().zip(expect) {
        assert!(got.starts_with(want), "{got} should start with {want}");
    }
    assert_eq!(report["usage"]["created"], 2);
    assert_eq!(
        report["not_imported"],
        json!([{"location": "usage_records_3.json", "row_id": "r1",
                "reason": "a copy of the record in usage_records_1.json (Apollo rewrites its last records at every stop)"}])
    );
    // History raises no alerts: its calendar windows have ended and its sessions are over.
    let (_, alerts) = d.get("/api/v1/alerts").await;
    assert_eq!(alerts, json!([]), "imported history is not news");
    let (_, budget) = d.get("/api/v1/budgets/apollo-odd").await;
    let by_limit: HashMap<u64, Value> = budget["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| (p["token_limit"].as_u64().expect("limit"), p.clone()))
        .collect();
    assert_eq!(by_limit.len(), 2);
    assert_eq!(by_limit[&4000]["period"], "per_session", "Apollo's per_task is per context");
    assert_eq!(by_limit[&4000]["warning_threshold"], "0.7");
    assert_eq!(by_limit[&100]["enabled"], false, "a policy past its end_date arrives disabled");
    let r1 = &records(&d).await["apollo:r1"];
    assert_eq!((r1["input_tokens"].clone(), r1["output_tokens"].clone()), (json!(300), json!(0)));
    assert_eq!(r1["tier"], "local_midweight");
}

#[tokio::test]
async fn a_row_stored_earlier_with_another_cost_fails_the_migration() {
    let d = Daemon::start();
    // Another import stored the fixture's row 1 under the same request id with another cost
    // than Rhetor's 0.08589: a real conflict, named, and the run fails.
    let (status, _) = d
        .post(
            "/api/v1/usage/import",
            json!({"source": "python", "records": [{"request_id": "rhetor:1@2026-10-30T09:10:31",
                "component": "apollo", "provider": "openai", "model": "gpt-4", "input_tokens": 191,
                "output_tokens": 1336, "cost": "0.09", "timestamp": "2026-10-30T09:10:31Z"}]}),
        )
        .await;
    assert_eq!(status, 200);
    let db = fixture("rhetor_budget.db");
    let (ok, out, err) = d.cli(&["migrate", "rhetor", "--db", db.to_str().expect("path"), "--timezone", "UTC"]);
    assert!(!ok, "{out}");
    assert!(err.contains("1 stored record(s) differ in cost") && err.contains("rhetor:1@2026-10-30T09:10:31"), "{err}");
    assert!(out.contains("99 imported now, 1 already imported"), "the report is printed first: {out}");
}

#[tokio::test]
async fn rows_recorded_live_earlier_are_listed_apart_and_the_totals_still_match() {
    let d = Daemon::start();
    // What the Rhetor drop-in's `import_usage_from_db` stores for the fixture's row 1: a live
    // record under the same request id, priced by the daemon (gpt-4's price, not 0.08589).
    let (status, live) = d
        .post(
            "/api/v1/usage/record",
            json!({"request_id": "rhetor:1@2026-10-30T09:10:31", "component": "apollo", "provider": "openai",
                "model": "gpt-4", "input_tokens": 191, "output_tokens": 1336, "timestamp": "2026-10-30T09:10:31Z"}),
        )
        .await;
    assert_eq!(status, 201, "{live}");
    let db = fixture("rhetor_budget.db");
    let report = migrate(&d, &["rhetor", "--db", db.to_str().expect("path"), "--timezone", "UTC"]);
    let u = &report["usage"];
    assert_eq!((u["created"].clone(), u["already_imported"].clone()), (json!(99), json!(1)));
    assert_eq!(u["priced_by_daemon"], 1);
    assert_eq!(dec(&u["priced_by_daemon_source_cost"]), Decimal::from_str("0.08589").expect("decimal"));
    assert_eq!(u["priced_by_daemon_cost"], live["cost"]);
    assert_eq!(report["totals_problem"], Value::Null, "{report}");
    let total = rhetor_costs(&db).await.values().sum::<Decimal>();
    assert_eq!(dec(&u["stored_cost"]) + dec(&u["priced_by_daemon_source_cost"]), total);
}

#[tokio::test]
async fn import_needs_an_admin_key_and_bad_input_is_named() {
    let d = Daemon::start();
    let (_, reader) = d.post("/api/v1/keys", json!({"name": "reader", "role": "read"})).await;
    let reader = reader["key"].as_str().expect("key").to_string();
    let (_, writer) = d.post("/api/v1/keys", json!({"name": "writer", "role": "write"})).await;
    let writer = writer["key"].as_str().expect("key").to_string();
    let db = fixture("rhetor_budget.db");
    for key in [&reader, &writer] {
        let (ok, _, err) =
            d.cli(&["--api-key", key, "migrate", "rhetor", "--db", db.to_str().expect("path"), "--dry-run"]);
        assert!(!ok);
        assert!(err.contains("forbidden") || err.contains("403") || err.contains("admin"), "{err}");
    }

    let (ok, _, err) = d.cli(&["migrate", "rhetor", "--db", "/nonexistent/rhetor.db"]);
    assert!(!ok && err.contains("/nonexistent/rhetor.db: no such file"), "{err}");
    let empty = tempfile::tempdir().expect("dir");
    let (ok, _, err) = d.cli(&["migrate", "apollo", "--dir", empty.path().to_str().expect("path")]);
    assert!(!ok && err.contains("neither budget_policies.json nor usage_records"), "{err}");
    let (ok, _, err) = d.cli(&["migrate", "rhetor", "--db", db.to_str().expect("path"), "--timezone", "Mars/Olympus"]);
    assert!(!ok && err.contains("Mars/Olympus"), "{err}");

    let (ok, _, err) = d.cli(&["migrate", "rhetor", "--db", db.to_str().expect("path"), "--batch-size", "0"]);
    assert!(!ok && err.contains("--batch-size must be between 1 and 1000"), "{err}");

    // Sources that are not what Rhetor writes: a missing required column is named; a
    // database without budget_settings imports its usage and says there were no settings.
    let dir = tempfile::tempdir().expect("dir");
    let no_cost = dir.path().join("no-cost.db");
    let no_settings = dir.path().join("no-settings.db");
    for (path, script) in [
        (&no_cost, "CREATE TABLE usage (id INTEGER PRIMARY KEY, timestamp TEXT, provider TEXT, model TEXT, input_tokens INTEGER, output_tokens INTEGER);"),
        (&no_settings, "CREATE TABLE usage (id INTEGER PRIMARY KEY, timestamp TEXT, provider TEXT, model TEXT, input_tokens INTEGER, output_tokens INTEGER, cost REAL);
            INSERT INTO usage VALUES (1, '2026-11-02T10:00:00', 'openai', 'gpt-4o', 10, 5, 0.25);"),
    ] {
        let mut conn =
            SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.expect("create");
        sqlx::raw_sql(sqlx::AssertSqlSafe(script.to_string())).execute(&mut conn).await.expect("fill");
        conn.close().await.expect("close");
    }
    let (ok, _, err) = d.cli(&["migrate", "rhetor", "--db", no_cost.to_str().expect("path"), "--timezone", "UTC"]);
    assert!(!ok && err.contains("table usage lacks the column(s) cost"), "{err}");
    let report = migrate(
        &d,
        &["rhetor", "--db", no_settings.to_str().expect("path"), "--timezone", "UTC", "--budget", "no-settings"],
    );
    assert_eq!((report["usage"]["created"].clone(), report["budget"]["policies_added"].clone()), (json!(1), json!(0)));
    assert!(report["not_imported"][0]["reason"].as_str().is_some_and(|r| r.contains("no budget_settings table")));

    // The endpoint: a record's fault is named with its index; the batch goes on.
    let record = |id: &str, cost: &str| {
        json!({"request_id": id, "component": "c", "provider": "openai", "model": "gpt-4o",
               "input_tokens": 1, "output_tokens": 1, "cost": cost, "timestamp": "2026-11-01T00:00:00Z"})
    };
    let (status, answer) = d
        .post("/api/v1/usage/import", json!({"source": "test", "records": [record("a", "-1"), record("b", "0.5")]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "invalid");
    assert_eq!(answer["results"][0]["field"], "records[0].cost");
    assert_eq!(answer["results"][1]["status"], "created");
    assert_eq!(answer["created_cost"], "0.5");
    // A dry run meets the checks a real import meets: a time too far ahead is refused.
    let mut ahead = record("ahead", "0");
    ahead["timestamp"] = json!((Utc::now() + chrono::Duration::hours(1)).to_rfc3339());
    let (_, answer) =
        d.post("/api/v1/usage/import", json!({"source": "test", "dry_run": true, "records": [ahead]})).await;
    assert_eq!(answer["results"][0]["status"], "invalid", "{answer}");
    assert_eq!(answer["results"][0]["field"], "records[0].timestamp");

    // The same key twice in one batch (its records are in flight together): stored once.
    let (_, answer) = d
        .post("/api/v1/usage/import", json!({"source": "test", "records": [record("c", "0.25"), record("c", "0.25")]}))
        .await;
    let statuses: BTreeSet<&str> =
        answer["results"].as_array().expect("results").iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, BTreeSet::from(["created", "already_imported"]), "{answer}");
    assert_eq!(answer["created_cost"], "0.25");
    let (status, answer) = d
        .call(reqwest::Method::POST, "/api/v1/usage/import", Some(&writer), Some(json!({"source": "t", "records": []})))
        .await;
    assert_eq!(status, 403, "{answer}");
    // A count beyond any real call breaks the request (the schema bounds it), before anything is stored.
    let mut huge = record("h", "0");
    huge["total_tokens"] = json!(1_000_000_000_001u64);
    let (status, answer) =
        d.post("/api/v1/usage/import", json!({"source": "test", "records": [record("i", "0"), huge]})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "records[1].total_tokens", "{answer}");
    let (_, page) = d.get("/api/v1/usage/records?limit=100").await;
    assert!(!page.to_string().contains("\"i\""), "nothing of the refused request is stored: {page}");
    let many: Vec<Value> = (0..1001).map(|i| record(&format!("m{i}"), "0")).collect();
    let (status, answer) = d.post("/api/v1/usage/import", json!({"source": "test", "records": many})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["details"]["field"], "records", "{answer}");
}
