//! One ledger write inside the caller's transaction. Rows of one kind go in one multi-row
//! statement (the column lists are shared with SQLite's batches).

use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::domain::{Alert, Allocation, Charge, Hold, HoldShrink, UsageRecord};
use crate::storage::rows::{
    ALERT_COLUMNS, ALLOCATION_COLUMNS, CHARGE_COLUMNS, HOLD_COLUMNS, USAGE_COLUMNS, insert_head, to_json, tokens_in,
};
use crate::storage::{StorageResult, WriteOp, WriteOutcome, queries};

pub(super) async fn apply(conn: &mut PgConnection, op: &WriteOp) -> StorageResult<WriteOutcome> {
    match op {
        WriteOp::Allocate { allocation, holds, .. } => {
            insert_allocation(conn, allocation).await?;
            insert_holds(conn, holds).await?;
        }
        WriteOp::Record { record, charges, hold_shrinks, alerts } => {
            // Only a repeated request_id can make the insert a no-op; then nothing of the
            // record is written (its charges, shrinks and alerts included).
            if !insert_usage(conn, record).await? {
                return Ok(WriteOutcome::DuplicateRequest);
            }
            insert_charges(conn, charges).await?;
            for shrink in hold_shrinks {
                shrink_hold(conn, shrink).await?;
            }
            insert_alerts(conn, alerts).await?;
        }
        WriteOp::Close { allocation_id, status, at } => {
            sqlx::query(queries::CLOSE_ALLOCATION)
                .bind(status.as_str())
                .bind(*at)
                .bind(allocation_id.to_string())
                .execute(&mut *conn)
                .await?;
            sqlx::query(queries::DELETE_ALLOCATION_HOLDS).bind(allocation_id.to_string()).execute(&mut *conn).await?;
        }
        WriteOp::Extend { allocation_id, expires_at, at } => {
            sqlx::query(queries::EXTEND_ALLOCATION)
                .bind(*expires_at)
                .bind(allocation_id.to_string())
                .bind(*at)
                .execute(&mut *conn)
                .await?;
            sqlx::query(queries::EXTEND_HOLDS)
                .bind(*expires_at)
                .bind(allocation_id.to_string())
                .execute(&mut *conn)
                .await?;
        }
        WriteOp::Alert(alert) => insert_alerts(conn, std::slice::from_ref(alert)).await?,
    }
    Ok(WriteOutcome::Done)
}

