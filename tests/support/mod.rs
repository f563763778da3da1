//! Shared pieces of the end-to-end tests: start the real `dialbridge` binary on 127.0.0.1,
//! create organizers through its CLI, and call it with the test phone.

#![allow(dead_code)]

pub mod http;
pub mod metrics;
pub mod phone;
pub mod postgres;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dialbridge::ivr::assets::Assets;
use dialbridge::media::codec::{Codec, Law};

use phone::Heard;

/// Secrets the tests have seen (PINs, tokens): no bridge log may contain any of them.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Reads `read` every 50 ms until `done` holds of its value or `limit` passes, and returns
/// the last value for the caller to assert on: a gauge a media thread publishes once a frame
/// can lag a call that has just moved between threads.
pub fn settle<T>(limit: Duration, mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + limit;
    let mut value = read();
    while !done(&value) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        value = read();
    }
    value
}

/// Notes a secret (a PIN shown once, a token) that must never reach a log.
pub fn remember_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() >= 4
        && let Ok(mut s) = SECRETS.lock()
        && !s.iter().any(|x| x == secret)
    {
        s.push(secret.to_string());
    }
}

/// Every string field named `pin` or `token` anywhere in a JSON value.
pub fn remember_json_secrets(v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == "pin" || k.ends_with("token") => {
                        remember_secret(s)
                    }
                    other => remember_json_secrets(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(remember_json_secrets),
        _ => {}
    }
}

/// Log fields whose numbers are not secrets (ports, counters, ids), so a PIN that happens
/// to equal one is no leak.
const NUMERIC_FIELDS: &[&str] = &[
    "port=",
    "rtp_port=",
    "packets_in=",
    "packets_out=",
    "bytes=",
    "ticket=",
    "call=",
    "organizer_id=",
    "worker=",
    "id=",
    "pid=",
    "rtp=",
    // The calling number a scanner or phone put in From: the caller's, never a PIN.
    "from=\"",
];

/// The secrets that occur in `log`. Long secrets (tokens, keys) match anywhere; a numeric
/// PIN matches as a whole number (not inside a longer word or hex ID) that is not a port
/// (`:NNNNN`) nor a known numeric field.
pub fn leaked_secrets(log: &str, secrets: &[String]) -> Vec<String> {
    let mut leaks = Vec::new();
    for secret in secrets {
        let numeric = secret.bytes().all(|b| b.is_ascii_digit());
        if !numeric || secret.len() >= 10 {
            if log.contains(secret.as_str()) {
                leaks.push(secret.clone());
            }
            continue;
        }
        let bytes = log.as_bytes();
        let mut from = 0;
        while let Some(at) = log.get(from..).and_then(|l| l.find(secret.as_str())) {
            let start = from + at;
            let end = start + secret.len();
            from = end;
            let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
            let after = bytes.get(end).copied();
            // Inside a longer number or word (an address, a port, a random hex ID that
            // happens to hold the digits) it is not the PIN.
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'.')
                || after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.')
            {
                continue;
            }
            // The upper end of a range (`10000-10198`) is a port or a count too.
            let range_end = before == Some(b'-')
                && start
                    .checked_sub(2)
                    .and_then(|i| bytes.get(i))
                    .is_some_and(u8::is_ascii_digit);
            if range_end {
                continue;
            }
            let head = log.get(..start).unwrap_or_default();
            if NUMERIC_FIELDS.iter().any(|f| head.ends_with(f)) {
                continue;
            }
            let line_start = head.rfind('\n').map_or(0, |i| i + 1);
            let line_end = log
                .get(end..)
                .and_then(|l| l.find('\n'))
                .map_or(log.len(), |i| end + i);
            leaks.push(format!(
                "{secret} in: {}",
                log.get(line_start..line_end).unwrap_or_default()
            ));
        }
    }
    leaks
}

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dialbridge")
}

/// An organizer created through the CLI.
#[derive(Clone, Debug)]
pub struct OrganizerInfo {
    /// Database id.
    pub id: i64,
    /// Conference ID to dial.
    pub conference_id: String,
    /// The PIN, as printed once.
    pub pin: String,
}

/// Creates an organizer with `dialbridge organizer add --json`.
pub fn add_organizer(data_dir: &Path, name: &str) -> OrganizerInfo {
    add_organizer_with(data_dir, &[], name)
}

