//! The load benchmark's toolkit: start the real release binary, create organizers through
//! its API, drive it with SIPp, and read the bridge's CPU and memory from /proc and its
//! counters from /metrics. Shared by `benches/load.rs` and the CI smoke test.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/support/loopback.rs"]
mod loopback;

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dialbridge")
}

/// Repository root (scenarios open files relative to it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running bridge.
pub struct Bridge {
    child: Child,
    /// SIP address.
    pub sip: SocketAddr,
    /// Admin HTTP address.
    pub http: SocketAddr,
    /// Data directory.
    pub dir: tempfile::TempDir,
    token: String,
}

fn free_tcp() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free TCP port")
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
}

impl Bridge {
    /// Starts `dialbridge serve` with an RTP range and extra flags; waits until it answers.
    // The child is killed and waited for in `Drop`, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    pub fn start(rtp: &str, extra: &[&str]) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let sip = free_udp();
        let http = free_tcp();
        let log = std::fs::File::create(dir.path().join("bridge.log")).expect("log");
        let mut child = Command::new(binary())
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--log", "warn", "serve", "--sip-listen"])
            .arg(sip.to_string())
            .args(["--http-listen", &http.to_string(), "--rtp-ports", rtp])
            // Capacity is what is measured: admission control off, unless the scenario
            // sets it (the overload scenario measures admission itself).
            .args(if extra.iter().any(|a| a.starts_with("--max-call")) {
                &[][..]
            } else {
                &["--max-calls", "0", "--max-call-rate", "0"][..]
            })
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn dialbridge");
        let deadline = Instant::now() + Duration::from_secs(20);
        let token_path = dir.path().join("admin-token");
        loop {
            if let Ok(t) = std::fs::read_to_string(&token_path)
                && TcpStream::connect(http).is_ok()
            {
                let token = t.trim().to_string();
                let b = Bridge {
                    child,
                    sip,
                    http,
                    dir,
                    token,
                };
                // Bulk organizer creation should not fill the outbox.
                b.api("PUT", "/api/settings", Some(r#"{"auto_email": false}"#));
                return b;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the bridge did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One admin API request; returns (status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        http(self.http, method, path, Some(&self.token), body)
    }

    /// Creates `n` organizers; returns (conference ID, PIN) pairs.
    pub fn organizers(&self, n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                let body = format!(r#"{{"name": "Load {i}", "email": "load{i}@example.com"}}"#);
                let (status, text) = self.api("POST", "/api/organizers", Some(&body));
                assert_eq!(status, 201, "{text}");
                let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                (
                    v["organizer"]["conference_id"]
                        .as_str()
                        .expect("id")
                        .to_string(),
                    v["pin"].as_str().expect("pin").to_string(),
                )
            })
            .collect()
    }

    /// The bridge's counters.
    pub fn metrics(&self) -> Metrics {
        let (status, text) = http(self.http, "GET", "/metrics", None, None);
        assert_eq!(status, 200);
        Metrics::parse(&text)
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.pid())
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The bridge's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bridge.log")).unwrap_or_default()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"), 11)
}

/// CPU seconds used by this process's children that have ended and been waited for (SIPp
/// runs; the bridge is waited for only when it stops), from /proc/self/stat.
pub fn ended_children_cpu_seconds() -> f64 {
    stat_cpu_seconds("/proc/self/stat", 13)
}

/// utime + stime (first = 11) or cutime + cstime (first = 13) of a stat file, in seconds.
fn stat_cpu_seconds(path: &str, first: usize) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the ")" that ends the command name: state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(first) + ticks(first + 1)) / hz.max(1.0)
}

/// A minimal HTTP/1.1 request.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// Parsed Prometheus text: each series line by its full name (with labels).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    series: HashMap<String, f64>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        Metrics { series }
    }

    /// Sum of every series of this metric (all label values).
    pub fn sum(&self, name: &str) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }

    /// One exact series.
    pub fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// The `q` quantile (seconds) of a histogram over all workers, counting only what was
    /// observed between `before` and `self`.
    pub fn quantile_since(&self, before: &Metrics, name: &str, q: f64) -> Option<f64> {
        let mut buckets: HashMap<String, f64> = HashMap::new();
        for (k, v) in &self.series {
            let Some(rest) = k.strip_prefix(&format!("{name}_bucket{{")) else {
                continue;
            };
            let le = rest
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string();
            let old = before.series.get(k).copied().unwrap_or(0.0);
            *buckets.entry(le).or_default() += v - old;
        }
        let mut sorted: Vec<(f64, f64)> = buckets
            .into_iter()
            .map(|(le, c)| (le.parse::<f64>().unwrap_or(f64::INFINITY), c))
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = sorted.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let target = total * q;
        sorted.iter().find(|(_, c)| *c >= target).map(|(le, _)| *le)
    }
}

