//! Reports on SQLite: grouped in SQL, money summed exactly by `decimal_sum`.

use async_trait::async_trait;

use super::{SqliteRepository, ts};
use crate::storage::report_sql::{self, SQLITE};
use crate::storage::{AggregateRow, ReportSpec, ReportStore, StorageResult, rows};

#[async_trait]
impl ReportStore for SqliteRepository {
    async fn aggregate_usage(&self, spec: &ReportSpec) -> StorageResult<Vec<AggregateRow>> {
        let sql = report_sql::usage_report(&SQLITE, spec);
        let buckets: Vec<[String; 2]> = spec.buckets.iter().flatten().map(|(s, e)| [ts(*s), ts(*e)]).collect();
        // Built from fixed fragments only (column names chosen by an enum), never from input.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rows::to_json(&buckets)?)
            .bind(ts(spec.from))
            .bind(ts(spec.to))
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