/// `add_organizer` with global flags in front of the command (`--database-url URL`).
pub fn add_organizer_with(data_dir: &Path, global: &[String], name: &str) -> OrganizerInfo {
    let out = Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(global)
        .args(["organizer", "add", "--name", name, "--email"])
        .arg(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        ))
        .arg("--json")
        .output()
        .expect("run dialbridge organizer add");
    assert!(
        out.status.success(),
        "organizer add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    OrganizerInfo {
        id: v["id"].as_i64().expect("id"),
        conference_id: v["conference_id"]
            .as_str()
            .expect("conference_id")
            .to_string(),
        pin: {
            let pin = v["pin"].as_str().expect("pin").to_string();
            remember_secret(&pin);
            pin
        },
    }
}

/// Finds a port on 127.0.0.1 free for both UDP and TCP (the bridge takes SIP on both), above
/// the kernel's ephemeral range (32768–60999), so that no outgoing connection of another test
/// running at the same time can take it in between (or while a bridge restarts on it).
pub fn free_udp_port() -> u16 {
    for _ in 0..1000 {
        let port = 61000 + (rand::random::<u16>() % 4500);
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no free port in 61000-65499");
}

/// A running bridge process; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Bridge {
    child: Child,
    /// The command line it was started with, to start it again on the same data.
    command: Vec<std::ffi::OsString>,
    /// How many times it was started (each run logs to its own file).
    runs: u32,
    /// Its SIP address.
    pub sip: SocketAddr,
    /// Its data directory (kept alive as long as the bridge).
    pub data_dir: tempfile::TempDir,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its admin HTTP address, when started with `http: true`.
    pub http: Option<SocketAddr>,
}

/// Extra `serve` flags for a test bridge.
#[derive(Default, Clone)]
pub struct BridgeOptions {
    /// `--rtp-ports` (default: a private 200-port range).
    pub rtp_ports: Option<String>,
    /// `--answer-delay-ms`.
    pub answer_delay_ms: Option<u64>,
    /// Serve the admin API and pages on a free port.
    pub http: bool,
    /// More flags.
    pub extra: Vec<String>,
    /// Global flags for every command run on this bridge's data, the CLI commands that
    /// create its organizers included (`--database-url URL`).
    pub global: Vec<String>,
}

static NEXT_RANGE: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

impl Bridge {
    /// Starts a bridge with a fresh data directory, creating `organizers` first.
    pub fn start(organizers: &[&str], options: BridgeOptions) -> (Bridge, Vec<OrganizerInfo>) {
        Self::start_in(tempfile::tempdir().expect("tempdir"), organizers, options)
    }

    /// Starts a bridge on `data_dir` (fresh or restored), creating `organizers` first.
    pub fn start_in(
        data_dir: tempfile::TempDir,
        organizers: &[&str],
        options: BridgeOptions,
    ) -> (Bridge, Vec<OrganizerInfo>) {
        let orgs = organizers
            .iter()
            .map(|n| add_organizer_with(data_dir.path(), &options.global, n))
            .collect();
        let port = free_udp_port();
        let sip: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        // Each bridge gets its own RTP range to avoid clashes: 50 ranges of 200 ports in
        // 10000-19999 (SIPp tests use 20000-31999, the kernel's ephemeral ports start at
        // 32768); test processes run side by side, so each starts at a place of its own.
        let slot = (NEXT_RANGE.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + (std::process::id() % 50) as u16 * 7)
            % 50;
        let base = 10000 + slot * 200;
        let rtp = options
            .rtp_ports
            .clone()
            .unwrap_or_else(|| format!("{}-{}", base, base + 198));
        let log = data_dir.path().join("bridge.log");
        let mut command: Vec<std::ffi::OsString> =
            vec!["--data-dir".into(), data_dir.path().into()];
        command.extend(options.global.iter().map(Into::into));
        for arg in ["--log", "debug", "serve", "--sip-listen", &sip.to_string()] {
            command.push(arg.into());
        }
        for arg in ["--rtp-ports", &rtp, "--media-threads", "2"] {
            command.push(arg.into());
        }
        if let Some(ms) = options.answer_delay_ms {
            command.push("--answer-delay-ms".into());
            command.push(ms.to_string().into());
        }
        let http = options.http.then(|| {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("free TCP port");
            SocketAddr::from(([127, 0, 0, 1], port))
        });
        if let Some(addr) = http {
            command.push("--http-listen".into());
            command.push(addr.to_string().into());
        }
        command.extend(options.extra.iter().map(Into::into));
        let child = spawn_bridge(&command, &log);
        let bridge = Bridge {
            child,
            command,
            runs: 1,
            sip,
            data_dir,
            log,
            http,
        };
        bridge.wait_ready();
        (bridge, orgs)
    }

