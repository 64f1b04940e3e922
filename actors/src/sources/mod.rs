//! Price sources: where Budget learns what models cost.
//!
//! A [`PriceSource`] fetches one feed and parses it into [`SourcePrice`]s (USD
//! **per token**, exact [`Decimal`]s). Sources are configured as
//! `[[price_sources]]` entries of `budget.toml` ([`SourceConfig`]) and built by
//! [`build_source`] (the registry: [`SourceKind`] → adapter):
//!
//! | kind | adapter | feed |
//! | --- | --- | --- |
//! | `litellm` | [`FeedSource`] | LiteLLM's `model_prices_and_context_window.json` (parsed by [`crate::pricing::PriceTable`], every tier kept in [`SourcePrice::full`]) |
//! | `llm_prices` | [`FeedSource`] | llm-prices.com `current-v1.json` (per million → per token) |
//! | `llm_prices_historical` | [`FeedSource`] | llm-prices.com `historical-v1.json` (with `effective_from` / `effective_to`) |
//! | `html_table` | [`FeedSource`] | any HTML pricing table, by CSS selectors ([`HtmlTableConfig`]) |
//! | `pretrained` | [`FeedSource`] | `html_table` with [`HtmlTableConfig::pretrained_preset`] |
//! | `file` | [`FileSource`] | a local path (or URL) to any of the formats above, chosen by `format` |
//!
//! All HTTP goes through one [`Fetcher`]: per-request timeout, retries with
//! exponential backoff and jitter on timeouts / 5xx / network errors only, a
//! minimum interval between fetches, conditional GET (ETag / Last-Modified →
//! [`FetchOutcome::NotModified`]) and a response size limit enforced while
//! streaming. Every attempt and result is traced at DEBUG, target
//! `price_monitor`.
//!
//! Every fresh snapshot passes [`sanity_check`] (no negative price, not empty)
//! before it is returned; the caller that remembers the last good snapshot
//! calls [`sanity_check`] again with its model count to reject a feed that lost
//! most of its models. Model identity across sources is in [`identity`].

mod fetch;
mod file;
mod html;
pub mod identity;
mod litellm;
mod llm_prices;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use fetch::{FetchedBody, Fetcher};
pub use file::FileSource;
pub use html::{parse_html_table, parse_price_text};
pub use litellm::parse_litellm;
pub use llm_prices::{parse_llm_prices_current, parse_llm_prices_historical};

/// Tracing target of the price monitor.
pub const TRACE_TARGET: &str = "price_monitor";

/// LiteLLM's published price map.
pub const LITELLM_DEFAULT_URL: &str =
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json";

/// llm-prices.com's current-prices feed.
pub const LLM_PRICES_DEFAULT_URL: &str = "https://www.llm-prices.com/current-v1.json";

/// What a source says one model costs. All prices are USD per token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePrice {
    /// Normalized provider ([`identity::normalize`]).
    pub provider: String,
    /// Normalized model ([`identity::normalize`]).
    pub model: String,
    /// The source's own key for the model: the LiteLLM map key, `"{vendor}/{id}"`
    /// for llm-prices, the model cell's text for HTML tables.
    pub source_id: String,
    #[serde(with = "crate::money::option", default)]
    pub input_cost_per_token: Option<Decimal>,
    #[serde(with = "crate::money::option", default)]
    pub output_cost_per_token: Option<Decimal>,
    #[serde(with = "crate::money::option", default)]
    pub cache_read_input_token_cost: Option<Decimal>,
    #[serde(with = "crate::money::option", default)]
    pub cache_creation_input_token_cost: Option<Decimal>,
    /// Start of validity (historical feeds), inclusive.
    #[serde(default)]
    pub effective_from: Option<DateTime<Utc>>,
    /// End of validity (historical feeds), exclusive.
    #[serde(default)]
    pub effective_to: Option<DateTime<Utc>>,
    /// LiteLLM only: the complete parsed entry (all tiers), so an applied update keeps them.
    #[serde(default)]
    pub full: Option<crate::pricing::ModelPrice>,
}

impl SourcePrice {
    /// A price with only identity set.
    pub fn new(provider: impl Into<String>, model: impl Into<String>, source_id: impl Into<String>) -> SourcePrice {
        SourcePrice {
            provider: provider.into(),
            model: model.into(),
            source_id: source_id.into(),
            input_cost_per_token: None,
            output_cost_per_token: None,
            cache_read_input_token_cost: None,
            cache_creation_input_token_cost: None,
            effective_from: None,
            effective_to: None,
            full: None,
        }
    }

