//! The persistent directory: organizers, conference IDs, PIN tags, settings and audit log.
//!
//! Embedded SQLite (one file, `dialbridge.db`, under the data directory) through `sqlx`
//! by default, or a PostgreSQL server (`--database-url`) that several bridge nodes can
//! share; plain SQL with `$1` placeholders runs on both ([`backend`] says how). Timestamps
//! are unix seconds passed in by the caller; nothing here reads a clock. PINs never reach
//! this module, only their tags.

/// Runs writes in one change and commits it, for the store's own tests.
#[cfg(test)]
macro_rules! in_change {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut $c = $store.change().await.expect("begin a change");
        let out = $body;
        $c.commit().await.expect("commit the change");
        out
    }};
}

/// Defines test `$name` twice, as `$name::sqlite` and `$name::postgres`: the same body run
/// on a fresh SQLite store and on a fresh database of a throwaway PostgreSQL server.
#[cfg(test)]
macro_rules! both_backends {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: &crate::store::Store) $body

            #[tokio::test]
            async fn sqlite() {
                let db = crate::store::testing::TestDb::sqlite().await;
                run(&db.store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = crate::store::testing::TestDb::postgres().await;
                run(&db.store).await;
            }
        }
    };
}

mod audit;
pub(crate) mod backend;
mod backup;
mod change;
mod cluster;
mod lockouts;
mod organizers;
mod settings;
mod tokens;
mod webhooks;

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Postgres, Sqlite, SqlitePool};

use crate::auth::pin::PinError;

pub use audit::{AuditRecord, MAX_AUDIT_DETAIL_LEN, MAX_AUDIT_LABEL_LEN, NewAuditEntry};
use backend::{Backend, Conn, on_backend};
pub use backend::{DatabaseUrl, DatabaseUrlError};
pub use backup::{DatabaseCopy, copy_database};
pub use change::Change;
pub use cluster::{ClusterLoad, HeartbeatError, MeetingOwner, NodeBeat, NodeStatus};
pub use organizers::{
    CONFERENCE_ID_LEN, MAX_CONFERENCE_ID_ATTEMPTS, OrganizerChanges, OrganizerRecord,
};
pub use settings::{ANONYMOUS_START_KEY, AUTO_EMAIL_KEY, PIN_KEY_CHECK_KEY, PIN_LENGTH_KEY};
pub use webhooks::WebhookDelivery;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "dialbridge.db";

/// Few connections: SQLite has one writer at a time anyway, and each idle connection
/// holds a page cache and a worker thread.
const POOL_SIZE: u32 = 4;

/// Connections per node to a PostgreSQL directory: the call path reads concurrently, and
/// a cluster multiplies this by its node count against the server's `max_connections`.
const PG_POOL_SIZE: u32 = 8;

