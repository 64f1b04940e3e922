//! Reports: usage grouped and bucketed in the database, exports, and the dashboard's
//! overview. [`ReportService`] is the typed handle the front doors call; the ReporterActor (a
//! child of the root supervisor) admits report queries, a few at a time, so that a burst of
//! dashboard refreshes over a year of data queues instead of starving budget operations of
//! database connections.

mod actor;
pub mod render;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use ractor::{ActorCell, ActorRef};
use std::collections::BTreeMap;

use crate::api::PolicyStatus;
use crate::api::{
    BUCKETS, BudgetOverview, Forecast, MAX_BUCKETS, Overview, PolicyForecast, REPORT_KEYS, ReportQuery, ReportRow,
    UsageReport,
};
use crate::domain::{PeriodKind, PolicyState, check_time};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::period::PolicyClock;
use crate::storage::{AlertFilter, ReportKey, ReportSpec, UsageFilter};

pub use actor::ToReporter;

/// Report queries run at once; more wait their turn in the actor.
pub const CONCURRENT_REPORTS: usize = 2;
/// Records per page of a streamed export.
pub const EXPORT_PAGE: u32 = 2_000;

#[derive(Clone)]
pub struct ReportService {
    engine: Engine,
    actor: ActorRef<ToReporter>,
}

impl ReportService {
    pub async fn start_under(engine: Engine, parent: Option<ActorCell>) -> Result<ReportService, EngineError> {
        let actor = actor::start(parent).await?;
        Ok(ReportService { engine, actor })
    }

    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// `GET /api/v1/reports/usage`.
    pub async fn usage(&self, query: &ReportQuery) -> Result<UsageReport, EngineError> {
        let plan = self.plan(query).await?;
        let engine = self.engine.clone();
        actor::admitted(&self.actor, async move { run_report(&engine, plan).await }).await
    }

    /// `GET /api/v1/reports/overview`: every budget's policies with a forecast, open alerts,
    /// and the last day's and month's usage.
    pub async fn overview(&self) -> Result<Overview, EngineError> {
        let engine = self.engine.clone();
        actor::admitted(&self.actor, async move { overview(&engine).await }).await
    }

    /// One page of the records a records export streams, after `after` (the previous page's
    /// `next`). Pages keep memory flat however long the range.
    pub async fn records_page(&self, plan: &Plan, after: Option<uuid::Uuid>) -> Result<RecordsPage, EngineError> {
        let filter = UsageFilter {
            from: Some(plan.spec.from),
            to: Some(plan.spec.to),
            provider: plan.spec.provider.clone(),
            model: plan.spec.model.clone(),
            component: plan.spec.component.clone(),
            context_id: plan.spec.context_id.clone(),
            task_type: plan.spec.task_type.clone(),
            allocation_id: None,
            after,
            limit: EXPORT_PAGE,
        };
        let mut records = self.engine.repo().list_usage(&filter).await?;
        // The cursor goes by what was read, before the filters below: a page they empty is
        // not the end.
        let next = (records.len() >= EXPORT_PAGE as usize).then(|| records.last().map(|r| r.id)).flatten();
        // Filters the listing query has no column for.
        records.retain(|r| {
            plan.spec.tier.as_deref().is_none_or(|t| r.tier == t)
                && plan.spec.budget_id.is_none_or(|b| r.budgets.contains(&b))
        });
        Ok(RecordsPage { records, next })
    }

