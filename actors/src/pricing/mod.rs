//! Exact pricing of LLM usage from LiteLLM's price map.
//!
//! Budget reads LiteLLM's `model_prices_and_context_window.json` and prices a
//! usage the way LiteLLM 1.110.2's own cost code does (see
//! PRICING_SEMANTICS.md), except that all money is an exact
//! [`Decimal`] computed from the decimal text of the map, where LiteLLM
//! multiplies binary floats. The two agree to about 1e-12 relative; ours is
//! the exact one. `tests/pricing_golden.rs` checks this against LiteLLM's own
//! results (`tests/data/litellm_golden.json`, from `tools/gen_pricing_golden.py`).
//!
//! * [`PriceTable`] holds the whole map and resolves `(provider, model)` to an
//!   entry (`"{provider}/{model}"`, then `model`, then `model` without its first
//!   path segment; `alias_of` rows resolved; `sample_spec` and
//!   `fallback_generalizations` skipped).
//! * [`ModelPrice`] is one entry's prices; [`ModelPrice::cost`] prices a
//!   [`Usage`] at a timestamp and [`ServiceTier`] into a [`CostBreakdown`].
//!
//! Deliberate difference from LiteLLM: `input_cost_per_request` (read by no
//! LiteLLM cost code) **is** charged, once per usage, as the `request` line
//! item, and the breakdown then carries the note
//! `"input_cost_per_request charged (LiteLLM does not)"`;
//! [`CostBreakdown::litellm_total`] is the total LiteLLM would report.
//!
//! Not modelled (the [`Usage`] has no counts for them, and LiteLLM charges
//! nothing for them without such counts): audio/image/video tokens, web-search
//! and citation charges, 30-minute/12-hour cache writes, regional or speed
//! multipliers, and DashScope's `explicit_cache_read_input_token_cost` (only
//! for usage reported with `cache_type: "ephemeral"`).

mod cost;
mod model;
mod table;

#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use cost::TIERLESS_PROVIDERS;
pub use model::{
    HourWindow, ModelPrice, ModelPriceSummary, OffPeakPricing, OffPeakRule, PriceList, RateSet, ThresholdRates,
    TierRange,
};
pub use table::{PriceTable, RESERVED_KEYS};

/// LiteLLM 1.110.2's price map, compiled in.
pub const BUILTIN_LITELLM_JSON: &str = include_str!("../../data/litellm/model_prices_and_context_window.json");

/// The LiteLLM release whose map and cost rules this module follows.
pub const LITELLM_VERSION: &str = "1.110.2";

/// Note added to a [`CostBreakdown`] when `input_cost_per_request` was charged.
pub const NOTE_REQUEST_CHARGED: &str = "input_cost_per_request charged (LiteLLM does not)";

/// Token counts, Anthropic-style disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens (`U`).
    pub input_tokens: u64,
    /// Cache-read input tokens (`R`).
    pub cache_read_tokens: u64,
    /// Cache-write input tokens with the default (5-minute) TTL (`W`).
    pub cache_write_tokens: u64,
    /// Cache-write input tokens with a 1-hour TTL (`W1h`).
    pub cache_write_1h_tokens: u64,
    /// Output tokens, reasoning included (`O`).
    pub output_tokens: u64,
    /// The reasoning part of `output_tokens`.
    pub reasoning_tokens: u64,
}

impl Usage {
    /// All prompt tokens: `U + R + W + W1h` (what long-context thresholds and
    /// `tiered_pricing` ranges are measured against).
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
            .saturating_add(self.cache_write_1h_tokens)
    }

    /// Prompt plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens().saturating_add(self.output_tokens)
    }

    /// OpenAI-style conversion: `prompt_tokens = U + R + W`, so
    /// `U = prompt − cached − cache_creation` (never below 0). Cache creation
    /// tokens are taken as 5-minute writes.
    pub fn from_openai(
        prompt_tokens: u64,
        completion_tokens: u64,
        cached_tokens: u64,
        cache_creation_tokens: u64,
        reasoning_tokens: u64,
    ) -> Usage {
        Usage {
            input_tokens: prompt_tokens.saturating_sub(cached_tokens).saturating_sub(cache_creation_tokens),
            cache_read_tokens: cached_tokens,
            cache_write_tokens: cache_creation_tokens,
            cache_write_1h_tokens: 0,
            output_tokens: completion_tokens,
            reasoning_tokens,
        }
    }
}

