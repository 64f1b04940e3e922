//! The price-monitoring subcommands of `budget prices`: sources, refresh, updates, pending,
//! approve, reject, conflicts.

use anyhow::{Result, anyhow};
use comfy_table::Table;

use budget_actors::api::{PendingQuery, RefreshQuery, UpdatesQuery};
use budget_actors::monitor::{FieldChange, PendingChange};

use super::Output;
use super::prices::PricesCmd;
use super::render::{keep, opt, print, table};
use crate::client::BudgetClient;

pub async fn run(client: &BudgetClient, output: Output, cmd: PricesCmd) -> Result<()> {
    match cmd {
        PricesCmd::Sources => {
            let list = client.price_sources().await?;
            print(output, &list, |l| {
                let mut t =
                    table(&["source", "kind", "healthy", "models", "trust", "last success", "next run", "last error"]);
                keep(&mut t, 0);
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
            let reports = client.refresh_prices(&RefreshQuery { source }).await?;
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
            let list = client.price_updates(&UpdatesQuery { provider, model, limit: Some(limit) }).await?;
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
            let list = client.pending_prices(&PendingQuery { status, ..PendingQuery::default() }).await?;
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
        other => Err(anyhow!("not a price-monitoring command: {other:?}")),
    }
}

fn changes_text(changes: &[FieldChange]) -> String {
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

fn pending_table(list: &[PendingChange]) -> Table {
    let mut t = table(&["id", "model", "reason", "status", "source", "changes"]);
    keep(&mut t, 0);
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
