//! The cost of a usage under one entry: LiteLLM 1.110.2's rules, in exact decimals.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::model::{ModelPrice, OffPeakPricing, PriceList, RateSet, TierRange};
use super::{CostBreakdown, NOTE_REQUEST_CHARGED, ServiceTier, Usage};

/// Providers whose LiteLLM cost code reads `tiered_pricing` only.
const DASHSCOPE_PROVIDERS: &[&str] = &["dashscope", "qwencloud", "qwen_ai_platform"];

/// Providers whose LiteLLM cost function takes no service tier: `flex` and
/// `priority` are priced at standard rates for them.
pub const TIERLESS_PROVIDERS: &[&str] = &[
    "fireworks_ai",
    "deepseek",
    "tencent",
    "perplexity",
    "xai",
    "lemonade",
    "dashscope",
    "qwencloud",
    "qwen_ai_platform",
];

/// The per-token rates a usage is billed at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BilledRates {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Decimal,
    pub cache_write: Decimal,
    pub cache_write_1h: Decimal,
    pub reasoning: Decimal,
}

fn threshold_label(n: u64) -> String {
    if n.is_multiple_of(1000) { format!("above_{}k", n / 1000) } else { format!("above_{n}") }
}

fn crossed(prompt: u64, n: u64, inclusive: bool) -> bool {
    prompt > n || (inclusive && prompt == n)
}

fn half(d: Decimal) -> Decimal {
    d / Decimal::TWO
}

/// The `tiered_pricing` range for `prompt` tokens: `lo < prompt <= hi`, above
/// every range the last one; none for an empty prompt.
pub(crate) fn select_tier(tiers: &[TierRange], prompt: u64) -> Option<(usize, &TierRange)> {
    if tiers.is_empty() || prompt == 0 {
        return None;
    }
    let x = Decimal::from(prompt);
    tiers.iter().enumerate().find(|(_, t)| t.lo < x && x <= t.hi).or_else(|| tiers.iter().enumerate().next_back())
}

impl ModelPrice {
    /// Exact cost of `usage` at time `at` (off-peak windows), as billed by
    /// `provider` (LiteLLM's provider quirks: `xai` thresholds are `>=` and its
    /// reasoning is plain output; `fireworks_ai` reads cache at half the input
    /// rate when the entry has no cache-read rate; `perplexity` has no
    /// thresholds and no cache-write rate; `dashscope`/`qwencloud`/
    /// `qwen_ai_platform` read `tiered_pricing` only) at service tier `tier`.
    ///
    /// `input_cost_per_request`, which LiteLLM's cost code never reads, is
    /// charged once as the `request` line item, with a note.
    pub fn cost(&self, provider: &str, usage: &Usage, at: DateTime<Utc>, tier: ServiceTier) -> CostBreakdown {
        let mut notes = Vec::new();
        let mut usage = usage.clone();
        if usage.reasoning_tokens > usage.output_tokens {
            notes.push(format!(
                "reasoning_tokens {} exceed output_tokens {}; clamped",
                usage.reasoning_tokens, usage.output_tokens
            ));
            usage.reasoning_tokens = usage.output_tokens;
        }
        let tier = match tier {
            ServiceTier::Flex | ServiceTier::Priority if TIERLESS_PROVIDERS.contains(&provider) => {
                notes.push(format!(
                    "service tier {tier:?} priced at standard rates for provider {provider} (as LiteLLM)"
                ));
                ServiceTier::Standard
            }
            t => t,
        };
        let (rates, label) = self.billed_rates(provider, &usage, at, tier);
        let mul = |tokens: u64, rate: Decimal| Decimal::from(tokens).saturating_mul(rate);
        let mut b = CostBreakdown {
            input: mul(usage.input_tokens, rates.input),
            cache_read: mul(usage.cache_read_tokens, rates.cache_read),
            cache_write: mul(usage.cache_write_tokens, rates.cache_write),
            cache_write_1h: mul(usage.cache_write_1h_tokens, rates.cache_write_1h),
            output: mul(usage.output_tokens - usage.reasoning_tokens, rates.output),
            reasoning: mul(usage.reasoning_tokens, rates.reasoning),
            request: Decimal::ZERO,
            total: Decimal::ZERO,
            tier: label,
            notes,
        };
        if let Some(per_request) = self.input_cost_per_request.filter(|d| !d.is_zero()) {
            b.request = per_request;
            b.notes.push(NOTE_REQUEST_CHARGED.to_string());
        }
        b.total = [b.input, b.cache_read, b.cache_write, b.cache_write_1h, b.output, b.reasoning, b.request]
            .iter()
            .fold(Decimal::ZERO, |acc, d| acc.saturating_add(*d));
        b
    }

