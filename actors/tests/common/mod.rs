#![allow(dead_code)]

use std::sync::Arc;

use budget_actors::storage::{self, Repository};
use budget_actors::testing::fresh_postgres_database;
use budget_actors::{Engine, EngineConfig};

/// A repository plus whatever must live as long as it (the SQLite temp dir).
pub struct TestRepo {
    pub repo: Arc<dyn Repository>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestRepo {
    budget_actors::testing::clear_of_utc_midnight();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("budget.db").display());
    let repo = storage::open(&url).await.expect("open sqlite");
    TestRepo { repo, url, _dir: Some(dir) }
}

pub async fn postgres() -> TestRepo {
    budget_actors::testing::clear_of_utc_midnight();
    let url = fresh_postgres_database().await;
    let repo = storage::open(&url).await.expect("open postgres");
    TestRepo { repo, url, _dir: None }
}

pub async fn engine(repo: &TestRepo) -> Engine {
    Engine::start(repo.repo.clone(), EngineConfig::default()).await.expect("engine starts")
}

/// Runs an async test body against SQLite and against PostgreSQL. The PostgreSQL variant is
/// ignored (reported as such) unless BUDGET_TEST_DATABASE_URL was set when building.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let repo = $crate::common::sqlite().await;
                    super::$name(repo).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(pg_tests), ignore = "set BUDGET_TEST_DATABASE_URL to run PostgreSQL tests")]
                async fn postgres() {
                    let repo = $crate::common::postgres().await;
                    super::$name(repo).await;
                }
            }
        )*
    };
}
