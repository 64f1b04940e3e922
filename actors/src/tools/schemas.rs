//! The JSON Schema of each tool's arguments: the same fields, rules and limits as the REST
//! request bodies they become (`crate::api`), written out for clients that read schemas
//! before they call (MCP's `inputSchema`, Tekton's `schema`).

use serde_json::{Value, json};

use crate::domain::text::{IDENT_MAX, MODEL_MAX, MODEL_PATTERN, PROVIDER_MAX, PROVIDER_PATTERN};

fn money() -> Value {
    json!({"type": ["string", "number"], "description": "USD as a decimal string, e.g. \"0.05\""})
}

fn tokens(description: &str) -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": crate::domain::MAX_TOKENS, "description": description})
}

fn ident(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": IDENT_MAX, "description": description})
}

fn provider() -> Value {
    json!({"type": "string", "maxLength": PROVIDER_MAX, "pattern": PROVIDER_PATTERN, "description": "e.g. anthropic, openai"})
}

fn model() -> Value {
    json!({"type": "string", "maxLength": MODEL_MAX, "pattern": MODEL_PATTERN, "description": "e.g. claude-sonnet-4-5"})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn allocation() -> Value {
    object(
        json!({
            "component": ident("who calls (rhetor, apollo, an agent's name)"),
            "provider": provider(),
            "model": model(),
            "context_id": ident("the conversation or session; per-session policies count per context"),
            "task_type": ident("e.g. chat, code"),
            "tier": ident("e.g. local_lightweight, remote_heavyweight"),
            "input_tokens": tokens("estimated input tokens"),
            "max_output_tokens": tokens("the most output tokens the call may produce"),
            "amount": money(),
            "ttl_seconds": {"type": "integer", "minimum": 1, "description": "lease; default 300"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 10, "description": "10 bypasses hard limits"},
        }),
        &["component", "provider", "model"],
    )
}

/// The argument schema of the tool named `name` (snake_case).
pub fn input(name: &str) -> Value {
    match name {
        "check_budget" | "allocate" => allocation(),
        "record_usage" => object(
            json!({
                "allocation_id": {"type": "string", "format": "uuid", "description": "the allocation this call used"},
                "component": ident("without an allocation"),
                "provider": provider(),
                "model": model(),
                "context_id": ident("without an allocation"),
                "task_type": ident("without an allocation"),
                "tier": ident("without an allocation"),
                "input_tokens": tokens("uncached input tokens"),
                "output_tokens": tokens("output tokens (reasoning included)"),
                "cache_read_tokens": tokens("cache reads"),
                "cache_write_tokens": tokens("5-minute cache writes"),
                "cache_write_1h_tokens": tokens("1-hour cache writes"),
                "reasoning_tokens": tokens("reasoning tokens, when priced apart"),
                "usage": {"type": "object", "description": "an OpenAI-style usage object instead of the token fields"},
                "request_id": ident("a repeated request_id is counted once"),
                "timestamp": {"type": "string", "format": "date-time"},
                "metadata": {"type": "object"},
            }),
            &[],
        ),
        "release_allocation" => {
            object(json!({"allocation_id": {"type": "string", "format": "uuid"}}), &["allocation_id"])
        }
        "extend_allocation" => object(
            json!({
                "allocation_id": {"type": "string", "format": "uuid"},
                "ttl_seconds": {"type": "integer", "minimum": 1, "description": "the new lease, from now; at most the daemon's max_ttl_seconds"},
            }),
            &["allocation_id", "ttl_seconds"],
        ),
        "budget_status" => object(
            json!({
                "budget": {"type": "string", "minLength": 1, "description": "id or name"},
                "context_id": ident("for per-session policies"),
                "at": {"type": "string", "format": "date-time", "description": "default now"},
            }),
            &["budget"],
        ),
        "estimate_cost" => object(
            json!({
                "provider": provider(),
                "model": model(),
                "input_tokens": tokens("uncached input tokens"),
                "output_tokens": tokens("output tokens"),
                "cache_read_tokens": tokens("cache reads"),
                "cache_write_tokens": tokens("5-minute cache writes"),
                "cache_write_1h_tokens": tokens("1-hour cache writes"),
                "reasoning_tokens": tokens("reasoning tokens"),
                "usage": {"type": "object"},
            }),
            &["provider", "model"],
        ),
        "list_prices" => object(
            json!({
                "provider": provider(),
                "search": {"type": "string", "description": "part of a model name"},
                "limit": {"type": "integer", "minimum": 1, "maximum": crate::api::MAX_PAGE},
            }),
            &[],
        ),
        "usage_summary" => object(
            json!({
                "from": {"type": "string", "format": "date-time"},
                "to": {"type": "string", "format": "date-time"},
                "budget": {"type": "string"},
                "component": {"type": "string"},
                "provider": {"type": "string"},
                "model": {"type": "string"},
                "task_type": {"type": "string"},
                "context_id": {"type": "string"},
                "tier": {"type": "string"},
                "group_by": {"type": "string", "description": "comma-separated: provider, model, component, task_type, context_id, tier, budget"},
                "bucket": {"type": "string", "enum": crate::api::BUCKETS},
                "tz": {"type": "string", "description": "IANA time zone of the buckets"},
                "top": {"type": "integer", "minimum": 1, "maximum": crate::api::MAX_PAGE},
            }),
            &[],
        ),
        "list_alerts" => object(
            json!({
                "kind": {"type": "string"},
                "severity": {"type": "string", "enum": ["info", "warning", "error", "critical"]},
                "budget": {"type": "string"},
                "acknowledged": {"type": "boolean"},
                "since": {"type": "string", "format": "date-time"},
                "limit": {"type": "integer", "minimum": 1, "maximum": crate::api::MAX_PAGE},
            }),
            &[],
        ),
        "acknowledge_alert" => object(json!({"alert_id": {"type": "string", "format": "uuid"}}), &["alert_id"]),
        _ => object(json!({}), &[]),
    }
}
