//! Rhetor's SQLite database (TEKTON.md: `usage` and `budget_settings`), read only.
//!
//! SQLite keeps whatever type a value was written with, whatever the column says, so every
//! cell is read with its stored type (`typeof`) and judged: a cost written as text that is a
//! number is a cost; one that is missing, negative or not a number makes its row skipped.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::path::Path;

use super::*;

/// Rhetor's periods; its limits are dollars per period.
const PERIODS: [&str; 3] = ["daily", "weekly", "monthly"];

/// Reads a Rhetor database into a plan for the budget `budget` (Rhetor's naive timestamps in
/// `zone`). The database is opened read-only.
pub async fn read_rhetor(path: &Path, budget: &str, zone: SourceZone) -> Result<MigrationPlan, MigrateError> {
    if !path.is_file() {
        return Err(MigrateError(format!("{}: no such file (expected Rhetor's SQLite database)", path.display())));
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| MigrateError(format!("{}: cannot open as SQLite: {e}", path.display())))?;
    let mut plan =
        MigrationPlan::new("rhetor", budget, "Rhetor's LLM spend limits (imported by budget migrate rhetor)");
    // Everything read from here on names the file it came from.
    let at_path = |e: MigrateError| MigrateError(format!("{}: {}", path.display(), e.0));
    let usage_columns = columns(&mut conn, "usage").await.map_err(at_path)?;
    if usage_columns.is_empty() {
        return Err(MigrateError(format!("{}: has no table 'usage'; is this Rhetor's database?", path.display())));
    }
    let wanted = wanted_columns(
        "usage",
        &usage_columns,
        &["id", "timestamp", "provider", "model", "input_tokens", "output_tokens", "cost"],
        &["component", "task_type", "metadata"],
    )
    .map_err(at_path)?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| MigrateError(format!("{}: counting the rows of usage: {e}", path.display())))?;
    plan.source_rows.push(("usage".into(), u64::try_from(count).unwrap_or(0)));
    let setting_columns = columns(&mut conn, "budget_settings").await.map_err(at_path)?;
    if setting_columns.is_empty() {
        plan.not_imported.push(SkippedRow::new(
            "budget_settings",
            "-",
            "the database has no budget_settings table: no policies to import",
        ));
        plan.source_rows.push(("budget_settings".into(), 0));
    } else {
        let wanted = wanted_columns(
            "budget_settings",
            &setting_columns,
            &["id", "period", "limit_amount", "enforcement"],
            &["provider", "active"],
        )
        .map_err(at_path)?;
        let sql = format!("SELECT {} FROM budget_settings ORDER BY rowid", select_list(&wanted));
        let fail = |e: sqlx::Error| MigrateError(format!("{}: reading table budget_settings: {e}", path.display()));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .map_err(fail)?
            .iter()
            .map(|row| read_row(row, &wanted).map_err(fail))
            .collect::<Result<Vec<_>, _>>()?;
        plan.source_rows.push(("budget_settings".into(), rows.len() as u64));
        settings(rows, &zone, &mut plan);
    }
    plan.usage = UsageRows::Rhetor(UsageReader { conn, wanted, after: None, zone, done: false });
    Ok(plan)
}

/// Rhetor's usage rows, a batch at a time in rowid order (keyset paging: each batch starts
/// after the last rowid read).
pub struct UsageReader {
    conn: SqliteConnection,
    wanted: Vec<&'static str>,
    after: Option<i64>,
    zone: SourceZone,
    done: bool,
}

impl UsageReader {
    pub(super) async fn next_batch(&mut self, n: usize) -> Result<Vec<UsageRow>, MigrateError> {
        if self.done || n == 0 {
            return Ok(Vec::new());
        }
        let sql =
            format!("SELECT {}, rowid FROM usage WHERE rowid > ? ORDER BY rowid LIMIT ?", select_list(&self.wanted));
        let fail = |e: sqlx::Error| MigrateError(format!("reading table usage: {e}"));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.after.unwrap_or(i64::MIN))
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_all(&mut self.conn)
            .await
            .map_err(fail)?;
        self.done = rows.len() < n;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            self.after = Some(row.try_get(2 * self.wanted.len()).map_err(fail)?);
            let cells = read_row(row, &self.wanted).map_err(fail)?;
            let origin = Origin { location: "usage".into(), row_id: cells.id() };
            // A row skipped for another fault keeps its cost in the totals when it has one.
            out.push(origin.row(usage_row(&cells, &self.zone), cells.money("cost").ok()));
        }
        Ok(out)
    }
}

/// One cell as SQLite stored it.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob,
}