    /// Kills the process with SIGKILL (no shutdown code runs, as in a crash) and reaps it.
    pub fn sigkill(&mut self) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        self.child.wait().expect("reap the killed bridge");
    }

    /// Starts the bridge again on the same data directory, addresses and flags (after
    /// `sigkill` or `terminate`), logging to a new file.
    pub fn restart(&mut self) {
        assert!(
            matches!(self.child.try_wait(), Ok(Some(_))),
            "restart needs a stopped bridge"
        );
        self.runs += 1;
        self.log = self
            .data_dir
            .path()
            .join(format!("bridge-{}.log", self.runs));
        self.child = spawn_bridge(&self.command, &self.log);
        self.wait_ready();
    }

    /// Waits until the admin API answers (it may come up just after SIP).
    pub fn wait_http(&self) {
        let addr = self.http.expect("bridge started with http: true");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(r) = http::try_request(addr, "GET", "/api/openapi.json", &[], None)
                && r.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("admin API did not answer; log:\n{}", self.log_text());
    }

    fn wait_ready(&self) {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let options = format!(
                "OPTIONS sip:bridge@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{r};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag={r}\r\nTo: <sip:bridge@{sip}>\r\n\
                 Call-ID: {r}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip,
                me = probe.local_addr().expect("addr"),
                r = rand::random::<u32>()
            );
            let _ = probe.send_to(options.as_bytes(), self.sip);
            if let Ok((n, _)) = probe.recv_from(&mut buf)
                && buf[..n].starts_with(b"SIP/2.0 200")
            {
                return;
            }
            // A bridge that drops untrusted SIP never answers the probe: its log says when
            // it listens.
            if self.log_text().contains("dialbridge is listening") {
                return;
            }
        }
        panic!("bridge did not answer OPTIONS; log:\n{}", self.log_text());
    }

    /// The admin token the bridge created in its data directory.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("admin-token"))
            .expect("admin-token file")
            .trim()
            .to_string()
    }

    /// An API client for this bridge.
    pub fn api(&self) -> http::Api {
        http::Api {
            addr: self.http.expect("bridge started with http: true"),
            token: self.admin_token(),
        }
    }

    /// The `.eml` files in the outbox, oldest first, as text.
    pub fn outbox(&self) -> Vec<(PathBuf, String)> {
        let dir = self.data_dir.path().join("outbox");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                (p, decode_mail(&text))
            })
            .collect()
    }

    /// Waits until the outbox holds at least `n` mails.
    pub fn wait_outbox(&self, n: usize) -> Vec<(PathBuf, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.outbox();
            if mails.len() >= n || Instant::now() > deadline {
                return mails;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its threads named `prefix…`, each with its scheduling policy and real-time priority as
    /// the kernel reports them (`/proc/PID/task/TID/stat` fields 41 and 40).
    pub fn thread_scheduling(&self, prefix: &str) -> Vec<(String, u32, u32)> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).expect("tasks");
        let mut found = Vec::new();
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let comm = comm.trim().to_owned();
            if !comm.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).expect("stat");
            // The name in parentheses may hold spaces: count fields after its ')'.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .expect("stat")
                .1
                .split_whitespace()
                .collect();
            // Field 3 (state) is the first after ')', so field N is at N - 3.
            let rt_priority = fields[40 - 3].parse().expect("rt_priority");
            let policy = fields[41 - 3].parse().expect("policy");
            found.push((comm, policy, rt_priority));
        }
        found.sort();
        found
    }

    /// The bridge's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` at least `n` times (or panics after `timeout`);
    /// returns when it saw that.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        while self.log_text().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "the bridge never logged {needle:?} {n} times"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Instant::now()
    }

    /// Sends SIGTERM and returns at once (see `wait_exit`).
    pub fn signal_term(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    /// Sends `signal` to the bridge process (SIGHUP, SIGTERM…) without waiting.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
        if std::thread::panicking() {
            eprintln!("---- bridge log ----\n{}", self.log_text());
            return;
        }
        // Every log the suite produces is searched for every PIN, token and key it saw.
        let mut secrets = SECRETS.lock().map(|s| s.clone()).unwrap_or_default();
        if let Ok(token) = std::fs::read_to_string(self.data_dir.path().join("admin-token")) {
            secrets.push(token.trim().to_string());
        }
        if let Ok(key) = std::fs::read(self.data_dir.path().join("pin.key")) {
            secrets.push(key.iter().map(|b| format!("{b:02x}")).collect());
        }
        let leaks = leaked_secrets(&self.log_text(), &secrets);
        assert!(
            leaks.is_empty(),
            "the bridge log holds secrets:\n{}",
            leaks.join("\n")
        );
    }
}

