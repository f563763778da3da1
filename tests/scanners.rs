//! End-to-end: the SIPVicious scanners (PyPI `sipvicious`: svmap, svwar, svcrack) against the
//! real `dialbridge` binary on 127.0.0.1 — what they report is what an attacker learns.
//!
//! The tools are run for real (`./test.sh` installs the pinned version) and only ever aimed at
//! 127.0.0.1 and the bridge's port, bound to 127.0.0.1 with 127.0.0.1 in their Via/Contact
//! (`-b`, `-x`; never `-A`, which looks up an outside address, nor `-R`).

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dialbridge::media::codec::Codec;
use dialbridge::sip::message::{HeaderName, Method};
use support::phone::Phone;
use support::{Bridge, BridgeOptions, free_udp_port, wait};

/// The version whose output these tests read (pinned in `test.sh`).
const SIPVICIOUS: &str = "0.3.8";

/// SIP timer T1 for the bridges whose scanners never ACK, so that 64·T1 (when the bridge gives
/// up on the ACK and hangs up, RFC 3261 §13.3.1.4) is 6.4 s instead of the default 32 s.
const T1_MS: u64 = 100;

/// What a tool printed.
struct Run {
    stdout: String,
    stderr: String,
}

impl Run {
    fn both(&self) -> String {
        format!(
            "---- stdout ----\n{}\n---- stderr ----\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs one SIPVicious tool against the bridge's SIP port on 127.0.0.1, killed past `limit`.
fn sipvicious(tool: &str, bridge: &Bridge, args: &[&str], limit: Duration) -> Run {
    check_version(tool);
    let out = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr) = (out.path().join("stdout"), out.path().join("stderr"));
    // svwar puts its local port + 1000 in its SDP: keep that a valid port.
    let local_port = std::iter::repeat_with(free_udp_port)
        .find(|p| *p < 64000)
        .map(|p| p.to_string())
        .unwrap_or_default();
    let bridge_port = bridge.sip.port().to_string();
    let mut child = Command::new(tool)
        .args(["-b", "127.0.0.1", "-x", "127.0.0.1", "-P", &local_port])
        .args(["-p", &bridge_port])
        .args(args)
        .arg("127.0.0.1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("run {tool} ({e}): {}", install_hint()));
    let deadline = Instant::now() + limit;
    let finished = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        wait(20);
    };
    let run = Run {
        stdout: read_text(&stdout),
        stderr: read_text(&stderr),
    };
    assert!(
        finished,
        "{tool} {args:?} still running after {limit:?}\n{}",
        run.both()
    );
    run
}

fn read_text(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

fn install_hint() -> String {
    format!(
        "tests/scanners.rs needs sipvicious {SIPVICIOUS} on PATH: \
         python3 -m pip install sipvicious=={SIPVICIOUS} (./test.sh does it)"
    )
}

/// The tests read this version's output format: any other is a clear failure, not a puzzle.
fn check_version(tool: &str) {
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {tool} --version ({e}): {}", install_hint()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next() == Some(&format!("{tool} v{SIPVICIOUS}")),
        "{tool} is not version {SIPVICIOUS}: {}\n{}",
        text.lines().next().unwrap_or_default(),
        install_hint()
    );
}

/// The rows of the table a tool prints (`| a | b |` lines), header row first.
fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// One SIP message as text: the first line and the headers in order.
struct Sip {
    first_line: String,
    headers: Vec<(String, String)>,
}

impl Sip {
    fn parse(text: &str) -> Sip {
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.split("\r\n");
        let first_line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Sip {
            first_line,
            headers,
        }
    }

    fn status(&self) -> Option<u16> {
        self.first_line
            .strip_prefix("SIP/2.0 ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn cseq_method(&self) -> String {
        let cseq = self.all("CSeq");
        let cseq = cseq.first().copied().unwrap_or_default();
        cseq.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }

    /// The user part of the To URI: the extension a scanner asked about.
    fn to_user(&self) -> String {
        let to = self.all("To");
        let to = to.first().copied().unwrap_or_default();
        to.split("sip:")
            .nth(1)
            .and_then(|u| u.split('@').next())
            .unwrap_or_default()
            .to_string()
    }

    /// What a scanner can compare between two answers: the status line, which headers come
    /// in which order, and the product name. Tags, branches, Call-IDs and SDP ports differ
    /// per call for everyone alike.
    fn shape(&self) -> String {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        format!(
            "{} | {} | Server: {:?}",
            self.first_line,
            names.join(","),
            self.all("Server")
        )
    }
}

/// The SIP messages svwar printed with `--debug` (one Python bytes literal per message).
fn debug_messages(stdout: &str) -> Vec<Sip> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("b'").or_else(|| l.strip_prefix("b\"")))
        .map(|l| Sip::parse(&unescape_python_bytes(&l[..l.len().saturating_sub(1)])))
        .collect()
}

/// Undoes Python's `repr()` of bytes: `\r`, `\n`, `\t`, `\\`, `\'`, `\xNN`.
fn unescape_python_bytes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).map_or('?', char::from));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn sip_request(method: &str, transport: &str, me: SocketAddr, bridge: SocketAddr) -> String {
    let r = rand::random::<u32>();
    format!(
        "{method} sip:bridge@{bridge} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {me};branch=z9hG4bK-{r};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag={r}\r\nTo: <sip:bridge@{bridge}>\r\n\
         Call-ID: {r}@probe\r\nCSeq: 1 {method}\r\nContact: <sip:probe@{me}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends one request over UDP and returns its final response.
fn ask_udp(bridge: SocketAddr, method: &str) -> Sip {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let me = socket.local_addr().expect("addr");
    let req = sip_request(method, "UDP", me, bridge);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 8192];
    socket.send_to(req.as_bytes(), bridge).expect("send");
    while Instant::now() < deadline {
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            let sip = Sip::parse(&String::from_utf8_lossy(&buf[..n]));
            if sip.status().is_some_and(|s| s >= 200) {
                return sip;
            }
        }
    }
    panic!("no final response to {method} over UDP");
}