async fn insert_allocation(conn: &mut PgConnection, a: &Allocation) -> StorageResult<()> {
    let budgets = to_json(&a.budgets)?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(insert_head("allocations", ALLOCATION_COLUMNS));
    q.push_values([a], |mut b, a| {
        b.push_bind(a.id.to_string())
            .push_bind(a.component.clone())
            .push_bind(a.context_id.clone())
            .push_bind(a.provider.clone())
            .push_bind(a.model.clone())
            .push_bind(a.task_type.clone())
            .push_bind(a.tier.clone())
            .push_bind(i64::from(a.priority))
            .push_bind(a.reserved_cost)
            .push_bind(tokens_in(a.reserved_tokens))
            .push_bind(a.priced)
            .push_bind(a.status.as_str())
            .push_bind(budgets.clone())
            .push_bind(a.created_at)
            .push_bind(a.expires_at)
            .push_bind(a.released_at);
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}

async fn insert_holds(conn: &mut PgConnection, holds: &[Hold]) -> StorageResult<()> {
    if holds.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(insert_head("holds", HOLD_COLUMNS));
    q.push_values(holds, |mut b, h| {
        b.push_bind(h.allocation_id.to_string())
            .push_bind(h.policy_id.to_string())
            .push_bind(h.budget_id.to_string())
            .push_bind(h.window_key.clone())
            .push_bind(h.cost)
            .push_bind(tokens_in(h.tokens))
            .push_bind(h.expires_at);
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// Inserts the record; false if its request_id was already recorded.
async fn insert_usage(conn: &mut PgConnection, r: &UsageRecord) -> StorageResult<bool> {
    let breakdown = r.cost_breakdown.as_ref().map(to_json).transpose()?;
    let metadata = to_json(&r.metadata)?;
    let budgets = to_json(&r.budgets)?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(insert_head("usage_records", USAGE_COLUMNS));
    q.push_values([r], |mut b, r| {
        b.push_bind(r.id.to_string())
            .push_bind(r.allocation_id.map(|a| a.to_string()))
            .push_bind(r.component.clone())
            .push_bind(r.context_id.clone())
            .push_bind(r.provider.clone())
            .push_bind(r.model.clone())
            .push_bind(r.task_type.clone())
            .push_bind(r.tier.clone())
            .push_bind(tokens_in(r.input_tokens))
            .push_bind(tokens_in(r.output_tokens))
            .push_bind(tokens_in(r.cache_read_tokens))
            .push_bind(tokens_in(r.cache_write_tokens))
            .push_bind(tokens_in(r.cache_write_1h_tokens))
            .push_bind(tokens_in(r.reasoning_tokens))
            .push_bind(tokens_in(r.total_tokens))
            .push_bind(r.cost)
            .push_bind(r.priced)
            .push_bind(breakdown.clone())
            .push_bind(r.price_ref.clone())
            .push_bind(r.request_id.clone())
            .push_bind(r.timestamp)
            .push_bind(r.recorded_at)
            .push_bind(metadata.clone())
            .push_bind(budgets.clone());
    });
    q.push(" ON CONFLICT (request_id) DO NOTHING");
    Ok(q.build().execute(&mut *conn).await?.rows_affected() > 0)
}

async fn insert_charges(conn: &mut PgConnection, charges: &[Charge]) -> StorageResult<()> {
    if charges.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(insert_head("charges", CHARGE_COLUMNS));
    q.push_values(charges, |mut b, c| {
        b.push_bind(c.record_id.to_string())
            .push_bind(c.policy_id.to_string())
            .push_bind(c.budget_id.to_string())
            .push_bind(c.window_key.clone())
            .push_bind(c.cost)
            .push_bind(tokens_in(c.tokens));
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// One statement, clamped at zero: the row lock it takes serializes concurrent shrinks of
/// the same hold (from other daemons too), and NUMERIC arithmetic is exact. A hold released or
/// expired meanwhile matches no row, and nothing is held any more.
async fn shrink_hold(conn: &mut PgConnection, u: &HoldShrink) -> StorageResult<()> {
    sqlx::query(
        "UPDATE holds SET cost = GREATEST(cost - $1, 0), tokens = GREATEST(tokens - $2, 0) \
         WHERE allocation_id = $3 AND policy_id = $4",
    )
    .bind(u.cost)
    .bind(tokens_in(u.tokens))
    .bind(u.allocation_id.to_string())
    .bind(u.policy_id.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_alerts(conn: &mut PgConnection, alerts: &[Alert]) -> StorageResult<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(alerts.len());
    for a in alerts {
        rows.push((a, to_json(&a.details)?));
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(insert_head("alerts", ALERT_COLUMNS));
    q.push_values(rows, |mut b, (a, details)| {
        b.push_bind(a.id.to_string())
            .push_bind(a.severity.as_str())
            .push_bind(a.kind.as_str())
            .push_bind(a.budget_id.map(|x| x.to_string()))
            .push_bind(a.policy_id.map(|x| x.to_string()))
            .push_bind(a.message.clone())
            .push_bind(details)
            .push_bind(a.created_at)
            .push_bind(a.acknowledged)
            .push_bind(a.acknowledged_at)
            .push_bind(a.dedup_key.clone())
            .push_bind(a.window_end);
    });
    // An alert whose key is stored already — the same crossing seen by another daemon, or
    // again — is dropped: one alert per key across every daemon on the database.
    q.push(" ON CONFLICT DO NOTHING");
    q.build().execute(&mut *conn).await?;
    Ok(())
}