    /// Checks a query and turns it into what storage runs.
    pub async fn plan(&self, query: &ReportQuery) -> Result<Plan, EngineError> {
        let to = check_time("to", query.to.unwrap_or_else(Utc::now))?;
        let from = check_time("from", query.from.unwrap_or(to - Duration::days(30)))?;
        if from >= to {
            return Err(EngineError::invalid("from", "from must be before to"));
        }
        let tz: Tz = match query.tz.as_deref() {
            Some(name) => crate::period::parse_timezone(name)
                .map_err(|_| EngineError::invalid("tz", format!("unknown time zone '{name}'")))?,
            None => self.engine.config().default_timezone,
        };
        let mut names = Vec::new();
        let mut group_by = Vec::new();
        for name in query.group_by.as_deref().unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let key = report_key(name).ok_or_else(|| {
                EngineError::invalid(
                    "group_by",
                    format!("cannot group by '{name}' (expected any of {})", REPORT_KEYS.join(", ")),
                )
            })?;
            if !group_by.contains(&key) {
                group_by.push(key);
                names.push(name.to_string());
            }
        }
        let bucket = query.bucket.as_deref().filter(|b| !b.is_empty());
        let bucket_clock =
            bucket.map(|b| bucket_period(b).map(|period| PolicyClock::calendar(period, tz))).transpose()?;
        let buckets = bucket_clock.as_ref().map(|clock| buckets(clock, from, to)).transpose()?;
        let budget_id = match query.budget.as_deref() {
            Some(b) => Some(self.engine.get_budget(b).await?.id),
            None => None,
        };
        let top = match query.top {
            None => None,
            Some(n) if (1..=crate::api::MAX_PAGE).contains(&n) => Some(n as usize),
            Some(_) => {
                return Err(EngineError::invalid("top", format!("top must be between 1 and {}", crate::api::MAX_PAGE)));
            }
        };
        let text = |field: &str, v: &Option<String>| -> Result<Option<String>, EngineError> {
            use crate::domain::text::{IDENT_MAX, MODEL_MAX, PROVIDER_MAX, check_identifier};
            let max = match field {
                "provider" => PROVIDER_MAX,
                "model" => MODEL_MAX,
                _ => IDENT_MAX,
            };
            match v.as_deref() {
                None | Some("") => Ok(None),
                Some(s) => {
                    check_identifier(field, s, max)?;
                    Ok(Some(s.to_string()))
                }
            }
        };
        Ok(Plan {
            spec: ReportSpec {
                from,
                to,
                provider: text("provider", &query.provider)?,
                model: text("model", &query.model)?,
                component: text("component", &query.component)?,
                task_type: text("task_type", &query.task_type)?,
                context_id: text("context_id", &query.context_id)?,
                tier: text("tier", &query.tier)?,
                budget_id,
                group_by,
                buckets,
            },
            names,
            bucket: bucket.map(str::to_string),
            bucket_clock,
            timezone: tz.name().to_string(),
            top,
        })
    }
}

/// A page of a records export.
pub struct RecordsPage {
    /// The page's records that pass every filter (possibly none).
    pub records: Vec<crate::domain::UsageRecord>,
    /// Where the next page starts; `None` when this was the last.
    pub next: Option<uuid::Uuid>,
}

/// A checked report query.
#[derive(Debug, Clone)]
pub struct Plan {
    pub spec: ReportSpec,
    /// The group keys' names, in order.
    pub names: Vec<String>,
    pub bucket: Option<String>,
    /// The buckets' calendar, to label a bucket clipped by `from` with its calendar start.
    pub bucket_clock: Option<PolicyClock>,
    pub timezone: String,
    pub top: Option<usize>,
}

fn report_key(name: &str) -> Option<ReportKey> {
    Some(match name {
        "provider" => ReportKey::Provider,
        "model" => ReportKey::Model,
        "component" => ReportKey::Component,
        "task_type" => ReportKey::TaskType,
        "context_id" => ReportKey::ContextId,
        "tier" => ReportKey::Tier,
        "budget" => ReportKey::Budget,
        _ => return None,
    })
}

fn bucket_period(name: &str) -> Result<PeriodKind, EngineError> {
    match name {
        "hour" => Ok(PeriodKind::Hourly),
        "day" => Ok(PeriodKind::Daily),
        "week" => Ok(PeriodKind::Weekly),
        "month" => Ok(PeriodKind::Monthly),
        other => {
            Err(EngineError::invalid("bucket", format!("unknown bucket '{other}' (expected {})", BUCKETS.join(", "))))
        }
    }
}

/// A bucket's `[start, end)`.
pub type Bucket = (DateTime<Utc>, DateTime<Utc>);

/// The calendar buckets (in `tz`, DST included) that cover `[from, to)`, clipped to it.
pub fn buckets(clock: &PolicyClock, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Bucket>, EngineError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let window = clock.window(at, None)?;
        let (Some(start), Some(end)) = (window.start, window.end) else {
            return Err(EngineError::Internal("a calendar window without bounds".into()));
        };
        out.push((start.max(from), end.min(to)));
        if out.len() > MAX_BUCKETS {
            return Err(EngineError::invalid(
                "bucket",
                format!("more than {MAX_BUCKETS} buckets: narrow the range or take a larger bucket"),
            ));
        }
        at = end;
    }
    Ok(out)
}

