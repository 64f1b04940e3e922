//! `budget prices …`: the price table (list, show, set, history, estimate). The monitoring
//! subcommands (sources, refresh, updates, pending, approve, reject, conflicts) are in
//! `monitoring`.

use anyhow::Result;
use clap::Subcommand;
use comfy_table::Table;
use rust_decimal::Decimal;

use budget_actors::api::{EstimateRequest, PriceHistory, PricesQuery, SetPrice};
use budget_actors::prices::PriceSummary;

use super::render::{cost, keep, opt, print, table};
use super::{Output, TokenArgs, amount, monitoring};
use crate::client::BudgetClient;

#[derive(Subcommand, Debug)]
pub enum PricesCmd {
    List {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    Show {
        provider: String,
        model: String,
    },
    /// Set a manual price (per million tokens unless --per-token).
    Set {
        provider: String,
        model: String,
        /// Input price (per million tokens unless --per-token).
        #[arg(long)]
        input_price: String,
        /// Output price.
        #[arg(long)]
        output_price: String,
        /// Cache-read price.
        #[arg(long)]
        cache_read_price: Option<String>,
        /// Cache-write price.
        #[arg(long)]
        cache_write_price: Option<String>,
        /// Rates are per token rather than per million.
        #[arg(long)]
        per_token: bool,
    },
    /// Price sources: health, last success and error, next run, trust.
    Sources,
    /// Fetch now (all sources, or one) and verify.
    Refresh {
        #[arg(long)]
        source: Option<String>,
    },
    /// Applied price changes, newest first.
    Updates {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Changes held for approval (--status all for every decision).
    Pending {
        #[arg(long)]
        status: Option<String>,
    },
    /// Put a held change in force.
    Approve {
        id: String,
    },
    /// Drop a held change.
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Versions of one model's price, and the changes that made them.
    History {
        provider: String,
        model: String,
    },
    /// Models whose sources disagree.
    Conflicts,
    /// Cost of a usage shape.
    Estimate {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        model: String,
        #[command(flatten)]
        tokens: TokenArgs,
    },
}

pub async fn run(client: &BudgetClient, output: Output, cmd: PricesCmd) -> Result<()> {
    match cmd {
        PricesCmd::List { provider, search, limit } => {
            let list = client.list_prices(&PricesQuery { provider, search, limit: Some(limit) }).await?;
            print(output, &list, |l| price_table(l))
        }
        PricesCmd::Show { provider, model } => {
            let p = client.show_price(&provider, &model).await?;
            print(output, &p, |p| price_table(std::slice::from_ref(p)))
        }
        PricesCmd::Set {
            provider,
            model,
            input_price,
            output_price,
            cache_read_price,
            cache_write_price,
            per_token,
        } => {
            // The daemon converts per-million rates; the CLI only says which form it sends.
            let input_rate = amount("input_price", Some(input_price))?;
            let output_rate = amount("output_price", Some(output_price))?;
            let cache_read = amount("cache_read_price", cache_read_price)?;
            let cache_write = amount("cache_write_price", cache_write_price)?;
            let req = if per_token {
                SetPrice {
                    input_cost_per_token: input_rate,
                    output_cost_per_token: output_rate,
                    cache_read_input_token_cost: cache_read,
                    cache_creation_input_token_cost: cache_write,
                    ..SetPrice::default()
                }
            } else {
                SetPrice {
                    input_cost_per_million: input_rate,
                    output_cost_per_million: output_rate,
                    cache_read_input_cost_per_million: cache_read,
                    cache_creation_input_cost_per_million: cache_write,
                    ..SetPrice::default()
                }
            };
            let p = client.set_price(&provider, &model, &req).await?;
            print(output, &p, |p| price_table(std::slice::from_ref(p)))
        }
        PricesCmd::History { provider, model } => {
            let h = client.price_history(&provider, &model).await?;
            print(output, &h, history_table)
        }
        PricesCmd::Estimate { provider, model, tokens } => {
            let req = EstimateRequest {
                provider,
                model,
                input_tokens: tokens.input_tokens,
                output_tokens: tokens.output_tokens,
                cache_read_tokens: tokens.cache_read_tokens,
                cache_write_tokens: tokens.cache_write_tokens,
                cache_write_1h_tokens: tokens.cache_write_1h_tokens,
                reasoning_tokens: tokens.reasoning_tokens,
                ..EstimateRequest::default()
            };
            let e = client.estimate(&req).await?;
            print(output, &e, |e| {
                let mut t = table(&["cost", "input", "cache read", "cache write", "output", "price"]);
                let b = e.cost_breakdown.clone().unwrap_or_default();
                t.add_row(vec![
                    cost(e.cost),
                    b.input.to_string(),
                    b.cache_read.to_string(),
                    (b.cache_write + b.cache_write_1h).to_string(),
                    b.output.to_string(),
                    opt(&e.price_ref),
                ]);
                t
            })
        }
        PricesCmd::Sources
        | PricesCmd::Refresh { .. }
        | PricesCmd::Updates { .. }
        | PricesCmd::Pending { .. }
        | PricesCmd::Approve { .. }
        | PricesCmd::Reject { .. }
        | PricesCmd::Conflicts => monitoring::run(client, output, cmd).await,
    }
}

/// Rates per million tokens, as people quote them (the API keeps LiteLLM's per-token rates;
/// neither `money` nor `pricing` has a display helper for this).
fn price_table(list: &[PriceSummary]) -> Table {
    let mut t = table(&["provider", "model", "input $/Mtok", "output $/Mtok", "cache read $/Mtok", "source"]);
    let per_m = |d: Option<Decimal>| {
        d.map(|d| (d * Decimal::from(1_000_000)).normalize().to_string()).unwrap_or_else(|| "-".into())
    };
    for p in list {
        t.add_row(vec![
            p.provider.clone(),
            p.model.clone(),
            per_m(p.rates.input_cost_per_token),
            per_m(p.rates.output_cost_per_token),
            per_m(p.rates.cache_read_input_token_cost),
            p.source.clone(),
        ]);
    }
    t
}

fn history_table(h: &PriceHistory) -> Table {
    let mut t = table(&["version", "source", "effective from", "effective to"]);
    keep(&mut t, 0);
    // The same text as the JSON answer's timestamps (RFC 3339, `Z`).
    let when = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    for v in &h.versions {
        t.add_row(vec![
            v.id.to_string(),
            v.source.clone(),
            when(v.effective_from),
            v.effective_to.map(when).unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}
