//! Price source parsers without network: llm-prices, HTML tables, the file kind,
//! sanity guards, configuration, and model identity across the two real feeds.

use std::collections::BTreeMap;

use budget_actors::pricing::BUILTIN_LITELLM_JSON;
use budget_actors::sources::identity::{base_model, context_tier};
use budget_actors::sources::{
    FetchOutcome, HtmlColumn, HtmlField, HtmlTableConfig, PriceUnit, SourceConfig, SourceError, SourceKind,
    SourcePrice, Validators, build_source, http_client, parse_html_table, parse_litellm, parse_llm_prices_current,
    parse_llm_prices_historical, parse_price_text, sanity_check,
};
use rust_decimal::Decimal;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{rel}")).expect("fixture readable")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

#[test]
fn sources_llm_prices_exact_conversion() {
    let prices = parse_llm_prices_current(&fixture("llm-prices/current-v1.json")).expect("parses");
    let by_id = |id: &str| prices.iter().find(|p| p.source_id == id).unwrap_or_else(|| panic!("{id}"));
    assert_eq!(by_id("amazon/amazon-nova-micro").input_cost_per_token, Some(dec("0.000000035")));
    assert_eq!(by_id("google/gemini-1.5-flash-8b").input_cost_per_token, Some(dec("0.0000000375")));
    assert_eq!(by_id("openai/gpt-4.5").cache_read_input_token_cost, Some(dec("0.0000375")));
    assert_eq!(by_id("openai/o1-pro").output_cost_per_token, Some(dec("0.0006")));
    // The 2025-12-17 live copy too.
    let live = parse_llm_prices_current(&fixture("llm-prices/current-v1.2025-12-17.json")).expect("parses");
    assert!(live.len() >= 90, "{}", live.len());
    // Same (vendor, id) with other prices is an error, not a silent pick.
    let dup =
        r#"{"prices":[{"id":"a","vendor":"v","input":1,"output":2},{"id":"a","vendor":"v","input":3,"output":4}]}"#;
    assert!(matches!(parse_llm_prices_current(dup), Err(SourceError::Parse(_))));
    // Same id under two vendors is two models.
    let two =
        r#"{"prices":[{"id":"a","vendor":"v","input":1,"output":2},{"id":"a","vendor":"w","input":3,"output":4}]}"#;
    assert_eq!(parse_llm_prices_current(two).expect("parses").len(), 2);
}

#[test]
fn sources_llm_prices_historical_dates() {
    let prices = parse_llm_prices_historical(&fixture("llm-prices/historical-v1.json")).expect("parses");
    let ds: Vec<_> = prices.iter().filter(|p| p.source_id == "deepseek/deepseek-chat").collect();
    assert_eq!(ds.len(), 2);
    let cut = chrono::DateTime::parse_from_rfc3339("2025-02-08T00:00:00Z").expect("date").to_utc();
    let before = ds.iter().find(|p| p.effective_to == Some(cut)).expect("before");
    assert_eq!(before.input_cost_per_token, Some(dec("0.00000014")));
    let after = ds.iter().find(|p| p.effective_from == Some(cut)).expect("after");
    assert_eq!(after.input_cost_per_token, Some(dec("0.00000027")));
    let bad = r#"{"prices":[{"id":"a","vendor":"v","input":1,"output":2,"from_date":"yesterday","to_date":null}]}"#;
    assert!(matches!(parse_llm_prices_historical(bad), Err(SourceError::Parse(_))));
}

