//! Engine tests through the typed handle, each against SQLite and PostgreSQL: enforcement,
//! concurrency, settle/release, idempotency, restarts, expiry, versioned prices.

mod common;

use chrono::Duration;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;

use budget_actors::api::*;
use budget_actors::domain::{AllocationStatus, PolicySpec, now};
use budget_actors::{Engine, EngineError};
use common::TestRepo;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn budget(name: &str, component: &str, policies: &[&str]) -> CreateBudget {
    CreateBudget {
        name: name.into(),
        component: Some(component.into()),
        policies: policies.iter().map(|p| PolicySpec::parse_shorthand(p).expect("shorthand")).collect(),
        ..Default::default()
    }
}

fn by_amount(component: &str, amount: &str) -> AllocationRequest {
    AllocationRequest {
        component: component.into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        amount: Some(dec(amount)),
        ..Default::default()
    }
}

fn by_tokens(component: &str, input: u64, output: u64) -> AllocationRequest {
    AllocationRequest {
        component: component.into(),
        context_id: Some("ctx1".into()),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        input_tokens: Some(input),
        max_output_tokens: Some(output),
        ..Default::default()
    }
}

fn usage_for(allocation: uuid::Uuid, input: u64, output: u64) -> UsageRequest {
    UsageRequest {
        allocation_id: Some(allocation),
        input_tokens: Some(input),
        output_tokens: Some(output),
        ..Default::default()
    }
}

async fn status(engine: &Engine, name: &str) -> PolicyStatus {
    engine.budget_status(name, &StatusQuery::default()).await.expect("status").policies.remove(0)
}

/// The tour: reserve, settle to the exact cost, release the rest.
async fn reserve_settle_release(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("rhetor", "rhetor", &["daily:5.00:hard_limit"])).await.expect("budget");
    let grant = engine.allocate(by_tokens("rhetor", 2000, 1000)).await.expect("granted");
    // claude-sonnet-4-5: $3/M input, $15/M output → 2000×0.000003 + 1000×0.000015
    assert_eq!(grant.reserved_cost, dec("0.021"));
    assert_eq!(status(&engine, "rhetor").await.reserved, dec("0.021"));

    let recorded = engine.record_usage(usage_for(grant.id, 1800, 640)).await.expect("recorded");
    assert_eq!(recorded.cost, Some(dec("0.015")));
    assert!(recorded.created);
    let s = status(&engine, "rhetor").await;
    assert_eq!(s.settled, dec("0.015"));
    assert_eq!(s.reserved, dec("0.006"), "the hold shrank by the actual cost");
    assert_eq!(s.remaining, Some(dec("4.979")));

    let released = engine.release(grant.id).await.expect("released");
    assert_eq!(released.status, AllocationStatus::Released);
    assert_eq!(released.used_cost, dec("0.015"));
    let s = status(&engine, "rhetor").await;
    assert_eq!((s.settled, s.reserved), (dec("0.015"), Decimal::ZERO));
    // Releasing twice is harmless.
    engine.release(grant.id).await.expect("release again");
    engine.shutdown().await;
}

/// A listed allocation carries what its usage records add up to, filtered or not.
async fn listed_allocations_carry_their_usage(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:50.00:hard_limit"])).await.expect("budget");
    let first = engine.allocate(by_tokens("svc", 2000, 1000)).await.expect("first");
    let second = engine.allocate(by_tokens("svc", 2000, 1000)).await.expect("second");
    let unused = engine.allocate(by_tokens("svc", 2000, 1000)).await.expect("unused");
    engine.record_usage(usage_for(first.id, 1800, 640)).await.expect("one");
    engine.record_usage(usage_for(first.id, 1800, 640)).await.expect("two");
    engine.record_usage(usage_for(second.id, 100, 10)).await.expect("three");
    engine.release(second.id).await.expect("released");

    let listed =
        engine.list_allocations(&AllocationsQuery { limit: Some(10), ..Default::default() }).await.expect("list");
    let used = |list: &[budget_actors::domain::Allocation], id| {
        list.iter().find(|a| a.id == id).map(|a| (a.used_cost, a.used_tokens))
    };
    assert_eq!(listed.len(), 3);
    assert_eq!(used(&listed, first.id), Some((dec("0.030"), 4880)));
    // 100 × $3/M + 10 × $15/M
    assert_eq!(used(&listed, second.id), Some((dec("0.00045"), 110)));
    assert_eq!(used(&listed, unused.id), Some((Decimal::ZERO, 0)));

    let active = engine
        .list_allocations(&AllocationsQuery { status: Some("active".into()), limit: Some(10), ..Default::default() })
        .await
        .expect("active");
    assert_eq!(active.iter().map(|a| a.id).collect::<Vec<_>>(), vec![unused.id, first.id], "newest first");
    assert_eq!(used(&active, first.id), Some((dec("0.030"), 4880)));
    // A page of one is the newest, with its own usage only.
    let page = engine.list_allocations(&AllocationsQuery { limit: Some(1), ..Default::default() }).await.expect("page");
    assert_eq!(page.len(), 1);
    assert_eq!(used(&page, unused.id), Some((Decimal::ZERO, 0)));
    engine.shutdown().await;
}

