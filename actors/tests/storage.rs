//! Repository tests, each run against SQLite and PostgreSQL.

mod common;

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;
use uuid::Uuid;

use budget_actors::EngineError;
use budget_actors::domain::*;
use budget_actors::storage::*;
use common::TestRepo;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn budget(name: &str) -> Budget {
    let now = budget_actors::domain::now();
    let id = Uuid::now_v7();
    let policy = PolicySpec { period: "daily".into(), cost_limit: Some(dec("5.00")), ..Default::default() }
        .into_policy(id, now)
        .expect("policy");
    Budget {
        id,
        name: name.into(),
        description: Some("d".into()),
        owner: None,
        scope: ScopeFilter { component: Some("rhetor".into()), ..Default::default() },
        policies: vec![policy],
        created_at: now,
        updated_at: now,
    }
}

fn allocation(budget_id: Uuid, cost: &str, expires_in: Duration) -> Allocation {
    let now = budget_actors::domain::now();
    Allocation {
        id: Uuid::now_v7(),
        component: "rhetor".into(),
        context_id: Some("ctx".into()),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        task_type: None,
        tier: "remote_heavyweight".into(),
        priority: 5,
        reserved_cost: dec(cost),
        reserved_tokens: 100,
        priced: true,
        used_cost: Decimal::ZERO,
        used_tokens: 0,
        status: AllocationStatus::Active,
        budgets: vec![budget_id],
        created_at: now,
        expires_at: now + expires_in,
        released_at: None,
    }
}

fn record(cost: Option<&str>, request_id: Option<&str>) -> UsageRecord {
    let now = budget_actors::domain::now();
    UsageRecord {
        id: Uuid::now_v7(),
        allocation_id: None,
        component: "rhetor".into(),
        context_id: None,
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        task_type: Some("chat".into()),
        tier: "remote_heavyweight".into(),
        input_tokens: 10,
        output_tokens: 5,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        total_tokens: 15,
        cost: cost.map(dec),
        priced: cost.is_some(),
        cost_breakdown: None,
        price_ref: None,
        request_id: request_id.map(String::from),
        timestamp: now,
        recorded_at: now,
        metadata: serde_json::json!({"k": "v"}),
        budgets: vec![],
    }
}

async fn budgets_round_trip(t: TestRepo) {
    let repo = t.repo;
    let b = budget("rhetor");
    repo.insert_budget(&b).await.expect("insert");
    let listed = repo.list_budgets().await.expect("list");
    assert_eq!(listed, vec![b.clone()], "a budget reads back exactly, policies included");
    let dup = repo.insert_budget(&budget("rhetor")).await.expect_err("duplicate name");
    assert!(matches!(dup, EngineError::Conflict(_)), "{dup:?}");
    let mut changed = b.clone();
    changed.name = "renamed".into();
    repo.update_budget(&changed).await.expect("update");
    assert_eq!(repo.list_budgets().await.expect("list")[0].name, "renamed");
    repo.delete_budget(b.id).await.expect("delete");
    assert!(repo.list_budgets().await.expect("list").is_empty());
    assert!(matches!(repo.delete_budget(b.id).await, Err(EngineError::NotFound { .. })));
}

