//! The `budget` command line: `serve` runs the daemon; every other command is a client of the
//! REST API through [`crate::client::BudgetClient`]. This file holds the top-level arguments,
//! the flags several commands share, and the dispatch; each command group has its own file,
//! and `render` turns answers into tables.

mod alerts;
mod allocations;
mod budgets;
mod keys;
mod migrate;
mod monitoring;
mod policies;
mod prices;
mod render;
mod report;
mod usage;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use std::path::PathBuf;

use budget_actors::domain::ScopeFilter;
use budget_actors::money::parse_amount;

use crate::client::{BudgetClient, ClientError};

pub use allocations::{AllocateArgs, AllocationsCmd};
pub use budgets::BudgetsCmd;
pub use keys::KeysCmd;
pub use policies::{PoliciesCmd, PolicyArgs};
pub use prices::PricesCmd;
pub use usage::UsageCmd;

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
    /// Allocations: show one, list by context, or extend a lease.
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
        #[command(flatten)]
        context: ContextArg,
    },
    /// API keys (admin).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Recent alerts (`budget alerts` alone lists them), and acknowledging one.
    Alerts(alerts::AlertsArgs),
    /// Reports: usage grouped and bucketed (JSON, CSV, Markdown), record exports, overview.
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Import Rhetor's or Apollo's budget data (idempotent; --dry-run shows what it would do).
    #[command(subcommand)]
    Migrate(migrate::MigrateCmd),
    /// Serve the Model Context Protocol on stdin/stdout for a desktop agent, calling the
    /// daemon at --url with the key (as every command does).
    Mcp,
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

/// `--context` (alias `--context-id`), spelled the same by every command that takes it.
#[derive(Args, Debug, Default, Clone)]
pub struct ContextArg {
    /// Context (session) id; per-session policies count per context.
    #[arg(long = "context", alias = "context-id")]
    pub context: Option<String>,
}

/// A budget's scope or a policy's filters.
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
    #[command(flatten)]
    pub context: ContextArg,
}

impl ScopeArgs {
    fn filter(self) -> ScopeFilter {
        ScopeFilter {
            provider: self.provider,
            model: self.model,
            component: self.component,
            task_type: self.task_type,
            tier: self.tier,
            context_id: self.context.context,
        }
    }
}

/// Token counts of a usage shape (`usage record`, `prices estimate`).
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

/// The key the CLI uses: flag or $BUDGET_API_KEY, else this machine's admin.key.
pub fn resolve_api_key(explicit: Option<String>) -> Option<String> {
    explicit.filter(|k| !k.trim().is_empty()).or_else(|| {
        let path = crate::config::default_data_dir().join(crate::serve::ADMIN_KEY_FILE);
        std::fs::read_to_string(path).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty())
    })
}

/// A money flag, checked here so the error names the flag (`--cost-limit: …`).
fn amount(field: &str, text: Option<String>) -> Result<Option<Decimal>> {
    text.map(|t| parse_amount(field, &t).map_err(|e| anyhow!("--{}: {e}", field.replace('_', "-")))).transpose()
}

/// A time flag (RFC 3339, as the API reads it).
fn time(flag: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| t.parse::<DateTime<Utc>>().map_err(|e| anyhow!("--{flag} '{t}' is not an RFC 3339 time: {e}")))
        .transpose()
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
        Command::Serve(_) | Command::Bench(_) => Err(anyhow!("`serve` and `bench` are run by main, not the client")),
        Command::Budgets(cmd) => budgets::run(client, output, cmd).await,
        Command::Policies(cmd) => policies::run(client, output, cmd).await,
        Command::Allocate(args) => allocations::allocate(client, output, args).await,
        Command::Release { id } => allocations::release(client, output, &id).await,
        Command::Allocations(cmd) => allocations::run(client, output, cmd).await,
        Command::Usage(cmd) => usage::run(client, output, cmd).await,
        Command::Prices(cmd) => prices::run(client, output, cmd).await,
        Command::Status { budget, context } => budgets::status(client, output, &budget, context).await,
        Command::Keys(cmd) => keys::run(client, output, cmd).await,
        Command::Alerts(args) => alerts::run(client, output, args).await,
        Command::Report(cmd) => report::run(client, output, cmd).await,
        Command::Migrate(cmd) => migrate::run(client, output, cmd).await,
        Command::Mcp => crate::mcp::serve_stdio(client.clone()).await,
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

    #[test]
    fn context_is_one_flag_with_its_alias_everywhere() {
        for args in [
            &["budget", "status", "b", "--context", "c1"][..],
            &["budget", "status", "b", "--context-id", "c1"],
            &["budget", "allocations", "list", "--context-id", "c1"],
            &["budget", "budgets", "create", "--name", "n", "--context", "c1"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}
