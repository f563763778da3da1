//! `dialbridge demo` as a newcomer meets it: started the way the README says (`cargo run
//! --release -- demo` runs this binary with the argument `demo`), its banner's SIPp and
//! baresip lines taken from its output and run verbatim with `bash -euo pipefail -c`, from a
//! directory that is neither the checkout nor the data directory ("from any directory", as
//! the banner says). What the callers did is checked at the demo's `/metrics` and in its log,
//! not by the tools' exit codes alone.
//!
//! Each test runs in a loopback-only network namespace of its own (`support/netns.rs`), so the
//! demo's default ports (5060, 8080) and the fixed ports of the printed SIPp lines are free,
//! and nothing leaks between tests. Needs root (CI runs as root; SIPp's RFC 4733 digits need a
//! raw socket), `unshare`, SIPp (`sip-tester`) and baresip (`baresip-core`), which `./test.sh`
//! installs.

#[path = "support/demo.rs"]
mod demo;
#[path = "support/netns.rs"]
mod netns;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use demo::{Running, Shell, banner_field, log_lines, printed_lines};
use netns::run_isolated;
use support::metrics::{metric, wait_metric};

const LIMIT: Duration = Duration::from_secs(120);

/// The admin address the banner names (`http://IP:PORT/admin`).
fn http_of(banner: &str) -> SocketAddr {
    let url = banner_field(banner, "Admin pages:");
    url.trim_start_matches("http://")
        .trim_end_matches("/admin")
        .parse()
        .unwrap_or_else(|e| panic!("admin address {url}: {e}"))
}

/// The banner's two SIPp lines: (attendee, organizer).
fn sipp_lines(banner: &str) -> (String, String) {
    let lines = printed_lines(banner, "sipp ");
    assert_eq!(lines.len(), 2, "two SIPp lines in the banner:\n{banner}");
    let attendee = lines
        .iter()
        .find(|l| l.contains("attendee_rfc4733.xml"))
        .expect("an attendee line");
    let organizer = lines
        .iter()
        .find(|l| l.contains("organizer_rfc4733.xml"))
        .expect("an organizer line");
    (attendee.clone(), organizer.clone())
}

/// A directory to paste the lines in: not the checkout, not the data directory.
fn elsewhere() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Runs the banner's attendee line, then its organizer line, as printed, from `cwd`, and
/// checks that the attendee waited in the lobby and the organizer's PIN started the meeting
/// and moved the attendee in.
fn attendee_waits_then_organizer_starts(demo: &Running, banner: &str, cwd: &Path) {
    let http = http_of(banner);
    let conf = banner_field(banner, "Conference ID:");
    let (attendee, organizer) = sipp_lines(banner);
    let attendee = Shell::start(&attendee, cwd, &[], false);
    wait_metric(
        http,
        "dialbridge_callers",
        &["place=\"lobby\""],
        1.0,
        Duration::from_secs(20),
        "the attendee waits in the lobby",
    );
    let lobby = ["waiting in the lobby", &format!("conference={conf}")];
    assert_eq!(log_lines(&demo.log_text(), &lobby), 1, "the log says so");
    let organizer = Shell::start(&organizer, cwd, &[], false);
    // The organizer types 9 digits, #, * and the PIN (about 8 s), then stays 10 s.
    organizer.succeeds(Duration::from_secs(45));
    let accepted = metric(
        http,
        "dialbridge_pin_checks_total",
        &["result=\"accepted\""],
    );
    assert_eq!(accepted, Some(1.0), "the organizer's PIN was accepted");
    let moved = metric(http, "dialbridge_last_lobby_move_callers", &[]);
    assert_eq!(moved, Some(1.0), "the meeting start moved the attendee in");
    let started = [
        "meeting started; lobby moved in",
        &format!("conference={conf}"),
        "moved=1",
    ];
    assert_eq!(
        log_lines(&demo.log_text(), &started),
        1,
        "the log says the organizer started the meeting with the attendee moved in"
    );
    // The attendee stays 20 s in all, then hangs up: SIPp exits 0.
    attendee.succeeds(Duration::from_secs(40));
    let joins = metric(http, "dialbridge_conference_joins_total", &[]);
    assert_eq!(joins, Some(2.0), "both callers got through the IVR");
}

#[test]
fn the_demos_sipp_lines_work_as_printed() {
    run_isolated("the_demos_sipp_lines_work_as_printed", LIMIT, || {
        // `cargo run --release -- demo` from the checkout: the same binary and argument,
        // with the default data directory (./dialbridge-data) in a fresh working directory.
        let cwd = tempfile::tempdir().expect("tempdir");
        let mut demo = Running::start(cwd.path(), &["demo"]);
        let banner = demo.banner();
        assert!(
            banner.contains("sip:bridge@127.0.0.1:5060") && banner.contains("127.0.0.1:8080"),
            "the default ports:\n{banner}"
        );
        attendee_waits_then_organizer_starts(&demo, &banner, elsewhere().path());
    });
}