async fn holds_and_charges_sum_exactly(t: TestRepo) {
    let repo = t.repo;
    let b = budget("b");
    repo.insert_budget(&b).await.expect("insert");
    let policy = b.policies[0].id;
    let now = budget_actors::domain::now();
    let live = allocation(b.id, "0.3", Duration::minutes(5));
    let stale = allocation(b.id, "7", Duration::seconds(-1));
    for a in [&live, &stale] {
        let hold = Hold {
            allocation_id: a.id,
            policy_id: policy,
            budget_id: b.id,
            window_key: "w".into(),
            cost: a.reserved_cost,
            tokens: 100,
            expires_at: a.expires_at,
        };
        let out = repo
            .write(WriteOp::Allocate { allocation: a.clone(), holds: vec![hold], checks: vec![] })
            .await
            .expect("allocate");
        assert_eq!(out, WriteOutcome::Done);
    }
    // 0.1 + 0.2 in decimals is exactly 0.3 (in floats it would not be).
    let mut r = record(Some("0.2"), Some("req-1"));
    r.allocation_id = Some(live.id);
    let charge = Charge {
        record_id: r.id,
        policy_id: policy,
        budget_id: b.id,
        window_key: "w".into(),
        cost: dec("0.2"),
        tokens: 15,
    };
    let out = repo
        .write(WriteOp::Record {
            record: Box::new(r.clone()),
            charges: vec![charge.clone()],
            hold_shrinks: vec![HoldShrink { allocation_id: live.id, policy_id: policy, cost: dec("0.2"), tokens: 15 }],
            alerts: vec![],
        })
        .await
        .expect("record");
    assert_eq!(out, WriteOutcome::Done);
    let totals = repo.window_totals(policy, "w", now).await.expect("totals");
    assert_eq!(totals.settled_cost + totals.reserved_cost, dec("0.3"));
    assert_eq!(totals.reserved_cost, dec("0.1"), "expired holds do not count");
    assert_eq!(totals.settled_tokens, 15);
    assert_eq!(totals.reserved_tokens, 85);
    let stored = repo.get_allocation(live.id).await.expect("get").expect("exists");
    assert_eq!(stored.used_cost, dec("0.2"));
    assert_eq!(stored.used_tokens, 15);

    // The same request id again: reported as a duplicate, nothing charged twice.
    let mut again = record(Some("0.2"), Some("req-1"));
    again.id = Uuid::now_v7();
    let out = repo
        .write(WriteOp::Record {
            record: Box::new(again),
            charges: vec![Charge { record_id: Uuid::now_v7(), ..charge }],
            hold_shrinks: vec![],
            alerts: vec![],
        })
        .await
        .expect("duplicate is not an error");
    assert_eq!(out, WriteOutcome::DuplicateRequest);
    let totals = repo.window_totals(policy, "w", now).await.expect("totals");
    assert_eq!(totals.settled_cost, dec("0.2"));
    assert_eq!(repo.usage_by_request_id("req-1").await.expect("lookup").expect("found").id, r.id);

    // Closing drops the holds.
    repo.write(WriteOp::Close { allocation_id: live.id, status: AllocationStatus::Released, at: now })
        .await
        .expect("close");
    assert_eq!(repo.window_totals(policy, "w", now).await.expect("totals").reserved_cost, Decimal::ZERO);
    assert_eq!(repo.get_allocation(live.id).await.expect("get").expect("exists").status, AllocationStatus::Released);
    let expired = repo.expired_active_allocations(Utc::now()).await.expect("expired");
    assert_eq!(expired, vec![stale.id]);
}

async fn usage_pages_and_filters(t: TestRepo) {
    let repo = t.repo;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut r = record(if i == 3 { None } else { Some("0.000000000001") }, None);
        if i % 2 == 0 {
            r.provider = "openai".into();
        }
        ids.push(r.id);
        repo.write(WriteOp::Record { record: Box::new(r), charges: vec![], hold_shrinks: vec![], alerts: vec![] })
            .await
            .expect("record");
    }
    let mut seen = Vec::new();
    let mut filter = UsageFilter { limit: 3, ..Default::default() };
    loop {
        let page = repo.list_usage(&filter).await.expect("page");
        if page.is_empty() {
            break;
        }
        filter.after = page.last().map(|r| r.id);
        seen.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(seen, ids, "cursor paging returns every record once, in order");
    let openai = repo
        .list_usage(&UsageFilter { provider: Some("openai".into()), limit: 100, ..Default::default() })
        .await
        .expect("filtered");
    assert_eq!(openai.len(), 4);
    let all = repo.list_usage(&UsageFilter { limit: 100, ..Default::default() }).await.expect("all");
    assert_eq!(all[3].cost, None, "unpriced stays null, never $0");
    assert_eq!(all[0].cost, Some(dec("0.000000000001")), "tiny amounts survive exactly");
    assert_eq!(all[0].metadata, serde_json::json!({"k": "v"}));
}

async fn price_versions_close_their_predecessor(t: TestRepo) {
    let repo = t.repo;
    let t0 = Utc::now() - Duration::days(2);
    let t1 = Utc::now() - Duration::days(1);
    for (at, body) in [(t0, "{\"v\":1}"), (t1, "{\"v\":2}")] {
        repo.insert_price_version(&PriceVersionRow {
            id: Uuid::now_v7(),
            provider: "acme".into(),
            model: "m".into(),
            source: "manual".into(),
            body: body.into(),
            effective_from: at,
            effective_to: None,
            created_at: Utc::now(),
        })
        .await
        .expect("insert price");
    }
    let versions = repo.price_versions().await.expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].effective_to.map(|t| t.timestamp_micros()), Some(t1.timestamp_micros()));
    assert_eq!(versions[1].effective_to, None);
}

