//! `budget alerts [list|ack|channels|deliveries]`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use budget_actors::api::{AlertsQuery, DeliveriesQuery, NewChannel};
use budget_actors::domain::{Alert, AlertChannel, QuietHours};

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
    /// Where alerts are sent: add, list, remove, test.
    #[command(subcommand)]
    Channels(ChannelsCmd),
    /// The delivery log: what became of each alert sent to each channel.
    Deliveries {
        /// Only this alert's deliveries.
        #[arg(long)]
        alert: Option<uuid::Uuid>,
        /// Only this channel's (id or name).
        #[arg(long)]
        channel: Option<String>,
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        /// How many, 1–1000.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChannelsCmd {
    /// Add a channel (admin key). A webhook's signing secret is printed once.
    Add {
        /// A unique name.
        name: String,
        /// webhook, slack or log.
        #[arg(long)]
        kind: String,
        /// The endpoint (webhook and slack).
        #[arg(long)]
        url: Option<String>,
        /// The webhook's signing secret (default: one is generated).
        #[arg(long)]
        secret: Option<String>,
        /// The least severity sent: info, warning, error (critical).
        #[arg(long)]
        min_severity: Option<String>,
        /// Only this alert kind (repeatable).
        #[arg(long = "kind-filter")]
        kinds: Vec<String>,
        /// Only this budget's alerts (repeatable; id or name).
        #[arg(long = "budget")]
        budgets: Vec<String>,
        /// Quiet hours as HH:MM-HH:MM (only critical alerts are sent then; the rest wait).
        #[arg(long)]
        quiet_hours: Option<String>,
        /// The quiet hours' time zone (default UTC).
        #[arg(long, default_value = "UTC")]
        quiet_timezone: String,
    },
    /// List channels (secrets are never shown).
    List,
    /// Remove a channel (admin key).
    Remove {
        /// Id or name.
        channel: String,
    },
    /// Send a test message now and show what the receiver answered (admin key).
    Test {
        /// Id or name.
        channel: String,
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
        Some(AlertsCmd::Channels(cmd)) => channels(client, output, cmd).await,
        Some(AlertsCmd::Deliveries { alert, channel, status, limit }) => {
            let query = DeliveriesQuery { alert, channel, status, limit: Some(limit) };
            let list = client.list_deliveries(&query).await?;
            print(output, &list, |l| {
                let mut t =
                    table(&["id", "alert", "channel", "status", "attempts", "last status", "error", "next attempt"]);
                for d in &l.deliveries {
                    t.add_row(vec![
                        d.id.to_string(),
                        d.alert_id.to_string(),
                        d.channel_id.to_string(),
                        d.status.as_str().into(),
                        d.attempts.to_string(),
                        d.last_status_code.map(|c| c.to_string()).unwrap_or_default(),
                        d.last_error.clone().unwrap_or_default(),
                        d.next_attempt_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ]);
                }
                t
            })
        }
    }
}

async fn channels(client: &BudgetClient, output: Output, cmd: ChannelsCmd) -> Result<()> {
    match cmd {
        ChannelsCmd::Add { name, kind, url, secret, min_severity, kinds, budgets, quiet_hours, quiet_timezone } => {
            let quiet_hours = quiet_hours
                .map(|q| {
                    let (start, end) = q
                        .split_once('-')
                        .ok_or_else(|| anyhow::anyhow!("--quiet-hours takes HH:MM-HH:MM, e.g. 22:00-07:00"))?;
                    Ok::<_, anyhow::Error>(QuietHours {
                        start: start.to_string(),
                        end: end.to_string(),
                        timezone: quiet_timezone,
                    })
                })
                .transpose()?;
            let req = NewChannel {
                name,
                kind,
                url,
                secret,
                min_severity,
                kinds: (!kinds.is_empty()).then_some(kinds),
                budgets: (!budgets.is_empty()).then_some(budgets),
                quiet_hours,
                enabled: None,
            };
            let created = client.create_channel(&req).await?;
            print(output, &created, |c| {
                let mut t = channel_table(std::slice::from_ref(&c.channel));
                if let Some(secret) = &c.secret {
                    t.add_row(vec![format!("secret (shown once): {secret}")]);
                }
                t
            })
        }
        ChannelsCmd::List => {
            let list = client.list_channels().await?;
            print(output, &list, |l| channel_table(&l.channels))
        }
        ChannelsCmd::Remove { channel } => {
            client.delete_channel(&channel).await?;
            print(output, &serde_json::json!({"removed": channel}), |_| {
                let mut t = table(&["removed"]);
                t.add_row(vec![channel.clone()]);
                t
            })
        }
        ChannelsCmd::Test { channel } => {
            let result = client.test_channel(&channel).await?;
            print(output, &result, |r| {
                let mut t = table(&["channel", "status", "status code", "error"]);
                t.add_row(vec![
                    r.channel_id.to_string(),
                    r.status.clone(),
                    r.status_code.map(|c| c.to_string()).unwrap_or_default(),
                    r.error.clone().unwrap_or_default(),
                ]);
                t
            })
        }
    }
}

fn channel_table(channels: &[AlertChannel]) -> comfy_table::Table {
    let mut t = table(&["id", "name", "kind", "url", "min severity", "kinds", "budgets", "quiet hours", "enabled"]);
    for c in channels {
        t.add_row(vec![
            c.id.to_string(),
            c.name.clone(),
            c.kind.as_str().into(),
            c.url.clone().unwrap_or_default(),
            c.min_severity.as_str().into(),
            if c.kinds.is_empty() {
                "all".into()
            } else {
                c.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
            },
            if c.budgets.is_empty() { "all".into() } else { c.budgets.len().to_string() },
            c.quiet_hours.as_ref().map(|q| format!("{}-{} {}", q.start, q.end, q.timezone)).unwrap_or_default(),
            if c.enabled { "yes".into() } else { "no".into() },
        ]);
    }
    t
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
