//! The group-commit task: whatever is queued (up to `MAX_BATCH`) goes into one transaction,
//! and every waiter is answered with its own outcome once that is known.

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::batch::apply_batch;
use crate::error::EngineError;
use crate::storage::{StorageResult, WriteOp, WriteOutcome};

pub(super) type Reply = oneshot::Sender<StorageResult<WriteOutcome>>;
pub(super) type Queued = (WriteOp, Reply);

/// Most writes one group commit takes; bounded so that one batch cannot delay replies for long.
const MAX_BATCH: usize = 1024;

/// Runs until `closing` turns true (or every sender is gone): then it takes no new writes,
/// commits those already queued, and ends.
pub(super) async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Queued>,
    faults: std::sync::Arc<Faults>,
    mut closing: watch::Receiver<bool>,
) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    let mut closed = false;
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    break;
                }
                let size = batch.len();
                let ops: Vec<&WriteOp> = batch.iter().map(|(op, _)| op).collect();
                let results = commit_batch(&pool, &ops, &faults).await;
                debug!(target: "repository", size, "group commit");
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    // The waiter may have gone (its request was cancelled); the write stands.
                    let _ = reply.send(result);
                }
            }
            _ = closing.changed(), if !closed => {
                // Refuse new writes; `recv_many` still yields what is queued, then 0.
                rx.close();
                closed = true;
            }
        }
    }
    debug!(target: "repository", "SQLite writer stopped");
}

/// Applies a batch in one transaction, as a few multi-row statements, and returns one result
/// per write, each true for that write. A failure other than a duplicate request id is rare
/// (a bug or a full disk); then the batch is rolled back and each write is retried in its own
/// transaction, so one bad write cannot fail its neighbours and a write committed by the retry
/// is never reported as failed.
pub(super) async fn commit_batch(
    pool: &SqlitePool,
    ops: &[&WriteOp],
    faults: &Faults,
) -> Vec<StorageResult<WriteOutcome>> {
    let first = async {
        let mut tx = begin(pool).await?;
        match apply_batch(&mut tx, ops).await {
            Ok(outcomes) => {
                commit(tx, faults).await?;
                Ok(outcomes)
            }
            Err(e) => {
                rollback(tx).await;
                Err(e)
            }
        }
    };
    let error = match first.await {
        Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if ops.len() == 1 {
        // Nothing to separate: the one write failed, and nothing of it was committed.
        return vec![Err(error)];
    }
    warn!(target: "repository", size = ops.len(), error = %error, "group commit failed; retrying one by one");
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(commit_one(pool, op, faults).await);
    }
    results
}

/// One write in its own transaction; any failure (begin, apply or commit) is this write's.
async fn commit_one(pool: &SqlitePool, op: &WriteOp, faults: &Faults) -> StorageResult<WriteOutcome> {
    let mut tx = begin(pool).await?;
    let outcome = match apply_batch(&mut tx, std::slice::from_ref(&op)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            rollback(tx).await;
            return Err(e);
        }
    };
    commit(tx, faults).await?;
    outcome.into_iter().next().ok_or_else(|| EngineError::Internal("a write of the batch has no outcome".into()))
}

async fn begin(pool: &SqlitePool) -> StorageResult<Transaction<'static, Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| EngineError::Storage(format!("beginning a group commit: {e}")))
}

async fn commit(tx: Transaction<'static, Sqlite>, faults: &Faults) -> StorageResult<()> {
    #[cfg(test)]
    if faults.fail_this_commit() {
        // As a failed COMMIT does: nothing of the transaction stays.
        rollback(tx).await;
        return Err(EngineError::Storage("injected commit failure".into()));
    }
    #[cfg(not(test))]
    let _ = faults;
    tx.commit().await.map_err(|e| EngineError::Storage(format!("committing a group commit: {e}")))
}

/// Rolls back a failed attempt. If even that fails, sqlx rolls back when the connection is
/// next used; the write's own error is what its waiter gets either way.
async fn rollback(tx: Transaction<'static, Sqlite>) {
    if let Err(e) = tx.rollback().await {
        warn!(target: "repository", error = %e, "rollback failed");
    }
}

/// Commit failures to inject (tests only): the commits the writer makes are counted from 1,
/// and those whose number is listed fail.
#[cfg(test)]
#[derive(Default)]
pub(super) struct Faults {
    commits: std::sync::atomic::AtomicUsize,
    fail: std::sync::Mutex<Vec<usize>>,
}

#[cfg(test)]
impl Faults {
    pub(super) fn none() -> Faults {
        Faults::default()
    }

    /// Makes the writer's commits numbered `which` (counted from the next one, 1-based) fail.
    pub(super) fn fail_commits(&self, which: &[usize]) {
        let base = self.commits.load(std::sync::atomic::Ordering::SeqCst);
        let mut fail = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        *fail = which.iter().map(|n| base + n).collect();
    }

    fn fail_this_commit(&self) -> bool {
        let n = self.commits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        self.fail.lock().unwrap_or_else(|e| e.into_inner()).contains(&n)
    }
}

/// Production builds inject nothing.
#[cfg(not(test))]
pub(super) struct Faults;

#[cfg(not(test))]
impl Faults {
    pub(super) fn none() -> Faults {
        Faults
    }
}
