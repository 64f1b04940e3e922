//! Model identity across sources: the same model under the names different
//! sources give it.
//!
//! [`normalize`] turns a source's `(provider, model)` into a canonical pair:
//!
//! 1. Both are trimmed and lowercased. A [`ModelMap`] entry for the pair as the
//!    source wrote it (`"provider/model"`) wins over every rule below; an entry
//!    for the normalized pair is applied last.
//! 2. Provider aliases ([`normalize_provider`]): LiteLLM's API flavours fold
//!    into one provider (`bedrock_converse`, `bedrock_mantle`, `amazon_nova` →
//!    `bedrock`; `vertex_ai-*` → `vertex_ai`; `text-completion-openai` →
//!    `openai`; `cohere_chat` → `cohere`; `azure_text` → `azure`), and
//!    llm-prices vendors take LiteLLM's names: `google` → `gemini` (llm-prices
//!    lists Google AI Studio prices, LiteLLM's `gemini/` entries), `amazon` →
//!    `bedrock` (Nova is sold through Bedrock), `moonshot-ai` → `moonshot`,
//!    `meta-ai` → `meta`, `qwen` → `dashscope`.
//! 3. Path prefixes are stripped from the model: the provider's own
//!    (`gemini/gemini-2.5-pro`), hosting prefixes (`bedrock/`, `vertex_ai/`,
//!    `azure/`, `azure_ai/`), region and commitment segments
//!    (`us-east-1/`, `eu/`, `1-month-commitment/`) and vendor segments
//!    (`deepinfra/google/gemini-2.5-flash` → `gemini-2.5-flash`, provider
//!    stays `deepinfra`: a reseller's price is its own). Routers that pass the
//!    vendor's price through (`openrouter/`, `vercel_ai_gateway/`) give the
//!    provider to the vendor they name:
//!    `openrouter/anthropic/claude-3.5-sonnet` → `("anthropic", "claude-3-5-sonnet")`.
//! 4. Bedrock-style ids lose their geography and vendor prefixes and `-vN:0`
//!    suffix: `us.anthropic.claude-3-5-sonnet-20241022-v2:0` →
//!    `claude-3-5-sonnet-20241022`; Vertex's `@20240620` becomes `-20240620`.
//! 5. Spelling: Claude version numbers use dashes (`claude-3.5-sonnet` →
//!    `claude-3-5-sonnet`, as in Anthropic's API ids), and from Claude 4 on the
//!    family comes first (`claude-4.5-haiku` → `claude-haiku-4-5`); Gemini
//!    versions use dots (`gemini-3-1-pro-preview` → `gemini-3.1-pro-preview`);
//!    `amazon-nova-*` → `nova-*`. Other dots (OpenAI `gpt-4.1`, xAI `grok-4.20`)
//!    are kept.
//!
//! Dated snapshots keep their date; [`base_model`] gives the undated name.
//! llm-prices lists long-context tiers as their own rows (`gpt-5.4-272k`);
//! [`context_tier`] reads them as the tier of the base model. the verifier
//! finds a pair among a source's prices by exact name, base model or context tier.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Extra identity rules from configuration: `"provider/model"` as a source names
/// it → canonical `"provider/model"` (a target without `/` keeps the provider).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelMap {
    entries: BTreeMap<String, String>,
}

impl ModelMap {
    pub fn new(entries: BTreeMap<String, String>) -> ModelMap {
        let mut map = ModelMap::default();
        for (from, to) in entries {
            map.insert(&from, &to);
        }
        map
    }

    /// Add a rule (keys are matched case-insensitively).
    pub fn insert(&mut self, from: &str, to: &str) {
        self.entries.insert(from.trim().to_lowercase(), to.trim().to_lowercase());
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn lookup(&self, provider: &str, model: &str) -> Option<(String, String)> {
        if self.entries.is_empty() {
            return None;
        }
        let target = self.entries.get(&format!("{provider}/{model}"))?;
        Some(match target.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => (p.to_string(), m.to_string()),
            _ => (provider.to_string(), target.clone()),
        })
    }
}

/// Routers that pass the vendor's price through; the vendor they name becomes the provider.
const ROUTERS: &[&str] = &["openrouter", "vercel_ai_gateway"];

