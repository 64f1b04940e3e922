//! Accounting windows: which window a moment falls into for a policy, aligned to calendar
//! boundaries in an IANA time zone (so "daily" means the local day, across DST changes).

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

use crate::domain::{PeriodKind, Policy, check_time};
use crate::error::EngineError;

/// One accounting window. `key` identifies it in storage; time windows are `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    pub key: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

pub fn parse_timezone(name: &str) -> Result<Tz, EngineError> {
    Tz::from_str(name.trim()).map_err(|_| {
        EngineError::invalid("timezone", format!("'{name}' is not an IANA time zone (e.g. Europe/Berlin)"))
    })
}

/// Parses a cron expression. Five fields are crontab's (minute hour day month weekday, with
/// weekday 0 or 7 = Sunday, 1 = Monday): they get a leading seconds field of `0` and their
/// weekday numbers are turned into names, because the `cron` crate counts 1 = Sunday. Six or
/// seven fields are the `cron` crate's own syntax and are taken as they are.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, EngineError> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let full = if fields.len() == 5 {
        format!("0 {} {} {} {} {}", fields[0], fields[1], fields[2], fields[3], crontab_weekdays(fields[4]))
    } else {
        expr.trim().to_string()
    };
    cron::Schedule::from_str(&full)
        .map_err(|e| EngineError::invalid("cron", format!("'{expr}' is not a valid cron expression: {e}")))
}

