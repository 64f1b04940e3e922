//! `budget migrate rhetor|apollo`: reads the old manager's data here (the engine crate's
//! `migrate` readers), then applies the plan through the REST API: the budget and any policy
//! it lacks, then the usage in batches to `POST /api/v1/usage/import`. Every step is
//! idempotent, so running it again imports nothing twice; `--dry-run` asks the daemon what
//! would happen and changes nothing.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use serde::Serialize;
use std::path::{Path, PathBuf};

use budget_actors::api::{IMPORT_BATCH_MAX, ImportUsageRequest, ImportedUsage};
use budget_actors::domain::PolicySpec;
use budget_actors::migrate::{
    MigrationPlan, Origin, PolicyStanding, SkippedRow, SourceZone, UsageTally, policy_standing, read_apollo,
    read_rhetor,
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

/// An import request's body is kept under this size, well below the daemon's default body
/// limit (1 MiB), so rows with large metadata travel in smaller batches. A daemon configured
/// lower answers 413, and the batch is split (see `send_batch`).
const BATCH_BYTES_MAX: usize = 512 * 1024;

pub async fn run(client: &BudgetClient, output: Output, cmd: MigrateCmd) -> Result<()> {
    let batch_size = match &cmd {
        MigrateCmd::Rhetor { options, .. } | MigrateCmd::Apollo { options, .. } => options.batch_size,
    };
    // Checked before the source is opened: a bad option should not wait for a large read.
    if batch_size == 0 || batch_size > IMPORT_BATCH_MAX {
        bail!("--batch-size must be between 1 and {IMPORT_BATCH_MAX} (got {batch_size})");
    }
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
    /// Already in the budget, equal in every field the source sets.
    pub policies_present: usize,
    /// In the budget (the same period, scope and kind of limit) but changed since, by a
    /// person, a drop-in or an import with other options: left as they are, not added again.
    pub policies_differing: Vec<PolicyDifference>,
}

#[derive(Debug, Serialize)]
pub struct PolicyDifference {
    pub period: String,
    /// The policy's filters, as `provider=openai tier=…` (`all calls` without any).
    pub scope: String,
    /// The fields whose values in the budget are not the source's.
    pub fields: Vec<&'static str>,
}

impl PolicyDifference {
    fn new(spec: &PolicySpec, fields: Vec<&'static str>) -> PolicyDifference {
        let filters = [
            ("provider", &spec.provider),
            ("model", &spec.model),
            ("component", &spec.component),
            ("task_type", &spec.task_type),
            ("tier", &spec.tier),
            ("context_id", &spec.context_id),
        ];
        let scope: Vec<String> =
            filters.iter().filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}"))).collect();
        PolicyDifference {
            period: spec.period.clone(),
            scope: if scope.is_empty() { "all calls".into() } else { scope.join(" ") },
            fields,
        }
    }
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
        let mut pending: Vec<(Origin, ImportedUsage)> = batch.into_iter().filter_map(|row| usage.read(row)).collect();
        while !pending.is_empty() {
            let rest = pending.split_off(within_bytes(&pending, BATCH_BYTES_MAX));
            send_batch(client, source, options.dry_run, pending, &mut usage).await?;
            pending = rest;
        }
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

/// How many of `rows`, from the first, fit in a request body of `limit` bytes (at least one:
/// a row too large alone is found out by the daemon's 413, then skipped with its id).
fn within_bytes(rows: &[(Origin, ImportedUsage)], limit: usize) -> usize {
    // The request's own fields and the array's commas, generously.
    let mut used = 256;
    for (i, (_, record)) in rows.iter().enumerate() {
        used += serde_json::to_vec(record).map_or(usize::MAX / 2, |body| body.len()) + 1;
        if used > limit && i > 0 {
            return i;
        }
    }
    rows.len()
}

/// Sends rows to `POST /usage/import` and accounts for the answer. A 413 (the daemon's body
/// limit is lower than ours) halves the batch; a single row over the limit is skipped with
/// its id, so one oversized row never blocks the rest, on this run or the next.
async fn send_batch(
    client: &BudgetClient,
    source: &'static str,
    dry_run: bool,
    rows: Vec<(Origin, ImportedUsage)>,
    usage: &mut UsageTally,
) -> Result<()> {
    let mut work = vec![rows];
    while let Some(rows) = work.pop() {
        let (origins, records): (Vec<Origin>, Vec<ImportedUsage>) = rows.into_iter().unzip();
        let span = || {
            format!(
                "importing rows {} to {} of {source}",
                origins.first().map_or("-", |o| o.row_id.as_str()),
                origins.last().map_or("-", |o| o.row_id.as_str())
            )
        };
        let request = ImportUsageRequest { source: source.into(), records, dry_run };
        match client.import_usage(&request).await {
            Ok(answer) => usage.answered(&origins, &request.records, &answer.results).with_context(span)?,
            Err(e) if e.status == 413 && origins.len() > 1 => {
                let mut rows: Vec<(Origin, ImportedUsage)> = origins.into_iter().zip(request.records).collect();
                let second = rows.split_off(rows.len() / 2);
                // Popped last-in first-out: the first half goes first, keeping source order.
                work.push(second);
                work.push(rows);
            }
            Err(e) if e.status == 413 => {
                let reason = format!("refused by the daemon: the row is larger than its request body limit ({e})");
                usage.refuse(&origins[0], &request.records[0], reason);
            }
            Err(e) => return Err(anyhow!(e)).with_context(span),
        }
    }
    Ok(())
}

async fn budget_step(client: &BudgetClient, plan: &MigrationPlan, dry_run: bool) -> Result<BudgetOutcome> {
    let name = plan.budget.name.clone();
    let in_source = plan.budget.policies.len();
    let existing = match client.get_budget(&name).await {
        Ok(b) => Some(b),
        Err(e) if e.status == 404 => None,
        Err(e) => return Err(anyhow!(e)).with_context(|| format!("reading budget '{name}'")),
    };
    let Some(existing) = existing else {
        if !dry_run {
            client
                .create_budget(&plan.budget)
                .await
                .with_context(|| format!("creating budget '{name}' with the source's {in_source} policies"))?;
        }
        return Ok(BudgetOutcome {
            name,
            action: if dry_run { "would_create" } else { "created" },
            policies_in_source: in_source,
            policies_added: in_source,
            policies_present: 0,
            policies_differing: Vec::new(),
        });
    };
    let mut added = 0;
    let mut present = 0;
    let mut differing = Vec::new();
    for spec in &plan.budget.policies {
        match policy_standing(&existing.policies, spec) {
            PolicyStanding::Present => present += 1,
            PolicyStanding::Differs(fields) => differing.push(PolicyDifference::new(spec, fields)),
            PolicyStanding::Missing => {
                if !dry_run {
                    client
                        .add_policy(&existing.id.to_string(), spec)
                        .await
                        .with_context(|| format!("adding a {} policy to budget '{name}'", spec.period))?;
                }
                added += 1;
            }
        }
    }
    Ok(BudgetOutcome {
        name,
        action: if dry_run { "would_use_existing" } else { "exists" },
        policies_in_source: in_source,
        policies_added: added,
        policies_present: present,
        policies_differing: differing,
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
            "{}; {} of {} policies {} added, {} already there{}",
            r.budget.action.replace('_', " "),
            r.budget.policies_added,
            r.budget.policies_in_source,
            verb,
            r.budget.policies_present,
            match r.budget.policies_differing.len() {
                0 => String::new(),
                n => format!(", {n} changed since (left as they are)"),
            }
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
    if u.skipped_rows > 0 {
        summary.add_row(vec![
            "skipped rows".to_string(),
            format!("{} row(s), cost {} (see below)", u.skipped_rows, display(u.skipped_cost)),
        ]);
    }
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
    if u.priced_by_daemon > 0 {
        summary.add_row(vec![
            "recorded live earlier".to_string(),
            format!(
                "{} row(s) already held as live records, priced by the daemon at {} (the source's cost: {})",
                u.priced_by_daemon,
                display(u.priced_by_daemon_cost),
                display(u.priced_by_daemon_source_cost)
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
    if !r.budget.policies_differing.is_empty() {
        let mut t = table(&["policy left as it is", "scope", "differs from the source in"]);
        for d in &r.budget.policies_differing {
            t.add_row(vec![d.period.clone(), d.scope.clone(), d.fields.join(", ")]);
        }
        tables.push(t);
    }
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
