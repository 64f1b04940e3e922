//! One model's prices, parsed exactly from a LiteLLM entry.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PriceParseError;

/// Per-token rates of one price list (all optional: absent in the map = `None`;
/// an explicit `0.0` is `Some(0)` and is a real price).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSet {
    /// `input_cost_per_token`.
    pub input: Option<Decimal>,
    /// `output_cost_per_token`.
    pub output: Option<Decimal>,
    /// `cache_read_input_token_cost`.
    pub cache_read: Option<Decimal>,
    /// `cache_creation_input_token_cost` (5-minute writes).
    pub cache_write: Option<Decimal>,
    /// `cache_creation_input_token_cost_above_1hr` (1-hour writes; a TTL, not a
    /// token threshold).
    pub cache_write_1h: Option<Decimal>,
    /// `output_cost_per_reasoning_token`.
    pub reasoning: Option<Decimal>,
}

impl RateSet {
    fn is_empty(&self) -> bool {
        *self == RateSet::default()
    }

    fn slot(&mut self, base: RateField) -> &mut Option<Decimal> {
        match base {
            RateField::Input => &mut self.input,
            RateField::Output => &mut self.output,
            RateField::CacheRead => &mut self.cache_read,
            RateField::CacheWrite => &mut self.cache_write,
            RateField::CacheWrite1h => &mut self.cache_write_1h,
            RateField::Reasoning => &mut self.reasoning,
        }
    }
}

/// Rates that apply once the prompt exceeds `above_tokens`
/// (`*_above_{N}k_tokens` keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdRates {
    /// `N × 1000` for `_above_{N}k_tokens`, `N` for `_above_{N}_tokens`.
    pub above_tokens: u64,
    /// The rates defined at this threshold (others keep the lower value).
    pub rates: RateSet,
}

/// A price list: base rates plus long-context thresholds (ascending). The
/// standard list and each service tier (`_batches`, `_flex`, `_priority`) have one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceList {
    /// Rates below every threshold.
    pub rates: RateSet,
    /// Thresholds, ascending by `above_tokens`, each with the rates it defines.
    pub thresholds: Vec<ThresholdRates>,
}

impl PriceList {
    /// Whether the list defines nothing.
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty() && self.thresholds.is_empty()
    }

    /// The rates defined exactly at threshold `n`, if any.
    pub fn at_threshold(&self, n: u64) -> Option<&RateSet> {
        self.thresholds.iter().find(|t| t.above_tokens == n).map(|t| &t.rates)
    }

    fn threshold_mut(&mut self, n: u64) -> &mut RateSet {
        let idx = match self.thresholds.iter().position(|t| t.above_tokens >= n) {
            Some(i) if self.thresholds[i].above_tokens == n => i,
            Some(i) => {
                self.thresholds.insert(i, ThresholdRates { above_tokens: n, rates: RateSet::default() });
                i
            }
            None => {
                self.thresholds.push(ThresholdRates { above_tokens: n, rates: RateSet::default() });
                self.thresholds.len() - 1
            }
        };
        &mut self.thresholds[idx].rates
    }
}

/// One `tiered_pricing` range: applies when `lo < prompt <= hi`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRange {
    /// Exclusive lower bound.
    pub lo: Decimal,
    /// Inclusive upper bound.
    pub hi: Decimal,
    /// The tier's rates (missing cache rates fall back to the tier's input rate,
    /// a missing output rate to the model's top-level one).
    pub rates: RateSet,
}

/// A `"HH:MM-HH:MM"` window, in minutes of the day. Start inclusive, end
/// exclusive; `start >= end` wraps past midnight; `start == end` is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourWindow {
    pub start_minute: u16,
    pub end_minute: u16,
}

impl HourWindow {
    /// Parse `"HH:MM-HH:MM"`; `None` when malformed (LiteLLM ignores those).
    pub fn parse(text: &str) -> Option<HourWindow> {
        let (a, b) = text.split_once('-')?;
        Some(HourWindow { start_minute: parse_hhmm(a.trim())?, end_minute: parse_hhmm(b.trim())? })
    }