async fn keys_find_and_revoke(t: TestRepo) {
    let repo = t.repo;
    let info = ApiKeyInfo {
        id: Uuid::now_v7(),
        name: "ci".into(),
        role: Role::Write,
        prefix: "bgt_x".into(),
        created_at: Utc::now(),
        revoked_at: None,
    };
    repo.insert_key(&info, "hash1").await.expect("insert key");
    assert_eq!(repo.find_key("hash1").await.expect("find").map(|k| k.role), Some(Role::Write));
    assert!(repo.find_key("nope").await.expect("find").is_none());
    assert!(repo.revoke_key(info.id, Utc::now()).await.expect("revoke"));
    assert!(!repo.revoke_key(info.id, Utc::now()).await.expect("revoke twice"));
    assert!(repo.find_key("hash1").await.expect("find").expect("still listed").revoked_at.is_some());
}

both_backends!(
    budgets_round_trip,
    holds_and_charges_sum_exactly,
    usage_pages_and_filters,
    price_versions_close_their_predecessor,
    keys_find_and_revoke
);

#[tokio::test]
async fn one_daemon_per_sqlite_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("budget.db");
    let first = SqliteRepository::open(&path).await.expect("first opens");
    let second = SqliteRepository::open(&path).await.err().expect("second is refused");
    assert!(second.to_string().contains("in use by another budget daemon"), "{second}");
    drop(first);
    SqliteRepository::open(&path).await.expect("free again once the first is gone");
}

/// Shrinks of one hold leave the same stored hold whatever order their writes land in (two
/// usages of one allocation race to the writer, or arrive on two daemons), never below zero.
async fn hold_shrinks_commute(t: TestRepo) {
    let repo = t.repo;
    let b = budget("b");
    repo.insert_budget(&b).await.expect("insert");
    let policy = b.policies[0].id;
    // Two allocations of $1.00 / 1,000 tokens; the same two usages land in opposite orders.
    let mut allocations = Vec::new();
    for _ in 0..2 {
        let a = allocation(b.id, "1.00", Duration::minutes(5));
        let hold = Hold {
            allocation_id: a.id,
            policy_id: policy,
            budget_id: b.id,
            window_key: "w".into(),
            cost: dec("1.00"),
            tokens: 1000,
            expires_at: a.expires_at,
        };
        repo.write(WriteOp::Allocate { allocation: a.clone(), holds: vec![hold], checks: vec![] })
            .await
            .expect("allocate");
        allocations.push(a.id);
    }
    let usage = |allocation_id: Uuid, cost: &str, tokens: u64| {
        let mut r = record(Some(cost), None);
        r.allocation_id = Some(allocation_id);
        WriteOp::Record {
            record: Box::new(r),
            charges: vec![],
            hold_shrinks: vec![HoldShrink { allocation_id, policy_id: policy, cost: dec(cost), tokens }],
            alerts: vec![],
        }
    };
    let held = |allocation_id: Uuid| {
        let repo = repo.clone();
        async move {
            let holds = repo.allocation_holds(allocation_id, Utc::now()).await.expect("holds");
            (holds[0].cost, holds[0].tokens)
        }
    };
    let (first, second) = (allocations[0], allocations[1]);
    repo.write(usage(first, "0.20", 200)).await.expect("in order");
    repo.write(usage(first, "0.30", 300)).await.expect("in order");
    repo.write(usage(second, "0.30", 300)).await.expect("the later usage lands first");
    repo.write(usage(second, "0.20", 200)).await.expect("the earlier one after it");
    assert_eq!(held(first).await, (dec("0.50"), 500));
    assert_eq!(held(second).await, held(first).await, "either order leaves the same hold");
    // More than is left: the hold ends at zero, not below.
    repo.write(usage(first, "0.80", 800)).await.expect("overrun");
    assert_eq!(held(first).await, (Decimal::ZERO, 0));
}

both_backends!(hold_shrinks_commute);

