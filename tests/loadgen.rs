//! The load generator (`dialbridge-load`) in its smoke modes: its calibration against the
//! in-process answering server, and a short load on the real bridge (RFC 4733 and INFO keys,
//! a lobby moved into the meeting by the organizer's PIN), checked from both ends: the
//! generator's own results and the bridge's /metrics.

mod support;
#[path = "support/tls.rs"]
mod tls;

use std::process::{Command, Output};

use support::{Bridge, BridgeOptions};

fn generator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialbridge-load"))
        .args(args)
        .output()
        .expect("run dialbridge-load")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "dialbridge-load failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON results")
}

#[test]
fn calibration_finds_a_clean_rate_and_fills_its_histograms() {
    let v = json(&generator(&["--calibrate", "--smoke", "--json"]));
    assert_eq!(v["mode"], "calibration");
    assert!(
        v["highest_clean_rate"].as_f64().unwrap_or(0.0) >= 50.0,
        "{v}"
    );
    for step in v["steps"].as_array().expect("steps") {
        let planned = step["planned"].as_u64().expect("planned");
        assert!(planned > 0);
        assert_eq!(
            step["invite_200"]["count"].as_u64(),
            Some(planned),
            "{step}"
        );
        assert_eq!(step["lobby"]["count"].as_u64(), Some(planned), "{step}");
        assert!(step["generator_cpu_percent"].as_f64().is_some());
        assert!(step["send_lag"]["count"].as_u64().unwrap_or(0) > 0);
    }
}

