//! End-to-end: what an attacker on the phone network meets, against the real binary.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use serde_json::json;
use support::phone::Phone;
use support::{
    Bridge, BridgeOptions, assets, first_tone, heard_times, position_of_run, wait, wrong_pin,
};

#[test]
fn pin_guessing_on_parallel_lines_locks_the_pin_until_reset_and_tells_the_organizer() {
    let (b, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra: vec!["--admin-email".into(), "security@example.com".into()],
            ..Default::default()
        },
    );
    let api = b.api();
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": "Ada", "email": "ada@example.com"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let id = created["organizer"]["id"].as_i64().unwrap();
    let conf = created["organizer"]["conference_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = created["pin"].as_str().unwrap().to_string();
    let wrong = wrong_pin(&pin);
    b.wait_outbox(1);

    // 17 attackers on parallel lines, three wrong PINs each: 51 failures in all.
    support::wrong_pins_on_lines(b.sip, &conf, &wrong, 17);

    // Locked until reset: the right PIN now sounds exactly like a wrong one.
    let mut owner = Phone::new(b.sip, Codec::Pcmu, None);
    owner.call();
    owner.send_digits(&format!("{conf}#*{pin}#"));
    assert!(
        heard_times(&owner, Prompt::WrongPin, 1, Duration::from_secs(15)),
        "a locked PIN is refused like a wrong one"
    );
    drop(owner);

    // The organizer and the admin are told, without the PIN.
    let deadline = Instant::now() + Duration::from_secs(15);
    let locked_mails = loop {
        let mails: Vec<String> = b
            .outbox()
            .into_iter()
            .map(|(_, raw)| support::decode_mail(&raw))
            .filter(|m| m.contains("PIN locked"))
            .collect();
        if mails.len() >= 2 || Instant::now() > deadline {
            break mails;
        }
        wait(200);
    };
    assert_eq!(
        locked_mails.len(),
        2,
        "one to the organizer, one to the admin"
    );
    assert!(
        locked_mails
            .iter()
            .any(|m| m.contains("To: ada@example.com"))
    );
    assert!(
        locked_mails
            .iter()
            .any(|m| m.contains("To: security@example.com"))
    );
    for m in &locked_mails {
        assert!(
            !m.contains(&pin) && !m.contains(&wrong),
            "no PIN in the e-mail"
        );
    }

    // The audit log has every failure and the lock, never the digits.
    let audit = api.get("/api/audit?limit=200").json();
    let entries = audit["entries"].as_array().unwrap();
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert_eq!(
        count("pin.failure"),
        52,
        "51 guesses and the owner's refused PIN"
    );
    assert_eq!(count("pin.locked"), 1, "the timed lock after ten failures");
    assert_eq!(count("pin.locked_until_reset"), 1);
    // As a whole number: five digits inside a timestamp or a port are not the PIN.
    let text = audit.to_string();
    assert!(
        support::leaked_secrets(&text, &[pin.clone(), wrong.clone()]).is_empty(),
        "{text}"
    );

    // A reset gives a new PIN that works at once.
    let r = api.post(&format!("/api/organizers/{id}/reset-pin"));
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.json()["pin"].as_str().unwrap().to_string();
    let mut lobby = Phone::new(b.sip, Codec::Pcmu, None);
    lobby.call();
    lobby.send_digits(&format!("{conf}##"));
    let t = Instant::now();
    let mut organizer = Phone::new(b.sip, Codec::Pcmu, Some(1000.0));
    organizer.call();
    organizer.send_digits(&format!("{conf}#*{new}#"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_tone(&lobby.heard(), t, 1000.0, Codec::Pcmu).is_none() {
        assert!(Instant::now() < deadline, "the new PIN starts the meeting");
        wait(100);
    }
    let audit = api.get("/api/audit?limit=20").json();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "pin.unlocked"),
        "the reset's unlock is audited"
    );
}

