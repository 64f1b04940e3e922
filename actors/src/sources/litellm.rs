//! LiteLLM's `model_prices_and_context_window.json`, through [`PriceTable`].

use serde_json::Value;

use super::identity::{ModelMap, normalize};
use super::{SourceError, SourcePrice};
use crate::pricing::{PriceTable, RESERVED_KEYS};

/// Parse a LiteLLM map: one [`SourcePrice`] per entry (reserved keys skipped,
/// `alias_of` rows resolved), `source_id` = map key, provider and model
/// normalized from `litellm_provider` and the key, the standard base rates as
/// headline prices, and the whole entry in [`SourcePrice::full`].
///
/// Strict where [`PriceTable`] is lenient: an entry the table would skip fails
/// the whole parse, as [`SourceError::Sanity`] if it holds a negative price,
/// else [`SourceError::Parse`].
pub fn parse_litellm(text: &str) -> Result<Vec<SourcePrice>, SourceError> {
    let table = PriceTable::from_litellm_json(text).map_err(|e| SourceError::Parse(format!("LiteLLM map: {e}")))?;
    if let Some((key, reason)) = table.skipped_entries().first() {
        let negative = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|root| root.get(key).cloned())
            .is_some_and(|entry| has_negative_cost(&entry));
        let message = format!("LiteLLM map: entry {key:?}: {reason} ({} entries rejected)", table.skipped());
        return Err(if negative { SourceError::Sanity(message) } else { SourceError::Parse(message) });
    }
    let map = ModelMap::default();
    let mut prices = Vec::with_capacity(table.len());
    for (key, entry) in table.iter() {
        if RESERVED_KEYS.contains(&key) {
            continue;
        }
        let raw_provider = entry
            .litellm_provider
            .clone()
            .or_else(|| key.split_once('/').map(|(p, _)| p.to_string()))
            .unwrap_or_default();
        let (provider, model) = normalize(&raw_provider, key, &map);
        let rates = &entry.standard.rates;
        prices.push(SourcePrice {
            input_cost_per_token: rates.input,
            output_cost_per_token: rates.output,
            cache_read_input_token_cost: rates.cache_read,
            cache_creation_input_token_cost: rates.cache_write,
            full: Some(entry.clone()),
            ..SourcePrice::new(provider, model, key)
        });
    }
    Ok(prices)
}

fn has_negative_cost(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.to_string().trim_start().starts_with('-'),
        Value::String(s) => s.trim_start().starts_with('-'),
        Value::Array(items) => items.iter().any(has_negative_cost),
        Value::Object(map) => {
            map.iter().any(|(k, v)| (k.contains("cost") || k.contains("pricing")) && has_negative_cost(v))
        }
        _ => false,
    }
}
