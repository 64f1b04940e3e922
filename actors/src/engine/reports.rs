//! Reads: a budget's standing, usage records and summaries, alerts.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use super::*;
use crate::api::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::storage::{ReportKey, ReportSpec, UsageFilter};

impl Engine {
    /// Where each policy of a budget stands now (or at `at`).
    pub async fn budget_status(&self, id_or_name: &str, query: &StatusQuery) -> Result<BudgetStatus, EngineError> {
        self.sync_catalog().await?;
        let budget = self.find_budget(id_or_name)?;
        let at = query.at.map(|at| check_time("at", at)).transpose()?.unwrap_or_else(Utc::now);
        let policies = self.policy_statuses(&budget, None, query.context_id.as_deref(), at).await?;
        let state = PolicyState::worst(policies.iter().map(|p| p.state));
        Ok(BudgetStatus { budget_id: budget.id, budget: budget.name.clone(), state, policies, at })
    }

    /// Per-policy standing of `budget` (only the policies matching `call`, if given). With the
    /// embedded database the budget's actor answers from memory; with a shared database the
    /// sums are read from storage, which sees every daemon's holds and charges.
    pub(super) async fn policy_statuses(
        &self,
        budget: &Arc<Budget>,
        call: Option<&CallScope>,
        context_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Vec<PolicyStatus>, EngineError> {
        let wanted = |p: &Policy| call.is_none_or(|c| budget.scope.matches(c) && p.matches(c));
        if !self.inner.repo.is_shared() {
            return self.inner.actors.status(budget, at, context_id, call).await;
        }
        let mut out = Vec::new();
        for policy in budget.policies.iter().filter(|p| wanted(p)) {
            let clock = crate::period::PolicyClock::new(policy, self.inner.config.default_timezone)?;
            let window = clock.window(at, context_id)?;
            let totals = self.inner.repo.window_totals(policy.id, &window.key, crate::domain::now()).await?;
            out.push(crate::domain::policy_status(policy, &window, &totals));
        }
        Ok(out)
    }

    pub async fn get_usage(&self, id: Uuid) -> Result<UsageRecord, EngineError> {
        self.inner.repo.get_usage(id).await?.ok_or_else(|| EngineError::not_found("usage record", id))
    }

    pub async fn list_usage(&self, query: &UsageQuery) -> Result<UsagePage, EngineError> {
        let after = query
            .cursor
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| EngineError::invalid("cursor", format!("'{c}' is not a valid id"))))
            .transpose()?;
        let limit = crate::api::check_limit(query.limit, 100)?;
        let filter = UsageFilter {
            from: query.from,
            to: query.to,
            provider: query.provider.clone(),
            model: query.model.clone(),
            component: query.component.clone(),
            context_id: query.context_id.clone(),
            task_type: query.task_type.clone(),
            allocation_id: query.allocation_id,
            after,
            limit: limit + 1,
        };
        let mut records = self.inner.repo.list_usage(&filter).await?;
        let next_cursor = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(UsagePage { records, next_cursor })
    }

    /// Totals of usage in `[from, to)` grouped by any of provider, model, component,
    /// task_type, context_id, budget, day. Sums are exact decimals.
    pub async fn usage_summary(&self, query: &SummaryQuery) -> Result<UsageSummary, EngineError> {
        let (from, to, group_by) = (query.from, query.to, query.group_by_list());
        const KEYS: [&str; 7] = ["provider", "model", "component", "task_type", "context_id", "budget", "day"];
        for g in &group_by {
            if !KEYS.contains(&g.as_str()) {
                return Err(EngineError::invalid(
                    "group_by",
                    format!("cannot group by '{g}' (expected any of {})", KEYS.join(", ")),
                ));
            }
        }
        // Summed in the database, as every report is (see `crate::reports`).
        let keys: Vec<ReportKey> = group_by
            .iter()
            .map(|g| match g.as_str() {
                "provider" => ReportKey::Provider,
                "model" => ReportKey::Model,
                "component" => ReportKey::Component,
                "task_type" => ReportKey::TaskType,
                "context_id" => ReportKey::ContextId,
                "budget" => ReportKey::Budget,
                _ => ReportKey::UtcDay,
            })
            .collect();
        let spec = ReportSpec {
            from: from.unwrap_or_else(|| crate::domain::EARLIEST_TIME.parse().unwrap_or_default()),
            to: to.unwrap_or_else(|| crate::domain::LATEST_TIME.parse().unwrap_or_default()),
            group_by: keys.clone(),
            ..ReportSpec::default()
        };
        let names: HashMap<String, String> =
            self.snapshot().iter().map(|b| (b.id.to_string(), b.name.clone())).collect();
        let grouped = self.inner.repo.aggregate_usage(&spec).await?;
        let totals = self.inner.repo.aggregate_usage(&ReportSpec { group_by: Vec::new(), ..spec }).await?;
        let totals = totals.into_iter().next().map(|r| r.measures).unwrap_or_default();
        let (total_cost, total_records) = (totals.cost, totals.requests);
        let mut rows: Vec<SummaryRow> = grouped
            .into_iter()
            .map(|r| {
                let group = group_by
                    .iter()
                    .zip(&keys)
                    .zip(r.keys)
                    .map(|((name, key), value)| {
                        let value = match key {
                            ReportKey::Budget => match value {
                                Some(id) => names.get(&id).cloned().unwrap_or(id),
                                None => "(none)".into(),
                            },
                            _ => value.unwrap_or_default(),
                        };
                        (name.clone(), serde_json::Value::String(value))
                    })
                    .collect();
                let m = r.measures;
                SummaryRow {
                    group,
                    records: m.requests,
                    cost: m.cost,
                    unpriced_records: m.unpriced_requests,
                    input_tokens: m.input_tokens,
                    output_tokens: m.output_tokens,
                    cache_read_tokens: m.cache_read_tokens,
                    cache_write_tokens: m.cache_write_tokens + m.cache_write_1h_tokens,
                    total_tokens: m.total_tokens,
                }
            })
            .collect();
        // Highest cost first; ties in the order of their group values.
        let values =
            |r: &SummaryRow| r.group.values().map(|v| v.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();
        rows.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| values(a).cmp(&values(b))));
        Ok(UsageSummary { from, to, group_by, rows, total_cost, total_records })
    }

    /// Alerts newest first, filtered by kind, severity, budget (id or name), acknowledged and
    /// time.
    pub async fn list_alerts(&self, query: &AlertsQuery) -> Result<Vec<Alert>, EngineError> {
        let kind = query
            .kind
            .as_deref()
            .map(|k| {
                crate::domain::AlertKind::parse(k)
                    .ok_or_else(|| EngineError::invalid("kind", format!("unknown alert kind '{k}'")))
            })
            .transpose()?;
        let severity =
            query.severity.as_deref().map(|s| crate::domain::Severity::parse_input("severity", s)).transpose()?;
        let budget_id = match query.budget.as_deref() {
            Some(b) => {
                self.sync_catalog().await?;
                Some(self.find_budget(b)?.id)
            }
            None => None,
        };
        let since = query.since.map(|t| crate::domain::check_time("since", t)).transpose()?;
        let filter = crate::storage::AlertFilter {
            kind,
            severity,
            budget_id,
            acknowledged: query.acknowledged,
            since,
            limit: crate::api::check_limit(query.limit, 100)?,
        };
        self.inner.repo.list_alerts(&filter).await
    }

    /// Acknowledges an alert (again: keeps the first time).
    pub async fn acknowledge_alert(&self, id: Uuid) -> Result<Alert, EngineError> {
        self.inner
            .repo
            .acknowledge_alert(id, crate::domain::now())
            .await?
            .ok_or_else(|| EngineError::not_found("alert", id))
    }
}
