//! `budget bench`: a load generator. Over HTTP it runs allocate → record → release cycles with
//! N concurrent clients against a running daemon; `--in-process` drives the engine directly
//! (no HTTP) over a fresh SQLite database. Both print operations/s and latency percentiles.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use budget_actors::api::{AllocationRequest, CreateBudget, UsageRequest};
use budget_actors::domain::PolicySpec;
use budget_actors::{EngineConfig, Tree, TreeConfig};

use crate::client::BudgetClient;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Drive the engine in this process (fresh SQLite in a temp dir) instead of a daemon.
    #[arg(long)]
    pub in_process: bool,
    /// With --in-process: only the admission core (one BudgetActor's reserve and settle, no
    /// storage writes), to separate the engine's own cost from durability's.
    #[arg(long, requires = "in_process")]
    pub engine_only: bool,
    /// Model to price (must be in the price table).
    #[arg(long, default_value = "claude-sonnet-4-5")]
    pub model: String,
    #[arg(long, default_value = "anthropic")]
    pub provider: String,
    /// Time loading and verifying the full LiteLLM map against a second source instead.
    #[arg(long, conflicts_with = "in_process")]
    pub prices: bool,
    /// With --prices: the second source's file (default: the built-in LiteLLM map again, so
    /// every entry is compared).
    #[arg(long, requires = "prices")]
    pub second: Option<std::path::PathBuf>,
    /// With --second: its format (litellm, llm_prices, llm_prices_historical).
    #[arg(long, default_value = "llm_prices", requires = "second")]
    pub second_format: String,
}

struct Stats {
    histogram: Histogram<u64>,
    errors: u64,
}

impl Stats {
    fn new() -> Result<Stats> {
        Ok(Stats { histogram: Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?, errors: 0 })
    }
}

fn report(label: &str, stats: &Stats, elapsed: Duration, per_cycle: u64) {
    let ops = stats.histogram.len();
    let secs = elapsed.as_secs_f64();
    println!("{label}");
    println!("  operations:      {ops} in {secs:.2} s ({} errors)", stats.errors);
    println!(
        "  throughput:      {:.0} operations/s ({:.0} cycles/s)",
        ops as f64 / secs,
        ops as f64 / secs / per_cycle as f64
    );
    println!(
        "  latency (µs):    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        stats.histogram.value_at_quantile(0.50),
        stats.histogram.value_at_quantile(0.90),
        stats.histogram.value_at_quantile(0.99),
        stats.histogram.value_at_quantile(0.999),
        stats.histogram.max()
    );
}

fn allocation(component: &str, args: &BenchArgs, i: u64) -> AllocationRequest {
    AllocationRequest {
        component: component.to_string(),
        context_id: Some(format!("ctx-{}", i % 64)),
        provider: args.provider.clone(),
        model: args.model.clone(),
        input_tokens: Some(2000),
        max_output_tokens: Some(1000),
        ..AllocationRequest::default()
    }
}

fn usage(allocation_id: uuid::Uuid) -> UsageRequest {
    UsageRequest {
        allocation_id: Some(allocation_id),
        input_tokens: Some(1800),
        output_tokens: Some(640),
        ..UsageRequest::default()
    }
}

fn bench_budget(component: &str) -> Result<CreateBudget> {
    Ok(CreateBudget {
        name: component.to_string(),
        component: Some(component.to_string()),
        policies: vec![PolicySpec::parse_shorthand("daily:1000000000:hard_limit").map_err(|e| anyhow!(e))?],
        ..CreateBudget::default()
    })
}

/// Runs `clients` concurrent loops until `seconds` pass. Each call of `cycle(i)` does one
/// cycle and returns the latency of each operation in it (µs), or `None` for one that failed.
async fn drive<F, Fut>(clients: usize, seconds: u64, cycle: F) -> Result<(Stats, Duration)>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<Option<u64>>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let stats = Arc::new(Mutex::new(Stats::new()?));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let stats = stats.clone();
        let cycle = cycle.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Stats::new()?;
            let mut i = worker as u64;
            while Instant::now() < deadline {
                i += clients as u64;
                for latency in cycle(i).await {
                    match latency {
                        Some(us) => local.histogram.record(us.max(1))?,
                        None => local.errors += 1,
                    }
                }
            }
            let mut all = stats.lock().await;
            all.histogram.add(&local.histogram)?;
            all.errors += local.errors;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = start.elapsed();
    let stats = Arc::try_unwrap(stats).map_err(|_| anyhow!("bench tasks still running"))?.into_inner();
    Ok((stats, elapsed))
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

