//! The engine: the typed handle every front door calls. It owns the price book, the budget
//! catalogue and the BudgetSupervisor, and coordinates multi-budget operations: reserve in
//! each matching budget's actor in budget-id order (releasing earlier reservations when a
//! later one refuses), then make the result durable before answering.

pub mod budget_actor;
pub mod supervisor;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use chrono_tz::Tz;
use ractor::{Actor, ActorRef, call};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tracing::{debug, info, instrument, warn};
use uuid::Uuid;

pub use budget_actor::ToBudgetActor;
use budget_actor::{ReserveRequest, SettleOutcome, SettleRequest};
use supervisor::{BudgetSupervisor, ToBudgetSupervisor};

use crate::api::*;
use crate::domain::*;
use crate::error::EngineError;
use crate::prices::{PriceBook, PriceSummary, PriceVersion, Priced};
use crate::pricing::{ModelPrice, PriceTable, ServiceTier, Usage};
use crate::storage::{AllocationFilter, PriceVersionRow, Repository, UsageFilter, WriteOp, WriteOutcome};

/// What one budget's actor added in memory for a usage record, and which actor it was: taken
/// back exactly if the write fails, confirmed if it commits.
struct Settled {
    budget_id: Uuid,
    actor: ActorRef<ToBudgetActor>,
    charges: Vec<crate::domain::Charge>,
    hold_shrinks: Vec<HoldShrink>,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Zone that period windows align to unless a policy names its own.
    pub default_timezone: Tz,
    pub default_ttl: Duration,
    pub max_ttl: Duration,
    /// How often expired leases are swept.
    pub sweep_interval: Duration,
    /// Windows (period or session totals) a budget actor keeps in memory before a sweep
    /// drops those no lease holds; a dropped window is re-read from storage when next used.
    pub window_cache_limit: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_timezone: Tz::UTC,
            default_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(86_400),
            sweep_interval: Duration::from_secs(1),
            window_cache_limit: 10_000,
        }
    }
}

struct Inner {
    repo: Arc<dyn Repository>,
    prices: PriceBook,
    budgets: RwLock<Arc<Vec<Arc<Budget>>>>,
    /// Written by the BudgetSupervisor (see `ActorRegistry`), read on every call.
    actors: supervisor::ActorRegistry,
    supervisor: ActorRef<ToBudgetSupervisor>,
    config: EngineConfig,
    /// The storage catalogue version the in-memory budgets reflect (shared databases only).
    catalog_version: std::sync::atomic::AtomicI64,
    /// Active allocations of this daemon, so that settle and release need no database read.
    /// Embedded database only: with a shared one, another daemon may change them.
    active: std::sync::Mutex<HashMap<Uuid, Allocation>>,
    /// Orders budget updates (see `announce_update`).
    update_seq: std::sync::atomic::AtomicU64,
    /// Bumped (under the `budgets` lock) by every change of the in-memory catalogue, so a
    /// reload that read the database before a change does not undo it (`sync_catalog`).
    catalog_generation: std::sync::atomic::AtomicU64,
}

/// Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

const MAX_TOKENS: u64 = 1_000_000_000_000;

impl Engine {
    /// Starts the engine over an opened repository: loads budgets and price versions, starts
    /// the BudgetSupervisor and the lease sweeper.
    pub async fn start(repo: Arc<dyn Repository>, config: EngineConfig) -> Result<Engine, EngineError> {
        let builtin = PriceTable::builtin().map_err(|e| EngineError::Internal(format!("built-in price table: {e}")))?;
        let stored = repo.price_versions().await?.iter().map(PriceVersion::from_row).collect::<Result<Vec<_>, _>>()?;
        let prices = PriceBook::new(builtin, stored);
        let catalog_version = repo.catalog_version().await?;
        let budgets: Vec<Arc<Budget>> = repo.list_budgets().await?.into_iter().map(Arc::new).collect();
        let actors: supervisor::ActorRegistry = Arc::new(RwLock::new(HashMap::new()));
        let (supervisor, _) = Actor::spawn(
            None,
            BudgetSupervisor {
                repo: repo.clone(),
                default_tz: config.default_timezone,
                window_cache_limit: config.window_cache_limit,
                registry: actors.clone(),
            },
            (),
        )
        .await
        .map_err(|e| EngineError::Internal(format!("cannot start the budget supervisor: {e}")))?;
        info!(target: "engine", budgets = budgets.len(), prices = prices.builtin_len(), backend = repo.backend(), "engine started");
        let engine = Engine {
            inner: Arc::new(Inner {
                repo,
                prices,
                budgets: RwLock::new(Arc::new(budgets)),
                actors,
                supervisor,
                config,
                catalog_version: std::sync::atomic::AtomicI64::new(catalog_version),
                active: std::sync::Mutex::new(HashMap::new()),
                update_seq: std::sync::atomic::AtomicU64::new(0),
                catalog_generation: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        engine.spawn_sweeper();
        Ok(engine)
    }

    pub fn repo(&self) -> &Arc<dyn Repository> {
        &self.inner.repo
    }

    pub fn prices(&self) -> &PriceBook {
        &self.inner.prices
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Stops the actor tree.
    pub fn shutdown(&self) {
        self.inner.supervisor.stop(Some("shutdown".into()));
    }

    fn spawn_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let period = self.inner.config.sweep_interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let engine = Engine { inner };
                if let Err(e) = engine.sweep_expired().await {
                    warn!(target: "engine", error = %e, "lease sweep failed");
                }
            }
        });
    }

