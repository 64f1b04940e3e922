//! `budget migrate rhetor|apollo`: reads the old manager's data here (the engine crate's
//! `migrate` readers), then applies the plan through the REST API: the budget and any policy
//! it lacks, then the usage in batches to `POST /api/v1/usage/import`. Every step is
//! idempotent, so running it again imports nothing twice; `--dry-run` asks the daemon what
//! would happen and changes nothing.

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use serde::Serialize;
use std::path::{Path, PathBuf};

use budget_actors::api::{IMPORT_BATCH_MAX, ImportUsageRequest, ImportedUsage};
use budget_actors::migrate::{
    MigrationPlan, Origin, SkippedRow, SourceZone, UsageTally, read_apollo, read_rhetor, same_policy,
};
use budget_actors::money::display;

use super::Output;
use super::render::{print_tables, table};
use crate::client::BudgetClient;

#[derive(Subcommand, Debug)]
pub enum MigrateCmd {
    /// Import Rhetor's SQLite database: usage rows (their recorded cost kept) and
    /// budget_settings (one budget with a policy per period and provider).
    Rhetor {
        /// Rhetor's database file (opened read-only).
        #[arg(long)]
        db: PathBuf,
        #[command(flatten)]
        options: MigrateOptions,
    },
    /// Import Apollo's data directory: budget_policies.json (token policies) and
    /// usage_records_*.json (token usage, without cost).
    Apollo {
        /// Apollo's data directory.
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        options: MigrateOptions,
    },
}

#[derive(Args, Debug)]
pub struct MigrateOptions {
    /// Print what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The budget the source's limits become (default: rhetor, or apollo).
    #[arg(long)]
    pub budget: Option<String>,
    /// IANA zone the source's timestamps were written in (Rhetor and Apollo wrote local
    /// time); also the zone the imported policies' windows align to. Default: this machine's
    /// zone for timestamps, the daemon's for windows.
    #[arg(long)]
    pub timezone: Option<String>,
    /// Records per import request (at most 1000).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
}

pub async fn run(client: &BudgetClient, output: Output, cmd: MigrateCmd) -> Result<()> {
    let (plan, from, options) = match cmd {
        MigrateCmd::Rhetor { db, options } => {
            let zone = SourceZone::parse(options.timezone.as_deref())?;
            let budget = options.budget.clone().unwrap_or_else(|| "rhetor".into());
            (read_rhetor(&db, &budget, zone).await?, db, options)
        }
        MigrateCmd::Apollo { dir, options } => {
            let zone = SourceZone::parse(options.timezone.as_deref())?;
            let budget = options.budget.clone().unwrap_or_else(|| "apollo".into());
            (read_apollo(&dir, &budget, zone)?, dir, options)
        }
    };
    if options.batch_size == 0 || options.batch_size > IMPORT_BATCH_MAX {
        bail!("--batch-size must be between 1 and {IMPORT_BATCH_MAX}");
    }
    let report = apply(client, plan, &from, &options).await?;
    print_tables(output, &report, render)?;
    if let Some(problem) = &report.totals_problem {
        bail!("{problem}");
    }
    Ok(())
}

/// What a migration did (or, with --dry-run, would do).
#[derive(Debug, Serialize)]
pub struct MigrationReport {
    pub source: &'static str,
    pub from: String,
    pub dry_run: bool,
    pub budget: BudgetOutcome,
    /// Rows in the source, by table or file.
    pub source_rows: Vec<SourceCount>,
    pub usage: UsageTally,
    /// Rows not imported because they are malformed (read here) or refused by the daemon.
    pub skipped: Vec<SkippedRow>,
    /// Rows read and deliberately not imported (inactive or superseded settings).
    pub not_imported: Vec<SkippedRow>,
    /// Set when the stored costs do not account for the source's to the last digit.
    pub totals_problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SourceCount {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Serialize)]
pub struct BudgetOutcome {
    pub name: String,
    /// created, exists, would_create or would_use_existing.
    pub action: &'static str,
    pub policies_in_source: usize,
    /// Added now (or, on a dry run, that would be added).
    pub policies_added: usize,
    /// Already in the budget, left as they are.
    pub policies_present: usize,
}

