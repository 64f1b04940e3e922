//! The OpenAPI document served at `/api/v1/openapi.json`: every path of the resource files and
//! the bearer scheme, then made to say what the server enforces ([`document`]): every path
//! parameter, every error status an operation can answer with its body schema, and the
//! server's rules for strings, numbers and enumerations, taken from the same constants the
//! server checks against (`budget_actors::domain::text`, `MAX_TOKENS`, `MAX_PAGE`).

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use budget_actors::api::MAX_PAGE;
use budget_actors::domain::MAX_TOKENS;
use budget_actors::domain::text::*;
use budget_actors::domain::{SECRET_MAX, SECRET_MIN, URL_MAX, URL_PATTERN};

/// `HH:MM`, 00:00 to 23:59.
const HHMM_PATTERN: &str = "^(?:[01][0-9]|2[0-3]):[0-5][0-9]$";
use super::{alert_channels, alerts, allocations, budgets, events, keys, monitoring, policies, prices, reports, usage};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tekton Budget", description = "LLM cost and budget daemon. Money is a decimal string (USD); token counts are integers."),
    paths(
        budgets::list_budgets, budgets::create_budget, budgets::get_budget, budgets::update_budget,
        budgets::delete_budget, policies::list_policies, policies::add_policy, policies::get_policy,
        policies::update_policy, policies::delete_policy, budgets::budget_status, allocations::allocate,
        allocations::list_allocations, allocations::get_allocation, allocations::release, allocations::extend, usage::record_usage, usage::import_usage,
        usage::list_usage, usage::get_usage, usage::usage_summary, prices::list_prices, prices::show_price,
        prices::price_history, prices::set_price, prices::estimate, keys::list_keys, keys::create_key,
        keys::revoke_key, alerts::list_alerts, alerts::acknowledge_alert, monitoring::price_sources, monitoring::refresh_prices,
        monitoring::price_updates, monitoring::pending_prices, monitoring::approve_price,
        monitoring::reject_price, monitoring::price_conflicts, alert_channels::list_channels,
        alert_channels::create_channel, alert_channels::get_channel, alert_channels::update_channel,
        alert_channels::delete_channel, alert_channels::test_channel, alert_channels::list_deliveries,
        events::events, reports::usage_report, reports::usage_records, reports::timeseries, reports::breakdown,
        reports::overview
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The served document. `max_ttl_seconds` is the configured longest lease, which bounds
/// `ttl_seconds`.
pub fn document(max_ttl_seconds: u64) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    add_error_schema(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                if let Some(op) = op.as_object_mut() {
                    declare_path_params(path, op);
                    constrain_query_params(path, op);
                    document_errors(path, method, op);
                }
            }
        }
    }
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        constrain_request_schemas(schemas, max_ttl_seconds);
    }
    add_text_formats(&mut doc);
    add_links(&mut doc);
    doc
}

/// Where a created resource's id is, for clients (and the fuzzer's stateful phase) that
/// follow links: a new key's id is `info.id`, beside the secret shown once.
fn add_links(doc: &mut Value) {
    let revoke = doc.pointer("/paths/~1api~1v1~1keys~1{id}/delete/operationId").cloned();
    if let (Some(revoke), Some(created)) = (revoke, doc.pointer_mut("/paths/~1api~1v1~1keys/post/responses/201")) {
        created["links"] = json!({
            "RevokeKey": {"operationId": revoke, "parameters": {"id": "$response.body#/info/id"}}
        });
    }
}

/// Reports answer in the format asked for: the other content types of their 200s.
fn add_text_formats(doc: &mut Value) {
    let text = json!({"schema": {"type": "string"}});
    for (path, types) in [
        ("/api/v1/reports/usage", &["text/csv; charset=utf-8", "text/markdown; charset=utf-8"][..]),
        ("/api/v1/reports/usage/records", &["text/csv; charset=utf-8", "application/x-ndjson"][..]),
    ] {
        let Some(content) = doc
            .pointer_mut(&format!("/paths/{}/get/responses/200/content", path.replace('/', "~1")))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if path.ends_with("/records") {
            content.clear();
        }
        for content_type in types {
            content.insert(content_type.to_string(), text.clone());
        }
    }
}