async fn run_report(engine: &Engine, plan: Plan) -> Result<UsageReport, EngineError> {
    let rows = engine.repo().aggregate_usage(&plan.spec).await?;
    // Groups partition the records unless a record can be in several (one per budget): then
    // the totals are a query of their own; otherwise they are the groups' exact sum.
    let totals = if plan.spec.group_by.contains(&ReportKey::Budget) {
        let totals_spec = ReportSpec { group_by: Vec::new(), buckets: None, ..plan.spec.clone() };
        engine.repo().aggregate_usage(&totals_spec).await?.into_iter().next().map(|r| r.measures)
    } else {
        Some(rows.iter().fold(crate::api::Measures::default(), |sum, r| sum.plus(&r.measures)).with_average())
    };
    let names = budget_names(engine);
    let mut rows: Vec<ReportRow> = rows
        .into_iter()
        .map(|r| {
            let mut keys = BTreeMap::new();
            for ((name, key), value) in plan.names.iter().zip(&plan.spec.group_by).zip(r.keys) {
                // A budget is shown by name (its id when it was deleted since).
                let value = match key {
                    ReportKey::Budget => value.map(|id| names.get(&id).cloned().unwrap_or(id)),
                    _ => value,
                };
                keys.insert(name.clone(), value);
            }
            if let Some(clock) = &plan.bucket_clock {
                // A first bucket clipped by `from` still reads as its calendar start.
                let label = r.bucket.map(|b| clock.window(b, None).ok().and_then(|w| w.start).unwrap_or(b));
                keys.insert("bucket".into(), label.map(|b| b.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
            }
            ReportRow { keys, measures: r.measures }
        })
        .collect();
    // Highest cost first; the rest in a fixed order so that a report reads the same twice.
    rows.sort_by(|a, b| b.measures.cost.cmp(&a.measures.cost).then_with(|| a.keys.cmp(&b.keys)));
    if let Some(top) = plan.top {
        rows.truncate(top);
    }
    if plan.bucket.is_some() {
        // Time order, then cost within a bucket: what a chart wants.
        rows.sort_by(|a, b| {
            a.keys.get("bucket").cmp(&b.keys.get("bucket")).then_with(|| b.measures.cost.cmp(&a.measures.cost))
        });
    }
    Ok(UsageReport {
        from: plan.spec.from,
        to: plan.spec.to,
        timezone: plan.timezone,
        group_by: plan.names,
        bucket: plan.bucket,
        rows,
        totals: totals.unwrap_or_default(),
    })
}

fn budget_names(engine: &Engine) -> std::collections::HashMap<String, String> {
    engine.budgets_snapshot().iter().map(|b| (b.id.to_string(), b.name.clone())).collect()
}

async fn overview(engine: &Engine) -> Result<Overview, EngineError> {
    let at = crate::domain::now();
    let mut budgets = Vec::new();
    for budget in engine.list_budgets().await? {
        let status = engine.budget_status(&budget.id.to_string(), &Default::default()).await?;
        let policies =
            status.policies.into_iter().map(|p| PolicyForecast { forecast: forecast(&p, at), status: p }).collect();
        budgets.push(BudgetOverview {
            budget_id: status.budget_id,
            budget: status.budget,
            state: status.state,
            policies,
        });
    }
    let open = engine
        .repo()
        .list_alerts(&AlertFilter { acknowledged: Some(false), limit: crate::api::MAX_PAGE, ..Default::default() })
        .await?
        .len() as u64;
    let last = |days: i64| ReportSpec { from: at - Duration::days(days), to: at, ..Default::default() };
    let sum = |rows: Vec<crate::storage::AggregateRow>| rows.into_iter().next().map(|r| r.measures).unwrap_or_default();
    let last_24h = sum(engine.repo().aggregate_usage(&last(1)).await?);
    let last_30d = sum(engine.repo().aggregate_usage(&last(30)).await?);
    Ok(Overview { at, budgets, unacknowledged_alerts: open, last_24h, last_30d })
}

/// Settled spend at the window's current run-rate by its end: `settled ÷ elapsed share`.
/// None for windows without an end, without a cost limit, or in their first tenth (one call
/// early in a window would project anything).
pub fn forecast(p: &PolicyStatus, at: DateTime<Utc>) -> Option<Forecast> {
    let (start, end, limit) = (p.window_start?, p.window_end?, p.limit?);
    let (elapsed, length) = ((at - start).num_seconds(), (end - start).num_seconds());
    if length <= 0 || elapsed <= 0 {
        return None;
    }
    let share = rust_decimal::Decimal::from(elapsed.min(length)) / rust_decimal::Decimal::from(length);
    if share < crate::domain::PROJECTION_MIN_ELAPSED {
        return None;
    }
    let projected = (p.settled / share).round_dp(6).normalize();
    Some(Forecast { projected, will_exceed: projected >= limit || p.state == PolicyState::Exceeded })
}
