//! Policies: a limit, a period and an enforcement mode, with a scope filter.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::*;
use crate::error::EngineError;

/// How a policy reacts when its limit would be crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Deny allocations that would cross the limit.
    HardLimit,
    /// Allow, but raise an alert when the limit is crossed.
    SoftLimit,
    /// Allow, raise warnings only.
    Warn,
    /// Count, never act.
    Ignore,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::HardLimit => "hard_limit",
            Enforcement::SoftLimit => "soft_limit",
            Enforcement::Warn => "warn",
            Enforcement::Ignore => "ignore",
        }
    }

    pub fn parse(text: &str) -> Result<Self, EngineError> {
        match text {
            "hard_limit" | "hard" | "enforce" => Ok(Enforcement::HardLimit),
            "soft_limit" | "soft" => Ok(Enforcement::SoftLimit),
            "warn" => Ok(Enforcement::Warn),
            "ignore" => Ok(Enforcement::Ignore),
            other => Err(EngineError::invalid(
                "enforcement",
                format!("unknown enforcement '{other}' (expected hard_limit, soft_limit, warn or ignore)"),
            )),
        }
    }
}

/// The length of a policy's accounting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Hourly,
    Daily,
    /// Weeks start on Monday.
    Weekly,
    /// Months start on the 1st.
    Monthly,
    /// One window for all time.
    Total,
    /// One window per `context_id` (Apollo's per-session budgets).
    PerSession,
    /// Windows between consecutive fire times of the policy's `cron` expression.
    Cron,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Hourly => "hourly",
            PeriodKind::Daily => "daily",
            PeriodKind::Weekly => "weekly",
            PeriodKind::Monthly => "monthly",
            PeriodKind::Total => "total",
            PeriodKind::PerSession => "per_session",
            PeriodKind::Cron => "cron",
        }
    }

    pub fn parse(text: &str) -> Result<Self, EngineError> {
        match text {
            "hourly" => Ok(PeriodKind::Hourly),
            "daily" => Ok(PeriodKind::Daily),
            "weekly" => Ok(PeriodKind::Weekly),
            "monthly" => Ok(PeriodKind::Monthly),
            "total" => Ok(PeriodKind::Total),
            "per_session" => Ok(PeriodKind::PerSession),
            "cron" => Ok(PeriodKind::Cron),
            other => Err(EngineError::invalid(
                "period",
                format!(
                    "unknown period '{other}' (expected hourly, daily, weekly, monthly, total, per_session or cron)"
                ),
            )),
        }
    }
}

/// A limit rule inside a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    pub id: Uuid,
    pub budget_id: Uuid,
    pub period: PeriodKind,
    /// Cron expression (with seconds field) for `period = cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone the windows align to; the daemon's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "5.00")]
    pub cost_limit: Option<Decimal>,
    #[serde(default)]
    pub token_limit: Option<u64>,
    pub enforcement: Enforcement,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.8")]
    pub warning_threshold: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.95")]
    pub action_threshold: Decimal,
    #[serde(flatten)]
    pub filters: ScopeFilter,
    /// Whether calls to a model with no known price may pass this policy.
    pub allow_unpriced: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// Input shape of a policy (create or full replace).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub period: String,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "5.00")]
    pub cost_limit: Option<Decimal>,
    #[serde(default)]
    pub token_limit: Option<u64>,
    #[serde(default)]
    pub enforcement: Option<String>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.8")]
    pub warning_threshold: Option<Decimal>,
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.95")]
    pub action_threshold: Option<Decimal>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub context_id: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub allow_unpriced: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl PolicySpec {
    /// Parses the CLI shorthand `period:cost_limit:enforcement` (e.g. `daily:5.00:hard_limit`).
    /// A limit ending in `t` is a token limit (`hourly:100000t:warn`).
    pub fn parse_shorthand(text: &str) -> Result<PolicySpec, EngineError> {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(EngineError::invalid(
                "policy",
                format!("'{text}' is not period:limit[:enforcement] (e.g. daily:5.00:hard_limit)"),
            ));
        }
        let mut spec = PolicySpec {
            period: parts[0].to_string(),
            enforcement: parts.get(2).map(|s| s.to_string()),
            ..PolicySpec::default()
        };
        let limit = parts[1];
        if let Some(tokens) = limit.strip_suffix('t') {
            spec.token_limit =
                Some(tokens.parse().map_err(|_| {
                    EngineError::invalid("policy", format!("token limit '{limit}' is not a whole number"))
                })?);
        } else {
            spec.cost_limit = Some(crate::money::parse_amount("cost_limit", limit)?);
        }
        Ok(spec)
    }

    pub fn into_policy(self, budget_id: Uuid, now: DateTime<Utc>) -> Result<Policy, EngineError> {
        let period = PeriodKind::parse(&self.period)?;
        let enforcement = match self.enforcement.as_deref() {
            Some(e) => Enforcement::parse(e)?,
            None => Enforcement::HardLimit,
        };
        let policy = Policy {
            id: Uuid::now_v7(),
            budget_id,
            period,
            cron: self.cron.filter(|c| !c.is_empty()),
            timezone: self.timezone.filter(|t| !t.is_empty()),
            cost_limit: self.cost_limit,
            token_limit: self.token_limit,
            enforcement,
            warning_threshold: self.warning_threshold.unwrap_or(Decimal::new(8, 1)),
            action_threshold: self.action_threshold.unwrap_or(Decimal::new(95, 2)),
            filters: ScopeFilter {
                provider: self.provider,
                model: self.model,
                component: self.component,
                task_type: self.task_type,
                tier: self.tier,
                context_id: self.context_id,
            }
            .validated()?,
            allow_unpriced: self.allow_unpriced.unwrap_or(false),
            enabled: self.enabled.unwrap_or(true),
            created_at: now,
        };
        policy.validate()?;
        Ok(policy)
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.cost_limit.is_none() && self.token_limit.is_none() {
            return Err(EngineError::invalid("cost_limit", "a policy needs a cost_limit, a token_limit, or both"));
        }
        if let Some(limit) = self.cost_limit {
            crate::money::check_bounds("cost_limit", limit, crate::money::MAX_AMOUNT)?;
        }
        if let Some(limit) = self.token_limit {
            super::usage::check_tokens("token_limit", limit)?;
        }
        for (field, value) in
            [("warning_threshold", self.warning_threshold), ("action_threshold", self.action_threshold)]
        {
            if value <= Decimal::ZERO || value > Decimal::ONE {
                return Err(EngineError::invalid(field, format!("{field} must be in (0, 1] (got {value})")));
            }
        }
        if self.warning_threshold > self.action_threshold {
            return Err(EngineError::invalid(
                "warning_threshold",
                "warning_threshold must not be above action_threshold",
            ));
        }
        self.filters.clone().validated()?;
        if let Some(tz) = &self.timezone {
            super::text::check_text("timezone", tz, super::text::SCHEDULE_MAX)?;
            crate::period::parse_timezone(tz)?;
        }
        if let Some(expr) = &self.cron {
            super::text::check_text("cron", expr, super::text::SCHEDULE_MAX)?;
        }
        match (self.period, &self.cron) {
            (PeriodKind::Cron, None) => {
                return Err(EngineError::invalid("cron", "period 'cron' needs a cron expression"));
            }
            (PeriodKind::Cron, Some(expr)) => {
                crate::period::parse_cron(expr)?;
            }
            (_, Some(_)) => {
                return Err(EngineError::invalid("cron", "cron is only allowed with period 'cron'"));
            }
            _ => {}
        }
        Ok(())
    }

    pub fn matches(&self, call: &CallScope) -> bool {
        self.enabled && self.filters.matches(call)
    }
}