/// A row's cells by column name (a handful of columns: a list, no per-row map).
struct SourceRow(Vec<(&'static str, Cell)>);

impl SourceRow {
    fn get(&self, column: &str) -> &Cell {
        self.0.iter().find(|(name, _)| *name == column).map_or(&Cell::Null, |(_, cell)| cell)
    }

    fn id(&self) -> String {
        match self.get("id") {
            Cell::Int(i) => i.to_string(),
            Cell::Text(t) => t.clone(),
            Cell::Real(r) => r.to_string(),
            _ => "(no id)".into(),
        }
    }

    /// Text that is present and not blank.
    fn text(&self, column: &str) -> Option<String> {
        match self.get(column) {
            Cell::Text(t) if !t.trim().is_empty() => Some(t.clone()),
            _ => None,
        }
    }

    fn required_text(&self, column: &str) -> Result<String, String> {
        self.text(column).ok_or_else(|| format!("{column} is missing"))
    }

    fn count(&self, column: &str) -> Result<u64, String> {
        let bad = |what: String| format!("{column} is {what}, not a whole number of tokens");
        let count = match self.get(column) {
            Cell::Int(i) => u64::try_from(*i).map_err(|_| bad(i.to_string())),
            Cell::Real(r) if r.fract() == 0.0 && *r >= 0.0 && *r < 9.0e15 => Ok(*r as u64),
            Cell::Real(r) => Err(bad(r.to_string())),
            Cell::Text(t) => t.trim().parse::<u64>().map_err(|_| bad(format!("'{t}'"))),
            Cell::Null => Err(format!("{column} is missing")),
            Cell::Blob => Err(bad("binary data".into())),
        }?;
        crate::domain::check_tokens(column, count).map_err(|e| e.to_string())?;
        Ok(count)
    }

    fn money(&self, column: &str) -> Result<Decimal, String> {
        match self.get(column) {
            Cell::Real(r) => float_money(*r).map_err(|e| format!("{column} {e}")),
            Cell::Int(i) if *i >= 0 => crate::money::check_bounds(column, Decimal::from(*i), crate::money::MAX_AMOUNT)
                .map_err(|e| e.to_string()),
            Cell::Int(i) => Err(format!("{column} {i} is negative")),
            Cell::Text(t) => crate::money::parse_amount(column, t)
                .and_then(|d| crate::money::check_bounds(column, d, crate::money::MAX_AMOUNT))
                .map_err(|e| e.to_string()),
            Cell::Null => Err(format!("{column} is missing")),
            Cell::Blob => Err(format!("{column} is binary data, not an amount")),
        }
    }
}

/// The table's columns (empty when the table does not exist).
async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<Vec<String>, MigrateError> {
    let rows = sqlx::query("SELECT name FROM pragma_table_info(?)")
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| MigrateError(format!("reading the columns of {table}: {e}")))?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(|e| MigrateError(format!("reading the columns of {table}: {e}"))))
        .collect()
}

/// The columns to read: the required ones (an error names any that is missing) and the
/// optional ones the table has (a missing one reads as null).
fn wanted_columns(
    table: &str,
    present: &[String],
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<Vec<&'static str>, MigrateError> {
    let missing: Vec<&str> = required.iter().copied().filter(|c| !present.iter().any(|p| p == c)).collect();
    if !missing.is_empty() {
        return Err(MigrateError(format!("table {table} lacks the column(s) {}", missing.join(", "))));
    }
    Ok(required.iter().chain(optional).copied().filter(|c| present.iter().any(|p| p == c)).collect())
}

/// `typeof(c), c` for each column: every cell is read with its stored type. The names come
/// from the fixed lists above, never from the database.
fn select_list(wanted: &[&str]) -> String {
    wanted.iter().map(|c| format!("typeof(\"{c}\"), \"{c}\"")).collect::<Vec<_>>().join(", ")
}

