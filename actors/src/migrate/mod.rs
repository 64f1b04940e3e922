//! Migration from Rhetor's and Apollo's own budget managers: their stored data read into a
//! plan (one budget with policies, usage records as [`ImportedUsage`], and every row that
//! could not be read, with its id and why). `budget migrate` applies a plan through the REST
//! API: the budget and missing policies first, then the usage in batches to
//! `POST /api/v1/usage/import`, which skips what an earlier run stored.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::str::FromStr;

use crate::api::{CreateBudget, ImportResult, ImportStatus, ImportedUsage};
use crate::domain::{Policy, PolicySpec};

mod apollo;
mod rhetor;

pub use apollo::read_apollo;
pub use rhetor::read_rhetor;

/// What a source holds, ready to import.
pub struct MigrationPlan {
    /// `rhetor` or `apollo`: imported records carry `price_ref = "imported:<source>"`.
    pub source: &'static str,
    /// The budget the source's limits become (created if missing; missing policies added).
    pub budget: CreateBudget,
    /// The usage rows, read a batch at a time.
    pub usage: UsageRows,
    /// Rows that could not be read: reported, never imported.
    pub skipped: Vec<SkippedRow>,
    /// Rows read but deliberately not imported (an inactive setting), with the reason.
    pub not_imported: Vec<SkippedRow>,
    /// How many rows the source has, by table or file.
    pub source_rows: Vec<(String, u64)>,
}

impl MigrationPlan {
    /// An empty plan for the budget `name`, owned by the source's component.
    fn new(source: &'static str, name: &str, description: &str) -> MigrationPlan {
        MigrationPlan {
            source,
            budget: CreateBudget {
                name: name.to_string(),
                description: Some(description.to_string()),
                owner: Some(source.to_string()),
                ..CreateBudget::default()
            },
            usage: UsageRows::Loaded(VecDeque::new()),
            skipped: Vec::new(),
            not_imported: Vec::new(),
            source_rows: Vec::new(),
        }
    }
}

/// Where a usage row came from: its table or file, and its id there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub location: String,
    pub row_id: String,
}

impl Origin {
    /// A row as read: ready to import from here, or skipped here with its reason (and the
    /// cost the source stored for it, when that much could be read).
    fn row(self, read: Result<ImportedUsage, String>, cost_if_skipped: Option<Decimal>) -> UsageRow {
        match read {
            Ok(record) => Ok((self, record)),
            Err(reason) => Err(self.skipped(reason, cost_if_skipped)),
        }
    }

    fn skipped(&self, reason: String, cost: Option<Decimal>) -> SkippedRow {
        SkippedRow { location: self.location.clone(), row_id: self.row_id.clone(), reason, cost }
    }
}

/// One usage row: ready to import (with where it came from), or skipped with its reason.
pub type UsageRow = Result<(Origin, ImportedUsage), SkippedRow>;

/// A source's usage rows. A large Rhetor database is read a batch at a time, so a migration
/// holds one batch in memory, not the whole history.
pub enum UsageRows {
    /// Already read (Apollo's JSON files, each parsed whole).
    Loaded(VecDeque<UsageRow>),
    /// Read from Rhetor's database on demand.
    Rhetor(rhetor::UsageReader),
}

impl UsageRows {
    /// The next rows, at most `n`, in source order; empty at the end.
    pub async fn next_batch(&mut self, n: usize) -> Result<Vec<UsageRow>, MigrateError> {
        match self {
            UsageRows::Loaded(rows) => Ok(rows.drain(..n.min(rows.len())).collect()),
            UsageRows::Rhetor(reader) => reader.next_batch(n).await,
        }
    }
}

