//! BudgetActor: one per budget. It serializes that budget's admissions, so a hard limit can
//! never be over-reserved by concurrent callers inside this process. Its state is a cache of
//! what storage holds (settled and reserved amounts per policy window, active holds); it is
//! rebuilt from storage whenever the actor (re)starts. It never awaits network I/O: the only
//! awaits are storage reads of a window it has not seen yet.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, instrument};
use uuid::Uuid;

use super::messages::*;
use crate::api::PolicyStatus;
use crate::domain::{
    BYPASS_PRIORITY, Charge, Hold, HoldShrink, Totals, check_hard_limit, crossing_alerts, policy_status,
    projection_alert,
};
use crate::domain::{Budget, CallScope, Enforcement, Policy};
use crate::error::EngineError;
use crate::period::PolicyClock;
use crate::storage::Repository;

pub struct BudgetActor {
    pub repo: Arc<dyn Repository>,
    pub default_tz: Tz,
    pub window_cache_limit: usize,
}

/// A hold as reserved (or as stored, after a rebuild) and what usages have shrunk it by. The
/// hold in force is the difference, never below zero — as the stored hold, so that undoing a
/// shrink gives back exactly what storage has whatever the order of the usages.
struct Held {
    hold: Hold,
    shrunk_cost: Decimal,
    shrunk_tokens: u64,
}

impl Held {
    fn new(hold: Hold) -> Held {
        Held { hold, shrunk_cost: Decimal::ZERO, shrunk_tokens: 0 }
    }

    fn cost(&self) -> Decimal {
        (self.hold.cost - self.shrunk_cost).max(Decimal::ZERO)
    }

    fn tokens(&self) -> u64 {
        self.hold.tokens.saturating_sub(self.shrunk_tokens)
    }

    fn window(&self) -> (Uuid, String) {
        (self.hold.policy_id, self.hold.window_key.clone())
    }
}

pub struct BudgetState {
    budget: Arc<Budget>,
    clocks: HashMap<Uuid, PolicyClock>,
    windows: HashMap<(Uuid, String), Totals>,
    /// Settles per window whose write has not committed yet: such a window is never evicted,
    /// as storage does not have its charge yet.
    in_flight: HashMap<(Uuid, String), u32>,
    /// The `seq` of the last update applied.
    budget_seq: u64,
    holds: HashMap<Uuid, Vec<Held>>,
    /// Lease ends in order, so a sweep touches only what expired.
    expiries: std::collections::BTreeSet<(DateTime<Utc>, Uuid)>,
}

impl BudgetState {
    fn clock(&self, policy: &Policy) -> Option<&PolicyClock> {
        self.clocks.get(&policy.id)
    }
}

fn clocks_for(budget: &Budget, tz: Tz) -> HashMap<Uuid, PolicyClock> {
    budget
        .policies
        .iter()
        .filter_map(|p| match PolicyClock::new(p, tz) {
            Ok(clock) => Some((p.id, clock)),
            Err(e) => {
                tracing::error!(target: "engine", policy = %p.id, error = %e, "policy has an invalid period; it is skipped");
                None
            }
        })
        .collect()
}

impl BudgetActor {
    async fn rebuild(&self, budget: Arc<Budget>) -> Result<BudgetState, EngineError> {
        let now = Utc::now();
        let mut holds: HashMap<Uuid, Vec<Held>> = HashMap::new();
        for hold in self.repo.active_holds(budget.id, now).await? {
            holds.entry(hold.allocation_id).or_default().push(Held::new(hold));
        }
        debug!(target: "engine", budget = %budget.name, holds = holds.len(), "budget actor state rebuilt");
        let expiries = holds.iter().filter_map(|(id, h)| h.first().map(|h| (h.hold.expires_at, *id))).collect();
        Ok(BudgetState {
            clocks: clocks_for(&budget, self.default_tz),
            budget,
            windows: HashMap::new(),
            in_flight: HashMap::new(),
            budget_seq: 0,
            holds,
            expiries,
        })
    }

