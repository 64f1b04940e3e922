//! Reports on SQLite: grouped in SQL, money summed exactly by `decimal_sum`. With time
//! buckets, each bucket is grouped on its own (`report_sql::usage_report_per_bucket`) and
//! comes back as one row with its groups in JSON.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::Row;
use std::str::FromStr;

use super::{SqliteRepository, ts, ts_out};
use crate::api::Measures;
use crate::error::EngineError;
use crate::storage::report_sql::{self, SQLITE};
use crate::storage::{AggregateRow, ReportSpec, ReportStore, StorageResult, rows};

#[async_trait]
impl ReportStore for SqliteRepository {
    async fn aggregate_usage(&self, spec: &ReportSpec) -> StorageResult<Vec<AggregateRow>> {
        let bucketed = spec.buckets.is_some();
        let sql = if bucketed {
            report_sql::usage_report_per_bucket(&SQLITE, spec)
        } else {
            report_sql::usage_report(&SQLITE, spec)
        };
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
        if !bucketed {
            return rows.iter().map(|r| rows::aggregate(r, spec.group_by.len(), false)).collect();
        }
        let mut out = Vec::new();
        for row in &rows {
            let bucket = ts_out(&row.try_get::<String, _>("bucket")?)?;
            let groups: Vec<Vec<Value>> = rows::from_json(&row.try_get::<String, _>("groups")?, "report groups")?;
            for group in groups {
                let aggregate = group_row(bucket, &group, spec.group_by.len())?;
                // A bucket without records still yields its one ungrouped row: skip it.
                if aggregate.measures.requests > 0 {
                    out.push(aggregate);
                }
            }
        }
        Ok(out)
    }
}

/// One group of a bucket: `keys` values, then the ten measures.
fn group_row(bucket: chrono::DateTime<chrono::Utc>, group: &[Value], keys: usize) -> StorageResult<AggregateRow> {
    let bad = || EngineError::Internal(format!("a report group of unexpected shape: {group:?}"));
    if group.len() != keys + 10 {
        return Err(bad());
    }
    let count = |i: usize| group[keys + i].as_i64().map(|n| u64::try_from(n).unwrap_or(0)).unwrap_or(0);
    let cost = match &group[keys + 2] {
        Value::Null => Decimal::ZERO,
        Value::String(s) => Decimal::from_str(s).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok(AggregateRow {
        bucket: Some(bucket),
        keys: group[..keys].iter().map(|v| v.as_str().map(str::to_string)).collect(),
        measures: Measures {
            requests: count(0),
            unpriced_requests: count(1),
            cost,
            input_tokens: count(3),
            output_tokens: count(4),
            cache_read_tokens: count(5),
            cache_write_tokens: count(6),
            cache_write_1h_tokens: count(7),
            reasoning_tokens: count(8),
            total_tokens: count(9),
            avg_cost_per_request: None,
        }
        .with_average(),
    })
}