/// Writes `rows` as a SIPp `-inf` file (SEQUENTIAL).
pub fn write_csv(path: &Path, rows: &[String]) {
    let mut text = String::from("SEQUENTIAL\n");
    for r in rows {
        text.push_str(r);
        text.push_str(";\n");
    }
    std::fs::write(path, text).expect("write CSV");
}

/// Writes a pcap of RFC 4733 events for `keys` (payload type `pt`): per key 3 packets 20 ms
/// apart (the start, then the end packet sent twice), keys 60 ms apart, one SSRC, distinct
/// timestamps.
pub fn write_dtmf_pcap(path: &Path, keys: &str, pt: u8) {
    let mut out = Vec::new();
    // magic, version 2.4 (two u16s, little-endian), zone, sigfigs, snaplen, Ethernet.
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut seq: u16 = 1000;
    let ssrc: u32 = 0x0d1a_1b00;
    for (k, key) in keys.chars().enumerate() {
        let event: u8 = match key {
            '0'..='9' => key as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => continue,
        };
        // 60 ms per key: the start packet and two retransmitted end packets. Short keys keep
        // SIPp's pcap player (a raw socket per playing call) alive for as little as possible.
        let ts = 8000 + k as u32 * 480;
        for p in 0..3u32 {
            let at_us = u64::from(k as u32 * 60_000 + p * 20_000);
            let end = p >= 1;
            let duration = (160 * (p.min(1) + 1)) as u16;
            let mut rtp = vec![0x80, pt | if p == 0 { 0x80 } else { 0 }];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            rtp.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
            rtp.extend_from_slice(&duration.to_be_bytes());
            seq = seq.wrapping_add(1);
            let udp_len = 8 + rtp.len();
            let ip_len = 20 + udp_len;
            let mut ip = vec![
                0x45,
                0,
                (ip_len >> 8) as u8,
                ip_len as u8,
                0,
                0,
                0x40,
                0,
                64,
                17,
                0,
                0,
                127,
                0,
                0,
                1,
                127,
                0,
                0,
                1,
            ];
            let sum = ip
                .chunks(2)
                .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                .sum::<u32>();
            let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&[0x08, 0x00]);
            frame.extend_from_slice(&ip);
            frame.extend_from_slice(&6000u16.to_be_bytes());
            frame.extend_from_slice(&7000u16.to_be_bytes());
            frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(&rtp);
            for v in [
                (1_800_000_000 + at_us / 1_000_000) as u32,
                (at_us % 1_000_000) as u32,
                frame.len() as u32,
                frame.len() as u32,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&frame);
        }
    }
    std::fs::write(path, out).expect("write pcap");
}

/// What one SIPp run reported.
#[derive(Debug, Default, Clone)]
pub struct SippRun {
    /// Exit code.
    pub exit: i32,
    /// Calls that succeeded.
    pub successful: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Retransmissions SIPp had to send.
    pub retransmissions: u64,
    /// INVITE→200 times in ms (from -trace_rtt).
    pub rtt_ms: Vec<f64>,
}

impl SippRun {
    /// The `q` quantile of the INVITE→200 times.
    pub fn rtt_quantile(&self, q: f64) -> Option<f64> {
        let mut v = self.rtt_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v.get(i).copied()
    }
}

/// A SIPp process running in the background.
pub struct Sipp {
    child: Child,
    dir: PathBuf,
}

static NEXT_PORT_BLOCK: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Ports SIPp instances receive RTP on (`-mp`; SIPp uses mp..mp+3), apart from their SIP
/// ports so that a firewall rule can tell them apart (see `isolate`).
pub const SIPP_MEDIA_PORTS: (u16, u16) = (28000, 31999);

/// Ports for the next SIPp instance: SIP `-p` and control `-cp` in 24000-27999, media `-mp`
/// in 28000-31999; 1,000 blocks of 4, reused round-robin.
pub fn sipp_ports() -> (u16, u16, u16) {
    let block = NEXT_PORT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
    let sip = 24000 + block * 4;
    (sip, sip + 2, SIPP_MEDIA_PORTS.0 + block * 4)
}