    /// The four headline rates, named as in LiteLLM.
    pub fn rates(&self) -> [(&'static str, Option<Decimal>); 4] {
        [
            ("input_cost_per_token", self.input_cost_per_token),
            ("output_cost_per_token", self.output_cost_per_token),
            ("cache_read_input_token_cost", self.cache_read_input_token_cost),
            ("cache_creation_input_token_cost", self.cache_creation_input_token_cost),
        ]
    }

    /// Whether the price is in force at `at` (always true without dates).
    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_from.is_none_or(|from| from <= at) && self.effective_to.is_none_or(|to| at < to)
    }
}

/// One successful fetch.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The source's configured name.
    pub source: String,
    pub prices: Vec<SourcePrice>,
    /// Validators to send with the next fetch.
    pub validators: Validators,
    /// Size of the body parsed.
    pub bytes: usize,
}

/// HTTP cache validators of a response (`ETag`, `Last-Modified`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether neither validator is set.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Result of [`PriceSource::fetch`].
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// New data.
    Fresh(Snapshot),
    /// The server answered 304 to the conditional GET (or a local file is unchanged).
    NotModified,
}

/// Why a fetch failed. Every variant says enough to be recorded as the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("HTTP {status} from {url}")]
    Http { status: u16, url: String },
    #[error("timed out after {seconds}s fetching {url}")]
    Timeout { url: String, seconds: u64 },
    #[error("response larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("network error: {0}")]
    Network(String),
    #[error("parse error: {0}")]
    Parse(String),
    /// The HTML no longer has the configured shape.
    #[error("page layout changed: {0}")]
    Layout(String),
    #[error("sanity check failed: {0}")]
    Sanity(String),
    #[error("invalid source configuration: {0}")]
    Config(String),
    #[error("rate limited: next fetch allowed in {retry_in_secs}s")]
    RateLimited { retry_in_secs: u64 },
}

impl SourceError {
    /// Whether another attempt may succeed (timeouts, 5xx, network errors).
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Timeout { .. } | SourceError::Network(_) => true,
            SourceError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// The kind of a source: which adapter reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// LiteLLM's `model_prices_and_context_window.json`.
    Litellm,
    /// llm-prices.com `current-v1.json`.
    #[serde(alias = "llm-prices")]
    LlmPrices,
    /// llm-prices.com `historical-v1.json`.
    #[serde(alias = "llm-prices-historical")]
    LlmPricesHistorical,
    /// A configurable HTML pricing table.
    #[serde(alias = "html-table")]
    HtmlTable,
    /// `HtmlTable` with [`HtmlTableConfig::pretrained_preset`].
    Pretrained,
    /// A local path (or URL) in any of the formats above (`format`).
    File,
}

impl SourceKind {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Litellm => "litellm",
            SourceKind::LlmPrices => "llm_prices",
            SourceKind::LlmPricesHistorical => "llm_prices_historical",
            SourceKind::HtmlTable => "html_table",
            SourceKind::Pretrained => "pretrained",
            SourceKind::File => "file",
        }
    }
}

fn default_schedule() -> String {
    "0 0 */6 * * *".to_string()
}
fn default_trust() -> Decimal {
    Decimal::new(5, 1)
}
fn default_timeout() -> u64 {
    30
}
fn default_min_interval() -> u64 {
    60
}
fn default_max_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_retries() -> u32 {
    3
}
fn default_retry_min_delay_ms() -> u64 {
    500
}
fn default_true() -> bool {
    true
}
fn default_min_model_ratio() -> Decimal {
    Decimal::new(5, 1)
}

