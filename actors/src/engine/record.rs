//! Record: price a usage, settle it in every matching budget's actor, and make it durable
//! before answering; undo exactly what was settled if the write fails.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::*;
use crate::api::*;
use crate::budgets::{SettleOutcome, SettleRequest, SettledBy};
use crate::domain::*;
use crate::error::EngineError;
use crate::prices::Priced;
use crate::pricing::{ServiceTier, Usage};
use crate::storage::{WriteOp, WriteOutcome};

/// How a record's cost is found.
pub(super) enum Costing {
    /// Priced now from the price book, with the price in force at the call's time.
    Live,
    /// Kept as its source recorded it (a migration): `cost` null when the source kept none;
    /// `total_tokens` when the source kept a total without its input/output split.
    Imported { source: String, cost: Option<Decimal>, total_tokens: Option<u64> },
}

/// What one budget's actor added in memory for a usage record, and which actor it was: taken
/// back exactly if the write fails, confirmed if it commits.
struct Settled {
    budget_id: Uuid,
    actor: SettledBy,
    charges: Vec<Charge>,
    hold_shrinks: Vec<HoldShrink>,
}

impl Engine {
    // ---- usage ------------------------------------------------------------------------

    pub(super) fn price(&self, call: &CallScope, usage: &Usage, at: DateTime<Utc>, tier: ServiceTier) -> Priced {
        self.inner.prices.cost(&call.provider, &call.model, usage, at, tier)
    }