/// Sends one request over TCP and returns its final response.
fn ask_tcp(bridge: SocketAddr, method: &str) -> Sip {
    let mut stream = TcpStream::connect(bridge).expect("connect to the bridge's SIP TCP port");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let me = stream.local_addr().expect("addr");
    stream
        .write_all(sip_request(method, "TCP", me, bridge).as_bytes())
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        // Responses carry no body here; each ends at its blank line.
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(sip) = text
            .split_inclusive("\r\n\r\n")
            .filter(|m| m.ends_with("\r\n\r\n"))
            .map(Sip::parse)
            .find(|s| s.status().is_some_and(|s| s >= 200))
        {
            return sip;
        }
    }
    panic!(
        "no final response to {method} over TCP: {:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn svmap_finds_the_bridge_and_learns_only_the_product_name() {
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra: vec!["--t1-ms".into(), T1_MS.to_string()],
            ..Default::default()
        },
    );
    let device = format!("127.0.0.1:{}", bridge.sip.port());

    // svmap -m INVITE never ACKs the 200 it gets: the bridge gives up on the ACK after 64·T1
    // and hangs up. A caller of ours that does not ACK either (answered now, its BYE awaited
    // at the end) sees that BYE, whose User-Agent must be the same bare product name.
    let mut silent = Phone::new(bridge.sip, Codec::Pcmu, None);
    silent.send_invite();
    let ok = silent
        .wait_response(200, Method::Invite, Duration::from_secs(5))
        .expect("200 to the INVITE");
    assert_eq!(ok.header(&HeaderName::Server), Some("dialbridge"));

    // svmap's INVITE fingerprint and its default one (OPTIONS): one device, product name only.
    for method in ["INVITE", "OPTIONS"] {
        let run = sipvicious(
            "sipvicious_svmap",
            &bridge,
            &["-m", method],
            Duration::from_secs(20),
        );
        let rows = table(&run.stdout);
        assert_eq!(
            rows,
            vec![
                vec!["SIP Device".to_string(), "User Agent".to_string()],
                vec![device.clone(), "dialbridge".to_string()],
            ],
            "svmap -m {method} should find exactly the bridge, named `dialbridge` and nothing \
             more\n{}",
            run.both()
        );
    }

    // What svmap reads, straight from the bridge: every answer, over UDP and TCP, names the
    // product once and gives no version; no User-Agent beside it.
    for method in ["OPTIONS", "REGISTER", "SUBSCRIBE", "XYZZY"] {
        for (transport, answer) in [
            ("UDP", ask_udp(bridge.sip, method)),
            ("TCP", ask_tcp(bridge.sip, method)),
        ] {
            assert_eq!(
                answer.all("Server"),
                vec!["dialbridge"],
                "Server header of the answer to {method} over {transport}: {}",
                answer.first_line
            );
            assert!(
                answer.all("User-Agent").is_empty(),
                "{method} over {transport}"
            );
            let expected = match method {
                "OPTIONS" => 200,
                "REGISTER" | "SUBSCRIBE" => 405,
                _ => 501,
            };
            assert_eq!(answer.status(), Some(expected), "{method} over {transport}");
        }
    }

    // Neither svmap's call nor ours was ACKed: the bridge hung both up.
    let hangup_within = Duration::from_millis(64 * T1_MS) + Duration::from_secs(5);
    let bye = silent
        .wait_for(hangup_within, |m| m.method() == Some(&Method::Bye))
        .expect("the bridge hangs up a call whose 200 is never ACKed");
    assert_eq!(bye.header(&HeaderName::UserAgent), Some("dialbridge"));
    assert_eq!(
        bridge.wait_metric("dialbridge_calls_active", &[], 0, Duration::from_secs(5)),
        0,
        "calls left behind after svmap -m INVITE"
    );
    assert_eq!(
        bridge.metric("dialbridge_calls_ended_total", &["reason=\"ack-timeout\""]),
        2,
        "svmap's call and ours, both ended for want of an ACK"
    );
}