#[test]
fn sources_price_text() {
    let m = PriceUnit::Per1M;
    assert_eq!(parse_price_text("$3.00", m), Ok(dec("0.000003")));
    assert_eq!(parse_price_text("3", m), Ok(dec("0.000003")));
    assert_eq!(parse_price_text("0.25 / 1M", PriceUnit::PerToken), Ok(dec("0.00000025")));
    assert_eq!(parse_price_text("$0.003 / 1K tokens", m), Ok(dec("0.000003")));
    assert_eq!(parse_price_text("US$1,250.00 per million tokens", m), Ok(dec("0.00125")));
    assert_eq!(parse_price_text("$0.000002 / token", m), Ok(dec("0.000002")));
    assert_eq!(parse_price_text("0.5", PriceUnit::Per1K), Ok(dec("0.0005")));
    assert!(parse_price_text("Contact sales", m).is_err());
    assert!(parse_price_text("$3 per hour", m).is_err());
}

#[test]
fn sources_html_preset_and_layout_errors() {
    let preset = HtmlTableConfig::pretrained_preset();
    let page = fixture("pages/pretrained-pricing.html");
    let prices = parse_html_table(&page, &preset).expect("preset parses the page");
    assert_eq!(prices.len(), 12);
    // Every price equals the LiteLLM map's.
    let table = parse_litellm(BUILTIN_LITELLM_JSON).expect("map");
    for p in &prices {
        // As LiteLLM resolves it: the provider-prefixed twin first (`deepseek/deepseek-chat`), then the bare key.
        let lit = [format!("{}/{}", p.provider, p.model), p.model.clone()]
            .iter()
            .find_map(|key| table.iter().find(|l| &l.source_id == key && l.provider == p.provider))
            .unwrap_or_else(|| panic!("{}/{} not in LiteLLM", p.provider, p.model));
        assert_eq!(p.input_cost_per_token, lit.input_cost_per_token, "{}", p.model);
        assert_eq!(p.output_cost_per_token, lit.output_cost_per_token, "{}", p.model);
        assert_eq!(p.cache_read_input_token_cost, lit.cache_read_input_token_cost, "{}", p.model);
        assert_eq!(p.cache_creation_input_token_cost, lit.cache_creation_input_token_cost, "{}", p.model);
    }

    let changed = fixture("pages/pretrained-pricing-changed-layout.html");
    assert!(matches!(parse_html_table(&changed, &preset), Err(SourceError::Layout(_))));
    // A renamed column class: the input selector matches nothing.
    let renamed = page.replace("class=\"input\"", "class=\"price-in\"");
    assert!(matches!(parse_html_table(&renamed, &preset), Err(SourceError::Layout(m)) if m.contains("input")));
    // A price cell that is not a number.
    let words = page.replacen("<td class=\"output\">$15.00</td>", "<td class=\"output\">Contact us</td>", 1);
    assert!(matches!(parse_html_table(&words, &preset), Err(SourceError::Layout(m)) if m.contains("Contact us")));
    // A missing price fails unless the config skips such rows.
    let blank = page.replacen("<td class=\"input\">$3.00</td>", "<td class=\"input\">&mdash;</td>", 1);
    assert!(matches!(parse_html_table(&blank, &preset), Err(SourceError::Layout(_))));
    let skipping = HtmlTableConfig { skip_rows_without_price: true, ..preset.clone() };
    assert_eq!(parse_html_table(&blank, &skipping).expect("skips").len(), 11);
    // Columns reordered but selected by class: still right.
    let reordered = page.replace("<td class=\"input\">", "<td class=\"input\" data-x>");
    assert_eq!(parse_html_table(&reordered, &preset).expect("parses"), prices);
}

