//! Which calls count against a budget or policy: the call's scope and the filters.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

pub(crate) fn require_name(field: &'static str, value: String) -> Result<String, EngineError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(EngineError::invalid(field, format!("{field} must not be empty")));
    }
    if value.len() > 256 {
        return Err(EngineError::invalid(field, format!("{field} is longer than 256 characters")));
    }
    Ok(value)
}
