//! The budget catalogue: budgets and policies, kept in memory and in storage, and in step
//! with other daemons sharing the database.

use std::sync::Arc;
use tracing::{debug, info, instrument};
use uuid::Uuid;

use super::*;
use crate::api::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::prices::PriceVersion;

impl Engine {
    // ---- budgets ----------------------------------------------------------------------

    /// The budgets in memory now (no reload from a shared database).
    pub fn budgets_snapshot(&self) -> Arc<Vec<Arc<Budget>>> {
        self.snapshot()
    }

    pub(super) fn snapshot(&self) -> Arc<Vec<Arc<Budget>>> {
        self.inner.budgets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn replace_budget(&self, budget: Option<Arc<Budget>>, removed: Option<Uuid>) {
        let mut guard = self.inner.budgets.write().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<Arc<Budget>> = guard.iter().cloned().collect();
        if let Some(id) = removed {
            list.retain(|b| b.id != id);
        }
        if let Some(b) = budget {
            list.retain(|x| x.id != b.id);
            list.push(b.clone());
            self.announce_update(b);
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        *guard = Arc::new(list);
        self.inner.catalog_generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Sends a new version of a budget straight to its actor, so the change is ordered before
    /// this caller's next request, and to the supervisor, which keeps it for restarts and
    /// passes it on (an actor restarted in between would otherwise miss it). The sequence
    /// number lets the actor ignore whichever copy of an older version arrives late.
    fn announce_update(&self, budget: Arc<Budget>) {
        let seq = self.inner.update_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.inner.actors.update(budget, seq);
    }

    /// When other daemons share the database, reloads budgets, policies and price versions if
    /// any of them changed since this daemon last looked (one small read), so a budget created elsewhere
    /// is enforced here from the next request on.
    pub async fn sync_catalog(&self) -> Result<(), EngineError> {
        use std::sync::atomic::Ordering;
        if !self.inner.repo.is_shared() {
            return Ok(());
        }
        let version = self.inner.repo.catalog_version().await?;
        if version == self.inner.catalog_version.load(Ordering::Acquire) {
            return Ok(());
        }
        // A change made here (or another reload) landing while this one reads is newer than
        // what it read: then this reload gives way, leaves the stored version alone, and the
        // next request reloads again.
        let budgets_seen = self.inner.catalog_generation.load(Ordering::Acquire);
        let prices_seen = self.inner.prices.generation();
        let fresh: Vec<Arc<Budget>> = self.inner.repo.list_budgets().await?.into_iter().map(Arc::new).collect();
        // Prices share the counter: a manual price or an approval on another daemon.
        let versions = self
            .inner
            .repo
            .price_versions()
            .await?
            .iter()
            .map(PriceVersion::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        {
            let mut guard = self.inner.budgets.write().unwrap_or_else(|p| p.into_inner());
            if self.inner.catalog_generation.load(Ordering::Acquire) != budgets_seen {
                return Ok(());
            }
            for b in guard.iter() {
                match fresh.iter().find(|f| f.id == b.id) {
                    Some(f) if f != b => self.announce_update(f.clone()),
                    Some(_) => {}
                    None => {
                        self.inner.actors.remove(b.id);
                    }
                }
            }
            let mut sorted = fresh;
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            *guard = Arc::new(sorted);
            self.inner.catalog_generation.fetch_add(1, Ordering::AcqRel);
        }
        if self.inner.prices.replace_versions_unless_changed(versions, prices_seen) {
            self.inner.catalog_version.store(version, Ordering::Release);
            debug!(target: "engine", version, "budget catalogue reloaded");
        }
        Ok(())
    }

    pub async fn list_budgets(&self) -> Result<Vec<Budget>, EngineError> {
        self.sync_catalog().await?;
        Ok(self.snapshot().iter().map(|b| (**b).clone()).collect())
    }

    /// A budget by id or unique name, current across daemons sharing a database.
    pub async fn get_budget(&self, id_or_name: &str) -> Result<Budget, EngineError> {
        self.sync_catalog().await?;
        Ok((*self.find_budget(id_or_name)?).clone())
    }

    /// A budget by id or unique name.
    pub(crate) fn find_budget(&self, id_or_name: &str) -> Result<Arc<Budget>, EngineError> {
        let snapshot = self.snapshot();
        let by_id = Uuid::parse_str(id_or_name).ok();
        snapshot
            .iter()
            .find(|b| Some(b.id) == by_id || b.name == id_or_name)
            .cloned()
            .ok_or_else(|| EngineError::not_found("budget", id_or_name))
    }

    #[instrument(target = "engine", skip_all, fields(name = %req.name))]
    pub async fn create_budget(&self, req: CreateBudget) -> Result<Budget, EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let name = validate_budget_name(&req.name)?;
        check_free_text(req.description.as_deref(), req.owner.as_deref())?;
        let now = crate::domain::now();
        let id = Uuid::now_v7();
        let mut scope = req.scope.unwrap_or_default();
        // The shorthand, when given (empty means not given), names the scope's component.
        if let Some(component) = req.component.filter(|c| !c.is_empty()) {
            scope.component = Some(component);
        }
        let mut policies = Vec::with_capacity(req.policies.len());
        for (i, spec) in req.policies.into_iter().enumerate() {
            policies.push(spec.into_policy(id, now).map_err(|e| prefix_field(e, &format!("policies[{i}]")))?);
        }
        let budget = Budget {
            id,
            name,
            description: req.description,
            owner: req.owner,
            scope: scope.validated().map_err(|e| prefix_field(e, "scope"))?,
            policies,
            created_at: now,
            updated_at: now,
        };
        self.inner.repo.insert_budget(&budget).await?;
        self.replace_budget(Some(Arc::new(budget.clone())), None);
        info!(target: "engine", budget = %budget.name, id = %budget.id, "budget created");
        Ok(budget)
    }

    pub async fn update_budget(&self, id_or_name: &str, req: UpdateBudget) -> Result<Budget, EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let mut budget = (*self.find_budget(id_or_name)?).clone();
        if let Some(name) = req.name {
            budget.name = validate_budget_name(&name)?;
        }
        check_free_text(req.description.as_deref(), req.owner.as_deref())?;
        if let Some(d) = req.description {
            budget.description = Some(d);
        }
        if let Some(o) = req.owner {
            budget.owner = Some(o);
        }
        if let Some(scope) = req.scope {
            budget.scope = scope.validated().map_err(|e| prefix_field(e, "scope"))?;
        }
        budget.updated_at = crate::domain::now();
        self.inner.repo.update_budget(&budget).await?;
        self.replace_budget(Some(Arc::new(budget.clone())), None);
        Ok(budget)
    }

    pub async fn delete_budget(&self, id_or_name: &str) -> Result<(), EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let budget = self.find_budget(id_or_name)?;
        self.inner.repo.delete_budget(budget.id).await?;
        self.replace_budget(None, Some(budget.id));
        self.inner.actors.remove(budget.id);
        info!(target: "engine", budget = %budget.name, "budget deleted");
        Ok(())
    }

    pub async fn add_policy(&self, id_or_name: &str, spec: PolicySpec) -> Result<Policy, EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let mut budget = (*self.find_budget(id_or_name)?).clone();
        let policy = spec.into_policy(budget.id, crate::domain::now())?;
        self.inner.repo.upsert_policy(&policy).await?;
        budget.policies.push(policy.clone());
        self.replace_budget(Some(Arc::new(budget)), None);
        Ok(policy)
    }

