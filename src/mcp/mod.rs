//! The Model Context Protocol front door (rmcp): streamable HTTP at `/mcp` on the daemon's
//! port, and `budget mcp` on stdio for desktop agents (a bridge to a running daemon). The
//! tools are the catalogue's (`budget_actors::tools`) by their snake_case names; this file
//! only translates MCP's envelopes.
//!
//! - A tool's failure (a refusal, a bad argument, a role too low) is a tool result with
//!   `isError: true` and a structured `{code, message, details}` naming the field or limit;
//!   an unknown tool is a protocol error (`invalid params`), as the protocol asks.
//! - HTTP: the same bearer API keys as REST, checked before rmcp sees the request (401); the
//!   key's role decides which tools run. rmcp's Host check guards against DNS rebinding
//!   (`[mcp] allowed_hosts`, loopback by default).

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;

use budget_actors::domain::Role;
use budget_actors::tools::{CATALOGUE, ToolError, ToolSpec, Tools};

use crate::client::BudgetClient;

/// Where tool calls go.
#[derive(Clone)]
pub enum Backend {
    /// Inside the daemon: the catalogue over the engine's handles.
    Local(Tools),
    /// `budget mcp`: a running daemon's `/api/mcp/v2/process`, through the Rust client.
    Remote(Arc<BudgetClient>),
}

#[derive(Clone)]
pub struct BudgetMcp {
    backend: Backend,
}

impl BudgetMcp {
    pub fn new(backend: Backend) -> BudgetMcp {
        BudgetMcp { backend }
    }
}

fn tool(spec: &ToolSpec) -> Tool {
    let schema = match spec.input_schema() {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    Tool::new(spec.name, spec.description, Arc::new(schema)).with_annotations(
        ToolAnnotations::new().read_only(spec.read_only()).destructive(false).idempotent(spec.read_only()),
    )
}

/// MCP's structured content is an object: a list is wrapped under a name (`prices`, `alerts`).
fn success(tool: &ToolSpec, value: Value) -> CallToolResult {
    let value = match value {
        Value::Object(_) => value,
        other => {
            let key = match tool.name {
                "list_prices" => "prices",
                "list_alerts" => "alerts",
                _ => "result",
            };
            json!({ key: other })
        }
    };
    CallToolResult::structured(value)
}

fn error_result(e: &ToolError) -> CallToolResult {
    CallToolResult::structured_error(json!({"code": e.code, "message": e.message, "details": e.details}))
}

impl ServerHandler for BudgetMcp {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("tekton-budget", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tekton Budget: check and reserve LLM spend before a call (check_budget, allocate), record what \
                 it used (record_usage), release what is left (release_allocation), and read status, prices, \
                 usage reports and alerts. Money is a decimal string in USD.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(CATALOGUE.iter().map(tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(spec) = CATALOGUE.iter().find(|t| t.name == request.name) else {
            return Err(McpError::invalid_params(format!("no tool '{}'", request.name), None));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let result = match &self.backend {
            Backend::Local(tools) => {
                // The HTTP layer put the caller's role in the request; without it, nothing runs.
                let role = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<Role>().copied())
                    .ok_or_else(|| McpError::internal_error("the caller's key was not checked", None))?;
                match tools.call(spec.name, arguments, role).await {
                    Ok(value) => success(spec, value),
                    Err(e) => error_result(&e),
                }
            }
            Backend::Remote(client) => match client.process_tool(spec.name, &arguments).await {
                Ok(envelope) if envelope["status"] == "success" => success(spec, envelope["result"].clone()),
                Ok(envelope) => CallToolResult::structured_error(json!({
                    "code": envelope["code"], "message": envelope["error"], "details": envelope["details"]})),
                Err(e) => error_result(&ToolError {
                    code: e.code.clone(),
                    message: e.message.clone(),
                    details: e.details.clone(),
                }),
            },
        };
        Ok(result.into())
    }
}

/// `budget mcp`: serves MCP on stdin/stdout for a desktop agent, calling the daemon at the
/// client's URL with its key. Logs go to stderr (stdout is the protocol).
pub async fn serve_stdio(client: BudgetClient) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = BudgetMcp::new(Backend::Remote(Arc::new(client)))
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting the MCP stdio server: {e}"))?;
    service.waiting().await.map_err(|e| anyhow::anyhow!("MCP stdio server: {e}"))?;
    Ok(())
}