pub async fn run(args: BenchArgs, url: &str, api_key: Option<String>) -> Result<()> {
    if args.prices {
        return run_prices(args).await;
    }
    if args.in_process {
        return run_in_process(args).await;
    }
    let client = BudgetClient::new(url, api_key).map_err(|e| anyhow!(e))?;
    let component = format!("bench-{}", chrono::Utc::now().timestamp_millis());
    client.create_budget(&bench_budget(&component)?).await.context("creating the bench budget")?;
    let settings = args.clone();
    let (stats, elapsed) = drive(args.clients, args.seconds, move |i| {
        let (client, component, settings) = (client.clone(), component.clone(), settings.clone());
        async move {
            let t = Instant::now();
            let grant = match client.allocate(&allocation(&component, &settings, i)).await {
                Ok(g) => g,
                Err(_) => return vec![None],
            };
            let mut out = vec![Some(micros(t))];
            let t = Instant::now();
            out.push(client.record_usage(&usage(grant.id)).await.ok().map(|_| micros(t)));
            let t = Instant::now();
            out.push(client.release(&grant.id.to_string()).await.ok().map(|_| micros(t)));
            out
        }
    })
    .await?;
    report(
        &format!("HTTP allocate → record → release, {} clients, {} against {url}", args.clients, args.model),
        &stats,
        elapsed,
        3,
    );
    Ok(())
}

async fn run_in_process(args: BenchArgs) -> Result<()> {
    if args.engine_only {
        return run_engine_only(args).await;
    }
    let dir = tempfile::tempdir().context("temp dir")?;
    let tree = start_tree(&dir, None).await?;
    let engine = tree.engine();
    engine.create_budget(bench_budget("bench")?).await?;
    let (runner, settings) = (engine.clone(), args.clone());
    let (stats, elapsed) = drive(args.clients, args.seconds, move |i| {
        let (engine, settings) = (runner.clone(), settings.clone());
        async move {
            let t = Instant::now();
            let Ok(grant) = engine.allocate(allocation("bench", &settings, i)).await else { return vec![None] };
            vec![engine.record_usage(usage(grant.id)).await.ok().map(|_| micros(t))]
        }
    })
    .await?;
    report(
        &format!("in-process allocate+settle pairs (durable SQLite), {} tasks, {}", args.clients, args.model),
        &stats,
        elapsed,
        1,
    );
    tree.shutdown().await;
    Ok(())
}

/// Reserve + settle straight into one BudgetActor: the serialization point every allocation
/// of a budget goes through, without HTTP and without storage writes.
async fn run_engine_only(args: BenchArgs) -> Result<()> {
    use budget_actors::budgets::{BudgetActors, ReserveRequest, SettleRequest};
    use budget_actors::domain::CallScope;

    let dir = tempfile::tempdir().context("temp dir")?;
    let tree = start_tree(&dir, None).await?;
    let engine = tree.engine();
    let repo = engine.repo().clone();
    let budget = Arc::new(engine.create_budget(bench_budget("bench")?).await?);
    // A subtree of its own: the engine's actor for this budget stays idle.
    let actors = BudgetActors::start(repo, chrono_tz::Tz::UTC, 10_000, None).await?;
    let call = CallScope::new("bench".into(), None, args.provider.clone(), args.model.clone(), None, None)
        .map_err(|e| anyhow!(e))?;
    let runner = actors.clone();
    let (stats, elapsed) = drive(args.clients, args.seconds, move |_| {
        let (actors, call, budget) = (runner.clone(), call.clone(), budget.clone());
        async move {
            let t = Instant::now();
            let now = chrono::Utc::now();
            let allocation_id = uuid::Uuid::now_v7();
            let request = ReserveRequest {
                allocation_id,
                call: call.clone(),
                at: now,
                cost: Some(rust_decimal::Decimal::new(21, 3)),
                tokens: 3000,
                expires_at: now + chrono::Duration::seconds(300),
                priority: 5,
            };
            let reserved = actors.reserve(&budget, request).await;
            let settle = SettleRequest {
                record_id: uuid::Uuid::now_v7(),
                allocation_id: Some(allocation_id),
                call,
                at: now,
                cost: Some(rust_decimal::Decimal::new(15, 3)),
                tokens: 2440,
            };
            let settled = actors.settle(&budget, settle).await;
            actors.unreserve(budget.id, allocation_id);
            match (reserved, settled) {
                (Ok(_), Ok(_)) => vec![Some(micros(t))],
                _ => vec![None],
            }
        }
    })
    .await?;
    report(
        &format!("engine core: reserve+settle pairs into one BudgetActor (no storage writes), {} tasks", args.clients),
        &stats,
        elapsed,
        1,
    );
    actors.stop().await;
    tree.shutdown().await;
    Ok(())
}