async fn apply(
    client: &BudgetClient,
    plan: MigrationPlan,
    from: &Path,
    options: &MigrateOptions,
) -> Result<MigrationReport> {
    let budget = budget_step(client, &plan, options.dry_run).await?;
    let MigrationPlan { source, usage: mut rows, skipped, not_imported, source_rows, .. } = plan;
    let mut usage = UsageTally { skipped, ..UsageTally::default() };
    // One batch in memory at a time: read, send, account.
    loop {
        let batch = rows.next_batch(options.batch_size).await?;
        if batch.is_empty() {
            break;
        }
        let (origins, records): (Vec<Origin>, Vec<ImportedUsage>) =
            batch.into_iter().filter_map(|row| usage.read(row)).unzip();
        if records.is_empty() {
            continue;
        }
        let request = ImportUsageRequest { source: source.into(), records, dry_run: options.dry_run };
        let answer = client.import_usage(&request).await?;
        usage.answered(&origins, &request.records, &answer.results);
    }
    Ok(MigrationReport {
        source,
        from: from.display().to_string(),
        dry_run: options.dry_run,
        budget,
        source_rows: source_rows.into_iter().map(|(table, rows)| SourceCount { table, rows }).collect(),
        totals_problem: usage.problem(options.dry_run),
        skipped: std::mem::take(&mut usage.skipped),
        usage,
        not_imported,
    })
}

async fn budget_step(client: &BudgetClient, plan: &MigrationPlan, dry_run: bool) -> Result<BudgetOutcome> {
    let name = plan.budget.name.clone();
    let in_source = plan.budget.policies.len();
    let existing = match client.get_budget(&name).await {
        Ok(b) => Some(b),
        Err(e) if e.status == 404 => None,
        Err(e) => return Err(anyhow!(e)),
    };
    let Some(existing) = existing else {
        if !dry_run {
            client.create_budget(&plan.budget).await?;
        }
        return Ok(BudgetOutcome {
            name,
            action: if dry_run { "would_create" } else { "created" },
            policies_in_source: in_source,
            policies_added: in_source,
            policies_present: 0,
        });
    };
    let mut added = 0;
    let mut present = 0;
    for spec in &plan.budget.policies {
        if existing.policies.iter().any(|p| same_policy(p, spec)) {
            present += 1;
            continue;
        }
        if !dry_run {
            client.add_policy(&existing.id.to_string(), spec).await?;
        }
        added += 1;
    }
    Ok(BudgetOutcome {
        name,
        action: if dry_run { "would_use_existing" } else { "exists" },
        policies_in_source: in_source,
        policies_added: added,
        policies_present: present,
    })
}

fn render(r: &MigrationReport) -> Vec<Table> {
    let mut summary = table(&["migration", "result"]);
    let verb = if r.dry_run { "would be" } else { "were" };
    summary.add_row(vec![
        "source".to_string(),
        format!("{} {}{}", r.source, r.from, if r.dry_run { " (dry run: nothing changed)" } else { "" }),
    ]);
    summary.add_row(vec![
        "rows in source".to_string(),
        r.source_rows.iter().map(|c| format!("{}: {}", c.table, c.rows)).collect::<Vec<_>>().join(", "),
    ]);
    summary.add_row(vec![
        format!("budget '{}'", r.budget.name),
        format!(
            "{}; {} of {} policies {} added, {} already there",
            r.budget.action.replace('_', " "),
            r.budget.policies_added,
            r.budget.policies_in_source,
            verb,
            r.budget.policies_present
        ),
    ]);
    let u = &r.usage;
    let usage_line = if r.dry_run {
        format!(
            "{} readable: {} would be imported, {} already imported, {} refused",
            u.rows, u.would_create, u.already_imported, u.refused
        )
    } else {
        format!(
            "{} readable: {} imported now, {} already imported, {} refused",
            u.rows, u.created, u.already_imported, u.refused
        )
    };
    summary.add_row(vec!["usage rows".to_string(), usage_line]);
    summary.add_row(vec!["source cost".to_string(), display(u.source_cost)]);
    if !r.dry_run {
        summary.add_row(vec![
            "stored cost".to_string(),
            format!(
                "{} ({} now, {} earlier){}",
                display(u.stored_cost),
                display(u.created_cost),
                display(u.stored_cost - u.created_cost),
                if u.refused > 0 { format!("; refused rows {}", display(u.refused_cost)) } else { String::new() }
            ),
        ]);
    }
    if u.without_cost > 0 {
        summary.add_row(vec!["without cost".to_string(), format!("{} row(s): stored unpriced", u.without_cost)]);
    }
    summary.add_row(vec!["tokens".to_string(), u.source_tokens.to_string()]);
    summary.add_row(vec![
        "totals".to_string(),
        r.totals_problem.clone().unwrap_or_else(|| {
            if r.dry_run { "not checked on a dry run".into() } else { "match the source exactly".into() }
        }),
    ]);
    let mut tables = vec![summary];
    for (title, rows) in [("skipped", &r.skipped), ("not imported", &r.not_imported)] {
        if rows.is_empty() {
            continue;
        }
        let mut t = table(&[title, "row", "why"]);
        for row in rows {
            t.add_row(vec![row.location.clone(), row.row_id.clone(), row.reason.clone()]);
        }
        tables.push(t);
    }
    tables
}
