//! End-to-end: SIGTERM on the real `dialbridge` binary. New calls get 503, every caller —
//! in the IVR, in the lobby, in a meeting, over UDP or TCP — hears goodbye and gets a BYE,
//! and the process exits within 10 s with its database closed.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::sip::message::{HeaderName, Method};
use support::phone::Phone;
use support::{Bridge, BridgeOptions, assets, position_of_run, wait, wait_until};

#[test]
fn sigterm_refuses_new_calls_says_goodbye_to_everyone_hangs_up_and_exits_cleanly() {
    let (mut bridge, orgs) = Bridge::start(&["Ada", "Bob"], BridgeOptions::default());
    let a = assets();

    // A meeting: the organizer over TCP, an attendee over UDP.
    let ada = &orgs[0];
    let mut boss = Phone::new_tcp(bridge.sip, Codec::Pcmu, Some(1000.0));
    boss.call();
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let mut member = Phone::new(bridge.sip, Codec::Pcmu, Some(700.0));
    member.call();
    member.send_digits(&format!("{}##", ada.conference_id));
    // A lobby: Bob's meeting has not started.
    let mut waiting = Phone::new(bridge.sip, Codec::Pcma, None);
    waiting.call();
    waiting.send_digits(&format!("{}##", orgs[1].conference_id));
    wait_until(&waiting, Duration::from_secs(15), "Bob's lobby", |h| {
        position_of_run(h, &a.prompt(Prompt::LobbyWait).frames(Law::A)[..10]).is_some()
    });
    wait_until(&member, Duration::from_secs(15), "the meeting", |h| {
        support::first_tone(
            h,
            Instant::now() - Duration::from_secs(30),
            1000.0,
            Codec::Pcmu,
        )
        .is_some()
    });
    // And a caller still in the IVR, typing nothing.
    let mut undecided = Phone::new(bridge.sip, Codec::Pcmu, None);
    undecided.call();

    let t0 = Instant::now();
    bridge.signal_term();
    wait(300);

    let mut late = Phone::new(bridge.sip, Codec::Pcmu, None);
    late.send_invite();
    let refused = late
        .wait_for(Duration::from_secs(3), |m| {
            m.status().is_some_and(|s| s >= 200)
                && m.cseq().is_ok_and(|c| c.method == Method::Invite)
        })
        .expect("a final answer to an INVITE during shutdown");
    assert_eq!(refused.status(), Some(503), "new calls during shutdown");
    assert!(refused.header(&HeaderName::RetryAfter).is_some());
    late.ack_error(&refused);

    for (name, phone, codec) in [
        ("organizer (TCP)", &mut boss, Codec::Pcmu),
        ("meeting member", &mut member, Codec::Pcmu),
        ("lobby caller", &mut waiting, Codec::Pcma),
        ("IVR caller", &mut undecided, Codec::Pcmu),
    ] {
        assert!(
            phone.wait_for_bye(Duration::from_secs(9)),
            "{name}: no BYE; log:\n{}",
            bridge.log_text()
        );
        let goodbye = a
            .prompt(Prompt::Goodbye)
            .frames(support::law(codec))
            .to_vec();
        assert!(
            position_of_run(&phone.heard(), &goodbye).is_some(),
            "{name}: the whole goodbye before the BYE"
        );
    }

    let status = bridge
        .wait_exit(Duration::from_secs(10).saturating_sub(t0.elapsed()))
        .expect("exited within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    let log = bridge.log_text();
    assert!(
        log.contains("every caller has been said goodbye to"),
        "no caller left behind; log:\n{log}"
    );
    // One call detail record per answered call, with where each caller got and why the
    // call ended; the refused call was never answered and has none.
    let cdr = std::fs::read_to_string(bridge.data_dir.path().join("cdr.jsonl")).expect("cdr.jsonl");
    let records: Vec<serde_json::Value> = cdr
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(records.len(), 4, "{cdr}");
    for r in &records {
        assert_eq!(
            (r["ended_by"].as_str(), r["cause"].as_str()),
            (Some("bridge"), Some("shutdown")),
            "{r}"
        );
        assert!(r["duration_s"].as_f64().is_some_and(|d| d > 0.5), "{r}");
        assert!(
            support::leaked_secrets(&cdr, std::slice::from_ref(&ada.pin)).is_empty(),
            "no PIN in call records"
        );
    }
    let role_of = |conf: &str, role: &str, transport: &str| {
        records
            .iter()
            .any(|r| r["conference_id"] == conf && r["role"] == role && r["transport"] == transport)
    };
    assert!(role_of(&ada.conference_id, "organizer", "tcp"), "{cdr}");
    assert!(role_of(&ada.conference_id, "attendee", "udp"), "{cdr}");
    assert!(role_of(&orgs[1].conference_id, "attendee", "udp"), "{cdr}");
    assert!(
        records
            .iter()
            .any(|r| r["conference_id"].is_null() && r["role"].is_null()),
        "the caller still in the IVR: {cdr}"
    );
    // A cleanly closed SQLite database in WAL mode has checkpointed and removed its WAL.
    let wal = bridge.data_dir.path().join("dialbridge.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "the database was not closed cleanly: {} is left",
        wal.display()
    );
}