#[test]
fn sources_html_fixed_provider_model_map_and_units() {
    let page = r#"<table id="p"><tr><th>Model</th><th>In</th><th>Out</th></tr>
        <tr><td>Sonnet Four Five</td><td>$0.003 / 1K tokens</td><td>0.015</td></tr>
        <tr><td>Haiku</td><td>0.001</td><td>0.005</td></tr></table>"#;
    let cfg = HtmlTableConfig {
        row_selector: "table#p tr:not(:first-child)".into(),
        columns: vec![
            HtmlColumn { field: HtmlField::Model, selector: "td:nth-child(1)".into(), unit: PriceUnit::Per1M },
            HtmlColumn { field: HtmlField::Input, selector: "td:nth-child(2)".into(), unit: PriceUnit::Per1K },
            HtmlColumn { field: HtmlField::Output, selector: "td:nth-child(3)".into(), unit: PriceUnit::Per1K },
        ],
        provider: Some("Anthropic".into()),
        model_map: BTreeMap::from([("Sonnet Four Five".to_string(), "claude-sonnet-4.5".to_string())]),
        skip_rows_without_price: false,
    };
    let prices = parse_html_table(page, &cfg).expect("parses");
    assert_eq!(prices[0].provider, "anthropic");
    assert_eq!(prices[0].model, "claude-sonnet-4-5");
    assert_eq!(prices[0].source_id, "Sonnet Four Five");
    assert_eq!(prices[0].input_cost_per_token, Some(dec("0.000003")));
    assert_eq!(prices[1].output_cost_per_token, Some(dec("0.000005")));
    // Missing required column in the config is a config error.
    let no_output = HtmlTableConfig { columns: cfg.columns[..2].to_vec(), ..cfg.clone() };
    assert!(matches!(parse_html_table(page, &no_output), Err(SourceError::Config(_))));
    let bad_selector = HtmlTableConfig { row_selector: "tr[".into(), ..cfg };
    assert!(matches!(parse_html_table(page, &bad_selector), Err(SourceError::Config(_))));
}

#[test]
fn sources_litellm_parser() {
    let prices = parse_litellm(BUILTIN_LITELLM_JSON).expect("builtin map");
    assert_eq!(prices.len(), 4_876);
    let negative = r#"{"m": {"litellm_provider": "openai", "input_cost_per_token": -1e-06}}"#;
    assert!(matches!(parse_litellm(negative), Err(SourceError::Sanity(_))));
    let words = r#"{"m": {"litellm_provider": "openai", "input_cost_per_token": "cheap"}}"#;
    assert!(matches!(parse_litellm(words), Err(SourceError::Parse(m)) if m.contains("cheap")));
    assert!(matches!(parse_litellm("[1,2]"), Err(SourceError::Parse(_))));
}

#[test]
fn sources_sanity_guards() {
    let mut p = SourcePrice::new("openai", "gpt-4o", "gpt-4o");
    p.input_cost_per_token = Some(dec("0.0000025"));
    let many = vec![p.clone(); 10];
    assert!(sanity_check(&many, Some(10), dec("0.5")).is_ok());
    assert!(sanity_check(&many, Some(20), dec("0.5")).is_ok(), "exactly half passes");
    assert!(matches!(sanity_check(&many, Some(21), dec("0.5")), Err(SourceError::Sanity(_))));
    assert!(matches!(sanity_check(&[], None, dec("0.5")), Err(SourceError::Sanity(_))));
    let mut neg = p.clone();
    neg.cache_read_input_token_cost = Some(dec("-0.1"));
    assert!(matches!(sanity_check(&[neg], None, dec("0.5")), Err(SourceError::Sanity(m)) if m.contains("cache_read")));
    let mut zero = p;
    zero.output_cost_per_token = Some(Decimal::ZERO);
    assert!(sanity_check(&[zero], None, dec("0.5")).is_ok());
}

