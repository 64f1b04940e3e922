//! The whole price map and `(provider, model)` lookup.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::ModelPrice;
use super::{BUILTIN_LITELLM_JSON, PriceParseError};

/// Map keys that are not models.
pub const RESERVED_KEYS: &[&str] = &["sample_spec", "fallback_generalizations"];

/// The whole price map: entries by key.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: BTreeMap<String, ModelPrice>,
    skipped: Vec<(String, String)>,
}

impl PriceTable {
    /// Parse a LiteLLM price map. An entry that fails to parse is skipped with a
    /// warning and counted in [`PriceTable::skipped`]; only a top level that is
    /// not a JSON object fails the whole map. `alias_of` rows take their
    /// target's fields (an alias of a missing entry or of another alias is
    /// skipped, as LiteLLM does).
    pub fn from_litellm_json(text: &str) -> Result<PriceTable, PriceParseError> {
        let root: Value = serde_json::from_str(text)?;
        let Value::Object(map) = root else {
            return Err(PriceParseError::TopLevelNotObject);
        };
        let mut table = PriceTable::default();
        for (key, value) in &map {
            if RESERVED_KEYS.contains(&key.as_str()) {
                continue;
            }
            let parsed = match value.get("alias_of").and_then(Value::as_str) {
                Some(target) => match map.get(target) {
                    Some(t) if t.get("alias_of").is_none() && !RESERVED_KEYS.contains(&target) => {
                        ModelPrice::from_litellm(key, t)
                    }
                    _ => Err(PriceParseError::AliasTargetMissing { key: key.clone(), target: target.to_string() }),
                },
                None => ModelPrice::from_litellm(key, value),
            };
            match parsed {
                Ok(price) => {
                    table.entries.insert(key.clone(), price);
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "skipping unparseable price entry");
                    table.skipped.push((key.clone(), e.to_string()));
                }
            }
        }
        Ok(table)
    }

    /// The compiled-in LiteLLM map ([`BUILTIN_LITELLM_JSON`]).
    pub fn builtin() -> Result<PriceTable, PriceParseError> {
        PriceTable::from_litellm_json(BUILTIN_LITELLM_JSON)
    }

    /// The entry pricing `model` served by `provider`, as LiteLLM resolves it:
    /// `"{provider}/{model}"` first (the provider-prefixed twin wins over a bare
    /// key: `("deepseek", "deepseek-chat")` is `deepseek/deepseek-chat`), then
    /// `model`, then `model` with its first path segment removed.
    ///
    /// A model that already starts with `"{provider}/"` is looked up as written
    /// first, then prefixed (LiteLLM does not prefix it again, but its provider
    /// calculators do, which is how the map's `perplexity/perplexity/...` keys are
    /// reached), and a repeated prefix (`openai/openai/gpt-4o`) is collapsed first.
    pub fn lookup(&self, provider: &str, model: &str) -> Option<(&str, &ModelPrice)> {
        let mut model = model;
        let mut candidates: Vec<String> = Vec::with_capacity(3);
        if provider.is_empty() {
            candidates.push(model.to_string());
        } else {
            let prefix = format!("{provider}/");
            while let Some(rest) = model.strip_prefix(&prefix) {
                if rest.starts_with(&prefix) {
                    model = rest;
                } else {
                    break;
                }
            }
            let prefixed = format!("{prefix}{model}");
            if model.starts_with(&prefix) {
                candidates.push(model.to_string());
                candidates.push(prefixed);
            } else {
                candidates.push(prefixed);
                candidates.push(model.to_string());
            }
        }
        if let Some((_, rest)) = model.split_once('/') {
            candidates.push(rest.to_string());
        }
        candidates.iter().find_map(|k| self.entries.get_key_value(k.as_str())).map(|(k, v)| (k.as_str(), v))
    }

    /// The entry under exactly `key`.
    pub fn get(&self, key: &str) -> Option<&ModelPrice> {
        self.entries.get(key)
    }

    /// Number of parsed entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry parsed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries skipped because they failed to parse.
    pub fn skipped(&self) -> usize {
        self.skipped.len()
    }

    /// The skipped entries' keys and reasons.
    pub fn skipped_entries(&self) -> &[(String, String)] {
        &self.skipped
    }

    /// All entries, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Add or replace an entry (manual overrides).
    pub fn insert(&mut self, key: String, mut price: ModelPrice) {
        price.key.clone_from(&key);
        self.entries.insert(key, price);
    }
}