    /// Whether `time` (UTC) falls inside the window.
    pub fn contains(&self, time: chrono::NaiveTime) -> bool {
        use chrono::Timelike;
        let now =
            u64::from(time.num_seconds_from_midnight()) * 1_000_000_000 + u64::from(time.nanosecond().min(999_999_999));
        let start = u64::from(self.start_minute) * 60 * 1_000_000_000;
        let end = u64::from(self.end_minute) * 60 * 1_000_000_000;
        if start < end { start <= now && now < end } else { now >= start || now < end }
    }
}

fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    let valid = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !valid(h) || !valid(m) {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// One `windows` rule of an `off_peak_pricing` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffPeakRule {
    /// Windows in UTC.
    pub hours_utc: Vec<HourWindow>,
    /// ISO weekdays (1 = Monday) on which the windows apply; `None` = every day.
    /// Weekdays are read on the `weekday_timezone` calendar (default UTC).
    pub weekdays: Option<Vec<u8>>,
}

/// `off_peak_pricing`: other rates in force inside its windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffPeakPricing {
    /// The off-peak rates (unset ones keep the standard rate). `cache_write_1h`
    /// is never set (the map has no such field).
    pub rates: RateSet,
    /// Flat `hours_utc` windows that apply every day.
    pub hours_utc: Vec<HourWindow>,
    /// Weekday-qualified rules.
    pub windows: Vec<OffPeakRule>,
    /// IANA zone whose calendar decides the weekday (hours stay UTC).
    pub weekday_timezone: Option<String>,
}

impl OffPeakPricing {
    /// Whether `at` is inside one of the off-peak windows.
    pub fn is_open(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        use chrono::Datelike;
        let time = at.time();
        if self.hours_utc.iter().any(|w| w.contains(time)) {
            return true;
        }
        let weekday = match self
            .weekday_timezone
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|tz| tz.parse::<chrono_tz::Tz>().ok())
        {
            Some(tz) => at.with_timezone(&tz).weekday().number_from_monday(),
            None => at.weekday().number_from_monday(),
        };
        self.windows.iter().any(|rule| {
            let day_ok = match &rule.weekdays {
                None => true,
                Some(days) => days.iter().any(|d| u32::from(*d) == weekday),
            };
            day_ok && rule.hours_utc.iter().any(|w| w.contains(time))
        })
    }
}

/// One model's prices, parsed from a LiteLLM entry. All rates are per token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// The map key the entry was parsed from (the alias key for `alias_of` rows).
    pub key: String,
    /// `litellm_provider`.
    pub litellm_provider: Option<String>,
    /// `mode` (chat, embedding, ...).
    pub mode: Option<String>,
    /// `max_input_tokens`.
    pub max_input_tokens: Option<u64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
    /// Standard rates and `_above_{N}k_tokens` thresholds.
    pub standard: PriceList,
    /// `*_batches` keys.
    pub batches: PriceList,
    /// `*_flex` keys.
    pub flex: PriceList,
    /// `*_priority` keys.
    pub priority: PriceList,
    /// `tiered_pricing`, sorted by `lo`. Takes precedence over thresholds.
    pub tiered_pricing: Vec<TierRange>,
    /// `off_peak_pricing`.
    pub off_peak_pricing: Option<OffPeakPricing>,
    /// `input_cost_per_request`: not read by LiteLLM's cost code; Budget charges
    /// it once per usage as the `request` line item and says so in the notes.
    pub input_cost_per_request: Option<Decimal>,
    /// `output_cost_per_image_token`: LiteLLM's output rate when
    /// `output_cost_per_token` is absent or zero.
    pub output_cost_per_image_token: Option<Decimal>,
    /// Set for prices built with [`ModelPrice::manual`].
    pub manual: bool,
}

