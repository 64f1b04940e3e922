//! Apollo's data directory (TEKTON.md: `budget_policies.json` and `usage_records_<epoch>.json`).
//!
//! Apollo counted tokens, never dollars: its policies become token-limit policies and its
//! records carry tokens and no cost (they are stored unpriced; pricing a count whose
//! input/output split is unknown would invent a figure).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

/// Apollo's default tier of a model, then of a provider (`TokenBudgetManager.__init__`); any
/// other call is remote_heavyweight, as in Apollo.
const MODEL_TIERS: [(&str, &str); 13] = [
    ("codellama", "local_lightweight"),
    ("deepseek-coder", "local_lightweight"),
    ("starcoder", "local_lightweight"),
    ("claude-haiku", "local_midweight"),
    ("claude-3-haiku", "local_midweight"),
    ("llama-3", "local_midweight"),
    ("mistral", "local_midweight"),
    ("qwen", "local_midweight"),
    ("gpt-4", "remote_heavyweight"),
    ("claude-3-opus", "remote_heavyweight"),
    ("claude-3-sonnet", "remote_heavyweight"),
    ("claude-3.5-sonnet", "remote_heavyweight"),
    ("claude-3.7-sonnet", "remote_heavyweight"),
];
const PROVIDER_TIERS: [(&str, &str); 4] = [
    ("openai", "remote_heavyweight"),
    ("anthropic", "remote_heavyweight"),
    ("ollama", "local_midweight"),
    ("local", "local_lightweight"),
];

fn apollo_tier(model: &str, provider: &str) -> &'static str {
    let (model, provider) = (model.to_ascii_lowercase(), provider.to_ascii_lowercase());
    MODEL_TIERS
        .iter()
        .find(|(m, _)| *m == model)
        .or_else(|| PROVIDER_TIERS.iter().find(|(p, _)| *p == provider))
        .map_or("remote_heavyweight", |(_, tier)| tier)
}

/// Reads Apollo's data directory into a plan for the budget `budget`.
pub fn read_apollo(dir: &Path, budget: &str, zone: SourceZone) -> Result<MigrationPlan, MigrateError> {
    if !dir.is_dir() {
        return Err(MigrateError(format!("{}: no such directory (expected Apollo's data directory)", dir.display())));
    }
    let mut usage_files: Vec<PathBuf> = Vec::new();
    let mut unreadable_names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| MigrateError(format!("{}: cannot list: {e}", dir.display())))? {
        let path = entry.map_err(|e| MigrateError(format!("{}: cannot list: {e}", dir.display())))?.path();
        match path.file_name().map(|n| n.to_str()) {
            Some(Some(n)) if n.starts_with("usage_records_") && n.ends_with(".json") => usage_files.push(path),
            // Not silently passed over: a usage file's name may have been mangled on a copy.
            Some(None) => unreadable_names.push(path.display().to_string()),
            _ => {}
        }
    }
    usage_files.sort();
    let policy_file = dir.join("budget_policies.json");
    if !policy_file.is_file() && usage_files.is_empty() {
        return Err(MigrateError(format!(
            "{}: holds neither budget_policies.json nor usage_records_*.json; is this Apollo's data directory?",
            dir.display()
        )));
    }
    let mut plan = MigrationPlan::new("apollo", budget, "Apollo's token budgets (imported by budget migrate apollo)");
    for name in unreadable_names {
        plan.skipped.push(SkippedRow::new(name, "-", "the file name is not UTF-8: not read"));
    }
    let now = crate::domain::now();
    let mut rows = VecDeque::new();
    if policy_file.is_file() {
        let name = "budget_policies.json";
        match read_array(&policy_file) {
            Err(reason) => plan.skipped.push(SkippedRow::new(name, "-", reason)),
            Ok(items) => {
                plan.source_rows.push((name.into(), items.len() as u64));
                for (i, item) in items.iter().enumerate() {
                    let row_id = text(item, "policy_id").unwrap_or_else(|| format!("#{i}"));
                    match policy(item, &zone, now).and_then(checked_policy) {
                        Ok(spec) => plan.budget.policies.push(spec),
                        Err(reason) => plan.skipped.push(SkippedRow::new(name, row_id, reason)),
                    }
                }
            }
        }
    }
    // Apollo writes its last records to a new file at every stop, so files overlap: a record
    // is read once, from the first file holding it; later copies are listed as not imported.
    let mut seen: HashMap<String, (String, Value)> = HashMap::new();
    for file in usage_files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        match read_array(&file) {
            Err(reason) => plan.skipped.push(SkippedRow::new(name, "-", reason)),
            Ok(items) => {
                plan.source_rows.push((name.clone(), items.len() as u64));
                for (i, item) in items.into_iter().enumerate() {
                    let row_id = text(&item, "record_id").unwrap_or_else(|| format!("#{i}"));
                    if let Some(id) = text(&item, "record_id") {
                        if let Some((first_file, first)) = seen.get(&id) {
                            if *first == item {
                                let reason = format!(
                                    "a copy of the record in {first_file} (Apollo rewrites its last records at every stop)"
                                );
                                plan.not_imported.push(SkippedRow::new(name.clone(), row_id, reason));
                            } else {
                                let reason = format!(
                                    "record_id is also in {first_file}, with other contents; that one is imported"
                                );
                                plan.skipped.push(SkippedRow::new(name.clone(), row_id, reason));
                            }
                            continue;
                        }
                        seen.insert(id, (name.clone(), item.clone()));
                    }
                    let origin = Origin { location: name.clone(), row_id };
                    rows.push_back(origin.row(usage(&item, &name, &zone), None));
                }
            }
        }
    }
    plan.usage = UsageRows::Loaded(rows);
    Ok(plan)
}