/// Past session windows do not pile up in memory: above the cache limit a sweep drops the
/// windows no lease holds, and a dropped window is read back from storage when used again.
async fn the_window_cache_is_bounded_and_reread(t: TestRepo) {
    let config = budget_actors::EngineConfig {
        window_cache_limit: 4,
        // No background sweep in the middle of the counting below.
        sweep_interval: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    let engine = Engine::start(t.repo.clone(), config).await.expect("engine");
    engine.create_budget(budget("sessions", "svc", &["per_session:0.05:hard_limit"])).await.expect("budget");
    for i in 0..10 {
        let context = Some(format!("s{i}"));
        let grant = engine
            .allocate(AllocationRequest { context_id: context, ..by_tokens("svc", 2000, 1000) })
            .await
            .expect("granted");
        engine.record_usage(usage_for(grant.id, 1800, 640)).await.expect("recorded"); // $0.015
        engine.release(grant.id).await.expect("released");
    }
    assert_eq!(engine.cached_windows("sessions").await.expect("count"), 10, "one window per session");
    // Ten windows are over the limit and no lease holds any, so a sweep drops them all. (The
    // sweep reaches the actor through the supervisor, hence the wait.)
    engine.sweep_expired().await.expect("sweep");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while engine.cached_windows("sessions").await.expect("count") != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the sweep did not drop the unheld windows");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let standing = engine
        .budget_status("sessions", &StatusQuery { context_id: Some("s0".into()), at: None })
        .await
        .expect("status");
    assert_eq!(standing.policies[0].settled, dec("0.015"));
    // The window is read back when used: 0.015 + 0.021 fits under 0.05, another 0.021 not.
    let s0 = || AllocationRequest { context_id: Some("s0".into()), ..by_tokens("svc", 2000, 1000) };
    engine.allocate(s0()).await.expect("fits");
    assert!(matches!(engine.allocate(s0()).await, Err(EngineError::BudgetExceeded(_))));
    engine.shutdown().await;
}

/// Callers that give up mid-call (a client disconnect drops the request's future) leave the
/// budget's memory and storage agreeing: what is held is what stored active allocations
/// reserve, and what is settled is what stored usage records cost.
async fn abandoned_calls_leave_memory_and_storage_agreeing(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1000.00:hard_limit"])).await.expect("budget");
    let mut granted = Vec::new();
    for _ in 0..20 {
        granted.push(engine.allocate(by_tokens("svc", 2000, 1000)).await.expect("granted").id);
    }
    // The worst moment to go away: the actor has reserved (or settled) in memory and answered,
    // and the caller never reads the answer. Polled once by hand, the call is waiting on the
    // actor; after a pause the actor has answered; then the call is dropped unread.
    async fn start_then_abandon<F: std::future::Future>(call: F) {
        let mut call = Box::pin(call);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        if call.as_mut().poll(&mut context).is_pending() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    for _ in 0..5 {
        start_then_abandon(engine.allocate(by_amount("svc", "0.50"))).await;
    }
    for id in &granted[..5] {
        start_then_abandon(engine.record_usage(usage_for(*id, 1800, 640))).await;
    }
    // And at other moments: give up after 0 µs to 4 ms.
    let give_up = |i: u64| std::time::Duration::from_micros(i * 97 % 4000);
    for i in 0..40 {
        let _ = tokio::time::timeout(give_up(i), engine.allocate(by_amount("svc", "0.50"))).await;
    }
    for (i, id) in granted[5..].iter().enumerate() {
        let _ = tokio::time::timeout(give_up(i as u64 * 3), engine.record_usage(usage_for(*id, 1800, 640))).await;
    }
    // The abandoned calls finish on their own; wait until both views agree and stay so.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut agreeing_in_a_row = 0;
    let mut last = None;
    while agreeing_in_a_row < 5 {
        let active = engine
            .list_allocations(&AllocationsQuery {
                status: Some("active".into()),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .expect("allocations");
        // An allocation holds what it reserved less what its usage cost, never below zero.
        let stored_held: Decimal = active.iter().map(|a| (a.reserved_cost - a.used_cost).max(Decimal::ZERO)).sum();
        let usage = engine.list_usage(&UsageQuery { limit: Some(1000), ..Default::default() }).await.expect("usage");
        let stored_settled: Decimal = usage.records.iter().filter_map(|r| r.cost).sum();
        let standing = status(&engine, "b").await;
        let now = (stored_held, stored_settled, standing.reserved, standing.settled);
        if stored_held == standing.reserved && stored_settled == standing.settled && last == Some(now) {
            agreeing_in_a_row += 1;
        } else {
            agreeing_in_a_row = 0;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "memory (held {}, settled {}) and storage (held {stored_held}, settled {stored_settled}) disagree",
            standing.reserved,
            standing.settled
        );
        last = Some(now);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    engine.shutdown().await;
}

/// 200 concurrent allocations of $0.05 against a $5.00 hard limit: exactly 100 fit.
async fn concurrent_allocations_never_exceed_the_limit(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("tight", "svc", &["daily:5.00:hard_limit"])).await.expect("budget");
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move { engine.allocate(by_amount("svc", "0.05")).await }));
    }
    let (mut granted, mut denied) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => granted += 1,
            Err(EngineError::BudgetExceeded(e)) => {
                assert_eq!(e.limit, dec("5.00"));
                assert!(e.remaining < dec("0.05"));
                denied += 1
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((granted, denied), (100, 100));
    let s = status(&engine, "tight").await;
    assert_eq!(s.reserved, dec("5.00"));
    assert_eq!(s.remaining, Some(Decimal::ZERO));
    engine.shutdown().await;
}

/// Denial names the policy and what remains; an allocation over several budgets is all or
/// nothing.
async fn multi_budget_is_all_or_nothing(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("roomy", "svc", &["monthly:100:hard_limit"])).await.expect("roomy");
    let tight = engine.create_budget(budget("tight", "svc", &["daily:0.10:hard_limit"])).await.expect("tight");
    let err = engine.allocate(by_amount("svc", "0.25")).await.expect_err("denied by tight");
    match err {
        EngineError::BudgetExceeded(e) => {
            assert_eq!(e.budget, "tight");
            assert_eq!(e.policy, tight.policies[0].id);
            assert_eq!(e.remaining, dec("0.10"));
        }
        other => panic!("expected budget_exceeded, got {other:?}"),
    }
    assert_eq!(status(&engine, "roomy").await.reserved, Decimal::ZERO, "roomy's reservation was undone");
    let ok = engine.allocate(by_amount("svc", "0.10")).await.expect("fits both");
    assert_eq!(ok.budgets.len(), 2);
    engine.shutdown().await;
}

/// Usage above the estimate is still recorded and may push a budget over, raising an alert;
/// soft limits allow and alert.
async fn overspend_is_recorded_and_alerted(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("soft", "svc", &["daily:0.01:soft_limit"])).await.expect("budget");
    let grant = engine.allocate(by_tokens("svc", 100, 100)).await.expect("soft allows");
    let r = engine.record_usage(usage_for(grant.id, 10_000, 1_000)).await.expect("recorded");
    assert_eq!(r.cost, Some(dec("0.045")));
    assert_eq!(r.budgets[0].policies[0].state, "exceeded");
    let alerts = engine.list_alerts(&AlertsQuery { limit: Some(10), ..Default::default() }).await.expect("alerts");
    assert!(alerts.iter().any(|a| a.kind == "budget_exceeded"), "{alerts:?}");
    // A soft limit still grants.
    engine.allocate(by_tokens("svc", 100, 100)).await.expect("soft still allows");
    engine.shutdown().await;
}

