//! Runs one test in a network namespace of its own with only loopback up, so that softphones
//! (which advertise whatever address they find) and the bridge can talk only over 127.0.0.1
//! and nothing they send can leave the machine.
//!
//! The test binary runs itself again under `unshare --net --pid --fork --kill-child`, with
//! only that test selected; the inner run brings `lo` up and runs the body. The new PID
//! namespace makes every process the body starts (bridge, phones) die with it, even when the
//! outer run has to kill it for taking too long.

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "loopback.rs"]
mod loopback;

/// Names the test the inner run is for; set only in the namespace.
const INNER: &str = "DIALBRIDGE_NETNS_TEST";

/// Printed by the inner run when the body returns: without it, the inner run did not run the
/// body at all (a test name that selects nothing passes vacuously).
const DONE: &str = "netns test body finished:";

/// Runs `body` in a fresh loopback-only network namespace, failing if it fails or takes
/// longer than `limit`. `name` is the test function's name (the libtest filter for it).
#[allow(dead_code)]
pub fn run_isolated(name: &str, limit: Duration, body: impl FnOnce()) {
    isolated(name, limit, &[], body);
}

/// `run_isolated` with a private mount namespace as well, so that the body can mount
/// (a tmpfs over `/var/lib`, say) without the rest of the machine seeing it.
#[allow(dead_code)]
pub fn run_isolated_with_mounts(name: &str, limit: Duration, body: impl FnOnce()) {
    isolated(name, limit, &["--mount"], body);
}

fn isolated(name: &str, limit: Duration, namespaces: &[&str], body: impl FnOnce()) {
    if std::env::var(INNER).as_deref() == Ok(name) {
        loopback::bring_up().expect("bring loopback up in the namespace");
        assert_loopback_only();
        body();
        println!("{DONE} {name}");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Without root, a user namespace maps us to root inside it.
        cmd.arg("--map-root-user");
    }
    let mut child = cmd
        .args(["--net", "--pid", "--fork", "--kill-child"])
        .args(namespaces)
        .arg("--")
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare (util-linux)");
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let ran = out.contains(&format!("{DONE} {name}\n"));
    // Shown on failure, or always with --nocapture (libtest captures it otherwise).
    println!("---- inner run stdout ----\n{out}\n---- inner run stderr ----\n{err}");
    match status {
        None => panic!("{name} took longer than {limit:?} in its namespace"),
        Some(s) => assert!(s.success(), "{name} failed in its namespace ({s})"),
    }
    assert!(ran, "the inner run did not run {name}'s body");
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut p) = pipe {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// The namespace has no interface but `lo`, and no address beyond it can be reached.
fn assert_loopback_only() {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("/proc/self/net/dev");
    let interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"], "only loopback in the test's namespace");
    assert_unreachable("192.0.2.1".parse().expect("address"));
}

/// Fails unless `addr` is loopback or cannot be reached from here (no route to it).
pub fn assert_unreachable(addr: std::net::IpAddr) {
    if addr.is_loopback() {
        return;
    }
    let any = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(any).expect("bind a probe socket");
    let reached = socket.connect((addr, 9)).is_ok();
    assert!(!reached, "{addr} is reachable from the test's namespace");
}