#[test]
fn sources_config_defaults_and_validation() {
    let cfg: SourceConfig = serde_json::from_str(
        r#"{"name":"llm","kind":"llm_prices","url":"https://www.llm-prices.com/current-v1.json"}"#,
    )
    .expect("defaults fill in");
    assert_eq!(cfg.schedule, "0 0 */6 * * *");
    assert_eq!(cfg.trust, dec("0.5"));
    assert_eq!((cfg.timeout_seconds, cfg.min_interval_seconds, cfg.retries), (30, 60, 3));
    assert_eq!(cfg.max_bytes, 16 * 1024 * 1024);
    assert!(cfg.enabled);
    assert_eq!(cfg.min_model_ratio, dec("0.5"));
    cfg.validate().expect("valid");
    assert!(
        serde_json::from_str::<SourceConfig>(r#"{"name":"x","kind":"litellm","url":"https://a","colour":1}"#).is_err()
    );

    let litellm = SourceConfig::defaults_litellm();
    assert_eq!(litellm.trust, dec("0.9"));
    assert!(litellm.url.ends_with("/model_prices_and_context_window.json"));
    litellm.validate().expect("valid");
    let llm = SourceConfig::defaults_llm_prices();
    assert_eq!((llm.name.as_str(), llm.url.as_str()), ("llm-prices", "https://www.llm-prices.com/current-v1.json"));
    assert_eq!(llm.trust, dec("0.7"));

    let five_field = SourceConfig { schedule: "*/15 * * * *".into(), ..llm.clone() };
    five_field.validate().expect("5-field cron");
    let bad = |c: SourceConfig| matches!(c.validate(), Err(SourceError::Config(_)));
    assert!(bad(SourceConfig { schedule: "every hour".into(), ..llm.clone() }));
    assert!(bad(SourceConfig { trust: dec("1.5"), ..llm.clone() }));
    assert!(bad(SourceConfig { url: "/etc/prices.json".into(), ..llm.clone() }));
    assert!(bad(SourceConfig { timeout_seconds: 0, ..llm.clone() }));
    assert!(bad(SourceConfig::new("f", SourceKind::File, "/tmp/x.json")), "file needs a format");
    assert!(bad(SourceConfig::new("h", SourceKind::HtmlTable, "https://example.com/pricing")), "html needs [html]");
    SourceConfig::new("p", SourceKind::Pretrained, "https://example.com/pricing").validate().expect("preset");
    assert!(matches!(
        build_source(&SourceConfig { trust: dec("-1"), ..llm }, http_client()),
        Err(SourceError::Config(_))
    ));
}

#[tokio::test]
async fn sources_file_kind_reads_each_format() {
    let cases = [
        (
            SourceKind::Litellm,
            format!("{}/data/litellm/model_prices_and_context_window.json", env!("CARGO_MANIFEST_DIR")),
            4_876,
        ),
        (SourceKind::LlmPrices, format!("{FIXTURES}/llm-prices/current-v1.json"), 141),
        (SourceKind::LlmPricesHistorical, format!("{FIXTURES}/llm-prices/historical-v1.json"), 0),
        (SourceKind::Pretrained, format!("{FIXTURES}/pages/pretrained-pricing.html"), 12),
    ];
    for (format, path, expected) in cases {
        let cfg = SourceConfig {
            format: Some(format),
            min_interval_seconds: 0,
            ..SourceConfig::new("file", SourceKind::File, path)
        };
        let source = build_source(&cfg, http_client()).expect("builds");
        let snap = match source.fetch(&Validators::default()).await.expect("reads") {
            FetchOutcome::Fresh(s) => s,
            FetchOutcome::NotModified => panic!("first read"),
        };
        if expected > 0 {
            assert_eq!(snap.prices.len(), expected, "{format:?}");
        } else {
            assert!(snap.prices.len() > 141, "{format:?}: {}", snap.prices.len());
        }
        assert!(!snap.validators.is_empty());
        assert!(matches!(source.fetch(&snap.validators).await, Ok(FetchOutcome::NotModified)), "{format:?}");
    }
    let missing = SourceConfig {
        format: Some(SourceKind::LlmPrices),
        ..SourceConfig::new("file", SourceKind::File, "/nonexistent/prices.json")
    };
    let err = build_source(&missing, http_client()).expect("builds").fetch(&Validators::default()).await;
    assert!(matches!(err, Err(SourceError::Network(m)) if m.contains("/nonexistent/prices.json")));
    let tiny = SourceConfig {
        format: Some(SourceKind::LlmPrices),
        max_bytes: 100,
        ..SourceConfig::new("file", SourceKind::File, format!("{FIXTURES}/llm-prices/current-v1.json"))
    };
    let err = build_source(&tiny, http_client()).expect("builds").fetch(&Validators::default()).await;
    assert!(matches!(err, Err(SourceError::TooLarge { limit: 100 })));
}

#[test]
fn sources_identity_match_rate_llm_prices_to_litellm() {
    let litellm = parse_litellm(BUILTIN_LITELLM_JSON).expect("map");
    let index = IdentityIndex::new(&litellm);
    let mut any_provider: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for p in &litellm {
        any_provider.insert(p.model.clone());
        any_provider.insert(base_model(&p.model));
    }
    let feed = parse_llm_prices_current(&fixture("llm-prices/current-v1.json")).expect("feed");
    let (mut exact, mut base, mut tier, mut other_provider) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut elsewhere = Vec::new();
    for p in &feed {
        match index.find(&p.provider, &p.model) {
            Some((MatchKind::Exact, _)) => exact += 1,
            Some((MatchKind::BaseModel, _)) => base += 1,
            Some((MatchKind::ContextTier { .. }, _)) => tier += 1,
            None => {
                let tier_base = context_tier(&p.model).map(|(b, _)| b);
                if any_provider.contains(&p.model)
                    || any_provider.contains(&base_model(&p.model))
                    || tier_base.is_some_and(|b| any_provider.contains(&b))
                {
                    other_provider += 1;
                    elsewhere.push(p.source_id.clone());
                } else {
                    misses.push(p.source_id.clone());
                }
            }
        }
    }
    let same_provider = exact + base + tier;
    println!(
        "llm-prices → LiteLLM: {} rows; same provider {same_provider} (exact {exact}, base model {base}, context tier {tier}); \
         only under another provider {other_provider} {elsewhere:?}; not in LiteLLM {}: {misses:?}",
        feed.len(),
        misses.len()
    );
    assert!(same_provider >= 90, "{same_provider}");
    assert!(same_provider + other_provider >= 115);
}

// The lookup the match-rate test measures: exact, then base model, then context tier.
/// How [`IdentityIndex::find`] matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    /// Same normalized provider and model.
    Exact,
    /// Same provider and [`base_model`].
    BaseModel,
    /// The query is a long-context tier row of a model the index knows.
    ContextTier { above_tokens: u64 },
}

