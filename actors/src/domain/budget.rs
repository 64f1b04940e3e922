//! A budget: a named group of policies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::*;
use crate::error::EngineError;

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
    super::text::check_budget_name("name", name)?;
    if Uuid::parse_str(name).is_ok() {
        return Err(EngineError::invalid("name", "name must not be a UUID (ids and names share one path segment)"));
    }
    Ok(name.to_string())
}
