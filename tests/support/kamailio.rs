//! Kamailio (Debian's `kamailio`, installed by `test.sh`) run by a test: in a temporary
//! directory of its own, in the foreground, in a process group of its own so that its
//! children stop with it, its log (to stderr) kept for the test to read.

// Each test file uses the parts it needs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kamailio on PATH or where Debian installs it.
pub fn binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("kamailio"))
                .find(|p| p.is_file())
        })
        .or_else(|| {
            ["/usr/sbin/kamailio", "/usr/bin/kamailio"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        });
    found.expect("kamailio not found: run ./test.sh, which installs it (Debian package kamailio)")
}

/// A running Kamailio; stopped (its whole process group) when dropped.
pub struct Kamailio {
    child: Child,
    /// Its SIP address over UDP (probed with OPTIONS until it answers).
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio with the config file `cfg` and `-A` defines, listening (among others)
    /// on `addr` over UDP; returns once it answers there.
    pub fn start(dir: tempfile::TempDir, cfg: &Path, defines: &[String], addr: SocketAddr) -> Self {
        let log = dir.path().join("kamailio.log");
        let mut command = Command::new(binary());
        command
            .process_group(0)
            .arg("-f")
            .arg(cfg)
            .args(["-DD", "-E"])
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .arg("-Y")
            .arg(dir.path());
        for d in defines {
            command.arg("-A").arg(d);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
            .spawn()
            .expect("start kamailio");
        let kamailio = Kamailio {
            child,
            addr,
            log,
            _dir: dir,
        };
        kamailio.wait_answering();
        kamailio
    }

    /// Waits until Kamailio answers an OPTIONS on its UDP address (whatever the answer).
    fn wait_answering(&self) {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok();
        let local = probe.local_addr().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let options = format!(
                "OPTIONS sip:probe@{0} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{1:x}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:probe@{0}>\r\n\
                 Call-ID: {1:x}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                self.addr,
                rand::random::<u64>()
            );
            let _ = probe.send_to(options.as_bytes(), self.addr);
            if probe.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        panic!("kamailio did not start; its log:\n{}", self.log_text());
    }

    /// Everything it logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log lines with this marker (what the test's script logs with `xlog`).
    pub fn lines(&self, marker: &str) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(marker))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until `pred` holds for the log lines with `marker`.
    pub fn wait_lines(
        &self,
        marker: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[String]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.lines(marker)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what}; kamailio log:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group our own child leads (not reaped yet).
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever of the group is left (a child that outlived its main process).
        // SAFETY: as above; the group id stays ours until every member is gone.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- kamailio log ----\n{}", self.log_text());
        }
    }
}
