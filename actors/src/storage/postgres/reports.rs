//! Reports on PostgreSQL: grouped in SQL, money summed exactly as NUMERIC.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PostgresRepository;
use crate::storage::report_sql::{self, POSTGRES};
use crate::storage::{AggregateRow, ReportSpec, ReportStore, StorageResult, rows};

#[async_trait]
impl ReportStore for PostgresRepository {
    async fn aggregate_usage(&self, spec: &ReportSpec) -> StorageResult<Vec<AggregateRow>> {
        let sql = report_sql::usage_report(&POSTGRES, spec);
        let buckets: Vec<[DateTime<Utc>; 2]> = spec.buckets.iter().flatten().map(|(s, e)| [*s, *e]).collect();
        // Built from fixed fragments only (column names chosen by an enum), never from input.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rows::to_json(&buckets)?)
            .bind(spec.from)
            .bind(spec.to)
            .bind(&spec.provider)
            .bind(&spec.model)
            .bind(&spec.component)
            .bind(&spec.task_type)
            .bind(&spec.context_id)
            .bind(&spec.tier)
            .bind(spec.budget_id.map(|b| b.to_string()))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| rows::aggregate(r, spec.group_by.len(), spec.buckets.is_some())).collect()
    }
}
