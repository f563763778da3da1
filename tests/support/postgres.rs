//! A throwaway PostgreSQL server for tests: Debian's `postgresql` package (installed by
//! ./test.sh), initialised in a temp directory, listening on a free loopback port with
//! trust authentication, and stopped (`pg_ctl stop -m fast`) when dropped, also when the
//! test panics.
//!
//! `initdb` and `postgres` refuse to run as root, so as root they run as the `postgres`
//! user (`runuser`), which then needs to traverse every directory above the data directory.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Where Debian's `postgresql` package puts the server tools.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// The superuser the cluster is created with; every test database belongs to it.
pub const USER: &str = "dialbridge";

/// A running (or deliberately stopped) PostgreSQL server of a test.
pub struct Postgres {
    bin: PathBuf,
    /// Holds `data/` (the cluster, also its socket and log); removed when dropped.
    root: tempfile::TempDir,
    /// The loopback TCP port.
    pub port: u16,
    as_root: bool,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

impl Postgres {
    /// Initialises a cluster in a temp directory and starts it on a free loopback port.
    pub fn start() -> Postgres {
        let bin = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join("initdb").is_file())
            .expect("PostgreSQL server tools not found: ./test.sh installs Debian's postgresql");
        let root = tempfile::Builder::new()
            .prefix("dialbridge-pg-")
            .tempdir()
            .expect("tempdir");
        let as_root = is_root();
        if as_root {
            // The postgres user must reach data/ through the 0700 temp dir.
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod the temp dir");
        }
        let pg = Postgres {
            bin,
            root,
            port: free_tcp_port(),
            as_root,
        };
        if as_root {
            std::fs::create_dir(pg.data()).expect("create data dir");
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(pg.data())
                .status()
                .expect("run chown");
            assert!(ok.success(), "chown postgres the data dir");
        }
        let out = pg.tool(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                USER,
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again();
        pg
    }

    /// The cluster's data directory.
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Runs one of the server tools, as `postgres` when we are root.
    fn tool(&self, name: &str, args: &[&str]) -> Output {
        let path = self.bin.join(name);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .current_dir("/")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", path.display()))
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data().display().to_string();
        let log = self.data().join("server.log").display().to_string();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str()];
        all.extend_from_slice(args);
        self.tool("pg_ctl", &all)
    }

    /// Starts the server (again, after [`Postgres::stop`]) and waits until it accepts
    /// connections (`pg_ctl -w`).
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data().display()
        );
        let out = self.pg_ctl(&["-w", "-t", "30", "-o", &options, "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.server_log()
        );
    }

    /// Stops the server (fast: open connections are cut, as when it crashes or restarts).
    pub fn stop(&self) {
        let out = self.pg_ctl(&["-w", "-m", "fast", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops and starts the server, as `pg_ctl restart` does.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// Whether the server accepts TCP connections now.
    pub fn accepting(&self) -> bool {
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    /// Creates a fresh database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", USER, name])
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    /// The URL of a database on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Turns TLS on with this certificate and key, and refuses every TCP connection without
    /// it (`hostnossl … reject` first in pg_hba.conf); restarts the server.
    pub fn require_tls(&self, cert: &Path, key: &Path) {
        let data = self.data();
        for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
            std::fs::copy(from, data.join(to)).expect("copy TLS file");
            std::fs::set_permissions(data.join(to), std::fs::Permissions::from_mode(0o600))
                .expect("chmod TLS file");
            if self.as_root {
                let ok = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(data.join(to))
                    .status()
                    .expect("run chown");
                assert!(ok.success(), "chown postgres {to}");
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        let hba = data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(&hba, format!("hostnossl all all all reject\n{rules}"))
            .expect("write pg_hba.conf");
        self.restart();
    }

    /// Runs one SQL statement in `database` with psql; its rows, unaligned.
    pub fn sql(&self, database: &str, statement: &str) -> String {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", USER, "-d", database])
            .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", statement])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed on {statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's log, for failure messages.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data().join("server.log")).unwrap_or_default()
    }

    /// Waits until `cond` holds, polling, for at most `limit`.
    pub fn wait_for(&self, limit: Duration, mut cond: impl FnMut(&Postgres) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if cond(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cond(self)
    }

    /// The data directory's path, for messages.
    pub fn path(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Already stopped is fine; a panic here would abort a panicking test.
        let _ = self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }
}

/// This test binary's one shared server (see [`shared_database`]). A static is never
/// dropped, so the first use registers an exit handler that takes the server out and
/// drops it: the server is stopped and its directory removed when the test binary exits,
/// whether its tests passed or failed.
static SHARED: std::sync::Mutex<Option<Postgres>> = std::sync::Mutex::new(None);

extern "C" fn stop_shared() {
    let pg = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    drop(pg);
}

/// A fresh database of its own on the test binary's shared server, started by the first
/// test that asks; returns its URL.
pub fn shared_database() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let name = format!(
        "test_{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pg = shared.get_or_insert_with(|| {
        let pg = Postgres::start();
        // SAFETY: atexit with a plain function that never unwinds (Drop ignores errors).
        let registered = unsafe { libc::atexit(stop_shared) } == 0;
        assert!(
            registered,
            "register the stop of the shared PostgreSQL server"
        );
        pg
    });
    pg.create_database(&name)
}