/// What a migration's usage came to: every source row counted once, as read, stored,
/// refused or skipped, and every cost accounted for.
#[derive(Debug, Default, Serialize)]
pub struct UsageTally {
    /// Usage rows read without fault.
    pub rows: u64,
    pub created: u64,
    pub already_imported: u64,
    /// Read here but refused by the daemon (listed among the skipped rows).
    pub refused: u64,
    pub would_create: u64,
    /// The exact sum of every usage row's cost as the source stored it: readable rows and
    /// skipped rows whose cost could still be read. Equals stored + refused + skipped.
    #[serde(with = "rust_decimal::serde::str")]
    pub source_cost: Decimal,
    /// Stored by this run.
    #[serde(with = "rust_decimal::serde::str")]
    pub created_cost: Decimal,
    /// Stored by this run or an earlier one (on a dry run: already stored).
    #[serde(with = "rust_decimal::serde::str")]
    pub stored_cost: Decimal,
    /// Of refused rows.
    #[serde(with = "rust_decimal::serde::str")]
    pub refused_cost: Decimal,
    /// Usage rows skipped here as malformed.
    pub skipped_rows: u64,
    /// Of skipped rows whose cost could be read (the rest are listed as unreadable).
    #[serde(with = "rust_decimal::serde::str")]
    pub skipped_cost: Decimal,
    /// Tokens of the readable rows.
    pub source_tokens: u64,
    /// Rows the source kept without a cost (Apollo's): stored unpriced.
    pub without_cost: u64,
    /// Rows the daemon already held as a live record under the same request id (the Python
    /// drop-ins' import helpers record that way): priced by the daemon, not by the source.
    pub priced_by_daemon: u64,
    /// Of those rows: their cost in the source, which the totals count them at...
    #[serde(with = "rust_decimal::serde::str")]
    pub priced_by_daemon_source_cost: Decimal,
    /// ...and the cost the daemon stored for them.
    #[serde(with = "rust_decimal::serde::str")]
    pub priced_by_daemon_cost: Decimal,
    /// Rows not imported: malformed (read here) or refused by the daemon.
    #[serde(skip)]
    pub skipped: Vec<SkippedRow>,
    /// Request ids stored with another cost than their source row's.
    #[serde(skip)]
    pub mismatched: Vec<String>,
}

impl UsageTally {
    /// Counts one source row; the rows to send come back with where they came from.
    pub fn read(&mut self, row: UsageRow) -> Option<(Origin, ImportedUsage)> {
        match row {
            Ok((origin, record)) => {
                self.rows += 1;
                self.source_cost += record.cost.unwrap_or_default();
                self.source_tokens = self.source_tokens.saturating_add(imported_tokens(&record));
                self.without_cost += u64::from(record.cost.is_none());
                Some((origin, record))
            }
            Err(skipped) => {
                self.skipped_row(skipped);
                None
            }
        }
    }

    /// Counts a usage row that is not imported: its cost, when known, stays in the totals.
    fn skipped_row(&mut self, skipped: SkippedRow) {
        self.skipped_rows += 1;
        if let Some(cost) = skipped.cost {
            self.source_cost += cost;
            self.skipped_cost += cost;
        }
        self.skipped.push(skipped);
    }

