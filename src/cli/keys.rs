//! `budget keys …` (admin).

use anyhow::Result;
use clap::Subcommand;

use budget_actors::api::CreateKey;

use super::Output;
use super::render::{done, keep, opt, print, table};
use crate::client::BudgetClient;

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

pub async fn run(client: &BudgetClient, output: Output, cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create { name, role } => {
            let k = client.create_key(&CreateKey { name, role }).await?;
            print(output, &k, |k| {
                let mut t = table(&["key (shown once)", "id", "role"]);
                // The secret must be copied whole.
                keep(&mut t, 0);
                t.add_row(vec![k.key.clone(), k.info.id.to_string(), k.info.role.as_str().into()]);
                t
            })
        }
        KeysCmd::List => {
            let list = client.list_keys().await?;
            print(output, &list, |l| {
                let mut t = table(&["id", "name", "role", "prefix", "created", "revoked"]);
                keep(&mut t, 0);
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