/// A repeated request_id returns the first record and is counted once, even concurrently.
async fn request_id_is_idempotent(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:10:hard_limit"])).await.expect("budget");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .record_usage(UsageRequest {
                    component: Some("svc".into()),
                    provider: Some("anthropic".into()),
                    model: Some("claude-sonnet-4-5".into()),
                    input_tokens: Some(1000),
                    output_tokens: Some(1000),
                    request_id: Some("retry-me".into()),
                    ..Default::default()
                })
                .await
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let r = task.await.expect("task").expect("recorded");
        ids.push(r.id);
        created += usize::from(r.created);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the first record");
    assert_eq!(created, 1);
    // Give the reload that undoes a losing duplicate's in-memory charge time to run.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(status(&engine, "b").await.settled, dec("0.018"));
    // The actor's in-memory view agrees with storage: $10 − 0.018 still fits, a cent more not.
    engine.allocate(by_amount("svc", "9.982")).await.expect("exactly the rest fits");
    assert!(engine.allocate(by_amount("svc", "0.000001")).await.is_err());
    engine.shutdown().await;
}

/// Waits (up to 30 s) until the supervisor has restarted the budget's actor once.
async fn wait_for_restart(engine: &Engine, budget_id: uuid::Uuid) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while engine.actor_restarts().await.expect("restarts").get(&budget_id) != Some(&1) {
        assert!(tokio::time::Instant::now() < deadline, "the budget actor was not restarted within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A budget actor that fails is restarted with its state rebuilt from storage.
async fn crashed_actor_restarts_from_storage(t: TestRepo) {
    let engine = common::engine(&t).await;
    let b = engine.create_budget(budget("b", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    engine.allocate(by_amount("svc", "0.60")).await.expect("first");
    engine.crash_budget_actor("b").await.expect("crash");
    wait_for_restart(&engine, b.id).await;
    // The rebuilt actor still knows the 0.60 hold: 0.50 more does not fit, 0.40 does.
    assert!(matches!(engine.allocate(by_amount("svc", "0.50")).await, Err(EngineError::BudgetExceeded(_))));
    engine.allocate(by_amount("svc", "0.40")).await.expect("fits");
    engine.shutdown().await;
}

/// A request that panics inside a budget's actor costs that request an internal error, not
/// the budget: more panics than the restart intensity allows leave the actor serving, with
/// no restart counted and its holds intact.
async fn a_panicking_request_does_not_take_the_budget_away(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    engine.allocate(by_amount("svc", "0.60")).await.expect("first");
    for _ in 0..(budget_actors::budgets::MAX_RESTARTS + 3) {
        let err = engine.panic_in_budget_actor("b").await.expect_err("the panicking request fails");
        assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    }
    assert!(engine.actor_restarts().await.expect("restarts").is_empty(), "no restart was counted");
    // The cache rebuilt after each panic still knows the 0.60 hold.
    assert!(matches!(engine.allocate(by_amount("svc", "0.50")).await, Err(EngineError::BudgetExceeded(_))));
    engine.allocate(by_amount("svc", "0.40")).await.expect("fits");
    engine.shutdown().await;
}

/// Changes to one budget at once: two that succeed both stay (each read the catalogue, wrote,
/// and put its copy back, so one was lost in memory); one racing the budget's deletion is a
/// NotFound (404), never a storage error (a policy written for a deleted budget failed its
/// foreign key, a 500), and the deleted budget never comes back.
async fn concurrent_catalogue_changes_all_stay_and_a_delete_wins(t: TestRepo) {
    let engine = common::engine(&t).await;
    for i in 0..20 {
        let name = format!("b{i}");
        let b = engine.create_budget(budget(&name, "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
        let policy = b.policies[0].id;
        // Two changes at once both stay: each is a read-modify-write of the catalogue.
        let monthly = PolicySpec::parse_shorthand("monthly:9:warn").expect("policy");
        let (added, described) = tokio::join!(
            engine.add_policy(&name, monthly),
            engine.update_budget(&name, UpdateBudget { owner: Some("ops".into()), ..Default::default() }),
        );
        added.expect("added");
        described.expect("described");
        let now_known = engine.get_budget(&name).await.expect("budget");
        assert_eq!((now_known.policies.len(), now_known.owner.as_deref()), (2, Some("ops")), "a change was lost");
        let weekly = PolicySpec::parse_shorthand("weekly:5:warn").expect("policy");
        // The delete goes first, so the others read the budget before it is gone and write
        // after.
        let (deleted, updated, added, described) = tokio::join!(
            engine.delete_budget(&name),
            engine.update_policy(policy, UpdatePolicy { cost_limit: Some(dec("2")), ..Default::default() }),
            engine.add_policy(&name, weekly),
            engine.update_budget(&name, UpdateBudget { description: Some("d".into()), ..Default::default() }),
        );
        deleted.expect("delete");
        for result in [updated.map(drop), added.map(drop), described.map(drop)] {
            if let Err(e) = result {
                assert!(matches!(e, EngineError::NotFound { .. }), "{e:?}");
            }
        }
        assert!(engine.get_budget(&name).await.is_err(), "the deleted budget {name} came back");
        assert!(engine.list_budgets().await.expect("list").iter().all(|b| b.name != name));
    }
    engine.shutdown().await;
}

/// Alerts of one kind, waiting (up to 10 s) for background writes to land.
async fn alerts_of(engine: &Engine, kind: &str, at_least: usize) -> Vec<budget_actors::domain::Alert> {
    let query = AlertsQuery { kind: Some(kind.into()), ..Default::default() };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let alerts = engine.list_alerts(&query).await.expect("alerts");
        if alerts.len() >= at_least || tokio::time::Instant::now() > deadline {
            // Give any other write in flight the time to land too.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            return engine.list_alerts(&query).await.expect("alerts");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A refused allocation is alerted once per policy window however often it is refused, and
/// leases that run out without a release once a day.
async fn denials_and_expired_leases_are_alerted_once(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    // Long enough that neither the lease nor the background sweeper ends it during the
    // denials; then both leases run out.
    let lease = AllocationRequest { ttl_seconds: Some(3), ..by_amount("svc", "0.60") };
    let grant = engine.allocate(lease).await.expect("first");
    for _ in 0..3 {
        assert!(matches!(engine.allocate(by_amount("svc", "0.50")).await, Err(EngineError::BudgetExceeded(_))));
    }
    let denied = alerts_of(&engine, "allocation_denied", 1).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].details["remaining"], "0.40", "{:?}", denied[0]);

    let second = engine.allocate(AllocationRequest { ttl_seconds: Some(1), ..by_amount("svc", "0.10") }).await;
    let last_expiry = second.expect("second").expires_at.max(grant.expires_at);
    let until = (last_expiry - now()).to_std().unwrap_or_default();
    tokio::time::sleep(until + std::time::Duration::from_millis(200)).await;
    // The background sweeper may have expired either lease already; any sweep raises the
    // day's one alert.
    engine.sweep_expired().await.expect("sweep");
    let expired = alerts_of(&engine, "allocation_expired", 1).await;
    assert_eq!(expired.len(), 1, "two leases ran out, one alert for the day: {expired:?}");
    engine.shutdown().await;
}

/// A record that makes the window's run-rate reach the limit before the window ends raises
/// one `budget_projected_to_exceed`; not again while the run-rate stays there, and not in the
/// first tenth of a window, where one call would project anything.
async fn a_run_rate_past_the_limit_is_alerted_once(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1000t:soft_limit"])).await.expect("budget");
    let at = |text: &str| chrono::DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&chrono::Utc);
    let usage = |tokens: u64, when: &str| UsageRequest {
        allocation_id: None,
        component: Some("svc".into()),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4-5".into()),
        timestamp: Some(at(when)),
        ..usage_for(uuid::Uuid::now_v7(), tokens, 0)
    };
    // Half the day gone: 300 of 1000 projects 600, 550 projects 1100 (the alert), 600 1200.
    for tokens in [300, 250, 50] {
        engine.record_usage(usage(tokens, "2026-11-30T12:00:00Z")).await.expect("usage");
    }
    // An hour into another day (4 % of it): 900 tokens project far past the limit, but it is
    // too early to say.
    engine.record_usage(usage(900, "2026-11-29T01:00:00Z")).await.expect("usage");
    let projected = engine
        .list_alerts(&AlertsQuery { kind: Some("budget_projected_to_exceed".into()), ..Default::default() })
        .await
        .expect("alerts");
    assert_eq!(projected.len(), 1, "{projected:#?}");
    assert_eq!(projected[0].details["window"], "2026-11-30T00:00:00+00:00");
    assert_eq!(projected[0].details["projected_share"], "1.10");
    engine.shutdown().await;
}

/// An expired lease is released by the engine on its own; no reservation leaks.
async fn expired_leases_are_released(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    // Long enough that the background sweeper cannot expire it before the next line on a busy
    // machine; then wait for the grant's own expiry rather than a fixed time.
    let grant =
        engine.allocate(AllocationRequest { ttl_seconds: Some(3), ..by_amount("svc", "1.00") }).await.expect("granted");
    assert!(engine.allocate(by_amount("svc", "0.01")).await.is_err(), "budget is fully held");
    let until_expiry = (grant.expires_at - now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_expiry + std::time::Duration::from_millis(200)).await;
    engine.sweep_expired().await.expect("sweep");
    let a = engine.get_allocation(grant.id).await.expect("allocation");
    assert_eq!(a.status, AllocationStatus::Expired);
    assert_eq!(status(&engine, "b").await.reserved, Decimal::ZERO);
    engine.allocate(by_amount("svc", "1.00")).await.expect("the whole budget is free again");
    engine.shutdown().await;
}

/// A model with no price is never $0: hard cost limits refuse it unless allowed; usage is
/// kept with cost null and an alert.
async fn unpriced_models_are_never_free(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    let unknown = AllocationRequest { model: "no-such-model-xyz".into(), ..by_tokens("svc", 10, 10) };
    assert!(matches!(engine.allocate(unknown.clone()).await, Err(EngineError::Unpriced(_))));
    let r = engine
        .record_usage(UsageRequest {
            component: Some("svc".into()),
            provider: Some("anthropic".into()),
            model: Some("no-such-model-xyz".into()),
            input_tokens: Some(10),
            output_tokens: Some(10),
            ..Default::default()
        })
        .await
        .expect("recorded");
    assert_eq!((r.cost, r.priced), (None, false));
    assert!(
        engine
            .list_alerts(&AlertsQuery { limit: Some(10), ..Default::default() })
            .await
            .expect("alerts")
            .iter()
            .any(|a| a.kind == "unpriced_model")
    );
    let policy = engine.get_budget("b").await.expect("budget").policies[0].id;
    engine
        .update_policy(policy, UpdatePolicy { allow_unpriced: Some(true), ..Default::default() })
        .await
        .expect("allow");
    let grant = engine.allocate(unknown).await.expect("allowed now");
    assert!(!grant.priced);
    engine.shutdown().await;
}

/// A manual price applies from its effective time; earlier usage keeps the old price.
async fn usage_is_priced_with_the_version_in_force(t: TestRepo) {
    let engine = common::engine(&t).await;
    let change = now() - Duration::hours(1);
    engine
        .set_price(
            "anthropic",
            "claude-sonnet-4-5",
            SetPrice {
                input_cost_per_million: Some(dec("1")),
                output_cost_per_million: Some(dec("2")),
                effective_from: Some(change),
                ..Default::default()
            },
        )
        .await
        .expect("set price");
    let record = |minutes_ago: i64| UsageRequest {
        component: Some("svc".into()),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4-5".into()),
        input_tokens: Some(1_000_000),
        output_tokens: Some(1_000_000),
        timestamp: Some(now() - Duration::minutes(minutes_ago)),
        ..Default::default()
    };
    let before = engine.record_usage(record(120)).await.expect("before");
    let after = engine.record_usage(record(30)).await.expect("after");
    assert_eq!(before.cost, Some(dec("18")), "built-in $3 + $15 per million");
    assert_eq!(after.cost, Some(dec("3")), "manual $1 + $2 per million");
    engine.shutdown().await;
}

both_backends!(
    reserve_settle_release,
    concurrent_allocations_never_exceed_the_limit,
    multi_budget_is_all_or_nothing,
    overspend_is_recorded_and_alerted,
    request_id_is_idempotent,
    crashed_actor_restarts_from_storage,
    a_panicking_request_does_not_take_the_budget_away,
    concurrent_catalogue_changes_all_stay_and_a_delete_wins,
    denials_and_expired_leases_are_alerted_once,
    a_run_rate_past_the_limit_is_alerted_once,
    expired_leases_are_released,
    unpriced_models_are_never_free,
    usage_is_priced_with_the_version_in_force,
    listed_allocations_carry_their_usage,
    the_window_cache_is_bounded_and_reread,
    abandoned_calls_leave_memory_and_storage_agreeing,
);

/// Two engines (two daemons) sharing one PostgreSQL database hold one limit between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn two_instances_share_one_limit_on_postgres() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    a.create_budget(budget("shared", "svc", &["daily:5.00:hard_limit"])).await.expect("budget");
    let second_repo = budget_actors::storage::open(&first.url).await.expect("second connection");
    let b = Engine::start(second_repo, budget_actors::EngineConfig::default()).await.expect("second engine");
    let engines = Arc::new([a.clone(), b.clone()]);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let engines = engines.clone();
        tasks.push(tokio::spawn(async move { engines[i % 2].allocate(by_amount("svc", "0.05")).await.is_ok() }));
    }
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("task"));
    }
    assert_eq!(granted, 100, "the database serializes the two daemons");
    let s = status(&a, "shared").await;
    assert_eq!(s.reserved, dec("5.00"));
    a.shutdown().await;
    b.shutdown().await;
}

/// Two daemons on one PostgreSQL database judge a crossing on the database sums after their
/// commit, so two usages committed at once can both see the window cross 80 %: the alert is
/// stored once between them (its key is the kind, the policy and the window). Each round is a
/// fresh per-session window, crossed by two concurrent usages, one per daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn a_crossing_seen_by_two_daemons_is_one_alert() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    a.create_budget(budget("shared", "svc", &["per_session:1000t:warn"])).await.expect("budget");
    let second_repo = budget_actors::storage::open(&first.url).await.expect("second connection");
    let b = Engine::start(second_repo, budget_actors::EngineConfig::default()).await.expect("second engine");
    let tokens = |context: &str| UsageRequest {
        allocation_id: None,
        component: Some("svc".into()),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4-5".into()),
        context_id: Some(context.into()),
        ..usage_for(uuid::Uuid::now_v7(), 450, 0)
    };
    const ROUNDS: usize = 25;
    for round in 0..ROUNDS {
        let context = format!("ctx-{round}");
        let (from_a, from_b) = tokio::join!(a.record_usage(tokens(&context)), b.record_usage(tokens(&context)));
        from_a.expect("a");
        from_b.expect("b");
    }
    let warnings = a
        .list_alerts(&AlertsQuery { kind: Some("budget_warning".into()), limit: Some(1000), ..Default::default() })
        .await
        .expect("alerts");
    assert_eq!(warnings.len(), ROUNDS, "one warning per window crossed: {warnings:#?}");
    a.shutdown().await;
    b.shutdown().await;
}