#[test]
fn a_smoke_load_on_the_bridge_reaches_the_lobby_and_starts_the_meeting() {
    let (bridge, orgs) = Bridge::start(
        &["Ada", "Bob"],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    let target = bridge.sip.to_string();
    let ada = format!("{}:{}", orgs[0].conference_id, orgs[0].pin);
    // 20 attendees with RFC 4733 keys on two shards, then Ada, who starts the meeting; at
    // the same time 5 attendees with INFO keys wait in Bob's lobby.
    let meeting = std::thread::spawn({
        let target = target.clone();
        move || {
            generator(&[
                "--target",
                &target,
                "--conference",
                &ada,
                "--meeting",
                "21",
                "--rate",
                "20",
                "--duration",
                "1",
                "--organizer-delay",
                "8",
                "--threads",
                "2",
                "--smoke",
                "--json",
            ])
        }
    });
    let info = generator(&[
        "--target",
        &target,
        "--conference",
        &orgs[1].conference_id,
        "--digits",
        "info",
        "--rate",
        "10",
        "--duration",
        "0.5",
        "--smoke",
        "--json",
    ]);
    // Sampling: one call in 2 has its RTP on 127.0.0.3 and its audio checked; the others
    // only have to be answered, send their keys, hold and hang up.
    let sampled = json(&generator(&[
        "--target",
        &target,
        "--conference",
        &orgs[1].conference_id,
        "--sample-ip",
        "127.0.0.3",
        "--sample-every",
        "2",
        "--rate",
        "10",
        "--duration",
        "0.5",
        "--smoke",
        "--json",
    ]));
    let info = json(&info);
    let meeting = json(&meeting.join().expect("generator thread"));
    assert_eq!(sampled["succeeded"].as_u64(), Some(5), "{sampled}");
    assert_eq!(sampled["checked"].as_u64(), Some(3), "{sampled}");
    assert_eq!(sampled["unchecked"].as_u64(), Some(2), "{sampled}");
    assert_eq!(sampled["lobby"]["count"].as_u64(), Some(3), "{sampled}");

    assert_eq!(info["succeeded"].as_u64(), Some(5), "{info}");
    assert_eq!(info["failed"].as_u64(), Some(0));
    assert_eq!(info["lobby"]["count"].as_u64(), Some(5));
    assert_eq!(meeting["succeeded"].as_u64(), Some(21), "{meeting}");
    assert_eq!(meeting["failed"].as_u64(), Some(0));
    assert_eq!(meeting["invite_200"]["count"].as_u64(), Some(21));
    assert_eq!(meeting["lobby"]["count"].as_u64(), Some(20));
    assert_eq!(meeting["pin_to_meeting"]["count"].as_u64(), Some(20));
    assert_eq!(meeting["retransmissions_sent"].as_u64(), Some(0));

    // The bridge saw the same: every caller through the IVR (the sampled run's 5 too), the
    // keys by both methods, one PIN accepted and a lobby of 20 moved in.
    assert_eq!(bridge.metric("dialbridge_conference_joins_total", &[]), 31);
    assert_eq!(
        bridge.metric("dialbridge_pin_checks_total", &["result=\"accepted\""]),
        1
    );
    assert_eq!(bridge.metric("dialbridge_last_lobby_move_callers", &[]), 20);
    let by = |method: &str| {
        bridge.metric(
            "dialbridge_dtmf_digits_total",
            &[&format!("method=\"{method}\"")],
        )
    };
    let id_keys = orgs[0].conference_id.len() as u64 + 2;
    let bob_keys = orgs[1].conference_id.len() as u64 + 2;
    assert_eq!(by("info"), 5 * bob_keys);
    assert_eq!(
        by("rfc4733"),
        20 * id_keys + id_keys + orgs[0].pin.len() as u64 + 1 + 5 * bob_keys
    );
}

#[test]
fn a_smoke_load_with_srtp_goes_through_the_ivr_and_into_the_meeting() {
    // The generator's SIP is UDP, so the bridge is told to take keys over it.
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: vec![
                "--srtp".into(),
                "require".into(),
                "--srtp-over-cleartext-sip".into(),
            ],
            ..Default::default()
        },
    );
    let ada = format!("{}:{}", orgs[0].conference_id, orgs[0].pin);
    let run = json(&generator(&[
        "--target",
        &bridge.sip.to_string(),
        "--conference",
        &ada,
        "--meeting",
        "11",
        "--rate",
        "20",
        "--duration",
        "0.5",
        "--organizer-delay",
        "4",
        "--srtp",
        "--smoke",
        "--json",
    ]));
    // Every key went through SRTP (the bridge requires it), and the generator decrypted what
    // the bridge sent well enough to recognise the lobby and the meeting.
    assert_eq!(run["succeeded"].as_u64(), Some(11), "{run}");
    assert_eq!(run["failed"].as_u64(), Some(0));
    assert_eq!(run["lobby"]["count"].as_u64(), Some(10));
    assert_eq!(run["pin_to_meeting"]["count"].as_u64(), Some(10));
    assert_eq!(bridge.metric("dialbridge_last_lobby_move_callers", &[]), 10);
    for reason in ["replay", "auth", "malformed"] {
        assert_eq!(
            bridge.metric(
                "dialbridge_srtp_dropped_total",
                &[&format!("reason=\"{reason}\"")]
            ),
            0,
            "{reason}"
        );
    }
}

#[test]
fn a_smoke_load_over_tcp_and_tls_reaches_the_lobby_without_retransmissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = tls::TestCa::new(dir.path(), "bridge");
    let tls_addr = tls::free_tcp_addr();
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: tls::tls_flags(tls_addr, &ca.server("bridge")),
            ..Default::default()
        },
    );
    let id = orgs[0].conference_id.clone();
    let ca_path = ca.cert_path().display().to_string();
    let sip = bridge.sip.to_string();
    let tls = tls_addr.to_string();
    for (transport, target, extra) in [
        ("tcp", sip.as_str(), vec![]),
        ("tls", tls.as_str(), vec!["--tls-ca", ca_path.as_str()]),
    ] {
        let mut args = vec![
            "--target",
            target,
            "--conference",
            &id,
            "--transport",
            transport,
            "--threads",
            "2",
            "--rate",
            "20",
            "--duration",
            "0.5",
            "--smoke",
            "--json",
        ];
        args.extend(extra);
        let run = json(&generator(&args));
        assert_eq!(run["succeeded"].as_u64(), Some(10), "{transport}: {run}");
        assert_eq!(run["failed"].as_u64(), Some(0), "{transport}");
        assert_eq!(run["lobby"]["count"].as_u64(), Some(10), "{transport}");
        assert_eq!(run["retransmissions_sent"].as_u64(), Some(0), "{transport}");
    }
    // Two shards each time: two TCP connections, then two TLS ones, whose calls all came in.
    assert_eq!(bridge.metric("dialbridge_conference_joins_total", &[]), 20);
    let cdr = std::fs::read_to_string(bridge.data_dir.path().join("cdr.jsonl")).expect("CDR");
    assert_eq!(cdr.matches("\"transport\":\"tcp\"").count(), 10, "{cdr}");
    assert_eq!(cdr.matches("\"transport\":\"tls\"").count(), 10, "{cdr}");
}

