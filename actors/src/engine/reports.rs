//! Reads: a budget's standing, usage records and summaries, alerts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

use super::*;
use crate::api::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::storage::UsageFilter;

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
        let names: HashMap<Uuid, String> = self.snapshot().iter().map(|b| (b.id, b.name.clone())).collect();
        let mut rows: BTreeMap<Vec<String>, SummaryRow> = BTreeMap::new();
        let mut filter = UsageFilter { from, to, limit: 5000, ..UsageFilter::default() };
        let (mut total_cost, mut total_records) = (Decimal::ZERO, 0u64);
        loop {
            let page = self.inner.repo.list_usage(&filter).await?;
            let Some(last) = page.last() else { break };
            filter.after = Some(last.id);
            for r in &page {
                let budget_groups: Vec<String> = if group_by.iter().any(|g| g == "budget") {
                    if r.budgets.is_empty() {
                        vec!["(none)".into()]
                    } else {
                        r.budgets.iter().map(|b| names.get(b).cloned().unwrap_or_else(|| b.to_string())).collect()
                    }
                } else {
                    vec![String::new()]
                };
                total_records += 1;
                total_cost += r.cost.unwrap_or(Decimal::ZERO);
                for budget_name in &budget_groups {
                    let values: Vec<String> = group_by
                        .iter()
                        .map(|g| match g.as_str() {
                            "provider" => r.provider.clone(),
                            "model" => r.model.clone(),
                            "component" => r.component.clone(),
                            "task_type" => r.task_type.clone().unwrap_or_default(),
                            "context_id" => r.context_id.clone().unwrap_or_default(),
                            "budget" => budget_name.clone(),
                            _ => r.timestamp.format("%Y-%m-%d").to_string(),
                        })
                        .collect();
                    let row = rows.entry(values.clone()).or_insert_with(|| SummaryRow {
                        group: group_by
                            .iter()
                            .cloned()
                            .zip(values.into_iter().map(serde_json::Value::String))
                            .collect(),
                        records: 0,
                        cost: Decimal::ZERO,
                        unpriced_records: 0,
                        input_tokens: 0,
                        output_tokens: 0,
                        cache_read_tokens: 0,
                        cache_write_tokens: 0,
                        total_tokens: 0,
                    });
                    row.records += 1;
                    match r.cost {
                        Some(c) => row.cost += c,
                        None => row.unpriced_records += 1,
                    }
                    row.input_tokens += r.input_tokens;
                    row.output_tokens += r.output_tokens;
                    row.cache_read_tokens += r.cache_read_tokens;
                    row.cache_write_tokens += r.cache_write_tokens + r.cache_write_1h_tokens;
                    row.total_tokens += r.total_tokens;
                }
            }
        }
        let mut rows: Vec<SummaryRow> = rows.into_values().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.cost));
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
