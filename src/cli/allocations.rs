//! `budget allocate`, `budget release` and `budget allocations …`.

use anyhow::Result;
use clap::{Args, Subcommand};
use comfy_table::Table;

use budget_actors::api::{AllocationRequest, AllocationsQuery};
use budget_actors::domain::Allocation;
use budget_actors::money::display;

use super::render::{keep, print, table};
use super::{ContextArg, Output, amount};
use crate::client::BudgetClient;

#[derive(Args, Debug)]
pub struct AllocateArgs {
    #[arg(long)]
    pub component: String,
    #[command(flatten)]
    pub context: ContextArg,
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
        #[command(flatten)]
        context: ContextArg,
    },
    /// Give an active allocation a new lease (from now) when its call runs long.
    Extend {
        id: String,
        /// The new lease, in seconds from now (at most the daemon's max_ttl_seconds).
        #[arg(long = "ttl")]
        ttl_seconds: u64,
    },
}

pub async fn allocate(client: &BudgetClient, output: Output, a: AllocateArgs) -> Result<()> {
    let req = AllocationRequest {
        component: a.component,
        context_id: a.context.context,
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
        keep(&mut t, 0);
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

pub async fn release(client: &BudgetClient, output: Output, id: &str) -> Result<()> {
    let a = client.release(id).await?;
    print(output, &a, allocation_table)
}

pub async fn run(client: &BudgetClient, output: Output, cmd: AllocationsCmd) -> Result<()> {
    match cmd {
        AllocationsCmd::Show { id } => {
            let a = client.get_allocation(&id).await?;
            print(output, &a, allocation_table)
        }
        AllocationsCmd::Extend { id, ttl_seconds } => {
            let a = client.extend_allocation(&id, ttl_seconds).await?;
            print(output, &a, allocation_table)
        }
        AllocationsCmd::List { context } => {
            let query = AllocationsQuery { context_id: context.context, ..AllocationsQuery::default() };
            let list = client.list_allocations(&query).await?;
            print(output, &list, |l| {
                let mut t = table(&["allocation", "status", "model", "reserved", "used", "expires"]);
                keep(&mut t, 0);
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
    }
}

fn allocation_table(a: &Allocation) -> Table {
    let mut t = table(&["allocation", "status", "reserved", "used", "used tokens", "expires"]);
    keep(&mut t, 0);
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