    /// The rates `cost` bills at, after service-tier resolution.
    fn billed_rates(
        &self,
        provider: &str,
        usage: &Usage,
        at: DateTime<Utc>,
        tier: ServiceTier,
    ) -> (BilledRates, String) {
        match tier {
            ServiceTier::Batch => self.batch_rates(provider, usage),
            _ if provider == "perplexity" => self.perplexity_rates(usage, at),
            _ if DASHSCOPE_PROVIDERS.contains(&provider) => self.dashscope_rates(usage, at),
            _ => self.generic_rates(provider, usage, at, tier),
        }
    }

    fn open_off_peak(&self, at: DateTime<Utc>) -> Option<&OffPeakPricing> {
        self.off_peak_pricing.as_ref().filter(|o| o.is_open(at))
    }

    fn tier_list(&self, tier: ServiceTier) -> Option<&PriceList> {
        match tier {
            ServiceTier::Flex => Some(&self.flex),
            ServiceTier::Priority => Some(&self.priority),
            ServiceTier::Standard | ServiceTier::Batch => None,
        }
    }

    /// LiteLLM's `generic_cost_per_token` (+ fireworks default, xai reasoning).
    fn generic_rates(
        &self,
        provider: &str,
        usage: &Usage,
        at: DateTime<Utc>,
        tier: ServiceTier,
    ) -> (BilledRates, String) {
        let std = &self.standard.rates;
        let prompt = usage.prompt_tokens();
        let inclusive = provider == "xai";
        let off = self.open_off_peak(at);
        let list = self.tier_list(tier);
        let mut label: Vec<String> = Vec::new();
        if let Some(name) = match tier {
            ServiceTier::Flex => Some("flex"),
            ServiceTier::Priority => Some("priority"),
            _ => None,
        } {
            label.push(name.to_string());
        }

        // fireworks_ai: an entry with no cache-read rate reads cache at half its
        // input rate (and half its off-peak input rate while off-peak).
        let fireworks_default = provider == "fireworks_ai"
            && self.litellm_provider.as_deref() == Some("fireworks_ai")
            && std.cache_read.is_none()
            && std.input.is_some();
        let model_cache_read = if fireworks_default { std.input.map(half) } else { std.cache_read };
        let off_cache_read = off.and_then(|o| {
            o.rates
                .cache_read
                .or_else(|| if fireworks_default { o.rates.input.map(half).or(model_cache_read) } else { None })
        });

        let mut r =
            if let Some((i, t)) = select_tier(&self.tiered_pricing, prompt).filter(|(_, t)| t.rates.input.is_some()) {
                label.push(format!("tiered_pricing[{i}]"));
                let tr = &t.rates;
                let t_in = tr.input.unwrap_or_default();
                let mut r = BilledRates {
                    input: t_in,
                    output: tr.output.or(std.output).unwrap_or_default(),
                    cache_read: tr.cache_read.unwrap_or(t_in),
                    cache_write: tr.cache_write.unwrap_or(t_in),
                    ..BilledRates::default()
                };
                if let Some(o) = off {
                    apply_off_peak(&mut r, o, off_cache_read);
                }
                r.cache_write_1h = tr.cache_write_1h.unwrap_or(r.cache_write);
                r
            } else {
                // Service-tier key, falling back to the standard key.
                let pick = |f: fn(&RateSet) -> Option<Decimal>, standard: Option<Decimal>| {
                    list.and_then(|l| f(&l.rates)).or(standard)
                };
                let mut input = pick(|r| r.input, std.input).unwrap_or_default();
                let mut output = pick(|r| r.output, std.output).unwrap_or_default();
                if output.is_zero()
                    && let Some(image) = self.output_cost_per_image_token
                {
                    output = image;
                }
                let mut cache_write = pick(|r| r.cache_write, std.cache_write);
                let mut cache_read = pick(|r| r.cache_read, model_cache_read);
                let mut cache_write_1h = pick(|r| r.cache_write_1h, std.cache_write_1h);

                // Thresholds of the standard list and of the tier's own list, ascending.
                let mut ns: Vec<u64> = self
                    .standard
                    .thresholds
                    .iter()
                    .chain(list.map(|l| l.thresholds.as_slice()).unwrap_or(&[]))
                    .map(|t| t.above_tokens)
                    .collect();
                ns.sort_unstable();
                ns.dedup();
                let mut highest = None;
                for n in ns.into_iter().filter(|n| crossed(prompt, *n, inclusive)) {
                    highest = Some(n);
                    let at_std = self.standard.at_threshold(n);
                    let at_tier = list.and_then(|l| l.at_threshold(n));
                    let get = |f: fn(&RateSet) -> Option<Decimal>| at_tier.and_then(f).or_else(|| at_std.and_then(f));
                    input = get(|r| r.input).unwrap_or(input);
                    output = get(|r| r.output).unwrap_or(output);
                    cache_write = get(|r| r.cache_write).or(cache_write);
                    cache_read = get(|r| r.cache_read).or(cache_read);
                    // The 1-hour key moves only to a threshold key of the request's own list.
                    let own = if list.is_some() { at_tier } else { at_std };
                    if let Some(v) = own.and_then(|r| r.cache_write_1h) {
                        cache_write_1h = Some(v);
                    }
                }
                if let Some(n) = highest {
                    label.push(threshold_label(n));
                }
                // A missing cache rate falls back to the (tier- and off-peak-resolved) input rate.
                let fallback = off.and_then(|o| o.rates.input).unwrap_or(input);
                let mut r = BilledRates {
                    input,
                    output,
                    cache_read: cache_read.unwrap_or(fallback),
                    cache_write: cache_write.unwrap_or(fallback),
                    ..BilledRates::default()
                };
                if let Some(o) = off {
                    apply_off_peak(&mut r, o, off_cache_read);
                }
                r.cache_write_1h = cache_write_1h.unwrap_or(r.cache_write);
                r
            };
        if off.is_some() {
            label.push("off_peak".to_string());
        }

        // Reasoning: off-peak rate, else the tier's, else the entry's own
        // (`output_cost_per_reasoning_token`, never raised by thresholds), else output.
        let tier_reasoning = select_tier(&self.tiered_pricing, prompt)
            .filter(|(_, t)| t.rates.input.is_some())
            .and_then(|(_, t)| t.rates.reasoning.or(t.rates.output));
        r.reasoning = off.and_then(|o| o.rates.reasoning).or(tier_reasoning).unwrap_or_else(|| {
            if let Some(l) = list {
                if let Some(v) = l.rates.reasoning {
                    return v;
                }
                if l.rates.output.is_some() {
                    return r.output;
                }
            }
            std.reasoning.unwrap_or(r.output)
        });
        if provider == "xai" {
            // LiteLLM's xai path drops the completion details: reasoning is output.
            r.reasoning = r.output;
        }
        (r, join_label(label))
    }