    #[instrument(target = "engine", level = "debug", skip_all)]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn record_usage(&self, req: UsageRequest) -> Result<UsageResponse, EngineError> {
        let engine = self.clone();
        let recorded = tokio::spawn(async move { engine.record_usage_to_end(req, Costing::Live).await })
            .await
            .map_err(|e| EngineError::Internal(format!("record_usage task: {e}")))?;
        if let Ok(r) = &recorded
            && r.created
        {
            self.publish_recorded(r);
        }
        recorded
    }

    pub(super) fn publish_recorded(&self, r: &UsageResponse) {
        self.inner.events.publish(crate::events::EventKind::UsageRecorded, || {
            serde_json::json!({"usage_id": r.id, "allocation_id": r.record.allocation_id,
                "component": r.record.component, "provider": r.record.provider, "model": r.record.model,
                "cost": r.cost.map(|c| c.to_string()), "priced": r.priced, "total_tokens": r.record.total_tokens,
                "budgets": r.budgets.iter().map(|b| b.budget_id).collect::<Vec<_>>()})
        });
    }

    pub(super) async fn record_usage_to_end(
        &self,
        req: UsageRequest,
        costing: Costing,
    ) -> Result<UsageResponse, EngineError> {
        self.sync_catalog().await?;
        let now = crate::domain::now();
        let allocation = match req.allocation_id {
            Some(id) => Some(match self.cached_allocation(id) {
                Some(a) => a,
                None => self.inner.repo.get_allocation(id).await?.ok_or_else(|| EngineError::Invalid {
                    field: "allocation_id".into(),
                    message: format!("allocation '{id}' does not exist"),
                })?,
            }),
            None => None,
        };
        let pick = |given: Option<String>, from_alloc: Option<&String>, field: &str| -> Result<String, EngineError> {
            given
                .filter(|v| !v.is_empty())
                .or_else(|| from_alloc.cloned())
                .ok_or_else(|| EngineError::invalid(field, format!("{field} is required without an allocation_id")))
        };
        let call = CallScope::new(
            pick(req.component, allocation.as_ref().map(|a| &a.component), "component")?,
            req.context_id.or_else(|| allocation.as_ref().and_then(|a| a.context_id.clone())),
            pick(req.provider, allocation.as_ref().map(|a| &a.provider), "provider")?,
            pick(req.model, allocation.as_ref().map(|a| &a.model), "model")?,
            req.task_type.or_else(|| allocation.as_ref().and_then(|a| a.task_type.clone())),
            req.tier.or_else(|| allocation.as_ref().map(|a| a.tier.clone())),
        )?;
        let usage = usage_from_fields(
            req.usage,
            [
                ("input_tokens", req.input_tokens),
                ("output_tokens", req.output_tokens),
                ("cache_read_tokens", req.cache_read_tokens),
                ("cache_write_tokens", req.cache_write_tokens),
                ("cache_write_1h_tokens", req.cache_write_1h_tokens),
                ("reasoning_tokens", req.reasoning_tokens),
            ],
            !matches!(costing, Costing::Imported { total_tokens: Some(_), .. }),
        )?;
        let timestamp = call_time(req.timestamp, now)?;
        if let Some(rid) = &req.request_id {
            crate::domain::text::check_identifier("request_id", rid, crate::domain::text::IDENT_MAX)?;
            if let Some(existing) = self.inner.repo.usage_by_request_id(rid).await? {
                return self.replay(existing).await;
            }
        }
        let (cost, cost_breakdown, price_ref, tokens, imported) = match costing {
            Costing::Live => {
                let priced = self.price(&call, &usage, timestamp, req.service_tier.unwrap_or_default());
                (priced.cost(), priced.breakdown, priced.price_ref, usage.total_tokens(), false)
            }
            Costing::Imported { source, cost, total_tokens } => {
                (cost, None, Some(format!("imported:{source}")), counted_tokens(total_tokens, &usage)?, true)
            }
        };
        let record_id = Uuid::now_v7();
        let budgets = self.matching_budgets(&call);
        let mut charges = Vec::new();
        let mut hold_shrinks = Vec::new();
        let mut alerts = Vec::new();
        // What each budget's actor added in memory, to take back exactly if the write fails.
        let mut undo: Vec<Settled> = Vec::new();
        let mut standings: Vec<BudgetEffect> = Vec::with_capacity(budgets.len());
        for budget in &budgets {
            let request = SettleRequest {
                record_id,
                allocation_id: allocation.as_ref().map(|a| a.id),
                call: call.clone(),
                at: timestamp,
                cost,
                tokens,
            };
            let (outcome, actor): (SettleOutcome, SettledBy) = match self.inner.actors.settle(budget, request).await {
                Ok(answer) => answer,
                Err(e) => {
                    self.unsettle(undo);
                    return Err(e);
                }
            };
            undo.push(Settled {
                budget_id: budget.id,
                actor,
                charges: outcome.charges.clone(),
                hold_shrinks: outcome.hold_shrinks.clone(),
            });
            standings.push(BudgetEffect {
                budget_id: budget.id,
                budget: budget.name.clone(),
                policies: outcome.statuses,
            });
            charges.extend(outcome.charges);
            hold_shrinks.extend(outcome.hold_shrinks);
            alerts.extend(outcome.alerts);
        }
        if imported {
            alerts.retain(|a| news_for_import(a, now));
        } else if cost.is_none() {
            alerts.push(Alert {
                id: Uuid::now_v7(),
                severity: Severity::Warning,
                kind: AlertKind::UnpricedModel,
                budget_id: None,
                policy_id: None,
                message: format!(
                    "no price is known for {}/{}; usage recorded with cost null",
                    call.provider, call.model
                ),
                details: json!({"provider": call.provider, "model": call.model, "record_id": record_id}),
                created_at: now,
                acknowledged: false,
                acknowledged_at: None,
                // One a model a day: every unpriced call is recorded, but not alerted again.
                dedup_key: Some(format!(
                    "{}:{}/{}:{}",
                    AlertKind::UnpricedModel,
                    call.provider,
                    call.model,
                    timestamp.date_naive()
                )),
                window_end: None,
                resolved_at: None,
            });
        }
        let record = UsageRecord {
            id: record_id,
            allocation_id: allocation.as_ref().map(|a| a.id),
            component: call.component.clone(),
            context_id: call.context_id.clone(),
            provider: call.provider.clone(),
            model: call.model.clone(),
            task_type: call.task_type.clone(),
            tier: call.tier.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cache_write_1h_tokens: usage.cache_write_1h_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            total_tokens: tokens,
            cost,
            priced: cost.is_some(),
            cost_breakdown,
            price_ref,
            request_id: req.request_id.clone(),
            timestamp,
            recorded_at: now,
            metadata: req.metadata.map(serde_json::Value::Object).unwrap_or_else(|| json!({})),
            budgets: undo.iter().map(|u| u.budget_id).collect(),
        };
        // The record's alerts commit with it, so a crash cannot keep one and lose the other.
        // With a shared database this daemon's actors saw only their share: their threshold
        // crossings are judged again below on the database sums, after the commit.
        let shared = self.inner.repo.is_shared();
        if shared {
            alerts.retain(|a| a.kind == AlertKind::UnpricedModel);
        }
        // Logged once committed (a duplicate request id stores neither record nor alerts).
        let raised: Vec<(AlertKind, String)> = alerts.iter().map(|a| (a.kind, a.message.clone())).collect();
        let outcome = self
            .inner
            .repo
            .write(WriteOp::Record { record: Box::new(record.clone()), charges, hold_shrinks, alerts })
            .await;
        match outcome {
            Ok(WriteOutcome::Done) => {
                if !raised.is_empty() {
                    self.alerts_stored();
                }
                for (kind, message) in raised {
                    info!(target: "engine", %kind, %message, "alert");
                }
                for settled in &undo {
                    let windows = settled.charges.iter().map(|c| (c.policy_id, c.window_key.clone())).collect();
                    // To a dead actor this is dropped, rightly: its successor read storage.
                    settled.actor.settle_done(windows);
                }
            }
            Ok(WriteOutcome::DuplicateRequest) => {
                // A concurrent record with the same request_id won: undo our in-memory charge.
                self.unsettle(undo);
                let rid = req.request_id.unwrap_or_default();
                let existing = self
                    .inner
                    .repo
                    .usage_by_request_id(&rid)
                    .await?
                    .ok_or_else(|| EngineError::Internal("duplicate request id vanished".into()))?;
                return self.replay(existing).await;
            }
            Err(e) => {
                self.unsettle(undo);
                return Err(e);
            }
        }
        if let Some(a) = allocation.as_ref()
            && let Some(entry) = self.active().get_mut(&a.id)
        {
            entry.used_cost += cost.unwrap_or(Decimal::ZERO);
            entry.used_tokens += tokens;
        }
        metrics::counter!("budget_usage_records_total", "priced" => if cost.is_some() { "true" } else { "false" })
            .increment(1);
        // Embedded database: the actors' answers are the truth. Shared: read the database sums.
        let effects = if shared { self.effects(&call, &budgets, timestamp).await? } else { standings };
        if shared {
            // The database sums see every daemon's usage. These crossings are stored after
            // the record, in their own commit (see Known limitations).
            for alert in shared_crossings(&budgets, &effects, cost.unwrap_or(Decimal::ZERO), tokens, timestamp) {
                if imported && !news_for_import(&alert, now) {
                    continue;
                }
                let key = alert.dedup_key.clone().unwrap_or_default();
                if self.already_raised(&key) {
                    continue;
                }
                info!(target: "engine", kind = %alert.kind, message = %alert.message, "alert");
                match self.inner.repo.write(WriteOp::Alert(alert)).await {
                    Ok(_) => {
                        self.remember_raised(key);
                        self.alerts_stored();
                    }
                    Err(e) => warn!(target: "engine", error = %e, "alert not stored"),
                }
            }
        }
        Ok(UsageResponse {
            id: record.id,
            cost,
            priced: record.priced,
            cost_breakdown: record.cost_breakdown.clone(),
            created: true,
            budgets: effects,
            record,
        })
    }

    /// Takes back exactly what settles added in memory (a failed or duplicate write), without
    /// disturbing anything else the actors accepted meanwhile.
    fn unsettle(&self, undo: Vec<Settled>) {
        for Settled { actor, charges, hold_shrinks, .. } in undo {
            // To a dead actor this is dropped, rightly: its successor never had the change.
            actor.unsettle(charges, hold_shrinks);
        }
    }

    async fn replay(&self, existing: UsageRecord) -> Result<UsageResponse, EngineError> {
        let budgets: Vec<Arc<Budget>> =
            self.snapshot().iter().filter(|b| existing.budgets.contains(&b.id)).cloned().collect();
        let call = CallScope {
            component: existing.component.clone(),
            context_id: existing.context_id.clone(),
            provider: existing.provider.clone(),
            model: existing.model.clone(),
            task_type: existing.task_type.clone(),
            tier: existing.tier.clone(),
        };
        let effects = self.effects(&call, &budgets, existing.timestamp).await?;
        Ok(UsageResponse {
            id: existing.id,
            cost: existing.cost,
            priced: existing.priced,
            cost_breakdown: existing.cost_breakdown.clone(),
            created: false,
            budgets: effects,
            record: existing,
        })
    }

    pub(super) async fn effects(
        &self,
        call: &CallScope,
        budgets: &[Arc<Budget>],
        at: DateTime<Utc>,
    ) -> Result<Vec<BudgetEffect>, EngineError> {
        let mut out = Vec::with_capacity(budgets.len());
        for budget in budgets {
            let policies = self.policy_statuses(budget, Some(call), call.context_id.as_deref(), at).await?;
            out.push(BudgetEffect { budget_id: budget.id, budget: budget.name.clone(), policies });
        }
        Ok(out)
    }
}