/// Hosting prefixes stripped from model paths (the provider is kept).
const HOSTS: &[&str] = &["bedrock", "bedrock_converse", "bedrock_mantle", "vertex_ai", "azure", "azure_ai"];

/// Vendor names that appear as path segments (`deepinfra/google/...`).
const VENDOR_SEGMENTS: &[&str] = &[
    "anthropic",
    "openai",
    "google",
    "gemini",
    "xai",
    "x-ai",
    "meta",
    "meta-llama",
    "mistral",
    "mistralai",
    "deepseek",
    "deepseek-ai",
    "minimax",
    "moonshotai",
    "moonshot",
    "qwen",
    "alibaba",
    "amazon",
    "cohere",
    "ai21",
    "z-ai",
    "zai",
];

/// Vendor prefixes of Bedrock / OCI style dotted ids (`anthropic.claude-...`).
const DOTTED_VENDORS: &[&str] = &[
    "anthropic",
    "amazon",
    "meta",
    "mistral",
    "cohere",
    "deepseek",
    "minimax",
    "moonshotai",
    "moonshot",
    "qwen",
    "xai",
    "google",
    "openai",
    "ai21",
    "writer",
    "twelvelabs",
    "zai",
    "nvidia",
];

/// Geography prefixes of Bedrock inference profiles (`us.`, `global.`).
const GEO_PREFIXES: &[&str] = &["us-gov.", "us.", "eu.", "apac.", "global.", "au.", "jp.", "ca.", "apne."];

/// Canonical provider name (step 2 of the module rules).
pub fn normalize_provider(provider: &str) -> String {
    let p = provider.trim().to_lowercase();
    if p.starts_with("vertex_ai") {
        return "vertex_ai".into();
    }
    if p.starts_with("fireworks_ai") {
        return "fireworks_ai".into();
    }
    let alias = match p.as_str() {
        "google" | "google_ai_studio" | "google-ai-studio" => "gemini",
        "meta-ai" | "meta_ai" => "meta",
        "meta-llama" => "meta_llama",
        "moonshot-ai" | "moonshotai" | "moonshot_ai" => "moonshot",
        "qwen" | "alibaba" => "dashscope",
        "amazon" | "amazon_nova" | "bedrock_converse" | "bedrock_mantle" => "bedrock",
        "text-completion-openai" => "openai",
        "text-completion-codestral" => "codestral",
        "text-completion-inception" => "inception",
        "cohere_chat" => "cohere",
        "azure_text" => "azure",
        "mistralai" | "mistral-ai" | "mistral_ai" => "mistral",
        "x-ai" => "xai",
        "z-ai" => "zai",
        "deepseek-ai" => "deepseek",
        _ => return p,
    };
    alias.to_string()
}