    /// Counts the daemon's answer to a batch (`sent` and `results` in the same order). An
    /// answer that does not hold one result per record sent is an error: no row may vanish
    /// from the counts.
    pub fn answered(
        &mut self,
        origins: &[Origin],
        sent: &[ImportedUsage],
        results: &[ImportResult],
    ) -> Result<(), MigrateError> {
        if results.len() != sent.len() || origins.len() != sent.len() {
            return Err(MigrateError(format!(
                "the daemon answered {} result(s) for {} record(s) sent (rows {} to {})",
                results.len(),
                sent.len(),
                origins.first().map_or("-", |o| o.row_id.as_str()),
                origins.last().map_or("-", |o| o.row_id.as_str()),
            )));
        }
        for ((origin, sent), result) in origins.iter().zip(sent).zip(results) {
            if result.request_id != sent.request_id {
                return Err(MigrateError(format!(
                    "the daemon answered for {} where {} was sent (row {})",
                    result.request_id, sent.request_id, origin.row_id
                )));
            }
            match result.status {
                ImportStatus::Created | ImportStatus::AlreadyImported => {
                    if result.status == ImportStatus::Created {
                        self.created += 1;
                    } else {
                        self.already_imported += 1;
                    }
                    // Imports always carry `imported:<source>`; a live record has its price, or none.
                    let imported = result.price_ref.as_deref().is_some_and(|r| r.starts_with("imported:"));
                    match (sent.cost, result.cost) {
                        // Recorded live earlier and priced by the daemon: a different figure
                        // by design, listed apart; the totals count the source's cost.
                        _ if !imported => {
                            self.priced_by_daemon += 1;
                            self.priced_by_daemon_source_cost += sent.cost.unwrap_or_default();
                            self.priced_by_daemon_cost += result.cost.unwrap_or_default();
                        }
                        // The source kept no cost (Apollo): nothing to account for.
                        (None, _) => {}
                        (Some(source), stored) => {
                            let stored = stored.unwrap_or_default();
                            self.stored_cost += stored;
                            if result.status == ImportStatus::Created {
                                self.created_cost += stored;
                            }
                            if stored != source || result.cost.is_none() {
                                self.mismatched.push(sent.request_id.clone());
                            }
                        }
                    }
                }
                ImportStatus::WouldCreate => self.would_create += 1,
                ImportStatus::Invalid => self.refuse(
                    origin,
                    sent,
                    format!(
                        "refused by the daemon: {} ({})",
                        result.error.as_deref().unwrap_or_default(),
                        result.field.as_deref().unwrap_or_default()
                    ),
                ),
            }
        }
        Ok(())
    }

    /// Counts a row the daemon would not take (listed among the skipped rows).
    pub fn refuse(&mut self, origin: &Origin, sent: &ImportedUsage, reason: String) {
        self.refused += 1;
        self.refused_cost += sent.cost.unwrap_or_default();
        self.skipped.push(origin.skipped(reason, sent.cost));
    }

    /// Why the stored costs do not account for the source's, to the last digit: each stored
    /// record must have its row's cost, and stored + refused must equal the source. `None`
    /// when they do (a dry run stores nothing, so only the first is checked).
    pub fn problem(&self, dry_run: bool) -> Option<String> {
        if let Some(first) = self.mismatched.first() {
            return Some(format!(
                "{} stored record(s) differ in cost from their source row (first: {first}); an earlier import \
                 under the same request ids stored other costs",
                self.mismatched.len()
            ));
        }
        let accounted = self.stored_cost + self.priced_by_daemon_source_cost + self.refused_cost + self.skipped_cost;
        (!dry_run && accounted != self.source_cost).then(|| {
            format!(
                "stored {} + recorded live earlier {} + refused {} + skipped {} != source {}",
                self.stored_cost,
                self.priced_by_daemon_source_cost,
                self.refused_cost,
                self.skipped_cost,
                self.source_cost
            )
        })
    }
}

/// The tokens a record will count for: its total when the source kept only a total.
fn imported_tokens(u: &ImportedUsage) -> u64 {
    u.total_tokens.unwrap_or_else(|| u.input_tokens.unwrap_or(0).saturating_add(u.output_tokens.unwrap_or(0)))
}

/// A source row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// The table or file (`usage`, `budget_settings`, `usage_records_1795916807.json`).
    pub location: String,
    /// The row's id in its source (Rhetor's `id`, Apollo's `record_id` or array index).
    pub row_id: String,
    pub reason: String,
    /// The cost the source stored for a usage row, when it could be read: a skipped row's
    /// money still appears in the totals.
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::str_option")]
    pub cost: Option<Decimal>,
}

impl SkippedRow {
    /// A row without a cost of its own (a setting, a policy, a whole file).
    pub fn new(location: impl Into<String>, row_id: impl Into<String>, reason: impl Into<String>) -> SkippedRow {
        SkippedRow { location: location.into(), row_id: row_id.into(), reason: reason.into(), cost: None }
    }
}

/// Why a source could not be read at all (a missing file or table).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MigrateError(pub String);