/// When a recorded call happened: the time given (within storage's range, at most 5 minutes
/// ahead), else now.
pub(super) fn call_time(given: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
    let timestamp = given.map(|t| check_time("timestamp", t)).transpose()?.unwrap_or(now);
    if timestamp > now + ChronoDuration::minutes(5) {
        return Err(EngineError::invalid("timestamp", "timestamp is more than 5 minutes in the future"));
    }
    Ok(timestamp)
}

/// The tokens a record counts for: its counts, or a source's total kept without its split
/// (which cannot be below the counts given).
pub(super) fn counted_tokens(total: Option<u64>, usage: &Usage) -> Result<u64, EngineError> {
    match total {
        Some(total) if total < usage.total_tokens() => Err(EngineError::invalid(
            "total_tokens",
            format!("total_tokens ({total}) is below the counts given ({})", usage.total_tokens()),
        )),
        Some(total) => {
            check_tokens("total_tokens", total)?;
            Ok(total)
        }
        None => Ok(usage.total_tokens()),
    }
}

/// The threshold levels the database sums reached after one record was committed (each level
/// is one alert by its key), and its run-rate projection.
fn shared_crossings(
    budgets: &[Arc<Budget>],
    effects: &[BudgetEffect],
    cost: Decimal,
    tokens: u64,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for (budget, effect) in budgets.iter().zip(effects) {
        for status in &effect.policies {
            let Some(policy) = budget.policies.iter().find(|p| p.id == status.policy_id) else { continue };
            let after = crate::domain::Totals {
                settled_cost: status.settled,
                settled_tokens: status.tokens_settled,
                ..Default::default()
            };
            let before = crate::domain::Totals {
                settled_cost: status.settled - cost,
                settled_tokens: status.tokens_settled.saturating_sub(tokens),
                ..Default::default()
            };
            // Every level the database sums have reached, not only those this record crossed:
            // records of several daemons commit and read their sums in no fixed order, so two
            // may both read the sum after both, and the crossing between them would be missed.
            // The alert keys keep each level one alert.
            let reached = crate::domain::crossing_alerts(
                budget,
                policy,
                &status.window_key,
                status.window_end,
                &crate::domain::Totals::default(),
                &after,
            );
            out.extend(reached);
            out.extend(crate::domain::projection_alert(
                budget,
                policy,
                &status.window_key,
                status.window_start,
                status.window_end,
                &before,
                &after,
                at,
            ));
        }
    }
    out
}

/// Whether an imported record's alert is news. Imports are history its source already
/// reported: only a window still open is news. A per-session window never ends by the clock,
/// but the old manager's sessions are over, so their crossings raise nothing; a total window
/// (all time) is still open.
fn news_for_import(alert: &Alert, now: DateTime<Utc>) -> bool {
    match alert.window_end {
        Some(end) => end > now,
        None => !alert.details.get("window").and_then(|w| w.as_str()).is_some_and(crate::period::is_session_window),
    }
}