fn spawn_bridge(command: &[std::ffi::OsString], log: &Path) -> Child {
    let log_file = std::fs::File::create(log).expect("log file");
    Command::new(binary())
        .args(command)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("spawn dialbridge serve")
}

/// Headers as they are, body decoded from quoted-printable (what a mail reader shows).
pub fn decode_mail(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let Some((head, body)) = raw.split_once("\n\n") else {
        return raw;
    };
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return raw;
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(v) = joined
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    format!("{head}\n\n{}", String::from_utf8_lossy(&out))
}

/// Waits until the phone has heard `prompt` `times` times in all (μ-law); false after `within`.
pub fn heard_times(
    p: &phone::Phone,
    prompt: dialbridge::ivr::prompt::Prompt,
    times: usize,
    within: Duration,
) -> bool {
    let frames = assets()
        .prompt(prompt)
        .frames(dialbridge::media::codec::Law::Mu)
        .to_vec();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if times_heard(&p.heard(), &frames) >= times {
            return true;
        }
        wait(100);
    }
    false
}

/// A wrong PIN of the same length as `pin`.
pub fn wrong_pin(pin: &str) -> String {
    pin.chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

/// `lines` callers at once, each typing `conference` then `*` and `wrong` three times (the
/// IVR's limit per call): each hears "wrong PIN" twice and then the goodbye.
pub fn wrong_pins_on_lines(sip: SocketAddr, conference: &str, wrong: &str, lines: usize) {
    use dialbridge::ivr::prompt::Prompt;
    std::thread::scope(|s| {
        for _ in 0..lines {
            s.spawn(move || {
                let mut p = phone::Phone::new(sip, Codec::Pcmu, None);
                p.call();
                p.send_digits(&format!("{conference}#*{wrong}#"));
                for n in 1..=2 {
                    assert!(
                        heard_times(&p, Prompt::WrongPin, n, Duration::from_secs(30)),
                        "wrong-PIN prompt {n}"
                    );
                    p.send_digits(&format!("{wrong}#"));
                }
                assert!(
                    heard_times(&p, Prompt::Goodbye, 1, Duration::from_secs(30)),
                    "goodbye after the third wrong PIN"
                );
            });
        }
    });
}

/// Waits until `pred` holds for what the phone heard, or panics after `timeout`.
pub fn wait_until(
    phone: &phone::Phone,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&[Heard]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if pred(&phone.heard()) {
            return;
        }
        wait(50);
    }
    panic!("timed out waiting for: {what}");
}

/// The μ-law frames of these prompts, in order: what a PCMU caller hears of them.
pub fn frames(prompts: &[dialbridge::ivr::prompt::Prompt]) -> Vec<[u8; 160]> {
    let a = assets();
    prompts
        .iter()
        .flat_map(|p| a.prompt(*p).frames(Law::Mu).to_vec())
        .collect()
}

/// Waits until a PCMU phone has heard these prompts, in order.
pub fn hears(phone: &phone::Phone, prompts: &[dialbridge::ivr::prompt::Prompt], what: &str) {
    // The first 3 s are enough to tell any two prompts apart (the help runs for 20 s).
    let mut want = frames(prompts);
    want.truncate(150);
    wait_until(phone, Duration::from_secs(15), what, |h| {
        position_of_run(h, &want).is_some()
    });
}

/// How many times the whole run of `frames` was heard, one after another.
pub fn times_heard(heard: &[Heard], frames: &[[u8; 160]]) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = heard.get(from..).and_then(|h| position_of_run(h, frames)) {
        count += 1;
        from += at + frames.len();
    }
    count
}

/// The bundled assets, to recognise what a caller hears byte for byte.
pub fn assets() -> Assets {
    Assets::bundled().expect("bundled assets")
}