/// The zone a source's naive timestamps were written in (Rhetor and Apollo both wrote
/// `datetime.now().isoformat()`: the local time of the machine they ran on).
#[derive(Debug, Clone, Copy)]
pub enum SourceZone {
    /// This machine's local zone.
    Local,
    Named(Tz),
}

impl SourceZone {
    pub fn parse(name: Option<&str>) -> Result<SourceZone, MigrateError> {
        match name {
            None => Ok(SourceZone::Local),
            Some(n) => Tz::from_str(n)
                .map(SourceZone::Named)
                .map_err(|_| MigrateError(format!("timezone '{n}' is not an IANA zone (e.g. Europe/Berlin, UTC)"))),
        }
    }

    /// The zone name a policy aligns its windows to, when one was named.
    pub fn name(&self) -> Option<String> {
        match self {
            SourceZone::Local => None,
            SourceZone::Named(tz) => Some(tz.name().to_string()),
        }
    }

    /// A source timestamp as UTC: RFC 3339 text keeps its offset; naive text is read in this
    /// zone. A local time that happened twice (clocks going back) is the earlier instant; one
    /// that never happened (clocks going forward) is an error.
    pub fn to_utc(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(at.with_timezone(&Utc));
        }
        let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .ok_or_else(|| format!("timestamp '{text}' is not an ISO 8601 date and time"))?;
        let local = match self {
            SourceZone::Local => earliest(chrono::Local.from_local_datetime(&naive)),
            SourceZone::Named(tz) => earliest(tz.from_local_datetime(&naive)),
        };
        local.ok_or_else(|| format!("timestamp '{text}' does not exist in the source's time zone (a DST gap)"))
    }
}

fn earliest<T: TimeZone>(r: LocalResult<DateTime<T>>) -> Option<DateTime<Utc>> {
    r.earliest().map(|t| t.with_timezone(&Utc))
}

/// A money amount the source stored as a binary float, as its decimal to 15 significant
/// digits: the digits a double holds reliably, and what SQLite prints for it. Rhetor computed
/// costs in floats, so 0.02163 arrives as 0.021629999999999996; this gives back 0.02163.
pub fn float_money(value: f64) -> Result<Decimal, String> {
    if !value.is_finite() {
        return Err(format!("{value} is not a number"));
    }
    let text = format!("{value:.14e}");
    let amount = Decimal::from_scientific(&text)
        .map_err(|_| format!("{value} is outside the range of a decimal amount"))?
        .normalize();
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(format!("{value} is negative"));
    }
    crate::money::check_bounds("amount", amount, crate::money::MAX_AMOUNT).map_err(|e| e.to_string())
}

/// A JSON number as a decimal, from its text (the workspace keeps JSON numbers' text).
fn json_decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => crate::money::parse_decimal(&n.to_string()),
        Value::String(s) => crate::money::parse_decimal(s.trim()),
        _ => None,
    }
}

/// The source's metadata text as an object, with where the record came from added under
/// `migrated_from` (metadata that is not a JSON object is kept as text).
fn metadata_with_origin(raw: Option<Value>, origin: Value) -> Map<String, Value> {
    let mut meta = match raw {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => m,
            _ => Map::from_iter([("source_metadata".to_string(), Value::String(s))]),
        },
        Some(other) => Map::from_iter([("source_metadata".to_string(), other)]),
    };
    meta.insert("migrated_from".into(), origin);
    meta
}

/// How a policy a plan would add stands against a budget's existing policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyStanding {
    /// Not there: add it.
    Missing,
    /// There, equal in every field a migration sets.
    Present,
    /// There (the same period, scope and kind of limit) but changed since: by a person, by a
    /// drop-in, or by an earlier import with other options. Left as it is, never added twice.
    Differs(Vec<&'static str>),
}

