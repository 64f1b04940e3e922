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
