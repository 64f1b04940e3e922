//! Allocate: reserve an estimate in every matching budget, all or nothing, then make the
//! grant durable.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, instrument};
use uuid::Uuid;

use super::*;
use crate::api::*;
use crate::budgets::ReserveRequest;
use crate::domain::*;
use crate::error::EngineError;
use crate::pricing::Usage;
use crate::storage::{AllocationFilter, WriteOp};

/// An allocation request, checked and priced.
pub(super) struct EstimatedCall {
    pub call: CallScope,
    /// None when the model has no price (and no amount was given).
    pub cost: Option<Decimal>,
    pub tokens: u64,
    pub priority: u8,
}

impl Engine {
    // ---- allocations ------------------------------------------------------------------

    #[instrument(target = "allocation", level = "debug", skip_all, fields(component = %req.component, model = %req.model))]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn allocate(&self, req: AllocationRequest) -> Result<AllocationGrant, EngineError> {
        let engine = self.clone();
        // The request moves into the task; what an event names is kept only when someone listens.
        let (component, provider, model) = if self.inner.events.has_listeners() {
            (req.component.clone(), req.provider.clone(), req.model.clone())
        } else {
            Default::default()
        };
        let result = tokio::spawn(async move { engine.allocate_to_end(req).await })
            .await
            .map_err(|e| EngineError::Internal(format!("allocate task: {e}")))?;
        match &result {
            Ok(grant) => self.inner.events.publish(crate::events::EventKind::AllocationGranted, || {
                serde_json::json!({"allocation_id": grant.id, "component": component, "provider": provider,
                    "model": model, "reserved_cost": grant.reserved_cost.to_string(),
                    "reserved_tokens": grant.reserved_tokens, "expires_at": grant.expires_at,
                    "budgets": grant.budgets.iter().map(|b| b.budget_id).collect::<Vec<_>>()})
            }),
            Err(denied @ (EngineError::BudgetExceeded(_) | EngineError::Unpriced(_))) => {
                self.inner.events.publish(crate::events::EventKind::AllocationDenied, || {
                    serde_json::json!({"component": component, "provider": provider, "model": model,
                        "code": denied.code(), "message": denied.to_string()})
                })
            }
            Err(_) => {}
        }
        result
    }

    /// A denial is alerted once per policy window (the alert's key), and in the background:
    /// the caller's 402 never waits for the alert's write.
    fn alert_denial(&self, denied: &EngineError, call: &CallScope, at: chrono::DateTime<chrono::Utc>) {
        let (budget_id, policy_id, message, details) = match denied {
            EngineError::BudgetExceeded(ex) => (
                ex.budget_id,
                ex.policy,
                format!(
                    "budget '{}' {} policy refused an allocation for {}: {} {} requested, {} of {} remains",
                    ex.budget, ex.period, call.component, ex.requested, ex.limit_kind, ex.remaining, ex.limit
                ),
                serde_json::json!({"reason": "limit", "component": call.component, "provider": call.provider,
                    "model": call.model, "limit_kind": ex.limit_kind, "limit": ex.limit.to_string(),
                    "remaining": ex.remaining.to_string(), "requested": ex.requested.to_string()}),
            ),
            EngineError::Unpriced(u) => (
                u.budget_id,
                u.policy,
                format!(
                    "budget '{}' {} policy refused an allocation for {}: no price is known for {}/{}",
                    u.budget, u.period, call.component, u.provider, u.model
                ),
                serde_json::json!({"reason": "unpriced_model", "component": call.component,
                    "provider": u.provider, "model": u.model}),
            ),
            _ => return,
        };
        let window = self
            .snapshot()
            .iter()
            .flat_map(|b| b.policies.iter())
            .find(|p| p.id == policy_id)
            .and_then(|p| crate::period::PolicyClock::new(p, self.inner.config.default_timezone).ok())
            .and_then(|clock| clock.window(at, call.context_id.as_deref()).ok());
        let (window, window_end) = window.map(|w| (w.key, w.end)).unwrap_or_default();
        let alert = Alert {
            id: Uuid::now_v7(),
            severity: Severity::Warning,
            kind: AlertKind::AllocationDenied,
            budget_id: Some(budget_id),
            policy_id: Some(policy_id),
            message,
            details,
            created_at: at,
            acknowledged: false,
            acknowledged_at: None,
            dedup_key: Some(Alert::crossing_key(AlertKind::AllocationDenied, policy_id, &window)),
            window_end,
            resolved_at: None,
        };
        let engine = self.clone();
        tokio::spawn(async move {
            match engine.inner.repo.write(WriteOp::Alert(alert)).await {
                Ok(_) => engine.alerts_stored(),
                Err(e) => tracing::warn!(target: "engine", error = %e, "allocation_denied alert not stored"),
            }
        });
    }

    /// Checks an allocation request and prices its estimate (shared by `allocate` and
    /// `check_allocation`).
    pub(super) fn estimate_call(
        &self,
        req: &AllocationRequest,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<EstimatedCall, EngineError> {
        let call = CallScope::new(
            req.component.clone(),
            req.context_id.clone(),
            req.provider.clone(),
            req.model.clone(),
            req.task_type.clone(),
            req.tier.clone(),
        )?;
        let priority = req.priority.unwrap_or(5);
        if !(1..=10).contains(&priority) {
            return Err(EngineError::invalid("priority", "priority must be between 1 and 10"));
        }
        let input = req.input_tokens.unwrap_or(0);
        let output = req.max_output_tokens.unwrap_or(0);
        check_tokens("input_tokens", input)?;
        check_tokens("max_output_tokens", output)?;
        let tokens = input + output;
        let cost = match req.amount {
            Some(amount) => Some(crate::money::check_bounds("amount", amount, crate::money::MAX_AMOUNT)?),
            None => {
                if req.input_tokens.is_none() && req.max_output_tokens.is_none() {
                    return Err(EngineError::invalid(
                        "input_tokens",
                        "give input_tokens and max_output_tokens, or an amount",
                    ));
                }
                let usage = Usage { input_tokens: input, output_tokens: output, ..Usage::default() };
                self.price(&call, &usage, now, req.service_tier.unwrap_or_default()).cost()
            }
        };
        Ok(EstimatedCall { call, cost, tokens, priority })
    }

    /// When a lease of `ttl_seconds` (default: the configured default) taken at `now` ends.
    pub(super) fn lease_end(&self, ttl_seconds: Option<u64>, now: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
        let ttl = match ttl_seconds {
            Some(0) => return Err(EngineError::invalid("ttl_seconds", "ttl_seconds must be at least 1")),
            Some(s) if s > self.inner.config.max_ttl.as_secs() => {
                return Err(EngineError::invalid(
                    "ttl_seconds",
                    format!("ttl_seconds must be at most {}", self.inner.config.max_ttl.as_secs()),
                ));
            }
            Some(s) => Duration::from_secs(s),
            None => self.inner.config.default_ttl,
        };
        Ok(now + ChronoDuration::from_std(ttl).unwrap_or_else(|_| ChronoDuration::seconds(300)))
    }

    async fn allocate_to_end(&self, req: AllocationRequest) -> Result<AllocationGrant, EngineError> {
        self.sync_catalog().await?;
        let now = crate::domain::now();
        let EstimatedCall { call, cost, tokens, priority } = self.estimate_call(&req, now)?;
        let expires_at = self.lease_end(req.ttl_seconds, now)?;
        let allocation_id = Uuid::now_v7();
        let budgets = self.matching_budgets(&call);
        let mut holds = Vec::new();
        let mut reservations = Vec::new();
        let mut reserved_in: Vec<Uuid> = Vec::new();
        for budget in &budgets {
            let request =
                ReserveRequest { allocation_id, call: call.clone(), at: now, cost, tokens, expires_at, priority };
            match self.inner.actors.reserve(budget, request).await {
                Ok(budget_holds) => {
                    reservations.push(BudgetReservation {
                        budget_id: budget.id,
                        budget: budget.name.clone(),
                        policies: budget_holds.iter().map(|h| h.policy_id).collect(),
                    });
                    holds.extend(budget_holds);
                    reserved_in.push(budget.id);
                }
                Err(denied) => {
                    for id in reserved_in {
                        self.inner.actors.unreserve(id, allocation_id);
                    }
                    self.alert_denial(&denied, &call, now);
                    metrics::counter!("budget_allocations_total", "result" => "denied").increment(1);
                    debug!(target: "allocation", reason = %denied, "allocation denied");
                    return Err(denied);
                }
            }
        }
        let checks = self.hard_checks(&budgets, &holds, priority);
        let allocation = Allocation {
            id: allocation_id,
            component: call.component.clone(),
            context_id: call.context_id.clone(),
            provider: call.provider.clone(),
            model: call.model.clone(),
            task_type: call.task_type.clone(),
            tier: call.tier.clone(),
            priority,
            reserved_cost: cost.unwrap_or(Decimal::ZERO),
            reserved_tokens: tokens,
            priced: cost.is_some(),
            used_cost: Decimal::ZERO,
            used_tokens: 0,
            status: AllocationStatus::Active,
            budgets: reserved_in.clone(),
            created_at: now,
            expires_at,
            released_at: None,
        };
        let written = self.inner.repo.write(WriteOp::Allocate { allocation: allocation.clone(), holds, checks }).await;
        if let Err(e) = written {
            for id in &reserved_in {
                self.inner.actors.unreserve(*id, allocation_id);
            }
            if matches!(e, EngineError::BudgetExceeded(_)) {
                metrics::counter!("budget_allocations_total", "result" => "denied").increment(1);
                self.alert_denial(&e, &call, now);
            }
            return Err(e);
        }
        if !self.inner.repo.is_shared() {
            self.active().insert(allocation_id, allocation.clone());
        }
        metrics::counter!("budget_allocations_total", "result" => "granted").increment(1);
        debug!(target: "allocation", allocation = %allocation_id, cost = ?cost, "allocation granted");
        Ok(AllocationGrant {
            id: allocation_id,
            status: "granted".into(),
            reserved_cost: allocation.reserved_cost,
            reserved_tokens: tokens,
            priced: allocation.priced,
            expires_at,
            budgets: reservations,
            allocation,
        })
    }

    fn hard_checks(&self, budgets: &[Arc<Budget>], holds: &[crate::domain::Hold], priority: u8) -> Vec<HardCheck> {
        if priority >= crate::domain::BYPASS_PRIORITY {
            return Vec::new();
        }
        holds
            .iter()
            .filter_map(|h| {
                let budget = budgets.iter().find(|b| b.id == h.budget_id)?;
                let policy = budget.policies.iter().find(|p| p.id == h.policy_id)?;
                (policy.enforcement == Enforcement::HardLimit).then(|| HardCheck {
                    budget_id: budget.id,
                    budget_name: budget.name.clone(),
                    policy_id: policy.id,
                    period: policy.period.as_str().into(),
                    window_key: h.window_key.clone(),
                    cost_limit: policy.cost_limit,
                    token_limit: policy.token_limit,
                    cost: h.cost,
                    tokens: h.tokens,
                })
            })
            .collect()
    }

    pub async fn get_allocation(&self, id: Uuid) -> Result<Allocation, EngineError> {
        if let Some(a) = self.cached_allocation(id) {
            return Ok(a);
        }
        self.inner.repo.get_allocation(id).await?.ok_or_else(|| EngineError::not_found("allocation", id))
    }

    pub async fn list_allocations(&self, query: &AllocationsQuery) -> Result<Vec<Allocation>, EngineError> {
        let status = query.status.as_deref().map(|s| AllocationStatus::parse_input("status", s)).transpose()?;
        let filter = AllocationFilter {
            context_id: query.context_id.clone(),
            status,
            limit: crate::api::check_limit(query.limit, 100)?,
        };
        self.inner.repo.list_allocations(&filter).await
    }
}