impl Sipp {
    /// Starts SIPp with a scenario, CSV and extra arguments; statistics go to `dir`.
    pub fn start(
        bridge: SocketAddr,
        scenario: &Path,
        csv: &Path,
        dir: &Path,
        extra: &[String],
    ) -> Sipp {
        let (p, cp, mp) = sipp_ports();
        let sipp = if Path::new("/usr/bin/sipp").exists() {
            "/usr/bin/sipp".to_string()
        } else {
            "sipp".to_string()
        };
        // SIPp writes its -trace_rtt file into its working directory: the run's own one.
        // Scenarios name their audio files relative to the repository, so link those in.
        let scenarios = dir.join("sip-test-scenarios");
        if !scenarios.exists() {
            std::os::unix::fs::symlink(repo().join("sip-test-scenarios"), &scenarios)
                .expect("link the scenarios into the SIPp work directory");
        }
        let child = Command::new(sipp)
            .current_dir(dir)
            .arg(bridge.to_string())
            .arg("-sf")
            .arg(scenario)
            .arg("-inf")
            .arg(csv)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args([
                "-p",
                &p.to_string(),
                "-cp",
                &cp.to_string(),
                "-mp",
                &mp.to_string(),
            ])
            .args([
                "-nostdin",
                // SIPp's default socket buffers (64 KiB) overflowed at 2,000 calls/s.
                "-buff_size",
                "4194304",
                "-trace_stat",
                "-fd",
                "1",
                "-trace_rtt",
                "-rtt_freq",
                "1",
            ])
            .arg("-stf")
            .arg(dir.join("stat.csv"))
            .args(["-trace_err", "-error_file"])
            .arg(dir.join("errors.log"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run sipp (install it with ./test.sh or apt-get install sip-tester)");
        Sipp {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Waits for SIPp to end (killing it after `limit`) and reads its statistics.
    pub fn finish(mut self, limit: Duration) -> SippRun {
        let deadline = Instant::now() + limit;
        let exit = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break -9;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut run = SippRun {
            exit,
            ..Default::default()
        };
        if let Ok(stat) = std::fs::read_to_string(self.dir.join("stat.csv")) {
            let mut lines = stat.lines().filter(|l| !l.trim().is_empty());
            if let Some(header) = lines.next() {
                let cols: Vec<&str> = header.split(';').collect();
                if let Some(last) = lines.next_back() {
                    let vals: Vec<&str> = last.split(';').collect();
                    let col = |name: &str| {
                        cols.iter()
                            .position(|c| *c == name)
                            .and_then(|i| vals.get(i))
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    run.successful = col("SuccessfulCall(C)");
                    run.failed = col("FailedCall(C)");
                    run.retransmissions = col("Retransmissions(C)");
                }
            }
        }
        // -trace_rtt writes <scenario>_<pid>_rtt.csv in the working directory.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with("_rtt.csv") && name.contains(&format!("_{}_", self.child.id())) {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        run.rtt_ms.extend(text.lines().skip(1).filter_map(|l| {
                            l.split(';')
                                .nth(1)
                                .and_then(|v| v.trim().parse::<f64>().ok())
                        }));
                    }
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        run
    }
}

/// Moves the benchmark (and the bridge and SIPp it starts) into a network namespace of its
/// own with only loopback, and there drops RTP addressed to SIPp at the input hook.
///
/// SIPp ignores the audio it receives, but on loopback the kernel does the receiving side
/// of every packet the bridge sends in the bridge's own thread, and SIPp's pcap player
/// opens a raw socket per playing call that gets a copy of every UDP packet delivered on
/// the machine: hold music to thousands of callers times hundreds of raw sockets swamped
/// the bridge's CPU with kernel work a real network would never give it. Dropped at the
/// input hook, those packets stop before either. Returns how the run is set up, for the
/// report. Must be called before any thread or process is started.
pub fn isolate() -> String {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return "host network (not root: no namespace, RTP to SIPp is received)".into();
    }
    // SAFETY: unshare with a valid flag; called before any thread is spawned.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let err = std::io::Error::last_os_error();
        return format!("host network (unshare: {err}; RTP to SIPp is received)");
    }
    if let Err(err) = loopback::bring_up() {
        panic!("cannot bring up loopback in the benchmark's namespace: {err}");
    }
    let (lo, hi) = SIPP_MEDIA_PORTS;
    let rules = format!(
        "table inet dialbridge_bench {{\n  chain input {{\n    type filter hook input priority -300;\n    udp dport {lo}-{hi} drop\n  }}\n}}\n"
    );
    let nft = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(rules.as_bytes())?;
            }
            child.wait_with_output()
        });
    match nft {
        Ok(out) if out.status.success() => {
            "own network namespace (loopback only); RTP to SIPp dropped at input (nft)".into()
        }
        Ok(out) => format!(
            "own network namespace (loopback only); nft failed ({}): RTP to SIPp is received",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => format!(
            "own network namespace (loopback only); no nft ({err}; apt-get install nftables): RTP to SIPp is received"
        ),
    }
}