/// Many writes at once (on SQLite they land in one group commit): every allocation and hold
/// is stored, one record per request id wins, and a duplicate's hold shrink does not apply.
async fn concurrent_writes_in_one_batch(t: TestRepo) {
    let repo = t.repo.clone();
    let b = budget("b");
    repo.insert_budget(&b).await.expect("insert");
    let policy = b.policies[0].id;
    let mut writes = Vec::new();
    let allocations: Vec<Allocation> = (0..50).map(|_| allocation(b.id, "0.01", Duration::minutes(5))).collect();
    for a in &allocations {
        let hold = Hold {
            allocation_id: a.id,
            policy_id: policy,
            budget_id: b.id,
            window_key: "w".into(),
            cost: a.reserved_cost,
            tokens: 100,
            expires_at: a.expires_at,
        };
        writes.push(WriteOp::Allocate { allocation: a.clone(), holds: vec![hold], checks: vec![] });
    }
    let results = futures::future::join_all(writes.into_iter().map(|w| repo.write(w))).await;
    assert!(results.iter().all(|r| r.as_ref().is_ok_and(|o| *o == WriteOutcome::Done)));
    let mut writes = Vec::new();
    let mut record_ids = Vec::new();
    for i in 0..20 {
        let mut r = record(Some("0.001"), Some(if i < 10 { "same" } else { "other" }));
        r.id = Uuid::now_v7();
        record_ids.push(r.id);
        let updates = if i == 0 || i == 1 {
            // Two shrinks of the first allocation's hold; i = 1 repeats request id "same", so its
            // shrink (to 0.004) must not apply.
            vec![HoldShrink {
                allocation_id: allocations[0].id,
                policy_id: policy,
                cost: if i == 0 { dec("0.001") } else { dec("0.006") },
                tokens: 50,
            }]
        } else {
            vec![]
        };
        let charge = Charge {
            record_id: r.id,
            policy_id: policy,
            budget_id: b.id,
            window_key: "w".into(),
            cost: dec("0.001"),
            tokens: 15,
        };
        writes.push(WriteOp::Record {
            record: Box::new(r),
            charges: vec![charge],
            hold_shrinks: updates,
            alerts: vec![],
        });
    }
    let mut outcomes = Vec::new();
    for w in writes {
        outcomes.push(repo.write(w));
    }
    let outcomes = futures::future::join_all(outcomes).await;
    let done = outcomes.iter().filter(|o| matches!(o, Ok(WriteOutcome::Done))).count();
    assert_eq!(done, 2, "one record per request id: {outcomes:?}");
    let totals = repo.window_totals(policy, "w", Utc::now()).await.expect("totals");
    assert_eq!(totals.settled_cost, dec("0.002"), "charges of duplicates are not stored");
    let holds = repo.allocation_holds(allocations[0].id, Utc::now()).await.expect("holds");
    // Only the winner of "same" may have updated the hold. On SQLite writes apply in order
    // (i = 0 wins); on PostgreSQL concurrent transactions race, and any of them may win.
    let winner = repo.usage_by_request_id("same").await.expect("lookup").expect("stored").id;
    let expected = match record_ids.iter().position(|id| *id == winner) {
        Some(0) => dec("0.009"),
        Some(1) => dec("0.004"),
        _ => dec("0.01"),
    };
    assert_eq!(holds[0].cost, expected);
    if t.url.starts_with("sqlite") {
        assert_eq!(winner, record_ids[0]);
    }
}

both_backends!(concurrent_writes_in_one_batch);

fn alert(kind: AlertKind) -> Alert {
    Alert {
        id: Uuid::now_v7(),
        severity: Severity::Warning,
        kind,
        budget_id: None,
        policy_id: None,
        message: format!("{kind} crossed"),
        details: serde_json::json!({"at": "80%"}),
        created_at: budget_actors::domain::now(),
        acknowledged: false,
        acknowledged_at: None,
        dedup_key: None,
        window_end: None,
        resolved_at: None,
    }
}

fn record_with(request_id: &str, alerts: Vec<Alert>) -> WriteOp {
    WriteOp::Record {
        record: Box::new(record(Some("0.01"), Some(request_id))),
        charges: vec![],
        hold_shrinks: vec![],
        alerts,
    }
}

