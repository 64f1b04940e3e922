//! Output: JSON for programs, tables for people. Tables fit the terminal: the width is
//! `$COLUMNS` when set, else the terminal's, else 100 (a pipe or a file), and long cells
//! (error messages, filters, price changes) wrap instead of widening the table.

use anyhow::Result;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets::UTF8_FULL_CONDENSED};
use rust_decimal::Decimal;
use serde::Serialize;
use std::io::IsTerminal;

use budget_actors::money::display;

use super::Output;

/// Width of a table when stdout is not a terminal and `$COLUMNS` is not set.
const DEFAULT_WIDTH: u16 = 100;

pub fn print<T: Serialize>(output: Output, value: &T, table: impl FnOnce(&T) -> Table) -> Result<()> {
    let text = match output {
        Output::Json => serde_json::to_string_pretty(value)?,
        Output::Table => layout(table(value)).to_string(),
    };
    emit(&text)
}

/// Like `print`, for an answer shown as several tables one under another.
pub fn print_tables<T: Serialize>(output: Output, value: &T, tables: impl FnOnce(&T) -> Vec<Table>) -> Result<()> {
    match output {
        Output::Json => emit(&serde_json::to_string_pretty(value)?),
        Output::Table => emit(&tables(value).into_iter().map(|t| layout(t).to_string()).collect::<Vec<_>>().join("\n")),
    }
}

/// Writes a line to stdout; a reader that went away (`budget alerts | head`) ends the
/// command quietly instead of panicking as `println!` would.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Confirms a change that returns no body: a line for people, `{"<verb>": id}` for programs.
pub fn done(output: Output, verb: &str, id: &str) -> Result<()> {
    match output {
        Output::Json => emit(&serde_json::json!({ verb: id }).to_string()),
        Output::Table => emit(&format!("{verb} {id}")),
    }
}

/// The width tables are laid out for; `None` leaves it to comfy-table, which asks the terminal.
fn width() -> Option<u16> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()) {
        return Some(columns.max(20));
    }
    if std::io::stdout().is_terminal() { None } else { Some(DEFAULT_WIDTH) }
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = width() {
        t.set_width(width);
    }
    t.set_header(header.to_vec());
    t
}

/// Fits a table to its width: when the content is wider, every column first gets the room of
/// its header's longest word (or its whole content for a `keep` column), then the columns that
/// still want more share the rest evenly, so short columns (numbers, states) stay whole and the
/// long ones (messages, filters, timestamps) wrap. comfy-table alone would shrink any column.
pub fn layout(mut t: Table) -> Table {
    let Some(width) = t.width() else { return t };
    let content = t.column_max_content_widths();
    let n = content.len();
    // Borders (n + 1) and one space of padding on each side of each column.
    let available = usize::from(width).saturating_sub(3 * n + 1);
    if n == 0 || content.iter().map(|&c| usize::from(c)).sum::<usize>() <= available {
        return t;
    }
    let header_words: Vec<usize> = t
        .header()
        .map(|h| {
            h.cell_iter()
                .map(|c| c.content().split_whitespace().map(|w| w.chars().count()).max().unwrap_or(1))
                .collect()
        })
        .unwrap_or_default();
    let floor: Vec<usize> = t
        .column_iter()
        .zip(&content)
        .enumerate()
        .map(|(i, (column, &c))| match column.constraint() {
            Some(ColumnConstraint::ContentWidth) => usize::from(c),
            _ => usize::from(c).min(header_words.get(i).copied().unwrap_or(1).max(1)),
        })
        .collect();
    // The highest level such that every column at min(max(level, floor), content) still fits.
    let widths_at = |level: usize| -> Vec<usize> {
        floor.iter().zip(&content).map(|(&f, &c)| level.max(f).min(usize::from(c).max(f))).collect()
    };
    let mut level = 0;
    while level < usize::from(width) && widths_at(level + 1).iter().sum::<usize>() <= available {
        level += 1;
    }
    for (column, w) in t.column_iter_mut().zip(widths_at(level)) {
        // comfy-table's fixed widths include the padding.
        let fixed = u16::try_from(w + 2).unwrap_or(u16::MAX);
        column.set_constraint(ColumnConstraint::Absolute(Width::Fixed(fixed)));
    }
    t
}

/// Keeps a column on one line (ids, short labels that tests and people search for): the
/// other columns wrap instead.
pub fn keep(t: &mut Table, column: usize) {
    if let Some(c) = t.column_mut(column) {
        c.set_constraint(ColumnConstraint::ContentWidth);
    }
}

pub fn money(d: Option<Decimal>) -> String {
    d.map(display).unwrap_or_else(|| "-".into())
}

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// A cost that may be missing because the model has no price.
pub fn cost(c: Option<Decimal>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "unpriced".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use budget_actors::api::{SummaryRow, UsageSummary};
    use rust_decimal::Decimal;

    fn longest_line(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn a_long_message_wraps_within_the_width() {
        let mut t = table(&["time", "severity", "kind", "message"]);
        t.add_row(vec!["2026-12-03T08:00:00+00:00", "warning", "unpriced_model", &"a long message ".repeat(20)]);
        t.set_width(80);
        let text = layout(t).to_string();
        assert!(longest_line(&text) <= 80, "{text}");
        assert!(text.lines().count() > 5, "the message wraps over several lines: {text}");
    }

    #[test]
    fn a_usage_summary_fits_80_columns_and_its_total_is_a_row() {
        let row = |component: &str, records: u64, cost: &str, input: u64| SummaryRow {
            group: serde_json::json!({"component": component, "provider": "anthropic"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            records,
            cost: cost.parse().unwrap_or(Decimal::ZERO),
            unpriced_records: 0,
            input_tokens: input,
            output_tokens: 640,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            total_tokens: input + 640,
        };
        let summary = UsageSummary {
            from: None,
            to: None,
            group_by: vec!["component".into(), "provider".into()],
            rows: vec![
                row("rhetor-with-a-rather-long-component-name", 1, "0.015", 1800),
                row("apollo", 2, "0.0027", 5000),
            ],
            total_cost: "0.0177".parse().unwrap_or(Decimal::ZERO),
            total_records: 3,
        };
        let mut t = super::super::usage::summary_table(&summary);
        t.set_width(80);
        let text = layout(t).to_string();
        assert!(longest_line(&text) <= 80, "{text}");
        let first_cell = |l: &str| l.trim_start_matches('│').split('┆').next().unwrap_or("").trim().to_string();
        let total = text.lines().find(|l| first_cell(l) == "total").unwrap_or_default().to_string();
        for cell in ["3", "0.0177", "6800", "1280", "8080"] {
            assert!(total.split('┆').any(|c| c.trim().trim_matches('│').trim() == cell), "{cell} in {total}");
        }
    }
}
