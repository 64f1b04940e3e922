//! One set of rules for every identifier and free-text field the API takes. The same numbers
//! and patterns are in the OpenAPI document (see `api::schema`) and in
//! `docs/API_REFERENCE.md`, so a client or fuzzer that follows the schema is never refused
//! for a string, and one that does not is always refused, whichever door it came through.
//!
//! Lengths count characters (Unicode scalar values), as JSON Schema's `maxLength` does.
//! Patterns use only what both Rust and the usual schema tools (ECMA-262, Python `re`) read
//! the same way: ASCII classes and `\s`, no look-around.

use crate::error::EngineError;

/// Budget and API key names.
pub const NAME_MAX: usize = 128;
/// Component, context, task type, tier, request id, and a policy's filters on them.
pub const IDENT_MAX: usize = 256;
/// Provider names.
pub const PROVIDER_MAX: usize = 64;
/// Model names.
pub const MODEL_MAX: usize = 256;
/// A budget's owner.
pub const OWNER_MAX: usize = 256;
/// A budget's description.
pub const DESCRIPTION_MAX: usize = 4096;
/// Cron expressions and time-zone names.
pub const SCHEDULE_MAX: usize = 256;

/// An identifier: no control characters, no whitespace at either end.
pub const IDENT_PATTERN: &str = r"^[^\s\x00-\x1F\x7F-\x9F]([^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F])?$";
/// A budget name: an identifier without `/` (ids and names share one path segment).
pub const BUDGET_NAME_PATTERN: &str = r"^[^\s/\x00-\x1F\x7F-\x9F]([^/\x00-\x1F\x7F-\x9F]*[^\s/\x00-\x1F\x7F-\x9F])?$";
/// A provider: ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit.
pub const PROVIDER_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";
/// A model: `/`-separated segments of ASCII letters, digits and `. _ : @ + * -`, each
/// starting with a letter, digit, `@`, `*` or `_` — so no empty, `.` or `..` segment, and no
/// leading or trailing `/`. Every name in LiteLLM's map follows it
/// (`cloudflare/@cf/meta/llama-3.2-1b-instruct`, `bedrock/*/1-month-commitment/...`).
pub const MODEL_PATTERN: &str = r"^[A-Za-z0-9@*_][A-Za-z0-9._:@+*-]*(/[A-Za-z0-9@*_][A-Za-z0-9._:@+*-]*)*$";

fn too_long(field: &str, max: usize) -> EngineError {
    EngineError::invalid(field, format!("{field} is longer than {max} characters"))
}

/// 1 to `max` characters.
fn check_length(field: &str, value: &str, max: usize) -> Result<(), EngineError> {
    if value.is_empty() {
        return Err(EngineError::invalid(field, format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(too_long(field, max));
    }
    Ok(())
}

/// Free text (descriptions, owners): any characters, at most `max` of them.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), EngineError> {
    if value.chars().count() > max {
        return Err(too_long(field, max));
    }
    Ok(())
}

/// An identifier of at most `max` characters (see [`IDENT_PATTERN`]).
pub fn check_identifier(field: &str, value: &str, max: usize) -> Result<(), EngineError> {
    check_identifier_chars(field, value, max, |_| true, "")
}

/// A budget name (see [`BUDGET_NAME_PATTERN`]).
pub fn check_budget_name(field: &str, value: &str) -> Result<(), EngineError> {
    check_identifier_chars(field, value, NAME_MAX, |c| c != '/', " or '/'")
}

fn check_identifier_chars(
    field: &str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    also_refused: &str,
) -> Result<(), EngineError> {
    check_length(field, value, max)?;
    if value.chars().any(|c| c.is_control() || !allowed(c)) {
        return Err(EngineError::invalid(field, format!("{field} must not contain control characters{also_refused}")));
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(EngineError::invalid(field, format!("{field} must not begin or end with whitespace")));
    }
    Ok(())
}

/// A provider name (see [`PROVIDER_PATTERN`]).
pub fn check_provider(field: &str, value: &str) -> Result<(), EngineError> {
    check_length(field, value, PROVIDER_MAX)?;
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(EngineError::invalid(
            field,
            format!(
                "{field} '{}' must be ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
                shown(value)
            ),
        ));
    }
    Ok(())
}

/// A model name (see [`MODEL_PATTERN`]).
pub fn check_model(field: &str, value: &str) -> Result<(), EngineError> {
    check_length(field, value, MODEL_MAX)?;
    let segment_ok = |segment: &str| {
        let mut chars = segment.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '*' | '_'))
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '+' | '*' | '-'))
    };
    if !value.split('/').all(segment_ok) {
        return Err(EngineError::invalid(
            field,
            format!(
                "{field} '{}' must be '/'-separated segments of ASCII letters, digits and '.', '_', ':', '@', '+', '*', '-', each starting with a letter, digit, '@', '*' or '_'",
                shown(value)
            ),
        ));
    }
    Ok(())
}

/// A value quoted in an error, cut short: the error must not echo a megabyte back.
fn shown(value: &str) -> String {
    const SHOWN: usize = 80;
    if value.chars().count() <= SHOWN {
        value.escape_debug().to_string()
    } else {
        format!("{}…", value.chars().take(SHOWN).collect::<String>().escape_debug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_litellm_model_and_provider_follows_the_rule() {
        let text = include_str!("../../data/litellm/model_prices_and_context_window.json");
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).expect("map");
        let mut checked = 0;
        for (model, entry) in map.iter().filter(|(k, _)| k.as_str() != "sample_spec") {
            check_model("model", model).unwrap_or_else(|e| panic!("{model}: {e}"));
            if let Some(provider) = entry.get("litellm_provider").and_then(|p| p.as_str()) {
                check_provider("provider", provider).unwrap_or_else(|e| panic!("{provider}: {e}"));
            }
            checked += 1;
        }
        assert!(checked > 4000, "{checked}");
    }

    #[test]
    fn paths_and_odd_names_are_refused() {
        for bad in ["../../../../etc/passwd", "a/../b", "a//b", "/a", "a/", ".", "..", ".hidden", "a b", "a\nb", ""] {
            assert!(check_model("model", bad).is_err(), "{bad:?}");
        }
        for bad in ["trav/..", "-x", "a/b", "a b", ""] {
            assert!(check_provider("provider", bad).is_err(), "{bad:?}");
        }
        for good in ["claude-sonnet-4-5", "openrouter/anthropic/claude-3.5", "llama3:8b", "a..b", "gpt-4o@2024"] {
            assert!(check_model("model", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn identifiers_count_characters_and_refuse_edges_and_controls() {
        assert!(check_identifier("component", &"é".repeat(IDENT_MAX), IDENT_MAX).is_ok());
        assert!(check_identifier("component", &"é".repeat(IDENT_MAX + 1), IDENT_MAX).is_err());
        for bad in [" svc", "svc ", "s\u{7}vc", "\u{85}", ""] {
            assert!(check_identifier("component", bad, IDENT_MAX).is_err(), "{bad:?}");
        }
        assert!(check_identifier("component", "team a", IDENT_MAX).is_ok());
        assert!(check_budget_name("name", "a/b").is_err());
        assert!(check_text("description", &"x".repeat(DESCRIPTION_MAX + 1), DESCRIPTION_MAX).is_err());
        assert!(check_text("description", "  anything\n goes \u{7}", DESCRIPTION_MAX).is_ok());
    }
}