#[test]
fn past_the_call_limits_new_calls_get_503_with_retry_after_and_calls_up_keep_working() {
    use dialbridge::sip::message::{HeaderName, Method};
    let (b, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: vec!["--max-calls".into(), "2".into()],
            ..Default::default()
        },
    );
    let conf = orgs[0].conference_id.clone();
    let mut up: Vec<Phone> = (0..2)
        .map(|_| {
            let mut p = Phone::new(b.sip, Codec::Pcmu, None);
            p.call();
            p.send_digits(&format!("{conf}##"));
            p
        })
        .collect();
    let mut third = Phone::new(b.sip, Codec::Pcmu, None);
    third.send_invite();
    let refused = third
        .wait_response(503, Method::Invite, Duration::from_secs(3))
        .expect("503 past --max-calls");
    assert_eq!(
        refused.header(&HeaderName::RetryAfter).map(str::trim),
        Some("10")
    );
    third.ack_error(&refused);
    // The calls already up still hear their lobby.
    let hold = assets().hold_music().frames(Law::Mu).to_vec();
    let probe = hold.get(..10).unwrap_or_default().to_vec();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !up
        .iter()
        .all(|p| position_of_run(&p.heard(), &probe).is_some())
    {
        assert!(Instant::now() < deadline, "calls up keep their media");
        wait(100);
    }
    // One hangs up: a new call gets in.
    if let Some(mut p) = up.pop() {
        p.hangup();
    }
    wait(200);
    let mut fourth = Phone::new(b.sip, Codec::Pcmu, None);
    fourth.call();
    fourth.hangup();
}

#[test]
fn past_the_call_rate_new_calls_get_503_with_retry_after() {
    use dialbridge::sip::message::{HeaderName, Method};
    let (b, _) = Bridge::start(
        &[],
        BridgeOptions {
            extra: vec!["--max-call-rate".into(), "3".into()],
            ..Default::default()
        },
    );
    // Ten INVITEs at once: the first second's three get in, the others 503.
    let mut phones: Vec<Phone> = (0..10)
        .map(|_| Phone::new(b.sip, Codec::Pcmu, None))
        .collect();
    for p in &mut phones {
        p.send_invite();
    }
    let mut answered = 0;
    let mut refused = 0;
    for p in &mut phones {
        if let Some(r) = p.wait_response(503, Method::Invite, Duration::from_millis(500)) {
            assert_eq!(r.header(&HeaderName::RetryAfter).map(str::trim), Some("1"));
            p.ack_error(&r);
            refused += 1;
        } else {
            answered += 1;
        }
    }
    assert_eq!((answered, refused), (3, 7));
    // A second later the bucket has refilled.
    wait(1100);
    let mut later = Phone::new(b.sip, Codec::Pcmu, None);
    later.call();
    later.hangup();
}

#[test]
fn invites_from_outside_the_trusted_networks_get_403_or_nothing() {
    use dialbridge::sip::message::Method;
    // 127.0.0.1 is outside 192.0.2.0/24 (a documentation range nobody calls from here).
    let (b, _) = Bridge::start(
        &[],
        BridgeOptions {
            extra: vec!["--trusted-networks".into(), "192.0.2.0/24".into()],
            ..Default::default()
        },
    );
    let mut p = Phone::new(b.sip, Codec::Pcmu, None);
    p.send_invite();
    let refused = p
        .wait_response(403, Method::Invite, Duration::from_secs(3))
        .expect("403 from outside the trusted networks");
    p.ack_error(&refused);
    assert!(
        b.log_text().contains("outside the trusted networks"),
        "the refusal is logged"
    );

    let (dropping, _) = Bridge::start(
        &[],
        BridgeOptions {
            extra: vec![
                "--trusted-networks".into(),
                "192.0.2.0/24,198.51.100.0/24".into(),
                "--untrusted".into(),
                "drop".into(),
            ],
            ..Default::default()
        },
    );
    let mut q = Phone::new(dropping.sip, Codec::Pcmu, None);
    q.send_invite();
    for code in [100, 403, 200] {
        assert!(
            q.wait_response(code, Method::Invite, Duration::from_millis(700))
                .is_none(),
            "no {code}: untrusted datagrams get no answer at all"
        );
    }

    let (open, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: vec!["--trusted-networks".into(), "127.0.0.0/8".into()],
            ..Default::default()
        },
    );
    let mut caller = Phone::new(open.sip, Codec::Pcmu, None);
    caller.call();
    caller.send_digits(&format!("{}##", orgs[0].conference_id));
    caller.hangup();

    // Without a list the bridge takes calls from anywhere and says so once at start-up.
    let (anywhere, _) = Bridge::start(&[], BridgeOptions::default());
    wait(300);
    assert_eq!(
        anywhere.log_text().matches("no --trusted-networks").count(),
        1
    );
}

