//! The command line as operators script it: the exact words of the README, JSON output,
//! PINs shown only once, and bad input refused with nothing changed.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::binary())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run dialbridge")
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn ok_text(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn organizer_commands_show_the_pin_once_and_mask_it_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = ok_json(
        d,
        &[
            "organizer",
            "add",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--json",
        ],
    );
    let id = created["id"].as_i64().unwrap().to_string();
    let pin = created["pin"].as_str().unwrap().to_string();
    assert_eq!(pin.len(), 5, "default PIN length");
    assert!(pin.chars().all(|c| c.is_ascii_digit()));
    assert!(
        created["conference_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );

    let shown = ok_text(d, &["organizer", "show", &id, "--json"]);
    assert!(
        !shown.contains(&pin),
        "show --json must not contain the PIN"
    );
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["pin"], "*****");
    let listed = ok_text(d, &["organizer", "list"]);
    assert!(listed.contains("*****") && !listed.contains(&pin));

    let reset = ok_json(d, &["organizer", "reset-pin", &id, "--json"]);
    let new_pin = reset["pin"].as_str().unwrap();
    assert_eq!(new_pin.len(), 5);
    assert!(!ok_text(d, &["organizer", "show", &id, "--json"]).contains(new_pin));

    let set = ok_json(
        d,
        &[
            "organizer",
            "set",
            &id,
            "--email-override",
            "pins@example.com",
            "--callers-can-start",
            "on",
            "--json",
        ],
    );
    assert_eq!(set["email_override"], "pins@example.com");
    assert_eq!(set["start_without_pin"], true);
    let set = ok_json(
        d,
        &[
            "organizer",
            "set",
            &id,
            "--callers-can-start",
            "off",
            "--json",
        ],
    );
    assert_eq!(set["start_without_pin"], false);

    let before = ok_text(d, &["organizer", "show", &id, "--json"]);
    let out = run(
        d,
        &["organizer", "set", &id, "--callers-can-start", "maybe"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("on or off"));
    assert_eq!(
        ok_text(d, &["organizer", "show", &id, "--json"]),
        before,
        "a bad value changes nothing"
    );

    ok_text(d, &["organizer", "disable", &id]);
    assert_eq!(
        ok_json(d, &["organizer", "show", &id, "--json"])["enabled"],
        false
    );
    let enabled = ok_json(d, &["organizer", "enable", &id, "--json"]);
    assert_eq!(enabled["pin"].as_str().map(str::len), Some(5));
    let old_conf = enabled["conference_id"].as_str().unwrap().to_string();
    let moved = ok_json(d, &["organizer", "reset-conference-id", &id, "--json"]);
    let new_conf = moved["conference_id"]
        .as_str()
        .or(moved["organizer"]["conference_id"].as_str())
        .unwrap();
    assert_ne!(new_conf, old_conf);

    let audit = ok_text(d, &["audit"]);
    assert!(audit.contains("pin.reset"), "{audit}");
    for secret in [pin.as_str(), new_pin] {
        assert!(!audit.contains(secret), "the audit log never holds a PIN");
    }
}

#[test]
fn settings_take_on_off_words_and_refuse_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shown = ok_text(d, &["settings", "show"]);
    assert!(shown.contains("pin_length = 5"), "{shown}");
    assert!(shown.contains("pin_emails = on"), "{shown}");
    assert!(shown.contains("anonymous_start = off"), "{shown}");

    let set = ok_text(
        d,
        &[
            "settings",
            "set",
            "--pin-length",
            "7",
            "--pin-emails",
            "off",
            "--anonymous-start",
            "on",
        ],
    );
    assert!(
        set.contains("pin_length = 7")
            && set.contains("pin_emails = off")
            && set.contains("anonymous_start = on"),
        "{set}"
    );

    for bad in [
        vec!["settings", "set", "--pin-length", "13"],
        vec!["settings", "set", "--pin-length", "3"],
        vec!["settings", "set", "--pin-emails", "sometimes"],
    ] {
        let out = run(d, &bad);
        assert!(!out.status.success(), "{bad:?} must fail");
        assert!(!out.stderr.is_empty(), "{bad:?} says why");
    }
    let after = ok_text(d, &["settings", "show"]);
    assert_eq!(after, set, "refused values change nothing");

    let created = ok_json(
        d,
        &[
            "organizer",
            "add",
            "--name",
            "Bo",
            "--email",
            "bo@example.com",
            "--json",
        ],
    );
    assert_eq!(
        created["pin"].as_str().map(str::len),
        Some(7),
        "new PINs follow the policy"
    );
    assert!(
        !d.join("outbox").exists()
            || std::fs::read_dir(d.join("outbox"))
                .unwrap()
                .next()
                .is_none(),
        "PIN e-mails are off: nothing is written to the outbox"
    );
}

#[test]
fn a_config_file_sets_any_flag_flags_win_and_bad_keys_fail_fast() {
    use std::io::Read;
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("dialbridge.toml");
    // sip_listen would put the bridge where the test does not look: the test's own
    // --sip-listen flag must win. The rest must take effect.
    std::fs::write(
        &conf,
        "sip_listen = \"127.0.0.1:9\"\nlog_format = \"json\"\nmax_tcp_per_source = 1\n\
         trusted_networks = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let (bridge, _) = support::Bridge::start(
        &[],
        support::BridgeOptions {
            extra: vec!["--config".into(), conf.display().to_string()],
            ..Default::default()
        },
    );
    let first = std::net::TcpStream::connect(bridge.sip).unwrap();
    let mut second = std::net::TcpStream::connect(bridge.sip).unwrap();
    second
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(second.read(&mut buf), Ok(0) | Err(_)),
        "max_tcp_per_source = 1 from the file closed the second connection"
    );
    drop(first);
    let log = bridge.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log_format = \"json\": not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(
        log.contains("taking SIP only from trusted networks"),
        "trusted_networks from the file"
    );

    // A misspelt key: a clear error before anything is touched.
    let bad = conf_dir.path().join("bad.toml");
    std::fs::write(&bad, "sip_lisen = \"127.0.0.1:5060\"\n").unwrap();
    let data = conf_dir.path().join("never-created");
    let out = Command::new(support::binary())
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&bad)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `sip_lisen`"), "{err}");
    assert!(!data.exists(), "nothing was created");
}