    /// LiteLLM's perplexity calculator: `(U+W)·in + R·cr`, no thresholds.
    fn perplexity_rates(&self, usage: &Usage, at: DateTime<Utc>) -> (BilledRates, String) {
        let std = &self.standard.rates;
        let off = self.open_off_peak(at);
        let pick =
            |f: fn(&RateSet) -> Option<Decimal>, standard: Option<Decimal>| off.and_then(|o| f(&o.rates)).or(standard);
        let input = pick(|r| r.input, std.input).unwrap_or_default();
        let output = pick(|r| r.output, std.output).unwrap_or_default();
        let cache_read = pick(|r| r.cache_read, std.cache_read).unwrap_or(input);
        let reasoning = if usage.reasoning_tokens > 0 { std.reasoning.unwrap_or(output) } else { output };
        let r = BilledRates { input, output, cache_read, cache_write: input, cache_write_1h: input, reasoning };
        let label = if off.is_some() { "off_peak" } else { "base" };
        (r, label.to_string())
    }

    /// LiteLLM's dashscope calculator: `tiered_pricing` or flat rates, never
    /// `_above_` keys.
    fn dashscope_rates(&self, usage: &Usage, at: DateTime<Utc>) -> (BilledRates, String) {
        let std = &self.standard.rates;
        let std_in = std.input.unwrap_or_default();
        let flat_output = std.output.unwrap_or_default();
        let mut label = Vec::new();
        let (mut r, reasoning) = match select_tier(&self.tiered_pricing, usage.prompt_tokens()) {
            None => (
                BilledRates {
                    input: std_in,
                    output: flat_output,
                    cache_read: std.cache_read.or(std.input).unwrap_or_default(),
                    cache_write: std.cache_write.or(std.input).unwrap_or_default(),
                    ..BilledRates::default()
                },
                std.reasoning,
            ),
            Some((i, t)) => {
                label.push(format!("tiered_pricing[{i}]"));
                let tr = &t.rates;
                let reasoning = match (tr.reasoning, tr.output) {
                    (Some(v), _) => Some(v),
                    (None, Some(_)) => None,
                    (None, None) => std.reasoning,
                };
                (
                    BilledRates {
                        input: tr.input.unwrap_or_default(),
                        output: tr.output.unwrap_or(flat_output),
                        cache_read: tr.cache_read.or(tr.input).unwrap_or_default(),
                        cache_write: tr.cache_write.or(tr.input).unwrap_or_default(),
                        ..BilledRates::default()
                    },
                    reasoning,
                )
            }
        };
        let mut reasoning = reasoning;
        if let Some(o) = self.open_off_peak(at) {
            apply_off_peak(&mut r, o, o.rates.cache_read);
            reasoning = o.rates.reasoning.or(reasoning);
            label.push("off_peak".to_string());
        }
        r.cache_write_1h = r.cache_write;
        r.reasoning = reasoning.unwrap_or(r.output);
        (r, join_label(label))
    }

