//! The whole tree as the daemon runs it: started by `Tree::start`, stopped by
//! `Tree::shutdown`, which drains the SQLite writer and closes storage.

use std::str::FromStr;

use rust_decimal::Decimal;

use budget_actors::api::{AllocationRequest, CreateBudget, StatusQuery, UsageQuery, UsageRequest};
use budget_actors::domain::PolicySpec;
use budget_actors::{EngineConfig, EngineError, Tree, TreeConfig};

fn config(dir: &tempfile::TempDir) -> TreeConfig {
    TreeConfig {
        database_url: format!("sqlite://{}", dir.path().join("budget.db").display()),
        engine: EngineConfig::default(),
        monitor: None,
        alerts: budget_actors::alerts::AlertSettings::default(),
    }
}

/// Writes queued when shutdown begins are committed; after it, writes are refused (not
/// lost silently), and a new tree on the same file finds everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_what_is_queued_and_a_restart_finds_it() {
    budget_actors::testing::clear_of_utc_midnight();
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = Tree::start(config(&dir)).await.expect("tree starts");
    tree.ready().await.expect("ready");
    let engine = tree.engine().clone();
    let spec = PolicySpec::parse_shorthand("daily:100.00:hard_limit").expect("policy");
    let budget =
        CreateBudget { name: "b".into(), component: Some("svc".into()), policies: vec![spec], ..Default::default() };
    engine.create_budget(budget).await.expect("budget");
    // Many usage records in flight while shutdown begins: each either commits (and is
    // then found after the restart) or is refused with an error — none is acknowledged and lost.
    let records: Vec<_> = (0..200)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .record_usage(UsageRequest {
                        component: Some("svc".into()),
                        provider: Some("anthropic".into()),
                        model: Some("claude-sonnet-4-5".into()),
                        input_tokens: Some(1000),
                        output_tokens: Some(100),
                        ..Default::default()
                    })
                    .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    tree.shutdown().await;
    let mut acknowledged = 0;
    for record in records {
        if record.await.expect("task").is_ok() {
            acknowledged += 1;
        }
    }
    let late = AllocationRequest {
        component: "svc".into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        amount: Some(Decimal::ONE),
        ..Default::default()
    };
    assert!(matches!(engine.allocate(late).await, Err(EngineError::Unavailable(_))), "writes after close are refused");
    drop(engine);
    drop(tree);

    let tree = Tree::start(config(&dir)).await.expect("the file is free again and opens");
    let stored = tree.engine().list_usage(&UsageQuery { limit: Some(1000), ..Default::default() }).await;
    assert_eq!(stored.expect("usage").records.len(), acknowledged, "every acknowledged record, and only those");
    let status = tree.engine().budget_status("b", &StatusQuery::default()).await.expect("status");
    let each = Decimal::from_str("0.0045").expect("decimal");
    assert_eq!(status.policies[0].settled, (each * Decimal::from(acknowledged as u64)).normalize());
    tree.shutdown().await;
}