/// One `[[price_sources]]` entry of `budget.toml`.
///
/// Defaults: `schedule = "0 0 */6 * * *"` (every 6 hours; 5-field cron is
/// accepted and runs at second 0), `trust = 0.5`, `timeout_seconds = 30`,
/// `min_interval_seconds = 60`, `max_bytes = 16 MiB`, `retries = 3`,
/// `retry_min_delay_ms = 500` (first backoff delay; doubles, with jitter, capped
/// at 30 s), `enabled = true`, `min_model_ratio = 0.5`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name (`litellm`, `llm-prices`, ...).
    pub name: String,
    pub kind: SourceKind,
    /// `http(s)://` URL, or for `file` a local path (or URL).
    pub url: String,
    /// Cron expression, 5 or 6 fields (6 = with seconds first).
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Configured trust, 0..=1.
    #[serde(default = "default_trust")]
    pub trust: Decimal,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Rate limit: a fetch is refused if the previous one started less than this long ago.
    #[serde(default = "default_min_interval")]
    pub min_interval_seconds: u64,
    /// Response size limit.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Retries after the first attempt (transient errors only).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff delay in milliseconds.
    #[serde(default = "default_retry_min_delay_ms")]
    pub retry_min_delay_ms: u64,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// For `file`: which parser reads it.
    #[serde(default)]
    pub format: Option<SourceKind>,
    /// For `html_table` (required) and `pretrained` (optional override of the preset).
    #[serde(default)]
    pub html: Option<HtmlTableConfig>,
    /// Sanity: reject a snapshot with fewer than `ratio × last good` models.
    #[serde(default = "default_min_model_ratio")]
    pub min_model_ratio: Decimal,
    /// Who publishes the data. Sources with the same publisher (say, llm-prices.com's current
    /// and historical feeds) are one voice when sources are compared. Default: the name.
    #[serde(default)]
    pub publisher: Option<String>,
}

impl SourceConfig {
    /// A config with every default, for `name`, `kind` and `url`.
    pub fn new(name: impl Into<String>, kind: SourceKind, url: impl Into<String>) -> SourceConfig {
        SourceConfig {
            name: name.into(),
            kind,
            url: url.into(),
            schedule: default_schedule(),
            trust: default_trust(),
            timeout_seconds: default_timeout(),
            min_interval_seconds: default_min_interval(),
            max_bytes: default_max_bytes(),
            retries: default_retries(),
            retry_min_delay_ms: default_retry_min_delay_ms(),
            enabled: true,
            format: None,
            html: None,
            min_model_ratio: default_min_model_ratio(),
            publisher: None,
        }
    }

    /// LiteLLM's published map, trust 0.9.
    pub fn defaults_litellm() -> SourceConfig {
        SourceConfig {
            trust: Decimal::new(9, 1),
            ..SourceConfig::new("litellm", SourceKind::Litellm, LITELLM_DEFAULT_URL)
        }
    }

    /// The publisher sources are compared as.
    pub fn publisher(&self) -> &str {
        self.publisher.as_deref().unwrap_or(&self.name)
    }

    /// llm-prices.com's current feed, trust 0.7.
    pub fn defaults_llm_prices() -> SourceConfig {
        SourceConfig {
            trust: Decimal::new(7, 1),
            publisher: Some("llm-prices.com".into()),
            ..SourceConfig::new("llm-prices", SourceKind::LlmPrices, LLM_PRICES_DEFAULT_URL)
        }
    }

    /// The parser this source's body goes through (`format` for `file`).
    pub fn parser_kind(&self) -> Result<SourceKind, SourceError> {
        match self.kind {
            SourceKind::File => match self.format {
                Some(SourceKind::File) => {
                    Err(SourceError::Config(format!("source {:?}: format must not be \"file\"", self.name)))
                }
                Some(kind) => Ok(kind),
                None => Err(SourceError::Config(format!(
                    "source {:?}: kind \"file\" needs format (litellm, llm_prices, llm_prices_historical, html_table, pretrained)",
                    self.name
                ))),
            },
            kind => Ok(kind),
        }
    }

    /// The HTML table configuration for `html_table` / `pretrained` parsing.
    pub fn html_config(&self) -> Result<HtmlTableConfig, SourceError> {
        match (self.parser_kind()?, &self.html) {
            (_, Some(html)) => Ok(html.clone()),
            (SourceKind::Pretrained, None) => Ok(HtmlTableConfig::pretrained_preset()),
            (kind, None) => Err(SourceError::Config(format!(
                "source {:?}: kind {} needs an [html] table",
                self.name,
                kind.as_str()
            ))),
        }
    }

    /// The schedule, parsed (5-field expressions get second 0).
    pub fn cron_schedule(&self) -> Result<cron::Schedule, SourceError> {
        parse_schedule(&self.schedule)
            .map_err(|e| SourceError::Config(format!("source {:?}: schedule {:?}: {e}", self.name, self.schedule)))
    }

