//! The tool catalogue: the budget operations that agents and Tekton components call as
//! tools. One list, with each tool's snake_case name (the Model Context Protocol), its
//! PascalCase name (Tekton's `/api/mcp/v2`), the role it needs, a JSON Schema of its
//! arguments, and one handler that calls the same typed handles as the REST API. The MCP and
//! Tekton front doors only translate their envelopes to and from [`Tools::call`].

mod schemas;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    AlertsQuery, AllocationRequest, EstimateRequest, PricesQuery, ReportQuery, StatusQuery, UsageRequest,
};
use crate::domain::Role;
use crate::error::EngineError;
use crate::tree::Tree;

/// One tool as the catalogue lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    /// snake_case, for MCP (`check_budget`).
    pub name: &'static str,
    /// PascalCase, for Tekton's `/api/mcp/v2` (`CheckBudget`).
    pub tekton_name: &'static str,
    pub description: &'static str,
    /// The least role a key needs to call it.
    pub role: Role,
    /// Tags for Tekton's tool listing.
    pub tags: &'static [&'static str],
    /// Category for Tekton's tool listing.
    pub category: &'static str,
}

impl ToolSpec {
    /// The JSON Schema of the arguments (an object).
    pub fn input_schema(&self) -> Value {
        schemas::input(self.name)
    }

    /// Whether the tool changes nothing (MCP's `readOnlyHint`).
    pub fn read_only(&self) -> bool {
        self.role == Role::Read
    }
}

/// Why a call failed, for a tool result marked as an error (never a transport failure).
#[derive(Debug, Clone, Serialize)]
pub struct ToolError {
    /// The API's error code (`invalid_request`, `budget_exceeded`, `not_found`, `forbidden`, …).
    pub code: String,
    pub message: String,
    /// As on REST: `{"field": …}` for a bad argument, the limit and what remains for a refusal.
    pub details: Value,
}

impl ToolError {
    fn invalid(field: &str, message: String) -> ToolError {
        ToolError { code: "invalid_request".into(), message, details: serde_json::json!({"field": field}) }
    }
}

impl From<EngineError> for ToolError {
    fn from(e: EngineError) -> ToolError {
        ToolError { code: e.code().to_string(), message: e.to_string(), details: e.details() }
    }
}

pub const CATALOGUE: [ToolSpec; 12] = [
    ToolSpec {
        name: "check_budget",
        tekton_name: "CheckBudget",
        description: "Would a call of this estimate be allowed now? Prices the estimate and compares it with every matching budget's policies, reserving nothing.",
        role: Role::Read,
        tags: &["budget", "check"],
        category: "budget_management",
    },
    ToolSpec {
        name: "allocate",
        tekton_name: "AllocateBudget",
        description: "Reserve budget before an LLM call: the estimate is held in every matching budget until the usage is recorded or the allocation is released (or its lease expires). Refused when a hard limit would be passed.",
        role: Role::Write,
        tags: &["budget", "allocation"],
        category: "budget_management",
    },
    ToolSpec {
        name: "record_usage",
        tekton_name: "RecordUsage",
        description: "Record what a call used (token counts, or an OpenAI-style usage object); priced at the call's time and settled against its allocation's budgets.",
        role: Role::Write,
        tags: &["budget", "usage"],
        category: "budget_management",
    },
    ToolSpec {
        name: "release_allocation",
        tekton_name: "ReleaseAllocation",
        description: "Give back what an allocation still holds.",
        role: Role::Write,
        tags: &["budget", "allocation"],
        category: "budget_management",
    },
    ToolSpec {
        name: "extend_allocation",
        tekton_name: "ExtendAllocation",
        description: "Give an active allocation a new lease of ttl_seconds from now, for a call that runs longer than its first lease.",
        role: Role::Write,
        tags: &["budget", "allocation"],
        category: "budget_management",
    },
    ToolSpec {
        name: "budget_status",
        tekton_name: "GetBudgetStatus",
        description: "Where each policy of a budget stands: settled, reserved and remaining in its current window, and its state.",
        role: Role::Read,
        tags: &["budget", "status"],
        category: "budget_management",
    },
    ToolSpec {
        name: "estimate_cost",
        tekton_name: "EstimateCost",
        description: "The exact cost of a usage shape for a model at today's price, with its breakdown.",
        role: Role::Read,
        tags: &["pricing"],
        category: "budget_analytics",
    },
    ToolSpec {
        name: "list_prices",
        tekton_name: "ListPrices",
        description: "Prices in force, per token, filtered by provider or a search string.",
        role: Role::Read,
        tags: &["pricing"],
        category: "budget_analytics",
    },
    ToolSpec {
        name: "usage_summary",
        tekton_name: "GetUsageAnalytics",
        description: "Usage summed in the database: group by provider, model, component, task_type, context_id, tier or budget, per hour, day, week or month, with filters and top N.",
        role: Role::Read,
        tags: &["usage", "report"],
        category: "budget_analytics",
    },
    ToolSpec {
        name: "budget_overview",
        tekton_name: "GetBudgetOverview",
        description: "Every budget's policies with a forecast of spend to the end of each window, open alerts, and the last day's and month's usage.",
        role: Role::Read,
        tags: &["budget", "report"],
        category: "budget_analytics",
    },
    ToolSpec {
        name: "list_alerts",
        tekton_name: "ListAlerts",
        description: "Recent alerts, newest first, filtered by kind, severity, budget, acknowledged and time.",
        role: Role::Read,
        tags: &["alerts"],
        category: "budget_management",
    },
    ToolSpec {
        name: "acknowledge_alert",
        tekton_name: "AcknowledgeAlert",
        description: "Mark an alert acknowledged.",
        role: Role::Write,
        tags: &["alerts"],
        category: "budget_management",
    },
];