    /// Totals of one window, read from storage the first time it is touched.
    async fn window<'s>(
        &self,
        state: &'s mut BudgetState,
        policy_id: Uuid,
        key: &str,
    ) -> Result<&'s mut Totals, EngineError> {
        let id = (policy_id, key.to_string());
        if !state.windows.contains_key(&id) {
            let mut totals = self.repo.window_totals(policy_id, key, Utc::now()).await?;
            if !self.repo.is_shared() {
                // With the embedded database this actor's holds are all the holds, and exact:
                // storage may still lack a shrink whose write is in flight.
                let held = state.holds.values().flatten().filter(|h| h.window() == id);
                totals.reserved_cost = held.clone().map(Held::cost).sum();
                totals.reserved_tokens = held.map(Held::tokens).fold(0u64, u64::saturating_add);
            }
            state.windows.insert(id.clone(), totals);
        }
        state.windows.get_mut(&id).ok_or_else(|| EngineError::Internal("window vanished".into()))
    }

    #[instrument(target = "allocation", level = "debug", skip_all, fields(budget = %state.budget.name, allocation = %req.allocation_id))]
    async fn reserve(&self, state: &mut BudgetState, req: ReserveRequest) -> Result<Vec<Hold>, EngineError> {
        let budget = state.budget.clone();
        let mut planned = Vec::new();
        for policy in budget.matching_policies(&req.call) {
            let Some(clock) = state.clock(policy) else { continue };
            let window = clock.window(req.at, req.call.context_id.as_deref())?;
            let totals = *self.window(state, policy.id, &window.key).await?;
            let enforced = policy.enforcement == Enforcement::HardLimit && req.priority < BYPASS_PRIORITY;
            if enforced {
                // With a shared database this daemon's view misses other daemons' holds and
                // releases, so only the database's check (at commit) may refuse on amounts.
                let view = if self.repo.is_shared() { Totals::default() } else { totals };
                check_hard_limit(&budget, policy, &view, &totals, req.cost, req.tokens, &req.call)?;
            }
            planned.push(Hold {
                allocation_id: req.allocation_id,
                policy_id: policy.id,
                budget_id: budget.id,
                window_key: window.key,
                cost: req.cost.unwrap_or(Decimal::ZERO),
                tokens: req.tokens,
                expires_at: req.expires_at,
            });
        }
        for hold in &planned {
            if let Some(t) = state.windows.get_mut(&(hold.policy_id, hold.window_key.clone())) {
                t.reserved_cost += hold.cost;
                t.reserved_tokens = t.reserved_tokens.saturating_add(hold.tokens);
            }
        }
        if !planned.is_empty() {
            state.expiries.insert((req.expires_at, req.allocation_id));
            state.holds.insert(req.allocation_id, planned.iter().cloned().map(Held::new).collect());
        }
        Ok(planned)
    }

    /// Moves an allocation's holds to a new lease end; false when this actor holds none.
    fn extend(state: &mut BudgetState, allocation_id: Uuid, expires_at: DateTime<Utc>) -> bool {
        let Some(holds) = state.holds.get_mut(&allocation_id) else { return false };
        if let Some(first) = holds.first() {
            state.expiries.remove(&(first.hold.expires_at, allocation_id));
        }
        for held in holds.iter_mut() {
            held.hold.expires_at = expires_at;
        }
        state.expiries.insert((expires_at, allocation_id));
        true
    }

    fn unreserve(state: &mut BudgetState, allocation_id: Uuid) {
        if let Some(holds) = state.holds.remove(&allocation_id) {
            if let Some(first) = holds.first() {
                state.expiries.remove(&(first.hold.expires_at, allocation_id));
            }
            for held in holds {
                if let Some(t) = state.windows.get_mut(&held.window()) {
                    t.reserved_cost = (t.reserved_cost - held.cost()).max(Decimal::ZERO);
                    t.reserved_tokens = t.reserved_tokens.saturating_sub(held.tokens());
                }
            }
        }
    }

    #[instrument(target = "allocation", level = "debug", skip_all, fields(budget = %state.budget.name, record = %req.record_id))]
    async fn settle(&self, state: &mut BudgetState, req: SettleRequest) -> Result<SettleOutcome, EngineError> {
        let budget = state.budget.clone();
        let cost = req.cost.unwrap_or(Decimal::ZERO);
        let mut outcome = SettleOutcome::default();
        // Every read first: once the first window is charged nothing may fail, or the charge
        // would stay in memory with nobody to take it back.
        let mut charged = Vec::new();
        for policy in budget.matching_policies(&req.call) {
            let Some(clock) = state.clock(policy) else { continue };
            let window = clock.window(req.at, req.call.context_id.as_deref())?;
            self.window(state, policy.id, &window.key).await?;
            charged.push((policy, window));
        }
        let remote_holds = match req.allocation_id {
            Some(allocation_id) if !state.holds.contains_key(&allocation_id) && self.repo.is_shared() => {
                self.repo.allocation_holds(allocation_id, Utc::now()).await?
            }
            _ => Vec::new(),
        };
        for (policy, window) in charged {
            let Some(totals) = state.windows.get_mut(&(policy.id, window.key.clone())) else { continue };
            let before = *totals;
            totals.settled_cost += cost;
            totals.settled_tokens = totals.settled_tokens.saturating_add(req.tokens);
            let after = *totals;
            outcome.alerts.extend(crossing_alerts(&budget, policy, &window.key, window.end, &before, &after));
            outcome.alerts.extend(projection_alert(
                &budget,
                policy,
                &window.key,
                window.start,
                window.end,
                &before,
                &after,
                req.at,
            ));
            *state.in_flight.entry((policy.id, window.key.clone())).or_default() += 1;
            outcome.charges.push(crate::domain::Charge {
                record_id: req.record_id,
                policy_id: policy.id,
                budget_id: budget.id,
                window_key: window.key,
                cost,
                tokens: req.tokens,
            });
        }
        // Reserved by another daemon sharing the database: shrink its stored holds. This
        // daemon's own view of the window is only a lower bound there, so it is left alone.
        for hold in remote_holds.iter().filter(|h| h.budget_id == budget.id) {
            outcome.hold_shrinks.push(HoldShrink {
                allocation_id: hold.allocation_id,
                policy_id: hold.policy_id,
                cost,
                tokens: req.tokens,
            });
        }
        if let Some(allocation_id) = req.allocation_id
            && let Some(holds) = state.holds.get_mut(&allocation_id)
        {
            for held in holds.iter_mut() {
                let (before_cost, before_tokens) = (held.cost(), held.tokens());
                held.shrunk_cost += cost;
                held.shrunk_tokens = held.shrunk_tokens.saturating_add(req.tokens);
                if let Some(t) = state.windows.get_mut(&held.window()) {
                    t.reserved_cost = (t.reserved_cost - (before_cost - held.cost())).max(Decimal::ZERO);
                    t.reserved_tokens = t.reserved_tokens.saturating_sub(before_tokens - held.tokens());
                }
                outcome.hold_shrinks.push(HoldShrink {
                    allocation_id,
                    policy_id: held.hold.policy_id,
                    cost,
                    tokens: req.tokens,
                });
            }
        }
        // Answered with the settle, so the caller needs no second round trip for the standing.
        for policy in budget.matching_policies(&req.call) {
            let Some(clock) = state.clock(policy) else { continue };
            let Ok(window) = clock.window(req.at, req.call.context_id.as_deref()) else { continue };
            if let Some(totals) = state.windows.get(&(policy.id, window.key.clone())) {
                outcome.statuses.push(policy_status(policy, &window, totals));
            }
        }
        Ok(outcome)
    }

    async fn status(
        &self,
        state: &mut BudgetState,
        at: DateTime<Utc>,
        context_id: Option<&str>,
        call: Option<&CallScope>,
    ) -> Result<Vec<PolicyStatus>, EngineError> {
        self.sweep(state);
        let budget = state.budget.clone();
        let mut out = Vec::with_capacity(budget.policies.len());
        for policy in &budget.policies {
            if call.is_some_and(|c| !(budget.scope.matches(c) && policy.matches(c))) {
                continue;
            }
            let Some(clock) = state.clock(policy) else { continue };
            let window = clock.window(at, context_id)?;
            let totals = *self.window(state, policy.id, &window.key).await?;
            out.push(policy_status(policy, &window, &totals));
        }
        Ok(out)
    }

    fn unsettle(state: &mut BudgetState, charges: Vec<Charge>, hold_shrinks: Vec<HoldShrink>) {
        for c in charges {
            let key = (c.policy_id, c.window_key);
            Self::settle_finished(state, &key);
            if let Some(t) = state.windows.get_mut(&key) {
                t.settled_cost = (t.settled_cost - c.cost).max(Decimal::ZERO);
                t.settled_tokens = t.settled_tokens.saturating_sub(c.tokens);
            }
        }
        for d in hold_shrinks {
            let Some(holds) = state.holds.get_mut(&d.allocation_id) else { continue };
            let Some(held) = holds.iter_mut().find(|h| h.hold.policy_id == d.policy_id) else { continue };
            let (before_cost, before_tokens) = (held.cost(), held.tokens());
            held.shrunk_cost = (held.shrunk_cost - d.cost).max(Decimal::ZERO);
            held.shrunk_tokens = held.shrunk_tokens.saturating_sub(d.tokens);
            if let Some(t) = state.windows.get_mut(&held.window()) {
                t.reserved_cost += held.cost() - before_cost;
                t.reserved_tokens = t.reserved_tokens.saturating_add(held.tokens() - before_tokens);
            }
        }
    }

    /// One settle of this window is no longer waiting on its write.
    fn settle_finished(state: &mut BudgetState, key: &(Uuid, String)) {
        if let Some(n) = state.in_flight.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(key);
            }
        }
    }

    /// Bounds the window cache: past windows and finished sessions would otherwise stay in
    /// memory forever. Windows still held by a lease stay; others are re-read on demand.
    fn evict_windows(&self, state: &mut BudgetState) {
        if state.windows.len() <= self.window_cache_limit {
            return;
        }
        let held: std::collections::HashSet<(Uuid, String)> =
            state.holds.values().flatten().map(Held::window).collect();
        let in_flight = &state.in_flight;
        state.windows.retain(|key, _| held.contains(key) || in_flight.contains_key(key));
    }

    fn sweep(&self, state: &mut BudgetState) {
        self.evict_windows(state);
        let now = Utc::now();
        while let Some(&(expires_at, id)) = state.expiries.first() {
            if expires_at > now {
                break;
            }
            debug!(target: "allocation", allocation = %id, "lease expired; hold dropped");
            Self::unreserve(state, id);
            state.expiries.remove(&(expires_at, id));
        }
    }
}