/// The main rates of a model, for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelPriceSummary {
    /// The price map key the rates come from.
    #[serde(rename = "litellm_key")]
    pub key: String,
    /// The entry's own provider (`litellm_provider`).
    #[serde(rename = "litellm_provider")]
    pub provider: Option<String>,
    pub mode: Option<String>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub input_cost_per_token: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub output_cost_per_token: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cache_read_input_token_cost: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cache_creation_input_token_cost: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub cache_creation_input_token_cost_above_1hr: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub output_cost_per_reasoning_token: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>)]
    pub input_cost_per_request: Option<Decimal>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Long-context thresholds (`above_tokens`) of the standard list.
    pub thresholds: Vec<u64>,
    pub has_tiered_pricing: bool,
    pub has_off_peak_pricing: bool,
    pub manual: bool,
}

/// Which rate a price field sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateField {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    CacheWrite1h,
    Reasoning,
}

fn rate_field(base: &str) -> Option<RateField> {
    Some(match base {
        "input_cost_per_token" => RateField::Input,
        "output_cost_per_token" => RateField::Output,
        "cache_read_input_token_cost" => RateField::CacheRead,
        "cache_creation_input_token_cost" => RateField::CacheWrite,
        "cache_creation_input_token_cost_above_1hr" => RateField::CacheWrite1h,
        "output_cost_per_reasoning_token" => RateField::Reasoning,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListId {
    Standard,
    Batches,
    Flex,
    Priority,
}

/// Service-tier suffixes of the map. Only `_batches`, `_flex` and `_priority`
/// are price lists Budget uses; the rest are recognised so that they are not
/// mistaken for standard keys, and ignored.
const SUFFIXES: &[(&str, Option<ListId>)] = &[
    ("_batches", Some(ListId::Batches)),
    ("_flex", Some(ListId::Flex)),
    ("_priority", Some(ListId::Priority)),
    ("_ultrafast", None),
    ("_balanced", None),
    ("_fast", None),
    ("_decisions", None),
];

/// Parse a threshold like `272k` or `128` into tokens.
fn parse_threshold(text: &str) -> Option<u64> {
    let (digits, mult) = match text.strip_suffix('k') {
        Some(d) => (d, 1000u64),
        None => (text, 1u64),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// Parse a JSON number's text (e.g. `3e-06`, `0.0000025`, `5`) into an exact Decimal.
pub(crate) fn parse_decimal_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    match text.split_once(['e', 'E']) {
        None => Decimal::from_str_exact(text).ok(),
        Some((mantissa, exp)) => {
            let mut value = Decimal::from_str_exact(mantissa).ok()?;
            let exp: i64 = exp.parse().ok()?;
            let scale = i64::from(value.scale()) - exp;
            if scale >= 0 {
                value.set_scale(u32::try_from(scale).ok()?).ok()?;
                Some(value)
            } else {
                value.set_scale(0).ok()?;
                let mut factor = Decimal::ONE;
                for _ in 0..(-scale) {
                    factor = factor.checked_mul(Decimal::TEN)?;
                }
                value.checked_mul(factor)
            }
        }
    }
}

/// A rate value: a JSON number (or a numeric string, which LiteLLM accepts too).
/// `null` is absent.
fn parse_rate(key: &str, field: &str, value: &Value) -> Result<Option<Decimal>, PriceParseError> {
    let bad =
        || PriceParseError::InvalidNumber { key: key.to_string(), field: field.to_string(), value: value.to_string() };
    let parsed = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => parse_decimal_text(&n.to_string()),
        Value::String(s) => parse_decimal_text(s),
        _ => None,
    };
    match parsed {
        Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
        _ => Err(bad()),
    }
}

fn parse_tokens(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => {
            n.as_u64().or_else(|| parse_decimal_text(&n.to_string()).and_then(|d| u64::try_from(d).ok()))
        }
        _ => None,
    }
}

/// Parse the rate fields of a `tiered_pricing` tier or an `off_peak_pricing`
/// block (bare keys only).
fn parse_flat_rates(
    key: &str,
    context: &str,
    obj: &serde_json::Map<String, Value>,
) -> Result<RateSet, PriceParseError> {
    let mut rates = RateSet::default();
    for (field, value) in obj {
        if let Some(rf) = rate_field(field) {
            *rates.slot(rf) = parse_rate(key, &format!("{context}.{field}"), value)?;
        }
    }
    Ok(rates)
}

fn parse_windows(value: Option<&Value>) -> Vec<HourWindow> {
    match value {
        Some(Value::String(s)) => HourWindow::parse(s).into_iter().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().and_then(HourWindow::parse)).collect(),
        _ => Vec::new(),
    }
}

fn parse_weekday(value: &Value) -> Option<u8> {
    match value {
        Value::Number(n) => n.as_u64().filter(|d| (1..=7).contains(d)).map(|d| d as u8),
        Value::String(s) => Some(match s.trim().to_ascii_lowercase().as_str() {
            "mon" | "monday" => 1,
            "tue" | "tues" | "tuesday" => 2,
            "wed" | "wednesday" => 3,
            "thu" | "thur" | "thurs" | "thursday" => 4,
            "fri" | "friday" => 5,
            "sat" | "saturday" => 6,
            "sun" | "sunday" => 7,
            _ => return None,
        }),
        _ => None,
    }
}

fn parse_off_peak(key: &str, value: &Value) -> Result<Option<OffPeakPricing>, PriceParseError> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => {
            return Err(PriceParseError::InvalidBlock {
                key: key.to_string(),
                field: "off_peak_pricing".into(),
                reason: "not an object".into(),
            });
        }
    };
    let mut rates = parse_flat_rates(key, "off_peak_pricing", obj)?;
    // The map has no off-peak 1-hour write rate; LiteLLM reads none.
    rates.cache_write_1h = None;
    let mut windows = Vec::new();
    if let Some(Value::Array(rules)) = obj.get("windows") {
        for rule in rules {
            let Some(rule) = rule.as_object() else {
                continue;
            };
            let hours_utc = parse_windows(rule.get("hours_utc"));
            if hours_utc.is_empty() {
                continue;
            }
            let weekdays = match rule.get("weekdays") {
                None | Some(Value::Null) => None,
                // A weekdays value that is not a list matches no day (as LiteLLM).
                Some(Value::Array(days)) => Some(days.iter().filter_map(parse_weekday).collect()),
                Some(_) => Some(Vec::new()),
            };
            windows.push(OffPeakRule { hours_utc, weekdays });
        }
    }
    Ok(Some(OffPeakPricing {
        rates,
        hours_utc: parse_windows(obj.get("hours_utc")),
        windows,
        weekday_timezone: obj.get("weekday_timezone").and_then(Value::as_str).map(str::to_string),
    }))
}