/// How long a query waits for a PostgreSQL connection before the caller gets an error
/// (and a goodbye), so a server that is down cannot hold calls in the IVR.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a writer waits for another one before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong opening or using the directory database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or inspected.
    #[error("cannot create data directory {path}: {source}")]
    CreateDataDir {
        /// The data directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Something other than a directory sits where the data directory should be.
    #[error(
        "data directory {path} exists but is not a directory: move it away or choose another data directory"
    )]
    DataDirNotADirectory {
        /// The data directory.
        path: PathBuf,
    },
    /// The database file could not be created with owner-only permissions.
    #[error("cannot create database file {path}: {source}")]
    CreateDatabaseFile {
        /// The database file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A database file with loose permissions could not be made owner-only.
    #[error(
        "cannot make {path} owner-only: {source} (run `chmod 600` on it as its owner, or start dialbridge as the owner)"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The backup file name cannot be handed to SQLite.
    #[error("the backup file name {path} is not valid UTF-8: choose a plain file name")]
    BackupName {
        /// The backup file.
        path: PathBuf,
    },
    /// The fresh copy failed SQLite's integrity check.
    #[error(
        "the copy {path} failed its integrity check ({report}): the live database may be damaged; \
         keep the previous backup and check the live one with `sqlite3 dialbridge.db 'PRAGMA integrity_check'`"
    )]
    CopyDamaged {
        /// The copy.
        path: PathBuf,
        /// What `PRAGMA integrity_check` said.
        report: String,
    },
    /// The copy could not be flushed to disk or measured.
    #[error("cannot write the backup {path} to disk: {source}")]
    WriteCopy {
        /// The copy.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// SQLite refused to open the database (corrupt, not a database, locked by another program...).
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: sqlx::Error,
    },
    /// The PostgreSQL server could not be reached or refused the login.
    #[error("cannot connect to the PostgreSQL directory {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: DatabaseUrl,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error(
        "cannot update the database schema: {0} (was this database written by a newer dialbridge?)"
    )]
    Migrate(#[source] MigrateError),
    /// A cluster operation on the single-node SQLite directory.
    #[error("this needs a PostgreSQL directory shared by the cluster's nodes (--database-url)")]
    NotShared,
    /// A query failed; `operation` says what we were doing.
    #[error("database error while {operation}: {source}")]
    Query {
        /// What we were doing, e.g. "looking up a conference ID".
        operation: &'static str,
        /// What the database said.
        #[source]
        source: sqlx::Error,
    },
    /// No organizer has this id.
    #[error("no organizer with id {id}")]
    OrganizerNotFound {
        /// The id asked for.
        id: i64,
    },
    /// Every generated conference ID clashed with an existing one: the ID space is crowded.
    #[error(
        "could not find a free conference ID after {attempts} tries: the directory is nearly full \
         for {CONFERENCE_ID_LEN}-digit IDs or the random source is broken"
    )]
    ConferenceIdsExhausted {
        /// How many candidates were tried.
        attempts: u32,
    },
    /// The operating system could not provide random bytes for a conference ID.
    #[error("the operating system's random number generator failed: {0}")]
    RandomSource(#[source] rand::rngs::SysError),
    /// A stored row breaks an invariant the schema cannot express (or was edited by hand).
    #[error(
        "organizer {id} has an invalid {column} in the database ({problem}): repair the row or restore a backup"
    )]
    CorruptOrganizer {
        /// The organizer row.
        id: i64,
        /// The offending column.
        column: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A setting holds a value this version cannot use.
    #[error("setting {key} has the unusable value {value:?}: {source}")]
    InvalidSetting {
        /// The settings key.
        key: &'static str,
        /// The stored value (settings hold no secrets).
        value: String,
        /// Why it is unusable.
        #[source]
        source: PinError,
    },
    /// An audit field is longer than the log accepts.
    #[error("audit {field} is {actual} bytes long, at most {max} are accepted")]
    AuditFieldTooLong {
        /// The field name.
        field: &'static str,
        /// Its length in bytes.
        actual: usize,
        /// The limit.
        max: usize,
    },
}

impl StoreError {
    fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { operation, source }
    }
}

/// A pooled connection of either kind.
pub(crate) type PooledConn =
    Backend<sqlx::pool::PoolConnection<Sqlite>, sqlx::pool::PoolConnection<Postgres>>;

impl PooledConn {
    /// The connection as queries borrow it.
    pub(crate) fn as_conn(&mut self) -> Conn<'_> {
        match self {
            Backend::Sqlite(c) => Backend::Sqlite(&mut **c),
            Backend::Postgres(c) => Backend::Postgres(&mut **c),
        }
    }
}

/// Handle to the directory database; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Backend<SqlitePool, PgPool>,
    /// Changes committed through this handle and its clones (the webhook outbox's aside), so
    /// caches of reads know when they are stale.
    writes: Arc<AtomicU64>,
}