/// Where a source policy stands in a budget: a policy is the same one when its period, its
/// scope (every filter) and its kind of limit (cost or tokens) are; its values may differ.
pub fn policy_standing(existing: &[Policy], spec: &PolicySpec) -> PolicyStanding {
    let text = non_empty;
    let same_identity = |p: &&Policy| {
        p.period.as_str() == spec.period
            && p.filters.provider == text(&spec.provider)
            && p.filters.model == text(&spec.model)
            && p.filters.component == text(&spec.component)
            && p.filters.task_type == text(&spec.task_type)
            && p.filters.tier == text(&spec.tier)
            && p.filters.context_id == text(&spec.context_id)
            && p.cost_limit.is_some() == spec.cost_limit.is_some()
            && p.token_limit.is_some() == spec.token_limit.is_some()
    };
    let mut first_difference = None;
    for policy in existing.iter().filter(same_identity) {
        let differences = policy_differences(policy, spec);
        if differences.is_empty() {
            return PolicyStanding::Present;
        }
        first_difference.get_or_insert(differences);
    }
    first_difference.map_or(PolicyStanding::Missing, PolicyStanding::Differs)
}

/// The fields a migration sets in which `existing` differs from `spec`.
fn policy_differences(existing: &Policy, spec: &PolicySpec) -> Vec<&'static str> {
    let text = non_empty;
    [
        ("cost_limit", existing.cost_limit == spec.cost_limit),
        ("token_limit", existing.token_limit == spec.token_limit),
        ("enforcement", spec.enforcement.as_deref().is_none_or(|e| existing.enforcement.as_str() == e)),
        ("warning_threshold", spec.warning_threshold.is_none_or(|t| existing.warning_threshold == t)),
        ("action_threshold", spec.action_threshold.is_none_or(|t| existing.action_threshold == t)),
        ("timezone", existing.timezone == text(&spec.timezone)),
        ("allow_unpriced", spec.allow_unpriced.is_none_or(|a| existing.allow_unpriced == a)),
        ("enabled", spec.enabled.is_none_or(|e| existing.enabled == e)),
    ]
    .into_iter()
    .filter_map(|(field, equal)| (!equal).then_some(field))
    .collect()
}

/// A spec's optional text as the daemon stores it: an empty string is no value.
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|s| !s.is_empty())
}

/// A source policy checked as the daemon will check it, so one bad row is skipped with its
/// id instead of failing the whole budget step.
fn checked_policy(spec: PolicySpec) -> Result<PolicySpec, String> {
    spec.clone().into_policy(uuid::Uuid::nil(), crate::domain::now()).map(|_| spec).map_err(|e| e.to_string())
}