/// The methods `doc` declares on the path template that `path` matches (`{model}` may span
/// several segments; a literal segment wins over a parameter), as an `Allow` value.
pub fn allowed_methods(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let paths = doc.get("paths")?.as_object()?;
    let (_, item) = paths
        .iter()
        .filter(|(template, _)| {
            let template: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            matches_template(&template, &segments)
        })
        // Prefer the template with the most literal segments (`/prices/estimate` over
        // `/prices/{provider}/{model}`).
        .max_by_key(|(template, _)| template.split('/').filter(|s| !s.starts_with('{')).count())?;
    let declared = item.as_object()?;
    // axum's order; HEAD wherever GET is, as the server answers it.
    let methods: Vec<&str> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .filter(|m| {
            let wanted = if *m == "HEAD" { "get" } else { &m.to_ascii_lowercase() };
            declared.contains_key(wanted)
        })
        .collect();
    Some(methods.join(","))
}

fn matches_template(template: &[&str], path: &[&str]) -> bool {
    match (template.split_first(), path.split_first()) {
        (None, None) => true,
        (Some((&"{model}", rest)), Some(_)) => {
            // One or more segments, leaving what the rest of the template needs.
            (1..=path.len()).any(|taken| matches_template(rest, &path[taken..]))
        }
        (Some((t, rest)), Some((p, path_rest))) => {
            (t.starts_with('{') && !p.is_empty() || t == p) && matches_template(rest, path_rest)
        }
        _ => false,
    }
}

fn add_error_schema(doc: &mut Value) {
    let error = json!({
        "type": "object",
        "description": "Every answer that is not a success.",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. invalid_request, budget_exceeded"},
                "message": {"type": "string"},
                "details": {"type": "object", "description": "e.g. {\"field\": \"input_tokens\"} for a 400"}
            }
        }}
    });
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("Error".into(), error);
    }
}

// ---- path parameters ------------------------------------------------------------------------

fn declare_path_params(path: &str, op: &mut Map<String, Value>) {
    let params = op.entry("parameters").or_insert_with(|| json!([]));
    let Some(params) = params.as_array_mut() else { return };
    for name in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
        let declared = params.iter().any(|p| p["in"] == "path" && p["name"] == name);
        if !declared {
            params.push(json!({"name": name, "in": "path", "required": true, "schema": path_param_schema(path, name)}));
        }
    }
}

fn path_param_schema(path: &str, name: &str) -> Value {
    match name {
        "provider" => json!({"type": "string", "maxLength": PROVIDER_MAX, "pattern": PROVIDER_PATTERN}),
        "model" => json!({"type": "string", "maxLength": MODEL_MAX, "pattern": MODEL_PATTERN,
            "description": "may hold '/' (e.g. openrouter/anthropic/claude-3.5-sonnet)"}),
        // A budget is named by id or by name; everything else by id.
        "id" if path.starts_with("/api/v1/budgets/") || path.starts_with("/api/v1/alert-channels/") => {
            json!({"type": "string", "description": "id or unique name"})
        }
        _ => json!({"type": "string", "format": "uuid"}),
    }
}

// ---- query parameters -----------------------------------------------------------------------