fn is_region_segment(s: &str) -> bool {
    if matches!(s, "*" | "us" | "eu" | "global" | "global-standard" | "apac" | "au" | "jp") {
        return true;
    }
    if s.ends_with("-month-commitment") {
        return true;
    }
    // AWS regions: us-east-1, us-gov-west-1, ap-northeast-1.
    let parts: Vec<&str> = s.split('-').collect();
    let n = parts.len();
    (n == 3 || n == 4)
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[n - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[n - 1].is_empty()
        && parts[1..n - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Normalize a `(provider, model)` pair as a source names it (see the module rules).
pub fn normalize(provider: &str, model: &str, map: &ModelMap) -> (String, String) {
    let raw_p = provider.trim().to_lowercase();
    let raw_m = model.trim().to_lowercase();
    if let Some(hit) = map.lookup(&raw_p, &raw_m) {
        return hit;
    }
    let (p, m) = normalize_rules(&raw_p, &raw_m);
    map.lookup(&p, &m).unwrap_or((p, m))
}

fn normalize_rules(raw_p: &str, raw_m: &str) -> (String, String) {
    let mut p = normalize_provider(raw_p);
    let mut m = raw_m.to_string();
    // A router as the provider: the vendor it names is the provider.
    if ROUTERS.contains(&p.as_str())
        && let Some((vendor, rest)) = m.split_once('/')
        && VENDOR_SEGMENTS.contains(&vendor)
        && !rest.is_empty()
    {
        p = normalize_provider(vendor);
        m = rest.to_string();
    }
    while let Some((first, rest)) = m.split_once('/') {
        if rest.is_empty() {
            break;
        }
        let (first, rest) = (first.to_string(), rest.to_string());
        if ROUTERS.contains(&first.as_str()) {
            match rest.split_once('/') {
                Some((vendor, model)) if VENDOR_SEGMENTS.contains(&vendor) && !model.is_empty() => {
                    p = normalize_provider(vendor);
                    m = model.to_string();
                }
                _ => m = rest,
            }
            continue;
        }
        if first == raw_p
            || first == p
            || normalize_provider(&first) == p
            || HOSTS.contains(&first.as_str())
            || is_region_segment(&first)
            || VENDOR_SEGMENTS.contains(&first.as_str())
        {
            m = rest;
            continue;
        }
        break;
    }
    m = strip_bedrock_id(&m);
    m = vertex_date(&m);
    if let Some(rest) = m.strip_prefix("amazon-nova") {
        m = format!("nova{rest}");
    }
    if m.starts_with("claude") {
        m = claude_spelling(&m);
    }
    if m.starts_with("gemini-") {
        m = gemini_spelling(&m);
    }
    (p, m)
}

/// `us.anthropic.claude-3-5-sonnet-20241022-v2:0` → `claude-3-5-sonnet-20241022`.
fn strip_bedrock_id(model: &str) -> String {
    let mut m = model;
    for geo in GEO_PREFIXES {
        if let Some(rest) = m.strip_prefix(geo) {
            m = rest;
            break;
        }
    }
    let mut vendor_stripped = false;
    if let Some((vendor, rest)) = m.split_once('.')
        && DOTTED_VENDORS.contains(&vendor)
        && !rest.is_empty()
    {
        m = rest;
        vendor_stripped = true;
    }
    // `-vN:0` always; a bare `-vN` only on a vendor-prefixed id.
    if let Some(idx) = m.rfind("-v") {
        let tail = &m[idx + 2..];
        let (num, colon) = match tail.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (tail, None),
        };
        let digits = !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit());
        let strip = digits && (colon == Some("0") || (colon.is_none() && vendor_stripped));
        if strip && idx > 0 {
            m = &m[..idx];
        }
    }
    m.to_string()
}

/// `claude-3-5-sonnet@20240620` → `claude-3-5-sonnet-20240620`.
fn vertex_date(model: &str) -> String {
    if let Some((name, version)) = model.rsplit_once('@')
        && version.len() == 8
        && version.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("{name}-{version}");
    }
    model.to_string()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Dots between digits → dashes; from Claude 4 on, family before version.
fn claude_spelling(model: &str) -> String {
    let chars: Vec<char> = model.chars().collect();
    let mut dashed = String::with_capacity(model.len());
    for (i, c) in chars.iter().enumerate() {
        let between_digits =
            *c == '.' && i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        dashed.push(if between_digits { '-' } else { *c });
    }
    let parts: Vec<&str> = dashed.split('-').collect();
    // claude-<major>[-<minor>]-<family>-rest, major >= 4 → claude-<family>-<major>[-<minor>]-rest
    if parts.len() >= 3 && parts[0] == "claude" && is_digits(parts[1]) && parts[1].parse::<u32>().is_ok_and(|v| v >= 4)
    {
        let (version, family_at) = if parts.len() >= 4 && is_digits(parts[2]) && parts[2].len() <= 2 {
            (&parts[1..3], 3)
        } else {
            (&parts[1..2], 2)
        };
        if matches!(parts.get(family_at), Some(&("opus" | "sonnet" | "haiku"))) {
            let mut out = vec!["claude", parts[family_at]];
            out.extend_from_slice(version);
            out.extend_from_slice(&parts[family_at + 1..]);
            return out.join("-");
        }
    }
    dashed
}

/// `gemini-3-1-pro-preview` → `gemini-3.1-pro-preview`.
fn gemini_spelling(model: &str) -> String {
    let parts: Vec<&str> = model.split('-').collect();
    if parts.len() >= 3 && parts[1].len() == 1 && is_digits(parts[1]) && parts[2].len() == 1 && is_digits(parts[2]) {
        let mut out = format!("gemini-{}.{}", parts[1], parts[2]);
        for part in &parts[3..] {
            out.push('-');
            out.push_str(part);
        }
        return out;
    }
    model.to_string()
}

/// The undated name of a dated snapshot: strips one trailing `-YYYYMMDD`,
/// `-YYYY-MM-DD`, `-YYMMDD`, `-MMDD`/`-YYMM`, `-MM-YYYY`, `@version` or
/// `-latest` (`claude-3-5-sonnet-20241022` → `claude-3-5-sonnet`,
/// `gpt-4o-2024-08-06` → `gpt-4o`, `mistral-large-latest` → `mistral-large`).
pub fn base_model(model: &str) -> String {
    let m = model.trim();
    if let Some((name, _)) = m.rsplit_once('@')
        && !name.is_empty()
    {
        return name.to_string();
    }
    if let Some(name) = m.strip_suffix("-latest")
        && !name.is_empty()
    {
        return name.to_string();
    }
    let parts: Vec<&str> = m.split('-').collect();
    let n = parts.len();
    if n >= 4
        && is_digits(parts[n - 3])
        && parts[n - 3].len() == 4
        && [parts[n - 2], parts[n - 1]].iter().all(|p| p.len() == 2 && is_digits(p))
    {
        return parts[..n - 3].join("-");
    }
    if n >= 3
        && parts[n - 2].len() == 2
        && is_digits(parts[n - 2])
        && parts[n - 1].len() == 4
        && is_digits(parts[n - 1])
        && parts[n - 1].starts_with("20")
    {
        return parts[..n - 2].join("-");
    }
    if n >= 2 && is_digits(parts[n - 1]) && matches!(parts[n - 1].len(), 4 | 6 | 8) {
        return parts[..n - 1].join("-");
    }
    m.to_string()
}

/// A long-context tier row (`gpt-5.4-272k`, `claude-sonnet-4-5-200k`): the base
/// model and the prompt size above which the tier applies. Note that some real
/// model names end the same way (`gpt-4-32k`); use it only as a fallback.
pub fn context_tier(model: &str) -> Option<(String, u64)> {
    let (name, tail) = model.trim().rsplit_once('-')?;
    let digits = tail.strip_suffix('k')?;
    if name.is_empty() || !is_digits(digits) {
        return None;
    }
    Some((name.to_string(), digits.parse::<u64>().ok()?.checked_mul(1000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str, m: &str) -> (String, String) {
        normalize(p, m, &ModelMap::default())
    }

    fn pair(p: &str, m: &str) -> (String, String) {
        (p.to_string(), m.to_string())
    }

    #[test]
    fn litellm_keys() {
        assert_eq!(n("anthropic", "claude-sonnet-4-5"), pair("anthropic", "claude-sonnet-4-5"));
        assert_eq!(n("openai", "gpt-4o-2024-08-06"), pair("openai", "gpt-4o-2024-08-06"));
        assert_eq!(n("gemini", "gemini/gemini-2.5-pro"), pair("gemini", "gemini-2.5-pro"));
        assert_eq!(n("vertex_ai-language-models", "gemini-2.5-pro"), pair("vertex_ai", "gemini-2.5-pro"));
        assert_eq!(n("deepinfra", "deepinfra/google/gemini-2.5-flash"), pair("deepinfra", "gemini-2.5-flash"));
        assert_eq!(
            n("vercel_ai_gateway", "vercel_ai_gateway/anthropic/claude-3.5-sonnet"),
            pair("anthropic", "claude-3-5-sonnet")
        );
        assert_eq!(n("openrouter", "openrouter/anthropic/claude-3.5-sonnet"), pair("anthropic", "claude-3-5-sonnet"));
        assert_eq!(n("", "openrouter/anthropic/claude-3.5-sonnet"), pair("anthropic", "claude-3-5-sonnet"));
        assert_eq!(
            n("bedrock_converse", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            pair("bedrock", "claude-3-5-sonnet-20241022")
        );
        assert_eq!(n("bedrock", "bedrock/us-east-1/moonshotai.kimi-k2.5"), pair("bedrock", "kimi-k2.5"));
        assert_eq!(
            n("bedrock", "bedrock/ap-northeast-1/1-month-commitment/anthropic.claude-v2:1"),
            pair("bedrock", "claude-v2:1")
        );
        assert_eq!(n("bedrock_converse", "anthropic.claude-opus-4-6-v1"), pair("bedrock", "claude-opus-4-6"));
        assert_eq!(n("bedrock_converse", "amazon.nova-micro-v1:0"), pair("bedrock", "nova-micro"));
        assert_eq!(
            n("vertex_ai-anthropic_models", "vertex_ai/claude-3-5-sonnet@20240620"),
            pair("vertex_ai", "claude-3-5-sonnet-20240620")
        );
        assert_eq!(n("azure", "azure/us/gpt-5.4"), pair("azure", "gpt-5.4"));
        assert_eq!(n("xai", "xai/grok-4.20-0309-reasoning"), pair("xai", "grok-4.20-0309-reasoning"));
        assert_eq!(n("meta_llama", "meta_llama/Llama-3.3-70B-Instruct"), pair("meta_llama", "llama-3.3-70b-instruct"));
    }

    #[test]
    fn llm_prices_ids() {
        assert_eq!(n("anthropic", "claude-3.5-sonnet"), pair("anthropic", "claude-3-5-sonnet"));
        assert_eq!(n("anthropic", "claude-4.5-haiku"), pair("anthropic", "claude-haiku-4-5"));
        assert_eq!(n("anthropic", "claude-sonnet-4.5"), pair("anthropic", "claude-sonnet-4-5"));
        assert_eq!(n("anthropic", "claude-sonnet-4.5-200k"), pair("anthropic", "claude-sonnet-4-5-200k"));
        assert_eq!(n("google", "gemini-3-1-pro-preview"), pair("gemini", "gemini-3.1-pro-preview"));
        assert_eq!(n("amazon", "amazon-nova-micro"), pair("bedrock", "nova-micro"));
        assert_eq!(n("moonshot-ai", "kimi-k2-thinking"), pair("moonshot", "kimi-k2-thinking"));
        assert_eq!(n("meta-ai", "muse-spark-1.2"), pair("meta", "muse-spark-1.2"));
        assert_eq!(n("qwen", "qwen3.6-plus"), pair("dashscope", "qwen3.6-plus"));
        assert_eq!(n("openai", "gpt-4.1"), pair("openai", "gpt-4.1"));
        assert_eq!(n("xai", "grok-4-fast"), pair("xai", "grok-4-fast"));
    }

    #[test]
    fn model_map_wins() {
        let mut map = ModelMap::default();
        map.insert("acme/Sonnet Latest", "anthropic/claude-sonnet-4-5");
        map.insert("openai/gpt-4.5", "gpt-4.5-preview");
        assert_eq!(normalize("ACME", "sonnet latest", &map), pair("anthropic", "claude-sonnet-4-5"));
        assert_eq!(normalize("openai", "gpt-4.5", &map), pair("openai", "gpt-4.5-preview"));
    }

    #[test]
    fn base_models_and_tiers() {
        assert_eq!(base_model("claude-3-5-sonnet-20241022"), "claude-3-5-sonnet");
        assert_eq!(base_model("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(base_model("gpt-4-0613"), "gpt-4");
        assert_eq!(base_model("kimi-k2-thinking-251104"), "kimi-k2-thinking");
        assert_eq!(base_model("mistral-large-latest"), "mistral-large");
        assert_eq!(base_model("mistral-medium-3@001"), "mistral-medium-3");
        assert_eq!(base_model("gemini-2.5-flash-preview-09-2025"), "gemini-2.5-flash-preview");
        assert_eq!(base_model("gpt-4o"), "gpt-4o");
        assert_eq!(base_model("claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(context_tier("gpt-5.4-272k"), Some(("gpt-5.4".to_string(), 272_000)));
        assert_eq!(context_tier("gpt-5.4"), None);
    }
}