fn read_row(row: &SqliteRow, wanted: &[&'static str]) -> Result<SourceRow, sqlx::Error> {
    let mut cells = Vec::with_capacity(wanted.len());
    for (i, column) in wanted.iter().enumerate() {
        let kind: String = row.try_get(2 * i)?;
        let at = 2 * i + 1;
        // The stored type decides the decoding (the column's declared type may differ).
        let cell = match kind.as_str() {
            "integer" => Cell::Int(row.try_get_unchecked::<i64, _>(at)?),
            "real" => Cell::Real(row.try_get_unchecked::<f64, _>(at)?),
            "text" => Cell::Text(row.try_get_unchecked::<String, _>(at)?),
            "blob" => Cell::Blob,
            _ => Cell::Null,
        };
        cells.push((*column, cell));
    }
    Ok(SourceRow(cells))
}

fn usage_row(row: &SourceRow, zone: &SourceZone) -> Result<ImportedUsage, String> {
    let id = match row.get("id") {
        Cell::Int(i) => *i,
        _ => return Err("id is not an integer".into()),
    };
    let stamp = row.required_text("timestamp")?;
    let timestamp = zone.to_utc(&stamp)?;
    let metadata = match row.get("metadata") {
        Cell::Text(t) => Some(Value::String(t.clone())),
        _ => None,
    };
    Ok(ImportedUsage {
        // Stable across runs and copies of the database; the time makes two databases'
        // equal row ids distinct.
        request_id: format!("rhetor:{id}@{stamp}"),
        // Rhetor records a call without a component as Rhetor's own.
        component: row.text("component").unwrap_or_else(|| "rhetor".into()),
        context_id: None,
        provider: row.required_text("provider")?,
        model: row.required_text("model")?,
        task_type: row.text("task_type"),
        tier: None,
        input_tokens: Some(row.count("input_tokens")?),
        output_tokens: Some(row.count("output_tokens")?),
        total_tokens: None,
        cost: Some(row.money("cost")?),
        timestamp,
        metadata: Some(metadata_with_origin(metadata, origin("rhetor", json!({"row_id": id, "timestamp": stamp})))),
    })
}

/// Active settings become policies, one per period × provider. Rhetor reads a limit with
/// `... WHERE period = ? AND provider = ? AND active = 1` and takes the first row, in rowid
/// order, so the lowest active id wins here too; inactive rows (`active` other than 1) and
/// the active rows Rhetor never read are listed as not imported.
fn settings(rows: Vec<SourceRow>, zone: &SourceZone, plan: &mut MigrationPlan) {
    let mut chosen: HashMap<(String, String), (i64, PolicySpec)> = HashMap::new();
    let not_imported = |row: &SourceRow, reason: String| SkippedRow::new("budget_settings", row.id(), reason);
    for row in &rows {
        // `active = 1` in SQL: an integer 1, a real 1.0, or text SQLite's affinity made 1.
        let active = match row.get("active") {
            Cell::Int(i) => *i == 1,
            Cell::Real(r) => *r == 1.0,
            Cell::Text(t) => t.trim() == "1",
            Cell::Null | Cell::Blob => false,
        };
        if !active {
            plan.not_imported.push(not_imported(row, "inactive".into()));
            continue;
        }
        match setting(row, zone) {
            Err(reason) => plan.skipped.push(not_imported(row, reason)),
            Ok((id, provider, spec)) => {
                let key = (spec.period.clone(), provider);
                match chosen.get(&key) {
                    // Rows come in rowid order: the one kept is the one Rhetor reads.
                    Some((kept, _)) => plan.not_imported.push(not_imported(
                        row,
                        format!("another active row ({kept}) has this period and provider; Rhetor reads that one"),
                    )),
                    None => {
                        chosen.insert(key, (id, spec));
                    }
                }
            }
        }
    }
    let mut kept: Vec<(i64, PolicySpec)> = chosen.into_values().collect();
    kept.sort_by_key(|(id, _)| *id);
    plan.budget.policies = kept.into_iter().map(|(_, spec)| spec).collect();
}

/// One setting as a policy: (row id, provider key, spec).
fn setting(row: &SourceRow, zone: &SourceZone) -> Result<(i64, String, PolicySpec), String> {
    let id = match row.get("id") {
        Cell::Int(i) => *i,
        _ => return Err("id is not an integer".into()),
    };
    let period = row.required_text("period")?.trim().to_ascii_lowercase();
    if !PERIODS.contains(&period.as_str()) {
        return Err(format!("period '{period}' is not one of Rhetor's (daily, weekly, monthly)"));
    }
    let limit = row.money("limit_amount")?;
    let enforcement = match row.required_text("enforcement")?.trim().to_ascii_lowercase().as_str() {
        "enforce" => "hard_limit",
        "warn" => "warn",
        "ignore" => "ignore",
        other => return Err(format!("enforcement '{other}' is not one of Rhetor's (warn, enforce, ignore)")),
    };
    let provider = row.text("provider").unwrap_or_else(|| "all".into()).trim().to_string();
    let filter = (!provider.eq_ignore_ascii_case("all")).then(|| provider.clone());
    let spec = checked_policy(PolicySpec {
        period,
        cost_limit: Some(limit),
        enforcement: Some(enforcement.into()),
        provider: filter,
        timezone: zone.name(),
        // Rhetor priced what it knew and let the rest through.
        allow_unpriced: Some(true),
        // A limit of 0 is Rhetor's "no limit".
        enabled: Some(!limit.is_zero()),
        ..PolicySpec::default()
    })?;
    Ok((id, provider.to_ascii_lowercase(), spec))
}