#[test]
fn a_taken_port_names_the_flag_and_the_suggested_command_works() {
    run_isolated(
        "a_taken_port_names_the_flag_and_the_suggested_command_works",
        LIMIT,
        || {
            let cwd = tempfile::tempdir().expect("tempdir");
            // 8080 taken: a one-line error naming --http-listen, exit 1, at once.
            let http_holder = std::net::TcpListener::bind("127.0.0.1:8080").expect("take 8080");
            let mut demo = Running::start(cwd.path(), &["demo"]);
            let status = demo.wait_exit(Duration::from_secs(10));
            assert_eq!(status.and_then(|s| s.code()), Some(1), "exit 1 at once");
            let error = error_line(&demo);
            assert!(
                error.contains("8080") && error.contains("--http-listen"),
                "the error names the port and the flag: {error}"
            );
            assert!(!demo.stdout().contains(demo::BANNER_END), "no banner");
            drop(http_holder);
            // 5060 taken: the same for --sip-listen, and the command it suggests works.
            let sip_holder = UdpSocket::bind("127.0.0.1:5060").expect("take 5060");
            let mut demo = Running::start(cwd.path(), &["demo"]);
            let status = demo.wait_exit(Duration::from_secs(10));
            assert_eq!(status.and_then(|s| s.code()), Some(1), "exit 1 at once");
            let error = error_line(&demo);
            assert!(
                error.contains("5060") && error.contains("--sip-listen"),
                "the error names the port and the flag: {error}"
            );
            let suggested = error
                .split_once("(e.g. ")
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("a suggested command in: {error}"));
            let args: Vec<&str> = suggested
                .strip_prefix("dialbridge ")
                .expect("a dialbridge command")
                .split_whitespace()
                .collect();
            assert_eq!(args, ["demo", "--sip-listen", "127.0.0.1:5062"]);
            let mut demo = Running::start(cwd.path(), &args);
            let banner = demo.banner();
            // Every printed line follows the port it really listens on.
            assert!(banner.contains("sip:bridge@127.0.0.1:5062"), "{banner}");
            for line in printed_lines(&banner, "127.0.0.1:") {
                assert!(
                    !line.contains("127.0.0.1:5060"),
                    "a printed line names the taken port: {line}"
                );
            }
            let (attendee, _) = sipp_lines(&banner);
            assert!(attendee.contains("sipp 127.0.0.1:5062 "), "{attendee}");
            let baresip = printed_lines(&banner, "baresip -f ");
            assert!(
                baresip.len() == 1 && baresip[0].contains("sip:bridge@127.0.0.1:5062"),
                "{baresip:?}"
            );
            attendee_waits_then_organizer_starts(&demo, &banner, elsewhere().path());
            drop(sip_holder);
        },
    );
}

/// The demo's error: its last line of stderr, which must be its only `error` line.
fn error_line(demo: &Running) -> String {
    let log = demo.log_text();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{log}");
    let last = log.lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("dialbridge: error: "),
        "the error is the last line:\n{log}"
    );
    last
}

#[test]
fn the_demos_baresip_line_dials_in_and_reaches_the_lobby() {
    run_isolated(
        "the_demos_baresip_line_dials_in_and_reaches_the_lobby",
        LIMIT,
        || {
            let cwd = tempfile::tempdir().expect("tempdir");
            let mut demo = Running::start(cwd.path(), &["demo"]);
            let banner = demo.banner();
            let http = http_of(&banner);
            let conf = banner_field(&banner, "Conference ID:");
            let lines = printed_lines(&banner, "baresip -f ");
            assert_eq!(lines.len(), 1, "one baresip line:\n{banner}");
            // Typed on baresip's console as the banner says: here its stdin is a pipe.
            let mut phone = Shell::start(&lines[0], elsewhere().path(), &[], true);
            wait_metric(
                http,
                "dialbridge_callers",
                &["place=\"ivr\""],
                1.0,
                Duration::from_secs(15),
                "baresip's call is answered and in the IVR",
            );
            std::io::Write::write_all(phone.stdin(), format!("{conf}##").as_bytes())
                .expect("type on baresip's console");
            wait_metric(
                http,
                "dialbridge_callers",
                &["place=\"lobby\""],
                1.0,
                Duration::from_secs(20),
                "baresip, typing the conference ID, waits in the lobby",
            );
            let digits = metric(
                http,
                "dialbridge_dtmf_digits_total",
                &["method=\"rfc4733\""],
            );
            assert_eq!(digits, Some(11.0), "every key as an RFC 4733 event");
            assert!(phone.running(), "baresip is still in the call");
            phone.stop();
            wait_metric(
                http,
                "dialbridge_calls_active",
                &[],
                0.0,
                Duration::from_secs(10),
                "baresip hung up when stopped",
            );
        },
    );
}
