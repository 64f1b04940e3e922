//! Group commit for SQLite, statement by kind instead of write by write: a batch of N writes
//! becomes about seven multi-row statements. Each statement crosses to sqlx's SQLite worker
//! thread once, so this, not fsync, is what bounds the writer (measured: ~70 µs a statement).
//!
//! Writes in one batch commute when applied in this order: allocations, holds, usage
//! records, charges, hold shrinks, lease extensions, closes, alerts. (A close deletes holds,
//! so a hold shrink for the same allocation ends the same whether it ran before or after it.
//! An extension and an expiry of one allocation in one batch were concurrent: either order
//! is a valid outcome, and the extending caller reads back which it was.) A single write
//! (the writer's one-by-one retry) goes through the same statements with a batch of one.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use super::{money, ts};
use crate::domain::{Alert, Allocation, AllocationStatus, Charge, Hold, UsageRecord};
use crate::storage::rows::{
    ALERT_COLUMNS, ALLOCATION_COLUMNS, CHARGE_COLUMNS, HOLD_COLUMNS, ReadRow, USAGE_COLUMNS, insert_head, to_json,
    tokens_in,
};
use crate::storage::{StorageResult, WriteOp, WriteOutcome};

/// Rows per statement: the widest row (usage records, 24 columns) × this stays well under
/// SQLite's limit of 32,766 bound variables.
const CHUNK: usize = 500;