fn parse_tiered(key: &str, value: &Value) -> Result<Vec<TierRange>, PriceParseError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => {
            return Err(PriceParseError::InvalidBlock {
                key: key.to_string(),
                field: "tiered_pricing".into(),
                reason: "not a list".into(),
            });
        }
    };
    let mut tiers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let context = format!("tiered_pricing[{i}]");
        let obj = item.as_object().ok_or_else(|| PriceParseError::InvalidBlock {
            key: key.to_string(),
            field: context.clone(),
            reason: "not an object".into(),
        })?;
        // A tier without a numeric `[lo, hi]` token range (e.g. the search
        // entries' `max_results_range` tiers) is not a token tier: LiteLLM skips it.
        let range = match obj.get("range") {
            Some(Value::Array(r)) if r.len() == 2 && r.iter().all(Value::is_number) => r,
            _ => continue,
        };
        let bound = |v: &Value| -> Result<Decimal, PriceParseError> {
            match v {
                Value::Number(n) => parse_decimal_text(&n.to_string()),
                _ => None,
            }
            .ok_or_else(|| PriceParseError::InvalidBlock {
                key: key.to_string(),
                field: format!("tiered_pricing[{i}].range"),
                reason: format!("bound {v} is not a number"),
            })
        };
        tiers.push(TierRange {
            lo: bound(&range[0])?,
            hi: bound(&range[1])?,
            rates: parse_flat_rates(key, &context, obj)?,
        });
    }
    // Stable sort by lower bound, as LiteLLM does.
    tiers.sort_by_key(|t| t.lo);
    Ok(tiers)
}

