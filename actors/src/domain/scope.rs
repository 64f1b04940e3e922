//! Which calls count against a budget or policy: the call's scope and the filters.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{IDENT_MAX, check_identifier, check_model, check_provider};
use crate::error::EngineError;

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

pub(crate) fn field_matches(filter: &Option<String>, value: Option<&str>) -> bool {
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

    /// Empty strings mean "no filter"; every other value follows the rule of its field
    /// (`domain::text`).
    pub fn validated(self) -> Result<ScopeFilter, EngineError> {
        Ok(ScopeFilter {
            provider: optional("provider", self.provider, check_provider)?,
            model: optional("model", self.model, check_model)?,
            component: optional("component", self.component, check_ident)?,
            task_type: optional("task_type", self.task_type, check_ident)?,
            tier: optional("tier", self.tier, check_ident)?,
            context_id: optional("context_id", self.context_id, check_ident)?,
        })
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
        check_ident("component", &component)?;
        check_provider("provider", &provider)?;
        check_model("model", &model)?;
        let tier = optional("tier", tier, check_ident)?.unwrap_or_else(|| default_tier(&provider).to_string());
        Ok(CallScope {
            component,
            context_id: optional("context_id", context_id, check_ident)?,
            provider,
            model,
            task_type: optional("task_type", task_type, check_ident)?,
            tier,
        })
    }
}

fn check_ident(field: &str, value: &str) -> Result<(), EngineError> {
    check_identifier(field, value, IDENT_MAX)
}

/// An optional identifier: absent or empty is `None`; anything else must pass `check`.
pub(crate) fn optional(
    field: &str,
    value: Option<String>,
    check: fn(&str, &str) -> Result<(), EngineError>,
) -> Result<Option<String>, EngineError> {
    match value {
        Some(v) if !v.is_empty() => {
            check(field, &v)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}
