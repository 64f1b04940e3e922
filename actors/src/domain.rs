//! Domain types of the budget engine: budgets, policies, allocations, usage records,
//! alerts and API keys, with their validation rules.
//!
//! Money is `Decimal` (USD) everywhere and travels as a decimal string on the wire.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::EngineError;
use crate::pricing::{CostBreakdown, Usage};

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

/// Filters deciding which calls count against a budget or a policy. `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScopeFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
}

fn field_matches(filter: &Option<String>, value: Option<&str>) -> bool {
    match filter {
        None => true,
        Some(wanted) => value.is_some_and(|v| v.eq_ignore_ascii_case(wanted)),
    }
}

impl ScopeFilter {
    pub fn matches(&self, call: &CallScope) -> bool {
        field_matches(&self.provider, Some(&call.provider))
            && field_matches(&self.model, Some(&call.model))
            && field_matches(&self.component, Some(&call.component))
            && field_matches(&self.task_type, call.task_type.as_deref())
            && field_matches(&self.tier, Some(&call.tier))
            && field_matches(&self.context_id, call.context_id.as_deref())
    }

    /// Empty strings mean "no filter"; surrounding space is dropped.
    pub fn normalized(self) -> ScopeFilter {
        fn clean(v: Option<String>) -> Option<String> {
            v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        }
        ScopeFilter {
            provider: clean(self.provider),
            model: clean(self.model),
            component: clean(self.component),
            task_type: clean(self.task_type),
            tier: clean(self.tier),
            context_id: clean(self.context_id),
        }
    }
}

/// What one LLM call is: who makes it, for what, with which model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallScope {
    pub component: String,
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub task_type: Option<String>,
    /// Apollo's model tier; derived from the provider when the caller gives none.
    pub tier: String,
}

/// Apollo's default tier of a provider.
pub fn default_tier(provider: &str) -> &'static str {
    match provider.to_ascii_lowercase().as_str() {
        "ollama" | "lmstudio" | "llamacpp" | "vllm" => "local_midweight",
        "local" => "local_lightweight",
        _ => "remote_heavyweight",
    }
}

impl CallScope {
    pub fn new(
        component: String,
        context_id: Option<String>,
        provider: String,
        model: String,
        task_type: Option<String>,
        tier: Option<String>,
    ) -> Result<CallScope, EngineError> {
        let component = require_name("component", component)?;
        let provider = require_name("provider", provider)?;
        let model = require_name("model", model)?;
        let tier = tier.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| default_tier(&provider).to_string());
        Ok(CallScope {
            component,
            context_id: context_id.filter(|c| !c.is_empty()),
            provider,
            model,
            task_type: task_type.filter(|t| !t.is_empty()),
            tier,
        })
    }
}

fn require_name(field: &'static str, value: String) -> Result<String, EngineError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(EngineError::invalid(field, format!("{field} must not be empty")));
    }
    if value.len() > 256 {
        return Err(EngineError::invalid(field, format!("{field} is longer than 256 characters")));
    }
    Ok(value)
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
        let period = PeriodKind::parse(self.period.trim())?;
        let enforcement = match self.enforcement.as_deref() {
            Some(e) => Enforcement::parse(e.trim())?,
            None => Enforcement::HardLimit,
        };
        let policy = Policy {
            id: Uuid::now_v7(),
            budget_id,
            period,
            cron: self.cron.filter(|c| !c.trim().is_empty()),
            timezone: self.timezone.filter(|t| !t.trim().is_empty()),
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
            .normalized(),
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
        if let Some(tz) = &self.timezone {
            crate::period::parse_timezone(tz)?;
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

/// A named group of policies with an optional scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Calls outside this scope never count against the budget.
    pub scope: ScopeFilter,
    pub policies: Vec<Policy>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Budget {
    pub fn matching_policies<'a>(&'a self, call: &'a CallScope) -> impl Iterator<Item = &'a Policy> + 'a {
        let in_scope = self.scope.matches(call);
        self.policies.iter().filter(move |p| in_scope && p.matches(call))
    }

    pub fn matches(&self, call: &CallScope) -> bool {
        self.matching_policies(call).next().is_some()
    }
}

pub fn validate_budget_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(EngineError::invalid("name", "name must not be empty"));
    }
    if name.len() > 128 {
        return Err(EngineError::invalid("name", "name is longer than 128 characters"));
    }
    if Uuid::parse_str(name).is_ok() {
        return Err(EngineError::invalid("name", "name must not be a UUID (ids and names share one path segment)"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(EngineError::invalid("name", "name must not contain '/' or control characters"));
    }
    Ok(name.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    Active,
    Released,
    Expired,
}

impl AllocationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AllocationStatus::Active => "active",
            AllocationStatus::Released => "released",
            AllocationStatus::Expired => "expired",
        }
    }
    pub const ALL: [AllocationStatus; 3] =
        [AllocationStatus::Active, AllocationStatus::Released, AllocationStatus::Expired];

    /// A status as read from storage: an unknown one is our fault.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| EngineError::Internal(format!("unknown allocation status '{text}' in storage")))
    }

    /// A status a caller asked for (a filter): an unknown one is the caller's mistake.
    pub fn parse_input(field: &str, text: &str) -> Result<Self, EngineError> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim()).ok_or_else(|| {
            EngineError::invalid(field, format!("unknown status '{text}' (expected active, released or expired)"))
        })
    }
}

