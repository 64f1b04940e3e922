//! llm-prices.com's JSON feeds: `current-v1.json` and `historical-v1.json`.
//! Prices are USD per million tokens and are converted exactly to per token.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::identity::{ModelMap, normalize};
use super::{PriceUnit, SourceError, SourcePrice, per_token};
use crate::money::parse_decimal;

/// Parse `current-v1.json` (`{updated_at, prices: [{id, vendor, name, input, output, input_cached}]}`).
///
/// Rows are keyed on vendor and id (`source_id = "{vendor}/{id}"`). A row that
/// repeats an earlier one's vendor, id and prices is dropped (the feed lists
/// `xai/grok-4-fast` twice, as "Grok 4 Fast" and "Grok 4 Fast ≤128k"); a repeat
/// with other prices is a [`SourceError::Parse`].
pub fn parse_llm_prices_current(text: &str) -> Result<Vec<SourcePrice>, SourceError> {
    parse(text, false)
}

/// Parse `historical-v1.json`: as current, plus `from_date` (inclusive) and
/// `to_date` (exclusive), `YYYY-MM-DD` at 00:00 UTC, `null` = open.
pub fn parse_llm_prices_historical(text: &str) -> Result<Vec<SourcePrice>, SourceError> {
    parse(text, true)
}

fn parse(text: &str, historical: bool) -> Result<Vec<SourcePrice>, SourceError> {
    let feed = if historical { "llm-prices historical feed" } else { "llm-prices current feed" };
    let root: Value =
        serde_json::from_str(text).map_err(|e| SourceError::Parse(format!("{feed}: invalid JSON: {e}")))?;
    let rows = root
        .get("prices")
        .and_then(Value::as_array)
        .ok_or_else(|| SourceError::Parse(format!("{feed}: no \"prices\" array at the top level")))?;
    let map = ModelMap::default();
    let mut out: Vec<SourcePrice> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let obj = row.as_object().ok_or_else(|| SourceError::Parse(format!("{feed}: prices[{i}] is not an object")))?;
        let vendor = string_field(feed, i, obj, "vendor")?;
        let id = string_field(feed, i, obj, "id")?;
        let source_id = format!("{vendor}/{id}");
        let ctx = format!("{feed}: prices[{i}] ({source_id})");
        let (provider, model) = normalize(&vendor, &id, &map);
        let mut price = SourcePrice {
            input_cost_per_token: rate(&ctx, obj, "input")?,
            output_cost_per_token: rate(&ctx, obj, "output")?,
            cache_read_input_token_cost: rate(&ctx, obj, "input_cached")?,
            ..SourcePrice::new(provider, model, source_id)
        };
        if historical {
            price.effective_from = date(&ctx, obj, "from_date")?;
            price.effective_to = date(&ctx, obj, "to_date")?;
            if let (Some(from), Some(to)) = (price.effective_from, price.effective_to)
                && from >= to
            {
                return Err(SourceError::Parse(format!("{ctx}: from_date {from} is not before to_date {to}")));
            }
        }
        let same_key = |p: &SourcePrice| {
            p.source_id == price.source_id
                && p.effective_from == price.effective_from
                && p.effective_to == price.effective_to
        };
        match out.iter().find(|p| same_key(p)) {
            Some(existing) if *existing == price => continue,
            Some(_) => {
                return Err(SourceError::Parse(format!("{ctx}: listed twice with different prices")));
            }
            None => out.push(price),
        }
    }
    Ok(out)
}

fn string_field(feed: &str, i: usize, obj: &Map<String, Value>, field: &str) -> Result<String, SourceError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        other => Err(SourceError::Parse(format!(
            "{feed}: prices[{i}].{field} must be a non-empty string, got {}",
            other.map_or_else(|| "nothing".to_string(), Value::to_string)
        ))),
    }
}

/// A per-million price (number, numeric string or null) → per token.
fn rate(ctx: &str, obj: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, SourceError> {
    let value = match obj.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => parse_decimal(&n.to_string()),
        Some(Value::String(s)) => parse_decimal(s.trim()),
        Some(_) => None,
    };
    let Some(per_million) = value else {
        return Err(SourceError::Parse(format!(
            "{ctx}: {field} is not a number: {}",
            obj.get(field).map_or_else(String::new, Value::to_string)
        )));
    };
    per_token(per_million, PriceUnit::Per1M).map(Some)
}

fn date(ctx: &str, obj: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, SourceError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Ok(Some(t.with_timezone(&Utc)));
            }
            match NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
                Some(t) => Ok(Some(t.and_utc())),
                None => Err(SourceError::Parse(format!("{ctx}: {field} {s:?} is not a YYYY-MM-DD date"))),
            }
        }
        Some(other) => Err(SourceError::Parse(format!("{ctx}: {field} is not a date string: {other}"))),
    }
}