/// What became of one request's work: done (well or with an error for its caller), or
/// panicked.
enum Guarded<T> {
    Done(Result<T, EngineError>),
    Panicked,
}

/// Runs one request's work and catches a panic in it. A panic is a bug, but one reached by
/// one caller's input: it must cost that caller an error, not take the budget away from every
/// other caller (a failed actor is restarted, and a few such failures in a minute would leave
/// the budget stopped by the restart intensity). So input never reaches the supervisor.
async fn guarded<T>(work: impl std::future::Future<Output = Result<T, EngineError>>) -> Guarded<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => Guarded::Done(result),
        Err(_) => Guarded::Panicked,
    }
}

impl BudgetActor {
    /// After a panic the cache may be half-changed: it is rebuilt from storage, keeping the
    /// windows whose settles are still being written (storage does not have those charges
    /// yet). The caller gets an internal error. Only a failed rebuild (storage down) fails
    /// the actor, for the supervisor to restart.
    /// Rebuilds the cache from storage, keeping the windows whose settles are still being
    /// written (storage does not have those charges yet).
    async fn rebuild_keeping_in_flight(&self, state: &mut BudgetState) -> Result<(), ActorProcessingErr> {
        let mut fresh = self.rebuild(state.budget.clone()).await?;
        fresh.budget_seq = state.budget_seq;
        for (key, count) in state.in_flight.drain() {
            if let Some(totals) = state.windows.remove(&key) {
                fresh.windows.insert(key.clone(), totals);
            }
            fresh.in_flight.insert(key, count);
        }
        *state = fresh;
        Ok(())
    }