impl Policy {
    /// Applies a partial update: only the fields given change, `clear` removes fields, and
    /// the result is validated as a whole.
    pub fn apply_patch(&mut self, patch: crate::api::UpdatePolicy) -> Result<(), EngineError> {
        let clears = fields_to_clear(&patch)?;
        if let Some(period) = patch.period {
            self.period = PeriodKind::parse(&period)?;
        }
        if patch.cost_limit.is_some() {
            self.cost_limit = patch.cost_limit;
        }
        if patch.token_limit.is_some() {
            self.token_limit = patch.token_limit;
        }
        if let Some(e) = patch.enforcement {
            self.enforcement = Enforcement::parse(&e)?;
        }
        if let Some(w) = patch.warning_threshold {
            self.warning_threshold = w;
        }
        if let Some(a) = patch.action_threshold {
            self.action_threshold = a;
        }
        if patch.cron.is_some() {
            self.cron = patch.cron.filter(|c| !c.is_empty());
        }
        if patch.timezone.is_some() {
            self.timezone = patch.timezone.filter(|t| !t.is_empty());
        }
        if let Some(a) = patch.allow_unpriced {
            self.allow_unpriced = a;
        }
        if let Some(e) = patch.enabled {
            self.enabled = e;
        }
        let filters = &mut self.filters;
        for (value, slot) in [
            (patch.provider, &mut filters.provider),
            (patch.model, &mut filters.model),
            (patch.component, &mut filters.component),
            (patch.task_type, &mut filters.task_type),
            (patch.tier, &mut filters.tier),
            (patch.context_id, &mut filters.context_id),
        ] {
            if let Some(value) = value {
                *slot = Some(value).filter(|v| !v.is_empty());
            }
        }
        for name in &clears {
            match name.as_str() {
                "cost_limit" => self.cost_limit = None,
                "token_limit" => self.token_limit = None,
                "cron" => self.cron = None,
                "timezone" => self.timezone = None,
                "provider" => self.filters.provider = None,
                "model" => self.filters.model = None,
                "component" => self.filters.component = None,
                "task_type" => self.filters.task_type = None,
                "tier" => self.filters.tier = None,
                _ => self.filters.context_id = None,
            }
        }
        self.validate()
    }
}

/// The names in a policy patch's `clear`, checked: known, and not also given a value. The
/// CLI's spellings (`context`, `cost-limit`) are accepted.
fn fields_to_clear(patch: &crate::api::UpdatePolicy) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::with_capacity(patch.clear.len());
    for field in &patch.clear {
        // Exact names (and the CLI's spellings), as the OpenAPI enum lists them.
        let name = match field.as_str() {
            "context" | "context-id" => "context_id".to_string(),
            "cost-limit" => "cost_limit".to_string(),
            "token-limit" => "token_limit".to_string(),
            "task-type" => "task_type".to_string(),
            other => other.to_string(),
        };
        let given = match name.as_str() {
            "cost_limit" => patch.cost_limit.is_some(),
            "token_limit" => patch.token_limit.is_some(),
            "cron" => patch.cron.is_some(),
            "timezone" => patch.timezone.is_some(),
            "provider" => patch.provider.is_some(),
            "model" => patch.model.is_some(),
            "component" => patch.component.is_some(),
            "task_type" => patch.task_type.is_some(),
            "tier" => patch.tier.is_some(),
            "context_id" => patch.context_id.is_some(),
            other => {
                return Err(EngineError::invalid(
                    "clear",
                    format!(
                        "cannot clear '{other}' (expected cost_limit, token_limit, cron, timezone, provider, model, \
                         component, task_type, tier or context_id)"
                    ),
                ));
            }
        };
        if given {
            return Err(EngineError::invalid("clear", format!("'{name}' is both given a value and cleared")));
        }
        names.push(name);
    }
    Ok(names)
}
