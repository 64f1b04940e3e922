//! SQLite, embedded: WAL, one writer connection fed by a group-commit task (`writer`), a
//! reader pool. Money is exact decimal TEXT and time fixed-width RFC 3339 TEXT, so sums are
//! done in Rust (SQL SUM over TEXT would go through floating point).

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

use super::rows::ReadRow;
use super::{Repository, StorageResult, WriteOp};
use crate::error::EngineError;
use crate::money::decimal_from_str;

mod alerts;
mod batch;
mod catalog;
mod decimal_sum;
mod ledger;
mod prices;
mod reports;
mod writer;

#[cfg(test)]
mod tests;

use writer::{Faults, Queued};

/// SQLite keeps times as fixed-width UTC text so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ts_out(text: &str) -> StorageResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| EngineError::Internal(format!("bad time '{text}' in storage: {e}")))
}

/// Registers this crate's SQL functions (`decimal_sum`) on a new connection.
async fn register_functions(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the locked handle is this connection's open database, held exclusively here.
    let code = unsafe { decimal_sum::register(handle.as_raw_handle().as_ptr()) };
    if code != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(format!("registering decimal_sum failed: SQLite code {code}").into()));
    }
    Ok(())
}

fn money(d: Decimal) -> String {
    d.to_string()
}

impl ReadRow for SqliteRow {
    fn text(&self, col: &str) -> StorageResult<String> {
        Ok(self.try_get(col)?)
    }

    fn opt_text(&self, col: &str) -> StorageResult<Option<String>> {
        Ok(self.try_get(col)?)
    }

    fn int(&self, col: &str) -> StorageResult<i64> {
        Ok(self.try_get(col)?)
    }

    fn opt_int(&self, col: &str) -> StorageResult<Option<i64>> {
        Ok(self.try_get(col)?)
    }

    fn flag(&self, col: &str) -> StorageResult<bool> {
        Ok(self.try_get(col)?)
    }

    fn time(&self, col: &str) -> StorageResult<DateTime<Utc>> {
        ts_out(&self.try_get::<String, _>(col)?)
    }

    fn opt_time(&self, col: &str) -> StorageResult<Option<DateTime<Utc>>> {
        self.try_get::<Option<String>, _>(col)?.as_deref().map(ts_out).transpose()
    }

    fn money(&self, col: &str) -> StorageResult<Decimal> {
        decimal_from_str(&self.try_get::<String, _>(col)?)
    }

    fn opt_money(&self, col: &str) -> StorageResult<Option<Decimal>> {
        self.try_get::<Option<String>, _>(col)?.as_deref().map(decimal_from_str).transpose()
    }
}

/// SQLite, embedded: WAL, one writer connection fed by a group-commit task, a reader pool.
pub struct SqliteRepository {
    read: SqlitePool,
    write: SqlitePool,
    queue: mpsc::Sender<Queued>,
    /// Tells the writer task to drain and end; the task is joined by `close`.
    closing: tokio::sync::watch::Sender<bool>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Commit failures injected by tests; nothing in a production build.
    #[cfg_attr(not(test), allow(dead_code))]
    faults: Arc<Faults>,
    /// Held for the repository's life: one daemon per database file.
    _lock: std::fs::File,
}

impl SqliteRepository {
    pub async fn open(path: &Path) -> StorageResult<SqliteRepository> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::Storage(format!("cannot create data directory {}: {e}", dir.display())))?;
        }
        let lock = Self::lock(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Statement journals and sorts in memory, not in temp files opened and unlinked
            // per statement (seen under load with strace: dozens a second).
            .pragma("temp_store", "memory");
        // No ping before each use: a local file's connection does not go stale, and a ping is
        // one more round trip to sqlx's worker thread per group commit.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(register_functions(conn)))
            .connect_with(options.clone())
            .await
            .map_err(|e| EngineError::Storage(format!("cannot open SQLite database {}: {e}", path.display())))?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| EngineError::Storage(format!("migrating {}: {e}", path.display())))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(register_functions(conn)))
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| EngineError::Storage(format!("cannot open SQLite reader {}: {e}", path.display())))?;
        let (queue, rx) = mpsc::channel(8192);
        let faults = Arc::new(Faults::none());
        let (closing, closing_rx) = tokio::sync::watch::channel(false);
        let writer = tokio::spawn(writer::run(write.clone(), rx, faults.clone(), closing_rx));
        Ok(SqliteRepository {
            read,
            write,
            queue,
            closing,
            writer: std::sync::Mutex::new(Some(writer)),
            faults,
            _lock: lock,
        })
    }

    /// Takes `<db>.lock` exclusively. Two daemons writing one SQLite file would each cache
    /// budgets the other cannot see, so the second is refused with a clear error.
    fn lock(path: &Path) -> StorageResult<std::fs::File> {
        let mut lock_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| EngineError::Storage(format!("cannot open lock file {}: {e}", lock_path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Storage(format!(
                "{} is in use by another budget daemon (lock {}); use PostgreSQL (DATABASE_URL) to run several",
                path.display(),
                lock_path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(EngineError::Storage(format!("cannot lock {}: {e}", lock_path.display())))
            }
        }
    }

    /// A transaction on the writer connection for catalogue, price and key changes (rare;
    /// they wait for the writer connection between group commits).
    async fn begin_write(&self) -> StorageResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Queues a ledger write for the group-commit task and waits for its own outcome.
    async fn commit(&self, op: WriteOp) -> StorageResult<super::WriteOutcome> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue
            .send((op, tx))
            .await
            .map_err(|_| EngineError::Unavailable("the SQLite writer has stopped".into()))?;
        rx.await.map_err(|_| EngineError::Unavailable("the SQLite writer dropped a write".into()))?
    }
}

#[async_trait]
impl Repository for SqliteRepository {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StorageResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// One daemon owns the file: its in-memory catalogue is always current.
    fn is_shared(&self) -> bool {
        false
    }

    async fn close(&self) {
        let _ = self.closing.send(true);
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer
            && let Err(e) = writer.await
        {
            tracing::warn!(target: "repository", error = %e, "the SQLite writer ended abnormally");
        }
        self.write.close().await;
        self.read.close().await;
    }
}
