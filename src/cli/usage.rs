//! `budget usage …`: record, list, summary.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use comfy_table::Table;

use budget_actors::api::{SummaryQuery, UsageQuery, UsageRequest, UsageSummary};

use super::render::{cost, keep, print, table};
use super::{ContextArg, Output, TokenArgs, time};
use crate::client::BudgetClient;

#[derive(Subcommand, Debug)]
pub enum UsageCmd {
    /// Record what a call used.
    Record {
        #[arg(long = "allocation", alias = "allocation-id")]
        allocation: Option<String>,
        #[arg(long)]
        component: Option<String>,
        #[command(flatten)]
        context: ContextArg,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        task_type: Option<String>,
        #[command(flatten)]
        tokens: TokenArgs,
        /// Idempotency key.
        #[arg(long)]
        request_id: Option<String>,
    },
    List {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        component: Option<String>,
        #[command(flatten)]
        context: ContextArg,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    Summary {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Comma-separated: provider, model, component, task_type, context_id, budget, day.
        #[arg(long)]
        group_by: Option<String>,
    },
}

pub async fn run(client: &BudgetClient, output: Output, cmd: UsageCmd) -> Result<()> {
    match cmd {
        UsageCmd::Record { allocation, component, context, provider, model, task_type, tokens, request_id } => {
            let allocation_id = allocation
                .map(|a| uuid::Uuid::parse_str(&a).map_err(|_| anyhow!("--allocation '{a}' is not an allocation id")))
                .transpose()?;
            let req = UsageRequest {
                allocation_id,
                component,
                context_id: context.context,
                provider,
                model,
                task_type,
                input_tokens: tokens.input_tokens,
                output_tokens: tokens.output_tokens,
                cache_read_tokens: tokens.cache_read_tokens,
                cache_write_tokens: tokens.cache_write_tokens,
                cache_write_1h_tokens: tokens.cache_write_1h_tokens,
                reasoning_tokens: tokens.reasoning_tokens,
                request_id,
                ..UsageRequest::default()
            };
            let r = client.record_usage(&req).await?;
            print(output, &r, |r| {
                let mut t = table(&["record", "cost", "input", "output", "budgets"]);
                keep(&mut t, 0);
                t.add_row(vec![
                    r.id.to_string(),
                    cost(r.cost),
                    r.record.input_tokens.to_string(),
                    r.record.output_tokens.to_string(),
                    r.budgets
                        .iter()
                        .map(|b| {
                            format!(
                                "{}: {}",
                                b.budget,
                                b.policies.iter().map(|p| p.state.as_str()).collect::<Vec<_>>().join("/")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
                t
            })
        }
        UsageCmd::List { provider, model, component, context, from, to, limit, cursor } => {
            let query = UsageQuery {
                from: time("from", from)?,
                to: time("to", to)?,
                provider,
                model,
                component,
                context_id: context.context,
                limit: Some(limit),
                cursor,
                ..UsageQuery::default()
            };
            let page = client.list_usage(&query).await?;
            print(output, &page, |p| {
                let mut t = table(&["time", "component", "model", "input", "output", "cost"]);
                for r in &p.records {
                    t.add_row(vec![
                        r.timestamp.to_rfc3339(),
                        r.component.clone(),
                        format!("{}/{}", r.provider, r.model),
                        r.input_tokens.to_string(),
                        r.output_tokens.to_string(),
                        cost(r.cost),
                    ]);
                }
                if let Some(next) = &p.next_cursor {
                    t.add_row(vec![format!("more: --cursor {next}")]);
                }
                t
            })
        }
        UsageCmd::Summary { from, to, group_by } => {
            let query = SummaryQuery { from: time("from", from)?, to: time("to", to)?, group_by };
            let s = client.usage_summary(&query).await?;
            print(output, &s, summary_table)
        }
    }
}

/// One row per group, then a `total` row with the same columns. Without `--group-by` the one
/// group is everything, so the table is just the total.
pub fn summary_table(s: &UsageSummary) -> Table {
    let grouped = !s.group_by.is_empty();
    let mut header: Vec<&str> = s.group_by.iter().map(String::as_str).collect();
    if !grouped {
        header.push("");
    }
    header.extend(["records", "cost", "input", "output", "total tokens"]);
    let mut t = table(&header);
    let (mut input, mut output, mut total_tokens) = (0u64, 0u64, 0u64);
    for r in &s.rows {
        input = input.saturating_add(r.input_tokens);
        output = output.saturating_add(r.output_tokens);
        total_tokens = total_tokens.saturating_add(r.total_tokens);
        if grouped {
            let mut row: Vec<String> =
                s.group_by.iter().map(|g| r.group.get(g).and_then(|v| v.as_str()).unwrap_or("").to_string()).collect();
            row.extend([
                r.records.to_string(),
                r.cost.to_string(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                r.total_tokens.to_string(),
            ]);
            t.add_row(row);
        }
    }
    let mut total = vec!["total".to_string()];
    total.extend(std::iter::repeat_n(String::new(), s.group_by.len().saturating_sub(1)));
    total.extend([
        s.total_records.to_string(),
        s.total_cost.to_string(),
        input.to_string(),
        output.to_string(),
        total_tokens.to_string(),
    ]);
    t.add_row(total);
    t
}