/// Rewrites crontab weekday numbers (0–7, 0 and 7 = Sunday) as names; a number after `/` is
/// a step and stays a number.
fn crontab_weekdays(field: &str) -> String {
    // A range ending in 7 (Sunday) would end before it starts once named: `5-7` → `5-6,0`.
    let field = field
        .split(',')
        .map(|part| match part.strip_suffix("-7") {
            Some(start) if start.chars().all(|c| c.is_ascii_digit()) && !start.is_empty() => format!("{start}-6,0"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let field = field.as_str();
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::with_capacity(field.len() + 8);
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| {
        if digits.is_empty() {
            return;
        }
        match digits.parse::<usize>() {
            Ok(n) if !after_slash && n < NAMES.len() => out.push_str(NAMES[n]),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out, after_slash);
            after_slash = c == '/';
            out.push(c);
        }
    }
    flush(&mut digits, &mut out, after_slash);
    out
}

/// A policy's period with its zone and schedule parsed once.
#[derive(Debug, Clone)]
pub struct PolicyClock {
    kind: PeriodKind,
    tz: Tz,
    schedule: Option<Box<cron::Schedule>>,
}

/// Per-session windows are keyed `ctx:<context_id>`.
const SESSION_WINDOW_PREFIX: &str = "ctx:";

/// Whether a window key is a per-session window's (one that no clock ends).
pub fn is_session_window(key: &str) -> bool {
    key.starts_with(SESSION_WINDOW_PREFIX)
}

impl PolicyClock {
    pub fn new(policy: &Policy, default_tz: Tz) -> Result<PolicyClock, EngineError> {
        let tz = match &policy.timezone {
            Some(name) => parse_timezone(name)?,
            None => default_tz,
        };
        let schedule = match (&policy.period, &policy.cron) {
            (PeriodKind::Cron, Some(expr)) => Some(Box::new(parse_cron(expr)?)),
            (PeriodKind::Cron, None) => {
                return Err(EngineError::invalid("cron", "period 'cron' needs a cron expression"));
            }
            _ => None,
        };
        Ok(PolicyClock { kind: policy.period, tz, schedule })
    }

    /// A clock of calendar windows (hourly, daily, weekly, monthly) in `tz`, for report
    /// buckets.
    pub fn calendar(kind: PeriodKind, tz: Tz) -> PolicyClock {
        PolicyClock { kind, tz, schedule: None }
    }

    /// The window containing `at` (for per-session policies, the window of `context_id`).
    ///
    /// Times outside [`crate::domain::EARLIEST_TIME`, `crate::domain::LATEST_TIME`) are refused here too, not only at the
    /// doors: near chrono's limits a zone offset alone overflows (and chrono, and the cron
    /// crate's iterator, panic there), and every step below is checked arithmetic.
    pub fn window(&self, at: DateTime<Utc>, context_id: Option<&str>) -> Result<Window, EngineError> {
        check_time("at", at)?;
        let out_of_range = || {
            EngineError::invalid(
                "at",
                format!("no {} window can be computed around {}", self.kind.as_str(), at.to_rfc3339()),
            )
        };
        match self.kind {
            PeriodKind::Total => Ok(Window { key: "total".into(), start: None, end: None }),
            PeriodKind::PerSession => Ok(Window {
                key: format!("{SESSION_WINDOW_PREFIX}{}", context_id.unwrap_or("")),
                start: None,
                end: None,
            }),
            PeriodKind::Cron => self.cron_window(at).ok_or_else(out_of_range),
            PeriodKind::Hourly => {
                // Hours are real hours even inside a DST fold: step back to the local hour mark.
                let local = at.with_timezone(&self.tz);
                let into_hour = Duration::minutes(i64::from(local.minute()))
                    + Duration::seconds(i64::from(local.second()))
                    + Duration::nanoseconds(i64::from(local.nanosecond()));
                let start = at.checked_sub_signed(into_hour).ok_or_else(out_of_range)?;
                let end = start.checked_add_signed(Duration::hours(1)).ok_or_else(out_of_range)?;
                Ok(Window { key: start.to_rfc3339(), start: Some(start), end: Some(end) })
            }
            kind => {
                let local = at.with_timezone(&self.tz).naive_local();
                let (start, end) = calendar_bounds(kind, local).ok_or_else(out_of_range)?;
                let start = resolve_local(self.tz, start).ok_or_else(out_of_range)?;
                let end = resolve_local(self.tz, end).ok_or_else(out_of_range)?;
                Ok(Window { key: start.to_rfc3339(), start: Some(start), end: Some(end) })
            }
        }
    }

    /// `None` when the schedule cannot be followed around `at` (the cron crate's iterator is
    /// not overflow-checked, so a panic in it is caught and answered as such).
    fn cron_window(&self, at: DateTime<Utc>) -> Option<Window> {
        let Some(schedule) = &self.schedule else {
            return Some(Window { key: "total".into(), start: None, end: None });
        };
        // Whole seconds: the schedule's own resolution (a fraction would make the backward
        // search from `at + 1 s` find the next fire time in the last second of a window).
        let at = chrono::SubsecRound::trunc_subsecs(at, 0);
        let local = at.with_timezone(&self.tz);
        let after = local.checked_add_signed(Duration::seconds(1))?;
        let bounds = std::panic::catch_unwind(|| {
            // Fire times strictly after `at` going forward, and at-or-before `at` going back.
            let end = schedule.after(&local).next().map(|t| t.with_timezone(&Utc));
            let start = schedule.after(&after).next_back().map(|t| t.with_timezone(&Utc));
            (start, end)
        });
        let (start, end) = bounds.ok()?;
        let key = match start {
            Some(s) => s.to_rfc3339(),
            None => "cron:before-first".into(),
        };
        Some(Window { key, start, end })
    }
}

/// Start and end of the calendar window containing `local`, in local wall time.
fn calendar_bounds(kind: PeriodKind, local: NaiveDateTime) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let date = local.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0);
    let days = |d: NaiveDate, n: i64| d.checked_add_signed(Duration::days(n));
    let (first, next) = match kind {
        PeriodKind::Weekly => {
            let monday = days(date, -i64::from(date.weekday().num_days_from_monday()))?;
            (monday, days(monday, 7)?)
        }
        PeriodKind::Monthly => {
            let first = date.with_day(1)?;
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year().checked_add(1)?, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            }?;
            (first, next)
        }
        _ => (date, days(date, 1)?),
    };
    Some((midnight(first)?, midnight(next)?))
}

