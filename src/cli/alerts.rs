//! `budget alerts [list|ack]`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use budget_actors::api::AlertsQuery;
use budget_actors::domain::Alert;

use super::Output;
use super::render::{print, table};
use crate::client::BudgetClient;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub cmd: Option<AlertsCmd>,
    /// Filters of the bare `budget alerts` (the same as `budget alerts list`).
    #[command(flatten)]
    pub filters: AlertFilters,
}

#[derive(Subcommand, Debug)]
pub enum AlertsCmd {
    /// Alerts, newest first.
    List(AlertFilters),
    /// Acknowledge an alert (write key).
    Ack {
        /// The alert's id.
        id: String,
    },
}

#[derive(Args, Debug, Default, Clone)]
pub struct AlertFilters {
    /// Only this kind (e.g. budget_warning, budget_exceeded, unpriced_model).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only this severity: info, warning or error.
    #[arg(long)]
    pub severity: Option<String>,
    /// Only this budget's (id or name).
    #[arg(long)]
    pub budget: Option<String>,
    /// Only alerts not yet acknowledged.
    #[arg(long, conflicts_with = "acknowledged")]
    pub unacknowledged: bool,
    /// Only acknowledged alerts.
    #[arg(long)]
    pub acknowledged: bool,
    /// Only alerts raised at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// How many, 1–1000.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

impl AlertFilters {
    fn query(self) -> AlertsQuery {
        let acknowledged = match (self.acknowledged, self.unacknowledged) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        AlertsQuery {
            kind: self.kind,
            severity: self.severity,
            budget: self.budget,
            acknowledged,
            since: self.since,
            limit: Some(self.limit),
        }
    }
}

pub async fn run(client: &BudgetClient, output: Output, args: AlertsArgs) -> Result<()> {
    match args.cmd {
        None => list(client, output, args.filters).await,
        Some(AlertsCmd::List(filters)) => list(client, output, filters).await,
        Some(AlertsCmd::Ack { id }) => {
            let alert = client.acknowledge_alert(&id).await?;
            print(output, &alert, |a| alert_table(std::slice::from_ref(a)))
        }
    }
}

async fn list(client: &BudgetClient, output: Output, filters: AlertFilters) -> Result<()> {
    let alerts = client.list_alerts(&filters.query()).await?;
    print(output, &alerts, |l| alert_table(l))
}

fn alert_table(alerts: &[Alert]) -> comfy_table::Table {
    let mut t = table(&["id", "time", "severity", "kind", "ack", "message"]);
    for a in alerts {
        t.add_row(vec![
            a.id.to_string(),
            a.created_at.to_rfc3339(),
            a.severity.as_str().into(),
            a.kind.to_string(),
            if a.acknowledged { "yes".into() } else { String::new() },
            a.message.clone(),
        ]);
    }
    t
}
