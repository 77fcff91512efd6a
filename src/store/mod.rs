//! All SQL: one set of store functions for SQLite (embedded default) and PostgreSQL (scale).
//!
//! Owns the connection pool, migrations and the few places the two backends differ (SQLite
//! pragmas, PostgreSQL advisory locks). Queries use `$1` placeholders, valid on both; one file
//! per aggregate. Nothing here knows HTTP or flows.

pub mod audit;
pub mod campaigns;
pub mod commerce;
pub mod consent;
pub mod consent_imports;
pub mod consent_lists;
pub mod contacts;
pub mod conversations;
pub mod feed;
pub mod integrations;
pub mod locations;
pub mod messages;
pub mod misreads;
pub mod outbox;
pub mod outcomes;
pub mod phone_links;
pub mod receipts;
pub mod reports;
pub mod staff;
pub mod tickets;
pub mod uploads;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor};

use crate::clock::Clock;

/// How SQLite makes a commit durable (`PRAGMA synchronous`). Both survive a process crash
/// (`kill -9`) in WAL mode; only `Full` also survives a power loss of the last commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    Normal,
    Full,
}

/// A transaction on a pooled connection, or on a connection a lane keeps for itself.
pub type Tx<'c> = sqlx::Transaction<'c, Any>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("conversation {0} was changed by someone else; retry the turn")]
    Conflict(String),
    /// The database cannot be opened or reached: says which one, and what to check.
    #[error("cannot open the database {target}: {detail}. {fix}")]
    Unreachable { target: String, detail: String, fix: &'static str },
    /// The commerce port failed (its database, or the platform behind an adapter).
    #[error(transparent)]
    Commerce(#[from] crate::domain::commerce::CommerceError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The time every stored `*_at_ms` is taken from (see [`crate::clock`]).
    clock: Clock,
    /// This process's end of the queue feed (see [`feed`]).
    feed: tokio::sync::broadcast::Sender<feed::QueueChange>,
}

impl Store {
    /// Connects, creating the SQLite file (and its folder) on first use, and migrates.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect(url: &str, sync: SqliteSync) -> Result<Self, StoreError> {
        Self::connect_with(url, sync, false).await
    }

    /// As [`Store::connect`], tuned for the server's hot path: on SQLite, reads go through a
    /// memory map. (Command-line tools stay without it: the map counts in their memory.)
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect_server(url: &str, sync: SqliteSync) -> Result<Self, StoreError> {
        Self::connect_with(url, sync, true).await
    }

    async fn connect_with(url: &str, sync: SqliteSync, mmap: bool) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let target = shown(url);
        let unreachable = |detail: String| {
            let fix = match backend {
                Backend::Sqlite => "Check that its folder exists and is writable by this user, or set DATABASE_URL.",
                Backend::Postgres => {
                    "Check that PostgreSQL runs there and DATABASE_URL names the right host, port, user and database."
                }
            };
            StoreError::Unreachable { target: target.clone(), detail, fix }
        };
        if backend == Backend::Sqlite {
            prepare_sqlite_file(url).map_err(|e| unreachable(e.to_string()))?;
        }
        let options = AnyConnectOptions::from_str(url).map_err(|e| unreachable(e.to_string()))?;
        // One connection first, briefly: a wrong address fails now and says which, instead of
        // the pool retrying in silence until its acquire timeout.
        match tokio::time::timeout(CONNECT_TIMEOUT, <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options))
            .await
        {
            Err(_) => return Err(unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(probe)) => {
                let _ = sqlx::Connection::close(probe).await;
            }
        }
        let sync_pragma = match sync {
            SqliteSync::Normal => "pragma synchronous = normal",
            SqliteSync::Full => "pragma synchronous = full",
        };
        let pool = AnyPoolOptions::new()
            // SQLite writes go through one writer lane, so a few connections suffice for reads;
            // PostgreSQL serves several lanes and request-path reads.
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer. busy_timeout: another process (the
                        // CLI) holding the write lock makes us wait, not fail.
                        conn.execute("pragma journal_mode = wal").await?;
                        conn.execute(sync_pragma).await?;
                        conn.execute("pragma foreign_keys = on").await?;
                        conn.execute("pragma busy_timeout = 5000").await?;
                        // Memory-mapped reads: pages are read without copying them out of the OS
                        // cache. (A large page cache instead makes every commit slower: SQLite
                        // scans the whole cache when a write transaction ends.)
                        if mmap {
                            conn.execute("pragma mmap_size = 268435456").await?;
                        }
                        // Checkpoints run in the background (`spawn_checkpointer`), not inside
                        // whichever commit crosses the threshold: the hot path never fsyncs.
                        conn.execute("pragma wal_autocheckpoint = 0").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Self { pool, backend, clock: Clock::system(), feed: feed::channel() };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// The same store reading the time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, in milliseconds since the Unix epoch, from the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction on a pooled connection; on SQLite it is a writer from its first statement
    /// (see [`begin_on`]).
    ///
    /// # Errors
    /// When no connection can be had.
    pub async fn begin(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin_with(begin_statement(self.backend)).await?)
    }

    /// A transaction that only reads: it takes no write lock (a chat window polling every few
    /// seconds must not queue behind the writers). Never write in it.
    ///
    /// # Errors
    /// When no connection can be had.
    pub async fn begin_read(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Is the database answering? For `/readyz`.
    pub async fn ping(&self) -> bool {
        sqlx::query("select 1").execute(&self.pool).await.is_ok()
    }

    /// SQLite only: copies the write-ahead log into the database file every `every`, without
    /// blocking writers (PASSIVE), so commits never pay for a checkpoint. Ends with the pool.
    pub fn spawn_checkpointer(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let pool = self.pool.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !pool.is_closed() {
                tick.tick().await;
                if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)").execute(&pool).await {
                    if !pool.is_closed() {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    }
                }
            }
        }))
    }

    /// Closes the pool; on SQLite, first folds the write-ahead log into the database file.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("pragma wal_checkpoint(truncate)").execute(&self.pool).await;
        }
        self.pool.close().await;
    }
}