/// Maps local wall time to UTC. In a DST fold the earlier instant wins; in a gap (a local
/// time that does not exist) the first existing instant after it is the boundary.
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut probe = local;
    for _ in 0..6 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(early, _) => return Some(early.with_timezone(&Utc)),
            LocalResult::None => probe = probe.checked_add_signed(Duration::minutes(30))?,
        }
    }
    Some(Utc.from_utc_datetime(&local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Enforcement, ScopeFilter};
    use rust_decimal::Decimal;
    use uuid::Uuid;

    fn policy(period: PeriodKind, tz: Option<&str>, cron: Option<&str>) -> Policy {
        Policy {
            id: Uuid::now_v7(),
            budget_id: Uuid::now_v7(),
            period,
            cron: cron.map(String::from),
            timezone: tz.map(String::from),
            cost_limit: Some(Decimal::ONE),
            token_limit: None,
            enforcement: Enforcement::HardLimit,
            warning_threshold: Decimal::new(8, 1),
            action_threshold: Decimal::new(95, 2),
            filters: ScopeFilter::default(),
            allow_unpriced: false,
            enabled: true,
            created_at: Utc::now(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("valid time").with_timezone(&Utc)
    }

    fn window(period: PeriodKind, tz: &str, at: &str) -> (String, String) {
        let clock = PolicyClock::new(&policy(period, Some(tz), None), Tz::UTC).expect("clock");
        let w = clock.window(utc(at), None).expect("window");
        (w.start.expect("start").to_rfc3339(), w.end.expect("end").to_rfc3339())
    }

    #[test]
    fn daily_window_in_utc() {
        assert_eq!(
            window(PeriodKind::Daily, "UTC", "2026-03-10T23:59:59Z"),
            ("2026-03-10T00:00:00+00:00".into(), "2026-03-11T00:00:00+00:00".into())
        );
    }

    #[test]
    fn spring_forward_day_is_23_hours() {
        // US DST starts 2026-03-08 at 02:00 local in New York.
        let (start, end) = window(PeriodKind::Daily, "America/New_York", "2026-03-08T12:00:00Z");
        assert_eq!(start, "2026-03-08T05:00:00+00:00");
        assert_eq!(end, "2026-03-09T04:00:00+00:00");
    }

    #[test]
    fn fall_back_day_is_25_hours() {
        // EU DST ends 2026-10-25 at 03:00 local in Berlin.
        let (start, end) = window(PeriodKind::Daily, "Europe/Berlin", "2026-10-25T12:00:00Z");
        assert_eq!(start, "2026-10-24T22:00:00+00:00");
        assert_eq!(end, "2026-10-25T23:00:00+00:00");
    }

    #[test]
    fn hour_inside_fall_back_fold_is_the_earlier_one() {
        // 02:30 local happens twice in Berlin on 2026-10-25; 00:30Z is the first (CEST).
        let (start, end) = window(PeriodKind::Hourly, "Europe/Berlin", "2026-10-25T00:30:00Z");
        assert_eq!(start, "2026-10-25T00:00:00+00:00");
        assert_eq!(end, "2026-10-25T01:00:00+00:00");
    }

    #[test]
    fn midnight_in_a_dst_gap_moves_to_first_existing_instant() {
        // Santiago: clocks jump from 00:00 to 01:00 on 2026-09-06.
        let (start, _) = window(PeriodKind::Daily, "America/Santiago", "2026-09-06T12:00:00Z");
        assert_eq!(start, "2026-09-06T04:00:00+00:00");
    }

    #[test]
    fn weekly_starts_monday_and_monthly_handles_month_ends() {
        assert_eq!(
            window(PeriodKind::Weekly, "UTC", "2026-11-29T10:00:00Z"), // a Sunday
            ("2026-11-23T00:00:00+00:00".into(), "2026-11-30T00:00:00+00:00".into())
        );
        assert_eq!(
            window(PeriodKind::Monthly, "UTC", "2026-12-31T23:59:59Z"),
            ("2026-12-01T00:00:00+00:00".into(), "2027-01-01T00:00:00+00:00".into())
        );
        assert_eq!(
            window(PeriodKind::Monthly, "UTC", "2028-02-29T12:00:00Z"),
            ("2028-02-01T00:00:00+00:00".into(), "2028-03-01T00:00:00+00:00".into())
        );
        // Tokyo's month starts 9 hours before UTC's.
        assert_eq!(
            window(PeriodKind::Monthly, "Asia/Tokyo", "2026-01-31T16:00:00Z"),
            ("2026-01-31T15:00:00+00:00".into(), "2026-02-28T15:00:00+00:00".into())
        );
    }

    #[test]
    fn per_session_and_total_windows() {
        let clock = PolicyClock::new(&policy(PeriodKind::PerSession, None, None), Tz::UTC).expect("clock");
        assert_eq!(clock.window(Utc::now(), Some("abc")).expect("window").key, "ctx:abc");
        let clock = PolicyClock::new(&policy(PeriodKind::Total, None, None), Tz::UTC).expect("clock");
        assert_eq!(clock.window(Utc::now(), None).expect("window").key, "total");
    }

    #[test]
    fn cron_window_between_fire_times() {
        // Every day at 06:00 local in Berlin.
        let clock = PolicyClock::new(&policy(PeriodKind::Cron, Some("Europe/Berlin"), Some("0 6 * * *")), Tz::UTC)
            .expect("clock");
        let w = clock.window(utc("2026-07-01T03:00:00Z"), None).expect("window");
        assert_eq!(w.start.expect("start").to_rfc3339(), "2026-06-30T04:00:00+00:00");
        assert_eq!(w.end.expect("end").to_rfc3339(), "2026-07-01T04:00:00+00:00");
        // Exactly at a fire time, the new window starts.
        let w = clock.window(utc("2026-07-01T04:00:00Z"), None).expect("window");
        assert_eq!(w.start.expect("start").to_rfc3339(), "2026-07-01T04:00:00+00:00");
        assert!(parse_cron("not cron").is_err());
    }

    #[test]
    fn crontab_weekday_numbers_mean_what_crontab_says() {
        assert_eq!(crontab_weekdays("1-5"), "MON-FRI");
        assert_eq!(crontab_weekdays("0,6"), "SUN,SAT");
        assert_eq!(crontab_weekdays("7"), "SUN");
        assert_eq!(crontab_weekdays("5-7"), "FRI-SAT,SUN");
        assert_eq!(crontab_weekdays("1-7"), "MON-SAT,SUN");
        assert!(parse_cron("0 9 * * 5-7").is_ok());
        assert_eq!(crontab_weekdays("*/2"), "*/2");
        assert_eq!(crontab_weekdays("MON"), "MON");
        // "0 9 * * 1" is Monday 09:00: the window containing Wednesday 2026-11-25 starts on
        // Monday 2026-11-23.
        let clock = PolicyClock::new(&policy(PeriodKind::Cron, None, Some("0 9 * * 1")), Tz::UTC).expect("clock");
        let w = clock.window(utc("2026-11-25T12:00:00Z"), None).expect("window");
        assert_eq!(w.start.expect("start").to_rfc3339(), "2026-11-23T09:00:00+00:00");
    }

    /// The reproductions: near chrono's limits a zone offset alone overflowed and the
    /// BudgetActor panicked. Every period, in zones far east and west, at both ends of time,
    /// gives an error naming `at` instead.
    #[test]
    fn times_at_chronos_limits_are_an_error_for_every_period_not_a_panic() {
        let extremes = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            utc("1999-12-31T23:59:59Z"),
            utc("2200-01-01T00:00:00Z"),
        ];
        let kinds = [
            (PeriodKind::Hourly, None),
            (PeriodKind::Daily, None),
            (PeriodKind::Weekly, None),
            (PeriodKind::Monthly, None),
            (PeriodKind::Cron, Some("0 6 * * *")),
        ];
        for tz in ["Pacific/Kiritimati", "Asia/Tokyo", "Pacific/Pago_Pago", "UTC"] {
            for (kind, cron) in kinds {
                let clock = PolicyClock::new(&policy(kind, Some(tz), cron), Tz::UTC).expect("clock");
                for at in extremes {
                    let err = clock.window(at, None).expect_err("out of range");
                    assert!(
                        matches!(&err, EngineError::Invalid { field, .. } if field == "at"),
                        "{kind:?} {tz} {at}: {err}"
                    );
                }
            }
        }
        // The window's edges are inside it.
        let clock =
            PolicyClock::new(&policy(PeriodKind::Monthly, Some("Pacific/Kiritimati"), None), Tz::UTC).expect("clock");
        assert!(clock.window(utc("2000-01-01T00:00:00Z"), None).is_ok());
        assert!(clock.window(utc("2199-12-31T23:59:59Z"), None).is_ok());
    }
}