    async fn recover_if_panicked<T>(
        &self,
        state: &mut BudgetState,
        outcome: Guarded<T>,
    ) -> Result<Result<T, EngineError>, ActorProcessingErr> {
        match outcome {
            Guarded::Done(result) => Ok(result),
            Guarded::Panicked => {
                tracing::error!(target: "engine", budget = %state.budget.name, "a request panicked in the budget's actor; its cache is rebuilt from storage and the actor keeps serving");
                metrics::counter!("budget_actor_request_panics_total").increment(1);
                self.rebuild_keeping_in_flight(state).await?;
                Ok(Err(EngineError::Internal(
                    "the request failed on an internal error; the budget is unaffected".into(),
                )))
            }
        }
    }
}

impl Actor for BudgetActor {
    type Msg = ToBudgetActor;
    type State = BudgetState;
    type Arguments = Arc<Budget>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        budget: Arc<Budget>,
    ) -> Result<BudgetState, ActorProcessingErr> {
        Ok(self.rebuild(budget).await?)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ToBudgetActor,
        state: &mut BudgetState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ToBudgetActor::Reserve { request, reply } => {
                let allocation_id = request.allocation_id;
                let result = guarded(self.reserve(state, request)).await;
                let result = self.recover_if_panicked(state, result).await?;
                if reply.send(result).is_err() {
                    // The caller gave up (timeout): do not keep a hold nobody will write.
                    Self::unreserve(state, allocation_id);
                }
            }
            ToBudgetActor::Unreserve { allocation_id } => Self::unreserve(state, allocation_id),
            ToBudgetActor::Extend { allocation_id, expires_at } => {
                // Missing here but held in storage (the engine tells only budgets that hold
                // a part): the sweep dropped it a moment before the new lease arrived. Read
                // storage again so the reservation counts. With a shared database this
                // daemon never holds other daemons' holds in memory: the database counts them.
                if !Self::extend(state, allocation_id, expires_at) && !self.repo.is_shared() {
                    self.rebuild_keeping_in_flight(state).await?;
                }
            }
            ToBudgetActor::Settle { request, reply } => {
                let result = guarded(self.settle(state, request)).await;
                let result = self.recover_if_panicked(state, result).await?;
                if let Err(ractor::MessagingErr::SendErr(Ok(outcome))) = reply.send(result) {
                    // The caller gave up: nobody will write this settle or confirm it, so take
                    // it back (as a reserve is), which also ends its windows' in-flight state.
                    Self::unsettle(state, outcome.charges, outcome.hold_shrinks);
                }
            }
            ToBudgetActor::Update { budget, seq } => {
                if seq > state.budget_seq {
                    state.clocks = clocks_for(&budget, self.default_tz);
                    state.budget = budget;
                    state.budget_seq = seq;
                }
            }
            ToBudgetActor::Reload => {
                let seq = state.budget_seq;
                *state = self.rebuild(state.budget.clone()).await?;
                state.budget_seq = seq;
            }
            ToBudgetActor::Sweep => self.sweep(state),
            #[cfg(any(test, feature = "testing"))]
            ToBudgetActor::CachedWindows(reply) => {
                let _ = reply.send(state.windows.len());
            }
            ToBudgetActor::Unsettle { charges, hold_shrinks } => Self::unsettle(state, charges, hold_shrinks),
            ToBudgetActor::SettleDone { windows } => {
                for key in &windows {
                    Self::settle_finished(state, key);
                }
            }
            ToBudgetActor::Status { at, context_id, call, reply } => {
                let result = guarded(self.status(state, at, context_id.as_deref(), call.as_ref())).await;
                let result = self.recover_if_panicked(state, result).await?;
                let _ = reply.send(result);
            }
            #[cfg(any(test, feature = "testing"))]
            ToBudgetActor::Crash => return Err("fault injected: crash requested".into()),
            #[cfg(any(test, feature = "testing"))]
            ToBudgetActor::PanicInRequest(reply) => {
                let result = guarded(async { panic!("fault injected: a request panicked") }).await;
                let _ = reply.send(self.recover_if_panicked(state, result).await?);
            }
        }
        Ok(())
    }
}
