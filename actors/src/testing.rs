//! Helpers for tests of this crate and of the binary: fresh databases per test.

use sqlx::Connection;
use uuid::Uuid;

/// The PostgreSQL server tests use (`BUDGET_TEST_DATABASE_URL`), if any.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("BUDGET_TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    let base = postgres_base_url().expect("BUDGET_TEST_DATABASE_URL must be set for PostgreSQL tests");
    let name = format!("budget_test_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to BUDGET_TEST_DATABASE_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    let query = base.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{prefix}/{name}{query}")
}

/// Tests spend in a daily window and then read it back a moment later; if midnight UTC fell
/// between the two they would see two windows. A test that starts in the last 30 seconds of
/// a day waits for the next one instead (at most 31 s, on one test run in a few thousand).
pub fn clear_of_utc_midnight() {
    use chrono::Timelike;
    let into_day = chrono::Utc::now().num_seconds_from_midnight();
    if into_day >= 86_400 - 30 {
        std::thread::sleep(std::time::Duration::from_secs(u64::from(86_400 - into_day + 1)));
    }
}