    /// Marks every lease that ran out as expired, in memory and in storage.
    pub async fn sweep_expired(&self) -> Result<usize, EngineError> {
        let _ = self.inner.supervisor.cast(ToBudgetSupervisor::SweepAll);
        let now = crate::domain::now();
        let expired = self.inner.repo.expired_active_allocations(now).await?;
        {
            let mut active = self.active();
            for id in &expired {
                active.remove(id);
            }
        }
        // Together, so that on SQLite they share group commits instead of one fsync each.
        let closes = expired.iter().map(|id| {
            self.inner.repo.write(WriteOp::Close { allocation_id: *id, status: AllocationStatus::Expired, at: now })
        });
        for result in futures::future::join_all(closes).await {
            result?;
        }
        debug!(target: "allocation", expired = expired.len(), "leases expired");
        if !expired.is_empty() {
            metrics::counter!("budget_allocations_expired_total").increment(expired.len() as u64);
        }
        Ok(expired.len())
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Allocation>> {
        self.inner.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached_allocation(&self, id: Uuid) -> Option<Allocation> {
        self.active().get(&id).filter(|a| a.expires_at > crate::domain::now()).cloned()
    }

    // ---- budgets ----------------------------------------------------------------------

    fn snapshot(&self) -> Arc<Vec<Arc<Budget>>> {
        self.inner.budgets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace_budget(&self, budget: Option<Arc<Budget>>, removed: Option<Uuid>) {
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
        self.tell(budget.id, ToBudgetActor::Update { budget: budget.clone(), seq });
        let _ = self.inner.supervisor.cast(ToBudgetSupervisor::Update { budget, seq });
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
                        let _ = self.inner.supervisor.cast(ToBudgetSupervisor::Remove(b.id));
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
    pub fn find_budget(&self, id_or_name: &str) -> Result<Arc<Budget>, EngineError> {
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
        let name = validate_budget_name(&req.name)?;
        let now = crate::domain::now();
        let id = Uuid::now_v7();
        let mut scope = req.scope.unwrap_or_default();
        if let Some(component) = req.component {
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
            scope: scope.normalized(),
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
        let mut budget = (*self.find_budget(id_or_name)?).clone();
        if let Some(name) = req.name {
            budget.name = validate_budget_name(&name)?;
        }
        if let Some(d) = req.description {
            budget.description = Some(d);
        }
        if let Some(o) = req.owner {
            budget.owner = Some(o);
        }
        if let Some(scope) = req.scope {
            budget.scope = scope.normalized();
        }
        budget.updated_at = crate::domain::now();
        self.inner.repo.update_budget(&budget).await?;
        self.replace_budget(Some(Arc::new(budget.clone())), None);
        Ok(budget)
    }

    pub async fn delete_budget(&self, id_or_name: &str) -> Result<(), EngineError> {
        self.sync_catalog().await?;
        let budget = self.find_budget(id_or_name)?;
        self.inner.repo.delete_budget(budget.id).await?;
        self.replace_budget(None, Some(budget.id));
        let _ = self.inner.supervisor.cast(ToBudgetSupervisor::Remove(budget.id));
        info!(target: "engine", budget = %budget.name, "budget deleted");
        Ok(())
    }

    pub async fn add_policy(&self, id_or_name: &str, spec: PolicySpec) -> Result<Policy, EngineError> {
        self.sync_catalog().await?;
        let mut budget = (*self.find_budget(id_or_name)?).clone();
        let policy = spec.into_policy(budget.id, crate::domain::now())?;
        self.inner.repo.upsert_policy(&policy).await?;
        budget.policies.push(policy.clone());
        self.replace_budget(Some(Arc::new(budget)), None);
        Ok(policy)
    }

    pub fn get_policy(&self, id: Uuid) -> Result<Policy, EngineError> {
        self.snapshot()
            .iter()
            .flat_map(|b| b.policies.iter())
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| EngineError::not_found("policy", id))
    }

    pub async fn update_policy(&self, id: Uuid, patch: UpdatePolicy) -> Result<Policy, EngineError> {
        self.sync_catalog().await?;
        let mut policy = self.get_policy(id)?;
        let clears = fields_to_clear(&patch)?;
        if let Some(period) = patch.period {
            policy.period = PeriodKind::parse(period.trim())?;
        }
        if patch.cost_limit.is_some() {
            policy.cost_limit = patch.cost_limit;
        }
        if patch.token_limit.is_some() {
            policy.token_limit = patch.token_limit;
        }
        if let Some(e) = patch.enforcement {
            policy.enforcement = Enforcement::parse(e.trim())?;
        }
        if let Some(w) = patch.warning_threshold {
            policy.warning_threshold = w;
        }
        if let Some(a) = patch.action_threshold {
            policy.action_threshold = a;
        }
        if patch.cron.is_some() {
            policy.cron = patch.cron.filter(|c| !c.trim().is_empty());
        }
        if patch.timezone.is_some() {
            policy.timezone = patch.timezone.filter(|t| !t.trim().is_empty());
        }
        if let Some(a) = patch.allow_unpriced {
            policy.allow_unpriced = a;
        }
        if let Some(e) = patch.enabled {
            policy.enabled = e;
        }
        let filters = &mut policy.filters;
        for (value, slot) in [
            (patch.provider, &mut filters.provider),
            (patch.model, &mut filters.model),
            (patch.component, &mut filters.component),
            (patch.task_type, &mut filters.task_type),
            (patch.tier, &mut filters.tier),
            (patch.context_id, &mut filters.context_id),
        ] {
            if let Some(value) = value {
                *slot = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            }
        }
        for name in &clears {
            match name.as_str() {
                "cost_limit" => policy.cost_limit = None,
                "token_limit" => policy.token_limit = None,
                "cron" => policy.cron = None,
                "timezone" => policy.timezone = None,
                "provider" => policy.filters.provider = None,
                "model" => policy.filters.model = None,
                "component" => policy.filters.component = None,
                "task_type" => policy.filters.task_type = None,
                "tier" => policy.filters.tier = None,
                _ => policy.filters.context_id = None,
            }
        }
        policy.validate()?;
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
        let policy = self.get_policy(id)?;
        self.inner.repo.delete_policy(id).await?;
        let mut budget = (*self.find_budget(&policy.budget_id.to_string())?).clone();
        budget.policies.retain(|p| p.id != id);
        self.replace_budget(Some(Arc::new(budget)), None);
        Ok(())
    }

    /// Where each policy of a budget stands now (or at `at`).
    pub async fn budget_status(&self, id_or_name: &str, query: &StatusQuery) -> Result<BudgetStatus, EngineError> {
        self.sync_catalog().await?;
        let budget = self.find_budget(id_or_name)?;
        let at = query.at.unwrap_or_else(Utc::now);
        let policies = self.policy_statuses(&budget, None, query.context_id.as_deref(), at).await?;
        let state = worst_state(&policies);
        Ok(BudgetStatus { budget_id: budget.id, budget: budget.name.clone(), state, policies, at })
    }

    /// Per-policy standing of `budget` (only the policies matching `call`, if given). With the
    /// embedded database the budget's actor answers from memory; with a shared database the
    /// sums are read from storage, which sees every daemon's holds and charges.
    async fn policy_statuses(
        &self,
        budget: &Arc<Budget>,
        call: Option<&CallScope>,
        context_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Vec<PolicyStatus>, EngineError> {
        let wanted = |p: &Policy| call.is_none_or(|c| budget.scope.matches(c) && p.matches(c));
        if !self.inner.repo.is_shared() {
            let context_id = context_id.map(String::from);
            let call = call.cloned();
            return self
                .ask(budget, |reply| ToBudgetActor::Status {
                    at,
                    context_id: context_id.clone(),
                    call: call.clone(),
                    reply,
                })
                .await;
        }
        let mut out = Vec::new();
        for policy in budget.policies.iter().filter(|p| wanted(p)) {
            let clock = crate::period::PolicyClock::new(policy, self.inner.config.default_timezone)?;
            let window = clock.window(at, context_id);
            let totals = self.inner.repo.window_totals(policy.id, &window.key, crate::domain::now()).await?;
            out.push(budget_actor::policy_status(policy, &window, &totals));
        }
        Ok(out)
    }

    fn matching_budgets(&self, call: &CallScope) -> Vec<Arc<Budget>> {
        let mut matching: Vec<Arc<Budget>> = self.snapshot().iter().filter(|b| b.matches(call)).cloned().collect();
        // A fixed order (by id) so that two concurrent multi-budget allocations never wait on
        // each other in opposite orders.
        matching.sort_by_key(|b| b.id);
        matching
    }

    async fn actor_for(&self, budget: &Arc<Budget>) -> Result<ActorRef<ToBudgetActor>, EngineError> {
        if let Some(actor) = self.inner.actors.read().unwrap_or_else(|p| p.into_inner()).get(&budget.id) {
            return Ok(actor.clone());
        }
        self.fresh_actor(budget).await
    }

    async fn fresh_actor(&self, budget: &Arc<Budget>) -> Result<ActorRef<ToBudgetActor>, EngineError> {
        let actor =
            call!(self.inner.supervisor, |reply| ToBudgetSupervisor::ActorFor { budget: budget.clone(), reply })
                .map_err(|e| EngineError::Unavailable(format!("budget supervisor: {e}")))??;
        Ok(actor)
    }

    /// Calls a budget's actor; if it died in between, asks the supervisor for its successor once.
    async fn ask<T: Send + 'static>(
        &self,
        budget: &Arc<Budget>,
        build: impl Fn(ractor::RpcReplyPort<Result<T, EngineError>>) -> ToBudgetActor,
    ) -> Result<T, EngineError> {
        self.ask_actor(budget, build).await.map(|(result, _)| result)
    }

    /// As `ask`, with the actor that answered: a follow-up about the same change (its undo,
    /// or that its write committed) must reach that actor, not a successor rebuilt from
    /// storage since, which never had the change.
    async fn ask_actor<T: Send + 'static>(
        &self,
        budget: &Arc<Budget>,
        build: impl Fn(ractor::RpcReplyPort<Result<T, EngineError>>) -> ToBudgetActor,
    ) -> Result<(T, ActorRef<ToBudgetActor>), EngineError> {
        let actor = self.actor_for(budget).await?;
        match actor.call(&build, None).await {
            Ok(ractor::rpc::CallResult::Success(result)) => result.map(|r| (r, actor)),
            _ => {
                let actor = self.fresh_actor(budget).await?;
                match actor.call(&build, None).await {
                    Ok(ractor::rpc::CallResult::Success(result)) => result.map(|r| (r, actor)),
                    Ok(_) => Err(EngineError::Unavailable(format!("budget '{}' did not answer", budget.name))),
                    Err(e) => Err(EngineError::Unavailable(format!("budget '{}': {e}", budget.name))),
                }
            }
        }
    }

    fn tell(&self, budget_id: Uuid, message: ToBudgetActor) {
        if let Some(actor) = self.inner.actors.read().unwrap_or_else(|p| p.into_inner()).get(&budget_id) {
            let _ = actor.cast(message);
        }
    }

    /// Fault injection for tests: makes a budget's actor fail.
    #[doc(hidden)]
    pub async fn crash_budget_actor(&self, id_or_name: &str) -> Result<(), EngineError> {
        let budget = self.find_budget(id_or_name)?;
        let actor = self.actor_for(&budget).await?;
        actor.cast(ToBudgetActor::Crash).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    /// For tests: how many windows a budget's actor holds in memory.
    #[doc(hidden)]
    pub async fn cached_windows(&self, id_or_name: &str) -> Result<usize, EngineError> {
        let budget = self.find_budget(id_or_name)?;
        let actor = self.actor_for(&budget).await?;
        call!(actor, ToBudgetActor::CachedWindows).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    pub async fn actor_restarts(&self) -> Result<HashMap<Uuid, usize>, EngineError> {
        call!(self.inner.supervisor, ToBudgetSupervisor::Restarts).map_err(|e| EngineError::Unavailable(e.to_string()))
    }

    // ---- allocations ------------------------------------------------------------------

    #[instrument(target = "allocation", level = "debug", skip_all, fields(component = %req.component, model = %req.model))]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn allocate(&self, req: AllocationRequest) -> Result<AllocationGrant, EngineError> {
        let engine = self.clone();
        tokio::spawn(async move { engine.allocate_to_end(req).await })
            .await
            .map_err(|e| EngineError::Internal(format!("allocate task: {e}")))?
    }

    async fn allocate_to_end(&self, req: AllocationRequest) -> Result<AllocationGrant, EngineError> {
        self.sync_catalog().await?;
        let call = CallScope::new(req.component, req.context_id, req.provider, req.model, req.task_type, req.tier)?;
        let now = crate::domain::now();
        let ttl = match req.ttl_seconds {
            Some(0) => return Err(EngineError::invalid("ttl_seconds", "ttl_seconds must be at least 1")),
            Some(s) if s > self.inner.config.max_ttl.as_secs() => {
                return Err(EngineError::invalid(
                    "ttl_seconds",
                    format!("ttl_seconds must be at most {}", self.inner.config.max_ttl.as_secs()),
                ));
            }
            Some(s) => Duration::from_secs(s),
            None => self.inner.config.default_ttl,
        };
        let priority = req.priority.unwrap_or(5);
        if !(1..=10).contains(&priority) {
            return Err(EngineError::invalid("priority", "priority must be between 1 and 10"));
        }
        let input = req.input_tokens.unwrap_or(0);
        let output = req.max_output_tokens.unwrap_or(0);
        check_tokens("input_tokens", input)?;
        check_tokens("max_output_tokens", output)?;
        let tokens = input + output;
        let cost = match req.amount {
            Some(amount) => Some(crate::money::check_bounds("amount", amount, crate::money::MAX_AMOUNT)?),
            None => {
                if req.input_tokens.is_none() && req.max_output_tokens.is_none() {
                    return Err(EngineError::invalid(
                        "input_tokens",
                        "give input_tokens and max_output_tokens, or an amount",
                    ));
                }
                let usage = Usage { input_tokens: input, output_tokens: output, ..Usage::default() };
                self.price(&call, &usage, now, req.service_tier.unwrap_or_default()).cost()
            }
        };
        let expires_at = now + ChronoDuration::from_std(ttl).unwrap_or_else(|_| ChronoDuration::seconds(300));
        let allocation_id = Uuid::now_v7();
        let budgets = self.matching_budgets(&call);
        let mut holds = Vec::new();
        let mut reservations = Vec::new();
        let mut reserved_in: Vec<Uuid> = Vec::new();
        for budget in &budgets {
            let request =
                ReserveRequest { allocation_id, call: call.clone(), at: now, cost, tokens, expires_at, priority };
            match self.ask(budget, |reply| ToBudgetActor::Reserve { request: request.clone(), reply }).await {
                Ok(budget_holds) => {
                    reservations.push(BudgetReservation {
                        budget_id: budget.id,
                        budget: budget.name.clone(),
                        policies: budget_holds.iter().map(|h| h.policy_id).collect(),
                    });
                    holds.extend(budget_holds);
                    reserved_in.push(budget.id);
                }
                Err(denied) => {
                    for id in reserved_in {
                        self.tell(id, ToBudgetActor::Unreserve { allocation_id });
                    }
                    metrics::counter!("budget_allocations_total", "result" => "denied").increment(1);
                    debug!(target: "allocation", reason = %denied, "allocation denied");
                    return Err(denied);
                }
            }
        }
        let checks = self.hard_checks(&budgets, &holds, priority);
        let allocation = Allocation {
            id: allocation_id,
            component: call.component.clone(),
            context_id: call.context_id.clone(),
            provider: call.provider.clone(),
            model: call.model.clone(),
            task_type: call.task_type.clone(),
            tier: call.tier.clone(),
            priority,
            reserved_cost: cost.unwrap_or(Decimal::ZERO),
            reserved_tokens: tokens,
            priced: cost.is_some(),
            used_cost: Decimal::ZERO,
            used_tokens: 0,
            status: AllocationStatus::Active,
            budgets: reserved_in.clone(),
            created_at: now,
            expires_at,
            released_at: None,
        };
        let written = self.inner.repo.write(WriteOp::Allocate { allocation: allocation.clone(), holds, checks }).await;
        if let Err(e) = written {
            for id in &reserved_in {
                self.tell(*id, ToBudgetActor::Unreserve { allocation_id });
            }
            if matches!(e, EngineError::BudgetExceeded(_)) {
                metrics::counter!("budget_allocations_total", "result" => "denied").increment(1);
            }
            return Err(e);
        }
        if !self.inner.repo.is_shared() {
            self.active().insert(allocation_id, allocation.clone());
        }
        metrics::counter!("budget_allocations_total", "result" => "granted").increment(1);
        debug!(target: "allocation", allocation = %allocation_id, cost = ?cost, "allocation granted");
        Ok(AllocationGrant {
            id: allocation_id,
            status: "granted".into(),
            reserved_cost: allocation.reserved_cost,
            reserved_tokens: tokens,
            priced: allocation.priced,
            expires_at,
            budgets: reservations,
            allocation,
        })
    }

    fn hard_checks(&self, budgets: &[Arc<Budget>], holds: &[crate::domain::Hold], priority: u8) -> Vec<HardCheck> {
        if priority >= budget_actor::BYPASS_PRIORITY {
            return Vec::new();
        }
        holds
            .iter()
            .filter_map(|h| {
                let budget = budgets.iter().find(|b| b.id == h.budget_id)?;
                let policy = budget.policies.iter().find(|p| p.id == h.policy_id)?;
                (policy.enforcement == Enforcement::HardLimit).then(|| HardCheck {
                    budget_id: budget.id,
                    budget_name: budget.name.clone(),
                    policy_id: policy.id,
                    period: policy.period.as_str().into(),
                    window_key: h.window_key.clone(),
                    cost_limit: policy.cost_limit,
                    token_limit: policy.token_limit,
                    cost: h.cost,
                    tokens: h.tokens,
                })
            })
            .collect()
    }

    pub async fn get_allocation(&self, id: Uuid) -> Result<Allocation, EngineError> {
        if let Some(a) = self.cached_allocation(id) {
            return Ok(a);
        }
        self.inner.repo.get_allocation(id).await?.ok_or_else(|| EngineError::not_found("allocation", id))
    }

    pub async fn list_allocations(&self, query: &AllocationsQuery) -> Result<Vec<Allocation>, EngineError> {
        let status = query.status.as_deref().map(|s| AllocationStatus::parse_input("status", s)).transpose()?;
        let filter = AllocationFilter {
            context_id: query.context_id.clone(),
            status,
            limit: query.limit.unwrap_or(100).clamp(1, 1000),
        };
        self.inner.repo.list_allocations(&filter).await
    }

    /// Returns what an allocation still holds to its budgets. Releasing twice is harmless.
    #[instrument(target = "allocation", level = "debug", skip(self))]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn release(&self, id: Uuid) -> Result<Allocation, EngineError> {
        let engine = self.clone();
        tokio::spawn(async move { engine.release_to_end(id).await })
            .await
            .map_err(|e| EngineError::Internal(format!("release task: {e}")))?
    }

    async fn release_to_end(&self, id: Uuid) -> Result<Allocation, EngineError> {
        let cached = self.active().remove(&id);
        let allocation = match &cached {
            Some(a) => a.clone(),
            None => self.get_allocation(id).await?,
        };
        if allocation.status != AllocationStatus::Active {
            return Ok(allocation);
        }
        // Durable first, then memory: until the actors drop the hold they over-count, which
        // can only refuse, never over-admit; and a failed write leaves nothing to undo.
        let at = crate::domain::now();
        let closed =
            self.inner.repo.write(WriteOp::Close { allocation_id: id, status: AllocationStatus::Released, at }).await;
        if let Err(e) = closed {
            if let Some(a) = cached {
                self.active().insert(id, a);
            }
            return Err(e);
        }
        for budget_id in &allocation.budgets {
            self.tell(*budget_id, ToBudgetActor::Unreserve { allocation_id: id });
        }
        metrics::counter!("budget_releases_total").increment(1);
        match cached {
            Some(mut a) => {
                a.status = AllocationStatus::Released;
                a.released_at = Some(at);
                Ok(a)
            }
            None => self.get_allocation(id).await,
        }
    }

    // ---- usage ------------------------------------------------------------------------

    fn price(&self, call: &CallScope, usage: &Usage, at: DateTime<Utc>, tier: ServiceTier) -> Priced {
        self.inner.prices.cost(&call.provider, &call.model, usage, at, tier)
    }

    #[instrument(target = "engine", level = "debug", skip_all)]
    /// Runs to the end even if the caller goes away (a client disconnect drops the request's
    /// future): the actors' memory and storage must not be left half-updated.
    pub async fn record_usage(&self, req: UsageRequest) -> Result<UsageResponse, EngineError> {
        let engine = self.clone();
        tokio::spawn(async move { engine.record_usage_to_end(req).await })
            .await
            .map_err(|e| EngineError::Internal(format!("record_usage task: {e}")))?
    }

    async fn record_usage_to_end(&self, req: UsageRequest) -> Result<UsageResponse, EngineError> {
        self.sync_catalog().await?;
        let now = crate::domain::now();
        let allocation = match req.allocation_id {
            Some(id) => Some(match self.cached_allocation(id) {
                Some(a) => a,
                None => self.inner.repo.get_allocation(id).await?.ok_or_else(|| EngineError::Invalid {
                    field: "allocation_id".into(),
                    message: format!("allocation '{id}' does not exist"),
                })?,
            }),
            None => None,
        };
        let pick = |given: Option<String>, from_alloc: Option<&String>, field: &str| -> Result<String, EngineError> {
            given
                .filter(|v| !v.trim().is_empty())
                .or_else(|| from_alloc.cloned())
                .ok_or_else(|| EngineError::invalid(field, format!("{field} is required without an allocation_id")))
        };
        let call = CallScope::new(
            pick(req.component, allocation.as_ref().map(|a| &a.component), "component")?,
            req.context_id.or_else(|| allocation.as_ref().and_then(|a| a.context_id.clone())),
            pick(req.provider, allocation.as_ref().map(|a| &a.provider), "provider")?,
            pick(req.model, allocation.as_ref().map(|a| &a.model), "model")?,
            req.task_type.or_else(|| allocation.as_ref().and_then(|a| a.task_type.clone())),
            req.tier.or_else(|| allocation.as_ref().map(|a| a.tier.clone())),
        )?;
        let usage = usage_from_fields(
            req.usage,
            [
                ("input_tokens", req.input_tokens),
                ("output_tokens", req.output_tokens),
                ("cache_read_tokens", req.cache_read_tokens),
                ("cache_write_tokens", req.cache_write_tokens),
                ("cache_write_1h_tokens", req.cache_write_1h_tokens),
                ("reasoning_tokens", req.reasoning_tokens),
            ],
            true,
        )?;
        let timestamp = req.timestamp.unwrap_or(now);
        if timestamp > now + ChronoDuration::minutes(5) {
            return Err(EngineError::invalid("timestamp", "timestamp is more than 5 minutes in the future"));
        }
        if let Some(rid) = &req.request_id {
            if rid.is_empty() || rid.len() > 256 {
                return Err(EngineError::invalid("request_id", "request_id must be 1 to 256 characters"));
            }
            if let Some(existing) = self.inner.repo.usage_by_request_id(rid).await? {
                return self.replay(existing).await;
            }
        }
        let priced = self.price(&call, &usage, timestamp, req.service_tier.unwrap_or_default());
        let cost = priced.cost();
        let record_id = Uuid::now_v7();
        let tokens = usage.total_tokens();
        let budgets = self.matching_budgets(&call);
        let mut charges = Vec::new();
        let mut hold_shrinks = Vec::new();
        let mut alerts = Vec::new();
        // What each budget's actor added in memory, to take back exactly if the write fails.
        let mut undo: Vec<Settled> = Vec::new();
        let mut standings: Vec<BudgetEffect> = Vec::with_capacity(budgets.len());
        for budget in &budgets {
            let request = SettleRequest {
                record_id,
                allocation_id: allocation.as_ref().map(|a| a.id),
                call: call.clone(),
                at: timestamp,
                cost,
                tokens,
            };
            let (outcome, actor): (SettleOutcome, _) =
                match self.ask_actor(budget, |reply| ToBudgetActor::Settle { request: request.clone(), reply }).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        self.unsettle(undo);
                        return Err(e);
                    }
                };
            undo.push(Settled {
                budget_id: budget.id,
                actor,
                charges: outcome.charges.clone(),
                hold_shrinks: outcome.hold_shrinks.clone(),
            });
            standings.push(BudgetEffect {
                budget_id: budget.id,
                budget: budget.name.clone(),
                policies: outcome.statuses,
            });
            charges.extend(outcome.charges);
            hold_shrinks.extend(outcome.hold_shrinks);
            alerts.extend(outcome.alerts);
        }
        if cost.is_none() {
            alerts.push(Alert {
                id: Uuid::now_v7(),
                severity: Severity::Warning,
                kind: "unpriced_model".into(),
                budget_id: None,
                policy_id: None,
                message: format!(
                    "no price is known for {}/{}; usage recorded with cost null",
                    call.provider, call.model
                ),
                details: json!({"provider": call.provider, "model": call.model, "record_id": record_id}),
                created_at: now,
                acknowledged: false,
            });
        }
        let record = UsageRecord {
            id: record_id,
            allocation_id: allocation.as_ref().map(|a| a.id),
            component: call.component.clone(),
            context_id: call.context_id.clone(),
            provider: call.provider.clone(),
            model: call.model.clone(),
            task_type: call.task_type.clone(),
            tier: call.tier.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cache_write_1h_tokens: usage.cache_write_1h_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            total_tokens: tokens,
            cost,
            priced: cost.is_some(),
            cost_breakdown: priced.breakdown.clone(),
            price_ref: priced.price_ref.clone(),
            request_id: req.request_id.clone(),
            timestamp,
            recorded_at: now,
            metadata: req.metadata.unwrap_or_else(|| json!({})),
            budgets: undo.iter().map(|u| u.budget_id).collect(),
        };
        let outcome = self
            .inner
            .repo
            .write(WriteOp::Record { record: Box::new(record.clone()), charges, hold_shrinks, alerts: Vec::new() })
            .await;
        match outcome {
            Ok(WriteOutcome::Done) => {
                for settled in &undo {
                    let windows = settled.charges.iter().map(|c| (c.policy_id, c.window_key.clone())).collect();
                    // To a dead actor this is dropped, rightly: its successor read storage.
                    let _ = settled.actor.cast(ToBudgetActor::SettleDone { windows });
                }
            }
            Ok(WriteOutcome::DuplicateRequest) => {
                // A concurrent record with the same request_id won: undo our in-memory charge.
                self.unsettle(undo);
                let rid = req.request_id.unwrap_or_default();
                let existing = self
                    .inner
                    .repo
                    .usage_by_request_id(&rid)
                    .await?
                    .ok_or_else(|| EngineError::Internal("duplicate request id vanished".into()))?;
                return self.replay(existing).await;
            }
            Err(e) => {
                self.unsettle(undo);
                return Err(e);
            }
        }
        if let Some(a) = allocation.as_ref()
            && let Some(entry) = self.active().get_mut(&a.id)
        {
            entry.used_cost += cost.unwrap_or(Decimal::ZERO);
            entry.used_tokens += tokens;
        }
        metrics::counter!("budget_usage_records_total", "priced" => if cost.is_some() { "true" } else { "false" })
            .increment(1);
        // Embedded database: the actors' answers are the truth. Shared: read the database sums.
        let effects =
            if self.inner.repo.is_shared() { self.effects(&call, &budgets, timestamp).await? } else { standings };
        if self.inner.repo.is_shared() {
            // This daemon's actors saw only their own share; the database sums see everyone's.
            alerts.retain(|a| a.kind == "unpriced_model");
            alerts.extend(shared_crossings(&budgets, &effects, cost.unwrap_or(Decimal::ZERO), tokens));
        }
        for alert in alerts {
            info!(target: "engine", kind = %alert.kind, message = %alert.message, "alert");
            if let Err(e) = self.inner.repo.write(WriteOp::Alert(alert)).await {
                warn!(target: "engine", error = %e, "alert not stored");
            }
        }
        Ok(UsageResponse {
            id: record.id,
            cost,
            priced: record.priced,
            cost_breakdown: record.cost_breakdown.clone(),
            created: true,
            budgets: effects,
            record,
        })
    }

    /// Takes back exactly what settles added in memory (a failed or duplicate write), without
    /// disturbing anything else the actors accepted meanwhile.
    fn unsettle(&self, undo: Vec<Settled>) {
        for Settled { actor, charges, hold_shrinks, .. } in undo {
            // To a dead actor this is dropped, rightly: its successor never had the change.
            let _ = actor.cast(ToBudgetActor::Unsettle { charges, hold_shrinks });
        }
    }

    async fn replay(&self, existing: UsageRecord) -> Result<UsageResponse, EngineError> {
        let budgets: Vec<Arc<Budget>> =
            self.snapshot().iter().filter(|b| existing.budgets.contains(&b.id)).cloned().collect();
        let call = CallScope {
            component: existing.component.clone(),
            context_id: existing.context_id.clone(),
            provider: existing.provider.clone(),
            model: existing.model.clone(),
            task_type: existing.task_type.clone(),
            tier: existing.tier.clone(),
        };
        let effects = self.effects(&call, &budgets, existing.timestamp).await?;
        Ok(UsageResponse {
            id: existing.id,
            cost: existing.cost,
            priced: existing.priced,
            cost_breakdown: existing.cost_breakdown.clone(),
            created: false,
            budgets: effects,
            record: existing,
        })
    }

    async fn effects(
        &self,
        call: &CallScope,
        budgets: &[Arc<Budget>],
        at: DateTime<Utc>,
    ) -> Result<Vec<BudgetEffect>, EngineError> {
        let mut out = Vec::with_capacity(budgets.len());
        for budget in budgets {
            let policies = self.policy_statuses(budget, Some(call), call.context_id.as_deref(), at).await?;
            out.push(BudgetEffect { budget_id: budget.id, budget: budget.name.clone(), policies });
        }
        Ok(out)
    }

    pub async fn get_usage(&self, id: Uuid) -> Result<UsageRecord, EngineError> {
        self.inner.repo.get_usage(id).await?.ok_or_else(|| EngineError::not_found("usage record", id))
    }

    pub async fn list_usage(&self, query: &UsageQuery) -> Result<UsagePage, EngineError> {
        let after = query
            .cursor
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| EngineError::invalid("cursor", format!("'{c}' is not a valid id"))))
            .transpose()?;
        let limit = query.limit.unwrap_or(100).clamp(1, 1000);
        let filter = UsageFilter {
            from: query.from,
            to: query.to,
            provider: query.provider.clone(),
            model: query.model.clone(),
            component: query.component.clone(),
            context_id: query.context_id.clone(),
            task_type: query.task_type.clone(),
            allocation_id: query.allocation_id,
            after,
            limit: limit + 1,
        };
        let mut records = self.inner.repo.list_usage(&filter).await?;
        let next_cursor = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(UsagePage { records, next_cursor })
    }

    /// Totals of usage in `[from, to)` grouped by any of provider, model, component,
    /// task_type, context_id, budget, day. Sums are exact decimals.
    pub async fn usage_summary(&self, query: &SummaryQuery) -> Result<UsageSummary, EngineError> {
        let (from, to, group_by) = (query.from, query.to, query.group_by_list());
        const KEYS: [&str; 7] = ["provider", "model", "component", "task_type", "context_id", "budget", "day"];
        for g in &group_by {
            if !KEYS.contains(&g.as_str()) {
                return Err(EngineError::invalid(
                    "group_by",
                    format!("cannot group by '{g}' (expected any of {})", KEYS.join(", ")),
                ));
            }
        }
        let names: HashMap<Uuid, String> = self.snapshot().iter().map(|b| (b.id, b.name.clone())).collect();
        let mut rows: BTreeMap<Vec<String>, SummaryRow> = BTreeMap::new();
        let mut filter = UsageFilter { from, to, limit: 5000, ..UsageFilter::default() };
        let (mut total_cost, mut total_records) = (Decimal::ZERO, 0u64);
        loop {
            let page = self.inner.repo.list_usage(&filter).await?;
            let Some(last) = page.last() else { break };
            filter.after = Some(last.id);
            for r in &page {
                let budget_groups: Vec<String> = if group_by.iter().any(|g| g == "budget") {
                    if r.budgets.is_empty() {
                        vec!["(none)".into()]
                    } else {
                        r.budgets.iter().map(|b| names.get(b).cloned().unwrap_or_else(|| b.to_string())).collect()
                    }
                } else {
                    vec![String::new()]
                };
                total_records += 1;
                total_cost += r.cost.unwrap_or(Decimal::ZERO);
                for budget_name in &budget_groups {
                    let values: Vec<String> = group_by
                        .iter()
                        .map(|g| match g.as_str() {
                            "provider" => r.provider.clone(),
                            "model" => r.model.clone(),
                            "component" => r.component.clone(),
                            "task_type" => r.task_type.clone().unwrap_or_default(),
                            "context_id" => r.context_id.clone().unwrap_or_default(),
                            "budget" => budget_name.clone(),
                            _ => r.timestamp.format("%Y-%m-%d").to_string(),
                        })
                        .collect();
                    let row = rows.entry(values.clone()).or_insert_with(|| SummaryRow {
                        group: group_by
                            .iter()
                            .cloned()
                            .zip(values.into_iter().map(serde_json::Value::String))
                            .collect(),
                        records: 0,
                        cost: Decimal::ZERO,
                        unpriced_records: 0,
                        input_tokens: 0,
                        output_tokens: 0,
                        cache_read_tokens: 0,
                        cache_write_tokens: 0,
                        total_tokens: 0,
                    });
                    row.records += 1;
                    match r.cost {
                        Some(c) => row.cost += c,
                        None => row.unpriced_records += 1,
                    }
                    row.input_tokens += r.input_tokens;
                    row.output_tokens += r.output_tokens;
                    row.cache_read_tokens += r.cache_read_tokens;
                    row.cache_write_tokens += r.cache_write_tokens + r.cache_write_1h_tokens;
                    row.total_tokens += r.total_tokens;
                }
            }
        }
        let mut rows: Vec<SummaryRow> = rows.into_values().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.cost));
        Ok(UsageSummary { from, to, group_by, rows, total_cost, total_records })
    }

    // ---- prices -----------------------------------------------------------------------

    /// Prices in force now: one provider's or all, model names containing `search`
    /// (case-insensitive), at most `limit`.
    pub fn list_prices(&self, query: &PricesQuery) -> Vec<PriceSummary> {
        let search = query.search.as_deref().map(str::to_ascii_lowercase);
        let limit = query.limit;
        self.inner
            .prices
            .list(query.provider.as_deref(), crate::domain::now())
            .into_iter()
            .filter(|p| search.as_ref().is_none_or(|t| p.model.to_ascii_lowercase().contains(t)))
            .take(limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// Every stored version of a model's price and the update records that made them.
    pub async fn price_history_view(&self, provider: &str, model: &str) -> Result<PriceHistory, EngineError> {
        let versions = self.price_history(provider, model).iter().map(|v| (**v).clone()).collect();
        let rows = self.inner.repo.list_price_updates(Some(&provider.to_ascii_lowercase()), Some(model), 1000).await?;
        let updates = rows.iter().map(crate::monitor::PriceUpdate::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(PriceHistory { provider: provider.to_string(), model: model.to_string(), versions, updates })
    }

    pub fn show_price(&self, provider: &str, model: &str) -> Result<PriceSummary, EngineError> {
        self.inner
            .prices
            .summary(provider, model, crate::domain::now())
            .ok_or_else(|| EngineError::not_found("price", format!("{provider}/{model}")))
    }

    pub fn price_history(&self, provider: &str, model: &str) -> Vec<Arc<PriceVersion>> {
        self.inner.prices.history(provider, model)
    }

    /// Stores a manual price as a new version; usage before `effective_from` keeps its price.
    pub async fn set_price(&self, provider: &str, model: &str, req: SetPrice) -> Result<PriceSummary, EngineError> {
        let provider = provider.trim().to_ascii_lowercase();
        let model = model.trim().to_string();
        if provider.is_empty() || model.is_empty() {
            return Err(EngineError::invalid("provider", "provider and model must not be empty"));
        }
        if model.ends_with("/history") {
            // `…/{model}/history` is the route of a price's history: such a model could be set
            // but never read back.
            return Err(EngineError::invalid("model", "a model name cannot end in /history"));
        }
        let per_token =
            |field: &str, direct: Option<Decimal>, million: Option<Decimal>| -> Result<Option<Decimal>, EngineError> {
                match (direct, million) {
                    (Some(_), Some(_)) => {
                        Err(EngineError::invalid(field, format!("give {field} per token or per million, not both")))
                    }
                    (Some(v), None) => Ok(Some(v)),
                    (None, Some(m)) => Ok(Some(m / Decimal::from(1_000_000))),
                    (None, None) => Ok(None),
                }
            };
        let input = per_token("input_cost_per_token", req.input_cost_per_token, req.input_cost_per_million)?
            .ok_or_else(|| EngineError::invalid("input_cost_per_token", "an input price is required"))?;
        let output = per_token("output_cost_per_token", req.output_cost_per_token, req.output_cost_per_million)?
            .ok_or_else(|| EngineError::invalid("output_cost_per_token", "an output price is required"))?;
        let cache_read = per_token(
            "cache_read_input_token_cost",
            req.cache_read_input_token_cost,
            req.cache_read_input_cost_per_million,
        )?;
        let cache_write = per_token(
            "cache_creation_input_token_cost",
            req.cache_creation_input_token_cost,
            req.cache_creation_input_cost_per_million,
        )?;
        for (field, value) in [
            ("input_cost_per_token", Some(input)),
            ("output_cost_per_token", Some(output)),
            ("cache_read_input_token_cost", cache_read),
            ("cache_creation_input_token_cost", cache_write),
        ] {
            if let Some(v) = value {
                crate::money::check_bounds(field, v, crate::money::MAX_RATE)?;
            }
        }
        let price = ModelPrice::manual(input, output, cache_read, cache_write, &provider);
        let now = crate::domain::now();
        let effective_from = req.effective_from.unwrap_or(now);
        let row = PriceVersionRow {
            id: Uuid::now_v7(),
            provider: provider.clone(),
            model: model.clone(),
            source: "manual".into(),
            body: serde_json::to_string(&price).map_err(|e| EngineError::Internal(e.to_string()))?,
            effective_from,
            effective_to: None,
            created_at: now,
        };
        self.inner.repo.insert_price_version(&row).await?;
        self.inner.prices.add_version(PriceVersion::from_row(&row)?);
        info!(target: "engine", %provider, %model, %input, %output, "manual price set");
        self.inner
            .prices
            .summary(&provider, &model, effective_from.max(now))
            .ok_or_else(|| EngineError::Internal("price just set is missing".into()))
    }

    pub fn estimate(&self, req: EstimateRequest) -> Result<EstimateResponse, EngineError> {
        let provider = req.provider.trim().to_string();
        let model = req.model.trim().to_string();
        if provider.is_empty() {
            return Err(EngineError::invalid("provider", "provider must not be empty"));
        }
        if model.is_empty() {
            return Err(EngineError::invalid("model", "model must not be empty"));
        }
        let usage = usage_from_fields(
            req.usage,
            [
                ("input_tokens", req.input_tokens),
                ("output_tokens", req.output_tokens),
                ("cache_read_tokens", req.cache_read_tokens),
                ("cache_write_tokens", req.cache_write_tokens),
                ("cache_write_1h_tokens", req.cache_write_1h_tokens),
                ("reasoning_tokens", req.reasoning_tokens),
            ],
            false,
        )?;
        let at = req.timestamp.unwrap_or_else(Utc::now);
        let priced = self.inner.prices.cost(&provider, &model, &usage, at, req.service_tier.unwrap_or_default());
        Ok(EstimateResponse {
            cost: priced.cost(),
            priced: priced.breakdown.is_some(),
            cost_breakdown: priced.breakdown,
            price_ref: priced.price_ref,
        })
    }

    pub async fn list_alerts(&self, query: &AlertsQuery) -> Result<Vec<Alert>, EngineError> {
        self.inner.repo.list_alerts(query.limit.unwrap_or(100).clamp(1, 1000)).await
    }
}

/// The names in a policy patch's `clear`, checked: known, and not also given a value. The
/// CLI's spellings (`context`, `cost-limit`) are accepted.
fn fields_to_clear(patch: &UpdatePolicy) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::with_capacity(patch.clear.len());
    for field in &patch.clear {
        let name = match field.trim().replace('-', "_").as_str() {
            "context" => "context_id".to_string(),
            other => other.to_string(),
        };
        let given = match name.as_str() {
            "cost_limit" => patch.cost_limit.is_some(),
            "token_limit" => patch.token_limit.is_some(),
            "cron" => patch.cron.is_some(),
            "timezone" => patch.timezone.is_some(),
            "provider" => patch.provider.is_some(),
            "model" => patch.model.is_some(),
            "component" => patch.component.is_some(),
            "task_type" => patch.task_type.is_some(),
            "tier" => patch.tier.is_some(),
            "context_id" => patch.context_id.is_some(),
            other => {
                return Err(EngineError::invalid(
                    "clear",
                    format!(
                        "cannot clear '{other}' (expected cost_limit, token_limit, cron, timezone, provider, model, \
                         component, task_type, tier or context_id)"
                    ),
                ));
            }
        };
        if given {
            return Err(EngineError::invalid("clear", format!("'{name}' is both given a value and cleared")));
        }
        names.push(name);
    }
    Ok(names)
}

fn check_tokens(field: &str, value: u64) -> Result<(), EngineError> {
    if value > MAX_TOKENS {
        return Err(EngineError::invalid(field, format!("{field} is implausibly large ({value})")));
    }
    Ok(())
}

/// Builds a disjoint `Usage` from the Anthropic-style fields or an OpenAI-style object.
fn usage_from_fields(
    openai: Option<OpenAiUsage>,
    fields: [(&str, Option<u64>); 6],
    require_counts: bool,
) -> Result<Usage, EngineError> {
    let given = fields.iter().any(|(_, v)| v.is_some());
    for (name, value) in &fields {
        check_tokens(name, value.unwrap_or(0))?;
    }
    let usage = match openai {
        Some(_) if given => {
            return Err(EngineError::invalid("usage", "give either the token fields or a usage object, not both"));
        }
        Some(o) => {
            check_tokens("usage.prompt_tokens", o.prompt_tokens)?;
            check_tokens("usage.completion_tokens", o.completion_tokens)?;
            let cached = o.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0);
            let created = o
                .cache_creation_input_tokens
                .or_else(|| o.prompt_tokens_details.as_ref().and_then(|d| d.cache_creation_tokens))
                .unwrap_or(0);
            let reasoning = o.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0);
            check_tokens("usage.prompt_tokens_details.cached_tokens", cached)?;
            check_tokens("usage.cache_creation_input_tokens", created)?;
            check_tokens("usage.completion_tokens_details.reasoning_tokens", reasoning)?;
            if cached.saturating_add(created) > o.prompt_tokens {
                return Err(EngineError::invalid(
                    "usage.prompt_tokens_details.cached_tokens",
                    "cached and cache-creation tokens are part of prompt_tokens and cannot exceed it",
                ));
            }
            if reasoning > o.completion_tokens {
                return Err(EngineError::invalid(
                    "usage.completion_tokens_details.reasoning_tokens",
                    "reasoning_tokens cannot exceed completion_tokens",
                ));
            }
            Usage::from_openai(o.prompt_tokens, o.completion_tokens, cached, created, reasoning)
        }
        None => {
            let get = |i: usize| fields[i].1.unwrap_or(0);
            // Both counts are required: a forgotten output count would bill a call as if it
            // had produced nothing. (An embedding says output_tokens: 0.)
            if require_counts && let Some((field, _)) = fields[..2].iter().find(|(_, v)| v.is_none()) {
                return Err(EngineError::invalid(
                    field,
                    "input_tokens and output_tokens are required (or an OpenAI-style usage object)",
                ));
            }
            let usage = Usage {
                input_tokens: get(0),
                output_tokens: get(1),
                cache_read_tokens: get(2),
                cache_write_tokens: get(3),
                cache_write_1h_tokens: get(4),
                reasoning_tokens: get(5),
            };
            if usage.reasoning_tokens > usage.output_tokens {
                return Err(EngineError::invalid(
                    "reasoning_tokens",
                    "reasoning_tokens is part of output_tokens and cannot exceed it",
                ));
            }
            usage
        }
    };
    Ok(usage)
}