/// Times at the far ends of chrono's range (the reproduction: a monthly policy in
/// Pacific/Kiritimati, an hourly one in Asia/Tokyo) are refused at the door, naming the
/// field, instead of panicking the budget's actor; the budget keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_outside_the_documented_window_are_refused_not_a_panic() {
    let repo = common::sqlite().await;
    let engine = common::engine(&repo).await;
    let mut monthly = PolicySpec::parse_shorthand("monthly:5.00:hard_limit").expect("policy");
    monthly.timezone = Some("Pacific/Kiritimati".into());
    let mut hourly = PolicySpec::parse_shorthand("hourly:5.00:hard_limit").expect("policy");
    hourly.timezone = Some("Asia/Tokyo".into());
    let spec = CreateBudget {
        name: "far".into(),
        component: Some("svc".into()),
        policies: vec![monthly, hourly],
        ..Default::default()
    };
    engine.create_budget(spec).await.expect("budget");
    // The ends of chrono's range, as the issue's `at=-262143-01-01T00:00:00Z` and
    // `at=+262142-12-31T23:59:59Z` parse to.
    let (earliest, latest) = (chrono::DateTime::<chrono::Utc>::MIN_UTC, chrono::DateTime::<chrono::Utc>::MAX_UTC);
    for (at, field) in [(earliest, "at"), (latest, "at")] {
        let text = at.to_rfc3339();
        let query = StatusQuery { at: Some(at), ..Default::default() };
        match engine.budget_status("far", &query).await {
            Err(EngineError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{text}: expected a 400 naming {field}, got {other:?}"),
        }
    }
    for _ in 0..10 {
        let mut usage = usage_for(uuid::Uuid::now_v7(), 10, 10);
        usage.allocation_id = None;
        usage.component = Some("svc".into());
        usage.provider = Some("anthropic".into());
        usage.model = Some("claude-sonnet-4-5".into());
        usage.timestamp = Some(earliest);
        let err = engine.record_usage(usage).await.expect_err("refused");
        assert!(matches!(err, EngineError::Invalid { ref field, .. } if field == "timestamp"), "{err:?}");
    }
    // Nothing reached the actor: it has not failed, and the budget still serves.
    assert!(engine.actor_restarts().await.expect("restarts").is_empty());
    let ok = engine.budget_status("far", &StatusQuery::default()).await.expect("status");
    assert_eq!(ok.policies.len(), 2);
    engine.shutdown().await;
}

