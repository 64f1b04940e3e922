//! A configurable HTML pricing-table scraper. It fails loudly with
//! [`SourceError::Layout`] when the page no longer has the configured shape; it
//! never returns zeros for cells it could not read.

use rust_decimal::Decimal;
use scraper::{ElementRef, Html, Selector};

use super::identity::{ModelMap, normalize};
use super::{HtmlField, HtmlTableConfig, PriceUnit, SourceError, SourcePrice, per_token};
use crate::money::parse_decimal;

pub(crate) struct Compiled {
    rows: Selector,
    columns: Vec<(HtmlField, Selector, PriceUnit, String)>,
}

fn field_name(field: HtmlField) -> &'static str {
    match field {
        HtmlField::Model => "model",
        HtmlField::Provider => "provider",
        HtmlField::Input => "input",
        HtmlField::Output => "output",
        HtmlField::CacheRead => "cache_read",
        HtmlField::CacheWrite => "cache_write",
    }
}

/// Parse the selectors and check the columns: `model`, `input`, `output` (and
/// `provider` unless fixed) exactly once, other fields at most once.
pub(crate) fn compile(cfg: &HtmlTableConfig) -> Result<Compiled, SourceError> {
    let sel = |what: &str, text: &str| {
        Selector::parse(text).map_err(|e| SourceError::Config(format!("html {what} selector {text:?}: {e}")))
    };
    let rows = sel("row", &cfg.row_selector)?;
    let mut columns: Vec<(HtmlField, Selector, PriceUnit, String)> = Vec::with_capacity(cfg.columns.len());
    for col in &cfg.columns {
        if columns.iter().any(|(f, ..)| *f == col.field) {
            return Err(SourceError::Config(format!("html column {} is configured twice", field_name(col.field))));
        }
        columns.push((col.field, sel(field_name(col.field), &col.selector)?, col.unit, col.selector.clone()));
    }
    let mut required = vec![HtmlField::Model, HtmlField::Input, HtmlField::Output];
    if cfg.provider.is_none() {
        required.push(HtmlField::Provider);
    }
    for field in required {
        if !columns.iter().any(|(f, ..)| *f == field) {
            return Err(SourceError::Config(format!(
                "html table needs a {} column{}",
                field_name(field),
                if field == HtmlField::Provider { " (or a fixed provider)" } else { "" }
            )));
        }
    }
    Ok(Compiled { rows, columns })
}