/// The catalogue bound to a running daemon. Cheap to clone.
#[derive(Clone)]
pub struct Tools {
    tree: Tree,
}

impl Tools {
    pub fn new(tree: Tree) -> Tools {
        Tools { tree }
    }

    /// A tool by either of its names.
    pub fn find(name: &str) -> Option<&'static ToolSpec> {
        CATALOGUE.iter().find(|t| t.name == name || t.tekton_name == name)
    }

    /// Calls a tool by either of its names for a key of `role`. Every failure — an unknown
    /// tool, a role too low, a bad argument, a refusal, a fault — is a [`ToolError`].
    pub async fn call(&self, name: &str, arguments: Value, role: Role) -> Result<Value, ToolError> {
        let Some(tool) = Tools::find(name) else {
            return Err(ToolError {
                code: "unknown_tool".into(),
                message: format!("no tool '{name}'"),
                details: serde_json::json!({"tool": name}),
            });
        };
        if role < tool.role {
            return Err(ToolError {
                code: "forbidden".into(),
                message: format!(
                    "this key has role '{}', the tool '{name}' needs '{}'",
                    role.as_str(),
                    tool.role.as_str()
                ),
                details: serde_json::json!({}),
            });
        }
        let arguments = if arguments.is_null() { Value::Object(Default::default()) } else { arguments };
        let engine = self.tree.engine();
        match tool.name {
            "check_budget" => json(engine.check_allocation(args::<AllocationRequest>(arguments)?).await?),
            "allocate" => json(engine.allocate(args::<AllocationRequest>(arguments)?).await?),
            "record_usage" => json(engine.record_usage(args::<UsageRequest>(arguments)?).await?),
            "release_allocation" => {
                let a: IdArgs = args(arguments)?;
                json(engine.release(parse_id("allocation_id", &a.allocation_id)?).await?)
            }
            "extend_allocation" => {
                let a: ExtendArgs = args(arguments)?;
                json(engine.extend(parse_id("allocation_id", &a.allocation_id)?, a.ttl_seconds).await?)
            }
            "budget_status" => {
                let a: StatusArgs = args(arguments)?;
                let query = StatusQuery { context_id: a.context_id, at: a.at };
                json(engine.budget_status(&a.budget, &query).await?)
            }
            "estimate_cost" => json(engine.estimate(args::<EstimateRequest>(arguments)?).await?),
            "list_prices" => json(engine.list_prices(&args::<PricesQuery>(arguments)?).await?),
            "usage_summary" => json(self.tree.reports().usage(&args::<ReportQuery>(arguments)?).await?),
            "budget_overview" => json(self.tree.reports().overview().await?),
            "list_alerts" => json(engine.list_alerts(&args::<AlertsQuery>(arguments)?).await?),
            "acknowledge_alert" => {
                let a: AlertIdArgs = args(arguments)?;
                json(engine.acknowledge_alert(parse_id("alert_id", &a.alert_id)?).await?)
            }
            other => Err(ToolError {
                code: "internal_error".into(),
                message: format!("tool '{other}' has no handler"),
                details: Value::Null,
            }),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    allocation_id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendArgs {
    allocation_id: String,
    ttl_seconds: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertIdArgs {
    alert_id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusArgs {
    budget: String,
    #[serde(default)]
    context_id: Option<String>,
    #[serde(default)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

fn parse_id(field: &str, text: &str) -> Result<uuid::Uuid, ToolError> {
    uuid::Uuid::parse_str(text).map_err(|_| ToolError::invalid(field, format!("'{text}' is not a valid id")))
}

/// The arguments as `T`; a mismatch names the field, as REST's 400 does.
fn args<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    if !arguments.is_object() {
        return Err(ToolError::invalid("", "the arguments must be a JSON object".into()));
    }
    serde_path_to_error::deserialize(arguments).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ToolError::invalid(&field, e.into_inner().to_string())
    })
}

fn json<T: Serialize>(value: T) -> Result<Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError {
        code: "internal_error".into(),
        message: format!("the result could not be serialized: {e}"),
        details: Value::Null,
    })
}