fn read_array(path: &Path) -> Result<Vec<Value>, String> {
    let body = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    match serde_json::from_str::<Value>(&body) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err("is not a JSON array".into()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

/// A string field that is present and not blank.
fn text(item: &Value, field: &str) -> Option<String> {
    item.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn whole(item: &Value, field: &str) -> Result<u64, String> {
    match item.get(field) {
        None | Some(Value::Null) => Err(format!("{field} is missing")),
        Some(v) => {
            let count = v.as_u64().ok_or_else(|| format!("{field} is {v}, not a whole number of tokens"))?;
            crate::domain::check_tokens(field, count).map_err(|e| e.to_string())?;
            Ok(count)
        }
    }
}

fn policy(item: &Value, zone: &SourceZone, now: DateTime<Utc>) -> Result<PolicySpec, String> {
    if !item.is_object() {
        return Err("is not an object".into());
    }
    let kind = text(item, "type").ok_or("type is missing")?;
    if !["ignore", "warn", "soft_limit", "hard_limit"].contains(&kind.as_str()) {
        return Err(format!("type '{kind}' is not one of Apollo's (ignore, warn, soft_limit, hard_limit)"));
    }
    let period = match text(item, "period").ok_or("period is missing")?.as_str() {
        p @ ("hourly" | "daily" | "weekly" | "monthly" | "per_session") => p.to_string(),
        // Apollo keys task budgets by context, as it does sessions.
        "per_task" => "per_session".to_string(),
        other => return Err(format!("period '{other}' is not one of Apollo's")),
    };
    let threshold = |field: &str| -> Result<Option<Decimal>, String> {
        match item.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => json_decimal(v).map(Some).ok_or_else(|| format!("{field} is {v}, not a number")),
        }
    };
    let tier = text(item, "tier");
    let enabled = match item.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(format!("enabled is {v}, not true or false")),
    };
    // A policy whose end date has passed no longer acts in Apollo: it arrives disabled.
    let ended = match text(item, "end_date") {
        Some(end) => zone.to_utc(&end).map_err(|e| format!("end_date: {e}"))? <= now,
        None => false,
    };
    // Calendar windows follow the zone Apollo ran in; per-session windows have no calendar.
    let calendar = period != "per_session";
    Ok(PolicySpec {
        token_limit: Some(whole(item, "limit")?),
        enforcement: Some(kind),
        warning_threshold: threshold("warning_threshold")?,
        action_threshold: threshold("action_threshold")?,
        tier: tier.filter(|t| !t.is_empty()),
        component: text(item, "component"),
        task_type: text(item, "task_type"),
        timezone: if calendar { zone.name() } else { None },
        enabled: Some(enabled && !ended),
        period,
        ..PolicySpec::default()
    })
}

fn usage(item: &Value, file: &str, zone: &SourceZone) -> Result<ImportedUsage, String> {
    if !item.is_object() {
        return Err("is not an object".into());
    }
    let record_id = text(item, "record_id").ok_or("record_id is missing")?;
    let tokens = whole(item, "tokens_used")?;
    let stamp = text(item, "timestamp").ok_or("timestamp is missing")?;
    let timestamp = zone.to_utc(&stamp)?;
    let usage_type = text(item, "usage_type").unwrap_or_else(|| "total".into());
    let (input, output, total) = match usage_type.as_str() {
        "input" => (Some(tokens), Some(0), None),
        "output" => (Some(0), Some(tokens), None),
        "total" => (None, None, Some(tokens)),
        other => return Err(format!("usage_type '{other}' is not one of Apollo's (input, output, total)")),
    };
    // Apollo records may leave provider and model out (then its allocation had none).
    let provider = text(item, "provider").unwrap_or_else(|| "unknown".into());
    let model = text(item, "model").unwrap_or_else(|| "unknown".into());
    let extra = json!({
        "file": file,
        "record_id": record_id,
        "allocation_id": item.get("allocation_id"),
        "operation_id": item.get("operation_id"),
        "usage_type": usage_type,
    });
    Ok(ImportedUsage {
        request_id: format!("apollo:{record_id}"),
        component: text(item, "component").ok_or("component is missing")?,
        context_id: text(item, "context_id"),
        tier: Some(apollo_tier(&model, &provider).to_string()),
        provider,
        model,
        task_type: text(item, "task_type"),
        input_tokens: input,
        output_tokens: output,
        total_tokens: total,
        cost: None,
        timestamp,
        metadata: Some(metadata_with_origin(item.get("metadata").cloned(), origin("apollo", extra))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_apollo() {
        assert_eq!(apollo_tier("gpt-4", "unknown"), "remote_heavyweight");
        assert_eq!(apollo_tier("claude-3-haiku", "anthropic"), "local_midweight");
        assert_eq!(apollo_tier("llama3", "ollama"), "local_midweight");
        assert_eq!(apollo_tier("tiny", "local"), "local_lightweight");
        assert_eq!(apollo_tier("anything", "elsewhere"), "remote_heavyweight");
    }
}