/// Threshold crossings of one record, judged on database sums after it was committed.
fn shared_crossings(budgets: &[Arc<Budget>], effects: &[BudgetEffect], cost: Decimal, tokens: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    for (budget, effect) in budgets.iter().zip(effects) {
        for status in &effect.policies {
            let Some(policy) = budget.policies.iter().find(|p| p.id == status.policy_id) else { continue };
            let after = crate::domain::Totals {
                settled_cost: status.settled,
                settled_tokens: status.tokens_settled,
                ..Default::default()
            };
            let before = crate::domain::Totals {
                settled_cost: status.settled - cost,
                settled_tokens: status.tokens_settled.saturating_sub(tokens),
                ..Default::default()
            };
            out.extend(budget_actor::crossing_alerts(budget, policy, &status.window_key, &before, &after));
        }
    }
    out
}

fn worst_state(policies: &[PolicyStatus]) -> String {
    let rank = |s: &str| match s {
        "exceeded" => 2,
        "warning" => 1,
        _ => 0,
    };
    policies.iter().map(|p| p.state.as_str()).max_by_key(|s| rank(s)).unwrap_or("ok").to_string()
}

fn prefix_field(err: EngineError, prefix: &str) -> EngineError {
    match err {
        EngineError::Invalid { field, message } => EngineError::Invalid { field: format!("{prefix}.{field}"), message },
        other => other,
    }
}