#[test]
fn the_suites_secret_scan_finds_a_pin_but_not_digits_inside_ids_ports_or_numbers() {
    let pin = ["01485".to_string()];
    for leak in ["pin=01485", "typed 01485#", "\"01485\""] {
        assert_eq!(support::leaked_secrets(leak, &pin).len(), 1, "{leak}");
    }
    for fine in [
        "id=ff17b4b1a5542ebdc2f5b4190c01485a",
        "rtp 127.0.0.1:01485",
        "1014850 packets",
    ] {
        assert!(support::leaked_secrets(fine, &pin).is_empty(), "{fine}");
    }
}

#[test]
fn rtp_socket_modes_are_checked_before_the_bridge_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    let refused = |args: &[&str]| {
        let mut command = Command::new(support::binary());
        command
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--sip-listen", "127.0.0.1:0"])
            .args(args);
        refused_start(command, &format!("{args:?}"))
    };
    let err = refused(&["--media-realtime-priority", "0"]);
    assert!(err.contains("0 is not in 1..=99"), "{err}");
    let err = refused(&["--rtp-sockets", "sideways"]);
    assert!(err.contains("expected per-call or per-thread"), "{err}");
    let err = refused(&["--rtp-sockets", "per-thread", "--rtp-send", "io-uring"]);
    assert!(
        err.contains("--rtp-send io-uring works with --rtp-sockets per-call only"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was created");
}

#[test]
fn real_time_media_threads_without_the_right_to_them_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    // Root (as ./test.sh and CI run) holds CAP_SYS_NICE: setpriv takes it away, as a service
    // account without it has none. RLIMIT_RTPRIO stays 0, so nothing else grants it.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args([
            "--bounding-set",
            "-sys_nice",
            "--inh-caps",
            "-sys_nice",
            "--",
        ]);
        c.arg(support::binary());
        c
    } else {
        Command::new(support::binary())
    };
    command
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--sip-listen", "127.0.0.1:0"])
        .args(["--media-realtime-priority", "10"]);
    let err = refused_start(command, "without CAP_SYS_NICE");
    assert!(
        err.contains("cannot give the media threads real-time priority 10 (SCHED_FIFO)")
            && err.contains("CAP_SYS_NICE"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was created");
}

/// Runs a `serve` that must refuse to start: waits for it to end (20 s at most), checks that
/// it failed, and returns what it wrote to stderr.
fn refused_start(mut command: Command, what: &str) -> String {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: the bridge started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{what}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