impl ModelPrice {
    /// An empty price (no rates) for `key`.
    fn empty(key: &str) -> ModelPrice {
        ModelPrice {
            key: key.to_string(),
            litellm_provider: None,
            mode: None,
            max_input_tokens: None,
            max_output_tokens: None,
            standard: PriceList::default(),
            batches: PriceList::default(),
            flex: PriceList::default(),
            priority: PriceList::default(),
            tiered_pricing: Vec::new(),
            off_peak_pricing: None,
            input_cost_per_request: None,
            output_cost_per_image_token: None,
            manual: false,
        }
    }

    fn list_mut(&mut self, id: ListId) -> &mut PriceList {
        match id {
            ListId::Standard => &mut self.standard,
            ListId::Batches => &mut self.batches,
            ListId::Flex => &mut self.flex,
            ListId::Priority => &mut self.priority,
        }
    }

    /// Parse one LiteLLM entry (the JSON object value). `key` is the map key.
    ///
    /// Fields the cost code does not use (audio, image, video, search, ...) are
    /// ignored. `alias_of` rows are rejected here; [`super::PriceTable`]
    /// resolves them.
    pub fn from_litellm(key: &str, entry: &Value) -> Result<ModelPrice, PriceParseError> {
        let obj = entry.as_object().ok_or_else(|| PriceParseError::NotAnObject { key: key.to_string() })?;
        if let Some(target) = obj.get("alias_of").and_then(Value::as_str) {
            return Err(PriceParseError::AliasEntry { key: key.to_string(), target: target.to_string() });
        }
        let mut price = ModelPrice::empty(key);
        for (field, value) in obj {
            match field.as_str() {
                "litellm_provider" => price.litellm_provider = value.as_str().map(str::to_string),
                "mode" => price.mode = value.as_str().map(str::to_string),
                "max_input_tokens" => price.max_input_tokens = parse_tokens(value),
                "max_output_tokens" => price.max_output_tokens = parse_tokens(value),
                "input_cost_per_request" => price.input_cost_per_request = parse_rate(key, field, value)?,
                "output_cost_per_image_token" => price.output_cost_per_image_token = parse_rate(key, field, value)?,
                "tiered_pricing" => price.tiered_pricing = parse_tiered(key, value)?,
                "off_peak_pricing" => price.off_peak_pricing = parse_off_peak(key, value)?,
                _ => price.parse_rate_key(key, field, value)?,
            }
        }
        Ok(price)
    }

    /// `{base}[_above_{N}[k]_tokens][_{suffix}]` keys.
    fn parse_rate_key(&mut self, key: &str, field: &str, value: &Value) -> Result<(), PriceParseError> {
        let mut name = field;
        let mut list = Some(ListId::Standard);
        for (suffix, id) in SUFFIXES {
            if let Some(stripped) = name.strip_suffix(suffix) {
                name = stripped;
                list = *id;
                break;
            }
        }
        let (base, threshold) = match name.strip_suffix("_tokens") {
            Some(head) => match head.rsplit_once("_above_") {
                Some((base, n)) => (base, Some(n)),
                None => (name, None),
            },
            None => (name, None),
        };
        let (Some(rf), Some(list)) = (rate_field(base), list) else {
            return Ok(());
        };
        let rate = parse_rate(key, field, value)?;
        let list = self.list_mut(list);
        match threshold {
            None => *list.rates.slot(rf) = rate,
            Some(n) => {
                let n = parse_threshold(n).ok_or_else(|| PriceParseError::InvalidThreshold {
                    key: key.to_string(),
                    field: field.to_string(),
                })?;
                if rate.is_some() {
                    *list.threshold_mut(n).slot(rf) = rate;
                }
            }
        }
        Ok(())
    }

