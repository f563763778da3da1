//! End-to-end: the admin HTTP API of the real binary, checked the way an admin and an
//! organizer would notice: answers, e-mails in the outbox, and what callers hear. Each
//! test runs twice, with the directory in SQLite (the default) and in PostgreSQL (a fresh
//! database on one throwaway server per test binary, tests/support/postgres.rs).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use serde_json::json;
use support::http::request;
use support::phone::Phone;
use support::{Bridge, BridgeOptions, assets, first_tone, position_of_run, wait};

/// Where a test bridge keeps its directory; every test runs on each.
#[derive(Clone, Copy, Debug)]
enum Db {
    /// The default: SQLite in the data directory.
    Sqlite,
    /// A fresh database of its own on this test binary's PostgreSQL server.
    Postgresql,
}

impl Db {
    /// The global flags that point the bridge, and every CLI command run on its data,
    /// at this directory.
    fn global_flags(self) -> Vec<String> {
        match self {
            Db::Sqlite => Vec::new(),
            Db::Postgresql => vec![
                "--database-url".into(),
                support::postgres::shared_database(),
            ],
        }
    }
}

/// `#[test]`s running the test body `name(db: Db)` on each directory: `name::on_sqlite`
/// and `name::on_postgresql`.
macro_rules! on_sqlite_and_postgresql {
    ($name:ident) => {
        mod $name {
            #[test]
            fn on_sqlite() {
                super::$name(super::Db::Sqlite);
            }

            #[test]
            fn on_postgresql() {
                super::$name(super::Db::Postgresql);
            }
        }
    };
}

/// A bridge with the admin API on `db`, with `extra` serve flags.
fn bridge_with(db: Db, extra: Vec<String>) -> Bridge {
    Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra,
            global: db.global_flags(),
            ..Default::default()
        },
    )
    .0
}

fn bridge(db: Db) -> Bridge {
    bridge_with(db, Vec::new())
}

fn create(api: &support::http::Api, name: &str) -> serde_json::Value {
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": name, "email": format!("{}@example.com", name.to_lowercase())}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// Calls in as organizer with `pin`; returns the phone (in the meeting if the PIN was right).
fn organizer_call(bridge: &Bridge, conference_id: &str, pin: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, Some(1000.0));
    p.call();
    p.send_digits(&format!("{conference_id}#*{pin}#"));
    p
}

fn heard_prompt(p: &Phone, prompt: Prompt, within: Duration) -> bool {
    let frames = assets().prompt(prompt).frames(Law::Mu).to_vec();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if position_of_run(&p.heard(), &frames).is_some() {
            return true;
        }
        wait(100);
    }
    false
}