fn cell_text(el: ElementRef<'_>) -> String {
    el.text().collect::<Vec<_>>().join(" ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_blank(text: &str) -> bool {
    matches!(text.trim().to_ascii_lowercase().as_str(), "" | "-" | "–" | "—" | "n/a" | "na" | "none")
}

/// Parse a scraped table into prices (per token).
///
/// * no row matches `row_selector` → [`SourceError::Layout`];
/// * a `model`, `provider`, `input` or `output` selector matches nothing in a
///   row → `Layout` (optional cache columns may be absent or blank);
/// * a price cell that is not a number → `Layout`;
/// * an empty or dash input/output cell → `Layout`, unless
///   `skip_rows_without_price`, which skips the row.
pub fn parse_html_table(html: &str, cfg: &HtmlTableConfig) -> Result<Vec<SourcePrice>, SourceError> {
    let compiled = compile(cfg)?;
    let doc = Html::parse_document(html);
    let map = ModelMap::default();
    let mut out = Vec::new();
    let mut matched = 0usize;
    'rows: for (i, row) in doc.select(&compiled.rows).enumerate() {
        matched += 1;
        let mut price = SourcePrice::new("", "", "");
        let mut provider = cfg.provider.clone().unwrap_or_default();
        let mut model_text = String::new();
        for (field, selector, unit, selector_text) in &compiled.columns {
            let cell = row.select(selector).next();
            let required = matches!(field, HtmlField::Model | HtmlField::Input | HtmlField::Output)
                || (*field == HtmlField::Provider && cfg.provider.is_none());
            let Some(cell) = cell else {
                if required {
                    return Err(SourceError::Layout(format!(
                        "row {} ({:?}): the {} column selector {selector_text:?} matches nothing",
                        i + 1,
                        cell_text(row).chars().take(80).collect::<String>(),
                        field_name(*field)
                    )));
                }
                continue;
            };
            let text = cell_text(cell);
            let where_ = || format!("row {} column {} ({selector_text:?})", i + 1, field_name(*field));
            match field {
                HtmlField::Model => {
                    if is_blank(&text) {
                        return Err(SourceError::Layout(format!("{}: empty model name", where_())));
                    }
                    model_text = text;
                }
                HtmlField::Provider => {
                    if is_blank(&text) {
                        return Err(SourceError::Layout(format!("{}: empty provider", where_())));
                    }
                    provider = text;
                }
                _ => {
                    let value = if is_blank(&text) {
                        if matches!(field, HtmlField::Input | HtmlField::Output) {
                            if cfg.skip_rows_without_price {
                                continue 'rows;
                            }
                            return Err(SourceError::Layout(format!("{}: no price", where_())));
                        }
                        None
                    } else {
                        Some(
                            parse_price_text(&text, *unit)
                                .map_err(|e| SourceError::Layout(format!("{}: {e}", where_())))?,
                        )
                    };
                    match field {
                        HtmlField::Input => price.input_cost_per_token = value,
                        HtmlField::Output => price.output_cost_per_token = value,
                        HtmlField::CacheRead => price.cache_read_input_token_cost = value,
                        HtmlField::CacheWrite => price.cache_creation_input_token_cost = value,
                        HtmlField::Model | HtmlField::Provider => {}
                    }
                }
            }
        }
        let model_id = cfg.model_map.get(&model_text).cloned().unwrap_or_else(|| model_text.replace(' ', "-"));
        let (p, m) = normalize(&provider, &model_id, &map);
        price.provider = p;
        price.model = m;
        price.source_id = model_text;
        out.push(price);
    }
    if matched == 0 {
        return Err(SourceError::Layout(format!("no rows match {:?}", cfg.row_selector)));
    }
    if out.is_empty() {
        return Err(SourceError::Layout(format!("{matched} rows match {:?} but none has a price", cfg.row_selector)));
    }
    Ok(out)
}

/// Parse a price cell: `"$3.00"`, `"3"`, `"0.25 / 1M"`, `"$0.003 / 1K tokens"`,
/// `"US$1,250.00 per million tokens"`, `"$0.000002 / token"`. A unit written in
/// the cell wins over `column_unit`. Returns USD per token.
pub fn parse_price_text(text: &str, column_unit: PriceUnit) -> Result<Decimal, String> {
    let original = text;
    let mut s = text.trim().to_ascii_lowercase();
    for prefix in ["us$", "usd", "$"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.trim_start().to_string();
            break;
        }
    }
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest.trim_start().trim_start_matches('$')),
        None => ("", s.as_str()),
    };
    let end = body.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(body.len());
    let number: String = body[..end].chars().filter(|c| *c != ',').collect();
    if number.is_empty() || !number.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!("{original:?} is not a price"));
    }
    let value =
        parse_decimal(&format!("{sign}{number}")).ok_or_else(|| format!("{original:?} is not a decimal number"))?;
    let unit = parse_unit(&body[end..]).ok_or_else(|| format!("{original:?}: unreadable unit {:?}", &body[end..]))?;
    per_token(value, unit.unwrap_or(column_unit)).map_err(|e| e.to_string())
}

/// `Some(None)` = no unit written; `None` = junk.
fn parse_unit(rest: &str) -> Option<Option<PriceUnit>> {
    let mut r: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
    for suffix in ["usd", "$"] {
        if let Some(x) = r.strip_prefix(suffix) {
            r = x.to_string();
        }
    }
    for suffix in ["tokens", "token", "tok"] {
        if let Some(x) = r.strip_suffix(suffix) {
            r = x.to_string();
            break;
        }
    }
    let had_per = if let Some(x) = r.strip_prefix('/') {
        r = x.to_string();
        true
    } else if let Some(x) = r.strip_prefix("per") {
        r = x.to_string();
        true
    } else {
        false
    };
    Some(match r.as_str() {
        "" if had_per => Some(PriceUnit::PerToken),
        "" => None,
        "1m" | "m" | "million" | "1million" | "1,000,000" | "1000000" => Some(PriceUnit::Per1M),
        "1k" | "k" | "thousand" | "1thousand" | "1,000" | "1000" => Some(PriceUnit::Per1K),
        _ => return None,
    })
}
