//! One BudgetActor driven message by message, so that orders the engine only produces under
//! load (a write failing after a later usage settled, a sweep while a write is in flight)
//! happen every time.

use std::str::FromStr;
use std::sync::Arc;

use ractor::{Actor, ActorRef};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::BudgetActor;
use super::messages::{ReserveRequest, SettleOutcome, SettleRequest, ToBudgetActor};
use crate::api::{CreateBudget, PolicyStatus};
use crate::domain::{Budget, CallScope, PolicySpec};
use crate::storage::Repository;
use crate::{Engine, EngineConfig};

/// A fresh SQLite database in a temporary directory (kept alive with it).
struct TestRepo {
    repo: Arc<dyn Repository>,
    _dir: tempfile::TempDir,
}

async fn sqlite() -> TestRepo {
    crate::testing::clear_of_utc_midnight();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("budget.db").display());
    let repo = crate::storage::open(&url).await.expect("open sqlite");
    TestRepo { repo, _dir: dir }
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

struct Fixture {
    actor: ActorRef<ToBudgetActor>,
    budget: Arc<Budget>,
    call: CallScope,
    repo: TestRepo,
}

/// A budget "b" for component "svc" with one daily $10 hard limit, served by a standalone
/// actor that keeps at most `window_cache_limit` windows after a sweep.
async fn fixture(window_cache_limit: usize) -> Fixture {
    fixture_with("daily:10.00:hard_limit", window_cache_limit).await
}

async fn fixture_with(policy: &str, window_cache_limit: usize) -> Fixture {
    let repo = sqlite().await;
    let engine = Engine::start(repo.repo.clone(), EngineConfig::default()).await.expect("engine starts");
    let spec = CreateBudget {
        name: "b".into(),
        component: Some("svc".into()),
        policies: vec![PolicySpec::parse_shorthand(policy).expect("shorthand")],
        ..Default::default()
    };
    let budget: Arc<Budget> = Arc::new(engine.create_budget(spec).await.expect("budget"));
    engine.shutdown().await;
    let handler = BudgetActor { repo: repo.repo.clone(), default_tz: chrono_tz::Tz::UTC, window_cache_limit };
    let (actor, _) = Actor::spawn(None, handler, budget.clone()).await.expect("actor");
    let call =
        CallScope::new("svc".into(), None, "anthropic".into(), "claude-sonnet-4-5".into(), None, None).expect("call");
    Fixture { actor, budget, call, repo }
}

impl Fixture {
    async fn reserve(&self, cost: &str, tokens: u64) -> Uuid {
        let now = chrono::Utc::now();
        let request = ReserveRequest {
            allocation_id: Uuid::now_v7(),
            call: self.call.clone(),
            at: now,
            cost: Some(dec(cost)),
            tokens,
            expires_at: now + chrono::Duration::minutes(5),
            priority: 5,
        };
        let id = request.allocation_id;
        ractor::call!(self.actor, |reply| ToBudgetActor::Reserve { request, reply })
            .expect("actor answers")
            .expect("reserved");
        id
    }

    async fn settle(&self, allocation_id: Option<Uuid>, cost: &str, tokens: u64) -> SettleOutcome {
        self.settle_at(allocation_id, cost, tokens, chrono::Utc::now()).await
    }