/// Line items of a cost, each exact. `total` is their sum.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CostBreakdown {
    /// Uncached input tokens × input rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub input: Decimal,
    /// Cache-read tokens × cache-read rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub cache_read: Decimal,
    /// 5-minute cache-write tokens × cache-write rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub cache_write: Decimal,
    /// 1-hour cache-write tokens × 1-hour cache-write rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub cache_write_1h: Decimal,
    /// Non-reasoning output tokens × output rate.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub output: Decimal,
    /// Reasoning tokens × reasoning rate (the output rate when the entry has
    /// no `output_cost_per_reasoning_token`).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub reasoning: Decimal,
    /// `input_cost_per_request` × 1 (LiteLLM does not charge it; Budget does).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub request: Decimal,
    /// Sum of all line items.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub total: Decimal,
    /// Which rate set applied: `"base"`, `"above_200k"`, `"tiered_pricing[1]"`,
    /// `"batches"` (`*_batches` keys), `"batches_half"` (half the standard
    /// rates), `"flex"`, `"priority"`, `"off_peak"`; combinations are joined
    /// with `+` (`"flex+above_272k"`, `"batches+above_272k"`).
    pub tier: String,
    /// Remarks about how the cost was computed.
    pub notes: Vec<String>,
}

impl CostBreakdown {
    /// The total LiteLLM would report: `total − request`.
    pub fn litellm_total(&self) -> Decimal {
        self.total - self.request
    }
}

/// The service tier a request was served at. As in LiteLLM, `Flex` and
/// `Priority` are priced at standard rates (with a note) for the providers in
/// [`TIERLESS_PROVIDERS`], whose LiteLLM cost functions take no service tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTier {
    /// Standard rates.
    #[default]
    Standard,
    /// Batch API rates, as LiteLLM's `batch_cost_calculator`: `*_batches` keys
    /// (with `_above_{N}k_tokens_batches` thresholds; missing batch cache rates
    /// fall back to the standard cache-read rate, else the batch input rate),
    /// else half the standard rates (cache reads at half the cache-read rate,
    /// 0 without one). No off-peak, reasoning or provider quirks apply.
    Batch,
    /// `*_flex` keys, falling back to standard ones.
    Flex,
    /// `*_priority` keys, falling back to standard ones.
    Priority,
}

/// Why a price map or entry could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum PriceParseError {
    /// The text is not JSON.
    #[error("price map is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The top level of the map is not a JSON object.
    #[error("price map top level is not a JSON object")]
    TopLevelNotObject,
    /// An entry is not a JSON object.
    #[error("entry {key:?} is not a JSON object")]
    NotAnObject { key: String },
    /// A price field holds something that is not a decimal number.
    #[error("entry {key:?}: field {field:?} is not a decimal number: {value}")]
    InvalidNumber { key: String, field: String, value: String },
    /// An `_above_{N}k_tokens` field whose `N` is not a whole token count.
    #[error("entry {key:?}: field {field:?} has an unreadable token threshold")]
    InvalidThreshold { key: String, field: String },
    /// A malformed `tiered_pricing` or `off_peak_pricing` block.
    #[error("entry {key:?}: {field}: {reason}")]
    InvalidBlock { key: String, field: String, reason: String },
    /// An `alias_of` row given to [`ModelPrice::from_litellm`] directly.
    #[error("entry {key:?} is an alias of {target:?}; resolve it through PriceTable")]
    AliasEntry { key: String, target: String },
    /// An `alias_of` row whose target is missing or itself an alias.
    #[error("entry {key:?} is an alias of {target:?}, which is not a model entry")]
    AliasTargetMissing { key: String, target: String },
}