/// Every read of the catalogue or of prices is current across daemons sharing a database:
/// a policy by id, a price and an estimate read on one daemon see what another just changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn reads_on_another_daemon_are_current() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    let b = Engine::start(budget_actors::storage::open(&first.url).await.expect("open"), Default::default())
        .await
        .expect("second engine");
    let created = a.create_budget(budget("shared", "svc", &["daily:5.00:hard_limit"])).await.expect("budget");
    let policy = b.get_policy(created.policies[0].id).await.expect("b sees a's new policy");
    assert_eq!(policy.cost_limit, Some(dec("5.00")));
    let price = SetPrice {
        input_cost_per_million: Some(dec("1")),
        output_cost_per_million: Some(dec("2")),
        ..Default::default()
    };
    a.set_price("acme", "m1", price).await.expect("manual price on a");
    assert!(b.show_price("acme", "m1").await.is_ok(), "b sees a's manual price");
    let estimate = b
        .estimate(EstimateRequest {
            provider: "acme".into(),
            model: "m1".into(),
            input_tokens: Some(1_000_000),
            output_tokens: Some(1_000_000),
            ..Default::default()
        })
        .await
        .expect("estimate on b");
    assert_eq!(estimate.cost, Some(dec("3")));
    a.shutdown().await;
    b.shutdown().await;
}