fn origin(source: &str, fields: Value) -> Value {
    let mut o = json!({"source": source});
    if let (Some(map), Value::Object(extra)) = (o.as_object_mut(), fields) {
        map.extend(extra);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_their_fifteen_digit_decimal() {
        assert_eq!(float_money(0.08589).expect("ok").to_string(), "0.08589");
        assert_eq!(float_money(0.1 + 0.2).expect("ok").to_string(), "0.3");
        assert_eq!(float_money(0.021629999999999996).expect("ok").to_string(), "0.02163");
        assert_eq!(float_money(0.12119599999999998).expect("ok").to_string(), "0.121196");
        assert_eq!(float_money(2.5e-7).expect("ok").to_string(), "0.00000025");
        assert_eq!(float_money(5.0).expect("ok"), Decimal::from(5));
        assert_eq!(float_money(1e-7).expect("ok").to_string(), "0.0000001");
        assert!(float_money(-0.5).is_err());
        assert!(float_money(f64::NAN).is_err());
        assert!(float_money(1e300).is_err());
    }

    #[test]
    fn naive_timestamps_are_read_in_the_source_zone() {
        let berlin = SourceZone::parse(Some("Europe/Berlin")).expect("zone");
        assert_eq!(berlin.to_utc("2026-07-01T12:00:00").expect("ok").to_rfc3339(), "2026-07-01T10:00:00+00:00");
        assert_eq!(berlin.to_utc("2026-01-01 12:00:00.5").expect("ok").to_rfc3339(), "2026-01-01T11:00:00.500+00:00");
        // An explicit offset wins over the zone.
        assert_eq!(berlin.to_utc("2026-07-01T12:00:00Z").expect("ok").to_rfc3339(), "2026-07-01T12:00:00+00:00");
        // 02:30 on the last Sunday of March never happened in Berlin; on the last Sunday of
        // October it happened twice, and the earlier (summer time) is taken.
        assert!(berlin.to_utc("2026-03-29T02:30:00").is_err());
        assert_eq!(berlin.to_utc("2026-10-25T02:30:00").expect("ok").to_rfc3339(), "2026-10-25T00:30:00+00:00");
        assert!(berlin.to_utc("yesterday").is_err());
        assert!(SourceZone::parse(Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn the_tally_accounts_for_every_row_and_cent() {
        let origin = |id: &str| Origin { location: "usage".into(), row_id: id.into() };
        let record = |id: &str, cost: &str| ImportedUsage {
            request_id: id.into(),
            input_tokens: Some(10),
            output_tokens: Some(5),
            cost: Some(Decimal::from_str(cost).expect("cost")),
            ..ImportedUsage::default()
        };
        let result = |id: &str, status: ImportStatus, cost: Option<&str>| ImportResult {
            request_id: id.into(),
            status,
            usage_id: None,
            cost: cost.map(|c| Decimal::from_str(c).expect("cost")),
            price_ref: Some("imported:rhetor".into()),
            field: (status == ImportStatus::Invalid).then(|| "records[2].provider".into()),
            error: (status == ImportStatus::Invalid).then(|| "bad provider".into()),
        };
        let mut tally = UsageTally::default();
        let rows = vec![
            Ok((origin("1"), record("a", "0.5"))),
            Err(SkippedRow::new("usage", "2", "cost is missing")),
            Err(SkippedRow {
                cost: Some(Decimal::from_str("2").expect("cost")),
                ..SkippedRow::new("usage", "5", "bad time")
            }),
            Ok((origin("3"), record("b", "0.25"))),
            Ok((origin("4"), record("c", "0.125"))),
        ];
        let (origins, sent): (Vec<Origin>, Vec<ImportedUsage>) = rows.into_iter().filter_map(|r| tally.read(r)).unzip();
        assert_eq!((tally.rows, tally.source_tokens, tally.skipped.len(), tally.skipped_rows), (3, 45, 2, 2));
        // The skipped row whose cost could be read stays in the source's total.
        assert_eq!(tally.source_cost, Decimal::from_str("2.875").expect("sum"));
        assert_eq!(tally.skipped_cost, Decimal::from(2));
        let results = [
            result("a", ImportStatus::Created, Some("0.5")),
            result("b", ImportStatus::AlreadyImported, Some("0.25")),
            result("c", ImportStatus::Invalid, None),
        ];
        tally.answered(&origins, &sent, &results).expect("one result per record");
        assert_eq!((tally.created, tally.already_imported, tally.refused), (1, 1, 1));
        assert_eq!(tally.stored_cost, Decimal::from_str("0.75").expect("sum"));
        assert_eq!(tally.refused_cost, Decimal::from_str("0.125").expect("sum"));
        assert_eq!(tally.skipped[2].row_id, "4", "a refused row is named by its source row");
        assert!(tally.skipped[2].reason.contains("bad provider (records[2].provider)"));
        assert_eq!(tally.problem(false), None, "0.75 stored + 0.125 refused + 2 skipped = 2.875");

        // An answer short of a result loses no row silently.
        let mut short_answer = UsageTally::default();
        let (origins, sent): (Vec<Origin>, Vec<ImportedUsage>) =
            vec![Ok((origin("1"), record("a", "0.5")))].into_iter().filter_map(|r| short_answer.read(r)).unzip();
        assert!(short_answer.answered(&origins, &sent, &[]).is_err());

        // A record stored earlier with another cost: named, and the run fails.
        let mut other = UsageTally::default();
        let (origins, sent): (Vec<Origin>, Vec<ImportedUsage>) =
            vec![Ok((origin("1"), record("a", "0.5")))].into_iter().filter_map(|r| other.read(r)).unzip();
        other.answered(&origins, &sent, &[result("a", ImportStatus::AlreadyImported, Some("0.45"))]).expect("answer");
        assert!(other.problem(false).is_some_and(|p| p.contains("first: a")));
        assert!(other.problem(true).is_some(), "a dry run still reports a stored cost that differs");
        // A record recorded live earlier (the daemon's price, not the source's): listed apart,
        // counted at the source's cost, no mismatch; for a source without costs (Apollo) too.
        let mut live = UsageTally::default();
        let unpriced = ImportedUsage { cost: None, ..record("x", "0") };
        let (origins, sent): (Vec<Origin>, Vec<ImportedUsage>) =
            vec![Ok((origin("1"), record("a", "0.5"))), Ok((origin("2"), unpriced))]
                .into_iter()
                .filter_map(|r| live.read(r))
                .unzip();
        let priced_live = |id: &str, cost: &str| ImportResult {
            price_ref: Some("litellm@2026-12-01".into()),
            ..result(id, ImportStatus::AlreadyImported, Some(cost))
        };
        live.answered(&origins, &sent, &[priced_live("a", "0.45"), priced_live("x", "0.3")]).expect("answer");
        assert_eq!((live.priced_by_daemon, live.problem(false)), (2, None));
        assert_eq!(live.priced_by_daemon_cost, Decimal::from_str("0.75").expect("sum"));
        assert_eq!(live.priced_by_daemon_source_cost, Decimal::from_str("0.5").expect("sum"));
        // Stored less than the source, without a per-record difference: the totals catch it.
        let mut short = UsageTally { source_cost: Decimal::ONE, ..UsageTally::default() };
        assert!(short.problem(false).is_some_and(|p| p.contains("!= source 1")));
        short.source_cost = Decimal::ZERO;
        assert_eq!(short.problem(false), None);
    }

    #[test]
    fn a_policy_is_found_by_its_period_scope_and_kind_of_limit() {
        let spec = |limit: &str, provider: Option<&str>| PolicySpec {
            period: "daily".into(),
            cost_limit: Some(Decimal::from_str(limit).expect("limit")),
            enforcement: Some("warn".into()),
            provider: provider.map(String::from),
            timezone: Some("UTC".into()),
            ..PolicySpec::default()
        };
        let existing =
            vec![spec("5", None).into_policy(uuid::Uuid::nil(), crate::domain::now()).expect("valid policy")];
        assert_eq!(policy_standing(&existing, &spec("5", None)), PolicyStanding::Present);
        assert_eq!(policy_standing(&existing, &spec("7.5", None)), PolicyStanding::Differs(vec!["cost_limit"]));
        let no_zone = PolicySpec { timezone: None, ..spec("5", None) };
        assert_eq!(policy_standing(&existing, &no_zone), PolicyStanding::Differs(vec!["timezone"]));
        // Another scope, period or kind of limit is another policy.
        assert_eq!(policy_standing(&existing, &spec("5", Some("openai"))), PolicyStanding::Missing);
        let weekly = PolicySpec { period: "weekly".into(), ..spec("5", None) };
        assert_eq!(policy_standing(&existing, &weekly), PolicyStanding::Missing);
        let tokens = PolicySpec { cost_limit: None, token_limit: Some(5), ..spec("5", None) };
        assert_eq!(policy_standing(&existing, &tokens), PolicyStanding::Missing);
    }

    #[test]
    fn metadata_keeps_what_the_source_had() {
        let origin = json!({"source": "rhetor", "row_id": 1});
        let m = metadata_with_origin(Some(Value::String(r#"{"seq": 0}"#.into())), origin.clone());
        assert_eq!(Value::Object(m), json!({"seq": 0, "migrated_from": {"source": "rhetor", "row_id": 1}}));
        let m = metadata_with_origin(Some(Value::String("not json".into())), origin);
        assert_eq!(m.get("source_metadata"), Some(&Value::String("not json".into())));
    }
}
