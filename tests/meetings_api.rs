//! End-to-end: an operator sees and steers running meetings through the admin API and
//! `dialbridge meetings`, against the real binary with real calls, checked by what the API
//! answers and what each caller hears.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::Codec;
use serde_json::Value;
use support::http::Api;
use support::phone::Phone;
use support::{
    Bridge, BridgeOptions, first_tone, frames, hears, position_of_run, wait, wait_until,
};

const ALICE: f32 = 500.0; // far from every DTMF frequency

fn phone(bridge: &Bridge, user: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, tone);
    p.set_from_user(user);
    p.call();
    p
}

/// Polls `GET path` until `pred` holds for its JSON, or panics after 15 s.
fn poll(api: &Api, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = api.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let v = r.json();
        if pred(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        wait(50);
    }
}

fn participants(meeting: &Value) -> Vec<Value> {
    meeting["participants"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The participant whose From user is `user`.
fn by_user(meeting: &Value, user: &str) -> Option<Value> {
    participants(meeting).into_iter().find(|p| {
        p["from"]
            .as_str()
            .is_some_and(|f| f.starts_with(&format!("sip:{user}@")))
    })
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z') && s.starts_with("20")
    })
}

#[test]
fn operators_list_mute_kick_lock_admit_and_end_meetings_through_the_api_and_the_cli() {
    let (bridge, orgs) = Bridge::start(
        &["Ada", "Grace"],
        BridgeOptions {
            http: true,
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    let api = bridge.api();
    let doc = api.get("/api/openapi.json").json();
    for path in [
        "/api/meetings",
        "/api/meetings/{conference_id}",
        "/api/meetings/{conference_id}/end",
        "/api/meetings/{conference_id}/participants/{id}/kick",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
    let (ada, grace) = (&orgs[0], &orgs[1]);
    let ada_path = format!("/api/meetings/{}", ada.conference_id);

    let boss = phone(&bridge, "boss", None);
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let alice = phone(&bridge, "alice", Some(ALICE));
    alice.send_digits(&format!("{}##", ada.conference_id));
    let mut bob = phone(&bridge, "bob", None);
    bob.send_digits(&format!("{}##", ada.conference_id));
    let mut wanda = phone(&bridge, "wanda", None);
    wanda.send_digits(&format!("{}##", grace.conference_id));

    // The list: Ada's meeting with three callers, Grace's lobby with one.
    let list = poll(&api, "/api/meetings", "both meetings filled", |v| {
        let sizes: Vec<usize> = v
            .as_array()
            .map(|a| a.iter().map(|m| participants(m).len()).collect())
            .unwrap_or_default();
        let ada_in = v.as_array().is_some_and(|a| {
            a.iter().any(|m| {
                m["conference_id"] == ada.conference_id.as_str()
                    && participants(m).iter().all(|p| p["state"] == "meeting")
            })
        });
        sizes.iter().sum::<usize>() == 4 && ada_in
    });
    let body = list.to_string();
    assert!(
        support::leaked_secrets(&body, &[ada.pin.clone(), grace.pin.clone()]).is_empty(),
        "no PIN in the list: {body}"
    );
    let meetings = list.as_array().expect("an array of meetings");
    let running = meetings
        .iter()
        .find(|m| m["conference_id"] == ada.conference_id.as_str())
        .expect("Ada's meeting");
    assert_eq!(running["state"], "running");
    assert_eq!(running["organizer_id"], ada.id);
    assert_eq!(running["locked"], false);
    assert!(is_rfc3339_utc(&running["started_at"]), "{running}");
    let organizer = by_user(running, "boss").expect("the organizer");
    assert_eq!(organizer["role"], "organizer");
    for user in ["alice", "bob"] {
        let p = by_user(running, user).expect("an attendee");
        assert_eq!(p["role"], "attendee");
        assert_eq!(p["state"], "meeting");
        assert_eq!(p["codec"], "PCMU");
        assert_eq!(p["muted"], false);
        assert_eq!(p["hand_raised"], false);
        assert!(is_rfc3339_utc(&p["joined_at"]), "{p}");
        assert!(p["id"].as_u64().is_some());
    }
    let lobby = meetings
        .iter()
        .find(|m| m["conference_id"] == grace.conference_id.as_str())
        .expect("Grace's lobby");
    assert_eq!(lobby["state"], "lobby");
    assert!(lobby["started_at"].is_null());
    assert_eq!(lobby["organizer_id"], grace.id);
    let waiting = by_user(lobby, "wanda").expect("the waiting caller");
    assert_eq!(waiting["state"], "lobby");
    assert_eq!(waiting["role"], "attendee");
    let one = api.get(&ada_path);
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["conference_id"], ada.conference_id.as_str());

    // Mute: Alice is no longer heard by the others, and is told.
    let t0 = Instant::now();
    for listener in [&boss, &bob] {
        wait_until(listener, Duration::from_secs(15), "Alice", |h| {
            first_tone(h, t0, ALICE, Codec::Pcmu).is_some()
        });
    }
    assert!(
        poll(&api, &ada_path, "Alice talking", |m| by_user(m, "alice")
            .is_some_and(|p| p["talking"] == true))
        .is_object()
    );
    let alice_id = by_user(running, "alice").unwrap()["id"].as_u64().unwrap();
    let r = api.post(&format!("{ada_path}/participants/{alice_id}/mute"));
    assert_eq!(r.status, 200, "{}", r.body);
    let muted = r.json();
    assert_eq!(by_user(&muted, "alice").unwrap()["muted"], true);
    hears(&alice, &[Prompt::Muted], "'You are muted'");
    let muted_at = Instant::now() + Duration::from_millis(200);
    wait(1500);
    for listener in [&boss, &bob] {
        assert!(
            first_tone(&listener.heard(), muted_at, ALICE, Codec::Pcmu).is_none(),
            "a muted caller is not heard"
        );
    }
    assert_eq!(
        by_user(&api.get(&ada_path).json(), "alice").unwrap()["talking"],
        false
    );

    // 404 and 409, with the error shape.
    let r = api.get("/api/meetings/000000000");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().is_some());
    let r = api.post(&format!("{ada_path}/participants/999999/kick"));
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("999999"))
    );
    let r = api.post(&format!("{ada_path}/participants/someone/mute"));
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().is_some());
    let r = api.post(&format!("{ada_path}/participants/1/shout"));
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().is_some());
    let wanda_id = waiting["id"].as_u64().unwrap();
    let r = api.post(&format!(
        "/api/meetings/{}/participants/{wanda_id}/mute",
        grace.conference_id
    ));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("lobby"))
    );
    let r = api.post(&format!("/api/meetings/{}/admit", grace.conference_id));
    assert_eq!(
        r.status, 409,
        "a lobby without its organizer cannot be let in"
    );
    let r = request_without_token(&bridge, &format!("{ada_path}/lock"));
    assert_eq!(r, 401);

    // Kick: Bob hears why, then gets a BYE; the others stay.
    let bob_id = by_user(running, "bob").unwrap()["id"].as_u64().unwrap();
    let r = api.post(&format!("{ada_path}/participants/{bob_id}/kick"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(by_user(&r.json(), "bob").is_none());
    assert_eq!(participants(&r.json()).len(), 2);
    assert!(
        bob.wait_for_bye(Duration::from_secs(15)),
        "the kicked caller gets a BYE"
    );
    assert!(
        position_of_run(&bob.heard(), &frames(&[Prompt::Removed])).is_some(),
        "the whole 'You have been removed from the meeting' before the BYE"
    );

    // Lock: a newcomer waits; admit lets the lobby in, as *21.
    let r = api.post(&format!("{ada_path}/lock"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["locked"], true);
    let carol = phone(&bridge, "carol", None);
    carol.send_digits(&format!("{}##", ada.conference_id));
    hears(&carol, &[Prompt::LockedWait], "'this meeting is locked'");
    poll(&api, &ada_path, "Carol in the lobby", |m| {
        by_user(m, "carol").is_some_and(|p| p["state"] == "lobby")
    });
    let r = api.post(&format!("{ada_path}/admit"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(by_user(&r.json(), "carol").unwrap()["state"], "meeting");

    // Deny one waiting caller, as *24 then 2.
    let r = api.post(&format!(
        "/api/meetings/{}/participants/{wanda_id}/deny",
        grace.conference_id
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "ended", "the lobby is empty: gone");
    assert!(wanda.wait_for_bye(Duration::from_secs(15)));
    assert!(position_of_run(&wanda.heard(), &frames(&[Prompt::NotLetIn])).is_some());

    // The CLI against the running server.
    let out = cli(&bridge, &["meetings", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let listed = v.as_array().expect("an array");
    assert_eq!(listed.len(), 1, "{v}");
    assert_eq!(listed[0]["conference_id"], ada.conference_id.as_str());
    assert_eq!(participants(&listed[0]).len(), 3);
    let out = cli(&bridge, &["meetings"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&ada.conference_id),
        "{text}"
    );
    assert!(text.contains("sip:carol@"), "{text}");
    let out = cli(
        &bridge,
        &[
            "meetings",
            "unmute",
            &ada.conference_id,
            &alice_id.to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        by_user(&api.get(&ada_path).json(), "alice").unwrap()["muted"],
        false
    );
    let out = cli(&bridge, &["meetings", "show", "000000000"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no meeting") && err.contains("404"), "{err}");

    // End: everyone hears it and gets a BYE; the meeting is gone.
    let r = api.post(&format!("{ada_path}/end"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "ended");
    let mut everyone = vec![boss, alice, carol];
    for p in &mut everyone {
        assert!(
            p.wait_for_bye(Duration::from_secs(15)),
            "everyone gets a BYE"
        );
        assert!(
            position_of_run(&p.heard(), &frames(&[Prompt::MeetingEnded])).is_some(),
            "'The meeting has ended' before the BYE"
        );
    }
    assert_eq!(api.get(&ada_path).status, 404);
    assert_eq!(api.get("/api/meetings").json(), serde_json::json!([]));

    // Every control is in the audit log, with who did it.
    let audit = api.get("/api/audit?limit=50").json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    for (action, detail) in [
        ("participant.mute", format!("participant {alice_id}")),
        ("participant.unmute", format!("participant {alice_id}")),
        ("participant.kick", format!("participant {bob_id}")),
        ("participant.deny", format!("participant {wanda_id}")),
        ("meeting.lock", ada.conference_id.clone()),
        ("meeting.admit", ada.conference_id.clone()),
        ("meeting.end", ada.conference_id.clone()),
    ] {
        assert!(
            entries.iter().any(|e| e["action"] == action
                && e["actor"] == "admin"
                && e["source"] == "api 127.0.0.1"
                && e["detail"].as_str().is_some_and(|d| d.contains(&detail))),
            "no audit entry {action} ({detail}) in {audit}"
        );
    }
    // Refused controls changed nothing and are not audited as done.
    assert!(
        !entries
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| d.contains("999999")))
    );
    let log = bridge.log_text();
    assert!(
        support::leaked_secrets(&log, &[ada.pin.clone(), grace.pin.clone()]).is_empty(),
        "no PIN in the log"
    );
}

#[test]
fn the_cli_says_in_one_line_when_no_bridge_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(support::binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["meetings", "--json"])
        .output()
        .expect("run dialbridge");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no running bridge"), "{err}");
    // A bridge that stopped left its address behind: nothing answers there.
    std::fs::write(dir.path().join("admin-url"), "http://127.0.0.1:9\n").unwrap();
    std::fs::write(dir.path().join("admin-token"), "x\n").unwrap();
    let out = std::process::Command::new(support::binary())
        .arg("--data-dir")
        .arg(dir.path())
        .arg("meetings")
        .output()
        .expect("run dialbridge");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("is `dialbridge serve` running?"), "{err}");
}

fn cli(bridge: &Bridge, args: &[&str]) -> std::process::Output {
    std::process::Command::new(support::binary())
        .arg("--data-dir")
        .arg(bridge.data_dir.path())
        .args(args)
        .output()
        .expect("run dialbridge")
}

fn request_without_token(bridge: &Bridge, path: &str) -> u16 {
    support::http::request(bridge.http.expect("http"), "POST", path, &[], None).status
}