    /// Check every field; the error names the source and the field.
    pub fn validate(&self) -> Result<(), SourceError> {
        let bad = |msg: String| Err(SourceError::Config(format!("source {:?}: {msg}", self.name)));
        if self.name.trim().is_empty() {
            return Err(SourceError::Config("a price source needs a name".into()));
        }
        let url = self.url.trim();
        if url.is_empty() {
            return bad("url is empty".into());
        }
        let is_http = url.starts_with("http://") || url.starts_with("https://");
        if self.kind != SourceKind::File && !is_http {
            return bad(format!("url {url:?} must start with http:// or https://"));
        }
        if url.contains("://") && !is_http && !url.starts_with("file://") {
            return bad(format!("url {url:?}: only http(s):// URLs or local paths are supported"));
        }
        self.cron_schedule()?;
        if self.trust < Decimal::ZERO || self.trust > Decimal::ONE {
            return bad(format!("trust {} must be between 0 and 1", self.trust));
        }
        if self.min_model_ratio < Decimal::ZERO || self.min_model_ratio > Decimal::ONE {
            return bad(format!("min_model_ratio {} must be between 0 and 1", self.min_model_ratio));
        }
        if self.timeout_seconds == 0 {
            return bad("timeout_seconds must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return bad("max_bytes must be at least 1".into());
        }
        if self.format.is_some() && self.kind != SourceKind::File {
            return bad("format is only read for kind \"file\"".into());
        }
        let parser = self.parser_kind()?;
        if matches!(parser, SourceKind::HtmlTable | SourceKind::Pretrained) {
            self.html_config()?.validate().map_err(|e| match e {
                SourceError::Config(msg) => SourceError::Config(format!("source {:?}: {msg}", self.name)),
                other => other,
            })?;
        } else if self.html.is_some() {
            return bad(format!("[html] is only read for html_table and pretrained, not {}", parser.as_str()));
        }
        Ok(())
    }
}

/// Parse a 5- or 6-field cron expression (7 with a year).
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    if !(5..=7).contains(&fields) {
        return Err(format!("expected 5 or 6 fields, got {fields}"));
    }
    // The same reading as policy cron windows: 5 fields are crontab's (1 = Monday).
    crate::period::parse_cron(expr).map_err(|e| e.to_string())
}

/// Which price a table column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HtmlField {
    Model,
    Provider,
    Input,
    Output,
    CacheRead,
    CacheWrite,
}

/// The unit of a price column. A unit written in the cell (`"$0.003 / 1K tokens"`)
/// wins over the column's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PriceUnit {
    #[serde(rename = "per_token")]
    PerToken,
    #[serde(rename = "per_1k")]
    Per1K,
    #[default]
    #[serde(rename = "per_1m")]
    Per1M,
}

impl PriceUnit {
    /// Tokens the unit covers.
    pub fn tokens(self) -> Decimal {
        match self {
            PriceUnit::PerToken => Decimal::ONE,
            PriceUnit::Per1K => Decimal::from(1_000u32),
            PriceUnit::Per1M => Decimal::from(1_000_000u32),
        }
    }
}

/// One column of an HTML table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlColumn {
    pub field: HtmlField,
    /// CSS selector inside the row (`"td:nth-child(2)"`, `"td.model code"`).
    pub selector: String,
    #[serde(default)]
    pub unit: PriceUnit,
}

/// A pricing table in HTML, described by CSS selectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlTableConfig {
    /// Selects one element per model row.
    pub row_selector: String,
    /// `model`, `input` and `output` are required; `provider` too unless `provider` is set.
    pub columns: Vec<HtmlColumn>,
    /// A fixed provider for every row.
    #[serde(default)]
    pub provider: Option<String>,
    /// Model cell text → model id (for pages that show display names).
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
    /// Skip rows whose input or output cell is empty or a dash (instead of failing).
    #[serde(default)]
    pub skip_rows_without_price: bool,
}