/// Index of the first received packet whose payload equals `frame`.
pub fn position_of(heard: &[Heard], frame: &[u8]) -> Option<usize> {
    heard.iter().position(|h| h.payload == frame)
}

/// Index where the received packets carry exactly `frames`, in order (the first occurrence).
/// Matching a whole run avoids mistaking a prompt's leading silence for any other silence.
pub fn position_of_run(heard: &[Heard], frames: &[[u8; 160]]) -> Option<usize> {
    if frames.is_empty() || heard.len() < frames.len() {
        return None;
    }
    (0..=heard.len() - frames.len()).find(|&i| plays_in_order(heard, i, frames))
}

/// Like `position_of_run`, for μ-law audio that went through the mix: compared decoded,
/// since the mix re-encodes a negative zero (0x7F) as 0xFF.
pub fn position_of_mixed_run(heard: &[Heard], frames: &[[u8; 160]]) -> Option<usize> {
    let decode = |f: &[u8]| {
        let mut pcm = vec![0i16; f.len()];
        dialbridge::media::g711::decode(Law::Mu, f, &mut pcm);
        pcm
    };
    let want: Vec<Vec<i16>> = frames.iter().map(|f| decode(f)).collect();
    let got: Vec<Vec<i16>> = heard.iter().map(|h| decode(&h.payload)).collect();
    if want.is_empty() {
        return None;
    }
    got.windows(want.len()).position(|w| w == want.as_slice())
}

/// True if this payload is a frame of some prompt or of the hold music (the IVR or lobby talking).
pub fn is_asset_frame(assets: &Assets, codec: Codec, payload: &[u8]) -> bool {
    let law = law(codec);
    let silence = [law.silence_byte(); 160];
    payload == silence
        || assets.hold_music().frames(law).iter().any(|f| f == payload)
        || dialbridge::ivr::prompt::Prompt::ALL
            .iter()
            .any(|p| assets.prompt(*p).frames(law).iter().any(|f| f == payload))
}

/// The G.711 law of a test phone's codec (asset frames are pre-encoded for G.711 only).
pub fn law(codec: Codec) -> dialbridge::media::codec::Law {
    codec.law().expect("a G.711 phone")
}

/// True if `heard[start..]` begins with `frames` played in order (allowing no gap).
pub fn plays_in_order(heard: &[Heard], start: usize, frames: &[[u8; 160]]) -> bool {
    heard
        .get(start..start + frames.len())
        .is_some_and(|w| w.iter().zip(frames).all(|(h, f)| h.payload == f))
}

/// Audio heard after `from`, decoded, concatenated.
pub fn pcm_since(heard: &[Heard], from: Instant, codec: Codec) -> Vec<i16> {
    heard
        .iter()
        .filter(|h| h.at >= from && h.payload.len() == 160)
        .flat_map(|h| h.pcm(codec))
        .collect()
}

/// Arrival time of the first packet after `from` in which `freq` is clearly present and which
/// is mixed meeting audio (not a frame of a prompt or of the hold music).
pub fn first_tone(heard: &[Heard], from: Instant, freq: f32, codec: Codec) -> Option<Instant> {
    static ASSETS: std::sync::OnceLock<Assets> = std::sync::OnceLock::new();
    let a = ASSETS.get_or_init(assets);
    heard
        .iter()
        .filter(|h| h.at >= from && !is_asset_frame(a, codec, &h.payload))
        .find_map(|h| {
            let pcm = h.pcm(codec);
            let tones = dialbridge::media::tone::present_tones(&pcm, &[freq], 8000.0);
            (!tones.is_empty()).then_some(h.at)
        })
}

/// Which of `candidates` are heard in most packets after `from` (at least half of them).
pub fn tones_heard(heard: &[Heard], from: Instant, candidates: &[f32], codec: Codec) -> Vec<f32> {
    let packets: Vec<&Heard> = heard
        .iter()
        .filter(|h| h.at >= from && h.payload.len() == 160)
        .collect();
    if packets.is_empty() {
        return Vec::new();
    }
    candidates
        .iter()
        .copied()
        .filter(|&f| {
            let hits = packets
                .iter()
                .filter(|h| {
                    !dialbridge::media::tone::present_tones(&h.pcm(codec), &[f], 8000.0).is_empty()
                })
                .count();
            hits * 2 >= packets.len()
        })
        .collect()
}

/// Sleeps; tests use it only to let real time pass for the bridge's media clock.
pub fn wait(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
