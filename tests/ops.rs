//! What an operator installs from `contrib/`: the fail2ban filter against the real bridge's
//! log, the systemd unit as systemd itself reads it, and the Grafana dashboard against the
//! metrics a running bridge exports.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use dialbridge::media::codec::{Codec, Law};
use support::phone::Phone;
use support::{Bridge, BridgeOptions, wait};

fn wait_for_log(bridge: &Bridge, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bridge.log_text().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log");
        wait(100);
    }
}

/// Runs fail2ban-regex with our filter over `log`; returns (lines, matched).
fn fail2ban_regex(log: &str) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bridge.log");
    std::fs::write(&file, log).unwrap();
    let filter = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/fail2ban/filter.d/dialbridge.conf");
    let out = Command::new("fail2ban-regex")
        .arg(&file)
        .arg(&filter)
        .output()
        .expect("fail2ban-regex (Debian package fail2ban; ./test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fail2ban-regex failed:\n{text}");
    // "Lines: 40 lines, 0 ignored, 3 matched, 37 missed"
    let line = text
        .lines()
        .find(|l| l.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let number = |after: &str| -> usize {
        line.split(", ")
            .chain(std::iter::once(line))
            .find_map(|part| {
                let part = part.trim_start_matches("Lines: ");
                let (n, word) = part.split_once(' ')?;
                word.starts_with(after).then(|| n.parse().ok()).flatten()
            })
            .unwrap_or_else(|| panic!("no {after} in {line:?}"))
    };
    (number("lines"), number("matched"))
}

#[test]
fn the_fail2ban_filter_catches_every_security_event_of_a_real_bridge_and_nothing_else() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: ["--id-guesses-per-caller", "1"].map(String::from).to_vec(),
            ..BridgeOptions::default()
        },
    );
    let org = &orgs[0];
    let wrong: String = org
        .pin
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect();
    let mut guesser = Phone::new(bridge.sip, Codec::Pcmu, None);
    guesser.call();
    guesser.send_digits(&format!("{}#*{wrong}#", org.conference_id));
    wait_for_log(&bridge, "event=wrong-pin");
    guesser.hangup();
    let mut scanner = Phone::new(bridge.sip, Codec::Pcmu, None);
    scanner.call();
    scanner.send_digits("111#");
    let not_found = support::assets()
        .prompt(dialbridge::ivr::prompt::Prompt::ConferenceNotFound)
        .frames(Law::Mu)[40];
    let deadline = Instant::now() + Duration::from_secs(15);
    while !scanner.heard().iter().any(|h| h.payload == not_found) {
        assert!(
            Instant::now() < deadline,
            "the unknown ID was never announced"
        );
        wait(50);
    }
    scanner.send_digits("111#");
    wait_for_log(&bridge, "event=conference-id-guessing");

    let (walled, _) = Bridge::start(
        &[],
        BridgeOptions {
            extra: ["--trusted-networks", "192.0.2.0/24"]
                .map(String::from)
                .to_vec(),
            ..BridgeOptions::default()
        },
    );
    let mut outsider = Phone::new(walled.sip, Codec::Pcmu, None);
    outsider.send_invite();
    wait_for_log(&walled, "event=untrusted-invite");

    for (b, at_least) in [(&bridge, 2), (&walled, 1)] {
        let log = b.log_text();
        let events = log.lines().filter(|l| l.contains("security event")).count();
        assert!(events >= at_least, "{events} security events in:\n{log}");
        let (lines, matched) = fail2ban_regex(&log);
        assert!(lines > events, "the log has other lines too");
        assert_eq!(
            matched, events,
            "every security event and nothing else matched"
        );
    }
}

#[test]
fn the_shipped_firewall_loads_and_keeps_rtp_out_of_connection_tracking() {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/nftables/dialbridge.nft");
    // In a network namespace of its own with only loopback (as root, like the load
    // benchmark): datagrams to three media ports and to the SIP port; only SIP's is tracked.
    let script = format!(
        "ip link set lo up && nft -f {} && \
         for p in 10000 16000 23999; do echo rtp > /dev/udp/127.0.0.1/$p; done && \
         echo sip > /dev/udp/127.0.0.1/5060 && \
         cat /proc/sys/net/netfilter/nf_conntrack_count && nft list table inet dialbridge",
        file.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .output()
        .expect("run unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().next(),
        Some("1"),
        "only the SIP datagram is tracked: {text}"
    );
    assert!(
        text.contains("notrack") && text.contains("policy drop"),
        "{text}"
    );
}

#[test]
fn the_systemd_unit_is_valid_for_systemd() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/dialbridge.service"),
    )
    .unwrap();
    assert!(
        unit.contains("KillSignal=SIGTERM")
            && unit.contains("--config /etc/dialbridge/dialbridge.toml")
    );
    // systemd checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dialbridge.toml");
    std::fs::write(&config, "").unwrap();
    let path = dir.path().join("dialbridge.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/dialbridge", support::binary())
            .replace(
                "/etc/dialbridge/dialbridge.toml",
                &config.display().to_string(),
            ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );
}

/// Every `dialbridge_…` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("dialbridge_") {
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..len].to_string());
        rest = &tail[len..];
    }
    names
}

/// Every `expr` string anywhere in the dashboard.
fn expressions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| expressions(i, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_a_running_bridge_exports() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/dialbridge.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "only {} queries", exprs.len());

    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    bridge.wait_http();
    let text = bridge.api().get("/metrics").body;
    // What the bridge exports: each family, and a histogram's series.
    let mut exported = std::collections::HashSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            exported.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    exported.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    assert!(exported.len() > 30, "exported: {exported:?}");
    let mut charted = std::collections::HashSet::new();
    for e in &exprs {
        for name in metric_names(e) {
            assert!(
                exported.contains(&name),
                "the dashboard queries {name}, which the bridge does not export: {e}"
            );
            charted.insert(name);
        }
    }
    // The families an operator watches first are all on it.
    for must in [
        "dialbridge_calls_active",
        "dialbridge_callers",
        "dialbridge_meetings",
        "dialbridge_sip_turn_seconds_bucket",
        "dialbridge_media_tick_lateness_seconds_bucket",
        "dialbridge_pin_checks_total",
    ] {
        assert!(charted.contains(must), "{must} is not charted");
    }
}