impl HtmlTableConfig {
    /// The Pretrained pricing page's shape (see `tests/fixtures/pages/pretrained-pricing.html`):
    /// `table.pricing-table tbody tr` rows with `td.provider`, the model id in
    /// `td.model code`, and USD per 1M tokens in `td.input`, `td.output`,
    /// `td.cache-read`, `td.cache-write`.
    pub fn pretrained_preset() -> HtmlTableConfig {
        let col = |field, selector: &str| HtmlColumn { field, selector: selector.to_string(), unit: PriceUnit::Per1M };
        HtmlTableConfig {
            row_selector: "table.pricing-table tbody tr".to_string(),
            columns: vec![
                col(HtmlField::Provider, "td.provider"),
                col(HtmlField::Model, "td.model code"),
                col(HtmlField::Input, "td.input"),
                col(HtmlField::Output, "td.output"),
                col(HtmlField::CacheRead, "td.cache-read"),
                col(HtmlField::CacheWrite, "td.cache-write"),
            ],
            provider: None,
            model_map: BTreeMap::new(),
            skip_rows_without_price: false,
        }
    }

    /// Selectors parse; the required columns are present once.
    pub fn validate(&self) -> Result<(), SourceError> {
        html::compile(self).map(|_| ())
    }
}

/// A source of prices.
#[async_trait::async_trait]
pub trait PriceSource: Send + Sync {
    fn config(&self) -> &SourceConfig;
    /// Fetch and parse. `previous` = validators of the last good fetch, for conditional GET.
    async fn fetch(&self, previous: &Validators) -> Result<FetchOutcome, SourceError>;
}

/// The registry: builds the adapter for `config.kind` (after [`SourceConfig::validate`]).
pub fn build_source(config: &SourceConfig, http: reqwest::Client) -> Result<Box<dyn PriceSource>, SourceError> {
    config.validate()?;
    match config.kind {
        SourceKind::File => Ok(Box::new(FileSource::new(config.clone(), http)?)),
        _ => Ok(Box::new(FeedSource::new(config.clone(), http)?)),
    }
}

/// The HTTP client for sources: user agent `tekton-budget/<version>`.
pub fn http_client() -> reqwest::Client {
    let agent = format!("tekton-budget/{}", env!("CARGO_PKG_VERSION"));
    reqwest::Client::builder().user_agent(agent.clone()).build().unwrap_or_else(|e| {
        tracing::warn!(target: TRACE_TARGET, error = %e, "HTTP client builder failed; using defaults");
        reqwest::Client::new()
    })
}

/// Parse a body with the parser of `kind` (`html` for the HTML kinds).
pub fn parse_body(
    kind: SourceKind,
    text: &str,
    html: Option<&HtmlTableConfig>,
) -> Result<Vec<SourcePrice>, SourceError> {
    match kind {
        SourceKind::Litellm => parse_litellm(text),
        SourceKind::LlmPrices => parse_llm_prices_current(text),
        SourceKind::LlmPricesHistorical => parse_llm_prices_historical(text),
        SourceKind::HtmlTable | SourceKind::Pretrained => {
            let preset;
            let cfg = match html {
                Some(cfg) => cfg,
                None if kind == SourceKind::Pretrained => {
                    preset = HtmlTableConfig::pretrained_preset();
                    &preset
                }
                None => return Err(SourceError::Config("html_table parsing needs an [html] table".into())),
            };
            parse_html_table(text, cfg)
        }
        SourceKind::File => Err(SourceError::Config("\"file\" is not a body format".into())),
    }
}

/// Drops the entries whose provider or model, once normalized, breaks the character rule of
/// every name in the daemon (`domain::text`): such a price could be stored but never be asked
/// for (a name with a space scraped from a page, or a path). Logged, not an error: the rest of
/// the snapshot is good.
fn with_valid_names(source: &str, prices: Vec<SourcePrice>) -> Vec<SourcePrice> {
    use crate::domain::text::{check_model, check_provider};
    let before = prices.len();
    let kept: Vec<SourcePrice> = prices
        .into_iter()
        .filter(|p| match check_provider("provider", &p.provider).and_then(|()| check_model("model", &p.model)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target: TRACE_TARGET, source, entry = %p.source_id, error = %e, "entry skipped");
                false
            }
        })
        .collect();
    if kept.len() < before {
        tracing::warn!(target: TRACE_TARGET, source, skipped = before - kept.len(), "entries with names outside the rule were skipped");
    }
    kept
}