#[test]
fn svwar_learns_no_extension_and_a_real_conference_id_looks_like_any_number() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    // A small range, the one real conference ID, and a made-up one of the same form.
    let real = orgs[0].conference_id.clone();
    let made_up = format!("{}{}", &real[..8], (real.as_bytes()[8] - b'0' + 1) % 10);
    let mut extensions: Vec<String> = (100..=130).map(|n| n.to_string()).collect();
    extensions.push(real.clone());
    extensions.push(made_up.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let dictionary = dir.path().join("extensions.txt");
    std::fs::write(&dictionary, extensions.join("\n") + "\n").expect("dictionary");
    let dictionary = dictionary.to_str().expect("utf-8 path");
    let bounded = ["--maximumtime", "5", "-v", "--debug", "-d", dictionary];

    // REGISTER (svwar's default): we are no registrar, and svwar gives up at once.
    let run = sipvicious(
        "sipvicious_svwar",
        &bridge,
        &bounded,
        Duration::from_secs(30),
    );
    let answers = debug_messages(&run.stdout);
    assert!(!answers.is_empty(), "svwar got no answer\n{}", run.both());
    for a in &answers {
        assert_eq!(a.status(), Some(405), "{}\n{}", a.first_line, run.both());
        assert_eq!(a.all("Server"), vec!["dialbridge"]);
    }
    assert!(
        run.stderr.contains("method not allowed") && run.stderr.contains("found nothing"),
        "svwar (REGISTER) should stop at `method not allowed` and find nothing\n{}",
        run.both()
    );
    assert!(table(&run.stdout).is_empty(), "{}", run.both());

    // OPTIONS and INVITE: every number gets the very same answer, the real conference ID too
    // (the IVR asks for the ID only after answering).
    for method in ["OPTIONS", "INVITE"] {
        let answered_before = bridge.metric("dialbridge_calls_answered_total", &[]);
        let byes_before = bridge.metric("dialbridge_calls_ended_total", &["reason=\"remote-bye\""]);
        let mut args = bounded.to_vec();
        args.extend(["-m", method]);
        let run = sipvicious("sipvicious_svwar", &bridge, &args, Duration::from_secs(30));
        assert!(
            run.stderr.contains("Ok SIP device found") && run.stderr.contains("found nothing"),
            "svwar -m {method} should find the device and no extension\n{}",
            run.both()
        );
        assert!(
            !run.stderr.contains("exists") && table(&run.stdout).is_empty(),
            "svwar -m {method} reported an extension\n{}",
            run.both()
        );
        // svwar's own view, from its --debug print of every answer: the final answer to the
        // scanned method, per number asked (svwar first asks a random number as a baseline).
        let mut shapes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in debug_messages(&run.stdout) {
            if a.status().is_some_and(|s| s >= 200) && a.cseq_method() == method {
                shapes.entry(a.to_user()).or_default().push(a.shape());
            }
        }
        for ext in &extensions {
            assert!(
                shapes.contains_key(ext),
                "svwar -m {method} got no answer for {ext}\n{}",
                run.both()
            );
        }
        let distinct: std::collections::BTreeSet<&String> = shapes.values().flatten().collect();
        assert_eq!(
            distinct.len(),
            1,
            "svwar -m {method}: answers differ between numbers (real conference ID {real}, \
             made-up {made_up}): {shapes:#?}"
        );
        let only = distinct.into_iter().next().cloned().unwrap_or_default();
        assert!(
            only.starts_with("SIP/2.0 200 OK"),
            "svwar -m {method}: {only}"
        );

        if method == "INVITE" {
            // svwar ACKs every 200 and hangs up with BYE at once: no call is left behind.
            let answered = bridge.metric("dialbridge_calls_answered_total", &[]) - answered_before;
            assert_eq!(
                answered as usize,
                shapes.len(),
                "one call per number asked (and svwar's baseline)"
            );
            assert_eq!(
                bridge.wait_metric("dialbridge_calls_active", &[], 0, Duration::from_secs(5)),
                0,
                "calls left behind by svwar -m INVITE"
            );
            assert_eq!(
                bridge.metric("dialbridge_calls_ended_total", &["reason=\"remote-bye\""])
                    - byes_before,
                answered,
                "every call svwar made ended with svwar's BYE"
            );
        }
    }
}