/// A lease on part of one or more budgets, taken before an LLM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub id: Uuid,
    pub component: String,
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub task_type: Option<String>,
    pub tier: String,
    pub priority: u8,
    /// Estimated cost held against the budgets; unpriced estimates hold nothing.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.021")]
    pub reserved_cost: Decimal,
    pub reserved_tokens: u64,
    pub priced: bool,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.0150")]
    pub used_cost: Decimal,
    pub used_tokens: u64,
    pub status: AllocationStatus,
    pub budgets: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
}

impl Allocation {
    pub fn call_scope(&self) -> CallScope {
        CallScope {
            component: self.component.clone(),
            context_id: self.context_id.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            task_type: self.task_type.clone(),
            tier: self.tier.clone(),
        }
    }
}

/// What an LLM call really used, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRecord {
    pub id: Uuid,
    pub allocation_id: Option<Uuid>,
    pub component: String,
    pub context_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub task_type: Option<String>,
    pub tier: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    /// Exact cost; null when the model has no known price.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "0.0150")]
    pub cost: Option<Decimal>,
    pub priced: bool,
    #[schema(value_type = Option<Object>)]
    pub cost_breakdown: Option<CostBreakdown>,
    /// The price entry used (e.g. `claude-sonnet-4-5` or `manual:anthropic/foo@v3`).
    pub price_ref: Option<String>,
    pub request_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub budgets: Vec<Uuid>,
}

impl UsageRecord {
    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            cache_write_1h_tokens: self.cache_write_1h_tokens,
            output_tokens: self.output_tokens,
            reasoning_tokens: self.reasoning_tokens,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(text: &str) -> Severity {
        match text {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// Something a person or a component should know about (threshold crossed, unpriced model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub severity: Severity,
    /// `budget_warning`, `budget_exceeded`, `unpriced_model`, ...
    pub kind: String,
    pub budget_id: Option<Uuid>,
    pub policy_id: Option<Uuid>,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub acknowledged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
    pub fn parse(text: &str) -> Result<Role, EngineError> {
        match text.trim() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => {
                Err(EngineError::invalid("role", format!("unknown role '{other}' (expected read, write or admin)")))
            }
        }
    }
}

/// An API key as listed (the secret itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// First characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The current time at the precision storage keeps (microseconds), so that what an API call
/// returns equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(provider: &str, component: &str) -> CallScope {
        CallScope::new(component.into(), Some("c1".into()), provider.into(), "m".into(), None, None)
            .expect("valid call")
    }

    #[test]
    fn shorthand_parses_cost_and_tokens() {
        let spec = PolicySpec::parse_shorthand("daily:5.00:hard_limit").expect("parses");
        assert_eq!(spec.cost_limit, Some(Decimal::new(500, 2)));
        assert_eq!(spec.enforcement.as_deref(), Some("hard_limit"));
        let spec = PolicySpec::parse_shorthand("hourly:100000t:warn").expect("parses");
        assert_eq!(spec.token_limit, Some(100_000));
        assert!(PolicySpec::parse_shorthand("daily").is_err());
        assert!(PolicySpec::parse_shorthand("daily:-1:warn").is_err());
        assert!(PolicySpec::parse_shorthand("daily:abc:warn").is_err());
    }

    #[test]
    fn policy_validation_names_the_field() {
        let now = Utc::now();
        let err = PolicySpec { period: "daily".into(), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("no limit");
        assert_eq!(err.field(), Some("cost_limit"));
        let err = PolicySpec { period: "fortnightly".into(), cost_limit: Some(Decimal::ONE), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("bad period");
        assert_eq!(err.field(), Some("period"));
        let err = PolicySpec {
            period: "daily".into(),
            cost_limit: Some(Decimal::ONE),
            enforcement: Some("maybe".into()),
            ..Default::default()
        }
        .into_policy(Uuid::now_v7(), now)
        .expect_err("bad enforcement");
        assert_eq!(err.field(), Some("enforcement"));
        let err = PolicySpec { period: "cron".into(), token_limit: Some(5), ..Default::default() }
            .into_policy(Uuid::now_v7(), now)
            .expect_err("cron without expression");
        assert_eq!(err.field(), Some("cron"));
    }

    #[test]
    fn scope_filters_match_case_insensitively_and_empty_matches_all() {
        let filter = ScopeFilter { provider: Some("Anthropic".into()), ..Default::default() };
        assert!(filter.matches(&call("anthropic", "rhetor")));
        assert!(!filter.matches(&call("openai", "rhetor")));
        assert!(ScopeFilter::default().matches(&call("openai", "x")));
        let ctx = ScopeFilter { context_id: Some("c2".into()), ..Default::default() };
        assert!(!ctx.matches(&call("openai", "x")));
    }

    #[test]
    fn default_tiers_follow_apollo() {
        assert_eq!(default_tier("anthropic"), "remote_heavyweight");
        assert_eq!(default_tier("ollama"), "local_midweight");
        assert_eq!(default_tier("local"), "local_lightweight");
    }

    #[test]
    fn budget_names_cannot_look_like_ids() {
        assert!(validate_budget_name(&Uuid::now_v7().to_string()).is_err());
        assert!(validate_budget_name("  ").is_err());
        assert_eq!(validate_budget_name(" rhetor ").expect("valid"), "rhetor");
    }
}