/// Index of a source's prices by normalized identity.
#[derive(Debug, Clone, Default)]
struct IdentityIndex {
    exact: BTreeMap<(String, String), Vec<usize>>,
    base: BTreeMap<(String, String), Vec<usize>>,
}

impl IdentityIndex {
    fn new(prices: &[SourcePrice]) -> IdentityIndex {
        let mut index = IdentityIndex::default();
        for (i, p) in prices.iter().enumerate() {
            index.exact.entry((p.provider.clone(), p.model.clone())).or_default().push(i);
            index.base.entry((p.provider.clone(), base_model(&p.model))).or_default().push(i);
        }
        index
    }

    /// Positions of the prices for a normalized `(provider, model)`: exact
    /// first, then by base model, then as a long-context tier of a known model.
    fn find(&self, provider: &str, model: &str) -> Option<(MatchKind, &[usize])> {
        let key = |m: &str| (provider.to_string(), m.to_string());
        if let Some(hit) = self.exact.get(&key(model)) {
            return Some((MatchKind::Exact, hit));
        }
        if let Some(hit) = self.base.get(&key(model)).or_else(|| self.base.get(&key(&base_model(model)))) {
            return Some((MatchKind::BaseModel, hit));
        }
        let (base, above_tokens) = context_tier(model)?;
        let hit = self.exact.get(&key(&base)).or_else(|| self.base.get(&key(&base)))?;
        Some((MatchKind::ContextTier { above_tokens }, hit))
    }
}