/// Usage recorded on another daemon than the one that reserved still shrinks the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn settling_on_another_daemon_shrinks_the_hold() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    a.create_budget(budget("shared", "svc", &["daily:5.00:hard_limit"])).await.expect("budget");
    let b = Engine::start(budget_actors::storage::open(&first.url).await.expect("open"), Default::default())
        .await
        .expect("second engine");
    let grant = a.allocate(by_amount("svc", "0.50")).await.expect("granted on a");
    let r = b.record_usage(usage_for(grant.id, 1000, 100)).await.expect("recorded on b");
    assert_eq!(r.cost, Some(dec("0.0045")));
    for engine in [&a, &b] {
        let s = status(engine, "shared").await;
        assert_eq!((s.settled, s.reserved), (dec("0.0045"), dec("0.4955")));
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Crossing the warning threshold, then the action threshold, then the limit raises one
/// alert each.
async fn thresholds_raise_one_alert_each(t: TestRepo) {
    let engine = common::engine(&t).await;
    engine.create_budget(budget("b", "svc", &["daily:1.00:soft_limit"])).await.expect("budget");
    let spend = |dollars: &str| UsageRequest {
        component: Some("svc".into()),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4-5".into()),
        // $3 per million input tokens.
        input_tokens: Some((dec(dollars) * Decimal::from(1_000_000) / Decimal::from(3)).try_into().expect("u64")),
        output_tokens: Some(0),
        // An hour into a past day: too early in the window for a run-rate projection, so the
        // alerts are the thresholds' alone whatever the hour the test runs.
        timestamp: Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-30T01:00:00Z").expect("time").with_timezone(&chrono::Utc),
        ),
        ..Default::default()
    };
    engine.record_usage(spend("0.81")).await.expect("to 81%");
    engine.record_usage(spend("0.03")).await.expect("to 84%, nothing new");
    engine.record_usage(spend("0.12")).await.expect("to 96%");
    engine.record_usage(spend("0.06")).await.expect("to 102%");
    let mut kinds: Vec<String> = engine
        .list_alerts(&AlertsQuery { limit: Some(10), ..Default::default() })
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.kind.to_string())
        .collect();
    kinds.reverse();
    assert_eq!(kinds, ["budget_warning", "budget_action_threshold", "budget_exceeded"]);
    engine.shutdown().await;
}

