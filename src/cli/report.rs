//! `budget report usage|overview`: reports grouped and bucketed by the daemon, printed or
//! written to a file (`--out`), and streamed exports of every record (`--records`).

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use budget_actors::api::{ReportQuery, UsageReport};

use super::Output;
use super::render::{print, table};
use crate::client::BudgetClient;

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Usage summed by the daemon: grouped, bucketed, filtered; JSON, CSV or Markdown.
    Usage(Box<UsageReportArgs>),
    /// Every budget's policies with a forecast, open alerts, the last day's and month's usage.
    Overview,
}

#[derive(Args, Debug)]
pub struct UsageReportArgs {
    /// Start (RFC 3339); default 30 days before --to.
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); default now.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Only usage counted against this budget (id or name).
    #[arg(long)]
    pub budget: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub task_type: Option<String>,
    #[arg(long)]
    pub context_id: Option<String>,
    #[arg(long)]
    pub tier: Option<String>,
    /// Comma-separated: provider, model, component, task_type, context_id, tier, budget.
    #[arg(long)]
    pub group_by: Option<String>,
    /// hour, day, week or month.
    #[arg(long)]
    pub bucket: Option<String>,
    /// IANA zone the buckets align to (default the daemon's).
    #[arg(long)]
    pub tz: Option<String>,
    /// Only the N rows of highest cost.
    #[arg(long)]
    pub top: Option<u32>,
    /// json, csv or md (default: a table on a terminal, or --output json); with --records,
    /// csv (default) or ndjson.
    #[arg(long)]
    pub format: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Every record in range and filter, streamed (not a summary).
    #[arg(long)]
    pub records: bool,
}

pub async fn run(client: &BudgetClient, output: Output, cmd: ReportCmd) -> Result<()> {
    match cmd {
        ReportCmd::Overview => {
            let overview = client.overview().await?;
            print(output, &overview, |o| {
                let mut t = table(&["budget", "period", "settled", "reserved", "limit", "state", "forecast"]);
                for b in &o.budgets {
                    for p in &b.policies {
                        t.add_row(vec![
                            b.budget.clone(),
                            p.status.period.clone(),
                            p.status.settled.to_string(),
                            p.status.reserved.to_string(),
                            p.status.limit.map(|l| l.to_string()).unwrap_or_default(),
                            format!("{:?}", p.status.state).to_lowercase(),
                            p.forecast
                                .as_ref()
                                .map(|f| format!("{}{}", f.projected, if f.will_exceed { " (over)" } else { "" }))
                                .unwrap_or_default(),
                        ]);
                    }
                }
                t
            })
        }
        ReportCmd::Usage(args) => usage(client, output, *args).await,
    }
}

async fn usage(client: &BudgetClient, output: Output, args: UsageReportArgs) -> Result<()> {
    let query = ReportQuery {
        from: args.from,
        to: args.to,
        budget: args.budget,
        component: args.component,
        provider: args.provider,
        model: args.model,
        task_type: args.task_type,
        context_id: args.context_id,
        tier: args.tier,
        group_by: args.group_by,
        bucket: args.bucket,
        tz: args.tz,
        top: args.top,
        format: args.format.clone(),
    };
    let path = if args.records { "/api/v1/reports/usage/records" } else { "/api/v1/reports/usage" };
    let raw = args.records || matches!(args.format.as_deref(), Some("csv" | "md"));
    if raw || args.out.is_some() {
        let mut query = query;
        if !args.records && query.format.is_none() {
            query.format = Some("json".into());
        }
        let written = match &args.out {
            Some(file) => {
                let mut out = std::io::BufWriter::new(
                    std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?,
                );
                let n = client.download(path, &query, &mut out).await?;
                std::io::Write::flush(&mut out).with_context(|| format!("writing {}", file.display()))?;
                n
            }
            None => client.download(path, &query, &mut std::io::stdout()).await?,
        };
        if let Some(file) = &args.out {
            eprintln!("wrote {written} bytes to {}", file.display());
        }
        return Ok(());
    }
    if let Some(f) = args.format.as_deref()
        && f != "json"
    {
        bail!("--format must be json, csv or md");
    }
    let report = client.usage_report(&query).await?;
    print(output, &report, report_table)
}

fn report_table(report: &UsageReport) -> comfy_table::Table {
    let mut keys: Vec<String> = Vec::new();
    if report.bucket.is_some() {
        keys.push("bucket".into());
    }
    keys.extend(report.group_by.iter().cloned());
    let mut header: Vec<&str> = keys.iter().map(String::as_str).collect();
    header.extend(["requests", "cost", "avg/request", "input", "output", "total tokens"]);
    let mut t = table(&header);
    let measures = |m: &budget_actors::api::Measures| {
        vec![
            m.requests.to_string(),
            m.cost.to_string(),
            m.avg_cost_per_request.map(|a| a.to_string()).unwrap_or_default(),
            m.input_tokens.to_string(),
            m.output_tokens.to_string(),
            m.total_tokens.to_string(),
        ]
    };
    for row in &report.rows {
        let mut cells: Vec<String> =
            keys.iter().map(|k| row.keys.get(k).cloned().flatten().unwrap_or_else(|| "-".into())).collect();
        cells.extend(measures(&row.measures));
        t.add_row(cells);
    }
    // Without keys the one row is the totals already.
    if !keys.is_empty() || report.rows.is_empty() {
        let mut totals: Vec<String> = keys.iter().map(|_| "TOTAL".to_string()).collect();
        totals.extend(measures(&report.totals));
        t.add_row(totals);
    }
    t
}
