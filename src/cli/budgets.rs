//! `budget budgets …` and `budget status`.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use comfy_table::Table;

use budget_actors::api::{BudgetStatus, CreateBudget, StatusQuery, UpdateBudget};
use budget_actors::domain::{Budget, PolicySpec};
use budget_actors::money::display;

use super::render::{done, keep, money, opt, print, print_tables, table};
use super::{ContextArg, Output, ScopeArgs};
use crate::client::BudgetClient;

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

pub async fn run(client: &BudgetClient, output: Output, cmd: BudgetsCmd) -> Result<()> {
    match cmd {
        BudgetsCmd::Create { name, description, owner, policies, scope } => {
            let policies = policies
                .iter()
                .map(|p| PolicySpec::parse_shorthand(p).map_err(|e| anyhow!("--policy {p}: {e}")))
                .collect::<Result<Vec<_>>>()?;
            let req = CreateBudget { name, description, owner, scope: Some(scope.filter()), component: None, policies };
            let b = client.create_budget(&req).await?;
            print_tables(output, &b, budget_tables)
        }
        BudgetsCmd::List => {
            let list = client.list_budgets().await?;
            print(output, &list, |l| {
                let mut t = table(&["budget", "id", "policies", "scope", "owner"]);
                keep(&mut t, 1);
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
            print_tables(output, &b, budget_tables)
        }
        BudgetsCmd::Update { budget, name, description, owner } => {
            let b = client.update_budget(&budget, &UpdateBudget { name, description, owner, scope: None }).await?;
            print_tables(output, &b, budget_tables)
        }
        BudgetsCmd::Delete { budget } => {
            client.delete_budget(&budget).await?;
            done(output, "deleted", &budget)
        }
    }
}

/// A budget, then its policies: two tables one under the other (a table nested in a cell
/// could not wrap to the terminal's width).
fn budget_tables(b: &Budget) -> Vec<Table> {
    let mut outer = table(&["budget", "id", "scope"]);
    outer.add_row(vec![b.name.clone(), b.id.to_string(), serde_json::to_string(&b.scope).unwrap_or_default()]);
    let mut t = table(&["policy", "period", "cost limit", "token limit", "enforcement", "filters"]);
    keep(&mut t, 0);
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
    vec![outer, t]
}

pub async fn status(client: &BudgetClient, output: Output, budget: &str, context: ContextArg) -> Result<()> {
    let query = StatusQuery { context_id: context.context, ..StatusQuery::default() };
    let s = client.status(budget, &query).await?;
    print(output, &s, status_table)
}

fn status_table(s: &BudgetStatus) -> Table {
    let mut t = table(&["policy", "period", "window", "limit", "settled", "reserved", "remaining", "tokens", "state"]);
    // "daily (hard_limit)" stays on one line; the window wraps first.
    keep(&mut t, 1);
    for p in &s.policies {
        let window = match (p.window_start, p.window_end) {
            // Start and end on two lines keep the column narrow.
            (Some(a), Some(b)) => format!("{}\n→ {}", a.format("%Y-%m-%d %H:%M"), b.format("%Y-%m-%d %H:%M")),
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
