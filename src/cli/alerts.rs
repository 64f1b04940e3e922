//! `budget alerts`.

use anyhow::Result;

use budget_actors::api::AlertsQuery;

use super::Output;
use super::render::{print, table};
use crate::client::BudgetClient;

pub async fn run(client: &BudgetClient, output: Output) -> Result<()> {
    let alerts = client.list_alerts(&AlertsQuery::default()).await?;
    print(output, &alerts, |l| {
        let mut t = table(&["time", "severity", "kind", "message"]);
        for a in l {
            t.add_row(vec![
                a.created_at.to_rfc3339(),
                a.severity.as_str().into(),
                a.kind.to_string(),
                a.message.clone(),
            ]);
        }
        t
    })
}