/// A usage record's alerts commit with it, and only with it: a duplicate request id stores
/// neither the record nor its alerts (one at a time, and racing in one group commit).
async fn alerts_commit_with_their_record(t: TestRepo) {
    let repo = t.repo;
    let first = alert(AlertKind::BudgetWarning);
    let out = repo.write(record_with("req-a", vec![first.clone()])).await.expect("record");
    assert_eq!(out, WriteOutcome::Done);
    assert_eq!(repo.list_alerts(&latest(10)).await.expect("alerts"), vec![first.clone()], "stored with the record");

    let out = repo
        .write(record_with("req-a", vec![alert(AlertKind::BudgetExceeded)]))
        .await
        .expect("duplicate is not an error");
    assert_eq!(out, WriteOutcome::DuplicateRequest);
    assert_eq!(
        repo.list_alerts(&latest(10)).await.expect("alerts"),
        vec![first.clone()],
        "a duplicate's alert is not stored"
    );

    // Two records with one new request id at once: one wins, and only its alert is stored.
    let (a, b) = (alert(AlertKind::PriceChanged), alert(AlertKind::PricePending));
    let outcomes = futures::future::join_all([
        repo.write(record_with("req-b", vec![a.clone()])),
        repo.write(record_with("req-b", vec![b.clone()])),
    ])
    .await;
    let done: Vec<bool> = outcomes.iter().map(|o| matches!(o, Ok(WriteOutcome::Done))).collect();
    assert_eq!(done.iter().filter(|d| **d).count(), 1, "{outcomes:?}");
    let winner = if done[0] { a } else { b };
    let stored = repo.list_alerts(&latest(10)).await.expect("alerts");
    assert_eq!(stored, vec![winner, first], "newest first, the loser's alert absent");

    // A stand-alone alert is still written on its own.
    let lone = alert(AlertKind::PriceSourceFailed);
    repo.write(WriteOp::Alert(lone.clone())).await.expect("alert");
    assert_eq!(repo.list_alerts(&latest(1)).await.expect("alerts"), vec![lone]);
}

both_backends!(alerts_commit_with_their_record);

fn latest(limit: u32) -> AlertFilter {
    AlertFilter { limit, ..Default::default() }
}

/// Alerts with one de-duplication key are stored once, whether they arrive in one batch,
/// one after the other, or (on PostgreSQL) from several daemons; listing filters and
/// acknowledgement work on both databases.
async fn alerts_are_stored_once_per_key_filtered_and_acknowledged(t: TestRepo) {
    let repo = t.repo;
    let policy = Uuid::now_v7();
    let key = Alert::crossing_key(AlertKind::BudgetWarning, policy, "2026-12-03T00:00:00+00:00");
    let keyed = |kind| Alert { dedup_key: Some(key.clone()), policy_id: Some(policy), ..alert(kind) };
    let first = keyed(AlertKind::BudgetWarning);
    repo.write(WriteOp::Alert(first.clone())).await.expect("first");
    repo.write(WriteOp::Alert(keyed(AlertKind::BudgetWarning))).await.expect("the same crossing again is no error");
    // Concurrent copies, as two daemons (or one batch) would write them.
    let copies =
        futures::future::join_all((0..5).map(|_| repo.write(WriteOp::Alert(keyed(AlertKind::BudgetWarning))))).await;
    assert!(copies.iter().all(Result::is_ok), "{copies:?}");
    let stored = repo.list_alerts(&latest(100)).await.expect("alerts");
    assert_eq!(stored, vec![first.clone()], "one alert for one key");

    let mut other = alert(AlertKind::UnpricedModel);
    other.severity = Severity::Info;
    repo.write(WriteOp::Alert(other.clone())).await.expect("other");
    let only = |f: AlertFilter| {
        let repo = repo.clone();
        async move { repo.list_alerts(&f).await.expect("alerts") }
    };
    let by_kind = only(AlertFilter { kind: Some(AlertKind::UnpricedModel), ..latest(100) }).await;
    assert_eq!(by_kind, vec![other.clone()]);
    let by_severity = only(AlertFilter { severity: Some(Severity::Warning), ..latest(100) }).await;
    assert_eq!(by_severity, vec![first.clone()]);
    let since = only(AlertFilter { since: Some(other.created_at), ..latest(100) }).await;
    assert_eq!(since, vec![other.clone()]);

    let at = budget_actors::domain::now();
    let acked = repo.acknowledge_alert(first.id, at).await.expect("ack").expect("found");
    assert!(acked.acknowledged);
    assert_eq!(acked.acknowledged_at, Some(at));
    let again = repo.acknowledge_alert(first.id, at + Duration::seconds(5)).await.expect("ack").expect("found");
    assert_eq!(again.acknowledged_at, Some(at), "the first acknowledgement's time is kept");
    assert_eq!(only(AlertFilter { acknowledged: Some(false), ..latest(100) }).await, vec![other]);
    assert_eq!(only(AlertFilter { acknowledged: Some(true), ..latest(100) }).await, vec![again]);
    assert!(repo.acknowledge_alert(Uuid::now_v7(), at).await.expect("ack").is_none());
}

both_backends!(alerts_are_stored_once_per_key_filtered_and_acknowledged);