    /// A manual override price: flat per-token rates, no thresholds.
    pub fn manual(
        input_per_token: Decimal,
        output_per_token: Decimal,
        cache_read: Option<Decimal>,
        cache_write: Option<Decimal>,
        provider: &str,
    ) -> ModelPrice {
        let mut price = ModelPrice::empty("manual");
        price.litellm_provider = Some(provider.to_string());
        price.mode = Some("chat".to_string());
        price.standard.rates = RateSet {
            input: Some(input_per_token),
            output: Some(output_per_token),
            cache_read,
            cache_write,
            cache_write_1h: None,
            reasoning: None,
        };
        price.manual = true;
        price
    }

    /// Every rate of the entry under a LiteLLM-style name (`{base}[_above_{N}k_tokens][_{tier}]`,
    /// `tiered_pricing[{lo}-{hi}].{base}`, `off_peak_pricing.{base}`, `input_cost_per_request`,
    /// `output_cost_per_image_token`), so two versions of a price can be compared field by
    /// field.
    pub fn rate_fields(&self) -> std::collections::BTreeMap<String, Decimal> {
        fn put(out: &mut std::collections::BTreeMap<String, Decimal>, rates: &RateSet, name: &dyn Fn(&str) -> String) {
            let fields = [
                ("input_cost_per_token", rates.input),
                ("output_cost_per_token", rates.output),
                ("cache_read_input_token_cost", rates.cache_read),
                ("cache_creation_input_token_cost", rates.cache_write),
                ("cache_creation_input_token_cost_above_1hr", rates.cache_write_1h),
                ("output_cost_per_reasoning_token", rates.reasoning),
            ];
            for (base, value) in fields {
                if let Some(value) = value {
                    out.insert(name(base), value);
                }
            }
        }
        let mut out = std::collections::BTreeMap::new();
        for (list, suffix) in
            [(&self.standard, ""), (&self.batches, "_batches"), (&self.flex, "_flex"), (&self.priority, "_priority")]
        {
            put(&mut out, &list.rates, &|base| format!("{base}{suffix}"));
            for t in &list.thresholds {
                let n = t.above_tokens;
                let above = if n % 1000 == 0 { format!("{}k", n / 1000) } else { n.to_string() };
                put(&mut out, &t.rates, &|base| format!("{base}_above_{above}_tokens{suffix}"));
            }
        }
        for tier in &self.tiered_pricing {
            // Normalized, so `200000` and `200000.0` upstream name the same tier.
            let (lo, hi) = (tier.lo.normalize(), tier.hi.normalize());
            put(&mut out, &tier.rates, &|base| format!("tiered_pricing[{lo}-{hi}].{base}"));
        }
        if let Some(off_peak) = &self.off_peak_pricing {
            put(&mut out, &off_peak.rates, &|base| format!("off_peak_pricing.{base}"));
        }
        if let Some(v) = self.input_cost_per_request {
            out.insert("input_cost_per_request".into(), v);
        }
        if let Some(v) = self.output_cost_per_image_token {
            out.insert("output_cost_per_image_token".into(), v);
        }
        out
    }

    /// The main rates, for display.
    pub fn to_summary(&self) -> ModelPriceSummary {
        let r = &self.standard.rates;
        ModelPriceSummary {
            key: self.key.clone(),
            provider: self.litellm_provider.clone(),
            mode: self.mode.clone(),
            input_cost_per_token: r.input,
            output_cost_per_token: r.output,
            cache_read_input_token_cost: r.cache_read,
            cache_creation_input_token_cost: r.cache_write,
            cache_creation_input_token_cost_above_1hr: r.cache_write_1h,
            output_cost_per_reasoning_token: r.reasoning,
            input_cost_per_request: self.input_cost_per_request,
            max_input_tokens: self.max_input_tokens,
            max_output_tokens: self.max_output_tokens,
            thresholds: self.standard.thresholds.iter().map(|t| t.above_tokens).collect(),
            has_tiered_pricing: !self.tiered_pricing.is_empty(),
            has_off_peak_pricing: self.off_peak_pricing.is_some(),
            manual: self.manual,
        }
    }
}

impl FromStr for ModelPrice {
    type Err = PriceParseError;

    /// Parse a single LiteLLM entry from JSON text (key `"inline"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value: Value = serde_json::from_str(s)?;
        ModelPrice::from_litellm("inline", &value)
    }
}