both_backends!(thresholds_raise_one_alert_each);

/// A release made through another daemon frees the budget for the daemon that allocated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn a_release_on_another_daemon_frees_the_budget_everywhere() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    a.create_budget(budget("shared", "svc", &["daily:1.00:hard_limit"])).await.expect("budget");
    let b = Engine::start(budget_actors::storage::open(&first.url).await.expect("open"), Default::default())
        .await
        .expect("second engine");
    let grant = a.allocate(by_amount("svc", "0.90")).await.expect("granted on a");
    b.release(grant.id).await.expect("released on b");
    a.allocate(by_amount("svc", "0.90")).await.expect("a sees the release: the database decides");
    assert!(matches!(b.allocate(by_amount("svc", "0.20")).await, Err(EngineError::BudgetExceeded(_))));
    a.shutdown().await;
    b.shutdown().await;
}

/// A policy changed after a budget's actor was restarted reaches the new actor.
async fn policy_changes_reach_a_restarted_actor(t: TestRepo) {
    let engine = common::engine(&t).await;
    let b = engine.create_budget(budget("b", "svc", &["daily:10.00:hard_limit"])).await.expect("budget");
    engine.allocate(by_amount("svc", "1.00")).await.expect("spawns the actor");
    engine.crash_budget_actor("b").await.expect("crash");
    wait_for_restart(&engine, b.id).await;
    engine
        .update_policy(b.policies[0].id, UpdatePolicy { cost_limit: Some(dec("1.50")), ..Default::default() })
        .await
        .expect("lower the limit");
    assert!(
        matches!(engine.allocate(by_amount("svc", "1.00")).await, Err(EngineError::BudgetExceeded(_))),
        "the lowered limit is enforced by the restarted actor"
    );
    engine.allocate(by_amount("svc", "0.50")).await.expect("what is left still fits");
    engine.shutdown().await;
}

both_backends!(policy_changes_reach_a_restarted_actor);

/// A manual price set through one daemon prices usage recorded through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn a_price_set_on_one_daemon_prices_usage_on_another() {
    let first = common::postgres().await;
    let a = common::engine(&first).await;
    let b = Engine::start(budget_actors::storage::open(&first.url).await.expect("open"), Default::default())
        .await
        .expect("second engine");
    a.set_price(
        "acme",
        "house-1",
        SetPrice {
            input_cost_per_million: Some(dec("2")),
            output_cost_per_million: Some(dec("4")),
            ..Default::default()
        },
    )
    .await
    .expect("price on a");
    let r = b
        .record_usage(UsageRequest {
            component: Some("svc".into()),
            provider: Some("acme".into()),
            model: Some("house-1".into()),
            input_tokens: Some(1_000_000),
            output_tokens: Some(1_000_000),
            ..Default::default()
        })
        .await
        .expect("recorded on b");
    assert_eq!(r.cost, Some(dec("6")), "b reloaded the price a stored");
    a.shutdown().await;
    b.shutdown().await;
}
