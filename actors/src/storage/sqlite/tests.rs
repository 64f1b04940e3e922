//! The group commit's fallback, with commits failed on purpose (`Faults`, tests only).

use rust_decimal::Decimal;
use uuid::Uuid;

use super::SqliteRepository;
use crate::domain::{UsageRecord, now};
use crate::storage::{LedgerStore, StorageResult, UsageStore, WriteOp, WriteOutcome};

fn record(request_id: &str) -> UsageRecord {
    let at = now();
    UsageRecord {
        id: Uuid::now_v7(),
        allocation_id: None,
        component: "rhetor".into(),
        context_id: None,
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        task_type: None,
        tier: "remote_heavyweight".into(),
        input_tokens: 10,
        output_tokens: 5,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        total_tokens: 15,
        cost: Some(Decimal::new(1, 3)),
        priced: true,
        cost_breakdown: None,
        price_ref: None,
        request_id: Some(request_id.into()),
        timestamp: at,
        recorded_at: at,
        metadata: serde_json::json!({}),
        budgets: vec![],
    }
}

/// The batch's commit fails, so each write is retried alone; writes 1 and 2 commit, write 3's
/// commit fails. Each waiter hears its own outcome, and the database agrees with it.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_retry_fails_only_its_own_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = SqliteRepository::open(&dir.path().join("budget.db")).await.expect("open");
    let records: Vec<UsageRecord> = (1..=3).map(|i| record(&format!("req-{i}"))).collect();
    // Commit 1 is the batch's; 2, 3 and 4 are the retry's, one per write.
    repo.faults.fail_commits(&[1, 4]);
    // On this one thread the three writes are all queued before the writer first runs, so
    // they land in one batch.
    let results: Vec<StorageResult<WriteOutcome>> = futures::future::join_all(records.iter().map(|r| {
        repo.write(WriteOp::Record {
            record: Box::new(r.clone()),
            charges: vec![],
            hold_shrinks: vec![],
            alerts: vec![],
        })
    }))
    .await;
    assert!(matches!(results[0], Ok(WriteOutcome::Done)), "{results:?}");
    assert!(matches!(results[1], Ok(WriteOutcome::Done)), "{results:?}");
    assert!(results[2].is_err(), "{results:?}");
    for (r, stored) in records.iter().zip([true, true, false]) {
        let found = repo.get_usage(r.id).await.expect("read back");
        assert_eq!(found.is_some(), stored, "record {:?}", r.request_id);
    }
    // The writer goes on: the next write commits.
    let next = record("req-4");
    let out = repo
        .write(WriteOp::Record {
            record: Box::new(next.clone()),
            charges: vec![],
            hold_shrinks: vec![],
            alerts: vec![],
        })
        .await
        .expect("writes after the failure commit");
    assert_eq!(out, WriteOutcome::Done);
    assert!(repo.get_usage(next.id).await.expect("read back").is_some());
}

/// A batch whose every commit fails answers every write with an error, none stored.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_that_cannot_commit_fails_every_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = SqliteRepository::open(&dir.path().join("budget.db")).await.expect("open");
    let records: Vec<UsageRecord> = (1..=2).map(|i| record(&format!("req-{i}"))).collect();
    repo.faults.fail_commits(&[1, 2, 3]);
    let results: Vec<StorageResult<WriteOutcome>> = futures::future::join_all(records.iter().map(|r| {
        repo.write(WriteOp::Record {
            record: Box::new(r.clone()),
            charges: vec![],
            hold_shrinks: vec![],
            alerts: vec![],
        })
    }))
    .await;
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    for r in &records {
        assert!(repo.get_usage(r.id).await.expect("read back").is_none());
    }
}
