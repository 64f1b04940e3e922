//! The `budget` command line: `serve` runs the daemon; every other command is a client of the
//! REST API through [`crate::client::BudgetClient`].

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use rust_decimal::Decimal;
use serde::Serialize;
use std::path::PathBuf;

use budget_actors::api::*;
use budget_actors::domain::{PolicySpec, ScopeFilter};
use budget_actors::money::{display, parse_amount};

use crate::client::{BudgetClient, ClientError, enc};

#[derive(Parser, Debug)]
#[command(name = "budget", version, about = "Tekton Budget: what every LLM call costs, and who may spend how much")]
pub struct Cli {
    /// Daemon URL.
    #[arg(long, global = true, env = "BUDGET_URL", default_value = "http://127.0.0.1:8013")]
    pub url: String,
    /// API key (default: $BUDGET_API_KEY, else <data dir>/admin.key on this machine).
    #[arg(long, global = true, env = "BUDGET_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// Create, list, show, update and delete budgets.
    #[command(subcommand)]
    Budgets(BudgetsCmd),
    /// Add, show, update and delete policies.
    #[command(subcommand)]
    Policies(PoliciesCmd),
    /// Reserve budget before an LLM call.
    Allocate(AllocateArgs),
    /// Return what an allocation still holds.
    Release { id: String },
    /// Allocations: show one, or list by context.
    #[command(subcommand)]
    Allocations(AllocationsCmd),
    /// Record and query usage.
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Prices: list, show, set, estimate.
    #[command(subcommand)]
    Prices(PricesCmd),
    /// Where each policy of a budget stands.
    Status {
        budget: String,
        /// For per-session policies.
        #[arg(long = "context", alias = "context-id")]
        context: Option<String>,
    },
    /// API keys (admin).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Recent alerts.
    Alerts,
    /// Load-test a running daemon with allocate → record → release cycles.
    Bench(crate::bench::BenchArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Config file (TOML); also $BUDGET_CONFIG.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// host:port to listen on (default 127.0.0.1:8013).
    #[arg(long)]
    pub bind: Option<String>,
    /// Data directory (default $BUDGET_DATA_DIR or ./data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite (also $DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ScopeArgs {
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub component: Option<String>,
    #[arg(long)]
    pub task_type: Option<String>,
    #[arg(long)]
    pub tier: Option<String>,
    #[arg(long = "context", alias = "context-id")]
    pub context: Option<String>,
}

impl ScopeArgs {
    fn filter(&self) -> ScopeFilter {
        ScopeFilter {
            provider: self.provider.clone(),
            model: self.model.clone(),
            component: self.component.clone(),
            task_type: self.task_type.clone(),
            tier: self.tier.clone(),
            context_id: self.context.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum BudgetsCmd {
    /// Create a budget. Policies as period:limit[:enforcement], e.g. daily:5.00:hard_limit
    /// or hourly:100000t:warn (a trailing t = tokens).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    List,
    Show {
        budget: String,
    },
    Update {
        budget: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        owner: Option<String>,
    },
    Delete {
        budget: String,
    },
}

#[derive(Args, Debug, Default)]
pub struct PolicyArgs {
    /// hourly, daily, weekly, monthly, total, per_session or cron.
    #[arg(long)]
    pub period: Option<String>,
    /// Dollar limit, e.g. 5.00.
    #[arg(long)]
    pub cost_limit: Option<String>,
    #[arg(long)]
    pub token_limit: Option<u64>,
    /// hard_limit, soft_limit, warn or ignore.
    #[arg(long)]
    pub enforcement: Option<String>,
    #[arg(long)]
    pub warning_threshold: Option<String>,
    #[arg(long)]
    pub action_threshold: Option<String>,
    #[arg(long)]
    pub cron: Option<String>,
    #[arg(long)]
    pub timezone: Option<String>,
    #[arg(long)]
    pub allow_unpriced: Option<bool>,
    #[arg(long)]
    pub enabled: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum PoliciesCmd {
    /// Add a policy to a budget.
    Add {
        budget: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    Show {
        id: String,
    },
    Update {
        id: String,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Filters to set ("" removes one).
        #[command(flatten)]
        scope: ScopeArgs,
        /// Remove a field: cost_limit, token_limit, cron, timezone or a filter (repeatable).
        #[arg(long)]
        clear: Vec<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct AllocateArgs {
    #[arg(long)]
    pub component: String,
    #[arg(long = "context", alias = "context-id")]
    pub context: Option<String>,
    #[arg(long)]
    pub provider: String,
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub task_type: Option<String>,
    #[arg(long)]
    pub tier: Option<String>,
    #[arg(long)]
    pub input_tokens: Option<u64>,
    #[arg(long)]
    pub max_output_tokens: Option<u64>,
    /// Reserve a dollar amount instead of estimating from tokens.
    #[arg(long)]
    pub amount: Option<String>,
    #[arg(long = "ttl", alias = "ttl-seconds")]
    pub ttl_seconds: Option<u64>,
    #[arg(long)]
    pub priority: Option<u8>,
}

#[derive(Subcommand, Debug)]
pub enum AllocationsCmd {
    Show {
        id: String,
    },
    List {
        #[arg(long = "context", alias = "context-id")]
        context: Option<String>,
    },
}

#[derive(Args, Debug, Default)]
pub struct TokenArgs {
    #[arg(long)]
    pub input_tokens: Option<u64>,
    #[arg(long)]
    pub output_tokens: Option<u64>,
    #[arg(long)]
    pub cache_read_tokens: Option<u64>,
    #[arg(long)]
    pub cache_write_tokens: Option<u64>,
    #[arg(long)]
    pub cache_write_1h_tokens: Option<u64>,
    #[arg(long)]
    pub reasoning_tokens: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum UsageCmd {
    /// Record what a call used.
    Record {
        #[arg(long = "allocation", alias = "allocation-id")]
        allocation: Option<String>,
        #[arg(long)]
        component: Option<String>,
        #[arg(long = "context", alias = "context-id")]
        context: Option<String>,
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
        #[arg(long = "context", alias = "context-id")]
        context: Option<String>,
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

#[derive(Subcommand, Debug)]
pub enum PricesCmd {
    List {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    Show {
        provider: String,
        model: String,
    },
    /// Set a manual price (per million tokens unless --per-token).
    Set {
        provider: String,
        model: String,
        /// Input price (per million tokens unless --per-token).
        #[arg(long)]
        input_price: String,
        /// Output price.
        #[arg(long)]
        output_price: String,
        /// Cache-read price.
        #[arg(long)]
        cache_read_price: Option<String>,
        /// Cache-write price.
        #[arg(long)]
        cache_write_price: Option<String>,
        /// Rates are per token rather than per million.
        #[arg(long)]
        per_token: bool,
    },
    /// Price sources: health, last success and error, next run, trust.
    Sources,
    /// Fetch now (all sources, or one) and verify.
    Refresh {
        #[arg(long)]
        source: Option<String>,
    },
    /// Applied price changes, newest first.
    Updates {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Changes held for approval (--status all for every decision).
    Pending {
        #[arg(long)]
        status: Option<String>,
    },
    /// Put a held change in force.
    Approve {
        id: String,
    },
    /// Drop a held change.
    Reject {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Versions of one model's price, and the changes that made them.
    History {
        provider: String,
        model: String,
    },
    /// Models whose sources disagree.
    Conflicts,
    /// Cost of a usage shape.
    Estimate {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        model: String,
        #[command(flatten)]
        tokens: TokenArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    Create {
        #[arg(long)]
        name: String,
        /// read, write or admin.
        #[arg(long)]
        role: String,
    },
    List,
    Revoke {
        id: String,
    },
}

/// The key the CLI uses: flag or $BUDGET_API_KEY, else this machine's admin.key.
pub fn resolve_api_key(explicit: Option<String>) -> Option<String> {
    explicit.filter(|k| !k.trim().is_empty()).or_else(|| {
        let path = crate::config::default_data_dir().join(crate::serve::ADMIN_KEY_FILE);
        std::fs::read_to_string(path).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty())
    })
}

fn print<T: Serialize>(output: Output, value: &T, table: impl FnOnce(&T) -> Table) -> Result<()> {
    let text = match output {
        Output::Json => serde_json::to_string_pretty(value)?,
        Output::Table => table(value).to_string(),
    };
    emit(&text)
}

/// Writes a line to stdout; a reader that went away (`budget alerts | head`) ends the
/// command quietly instead of panicking as `println!` would.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Confirms a change that returns no body: a line for people, `{"<verb>": id}` for programs.
fn done(output: Output, verb: &str, id: &str) -> Result<()> {
    match output {
        Output::Json => emit(&serde_json::json!({ verb: id }).to_string()),
        Output::Table => emit(&format!("{verb} {id}")),
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn money(d: Option<Decimal>) -> String {
    d.map(display).unwrap_or_else(|| "-".into())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn amount(field: &str, text: Option<String>) -> Result<Option<Decimal>> {
    text.map(|t| parse_amount(field, &t).map_err(|e| anyhow!("--{}: {e}", field.replace('_', "-")))).transpose()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v)))).collect::<Vec<_>>().join("&")
}

fn budget_table(b: &budget_actors::domain::Budget) -> Table {
    let mut t = table(&["policy", "period", "cost limit", "token limit", "enforcement", "filters"]);
    for p in &b.policies {
        t.add_row(vec![
            p.id.to_string(),
            p.period.as_str().to_string(),
            money(p.cost_limit),
            opt(&p.token_limit),
            p.enforcement.as_str().to_string(),
            serde_json::to_string(&p.filters).unwrap_or_default(),
        ]);
    }
    let mut outer = table(&["budget", "id", "scope"]);
    outer.add_row(vec![b.name.clone(), b.id.to_string(), serde_json::to_string(&b.scope).unwrap_or_default()]);
    outer.add_row(vec![t.to_string(), String::new(), String::new()]);
    outer
}

fn status_table(s: &BudgetStatus) -> Table {
    let mut t = table(&["policy", "period", "window", "limit", "settled", "reserved", "remaining", "tokens", "state"]);
    for p in &s.policies {
        let window = match (p.window_start, p.window_end) {
            (Some(a), Some(b)) => format!("{} → {}", a.format("%Y-%m-%d %H:%M"), b.format("%Y-%m-%d %H:%M")),
            _ => p.window_key.clone(),
        };
        let tokens = match p.token_limit {
            Some(l) => format!("{}+{}/{}", p.tokens_settled, p.tokens_reserved, l),
            None => format!("{}+{}", p.tokens_settled, p.tokens_reserved),
        };
        t.add_row(vec![
            p.policy_id.to_string()[..8].to_string(),
            format!("{} ({})", p.period, p.enforcement),
            window,
            money(p.limit),
            display(p.settled),
            display(p.reserved),
            money(p.remaining),
            tokens,
            p.state.to_string(),
        ]);
    }
    t
}

pub async fn run(cli: Cli) -> Result<()> {
    let output = cli.output;
    let explicit_key = cli.api_key.as_deref().is_some_and(|k| !k.trim().is_empty());
    let key = resolve_api_key(cli.api_key);
    let key_found = key.is_some();
    let client = BudgetClient::new(&cli.url, key).map_err(|e| anyhow!(e))?;
    let result = dispatch(&client, output, cli.command).await;
    result.map_err(|e| match e.downcast::<ClientError>() {
        Ok(api) => {
            let mut msg = format!("error: {} [{}]", api.message, api.code);
            if api.status == 0 {
                msg.push_str(&format!("\nIs the daemon running at {}? Start it with `budget serve`.", cli.url));
            }
            if api.status == 401 && !explicit_key {
                let looked = crate::config::default_data_dir().join(crate::serve::ADMIN_KEY_FILE);
                msg.push_str(&format!(
                    "\nNo key was given (--api-key or BUDGET_API_KEY){}. The daemon writes its first admin \
                     key to <its data dir>/{}; point BUDGET_DATA_DIR at that directory, or pass a key.",
                    if key_found {
                        format!(" and the one in {} was refused", looked.display())
                    } else {
                        format!(" and there is none at {}", looked.display())
                    },
                    crate::serve::ADMIN_KEY_FILE
                ));
            }
            if !api.details.is_null() && api.details.as_object().is_some_and(|o| !o.is_empty()) {
                msg.push_str(&format!("\ndetails: {}", api.details));
            }
            anyhow!(msg)
        }
        Err(other) => other,
    })
}

async fn dispatch(client: &BudgetClient, output: Output, command: Command) -> Result<()> {
    match command {
        Command::Serve(_) | Command::Bench(_) => unreachable!("handled in main"),
        Command::Budgets(cmd) => budgets(client, output, cmd).await,
        Command::Policies(cmd) => policies(client, output, cmd).await,
        Command::Allocate(a) => {
            let req = AllocationRequest {
                component: a.component,
                context_id: a.context,
                provider: a.provider,
                model: a.model,
                task_type: a.task_type,
                tier: a.tier,
                input_tokens: a.input_tokens,
                max_output_tokens: a.max_output_tokens,
                amount: amount("amount", a.amount)?,
                ttl_seconds: a.ttl_seconds,
                priority: a.priority,
                service_tier: None,
            };
            let grant = client.allocate(&req).await?;
            print(output, &grant, |g| {
                let mut t = table(&["allocation", "status", "reserved", "tokens", "expires", "budgets"]);
                t.add_row(vec![
                    g.id.to_string(),
                    g.status.clone(),
                    if g.priced { display(g.reserved_cost) } else { "unpriced".into() },
                    g.reserved_tokens.to_string(),
                    g.expires_at.to_rfc3339(),
                    g.budgets.iter().map(|b| b.budget.clone()).collect::<Vec<_>>().join(", "),
                ]);
                t
            })
        }
        Command::Release { id } => {
            let a = client.release(&id).await?;
            print(output, &a, allocation_table)
        }
        Command::Allocations(AllocationsCmd::Show { id }) => {
            let a = client.get_allocation(&id).await?;
            print(output, &a, allocation_table)
        }
        Command::Allocations(AllocationsCmd::List { context }) => {
            let list = client.list_allocations(context.as_deref()).await?;
            print(output, &list, |l| {
                let mut t = table(&["allocation", "status", "model", "reserved", "used", "expires"]);
                for a in l {
                    t.add_row(vec![
                        a.id.to_string(),
                        a.status.as_str().into(),
                        format!("{}/{}", a.provider, a.model),
                        display(a.reserved_cost),
                        display(a.used_cost),
                        a.expires_at.to_rfc3339(),
                    ]);
                }
                t
            })
        }
        Command::Usage(cmd) => usage(client, output, cmd).await,
        Command::Prices(cmd) => prices(client, output, cmd).await,
        Command::Status { budget, context } => {
            let s = client.status(&budget, context.as_deref()).await?;
            print(output, &s, status_table)
        }
        Command::Keys(cmd) => keys(client, output, cmd).await,
        Command::Alerts => {
            let alerts = client.list_alerts().await?;
            print(output, &alerts, |l| {
                let mut t = table(&["time", "severity", "kind", "message"]);
                for a in l {
                    t.add_row(vec![
                        a.created_at.to_rfc3339(),
                        a.severity.as_str().into(),
                        a.kind.clone(),
                        a.message.clone(),
                    ]);
                }
                t
            })
        }
    }
}

fn changes_text(changes: &[budget_actors::monitor::FieldChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}{}",
                c.field,
                c.old.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                c.new.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                c.percent.map(|p| format!(" ({p:+}%)")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn pending_table(list: &[budget_actors::monitor::PendingChange]) -> Table {
    let mut t = table(&["id", "model", "reason", "status", "source", "changes"]);
    for p in list {
        t.add_row(vec![
            p.id.to_string(),
            format!("{}/{}", p.provider, p.model),
            p.reason.clone(),
            p.status.clone(),
            p.source.clone(),
            changes_text(&p.changes),
        ]);
    }
    t
}

fn allocation_table(a: &budget_actors::domain::Allocation) -> Table {
    let mut t = table(&["allocation", "status", "reserved", "used", "used tokens", "expires"]);
    t.add_row(vec![
        a.id.to_string(),
        a.status.as_str().into(),
        display(a.reserved_cost),
        display(a.used_cost),
        a.used_tokens.to_string(),
        a.expires_at.to_rfc3339(),
    ]);
    t
}

async fn budgets(client: &BudgetClient, output: Output, cmd: BudgetsCmd) -> Result<()> {
    match cmd {
        BudgetsCmd::Create { name, description, owner, policies, scope } => {
            let policies = policies
                .iter()
                .map(|p| PolicySpec::parse_shorthand(p).map_err(|e| anyhow!("--policy {p}: {e}")))
                .collect::<Result<Vec<_>>>()?;
            let req = CreateBudget { name, description, owner, scope: Some(scope.filter()), component: None, policies };
            let b = client.create_budget(&req).await?;
            print(output, &b, budget_table)
        }
        BudgetsCmd::List => {
            let list = client.list_budgets().await?;
            print(output, &list, |l| {
                let mut t = table(&["budget", "id", "policies", "scope", "owner"]);
                for b in l {
                    t.add_row(vec![
                        b.name.clone(),
                        b.id.to_string(),
                        b.policies
                            .iter()
                            .map(|p| {
                                format!("{}:{}:{}", p.period.as_str(), money(p.cost_limit), p.enforcement.as_str())
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                        serde_json::to_string(&b.scope).unwrap_or_default(),
                        opt(&b.owner),
                    ]);
                }
                t
            })
        }
        BudgetsCmd::Show { budget } => {
            let b = client.get_budget(&budget).await?;
            print(output, &b, budget_table)
        }
        BudgetsCmd::Update { budget, name, description, owner } => {
            let b = client.update_budget(&budget, &UpdateBudget { name, description, owner, scope: None }).await?;
            print(output, &b, budget_table)
        }
        BudgetsCmd::Delete { budget } => {
            client.delete_budget(&budget).await?;
            done(output, "deleted", &budget)
        }
    }
}

async fn policies(client: &BudgetClient, output: Output, cmd: PoliciesCmd) -> Result<()> {
    let policy_table = |p: &budget_actors::domain::Policy| {
        let mut t = table(&["policy", "budget", "period", "cost limit", "token limit", "enforcement", "filters"]);
        t.add_row(vec![
            p.id.to_string(),
            p.budget_id.to_string(),
            p.period.as_str().into(),
            money(p.cost_limit),
            opt(&p.token_limit),
            p.enforcement.as_str().into(),
            serde_json::to_string(&p.filters).unwrap_or_default(),
        ]);
        t
    };
    match cmd {
        PoliciesCmd::Add { budget, policy, scope } => {
            let f = scope.filter();
            let spec = PolicySpec {
                period: policy.period.context("--period is required")?,
                cost_limit: amount("cost_limit", policy.cost_limit)?,
                token_limit: policy.token_limit,
                enforcement: policy.enforcement,
                warning_threshold: amount("warning_threshold", policy.warning_threshold)?,
                action_threshold: amount("action_threshold", policy.action_threshold)?,
                provider: f.provider,
                model: f.model,
                component: f.component,
                task_type: f.task_type,
                tier: f.tier,
                context_id: f.context_id,
                cron: policy.cron,
                timezone: policy.timezone,
                allow_unpriced: policy.allow_unpriced,
                enabled: policy.enabled,
            };
            let p = client.add_policy(&budget, &spec).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Show { id } => {
            let p = client.get_policy(&id).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Update { id, policy, scope, clear } => {
            let patch = UpdatePolicy {
                provider: scope.provider,
                model: scope.model,
                component: scope.component,
                task_type: scope.task_type,
                tier: scope.tier,
                context_id: scope.context,
                clear,
                period: policy.period,
                cost_limit: amount("cost_limit", policy.cost_limit)?,
                token_limit: policy.token_limit,
                enforcement: policy.enforcement,
                warning_threshold: amount("warning_threshold", policy.warning_threshold)?,
                action_threshold: amount("action_threshold", policy.action_threshold)?,
                cron: policy.cron,
                timezone: policy.timezone,
                allow_unpriced: policy.allow_unpriced,
                enabled: policy.enabled,
            };
            let p = client.update_policy(&id, &patch).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Delete { id } => {
            client.delete_policy(&id).await?;
            done(output, "deleted", &id)
        }
    }
}

async fn usage(client: &BudgetClient, output: Output, cmd: UsageCmd) -> Result<()> {
    match cmd {
        UsageCmd::Record { allocation, component, context, provider, model, task_type, tokens, request_id } => {
            let allocation_id = allocation
                .map(|a| uuid::Uuid::parse_str(&a).map_err(|_| anyhow!("--allocation '{a}' is not an allocation id")))
                .transpose()?;
            let req = UsageRequest {
                allocation_id,
                component,
                context_id: context,
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
                t.add_row(vec![
                    r.id.to_string(),
                    r.cost.map(|c| c.to_string()).unwrap_or_else(|| "unpriced".into()),
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
            let q = query(&[
                ("provider", provider),
                ("model", model),
                ("component", component),
                ("context_id", context),
                ("from", from),
                ("to", to),
                ("limit", Some(limit.to_string())),
                ("cursor", cursor),
            ]);
            let page = client.list_usage(&q).await?;
            print(output, &page, |p| {
                let mut t = table(&["time", "component", "model", "input", "output", "cost"]);
                for r in &p.records {
                    t.add_row(vec![
                        r.timestamp.to_rfc3339(),
                        r.component.clone(),
                        format!("{}/{}", r.provider, r.model),
                        r.input_tokens.to_string(),
                        r.output_tokens.to_string(),
                        r.cost.map(|c| c.to_string()).unwrap_or_else(|| "unpriced".into()),
                    ]);
                }
                if let Some(next) = &p.next_cursor {
                    t.add_row(vec![format!("more: --cursor {next}")]);
                }
                t
            })
        }
        UsageCmd::Summary { from, to, group_by } => {
            let q = query(&[("from", from), ("to", to), ("group_by", group_by)]);
            let s = client.usage_summary(&q).await?;
            print(output, &s, |s| {
                let mut header: Vec<&str> = s.group_by.iter().map(String::as_str).collect();
                header.extend(["records", "cost", "input", "output", "total tokens"]);
                let mut t = table(&header);
                for r in &s.rows {
                    let mut row: Vec<String> = s
                        .group_by
                        .iter()
                        .map(|g| r.group.get(g).and_then(|v| v.as_str()).unwrap_or("").to_string())
                        .collect();
                    row.extend([
                        r.records.to_string(),
                        r.cost.to_string(),
                        r.input_tokens.to_string(),
                        r.output_tokens.to_string(),
                        r.total_tokens.to_string(),
                    ]);
                    t.add_row(row);
                }
                t.add_row(vec![format!("total: {} records, {}", s.total_records, s.total_cost)]);
                t
            })
        }
    }
}

async fn prices(client: &BudgetClient, output: Output, cmd: PricesCmd) -> Result<()> {
    let price_table = |list: &[budget_actors::prices::PriceSummary]| {
        let mut t = table(&["provider", "model", "input $/Mtok", "output $/Mtok", "cache read $/Mtok", "source"]);
        let per_m = |d: Option<Decimal>| {
            d.map(|d| (d * Decimal::from(1_000_000)).normalize().to_string()).unwrap_or_else(|| "-".into())
        };
        for p in list {
            t.add_row(vec![
                p.provider.clone(),
                p.model.clone(),
                per_m(p.rates.input_cost_per_token),
                per_m(p.rates.output_cost_per_token),
                per_m(p.rates.cache_read_input_token_cost),
                p.source.clone(),
            ]);
        }
        t
    };
    match cmd {
        PricesCmd::List { provider, search, limit } => {
            let q = query(&[("provider", provider), ("search", search), ("limit", Some(limit.to_string()))]);
            let list = client.list_prices(&q).await?;
            print(output, &list, |l| price_table(l))
        }
        PricesCmd::Show { provider, model } => {
            let p = client.show_price(&provider, &model).await?;
            print(output, &p, |p| price_table(std::slice::from_ref(p)))
        }
        PricesCmd::Set {
            provider,
            model,
            input_price,
            output_price,
            cache_read_price,
            cache_write_price,
            per_token,
        } => {
            // The daemon converts per-million rates; the CLI only says which form it sends.
            let input_rate = amount("input_price", Some(input_price))?;
            let output_rate = amount("output_price", Some(output_price))?;
            let cache_read = amount("cache_read_price", cache_read_price)?;
            let cache_write = amount("cache_write_price", cache_write_price)?;
            let req = if per_token {
                SetPrice {
                    input_cost_per_token: input_rate,
                    output_cost_per_token: output_rate,
                    cache_read_input_token_cost: cache_read,
                    cache_creation_input_token_cost: cache_write,
                    ..SetPrice::default()
                }
            } else {
                SetPrice {
                    input_cost_per_million: input_rate,
                    output_cost_per_million: output_rate,
                    cache_read_input_cost_per_million: cache_read,
                    cache_creation_input_cost_per_million: cache_write,
                    ..SetPrice::default()
                }
            };
            let p = client.set_price(&provider, &model, &req).await?;
            print(output, &p, |p| price_table(std::slice::from_ref(p)))
        }
        PricesCmd::Sources => {
            let list = client.price_sources().await?;
            print(output, &list, |l| {
                let mut t =
                    table(&["source", "kind", "healthy", "models", "trust", "last success", "next run", "last error"]);
                for s in l {
                    t.add_row(vec![
                        s.name.clone(),
                        s.kind.clone(),
                        if !s.running { "stopped".into() } else { s.healthy.to_string() },
                        s.model_count.to_string(),
                        format!(
                            "{} ({})",
                            s.trust,
                            s.effective_trust.map(|e| e.to_string()).unwrap_or_else(|| "-".into())
                        ),
                        opt(&s.last_success.map(|t| t.to_rfc3339())),
                        opt(&s.next_run.map(|t| t.to_rfc3339())),
                        opt(&s.last_error),
                    ]);
                }
                t
            })
        }
        PricesCmd::Refresh { source } => {
            let reports = client.refresh_prices(source.as_deref()).await?;
            print(output, &reports, |l| {
                let mut t = table(&["source", "models", "applied", "pending", "conflicts", "error"]);
                for r in l {
                    t.add_row(vec![
                        r.source.clone(),
                        if r.not_modified { format!("{} (not modified)", r.models) } else { r.models.to_string() },
                        r.applied.to_string(),
                        r.pending.to_string(),
                        r.conflicts.to_string(),
                        opt(&r.error),
                    ]);
                }
                t
            })
        }
        PricesCmd::Updates { provider, model, limit } => {
            let q = query(&[("provider", provider), ("model", model), ("limit", Some(limit.to_string()))]);
            let list = client.price_updates(&q).await?;
            print(output, &list, |l| {
                let mut t = table(&["time", "model", "source", "kind", "status", "changes"]);
                for u in l {
                    t.add_row(vec![
                        u.created_at.to_rfc3339(),
                        format!("{}/{}", u.provider, u.model),
                        u.source.clone(),
                        u.kind.clone(),
                        u.status.clone(),
                        changes_text(&u.changes),
                    ]);
                }
                t
            })
        }
        PricesCmd::Pending { status } => {
            let list = client.pending_prices(status.as_deref()).await?;
            print(output, &list, |l| pending_table(l))
        }
        PricesCmd::Approve { id } => {
            let p = client.approve_price(&id).await?;
            print(output, &p, |p| pending_table(std::slice::from_ref(p)))
        }
        PricesCmd::Reject { id, note } => {
            let p = client.reject_price(&id, note.as_deref()).await?;
            print(output, &p, |p| pending_table(std::slice::from_ref(p)))
        }
        PricesCmd::History { provider, model } => {
            let h = client.price_history(&provider, &model).await?;
            print(output, &h, |h| {
                let mut t = table(&["version", "source", "effective from", "effective to"]);
                for v in h["versions"].as_array().into_iter().flatten() {
                    t.add_row(vec![
                        v["id"].as_str().unwrap_or("").to_string(),
                        v["source"].as_str().unwrap_or("").to_string(),
                        v["effective_from"].as_str().unwrap_or("").to_string(),
                        v["effective_to"].as_str().unwrap_or("-").to_string(),
                    ]);
                }
                t
            })
        }
        PricesCmd::Conflicts => {
            let list = client.price_conflicts().await?;
            print(output, &list, |l| {
                let mut t = table(&["model", "status", "agreeing", "outliers"]);
                for c in l {
                    t.add_row(vec![
                        format!("{}/{}", c.provider, c.model),
                        c.status.as_str().into(),
                        c.agreeing.join(", "),
                        c.outliers.join(", "),
                    ]);
                }
                t
            })
        }
        PricesCmd::Estimate { provider, model, tokens } => {
            let req = EstimateRequest {
                provider,
                model,
                input_tokens: tokens.input_tokens,
                output_tokens: tokens.output_tokens,
                cache_read_tokens: tokens.cache_read_tokens,
                cache_write_tokens: tokens.cache_write_tokens,
                cache_write_1h_tokens: tokens.cache_write_1h_tokens,
                reasoning_tokens: tokens.reasoning_tokens,
                ..EstimateRequest::default()
            };
            let e = client.estimate(&req).await?;
            print(output, &e, |e| {
                let mut t = table(&["cost", "input", "cache read", "cache write", "output", "price"]);
                let b = e.cost_breakdown.clone().unwrap_or_default();
                t.add_row(vec![
                    e.cost.map(|c| c.to_string()).unwrap_or_else(|| "unpriced".into()),
                    b.input.to_string(),
                    b.cache_read.to_string(),
                    (b.cache_write + b.cache_write_1h).to_string(),
                    b.output.to_string(),
                    opt(&e.price_ref),
                ]);
                t
            })
        }
    }
}

async fn keys(client: &BudgetClient, output: Output, cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create { name, role } => {
            let k = client.create_key(&CreateKey { name, role }).await?;
            print(output, &k, |k| {
                let mut t = table(&["key (shown once)", "id", "role"]);
                t.add_row(vec![k.key.clone(), k.info.id.to_string(), k.info.role.as_str().into()]);
                t
            })
        }
        KeysCmd::List => {
            let list = client.list_keys().await?;
            print(output, &list, |l| {
                let mut t = table(&["id", "name", "role", "prefix", "created", "revoked"]);
                for k in l {
                    t.add_row(vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.role.as_str().into(),
                        k.prefix.clone(),
                        k.created_at.to_rfc3339(),
                        opt(&k.revoked_at.map(|r| r.to_rfc3339())),
                    ]);
                }
                t
            })
        }
        KeysCmd::Revoke { id } => {
            client.revoke_key(&id).await?;
            done(output, "revoked", &id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        // Catches clashing flags (which clap reports only by panicking at run time).
        Cli::command().debug_assert();
    }
}
