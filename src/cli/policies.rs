//! `budget policies …`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use comfy_table::Table;

use budget_actors::api::UpdatePolicy;
use budget_actors::domain::{Policy, PolicySpec};

use super::render::{done, keep, money, opt, print, table};
use super::{Output, ScopeArgs, amount};
use crate::client::BudgetClient;

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

impl PolicyArgs {
    /// The one conversion from flags: the fields given, as a patch (filters from `scope`).
    pub fn patch(self, scope: ScopeArgs, clear: Vec<String>) -> Result<UpdatePolicy> {
        let f = scope.filter();
        Ok(UpdatePolicy {
            period: self.period,
            cost_limit: amount("cost_limit", self.cost_limit)?,
            token_limit: self.token_limit,
            enforcement: self.enforcement,
            warning_threshold: amount("warning_threshold", self.warning_threshold)?,
            action_threshold: amount("action_threshold", self.action_threshold)?,
            cron: self.cron,
            timezone: self.timezone,
            allow_unpriced: self.allow_unpriced,
            enabled: self.enabled,
            provider: f.provider,
            model: f.model,
            component: f.component,
            task_type: f.task_type,
            tier: f.tier,
            context_id: f.context_id,
            clear,
        })
    }

    /// A new policy: the same fields with `--period` required. A patch and a spec share their
    /// field names, so the patch becomes a spec through serde rather than a second copy.
    pub fn spec(self, scope: ScopeArgs) -> Result<PolicySpec> {
        let patch = self.patch(scope, Vec::new())?;
        if patch.period.is_none() {
            anyhow::bail!("--period is required");
        }
        let mut fields = serde_json::to_value(&patch)?;
        if let Some(map) = fields.as_object_mut() {
            map.remove("clear");
        }
        serde_json::from_value(fields).context("a policy patch that is not a policy spec")
    }
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

pub async fn run(client: &BudgetClient, output: Output, cmd: PoliciesCmd) -> Result<()> {
    match cmd {
        PoliciesCmd::Add { budget, policy, scope } => {
            let p = client.add_policy(&budget, &policy.spec(scope)?).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Show { id } => {
            let p = client.get_policy(&id).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Update { id, policy, scope, clear } => {
            let p = client.update_policy(&id, &policy.patch(scope, clear)?).await?;
            print(output, &p, policy_table)
        }
        PoliciesCmd::Delete { id } => {
            client.delete_policy(&id).await?;
            done(output, "deleted", &id)
        }
    }
}

fn policy_table(p: &Policy) -> Table {
    let mut t = table(&["policy", "budget", "period", "cost limit", "token limit", "enforcement", "filters"]);
    keep(&mut t, 0);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ContextArg;

    fn args() -> PolicyArgs {
        PolicyArgs {
            period: Some("daily".into()),
            cost_limit: Some("5.00".into()),
            token_limit: Some(1000),
            enforcement: Some("warn".into()),
            warning_threshold: Some("0.5".into()),
            cron: None,
            timezone: Some("Europe/Paris".into()),
            enabled: Some(true),
            ..PolicyArgs::default()
        }
    }

    fn scope() -> ScopeArgs {
        ScopeArgs {
            provider: Some("anthropic".into()),
            context: ContextArg { context: Some("ctx1".into()) },
            ..ScopeArgs::default()
        }
    }

    #[test]
    fn the_same_flags_make_a_spec_and_a_patch() -> Result<()> {
        let spec = args().spec(scope())?;
        let patch = args().patch(scope(), vec!["cron".into()])?;
        assert_eq!(spec.period, "daily");
        assert_eq!(spec.cost_limit, patch.cost_limit);
        assert_eq!(spec.cost_limit.map(|d| d.to_string()).as_deref(), Some("5.00"));
        assert_eq!((spec.token_limit, patch.token_limit), (Some(1000), Some(1000)));
        assert_eq!(spec.warning_threshold, patch.warning_threshold);
        assert_eq!((spec.provider.as_deref(), spec.context_id.as_deref()), (Some("anthropic"), Some("ctx1")));
        assert_eq!(patch.context_id.as_deref(), Some("ctx1"));
        assert_eq!((spec.timezone.as_deref(), spec.enabled), (Some("Europe/Paris"), Some(true)));
        assert_eq!(patch.clear, vec!["cron".to_string()]);
        Ok(())
    }

    #[test]
    fn a_new_policy_needs_a_period_and_good_amounts() {
        let no_period = PolicyArgs { period: None, ..args() };
        assert!(no_period.spec(scope()).is_err_and(|e| e.to_string().contains("--period")));
        let bad = PolicyArgs { cost_limit: Some("lots".into()), ..args() };
        assert!(bad.spec(scope()).is_err_and(|e| e.to_string().contains("--cost-limit")));
    }
}
