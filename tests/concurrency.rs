//! 200 concurrent HTTP allocations against one hard limit never reserve more than the limit:
//! on the embedded SQLite, on PostgreSQL, and with two daemons sharing one PostgreSQL database.

mod common;

use common::Daemon;
use serde_json::json;
use std::sync::Arc;

/// Creates a $5.00 daily hard budget on `first`, fires 200 allocations of $0.05 spread over
/// `daemons`, and checks that exactly 100 were granted and the rest got 402.
async fn storm(daemons: Vec<Arc<Daemon>>) {
    let (status, body) = daemons[0]
        .post(
            "/api/v1/budgets",
            json!({"name": "storm", "component": "storm", "policies": [{"period": "daily", "cost_limit": "5.00"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let d = daemons[i % daemons.len()].clone();
        tasks.push(tokio::spawn(async move {
            d.post(
                "/api/v1/allocations",
                json!({"component": "storm", "provider": "anthropic", "model": "claude-sonnet-4-5", "amount": "0.05"}),
            )
            .await
        }));
    }
    let (mut granted, mut denied) = (0, 0);
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            201 => granted += 1,
            402 => {
                assert_eq!(body["error"]["code"], "budget_exceeded");
                denied += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((granted, denied), (100, 100));
    for d in &daemons {
        let (_, status) = d.get("/api/v1/budgets/storm/status").await;
        assert_eq!(status["policies"][0]["reserved"], "5", "{status}");
        assert_eq!(status["policies"][0]["remaining"], "0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_allocations_on_sqlite() {
    let d = Arc::new(Daemon::start());
    storm(vec![d]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn two_hundred_allocations_on_postgres() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let d = Arc::new(Daemon::start_postgres(&url));
    storm(vec![d]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
async fn two_daemons_share_one_limit_on_postgres() {
    let url = budget_actors::testing::fresh_postgres_database().await;
    let first = Arc::new(Daemon::start_postgres(&url));
    let mut second = Daemon::start_postgres(&url);
    // Both daemons share the database, so they share API keys too: use the first one's.
    second.admin_key = first.admin_key.clone();
    storm(vec![first, Arc::new(second)]).await;
}