#[test]
fn svcrack_gets_no_challenge_and_reports_no_password() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: vec!["--t1-ms".into(), T1_MS.to_string()],
            ..Default::default()
        },
    );
    let real = orgs[0].conference_id.clone();
    // Passwords shaped like the organizer's PIN, so a challenge would have something to meet.
    let guesses = ["-u", real.as_str(), "-r", "10000-10030", "-z", "5", "-vv"];

    // INVITE to the real conference ID: answered without any challenge, so svcrack has no
    // password to find and says so.
    let mut args = guesses.to_vec();
    args.extend(["-m", "INVITE"]);
    let run = sipvicious(
        "sipvicious_svcrack",
        &bridge,
        &args,
        Duration::from_secs(30),
    );
    let seen = received_statuses(&run.stderr);
    assert!(
        seen.iter().any(|l| l.starts_with("SIP/2.0 200 ")),
        "svcrack -m INVITE got no 200\n{}",
        run.both()
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.starts_with("SIP/2.0 401 ") || l.starts_with("SIP/2.0 407 ")),
        "the bridge challenged svcrack: {seen:?}"
    );
    assert_eq!(
        table(&run.stdout),
        vec![
            vec!["Extension".to_string(), "Password".to_string()],
            vec![real.clone(), "[no password]".to_string()],
        ],
        "svcrack -m INVITE should report that no password is asked for\n{}",
        run.both()
    );
    assert!(
        run.stderr
            .contains("Does not seem to require authentication"),
        "{}",
        run.both()
    );

    // svcrack's default, REGISTER: 405, nothing to crack. (svcrack then waits out a fixed
    // 10 s socket timeout; the INVITE's call above times out meanwhile.)
    let run = sipvicious(
        "sipvicious_svcrack",
        &bridge,
        &guesses,
        Duration::from_secs(30),
    );
    let seen = received_statuses(&run.stderr);
    assert!(!seen.is_empty(), "svcrack got no answer\n{}", run.both());
    assert!(
        seen.iter().all(|l| l.starts_with("SIP/2.0 405 ")),
        "svcrack (REGISTER) should only ever get 405: {seen:?}\n{}",
        run.both()
    );
    assert!(
        run.stderr.contains("found nothing") && table(&run.stdout).is_empty(),
        "svcrack (REGISTER) should find nothing\n{}",
        run.both()
    );

    // svcrack never ACKs the 200 of its INVITE: the bridge hangs that call up after 64·T1.
    assert_eq!(
        bridge.wait_metric(
            "dialbridge_calls_active",
            &[],
            0,
            Duration::from_millis(64 * T1_MS) + Duration::from_secs(5)
        ),
        0,
        "calls left behind by svcrack -m INVITE"
    );
    assert_eq!(
        bridge.metric("dialbridge_calls_ended_total", &["reason=\"ack-timeout\""]),
        1
    );
}

/// The status lines svcrack logged with `-vv` (`Received response: SIP/2.0 ...`).
fn received_statuses(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("Received response: ").map(|(_, s)| s.trim()))
        .map(str::to_string)
        .collect()
}