/// Loads and verifies the full LiteLLM map (4,876 entries) with a second source, through the
/// real monitor (file sources, verifier, SQLite), and prints how long each step took.
async fn run_prices(args: BenchArgs) -> Result<()> {
    use budget_actors::monitor::MonitorSettings;
    use budget_actors::sources::{SourceConfig, SourceKind};

    let dir = tempfile::tempdir().context("temp dir")?;
    let map_path = dir.path().join("litellm.json");
    std::fs::write(&map_path, budget_actors::pricing::BUILTIN_LITELLM_JSON).context("write map")?;
    let (second_path, second_format) = match &args.second {
        Some(path) => {
            let format: SourceKind = serde_json::from_value(serde_json::Value::String(args.second_format.clone()))
                .map_err(|e| anyhow!("--second-format {}: {e}", args.second_format))?;
            (path.clone(), format)
        }
        None => (map_path.clone(), SourceKind::Litellm),
    };
    let file = |name: &str, path: &std::path::Path, format: SourceKind, trust: i64| SourceConfig {
        format: Some(format),
        trust: rust_decimal::Decimal::new(trust, 1),
        min_interval_seconds: 0,
        ..SourceConfig::new(name, SourceKind::File, path.display().to_string())
    };
    let settings = MonitorSettings {
        sources: vec![
            file("litellm", &map_path, SourceKind::Litellm, 9),
            file("second", &second_path, second_format, 7),
        ],
        schedules: false,
        ..MonitorSettings::default()
    };
    let tree = start_tree(&dir, Some(settings)).await?;
    let monitor = tree.monitor().ok_or_else(|| anyhow!("the price monitor did not start"))?;
    let t = Instant::now();
    let first = monitor.refresh(Some("litellm")).await?;
    let load = t.elapsed();
    let t = Instant::now();
    let second = monitor.refresh(Some("second")).await?;
    let verify = t.elapsed();
    println!("price monitor: full LiteLLM map verified against a second source ({})", second_path.display());
    for (label, report, took) in
        [("load + verify litellm", &first[0], load), ("load + verify second", &second[0], verify)]
    {
        println!(
            "  {label:<24} {:>8.1} ms  ({} models, {} applied, {} pending, {} conflicts{})",
            took.as_secs_f64() * 1000.0,
            report.models,
            report.applied,
            report.pending,
            report.conflicts,
            report.error.as_ref().map(|e| format!(", error: {e}")).unwrap_or_default()
        );
    }
    println!("  total                    {:>8.1} ms", (load + verify).as_secs_f64() * 1000.0);
    tree.shutdown().await;
    Ok(())
}

/// The daemon's tree over a fresh SQLite file in `dir`.
async fn start_tree(dir: &tempfile::TempDir, monitor: Option<budget_actors::monitor::MonitorSettings>) -> Result<Tree> {
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    Ok(Tree::start(TreeConfig {
        database_url,
        engine: EngineConfig::default(),
        monitor,
        alerts: budget_actors::alerts::AlertSettings::default(),
    })
    .await?)
}