fn constrain_query_params(path: &str, op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    // Two listings take a `status`: held price changes, and allocations.
    let pending = path.ends_with("/prices/pending");
    let deliveries = path.ends_with("/alert-deliveries");
    for param in params.iter_mut().filter(|p| p["in"] == "query") {
        let name = param["name"].as_str().unwrap_or_default().to_string();
        let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else { continue };
        match name.as_str() {
            "limit" => {
                schema.insert("minimum".into(), json!(1));
                schema.insert("maximum".into(), json!(MAX_PAGE));
            }
            "status" if pending => {
                schema.insert("enum".into(), json!(["pending", "approved", "rejected", "superseded", "all"]));
            }
            "status" if deliveries => {
                schema.insert("enum".into(), json!(["pending", "delivered", "failed"]));
            }
            "status" => {
                schema.insert("enum".into(), json!(["active", "released", "expired"]));
            }
            "kinds" => {
                let names: Vec<&str> = budget_actors::events::EventKind::ALL.iter().map(|k| k.as_str()).collect();
                let names = names.join("|");
                schema.insert("pattern".into(), json!(format!("^(?:(?:{names})(?:,(?:{names}))*)?$")));
            }
            "kind" => {
                let kinds: Vec<&str> = budget_actors::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect();
                schema.insert("enum".into(), json!(kinds));
            }
            "severity" => {
                schema.insert("enum".into(), json!(["info", "warning", "error", "critical"]));
            }
            "cursor" => {
                schema.insert("format".into(), json!("uuid"));
            }
            "group_by" if path.contains("/reports/") => {
                let names = budget_actors::api::REPORT_KEYS.join("|");
                let pattern = format!(r"^\s*(?:(?:{names})?\s*,\s*)*(?:{names})?\s*$");
                schema.insert("pattern".into(), json!(pattern));
            }
            "bucket" => {
                let mut buckets: Vec<&str> = budget_actors::api::BUCKETS.to_vec();
                buckets.push("");
                schema.insert("enum".into(), json!(buckets));
            }
            "format" if path.ends_with("/timeseries") || path.ends_with("/breakdown") => {
                schema.insert("enum".into(), json!(["json"]));
            }
            "format" if path.ends_with("/records") => {
                schema.insert("enum".into(), json!(["csv", "ndjson"]));
            }
            "format" => {
                schema.insert("enum".into(), json!(["json", "csv", "md"]));
            }
            "top" => {
                schema.insert("minimum".into(), json!(1));
                schema.insert("maximum".into(), json!(MAX_PAGE));
            }
            "tz" => {
                schema.insert("maxLength".into(), json!(SCHEDULE_MAX));
            }
            "group_by" => {
                let names = "provider|model|component|task_type|context_id|budget|day";
                let pattern = format!(r"^\s*(?:(?:{names})?\s*,\s*)*(?:{names})?\s*$");
                schema.insert("pattern".into(), json!(pattern));
            }
            _ => {}
        }
    }
}

// ---- responses ------------------------------------------------------------------------------

fn document_errors(path: &str, method: &str, op: &mut Map<String, Value>) {
    let has_body = op.contains_key("requestBody");
    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let has_path_params = path.contains('{');
    // A listing filtered by budget names a budget that may not exist.
    let names_a_budget =
        op.get("parameters").and_then(Value::as_array).is_some_and(|p| p.iter().any(|p| p["name"] == "budget"));
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    let add = |responses: &mut Map<String, Value>, status: &str, description: &str| {
        let entry = responses.entry(status.to_string()).or_insert_with(|| json!({"description": description}));
        if let Some(entry) = entry.as_object_mut() {
            if entry.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                entry.insert("description".into(), json!(description));
            }
            entry.insert(
                "content".into(),
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}),
            );
        }
    };
    if has_body || has_params {
        add(responses, "400", "invalid request: details.field names what was wrong");
    }
    add(responses, "401", "missing, unknown or revoked API key");
    add(responses, "403", "the key's role is below what the operation needs");
    // Path parameters name something that may not exist; an allocation or a usage record
    // names budgets and policies that may be deleted while it is written.
    if has_path_params
        || names_a_budget
        || method == "post" && (path.ends_with("/allocations") || path.ends_with("/usage/record"))
    {
        add(responses, "404", "no such resource");
    }
    if has_body {
        add(responses, "413", "request body larger than server.max_body_bytes");
        add(responses, "415", "request body is not application/json");
    }
    add(responses, "503", "storage or an actor is unavailable; retry later");
    // Status codes the handlers answer beyond those: keep any the operation documents itself
    // (402, 409) with the error body.
    for status in ["402", "409"] {
        if responses.contains_key(status) {
            let description = responses[status]["description"].as_str().unwrap_or("refused").to_string();
            add(responses, status, &description);
        }
    }
}

// ---- request bodies -------------------------------------------------------------------------

/// Optional string fields where an empty string means "absent".
fn optional_pattern(pattern: &str) -> String {
    let inner = pattern.trim_start_matches('^').trim_end_matches('$');
    format!("^(?:{inner})?$")
}