/// A 2xx that comes after the generator gave the INVITE up (Timer B) is acknowledged and
/// the call hung up (RFC 3261 §13.2.2.4): otherwise the far end goes on serving a caller who
/// is gone, as the calibration server did after an overloaded step, failing every later one.
#[test]
fn an_answer_after_timer_b_is_acknowledged_and_hung_up() {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    let far = UdpSocket::bind("127.0.0.1:0").expect("bind");
    far.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let target = far.local_addr().expect("addr").to_string();
    // Two calls a second apart; T1 = 1 ms puts Timer B at 64 ms, so the first call is given
    // up long before the second starts, and the shard is still running when the late 200
    // arrives.
    let child = Command::new(env!("CARGO_BIN_EXE_dialbridge-load"))
        .args([
            "--target",
            &target,
            "--conference",
            "123456789",
            "--rate",
            "1",
            "--duration",
            "2",
            "--t1-ms",
            "1",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dialbridge-load");

    let header = |msg: &str, name: &str| -> String {
        msg.lines()
            .find(|l| {
                l.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            })
            .unwrap_or_else(|| panic!("no {name} in {msg}"))
            .to_string()
    };
    let mut buf = [0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut first: Option<(String, std::net::SocketAddr, Instant)> = None;
    let mut answered = false;
    let (mut ack, mut bye) = (None, None);
    while Instant::now() < deadline && (ack.is_none() || bye.is_none()) {
        if let Some((invite, from, at)) = &first
            && !answered
            && at.elapsed() > Duration::from_millis(300)
        {
            let ok = format!(
                "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=late\r\n{}\r\n{}\r\nContact: <sip:bridge@{target}>\r\nContent-Length: 0\r\n\r\n",
                header(invite, "Via"),
                header(invite, "From"),
                header(invite, "To"),
                header(invite, "Call-ID"),
                header(invite, "CSeq"),
            );
            far.send_to(ok.as_bytes(), from).expect("send 200");
            answered = true;
        }
        let Ok((n, from)) = far.recv_from(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg.starts_with("INVITE ") && first.is_none() {
            first = Some((msg, from, Instant::now()));
        } else if let Some((invite, _, _)) = &first
            && header(&msg, "Call-ID") == header(invite, "Call-ID")
        {
            if msg.starts_with("ACK ") {
                ack = Some(msg);
            } else if msg.starts_with("BYE ") {
                bye = Some(msg);
            }
        }
    }
    let out = child.wait_with_output().expect("dialbridge-load ends");
    let ack = ack.expect("the late 200 was acknowledged");
    let bye = bye.expect("the call given up was hung up");
    assert!(header(&ack, "To").contains("tag=late"), "{ack}");
    assert!(header(&bye, "To").contains("tag=late"), "{bye}");
    assert!(header(&bye, "CSeq").contains("BYE"), "{bye}");
    // Both calls still count as failed: the first was given up before its answer.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON results");
    assert_eq!(v["failed"].as_u64(), Some(2), "{v}");
}