on_sqlite_and_postgresql!(the_api_needs_the_admin_token_and_the_openapi_document_is_public);
fn the_api_needs_the_admin_token_and_the_openapi_document_is_public(db: Db) {
    let b = bridge(db);
    let addr = b.http.unwrap();
    let r = request(addr, "GET", "/api/organizers", &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request(
        addr,
        "GET",
        "/api/organizers",
        &[("Authorization", "Bearer not-the-token")],
        None,
    );
    assert_eq!(r.status, 401);
    assert_eq!(b.api().get("/api/organizers").status, 200);
    let doc = request(addr, "GET", "/api/openapi.json", &[], None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/organizers/{id}/reset-pin"].is_object());
    let mode = std::fs::metadata(b.data_dir.path().join("admin-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "token file is owner-only");
}

on_sqlite_and_postgresql!(a_pin_is_shown_once_masked_afterwards_and_e_mailed);
fn a_pin_is_shown_once_masked_afterwards_and_e_mailed(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let pin = created["pin"].as_str().expect("the PIN, once").to_string();
    assert_eq!(pin.len(), 5, "default length 5");
    let id = created["organizer"]["id"].as_i64().unwrap();
    assert_eq!(created["email"]["status"], "queued");
    for r in [
        api.get(&format!("/api/organizers/{id}")),
        api.get("/api/organizers"),
    ] {
        assert!(r.body.contains("*****"), "{}", r.body);
        assert!(!r.body.contains(&format!("\"{pin}\"")), "no PIN in reads");
    }
    let mails = b.wait_outbox(1);
    assert_eq!(mails.len(), 1, "one PIN e-mail");
    let (path, text) = &mails[0];
    assert!(text.contains("To: ada@example.com"), "{text}");
    assert!(text.contains(&pin), "the PIN is in the e-mail");
    assert!(text.contains(created["organizer"]["conference_id"].as_str().unwrap()));
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mails with PINs are owner-only");
    let audit = api.get("/api/audit").body;
    assert!(audit.contains("organizer.create"), "{audit}");
    assert!(
        audit.contains("api 127.0.0.1"),
        "who and from where: {audit}"
    );
    assert!(!audit.contains(&pin), "never the PIN in the audit log");
}

on_sqlite_and_postgresql!(reset_pin_stops_the_old_pin_at_once_and_the_new_one_starts_the_meeting);
fn reset_pin_stops_the_old_pin_at_once_and_the_new_one_starts_the_meeting(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let id = created["organizer"]["id"].as_i64().unwrap();
    let conf = created["organizer"]["conference_id"]
        .as_str()
        .unwrap()
        .to_string();
    let old = created["pin"].as_str().unwrap().to_string();
    let r = api.post(&format!("/api/organizers/{id}/reset-pin"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let new = r.json()["pin"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    let mails = b.wait_outbox(2);
    assert!(mails[1].1.contains(&new), "the reset is e-mailed");

    let mut lobby = Phone::new(b.sip, Codec::Pcmu, None);
    lobby.call();
    lobby.send_digits(&format!("{conf}##"));
    let with_old = organizer_call(&b, &conf, &old);
    assert!(
        heard_prompt(&with_old, Prompt::WrongPin, Duration::from_secs(15)),
        "the old PIN is refused"
    );
    let t = Instant::now();
    let _with_new = organizer_call(&b, &conf, &new);
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_tone(&lobby.heard(), t, 1000.0, Codec::Pcmu).is_none() {
        assert!(
            Instant::now() < deadline,
            "the new PIN starts the meeting and the lobby hears the organizer"
        );
        wait(100);
    }
}

on_sqlite_and_postgresql!(pin_length_policy_is_validated_and_applies_to_new_pins_only);
fn pin_length_policy_is_validated_and_applies_to_new_pins_only(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let first = create(&api, "Ada");
    for bad in [3, 13] {
        let r = api.send("PUT", "/api/settings", &json!({"pin_length": bad}));
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.json()["field"], "pin_length");
    }
    assert_eq!(
        api.get("/api/settings").json()["pin_length"],
        5,
        "nothing changed"
    );
    let r = api.send("PUT", "/api/settings", &json!({"pin_length": 8}));
    assert_eq!(r.status, 200);
    let second = create(&api, "Grace");
    assert_eq!(second["pin"].as_str().unwrap().len(), 8);
    // The first organizer's 5-digit PIN still starts their meeting.
    let conf = first["organizer"]["conference_id"].as_str().unwrap();
    let mut lobby = Phone::new(b.sip, Codec::Pcmu, None);
    lobby.call();
    lobby.send_digits(&format!("{conf}##"));
    let t = Instant::now();
    let _org = organizer_call(&b, conf, first["pin"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_tone(&lobby.heard(), t, 1000.0, Codec::Pcmu).is_none() {
        assert!(Instant::now() < deadline, "old-length PIN still works");
        wait(100);
    }
}

on_sqlite_and_postgresql!(invalid_input_names_the_field_and_changes_nothing);
fn invalid_input_names_the_field_and_changes_nothing(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": "", "email": "a@b.c"}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "name");
    let r = api.send(
        "POST",
        "/api/organizers",
        &json!({"name": "A", "email": "nope"}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "email");
    let r = api.send("POST", "/api/organizers", &json!({"name": "A"}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["field"], "email");
    let r = request(
        b.http.unwrap(),
        "POST",
        "/api/organizers",
        &[("Authorization", &format!("Bearer {}", api.token))],
        Some(("application/json", "{not json")),
    );
    assert_eq!(r.status, 400);
    assert_eq!(api.get("/api/organizers").json()["organizers"], json!([]));
    assert_eq!(api.get("/api/organizers/99").status, 404);
}

on_sqlite_and_postgresql!(disable_and_conference_id_reset_take_effect_for_callers_at_once);
fn disable_and_conference_id_reset_take_effect_for_callers_at_once(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let id = created["organizer"]["id"].as_i64().unwrap();
    let old_conf = created["organizer"]["conference_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api.post(&format!("/api/organizers/{id}/reset-conference-id"));
    assert_eq!(r.status, 200, "{}", r.body);
    let new_conf = r.json()["organizer"]["conference_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old_conf, new_conf);
    let mails = b.wait_outbox(2);
    assert!(
        mails[1].1.contains(&new_conf),
        "the new conference ID is e-mailed"
    );

    let mut p = Phone::new(b.sip, Codec::Pcmu, None);
    p.call();
    p.send_digits(&format!("{old_conf}#"));
    assert!(
        heard_prompt(&p, Prompt::ConferenceNotFound, Duration::from_secs(15)),
        "the old ID is not recognized"
    );
    p.send_digits(&format!("{new_conf}#"));
    assert!(heard_prompt(
        &p,
        Prompt::OrganizerQuestion,
        Duration::from_secs(15)
    ));

    assert_eq!(
        api.post(&format!("/api/organizers/{id}/disable")).status,
        200
    );
    let mut q = Phone::new(b.sip, Codec::Pcmu, None);
    q.call();
    q.send_digits(&format!("{new_conf}#"));
    assert!(
        heard_prompt(&q, Prompt::ConferenceNotFound, Duration::from_secs(15)),
        "a disabled organizer's conference is not reachable"
    );
    let r = api.post(&format!("/api/organizers/{id}/enable"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["pin"].as_str().unwrap().len(),
        5,
        "enable gives a new PIN"
    );
}

on_sqlite_and_postgresql!(authenticated_start_moves_the_lobby_in);
fn authenticated_start_moves_the_lobby_in(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let id = created["organizer"]["id"].as_i64().unwrap();
    let conf = created["organizer"]["conference_id"].as_str().unwrap();
    let mut one = Phone::new(b.sip, Codec::Pcmu, Some(600.0));
    one.call();
    one.send_digits(&format!("{conf}##"));
    let mut two = Phone::new(b.sip, Codec::Pcmu, Some(1400.0));
    two.call();
    two.send_digits(&format!("{conf}##"));
    assert!(heard_prompt(
        &two,
        Prompt::LobbyWait,
        Duration::from_secs(15)
    ));
    let t = Instant::now();
    let r = api.post(&format!("/api/organizers/{id}/start"));
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    while first_tone(&one.heard(), t, 1400.0, Codec::Pcmu).is_none()
        || first_tone(&two.heard(), t, 600.0, Codec::Pcmu).is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the lobby callers hear each other"
        );
        wait(100);
    }
}

on_sqlite_and_postgresql!(callers_start_the_meeting_when_the_organizer_allows_it);
fn callers_start_the_meeting_when_the_organizer_allows_it(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let id = created["organizer"]["id"].as_i64().unwrap();
    let conf = created["organizer"]["conference_id"].as_str().unwrap();
    let r = api.send(
        "PATCH",
        &format!("/api/organizers/{id}"),
        &json!({"start_without_pin": true}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut one = Phone::new(b.sip, Codec::Pcmu, Some(600.0));
    one.call();
    one.send_digits(&format!("{conf}#"));
    let mut two = Phone::new(b.sip, Codec::Pcmu, Some(1400.0));
    two.call();
    let t = Instant::now();
    two.send_digits(&format!("{conf}#"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_tone(&two.heard(), t, 600.0, Codec::Pcmu).is_none() {
        assert!(Instant::now() < deadline, "callers meet without any PIN");
        wait(100);
    }
    assert!(
        !heard_prompt(&one, Prompt::OrganizerQuestion, Duration::from_millis(10)),
        "no PIN question"
    );
}

on_sqlite_and_postgresql!(automatic_e_mails_can_be_switched_off);
fn automatic_e_mails_can_be_switched_off(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let r = api.send("PUT", "/api/settings", &json!({"auto_email": false}));
    assert_eq!(r.json()["auto_email"], false);
    let created = create(&api, "Ada");
    assert!(
        created["pin"].is_string(),
        "the admin still sees the PIN once"
    );
    assert_eq!(created["email"]["status"], "auto_email_off");
    wait(500);
    assert!(b.outbox().is_empty(), "nothing was sent");
}

on_sqlite_and_postgresql!(
    self_service_reset_link_is_single_use_and_answers_the_same_for_unknown_addresses
);
fn self_service_reset_link_is_single_use_and_answers_the_same_for_unknown_addresses(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let old = created["pin"].as_str().unwrap().to_string();
    b.wait_outbox(1);
    let addr = b.http.unwrap();
    let ask = |email: &str| {
        request(
            addr,
            "POST",
            "/api/self-service/reset-link",
            &[],
            Some(("application/json", &json!({ "email": email }).to_string())),
        )
    };
    let unknown = ask("nobody@example.com");
    let known = ask("ADA@example.com");
    assert_eq!(unknown.status, 202);
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (known.status, known.body.clone())
    );
    let mails = b.wait_outbox(2);
    assert_eq!(
        mails.len(),
        2,
        "one link mail, none for the unknown address"
    );
    let link = mails[1]
        .1
        .split_whitespace()
        .find(|w| w.contains("/self-service/reset?token="))
        .expect("a link in the mail")
        .to_string();
    let path = &link[link.find("/self-service").unwrap()..];
    let page = request(addr, "GET", path, &[], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Reset PIN"));
    let csrf_cookie = page
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("dialbridge_csrf="))
        .expect("CSRF cookie");
    let csrf = csrf_cookie.trim_start_matches("dialbridge_csrf=");
    let token = path.split("token=").nth(1).unwrap();
    let form = format!("csrf={csrf}&token={token}");
    // Without the cookie (a forged cross-site post) nothing happens.
    let forged = request(
        addr,
        "POST",
        "/self-service/reset",
        &[],
        Some(("application/x-www-form-urlencoded", &form)),
    );
    assert_eq!(forged.status, 403);
    let reset = request(
        addr,
        "POST",
        "/self-service/reset",
        &[("Cookie", &csrf_cookie)],
        Some(("application/x-www-form-urlencoded", &form)),
    );
    assert_eq!(reset.status, 200, "{}", reset.body);
    let new = reset
        .body
        .split("id=\"new-pin\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new PIN on the page")
        .to_string();
    assert_ne!(new, old);
    let mails = b.wait_outbox(3);
    assert!(mails[2].1.contains(&new), "and e-mailed");
    let again = request(
        addr,
        "POST",
        "/self-service/reset",
        &[("Cookie", &csrf_cookie)],
        Some(("application/x-www-form-urlencoded", &form)),
    );
    assert_eq!(again.status, 410, "a link works once");
}

/// A minimal SMTP server on 127.0.0.1: answers the first `fail_first` transactions with
/// 451 (try again later), accepts the rest, and hands each accepted message over.
fn smtp_sink(fail_first: usize) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut failures = fail_first;
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let _ = writer.write_all(b"220 sink ESMTP\r\n");
            let mut line = String::new();
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if cmd.starts_with("MAIL FROM") {
                    if failures > 0 {
                        failures -= 1;
                        b"451 try again later\r\n"
                    } else {
                        b"250 ok\r\n"
                    }
                } else if cmd.starts_with("RCPT TO") {
                    b"250 ok\r\n"
                } else if cmd == "DATA" {
                    let _ = writer.write_all(b"354 go ahead\r\n");
                    data.clear();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    let _ = tx.send(data.clone());
                    b"250 queued\r\n"
                } else if cmd == "QUIT" {
                    let _ = writer.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = writer.write_all(reply);
            }
        }
    });
    (port, rx)
}

on_sqlite_and_postgresql!(pin_mails_go_out_by_smtp_and_a_refused_delivery_is_retried_and_reported);
fn pin_mails_go_out_by_smtp_and_a_refused_delivery_is_retried_and_reported(db: Db) {
    let (port, mails) = smtp_sink(1);
    let b = bridge_with(
        db,
        vec![
            "--smtp-host".into(),
            "127.0.0.1".into(),
            "--smtp-port".into(),
            port.to_string(),
            "--smtp-security".into(),
            "none".into(),
            "--mail-from".into(),
            "Bridge <bridge@example.com>".into(),
        ],
    );
    let api = b.api();
    let created = create(&api, "Ada");
    let pin = created["pin"].as_str().unwrap().to_string();
    let ticket = created["email"]["ticket"]
        .as_u64()
        .expect("a delivery ticket");
    // The first attempt gets 451; the mail is retried (after 5 s) and then accepted.
    let mail = mails
        .recv_timeout(Duration::from_secs(20))
        .expect("the PIN mail reached the SMTP server");
    let mail = support::decode_mail(&mail);
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains(&pin));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = api.get(&format!("/api/mail/{ticket}")).json();
        if status["delivery"]["state"] == "sent" {
            break;
        }
        assert!(Instant::now() < deadline, "delivery reported: {status}");
        wait(100);
    }
    // The audit entry is written as the delivery event arrives, a moment after the status.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let audit = api.get("/api/audit").body;
        if audit.contains("mail.sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "delivery in the audit log: {audit}"
        );
        wait(100);
    }
    assert!(
        b.outbox().is_empty(),
        "SMTP configured: nothing in the outbox"
    );
}

on_sqlite_and_postgresql!(metrics_count_calls_callers_and_rtp);
fn metrics_count_calls_callers_and_rtp(db: Db) {
    let b = bridge(db);
    let api = b.api();
    let created = create(&api, "Ada");
    let conf = created["organizer"]["conference_id"].as_str().unwrap();
    let mut p = Phone::new(b.sip, Codec::Pcmu, Some(600.0));
    p.call();
    p.send_digits(&format!("{conf}##"));
    assert!(heard_prompt(&p, Prompt::LobbyWait, Duration::from_secs(15)));
    assert_eq!(b.metric("dialbridge_calls_answered_total", &[]), 1);
    assert_eq!(b.metric("dialbridge_calls_active", &[]), 1);
    assert_eq!(b.metric("dialbridge_callers", &["place=\"lobby\""]), 1);
    assert!(
        b.metric("dialbridge_rtp_packets_sent_total", &[]) > 100,
        "lobby prompt sent"
    );
    assert!(b.metric("dialbridge_dtmf_digits_total", &[]) >= 11);
    assert!(b.metric("dialbridge_dtmf_digits_total", &["method=\"rfc4733\""]) >= 11);
    assert_eq!(
        b.metric("dialbridge_dtmf_digits_total", &["method=\"info\""]),
        0
    );
    // Exported before any PIN is checked: a 0 here is a series, not a missing one.
    assert_eq!(
        b.expect_metric("dialbridge_pin_checks_total", &["result=\"refused\""]),
        0
    );
    let text = request(b.http.unwrap(), "GET", "/metrics", &[], None).body;
    assert!(text.contains("dialbridge_media_tick_lateness_seconds_bucket"));
    p.hangup();
    wait(300);
    assert_eq!(
        b.expect_metric("dialbridge_calls_ended_total", &["reason=\"remote-bye\""]),
        1
    );
    assert_eq!(b.expect_metric("dialbridge_calls_active", &[]), 0);
}