/// The outbox: channels, fan-out into deliveries (once per pair, however often), claims that
/// keep two passes off one delivery until they lapse, outcomes, and resolution of ended windows.
async fn alert_deliveries_are_claimed_once_and_logged(t: TestRepo) {
    let repo = t.repo;
    let now = budget_actors::domain::now();
    let channel = AlertChannel {
        id: Uuid::now_v7(),
        name: "ops".into(),
        kind: ChannelKind::Webhook,
        url: Some("http://127.0.0.1:9/hook".into()),
        has_secret: true,
        secret: Some("whsec_0123456789abcdef".into()),
        min_severity: Severity::Info,
        kinds: vec![AlertKind::BudgetWarning],
        budgets: vec![],
        quiet_hours: None,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    repo.insert_channel(&channel).await.expect("channel");
    let same_name = AlertChannel { id: Uuid::now_v7(), ..channel.clone() };
    assert!(matches!(repo.insert_channel(&same_name).await, Err(EngineError::Conflict(_))));
    let listed = repo.list_channels().await.expect("channels");
    assert_eq!(listed, vec![channel.clone()], "the secret is stored for signing");

    let ended = Alert { window_end: Some(now - Duration::seconds(1)), ..alert(AlertKind::BudgetWarning) };
    repo.write(WriteOp::Alert(ended.clone())).await.expect("alert");
    let undispatched = repo.undispatched_alerts(10).await.expect("outbox");
    assert_eq!(undispatched.iter().map(|a| a.id).collect::<Vec<_>>(), vec![ended.id]);
    let pair = (Uuid::now_v7(), ended.id, channel.id);
    repo.dispatch_alerts(&[ended.id], &[pair], now).await.expect("dispatch");
    // Another daemon fanning the same alert out: its delivery for the same pair is dropped.
    repo.dispatch_alerts(&[ended.id], &[(Uuid::now_v7(), ended.id, channel.id)], now).await.expect("again");
    assert!(repo.undispatched_alerts(10).await.expect("outbox").is_empty());

    let lease = now + Duration::seconds(30);
    let claimed = repo.claim_deliveries(now, lease, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, pair.0);
    assert!(repo.claim_deliveries(now, lease, 10).await.expect("claim").is_empty(), "claimed once");
    // A claim that lapsed (its daemon died mid-send) is claimed again.
    let later = lease + Duration::seconds(1);
    assert_eq!(repo.claim_deliveries(later, later + Duration::seconds(30), 10).await.expect("claim").len(), 1);

    let retry_at = later + Duration::seconds(5);
    let failed = AttemptOutcome::Failed { status_code: Some(503), error: "503".into(), retry_at: Some(retry_at) };
    repo.finish_delivery(pair.0, &failed, later).await.expect("finish");
    let log = repo.list_deliveries(&DeliveryFilter { limit: 10, ..Default::default() }).await.expect("log");
    assert_eq!((log[0].status, log[0].attempts, log[0].last_status_code), (DeliveryStatus::Pending, 1, Some(503)));
    assert_eq!(log[0].next_attempt_at, Some(retry_at));
    assert!(
        repo.claim_deliveries(later, later + Duration::seconds(30), 10).await.expect("claim").is_empty(),
        "not due"
    );
    let due = repo.claim_deliveries(retry_at, retry_at + Duration::seconds(30), 10).await.expect("claim");
    assert_eq!(due.len(), 1);
    repo.finish_delivery(pair.0, &AttemptOutcome::Delivered { status_code: Some(200) }, retry_at).await.expect("ok");
    let filter =
        DeliveryFilter { status: Some(DeliveryStatus::Delivered), channel_id: Some(channel.id), ..Default::default() };
    let log = repo.list_deliveries(&DeliveryFilter { limit: 10, ..filter }).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempts, log[0].last_error.clone(), log[0].delivered_at), (2, None, Some(retry_at)));

    assert_eq!(repo.resolve_alerts(now).await.expect("resolve"), 1, "its window ended");
    assert!(repo.get_alert(ended.id).await.expect("alert").expect("found").resolved_at.is_some());
    assert!(repo.delete_channel(channel.id).await.expect("delete"));
    assert!(repo.list_deliveries(&DeliveryFilter { limit: 10, ..Default::default() }).await.expect("log").is_empty());
    assert!(!repo.delete_channel(channel.id).await.expect("delete"));
}

both_backends!(alert_deliveries_are_claimed_once_and_logged);
