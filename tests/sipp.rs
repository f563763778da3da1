//! End-to-end with SIPp: the scenarios in `sip-test-scenarios/` run against the real
//! `dialbridge` binary on 127.0.0.1, with real conference IDs and PINs in the `-inf` CSV.
//!
//! Each test starts its own bridge and gives it and SIPp their own ports, so the tests can run
//! in parallel. A run passes when SIPp exits 0 with every call successful, no call failed and
//! no retransmission (a loopback bridge that needs one is too slow), and the bridge's log shows
//! the callers where the scenario took them (lobby, meeting, goodbye).
//!
//! SIPp must be installed (`./test.sh` installs Debian's `sip-tester`) and run as root: its
//! `play_dtmf` sends RFC 4733 digits through a raw socket. A missing SIPp fails the tests; it
//! never skips them.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::{Bridge, BridgeOptions, OrganizerInfo};

/// How many calls a SIPp run places, and how.
#[derive(Clone, Copy, Debug)]
struct Calls {
    /// `-m`: calls in total.
    total: u32,
    /// `-l`: calls at the same time.
    limit: u32,
    /// `-r`: new calls per second.
    rate: u32,
    /// `-d`: how long the scenario's plain `<pause/>` (lobby or meeting stay) lasts.
    stay_ms: u64,
    /// `-timeout`: SIPp gives up (and fails, with `-timeout_error`) after this long.
    timeout_s: u64,
}

impl Calls {
    /// `total` calls, all at once (up to 10 per second), staying `stay_ms` where they got to.
    fn concurrent(total: u32, stay_ms: u64, timeout_s: u64) -> Calls {
        Calls {
            total,
            limit: total,
            rate: 10,
            stay_ms,
            timeout_s,
        }
    }
}

/// Finds SIPp on PATH (Debian installs it as /usr/bin/sipp).
fn sipp_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("sipp"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => path,
        None if Path::new("/usr/bin/sipp").is_file() => PathBuf::from("/usr/bin/sipp"),
        None => panic!(
            "sipp not found on PATH: run ./test.sh, which installs it (Debian package sip-tester)"
        ),
    }
}

/// The repository root: SIPp runs there, because the scenarios' rtp_stream opens
/// `sip-test-scenarios/caller-tone.ulaw` relative to the working directory.
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);