impl Store {
    /// How many changes of the directory this process has committed (the webhook outbox's
    /// are not counted): a read cached while the count stays the same has seen every one.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// A pooled connection, for the reads whose query a [`Change`] shares.
    pub(crate) async fn connection(&self) -> Result<PooledConn, StoreError> {
        let wait = StoreError::query("waiting for a database connection");
        match &self.pool {
            Backend::Sqlite(p) => p.acquire().await.map(Backend::Sqlite).map_err(wait),
            Backend::Postgres(p) => p.acquire().await.map(Backend::Postgres).map_err(wait),
        }
    }

    /// The SQLite pool, for tests of SQLite's own settings.
    #[cfg(test)]
    pub(crate) fn sqlite_pool(&self) -> &SqlitePool {
        match &self.pool {
            Backend::Sqlite(pool) => pool,
            Backend::Postgres(_) => panic!("not a SQLite store"),
        }
    }

    /// Opens the directory where the operator put it: the PostgreSQL server at `url`, or
    /// without one the SQLite file under `data_dir` ([`Store::open`]).
    ///
    /// The data directory is created either way: the PIN key, the e-mail outbox and the
    /// admin token stay files in it.
    pub async fn open_at(data_dir: &Path, url: Option<&DatabaseUrl>) -> Result<Store, StoreError> {
        match url {
            None => Store::open(data_dir).await,
            Some(url) => {
                ensure_data_dir(data_dir)?;
                Store::open_postgres(url).await
            }
        }
    }

    /// Connects to a PostgreSQL directory and brings its schema up to date (the migrator
    /// holds an advisory lock, so nodes starting together do not race).
    pub async fn open_postgres(url: &DatabaseUrl) -> Result<Store, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: url.clone(),
            source,
        };
        let options: PgConnectOptions = url.expose().parse().map_err(connect_err)?;
        // One plain connection first: the pool retries until its timeout and then reports
        // only the timeout, not why (refused, wrong password, no such database).
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(connect_err)?;
        if let Err(err) = probe.close().await {
            tracing::debug!(error = %err, "closing the probe connection");
        }
        let pool = PgPoolOptions::new()
            .max_connections(PG_POOL_SIZE)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        if let Err(err) = sqlx::migrate!("./migrations/postgres").run(&pool).await {
            pool.close().await;
            return Err(StoreError::Migrate(err));
        }
        tracing::info!(url = %url, "directory database open (PostgreSQL)");
        tracing::info!(
            "SQLite-only steps skipped: no database file to check (WAL, synchronous=FULL, 0600) \
             and no `dialbridge backup`; back the directory up with pg_dump"
        );
        Ok(Store {
            pool: Backend::Postgres(pool),
            writes: Arc::default(),
        })
    }

    /// Opens (or creates) the database under `data_dir` and brings its schema up to date.
    ///
    /// The directory is created 0700 and the database file 0600 before SQLite touches
    /// them, because the file holds PIN tags and e-mail addresses; SQLite gives its WAL
    /// and shared-memory files the database file's permissions. Existing database files
    /// that group or others may read are made owner-only, with a warning.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        ensure_data_dir(data_dir)?;
        let db_path = data_dir.join(DATABASE_FILE);
        ensure_db_file(&db_path)?;

        let options = SqliteConnectOptions::new()
            .filename(&db_path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a PIN reset the admin was shown must survive a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: db_path.clone(),
                source,
            })?;
        if let Err(err) = sqlx::migrate!("./migrations").run(&pool).await {
            pool.close().await;
            return Err(StoreError::Migrate(err));
        }
        tracing::info!(path = %db_path.display(), "directory database open");
        Ok(Store {
            pool: Backend::Sqlite(pool),
            writes: Arc::default(),
        })
    }

    /// Whether `close` has run (the bridge is stopping): background writers stop quietly.
    pub fn is_closed(&self) -> bool {
        on_backend!(&self.pool, |p| p.is_closed())
    }

    /// Flushes the WAL into the database file and closes every connection.
    ///
    /// Call before exit so the data directory holds one self-contained file that can be
    /// copied as a backup. The pool is closed even when the checkpoint fails.
    /// On PostgreSQL there is no file to flush: the connections are just closed.
    pub async fn close(&self) -> Result<(), StoreError> {
        let pool = match &self.pool {
            Backend::Sqlite(pool) => pool,
            Backend::Postgres(pool) => {
                pool.close().await;
                return Ok(());
            }
        };
        let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .map(drop)
            .map_err(StoreError::query("checkpointing the write-ahead log"));
        pool.close().await;
        checkpoint
    }
}