fn constrain_request_schemas(schemas: &mut Map<String, Value>, max_ttl_seconds: u64) {
    let ident = json!({"maxLength": IDENT_MAX, "pattern": IDENT_PATTERN});
    let optional_ident = json!({"maxLength": IDENT_MAX, "pattern": optional_pattern(IDENT_PATTERN)});
    let provider = json!({"maxLength": PROVIDER_MAX, "pattern": PROVIDER_PATTERN});
    let model = json!({"maxLength": MODEL_MAX, "pattern": MODEL_PATTERN});
    let optional_provider = json!({"maxLength": PROVIDER_MAX, "pattern": optional_pattern(PROVIDER_PATTERN)});
    let optional_model = json!({"maxLength": MODEL_MAX, "pattern": optional_pattern(MODEL_PATTERN)});
    let budget_name = json!({"minLength": 1, "maxLength": NAME_MAX, "pattern": BUDGET_NAME_PATTERN});
    let key_name = json!({"minLength": 1, "maxLength": NAME_MAX, "pattern": IDENT_PATTERN});
    let tokens = json!({"minimum": 0, "maximum": MAX_TOKENS});
    let periods = json!({"enum": ["hourly", "daily", "weekly", "monthly", "total", "per_session", "cron"]});
    let enforcements = json!({"enum": ["hard_limit", "soft_limit", "warn", "ignore", "hard", "soft", "enforce"]});
    let schedule = json!({"maxLength": SCHEDULE_MAX});
    let filters = [
        ("provider", &optional_provider),
        ("model", &optional_model),
        ("component", &optional_ident),
        ("task_type", &optional_ident),
        ("tier", &optional_ident),
        ("context_id", &optional_ident),
    ];
    let token_fields = [
        "input_tokens",
        "output_tokens",
        "max_output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "token_limit",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cache_creation_input_tokens",
        "cached_tokens",
        "cache_creation_tokens",
    ];
    let mut rules: Vec<(&str, &str, Value)> = vec![
        ("CreateBudget", "name", budget_name.clone()),
        ("UpdateBudget", "name", budget_name),
        ("CreateBudget", "description", json!({"maxLength": DESCRIPTION_MAX})),
        ("UpdateBudget", "description", json!({"maxLength": DESCRIPTION_MAX})),
        ("CreateBudget", "owner", json!({"maxLength": OWNER_MAX})),
        ("UpdateBudget", "owner", json!({"maxLength": OWNER_MAX})),
        ("CreateBudget", "component", optional_ident.clone()),
        ("PolicySpec", "period", periods.clone()),
        ("UpdatePolicy", "period", periods),
        ("PolicySpec", "enforcement", enforcements.clone()),
        ("UpdatePolicy", "enforcement", enforcements),
        ("PolicySpec", "cron", schedule.clone()),
        ("UpdatePolicy", "cron", schedule.clone()),
        ("PolicySpec", "timezone", schedule.clone()),
        ("UpdatePolicy", "timezone", schedule),
        ("AllocationRequest", "component", ident.clone()),
        ("AllocationRequest", "provider", provider.clone()),
        ("AllocationRequest", "model", model.clone()),
        ("AllocationRequest", "context_id", optional_ident.clone()),
        ("AllocationRequest", "task_type", optional_ident.clone()),
        ("AllocationRequest", "tier", optional_ident.clone()),
        ("AllocationRequest", "priority", json!({"minimum": 1, "maximum": 10})),
        ("AllocationRequest", "ttl_seconds", json!({"minimum": 1, "maximum": max_ttl_seconds})),
        ("ExtendAllocation", "ttl_seconds", json!({"minimum": 1, "maximum": max_ttl_seconds})),
        ("UsageRequest", "component", optional_ident.clone()),
        ("UsageRequest", "provider", optional_provider.clone()),
        ("UsageRequest", "model", optional_model.clone()),
        ("UsageRequest", "context_id", optional_ident.clone()),
        ("UsageRequest", "task_type", optional_ident.clone()),
        ("UsageRequest", "tier", optional_ident.clone()),
        ("UsageRequest", "request_id", json!({"minLength": 1, "maxLength": IDENT_MAX, "pattern": IDENT_PATTERN})),
        ("ImportUsageRequest", "source", json!({"minLength": 1, "maxLength": 64, "pattern": IDENT_PATTERN})),
        ("ImportUsageRequest", "records", json!({"maxItems": budget_actors::api::IMPORT_BATCH_MAX})),
        ("EstimateRequest", "provider", provider),
        ("EstimateRequest", "model", model),
        ("CreateKey", "name", key_name),
        ("CreateKey", "role", json!({"enum": ["read", "write", "admin"]})),
        ("RejectBody", "note", json!({"maxLength": DESCRIPTION_MAX})),
        ("NewChannel", "kind", json!({"enum": ["webhook", "slack", "log"]})),
        ("QuietHours", "start", json!({"pattern": HHMM_PATTERN})),
        ("QuietHours", "end", json!({"pattern": HHMM_PATTERN})),
        ("QuietHours", "timezone", json!({"maxLength": SCHEDULE_MAX})),
        (
            "UpdatePolicy",
            "clear",
            json!({"items": {"type": "string", "enum": [
                "cost_limit", "token_limit", "cron", "timezone", "provider", "model", "component", "task_type",
                "tier", "context_id", "context", "context-id", "cost-limit", "token-limit", "task-type"
            ]}}),
        ),
    ];
    let kinds: Vec<&str> = budget_actors::domain::AlertKind::ALL.iter().map(|k| k.as_str()).collect();
    for schema in ["NewChannel", "ChannelPatch"] {
        rules.push((schema, "name", json!({"minLength": 1, "maxLength": NAME_MAX, "pattern": BUDGET_NAME_PATTERN})));
        rules.push((schema, "url", json!({"maxLength": URL_MAX, "pattern": URL_PATTERN})));
        rules.push((
            schema,
            "secret",
            json!({"minLength": SECRET_MIN, "maxLength": SECRET_MAX, "pattern": "^[!-~]+$"}),
        ));
        rules.push((schema, "min_severity", json!({"enum": ["info", "warning", "error", "critical"]})));
        rules.push((schema, "kinds", json!({"items": {"type": "string", "enum": kinds}})));
        rules.push((schema, "budgets", json!({"items": {"type": "string", "minLength": 1, "maxLength": NAME_MAX}})));
    }
    for schema in ["ScopeFilter", "PolicySpec", "UpdatePolicy"] {
        for (field, rule) in &filters {
            rules.push((schema, field, (*rule).clone()));
        }
    }
    for (schema, field, rule) in rules {
        if let Some(property) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}"))) {
            merge(property, rule);
        }
    }
    // Every token count, wherever it appears in a request, is bounded by MAX_TOKENS; every
    // money field takes a decimal string or a JSON number (kept exact), as the server does.
    // (An imported record's names are checked record by record and answered in its result,
    // `invalid`, so its schema bounds only its numbers, which the whole request must meet.)
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { continue };
        for (field, property) in properties.iter_mut() {
            if token_fields.contains(&field.as_str()) && is_integer(property) {
                merge(property, tokens.clone());
            }
        }
    }
    for (schema, fields) in [
        ("AllocationRequest", &["amount"][..]),
        ("ImportedUsage", &["cost"][..]),
        ("PolicySpec", &["cost_limit", "warning_threshold", "action_threshold"][..]),
        ("UpdatePolicy", &["cost_limit", "warning_threshold", "action_threshold"][..]),
        (
            "SetPrice",
            &[
                "input_cost_per_token",
                "output_cost_per_token",
                "cache_read_input_token_cost",
                "cache_creation_input_token_cost",
                "input_cost_per_million",
                "output_cost_per_million",
                "cache_read_input_cost_per_million",
                "cache_creation_input_cost_per_million",
            ][..],
        ),
    ] {
        for field in fields {
            if let Some(property) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}")))
            {
                property["type"] = json!(["string", "number", "null"]);
                property["pattern"] =
                    json!(r"^\s*[+-]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?\s*$");
            }
        }
    }
}

fn is_integer(property: &Value) -> bool {
    match &property["type"] {
        Value::String(t) => t == "integer",
        Value::Array(types) => types.iter().any(|t| t == "integer"),
        _ => false,
    }
}

fn merge(property: &mut Value, rule: Value) {
    if let (Some(target), Value::Object(rule)) = (property.as_object_mut(), rule) {
        for (key, value) in rule {
            target.insert(key, value);
        }
    }
}