pub(super) async fn apply_batch(conn: &mut SqliteConnection, ops: &[&WriteOp]) -> StorageResult<Vec<WriteOutcome>> {
    let mut outcomes = vec![WriteOutcome::Done; ops.len()];

    let allocations: Vec<&Allocation> = ops
        .iter()
        .filter_map(|op| if let WriteOp::Allocate { allocation, .. } = op { Some(allocation) } else { None })
        .collect();
    for chunk in allocations.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(insert_head("allocations", ALLOCATION_COLUMNS));
        let mut rows = Vec::with_capacity(chunk.len());
        for a in chunk {
            rows.push((a, to_json(&a.budgets)?));
        }
        q.push_values(rows, |mut b, (a, budgets)| {
            b.push_bind(a.id.to_string())
                .push_bind(a.component.clone())
                .push_bind(a.context_id.clone())
                .push_bind(a.provider.clone())
                .push_bind(a.model.clone())
                .push_bind(a.task_type.clone())
                .push_bind(a.tier.clone())
                .push_bind(i64::from(a.priority))
                .push_bind(money(a.reserved_cost))
                .push_bind(tokens_in(a.reserved_tokens))
                .push_bind(a.priced)
                .push_bind(a.status.as_str())
                .push_bind(budgets)
                .push_bind(ts(a.created_at))
                .push_bind(ts(a.expires_at))
                .push_bind(a.released_at.map(ts));
        });
        q.build().execute(&mut *conn).await?;
    }

    let holds: Vec<&Hold> = ops
        .iter()
        .flat_map(|op| if let WriteOp::Allocate { holds, .. } = op { holds.iter() } else { [].iter() })
        .collect();
    for chunk in holds.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(insert_head("holds", HOLD_COLUMNS));
        q.push_values(chunk, |mut b, h| {
            b.push_bind(h.allocation_id.to_string())
                .push_bind(h.policy_id.to_string())
                .push_bind(h.budget_id.to_string())
                .push_bind(h.window_key.clone())
                .push_bind(money(h.cost))
                .push_bind(tokens_in(h.tokens))
                .push_bind(ts(h.expires_at));
        });
        q.build().execute(&mut *conn).await?;
    }

    // Usage records; a repeated request_id inserts nothing, and RETURNING tells which did.
    let records: Vec<(usize, &UsageRecord)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| if let WriteOp::Record { record, .. } = op { Some((i, record.as_ref())) } else { None })
        .collect();
    let mut inserted: HashSet<String> = HashSet::with_capacity(records.len());
    for chunk in records.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(insert_head("usage_records", USAGE_COLUMNS));
        let mut rows = Vec::with_capacity(chunk.len());
        for (_, r) in chunk {
            rows.push((
                *r,
                r.cost_breakdown.as_ref().map(to_json).transpose()?,
                to_json(&r.metadata)?,
                to_json(&r.budgets)?,
            ));
        }
        q.push_values(rows, |mut b, (r, breakdown, metadata, budgets)| {
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
                .push_bind(r.cost.map(money))
                .push_bind(r.priced)
                .push_bind(breakdown)
                .push_bind(r.price_ref.clone())
                .push_bind(r.request_id.clone())
                .push_bind(ts(r.timestamp))
                .push_bind(ts(r.recorded_at))
                .push_bind(metadata)
                .push_bind(budgets);
        });
        q.push(" ON CONFLICT (request_id) DO NOTHING RETURNING id");
        for row in q.build().fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get::<String, _>("id")?);
        }
    }
    // Two records with the same new request_id in one batch: the first wins, as it would
    // have one write at a time.
    for (i, r) in &records {
        if !inserted.contains(&r.id.to_string()) {
            outcomes[*i] = WriteOutcome::DuplicateRequest;
        }
    }
    let live = |i: usize| outcomes[i] == WriteOutcome::Done;

    let charges: Vec<&Charge> = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| live(*i))
        .flat_map(|(_, op)| if let WriteOp::Record { charges, .. } = op { charges.iter() } else { [].iter() })
        .collect();
    for chunk in charges.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(insert_head("charges", CHARGE_COLUMNS));
        q.push_values(chunk, |mut b, c| {
            b.push_bind(c.record_id.to_string())
                .push_bind(c.policy_id.to_string())
                .push_bind(c.budget_id.to_string())
                .push_bind(c.window_key.clone())
                .push_bind(money(c.cost))
                .push_bind(tokens_in(c.tokens));
        });
        q.build().execute(&mut *conn).await?;
    }

    // Hold shrinks: summed per hold first (shrinks commute, and clamping at zero once after
    // the sum ends the same as clamping after each), then applied to the stored values. The
    // arithmetic is done here in exact decimals, the writer being the only one.
    let mut shrinks: HashMap<(Uuid, Uuid), (Decimal, u64)> = HashMap::new();
    for op in ops.iter().enumerate().filter(|(i, _)| live(*i)).map(|(_, op)| op) {
        if let WriteOp::Record { hold_shrinks, .. } = op {
            for u in hold_shrinks {
                let entry = shrinks.entry((u.allocation_id, u.policy_id)).or_insert((Decimal::ZERO, 0));
                entry.0 += u.cost;
                entry.1 = entry.1.saturating_add(u.tokens);
            }
        }
    }
    let shrunk_allocations: Vec<Uuid> =
        shrinks.keys().map(|(allocation_id, _)| *allocation_id).collect::<HashSet<_>>().into_iter().collect();
    let mut updates: Vec<(Uuid, Uuid, Decimal, u64)> = Vec::with_capacity(shrinks.len());
    for chunk in shrunk_allocations.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT allocation_id, policy_id, cost, tokens FROM holds WHERE allocation_id IN (");
        let mut ids = q.separated(", ");
        for id in chunk {
            ids.push_bind(id.to_string());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let key = (row.id("allocation_id")?, row.id("policy_id")?);
            // Released or expired meanwhile: nothing is held any more.
            let Some((cost, tokens)) = shrinks.get(&key) else { continue };
            let held_cost = row.money("cost")?;
            let held_tokens = row.tokens("tokens")?;
            updates.push((key.0, key.1, (held_cost - cost).max(Decimal::ZERO), held_tokens.saturating_sub(*tokens)));
        }
    }
    for chunk in updates.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("UPDATE holds SET cost = v.column3, tokens = v.column4 FROM (");
        q.push_values(chunk, |mut b, (allocation_id, policy_id, cost, tokens)| {
            b.push_bind(allocation_id.to_string())
                .push_bind(policy_id.to_string())
                .push_bind(money(*cost))
                .push_bind(tokens_in(*tokens));
        });
        q.push(") AS v WHERE holds.allocation_id = v.column1 AND holds.policy_id = v.column2");
        q.build().execute(&mut *conn).await?;
    }

    // Lease extensions: rare, one pair of statements each.
    for op in ops {
        if let WriteOp::Extend { allocation_id, expires_at, at } = op {
            sqlx::query(crate::storage::queries::EXTEND_ALLOCATION)
                .bind(ts(*expires_at))
                .bind(allocation_id.to_string())
                .bind(ts(*at))
                .execute(&mut *conn)
                .await?;
            sqlx::query(crate::storage::queries::EXTEND_HOLDS)
                .bind(ts(*expires_at))
                .bind(allocation_id.to_string())
                .execute(&mut *conn)
                .await?;
        }
    }

    let closes: Vec<(&Uuid, &AllocationStatus, &DateTime<Utc>)> = ops
        .iter()
        .filter_map(|op| {
            if let WriteOp::Close { allocation_id, status, at } = op { Some((allocation_id, status, at)) } else { None }
        })
        .collect();
    for chunk in closes.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("UPDATE allocations SET status = v.column2, released_at = v.column3 FROM (");
        q.push_values(chunk, |mut b, (id, status, at)| {
            b.push_bind(id.to_string()).push_bind(status.as_str()).push_bind(ts(**at));
        });
        // An expiry closes only a lease that has run out: one extended since stays active.
        q.push(
            ") AS v WHERE allocations.id = v.column1 AND allocations.status = 'active' \
             AND (v.column2 <> 'expired' OR allocations.expires_at <= v.column3)",
        );
        q.build().execute(&mut *conn).await?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM holds WHERE allocation_id IN (");
        let mut ids = q.separated(", ");
        for (id, _, _) in chunk {
            ids.push_bind(id.to_string());
        }
        q.push(") AND allocation_id NOT IN (SELECT id FROM allocations WHERE status = 'active')");
        q.build().execute(&mut *conn).await?;
    }

    // Stand-alone alerts, and those raised by a usage record that was stored (a duplicate's
    // alerts go with it).
    let alerts: Vec<&Alert> = ops
        .iter()
        .enumerate()
        .flat_map(|(i, op)| match op {
            WriteOp::Alert(alert) => std::slice::from_ref(alert).iter(),
            WriteOp::Record { alerts, .. } if live(i) => alerts.iter(),
            _ => [].iter(),
        })
        .collect();
    for chunk in alerts.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(insert_head("alerts", ALERT_COLUMNS));
        let mut rows = Vec::with_capacity(chunk.len());
        for a in chunk {
            rows.push((*a, to_json(&a.details)?));
        }
        q.push_values(rows, |mut b, (a, details)| {
            b.push_bind(a.id.to_string())
                .push_bind(a.severity.as_str())
                .push_bind(a.kind.as_str())
                .push_bind(a.budget_id.map(|x| x.to_string()))
                .push_bind(a.policy_id.map(|x| x.to_string()))
                .push_bind(a.message.clone())
                .push_bind(details)
                .push_bind(ts(a.created_at))
                .push_bind(a.acknowledged)
                .push_bind(a.acknowledged_at.map(ts))
                .push_bind(a.dedup_key.clone())
                .push_bind(a.window_end.map(ts));
        });
        // An alert whose key is stored already (the same crossing seen again) is dropped.
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(outcomes)
}