fn ensure_data_dir(path: &Path) -> Result<(), StoreError> {
    let create_err = |source| StoreError::CreateDataDir {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(create_err)?;
    let meta = std::fs::metadata(path).map_err(create_err)?;
    if !meta.is_dir() {
        return Err(StoreError::DataDirNotADirectory {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        // An existing directory is the operator's choice (systemd's StateDirectory, or a
        // shared one such as /tmp that must never be narrowed); the files inside are
        // owner-only anyway, so warn rather than change or refuse it.
        tracing::warn!(path = %path.display(), mode = format_args!("{mode:04o}"),
            "data directory is accessible by group or others; the files in it are owner-only, \
             but others can see their names and sizes: chmod 700 it unless it is shared on purpose");
    }
    Ok(())
}

fn ensure_db_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            // The WAL and shared-memory files left by a crash hold recent changes too.
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                tighten_to_owner_only(Path::new(&file))?;
            }
            Ok(())
        }
        Err(source) => Err(StoreError::CreateDatabaseFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Takes group and other permissions away from one of our own database files, saying so:
/// the file is ours by name, holds e-mail addresses and PIN tags, and nobody but the
/// bridge needs to read it (backups go through `dialbridge backup`).
fn tighten_to_owner_only(path: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Permissions {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700)).map_err(
        |source| StoreError::Permissions {
            path: path.to_path_buf(),
            source,
        },
    )?;
    tracing::warn!(path = %path.display(), was = format_args!("{mode:04o}"),
        now = format_args!("{:04o}", mode & 0o700),
        "database file was accessible by group or others; made it owner-only");
    Ok(())
}

/// The PostgreSQL server helper of the end-to-end tests, shared with the store's tests.
#[cfg(test)]
#[path = "../../tests/support/postgres.rs"]
pub(crate) mod test_postgres;

/// Fresh stores of either backend for the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Arc, Mutex, Weak};

    use super::test_postgres::Postgres;
    use super::{DatabaseUrl, Store};

    /// One server for the tests that run at the same time; stopped when the last of them
    /// drops its handle (a static would never be dropped, and the server would outlive us).
    static SERVER: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
    static NEXT_DB: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

    /// A store and what keeps its database alive.
    pub(crate) struct TestDb {
        /// The store under test.
        pub store: Store,
        _dir: tempfile::TempDir,
        _server: Option<Arc<Postgres>>,
    }

    /// The running test server, started when no test holds one.
    pub(crate) fn server() -> Arc<Postgres> {
        let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = slot.upgrade() {
            return server;
        }
        let server = Arc::new(Postgres::start());
        *slot = Arc::downgrade(&server);
        server
    }

    /// The URL of a fresh, empty database on `server`.
    pub(crate) fn fresh_database(server: &Postgres) -> DatabaseUrl {
        let n = NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        server
            .create_database(&name)
            .parse()
            .expect("valid database URL")
    }

    impl TestDb {
        /// SQLite in a temp directory.
        pub(crate) async fn sqlite() -> TestDb {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(dir.path()).await.expect("open SQLite");
            TestDb {
                store,
                _dir: dir,
                _server: None,
            }
        }

        /// A fresh database on the shared test server.
        pub(crate) async fn postgres() -> TestDb {
            let server = server();
            let url = fresh_database(&server);
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open_at(dir.path(), Some(&url))
                .await
                .expect("open PostgreSQL");
            TestDb {
                store,
                _dir: dir,
                _server: Some(server),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn open_creates_private_dir_and_db_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let data = root.path().join("nested").join("data");
        let store = Store::open(&data).await.expect("open");
        assert_eq!(mode_of(&data), 0o700);
        assert_eq!(mode_of(&data.join(DATABASE_FILE)), 0o600);
        // SQLite copies the database file's mode onto the WAL it creates.
        let wal = data.join("dialbridge.db-wal");
        if wal.exists() {
            assert_eq!(mode_of(&wal), 0o600);
        }
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn open_sets_wal_full_sync_and_foreign_keys() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).await.expect("open");
        let mut conn = store.sqlite_pool().acquire().await.expect("connection");
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .expect("journal_mode");
        assert_eq!(journal, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .expect("synchronous");
        assert_eq!(sync, 2, "FULL");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .expect("foreign_keys");
        assert_eq!(fk, 1);
        drop(conn);
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn every_pooled_connection_syncs_fully() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).await.expect("open");
        // Hold them all at once so the pool has to open every one of them.
        let mut conns = Vec::new();
        for _ in 0..POOL_SIZE {
            conns.push(store.sqlite_pool().acquire().await.expect("connection"));
        }
        for conn in &mut conns {
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .expect("synchronous");
            assert_eq!(sync, 2, "FULL on every connection");
        }
        drop(conns);
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn open_makes_loose_database_files_owner_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).await.expect("open");
        in_change!(store, |c| c
            .create_organizer("Ada", "ada@example.org", 1)
            .await)
        .expect("create");
        store.close().await.expect("close");
        let db = root.path().join(DATABASE_FILE);
        let wal = root.path().join("dialbridge.db-wal");
        std::fs::write(&wal, b"").expect("stale WAL");
        for path in [&db, &wal] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let store = Store::open(root.path()).await.expect("reopen");
        assert_eq!(mode_of(&db), 0o600);
        assert_eq!(mode_of(&wal), 0o600);
        assert_eq!(
            store.organizers().await.expect("list").len(),
            1,
            "data kept"
        );
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn close_leaves_no_write_ahead_log_behind() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).await.expect("open");
        in_change!(store, |c| c
            .create_organizer("Ada", "ada@example.org", 1_000)
            .await)
        .expect("create");
        store.close().await.expect("close");
        let wal = root.path().join("dialbridge.db-wal");
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(wal_len, 0, "WAL checkpointed into the database file");
    }

    #[tokio::test]
    async fn open_refuses_a_file_where_the_data_dir_should_be() {
        let root = tempfile::tempdir().expect("tempdir");
        let not_dir = root.path().join("data");
        std::fs::write(&not_dir, b"x").expect("write");
        let err = Store::open(&not_dir).await.expect_err("file is not a dir");
        assert!(
            matches!(
                err,
                StoreError::CreateDataDir { .. } | StoreError::DataDirNotADirectory { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&not_dir.display().to_string()));
    }

    #[tokio::test]
    async fn open_refuses_a_file_that_is_not_a_database() {
        let root = tempfile::tempdir().expect("tempdir");
        let db = root.path().join(DATABASE_FILE);
        std::fs::write(&db, vec![0x55u8; 4096]).expect("write");
        let err = Store::open(root.path()).await.expect_err("garbage refused");
        assert!(
            matches!(err, StoreError::Open { .. } | StoreError::Migrate(_)),
            "{err}"
        );
    }

    #[test]
    fn every_sqlite_migration_has_a_postgresql_twin() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |dir: &Path| -> std::collections::BTreeSet<String> {
            std::fs::read_dir(dir)
                .expect("migrations dir")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect()
        };
        assert_eq!(
            names(&root),
            names(&root.join("postgres")),
            "each migrations/NNNN_name.sql needs migrations/postgres/NNNN_name.sql, the same \
             change in PostgreSQL's dialect (BIGINT, BOOLEAN, BYTEA, identity ids)"
        );
    }

    #[tokio::test]
    async fn reopening_is_idempotent_for_migrations() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::open(root.path()).await.expect("open");
        store.close().await.expect("close");
        let store = Store::open(root.path()).await.expect("reopen");
        store.close().await.expect("close");
    }
}