    /// LiteLLM's `batch_cost_calculator`: `*_batches` rates (with their own
    /// `_above_{N}k_tokens_batches` thresholds), else half the standard rates.
    fn batch_rates(&self, provider: &str, usage: &Usage) -> (BilledRates, String) {
        let prompt = usage.prompt_tokens();
        let inclusive = provider == "xai";
        let std = &self.standard.rates;
        let mut highest: Option<u64> = None;
        let mut batch = |f: fn(&RateSet) -> Option<Decimal>| -> Option<Decimal> {
            let hit = self
                .batches
                .thresholds
                .iter()
                .rev()
                .filter(|t| crossed(prompt, t.above_tokens, inclusive))
                .find_map(|t| f(&t.rates).map(|v| (t.above_tokens, v)));
            match hit {
                Some((n, v)) => {
                    highest = Some(highest.map_or(n, |h: u64| h.max(n)));
                    Some(v)
                }
                None => f(&self.batches.rates),
            }
        };
        let b_in = batch(|r| r.input);
        let b_out = batch(|r| r.output);
        let b_cr = batch(|r| r.cache_read);
        let b_cw = batch(|r| r.cache_write);
        let b_cw1h = batch(|r| r.cache_write_1h);
        let output = b_out.or(std.output.map(half)).unwrap_or_default();
        let r = if let Some(input) = b_in {
            // The standard cache-read rate at the highest crossed standard threshold.
            let std_cache_read = self
                .standard
                .thresholds
                .iter()
                .rev()
                .filter(|t| crossed(prompt, t.above_tokens, false))
                .find_map(|t| t.rates.cache_read)
                .or(std.cache_read);
            let cache_write = b_cw.unwrap_or(input);
            BilledRates {
                input,
                output,
                cache_read: b_cr.or(std_cache_read).unwrap_or(input),
                cache_write,
                cache_write_1h: b_cw1h.unwrap_or(cache_write),
                reasoning: output,
            }
        } else if let Some(input) = std.input {
            let cache_write = half(std.cache_write.unwrap_or(input));
            BilledRates {
                input: half(input),
                output,
                // LiteLLM bills batch cache reads at half the cache-read rate, 0 without one.
                cache_read: half(std.cache_read.unwrap_or_default()),
                cache_write,
                cache_write_1h: cache_write,
                reasoning: output,
            }
        } else {
            BilledRates { output, reasoning: output, ..BilledRates::default() }
        };
        let mut label = vec![if b_in.is_some() { "batches" } else { "batches_half" }.to_string()];
        if let Some(n) = highest {
            label.push(threshold_label(n));
        }
        (r, join_label(label))
    }
}

/// Swap in the off-peak rates that the block sets (unset ones keep the standard rate).
fn apply_off_peak(r: &mut BilledRates, o: &OffPeakPricing, cache_read: Option<Decimal>) {
    if let Some(v) = o.rates.input {
        r.input = v;
    }
    if let Some(v) = o.rates.output {
        r.output = v;
    }
    if let Some(v) = cache_read {
        r.cache_read = v;
    }
    if let Some(v) = o.rates.cache_write {
        r.cache_write = v;
    }
}

fn join_label(parts: Vec<String>) -> String {
    if parts.is_empty() { "base".to_string() } else { parts.join("+") }
}