/// On SQLite, `begin immediate`: the transaction takes the write lock at once, waiting for it
/// (busy_timeout) if another writer holds it. A deferred transaction that reads and then writes
/// fails at once with SQLITE_BUSY_SNAPSHOT (517, "database is locked", no waiting) when another
/// writer committed in between — the outbox worker, a sweep, a second process — and that
/// surfaced as a 500 under load. PostgreSQL needs no such thing.
fn begin_statement(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "begin immediate",
        Backend::Postgres => "begin",
    }
}

/// A transaction on a connection a lane keeps for itself, begun as [`Store::begin`] does.
///
/// # Errors
/// When the transaction cannot start.
pub async fn begin_on(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<Tx<'_>, StoreError> {
    use sqlx::Connection as _;
    Ok(conn.begin_with(begin_statement(backend)).await?)
}

/// Serializes turns of these conversations across server processes on PostgreSQL until the
/// transaction ends. Keys are locked in ascending order, so two batches never deadlock.
/// SQLite needs nothing: its single writer already serializes transactions.
///
/// # Errors
/// When the lock statement fails.
pub async fn lock_conversations(tx: &mut Tx<'_>, backend: Backend, keys: &[i64]) -> Result<(), StoreError> {
    if backend == Backend::Postgres && !keys.is_empty() {
        // One statement for the whole batch. PostgreSQL evaluates volatile functions in the
        // select list after ORDER BY, so the locks are taken in ascending key order.
        let list = keys.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        sqlx::query(LOCK_KEYS).bind(list).execute(&mut **tx).await?;
    }
    Ok(())
}

const LOCK_KEYS: &str =
    "select pg_advisory_xact_lock(k) from unnest(string_to_array($1, ',')::bigint[]) as k order by k";

/// 5 s: a database that has not answered by then is not going to.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite file's path in a `sqlite:` URL.
fn sqlite_path(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or("")
}

/// What the database is, for an operator: the SQLite path, or the PostgreSQL URL without its
/// password.
fn shown(url: &str) -> String {
    if !url.starts_with("postgres") {
        return sqlite_path(url).to_owned();
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Creates the SQLite file's folder (owner-only) and the file itself (owner-only) when they do
/// not exist: the database holds consent evidence and customer records. SQLite gives its
/// `-wal` and `-shm` files the same permissions as the database file.
fn prepare_sqlite_file(url: &str) -> std::io::Result<()> {
    let path = std::path::Path::new(sqlite_path(url));
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent)?;
    }
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Placeholders for statements whose length depends on the data (multi-row inserts, `in`
/// lists). Only placeholders are ever formatted into SQL, never values.
///
/// SQLite gets anonymous `?` (bound in order); PostgreSQL gets `$1, $2, …`. SQLite resolves
/// a named `$N` by walking a list, which makes a 600-parameter statement quadratic.
pub(crate) struct Placeholders {
    numbered: bool,
    next: usize,
}

impl Placeholders {
    pub(crate) fn for_tx(tx: &Tx<'_>) -> Self {
        Self { numbered: tx.backend_name() != "SQLite", next: 0 }
    }

    pub(crate) fn for_store(store: &Store) -> Self {
        Self { numbered: store.backend() == Backend::Postgres, next: 0 }
    }

    pub(crate) fn next(&mut self) -> String {
        if self.numbered {
            self.next += 1;
            format!("${}", self.next)
        } else {
            "?".to_owned()
        }
    }

    /// `a, b, c` for `n` values.
    pub(crate) fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", ")
    }

    /// `(a, b), (c, d)` for `rows` rows of `columns` values.
    pub(crate) fn rows(&mut self, rows: usize, columns: usize) -> String {
        (0..rows).map(|_| format!("({})", self.list(columns))).collect::<Vec<_>>().join(", ")
    }
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what, detail: detail.to_string() }
}