#[test]
fn self_service_reset_links_are_rate_limited_with_the_same_answer() {
    let (b, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            ..Default::default()
        },
    );
    let api = b.api();
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": "Ada", "email": "ada@example.com"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    b.wait_outbox(1);
    let answers: Vec<(u16, String)> = (0..6)
        .map(|_| {
            let r = api.send(
                "POST",
                "/api/self-service/reset-link",
                &json!({"email": "ada@example.com"}),
            );
            (r.status, r.body)
        })
        .collect();
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every request gets the same answer: {answers:?}"
    );
    b.wait_outbox(4);
    wait(1000);
    let links = b
        .outbox()
        .into_iter()
        .filter(|(_, raw)| raw.contains("/self-service/reset?token="))
        .count();
    assert_eq!(links, 3, "three links per address in 15 minutes");
    let audit = api.get("/api/audit?limit=50").json();
    let limited = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "self_service.limited")
        .count();
    assert_eq!(limited, 3);
}

/// Counts whole plays of `prompt` in what the phone heard.
fn times_heard(p: &Phone, prompt: Prompt) -> usize {
    let frames = assets().prompt(prompt).frames(Law::Mu).to_vec();
    support::times_heard(&p.heard(), &frames)
}

/// One call from `number` typing each entry of `ids` (each followed by `#`); returns the
/// phone once the bridge has hung up or the last entry was answered.
fn guess(bridge: &Bridge, number: &str, unknown: usize, then: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.set_from_user(number);
    p.call();
    for i in 1..=unknown {
        p.send_digits("111#");
        assert!(
            heard_times(&p, Prompt::ConferenceNotFound, i, Duration::from_secs(15)),
            "{number}: unknown ID {i} announced"
        );
    }
    p.send_digits(&format!("{then}#"));
    p
}

#[test]
fn conference_id_guessers_get_a_short_goodbye_per_number_and_per_source() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: [
                "--id-guesses-per-caller",
                "2",
                "--id-guesses-per-source",
                "4",
            ]
            .map(String::from)
            .to_vec(),
            ..BridgeOptions::default()
        },
    );
    let id = orgs[0].conference_id.clone();

    // Alice mistypes twice; her third entry — the right ID — is refused with a goodbye at
    // once, and so is her next call.
    let mut alice = guess(&bridge, "+15550100", 2, &id);
    assert!(alice.wait_for_bye(Duration::from_secs(10)), "alice hung up");
    assert_eq!(times_heard(&alice, Prompt::Goodbye), 1);
    assert_eq!(
        times_heard(&alice, Prompt::ConferenceNotFound),
        2,
        "no third 'not recognised': the goodbye comes at once"
    );
    assert!(
        times_heard(&alice, Prompt::OrganizerQuestion) == 0,
        "a cut-off caller learns nothing, not even that the ID was right"
    );
    let mut again = guess(&bridge, "+15550100", 0, &id);
    assert!(again.wait_for_bye(Duration::from_secs(10)), "cut off again");

    // Bob, from the same address, is not Alice: he gets in.
    let bob = guess(&bridge, "+15550101", 0, &id);
    assert!(
        heard_times(&bob, Prompt::OrganizerQuestion, 1, Duration::from_secs(10)),
        "another number from the same source still gets in"
    );

    // Carol's two unknown IDs bring the source to 4: the next caller from it is cut off
    // whatever number it claims.
    let mut carol = guess(&bridge, "+15550102", 2, &id);
    assert!(carol.wait_for_bye(Duration::from_secs(10)), "carol cut off");
    let mut dave = guess(&bridge, "+15550103", 0, &id);
    assert!(
        dave.wait_for_bye(Duration::from_secs(10)),
        "dave cut off by source"
    );
    let log = bridge.log_text();
    assert!(
        log.contains("limit=Caller") && log.contains("limit=Source"),
        "{log}"
    );
}

#[test]
fn the_log_scan_that_every_test_bridge_runs_finds_pins_tokens_and_keys() {
    let secrets = ["48213".to_string(), "tok-3f9a1c".to_string()];
    let clean = "2026-11-27T07:48:36.840574Z INFO call{call_id=a@b call=48213}: incoming call \
                 source=127.0.0.1:48213 rtp_port=48213 packets_in=148213";
    assert!(
        support::leaked_secrets(clean, &secrets).is_empty(),
        "ports and counters are no leak"
    );
    for leaky in [
        "DEBUG organizer PIN checked pin=48213",
        "WARN digits 48213 entered",
        "INFO session token tok-3f9a1c issued",
    ] {
        assert_eq!(
            support::leaked_secrets(leaky, &secrets).len(),
            1,
            "not found in {leaky:?}"
        );
    }
}