/// The first of `len` consecutive UDP ports (`len` <= 60, the base even) that are free on
/// 127.0.0.1 right now. Blocks come from 20000-31999, below the kernel's ephemeral range, so
/// no socket bound to port 0 lands in one; the process id spreads concurrent test runs apart.
fn free_port_block(len: u16) -> u16 {
    assert!(len <= 60, "port blocks are 60 apart");
    for _ in 0..200 {
        let slot = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let offset = (std::process::id() % 97 * 120 + slot * 60) % 12_000;
        let base = 20_000 + u16::try_from(offset).expect("offset < 12000");
        if (base..base + len).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free block of {len} UDP ports in 20000-31999 on 127.0.0.1");
}

/// Starts a bridge with its own RTP port range (room for 20 calls).
fn start_bridge(organizers: &[&str], answer_delay_ms: Option<u64>) -> (Bridge, Vec<OrganizerInfo>) {
    let low = free_port_block(40);
    Bridge::start(
        organizers,
        BridgeOptions {
            rtp_ports: Some(format!("{low}-{}", low + 39)),
            answer_delay_ms,
            ..Default::default()
        },
    )
}

/// A SIPp process running one scenario against a bridge.
struct SippRun {
    scenario: String,
    calls: Calls,
    child: Child,
    command_line: String,
    out: tempfile::TempDir,
    deadline: Instant,
}

/// What a finished SIPp run reported.
struct SippOutcome {
    scenario: String,
    command_line: String,
    exit: Option<i32>,
    /// The last row of the `-trace_stat` file, by column name.
    stats: HashMap<String, String>,
    /// Its `-trace_err` file, screen dump and output, for failure messages.
    diagnostics: String,
}

/// Starts SIPp on `scenario` (a file name in sip-test-scenarios/) against `bridge`, with
/// `csv_rows` (each row's fields joined by `;`) as the `-inf` file.
fn spawn_sipp(bridge: &Bridge, scenario: &str, csv_rows: &[Vec<String>], calls: Calls) -> SippRun {
    spawn_sipp_with(bridge, scenario, csv_rows, calls, &[])
}

/// `spawn_sipp` with more SIPp options (e.g. `-t t1` for SIP over TCP).
fn spawn_sipp_with(
    bridge: &Bridge,
    scenario: &str,
    csv_rows: &[Vec<String>],
    calls: Calls,
    extra: &[&str],
) -> SippRun {
    let sipp = sipp_binary();
    let out = tempfile::tempdir().expect("tempdir for SIPp output");
    // SIPp binds its SIP port, its UDP control port (8888 or the next free one unless -cp
    // says which: parallel runs would race for them) and the media port plus 2 (audio and
    // video).
    let base = free_port_block(16);
    let (sip_port, control_port, media_port) = (base, base + 2, base + 10);
    let mut args: Vec<String> = vec![
        bridge.sip.to_string(),
        "-sf".into(),
        format!("sip-test-scenarios/{scenario}"),
    ];
    if !csv_rows.is_empty() {
        let mut csv = String::from("SEQUENTIAL\n");
        for row in csv_rows {
            for field in row {
                csv.push_str(field);
                csv.push(';');
            }
            csv.push('\n');
        }
        let path = out.path().join("fields.csv");
        std::fs::write(&path, csv).expect("write the -inf CSV");
        args.extend(["-inf".into(), path.display().to_string()]);
    }
    let file = |name: &str| out.path().join(name).display().to_string();
    args.extend([
        "-i".into(),
        "127.0.0.1".into(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-p".into(),
        sip_port.to_string(),
        "-cp".into(),
        control_port.to_string(),
        "-mp".into(),
        media_port.to_string(),
        "-m".into(),
        calls.total.to_string(),
        "-l".into(),
        calls.limit.to_string(),
        "-r".into(),
        calls.rate.to_string(),
        "-d".into(),
        calls.stay_ms.to_string(),
        "-timeout".into(),
        format!("{}s", calls.timeout_s),
        "-timeout_error".into(),
        "-nostdin".into(),
        "-trace_stat".into(),
        "-stf".into(),
        file("stat.csv"),
        "-trace_err".into(),
        "-error_file".into(),
        file("errors.log"),
        "-trace_screen".into(),
        "-screen_file".into(),
        file("screen.log"),
    ]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let command_line = format!(
        "cd {} && {} {}",
        repo_root().display(),
        sipp.display(),
        args.join(" ")
    );
    let stdout = std::fs::File::create(out.path().join("stdout.log")).expect("stdout file");
    let stderr = std::fs::File::create(out.path().join("stderr.log")).expect("stderr file");
    let child = Command::new(&sipp)
        .args(&args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; run ./test.sh", sipp.display()));
    SippRun {
        scenario: scenario.to_string(),
        calls,
        child,
        command_line,
        out,
        // SIPp's own -timeout ends the run; this only guards against SIPp itself hanging.
        deadline: Instant::now() + Duration::from_secs(calls.timeout_s + 15),
    }
}

impl SippRun {
    /// Waits for SIPp to exit (killing it past its deadline) and reads its reports.
    fn finish(mut self) -> SippOutcome {
        let exit = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < self.deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let read =
            |name: &str| std::fs::read_to_string(self.out.path().join(name)).unwrap_or_default();
        let stats = parse_stats(&read("stat.csv"));
        let mut diagnostics = String::new();
        for name in ["errors.log", "screen.log", "stdout.log", "stderr.log"] {
            let text = read(name);
            if !text.trim().is_empty() {
                let tail = tail(&text, 4000);
                let _ = write!(diagnostics, "\n---- sipp {name} (end) ----\n{tail}");
            }
        }
        if exit.is_none() {
            diagnostics.push_str("\n(SIPp did not exit by itself: killed)");
        }
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            diagnostics.push_str(
                "\nhint: not running as root; SIPp's play_dtmf needs a raw socket (run as root, \
                 or `setcap cap_net_raw+ep` the sipp binary)",
            );
        }
        SippOutcome {
            scenario: self.scenario.clone(),
            command_line: self.command_line.clone(),
            exit,
            stats,
            diagnostics,
        }
        .checked_against(self.calls)
    }
}

impl Drop for SippRun {
    /// A test that fails while another SIPp still runs must not leave it running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `max` bytes of `text` (or a little less, at a character boundary).
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Column name -> value of the last data row of a `-trace_stat` file (`;`-separated, one
/// header row, then one row per dump; the last is written at exit).
fn parse_stats(csv: &str) -> HashMap<String, String> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return HashMap::new();
    };
    let Some(last) = lines.next_back() else {
        return HashMap::new();
    };
    header
        .split(';')
        .zip(last.split(';'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl SippOutcome {
    fn stat(&self, column: &str) -> Option<u64> {
        self.stats.get(column).and_then(|v| v.parse().ok())
    }

    /// Panics unless SIPp exited 0 with all `calls.total` calls successful, none failed and
    /// no retransmission.
    fn checked_against(self, calls: Calls) -> SippOutcome {
        let context = format!(
            "scenario {}\ncommand: {}\nexit: {:?}\n{}",
            self.scenario, self.command_line, self.exit, self.diagnostics
        );
        assert_eq!(
            self.exit,
            Some(0),
            "SIPp must exit 0 (all calls successful)\n{context}"
        );
        assert_eq!(
            self.stat("SuccessfulCall(C)"),
            Some(u64::from(calls.total)),
            "every call successful\n{context}"
        );
        assert_eq!(
            self.stat("FailedCall(C)"),
            Some(0),
            "no failed call\n{context}"
        );
        assert_eq!(
            self.stat("Retransmissions(C)"),
            Some(0),
            "no SIP retransmission: the bridge answered every request within T1\n{context}"
        );
        self
    }
}

/// The bridge's log without ANSI colour codes (it colours even when writing to a file).
fn plain_log(bridge: &Bridge) -> String {
    let raw = bridge.log_text();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC '[' parameters, ending with a byte in '@'..='~'.
            if chars.next() == Some('[') {
                for end in chars.by_ref() {
                    if ('@'..='~').contains(&end) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asserts that exactly `expected` lines of the bridge's log contain every one of `needles`;
/// `what` says what that means for the callers.
fn assert_log(bridge: &Bridge, needles: &[&str], expected: usize, what: &str) {
    let found = plain_log(bridge)
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count();
    let hint = if std::env::var_os("RUST_LOG").is_some() {
        "\n(RUST_LOG is set and overrides the bridge's --log debug: unset it)"
    } else {
        ""
    };
    assert_eq!(
        found, expected,
        "{what}: expected {expected} bridge log lines with {needles:?}, found {found}{hint}"
    );
}

/// A PIN of the same length that is certainly not `pin`.
fn wrong_pin(pin: &str) -> String {
    pin.chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

fn row(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

#[test]
fn attendees_typing_rfc4733_digits_wait_in_the_lobby() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let id = orgs[0].conference_id.as_str();
    spawn_sipp(
        &bridge,
        "attendee_rfc4733.xml",
        &[row(&[id])],
        Calls::concurrent(3, 2000, 40),
    )
    .finish();
    let attendee = ["caller identified", id, "role=Attendee"];
    assert_log(&bridge, &attendee, 3, "every ID was recognised");
    let lobby = ["waiting in the lobby", id];
    assert_log(&bridge, &lobby, 3, "every caller reached the lobby");
    let hung_up = ["call ended", "remote-bye"];
    assert_log(&bridge, &hung_up, 3, "every caller hung up");
}

#[test]
fn attendees_typing_sip_info_digits_wait_in_the_lobby() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let id = orgs[0].conference_id.as_str();
    spawn_sipp(
        &bridge,
        "attendee_info.xml",
        &[row(&[id])],
        Calls::concurrent(3, 2000, 30),
    )
    .finish();
    let attendee = ["caller identified", id, "role=Attendee"];
    assert_log(&bridge, &attendee, 3, "every ID was recognised");
    let lobby = ["waiting in the lobby", id];
    assert_log(&bridge, &lobby, 3, "every caller reached the lobby");
}

#[test]
fn attendees_over_tcp_one_connection_per_call_wait_in_the_lobby() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let id = orgs[0].conference_id.as_str();
    spawn_sipp_with(
        &bridge,
        "attendee_info.xml",
        &[row(&[id])],
        Calls::concurrent(3, 2000, 30),
        &["-t", "t1"],
    )
    .finish();
    let tcp_calls = ["incoming call", "transport=TCP"];
    assert_log(&bridge, &tcp_calls, 3, "every call came over TCP");
    let lobby = ["waiting in the lobby", id];
    assert_log(&bridge, &lobby, 3, "every caller reached the lobby");
    let hung_up = ["call ended", "remote-bye"];
    assert_log(&bridge, &hung_up, 3, "every caller hung up over TCP");
}

#[test]
fn organizer_pin_starts_the_meeting_and_moves_the_waiting_lobby_in() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let org = &orgs[0];
    let id = org.conference_id.as_str();
    // Two attendees reach the lobby after about 2 s and stay 10 s; the organizer, typing the
    // ID, star and PIN as a caller would, starts the meeting about 9 s in.
    let lobby = spawn_sipp(
        &bridge,
        "attendee_info.xml",
        &[row(&[id])],
        Calls::concurrent(2, 10_000, 40),
    );
    let organizer = spawn_sipp(
        &bridge,
        "organizer_rfc4733.xml",
        &[row(&[id, &org.pin])],
        Calls::concurrent(1, 1000, 40),
    );
    organizer.finish();
    lobby.finish();
    let pin_ok = ["organizer PIN checked", id, "accepted=true"];
    assert_log(&bridge, &pin_ok, 1, "the PIN was accepted");
    let started = ["meeting started; lobby moved in", id, "moved=2"];
    assert_log(
        &bridge,
        &started,
        1,
        "the organizer found both attendees in the lobby and moved them in",
    );
}

#[test]
fn three_wrong_pins_get_goodbye_and_a_bye_from_the_bridge() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let org = &orgs[0];
    spawn_sipp(
        &bridge,
        "wrong_pin.xml",
        &[row(&[&org.conference_id, &wrong_pin(&org.pin)])],
        Calls::concurrent(2, 0, 45),
    )
    .finish();
    let refused = ["organizer PIN checked", "accepted=false"];
    assert_log(&bridge, &refused, 6, "three PIN attempts per call");
    assert_log(&bridge, &["accepted=true"], 0, "no wrong PIN accepted");
    let hangup = ["IVR hangs up", "cause=PinAttempts"];
    assert_log(&bridge, &hangup, 2, "the bridge hung up on both");
    assert_log(&bridge, &["meeting started"], 0, "no meeting started");
}

#[test]
fn three_unknown_conference_ids_get_goodbye_and_a_bye_from_the_bridge() {
    let (bridge, orgs) = start_bridge(&["Ada"], None);
    let unknown = ["111111111", "222222222"]
        .into_iter()
        .find(|id| *id != orgs[0].conference_id)
        .expect("one of two IDs is not Ada's");
    spawn_sipp(
        &bridge,
        "unknown_id.xml",
        &[row(&[unknown])],
        Calls::concurrent(2, 0, 45),
    )
    .finish();
    let hangup = ["IVR hangs up", "cause=ConferenceIdAttempts"];
    assert_log(&bridge, &hangup, 2, "the bridge hung up on both");
    assert_log(&bridge, &["caller identified"], 0, "no ID recognised");
}

#[test]
fn cancel_while_ringing_gets_200_then_487_and_the_call_is_never_answered() {
    let (bridge, _) = start_bridge(&["Ada"], Some(3000));
    // The scenario stays 4 s after its ACK: a late 200 to the INVITE would fail the call.
    spawn_sipp(&bridge, "cancel.xml", &[], Calls::concurrent(3, 0, 25)).finish();
    let cancelled = ["call ended", "reason=\"cancelled\""];
    assert_log(&bridge, &cancelled, 3, "every call ended as cancelled");
    assert_log(&bridge, &["media started"], 0, "no call was answered");
}

#[test]
fn ten_attendees_at_five_calls_per_second_all_reach_the_lobby() {
    let (bridge, orgs) = start_bridge(&["Ada", "Bob"], None);
    let rows = [
        row(&[&orgs[0].conference_id]),
        row(&[&orgs[1].conference_id]),
    ];
    let calls = Calls {
        total: 10,
        limit: 10,
        rate: 5,
        stay_ms: 1000,
        timeout_s: 40,
    };
    spawn_sipp(&bridge, "load_attendee.xml", &rows, calls).finish();
    for org in &orgs {
        let lobby = ["waiting in the lobby", org.conference_id.as_str()];
        assert_log(
            &bridge,
            &lobby,
            5,
            "the CSV rows alternate between the two meetings",
        );
    }
}