/// Sanity guards: reject an empty snapshot, any negative price, and a snapshot
/// with fewer than `min_ratio × last_good_count` models.
pub fn sanity_check(
    prices: &[SourcePrice],
    last_good_count: Option<usize>,
    min_ratio: Decimal,
) -> Result<(), SourceError> {
    if prices.is_empty() {
        return Err(SourceError::Sanity("the snapshot has no models".into()));
    }
    for p in prices {
        for (field, value) in p.rates() {
            if let Some(v) = value
                && v.is_sign_negative()
                && !v.is_zero()
            {
                return Err(SourceError::Sanity(format!(
                    "negative price: {} ({}/{}) {field} = {v}",
                    p.source_id, p.provider, p.model
                )));
            }
        }
    }
    if let Some(last) = last_good_count {
        let needed = min_ratio * Decimal::from(last);
        if Decimal::from(prices.len()) < needed {
            return Err(SourceError::Sanity(format!(
                "only {} models, fewer than {min_ratio} × the last good {last} ({} needed)",
                prices.len(),
                needed.ceil()
            )));
        }
    }
    Ok(())
}

/// An HTTP feed: one [`Fetcher`] plus the parser of the source's kind.
pub struct FeedSource {
    config: SourceConfig,
    fetcher: Fetcher,
    html: Option<HtmlTableConfig>,
}

impl FeedSource {
    pub fn new(config: SourceConfig, http: reqwest::Client) -> Result<FeedSource, SourceError> {
        let html = match config.parser_kind()? {
            SourceKind::HtmlTable | SourceKind::Pretrained => Some(config.html_config()?),
            _ => None,
        };
        let fetcher = Fetcher::new(http, &config);
        Ok(FeedSource { config, fetcher, html })
    }
}

#[async_trait::async_trait]
impl PriceSource for FeedSource {
    fn config(&self) -> &SourceConfig {
        &self.config
    }

    async fn fetch(&self, previous: &Validators) -> Result<FetchOutcome, SourceError> {
        let Some(body) = self.fetcher.get(previous).await? else {
            return Ok(FetchOutcome::NotModified);
        };
        finish(&self.config, self.config.parser_kind()?, self.html.as_ref(), body)
    }
}

/// Parse a fetched body, sanity-check it, and wrap it as a snapshot.
pub(crate) fn finish(
    config: &SourceConfig,
    kind: SourceKind,
    html: Option<&HtmlTableConfig>,
    body: FetchedBody,
) -> Result<FetchOutcome, SourceError> {
    let result = parse_body(kind, &body.text, html).and_then(|prices| {
        let prices = with_valid_names(&config.name, prices);
        sanity_check(&prices, None, config.min_model_ratio)?;
        Ok(prices)
    });
    match result {
        Ok(prices) => {
            tracing::debug!(target: TRACE_TARGET, source = %config.name, models = prices.len(), bytes = body.bytes, "parsed snapshot");
            Ok(FetchOutcome::Fresh(Snapshot {
                source: config.name.clone(),
                prices,
                validators: body.validators,
                bytes: body.bytes,
            }))
        }
        Err(e) => {
            tracing::debug!(target: TRACE_TARGET, source = %config.name, error = %e, "snapshot rejected");
            Err(e)
        }
    }
}

/// Per-million (or per-thousand) price → per token, exactly.
pub(crate) fn per_token(value: Decimal, unit: PriceUnit) -> Result<Decimal, SourceError> {
    value
        .checked_div(unit.tokens())
        .map(|d| d.normalize())
        .ok_or_else(|| SourceError::Parse(format!("{value} per {:?} cannot be converted to per token", unit)))
}

#[cfg(test)]
mod name_rule_tests {
    use super::*;

    /// A scraped or fed name that breaks the daemon's name rule is skipped, not stored where
    /// no request could ask for it; the rest of the snapshot is kept.
    #[test]
    fn entries_with_names_outside_the_rule_are_skipped() {
        let prices = vec![
            SourcePrice::new("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
            SourcePrice::new("trav", "../../etc/passwd", "../../etc/passwd"),
            SourcePrice::new("acme", "model (beta)", "Model (beta)"),
            SourcePrice::new("bad provider", "m", "m"),
        ];
        let kept = with_valid_names("test", prices);
        let names: Vec<&str> = kept.iter().map(|p| p.model.as_str()).collect();
        assert_eq!(names, ["claude-sonnet-4-5"]);
    }
}