    /// A policy by id, current across daemons sharing a database.
    pub async fn get_policy(&self, id: Uuid) -> Result<Policy, EngineError> {
        self.sync_catalog().await?;
        self.policy_by_id(id)
    }

    fn policy_by_id(&self, id: Uuid) -> Result<Policy, EngineError> {
        self.snapshot()
            .iter()
            .flat_map(|b| b.policies.iter())
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| EngineError::not_found("policy", id))
    }

    pub async fn update_policy(&self, id: Uuid, patch: UpdatePolicy) -> Result<Policy, EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let mut policy = self.policy_by_id(id)?;
        policy.apply_patch(patch)?;
        self.inner.repo.upsert_policy(&policy).await?;
        let mut budget = (*self.find_budget(&policy.budget_id.to_string())?).clone();
        if let Some(slot) = budget.policies.iter_mut().find(|p| p.id == id) {
            *slot = policy.clone();
        }
        self.replace_budget(Some(Arc::new(budget)), None);
        Ok(policy)
    }

    pub async fn delete_policy(&self, id: Uuid) -> Result<(), EngineError> {
        self.sync_catalog().await?;
        let _writing = self.inner.catalog_writes.lock().await;
        let policy = self.policy_by_id(id)?;
        self.inner.repo.delete_policy(id).await?;
        let mut budget = (*self.find_budget(&policy.budget_id.to_string())?).clone();
        budget.policies.retain(|p| p.id != id);
        self.replace_budget(Some(Arc::new(budget)), None);
        Ok(())
    }

    pub(super) fn matching_budgets(&self, call: &CallScope) -> Vec<Arc<Budget>> {
        let mut matching: Vec<Arc<Budget>> = self.snapshot().iter().filter(|b| b.matches(call)).cloned().collect();
        // A fixed order (by id) so that two concurrent multi-budget allocations never wait on
        // each other in opposite orders.
        matching.sort_by_key(|b| b.id);
        matching
    }
}

/// A budget's description and owner: free text of bounded length.
fn check_free_text(description: Option<&str>, owner: Option<&str>) -> Result<(), EngineError> {
    use crate::domain::text::{DESCRIPTION_MAX, OWNER_MAX, check_text};
    if let Some(d) = description {
        check_text("description", d, DESCRIPTION_MAX)?;
    }
    if let Some(o) = owner {
        check_text("owner", o, OWNER_MAX)?;
    }
    Ok(())
}