    async fn settle_at(
        &self,
        allocation_id: Option<Uuid>,
        cost: &str,
        tokens: u64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> SettleOutcome {
        let request = SettleRequest {
            record_id: Uuid::now_v7(),
            allocation_id,
            call: self.call.clone(),
            at,
            cost: Some(dec(cost)),
            tokens,
        };
        ractor::call!(self.actor, |reply| ToBudgetActor::Settle { request, reply })
            .expect("actor answers")
            .expect("settled")
    }

    /// The daily policy's standing (a status sweeps first).
    async fn standing(&self) -> PolicyStatus {
        let at = chrono::Utc::now();
        ractor::call!(self.actor, |reply| ToBudgetActor::Status { at, context_id: None, call: None, reply })
            .expect("actor answers")
            .expect("status")
            .remove(0)
    }
}

/// Undoing a usage whose write failed gives back what storage has, even when a later usage
/// was clamped at zero: hold 0.021, usages 0.015 then 0.015 (the second only finds 0.006
/// left), the first one's write fails — storage holds 0.021 − 0.015 = 0.006, and so must
/// memory (giving back "what the first one took", 0.015, would over-reserve).
#[tokio::test]
async fn undoing_a_usage_after_a_clamped_one_leaves_what_storage_has() {
    let f = fixture(10_000).await;
    let allocation = f.reserve("0.021", 3000).await;
    let first = f.settle(Some(allocation), "0.015", 2440).await;
    let _second = f.settle(Some(allocation), "0.015", 2440).await;
    assert_eq!(f.standing().await.reserved, Decimal::ZERO, "both usages together exceed the hold");
    f.actor
        .cast(ToBudgetActor::Unsettle { charges: first.charges, hold_shrinks: first.hold_shrinks })
        .expect("unsettle");
    let standing = f.standing().await;
    assert_eq!(standing.reserved, dec("0.006"));
    assert_eq!(standing.settled, dec("0.015"));
}

/// A window whose usage is settled in memory but not yet written is not evicted by a sweep:
/// re-read from storage it would lack that usage. Once the write is done it may go.
#[tokio::test]
async fn a_window_with_a_write_in_flight_is_not_evicted() {
    // Any window beyond none is over the limit, so every sweep evicts what it may.
    let f = fixture(0).await;
    let settled = f.settle(None, "0.50", 1000).await;
    // No write happens here: storage never gets this charge, as if the write were still
    // queued. The status's sweep must keep the window.
    assert_eq!(f.standing().await.settled, dec("0.50"));
    let windows = settled.charges.iter().map(|c| (c.policy_id, c.window_key.clone())).collect();
    f.actor.cast(ToBudgetActor::SettleDone { windows }).expect("done");
    // Now the window may go, and is read back from storage (which, in this test, has nothing).
    assert_eq!(f.standing().await.settled, Decimal::ZERO);
}

/// A settle whose caller went away before the answer (its future was dropped) is taken back
/// at once, as a reserve is: nobody will write it or confirm it, so its window must neither
/// count the charge nor stay "in flight" (and so unevictable) for ever.
#[tokio::test]
async fn a_settle_whose_reply_cannot_be_delivered_is_undone() {
    let f = fixture(0).await;
    let (reply, answer) = tokio::sync::oneshot::channel();
    drop(answer);
    let request = SettleRequest {
        record_id: Uuid::now_v7(),
        allocation_id: None,
        call: f.call.clone(),
        at: chrono::Utc::now(),
        cost: Some(dec("0.50")),
        tokens: 1000,
    };
    f.actor.cast(ToBudgetActor::Settle { request, reply: reply.into() }).expect("sent");
    // The status's sweep evicts what it may (limit 0): a window left in flight would stay.
    assert_eq!(f.standing().await.settled, Decimal::ZERO, "the undelivered settle is not counted");
    f.actor.cast(ToBudgetActor::Sweep).expect("sweep");
    let cached = ractor::call!(f.actor, ToBudgetActor::CachedWindows).expect("count");
    assert_eq!(cached, 0, "the window is no longer in flight, so a sweep evicts it");
}

/// Updates carry a sequence number: a copy of an older version arriving after a newer one
/// (the engine sends each both directly and through the supervisor) is ignored.
#[tokio::test]
async fn an_older_budget_version_arriving_late_is_ignored() {
    let f = fixture(10_000).await;
    let with_limit = |limit: &str| {
        let mut b = (*f.budget).clone();
        b.policies[0].cost_limit = Some(dec(limit));
        Arc::new(b)
    };
    f.actor.cast(ToBudgetActor::Update { budget: with_limit("2.00"), seq: 1 }).expect("v1");
    f.actor.cast(ToBudgetActor::Update { budget: with_limit("3.00"), seq: 2 }).expect("v2");
    f.actor.cast(ToBudgetActor::Update { budget: with_limit("2.00"), seq: 1 }).expect("v1 again, late");
    assert_eq!(f.standing().await.limit, Some(dec("3.00")));
}

/// A window first read while a hold's shrink is not yet in storage counts the hold as this
/// actor has it, not as storage does. Here a stored hold of 1.00 is loaded at a rebuild, a
/// usage dated yesterday (so today's window is not touched) shrinks it by 0.30 in memory
/// only, and then today's window is read for the first time: 0.70 is held, not 1.00.
#[tokio::test]
async fn a_window_read_after_a_shrink_counts_the_hold_as_the_actor_has_it() {
    use crate::domain::Hold;
    use crate::domain::{Allocation, AllocationStatus};
    use crate::storage::WriteOp;
    let f = fixture(10_000).await;
    let today = f.standing().await;
    let now = crate::domain::now();
    let allocation = Allocation {
        id: Uuid::now_v7(),
        component: "svc".into(),
        context_id: None,
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        task_type: None,
        tier: "remote_heavyweight".into(),
        priority: 5,
        reserved_cost: dec("1.00"),
        reserved_tokens: 1000,
        priced: true,
        used_cost: Decimal::ZERO,
        used_tokens: 0,
        status: AllocationStatus::Active,
        budgets: vec![f.budget.id],
        created_at: now,
        expires_at: now + chrono::Duration::minutes(5),
        released_at: None,
    };
    let hold = Hold {
        allocation_id: allocation.id,
        policy_id: today.policy_id,
        budget_id: f.budget.id,
        window_key: today.window_key.clone(),
        cost: dec("1.00"),
        tokens: 1000,
        expires_at: allocation.expires_at,
    };
    f.repo
        .repo
        .write(WriteOp::Allocate { allocation: allocation.clone(), holds: vec![hold], checks: vec![] })
        .await
        .expect("stored");
    // Rebuild from storage: the actor now has the hold, and no window cached.
    f.actor.cast(ToBudgetActor::Reload).expect("reload");
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    f.settle_at(Some(allocation.id), "0.30", 300, yesterday).await;
    let standing = f.standing().await;
    assert_eq!((standing.reserved, standing.tokens_reserved), (dec("0.70"), 700));
}

/// A cost limit of a tiny fraction of a cent makes settled ÷ limit overflow a decimal: the
/// policy is simply exceeded, and the actor keeps answering (it used to panic, restart from
/// the same totals and panic again).
#[tokio::test]
async fn a_tiny_limit_is_exceeded_not_a_panic() {
    let f = fixture_with("daily:0.0000000000000000000000000001:warn", 10_000).await;
    let outcome = f.settle(None, "8.00", 1000).await;
    assert_eq!(outcome.statuses[0].state, "exceeded");
    assert_eq!(f.standing().await.state, "exceeded");
}
