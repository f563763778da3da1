//! End-to-end: meeting events reach a webhook receiver started by the test (signed, in order,
//! through failures, a receiver that is down and a bridge restart) and `GET /api/events`,
//! from real calls against the real binary.

mod support;
#[path = "support/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialbridge::media::codec::Codec;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use support::phone::Phone;
use support::{Bridge, BridgeOptions, wait};

const SECRET: &str = "webhook-test-secret-0123456789";

/// One POST as the receiver got it.
#[derive(Clone, Debug)]
struct Delivery {
    signature: Option<String>,
    body: Vec<u8>,
    /// Whether the receiver answered 2xx.
    accepted: bool,
}

/// A webhook receiver on 127.0.0.1: records every POST; answers 500 to the first `fail_first`
/// of them, 204 afterwards; can go down (its port refuses connections) and come back.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Delivery>>>,
    fail_first: Arc<AtomicUsize>,
    up: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    /// Serves HTTPS with this when set.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        Self::start_with(fail_first, None)
    }

    fn start_with(fail_first: usize, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let mut r = Receiver {
            addr: listener.local_addr().expect("addr"),
            got: Arc::default(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            up: None,
            tls,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let (got, fail, stopping) = (
            Arc::clone(&self.got),
            Arc::clone(&self.fail_first),
            Arc::clone(&stop),
        );
        let tls = self.tls.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let delivery = match &tls {
                    None => answer(conn, &fail),
                    Some(config) => {
                        let Ok(server) = rustls::ServerConnection::new(Arc::clone(config)) else {
                            continue;
                        };
                        let mut stream = rustls::StreamOwned::new(server, conn);
                        let d = answer(&mut stream, &fail);
                        stream.conn.send_close_notify();
                        let _ = stream.flush();
                        d
                    }
                };
                if let Some(d) = delivery {
                    got.lock().unwrap().push(d);
                }
            }
        });
        self.up = Some((stop, thread));
    }

    /// Goes down: connections to its port are refused until `resume`.
    fn stop(&mut self) {
        if let Some((stop, thread)) = self.up.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            thread.join().expect("receiver thread");
        }
    }

    /// Comes back on the same port.
    fn resume(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the receiver again");
        self.serve(listener);
    }

    fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/hooks/dialbridge?x=1", self.addr)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// The accepted events, parsed, in the order they arrived.
    fn events(&self) -> Vec<Value> {
        self.deliveries()
            .iter()
            .filter(|d| d.accepted)
            .map(|d| serde_json::from_slice(&d.body).expect("JSON body"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one HTTP/1.1 request and answers it.
fn answer(mut conn: impl Read + Write, fail: &AtomicUsize) -> Option<Delivery> {
    let mut reader = BufReader::new(&mut conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if !line.starts_with("POST /hooks/dialbridge?x=1 HTTP/1.1") {
        return None;
    }
    let (mut length, mut signature, mut json) = (0usize, None, false);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok()?,
            "x-dialbridge-signature" => signature = Some(value),
            "content-type" => json = value == "application/json",
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    drop(reader);
    let failing = fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing || !json {
        "500 Internal Server Error"
    } else {
        "204 No Content"
    };
    let _ = conn.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let _ = conn.flush();
    Some(Delivery {
        signature,
        body,
        accepted: !failing && json,
    })
}

fn expected_signature(body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn secret_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("webhook-secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn phone(bridge: &Bridge, user: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.set_from_user(user);
    p.call();
    p
}

/// Each event as (type, From user of its participant).
fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let user = e["participant"]["from"]
                .as_str()
                .and_then(|f| f.strip_prefix("sip:"))
                .and_then(|f| f.split('@').next())
                .unwrap_or_default()
                .to_string();
            (e["type"].as_str().unwrap_or_default().to_string(), user)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(t, u)| (t.to_string(), u.to_string()))
        .collect()
}

/// Polls until `pred` holds, or panics with `what` after `secs`.
fn until<T>(secs: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        wait(50);
    }
}

/// Reads `GET /api/events` with the token in a thread; the JSON of each `data:` line.
fn subscribe(addr: SocketAddr, token: &str) -> Arc<Mutex<Vec<Value>>> {
    let mut conn = TcpStream::connect(addr).expect("connect to the admin API");
    write!(
        conn,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let out = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { return };
            // Chunked framing lines carry no "data:" prefix and are skipped.
            if let Some(json) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str(json)
            {
                out.lock().unwrap().push(v);
            }
        }
    });
    seen
}

#[test]
fn events_reach_a_webhook_signed_and_in_order_through_failures_and_a_restart_and_stream_on_api_events()
 {
    let mut receiver = Receiver::start(2);
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let (mut bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: vec![
                "--webhook-url".into(),
                receiver.url(),
                "--webhook-secret-file".into(),
                secret.display().to_string(),
                "--webhook-retry-after".into(),
                "1".into(),
            ],
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    let ada = &orgs[0];
    let unauthorized =
        support::http::request(bridge.http.unwrap(), "GET", "/api/events", &[], None);
    assert_eq!(unauthorized.status, 401, "the stream needs the token");
    let streamed = subscribe(bridge.http.unwrap(), &bridge.admin_token());

    // Alice waits in the lobby; the organizer comes; Alice mutes herself with *6 (RFC 4733);
    // both hang up.
    let mut alice = phone(&bridge, "alice");
    alice.send_digits(&format!("{}##", ada.conference_id));
    until(15, "alice in the lobby", || {
        let v = bridge
            .api()
            .get(&format!("/api/meetings/{}", ada.conference_id));
        (v.status == 200).then_some(())
    });
    let mut boss = phone(&bridge, "boss");
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let path = format!("/api/meetings/{}", ada.conference_id);
    until(15, "both in the meeting", || {
        let v = bridge.api().get(&path).json();
        let n = v["participants"]
            .as_array()
            .map_or(0, |p| p.iter().filter(|p| p["state"] == "meeting").count());
        (n == 2).then_some(())
    });
    alice.send_digits("*6");
    until(15, "alice muted", || {
        let v = bridge.api().get(&path).json();
        v["participants"]
            .as_array()?
            .iter()
            .any(|p| p["muted"] == true)
            .then_some(())
    });
    alice.hangup();
    boss.hangup();

    let expected = pairs(&[
        ("participant.joined", "alice"),
        ("lobby.waiting", "alice"),
        ("participant.joined", "boss"),
        ("meeting.started", ""),
        ("participant.admitted", "alice"),
        ("participant.muted", "alice"),
        ("participant.left", "alice"),
        ("participant.left", "boss"),
        ("meeting.ended", ""),
    ]);
    let events = until(30, "every event at the receiver", || {
        let e = receiver.events();
        (e.len() >= expected.len()).then_some(e)
    });
    assert_eq!(summary(&events), expected, "{events:#?}");

    // Every POST is signed over its raw body; the first two failed and were sent again.
    let deliveries = receiver.deliveries();
    for d in &deliveries {
        assert_eq!(
            d.signature.as_deref(),
            Some(expected_signature(&d.body).as_str()),
            "signature of {}",
            String::from_utf8_lossy(&d.body)
        );
    }
    assert_eq!(
        deliveries.len(),
        expected.len() + 2,
        "two failed attempts, then one each"
    );
    assert!(!deliveries[0].accepted && !deliveries[1].accepted && deliveries[2].accepted);
    assert_eq!(
        deliveries[0].body, deliveries[2].body,
        "the failed event is sent again as it was"
    );

    // The payload: ids unique, times RFC 3339 UTC, the participant as the API shows them,
    // never a PIN.
    let mut ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "every event has its own id");
    for e in &events {
        assert_eq!(e["conference_id"], ada.conference_id.as_str());
        assert_eq!(e["organizer_id"], ada.id);
        let time = e["time"].as_str().unwrap_or_default();
        assert!(time.len() == 20 && time.ends_with('Z'), "{e}");
        assert!(
            support::leaked_secrets(&e.to_string(), std::slice::from_ref(&ada.pin)).is_empty(),
            "{e}"
        );
    }
    let muted = &events[5]["participant"];
    assert_eq!(muted["muted"], true);
    assert_eq!(muted["role"], "attendee");
    assert_eq!(muted["state"], "meeting");
    assert_eq!(muted["codec"], "PCMU");
    assert_eq!(events[4]["by"], "organizer");

    // The stream told the same, in the same order.
    let on_stream = until(10, "the events on /api/events", || {
        let s = streamed.lock().unwrap().clone();
        (s.len() >= expected.len()).then_some(s)
    });
    assert_eq!(summary(&on_stream), expected);
    assert_eq!(on_stream[0]["id"], events[0]["id"]);

    assert_eq!(
        bridge.expect_metric(
            "dialbridge_webhook_deliveries_total",
            &["result=\"delivered\""]
        ),
        expected.len() as u64
    );
    assert_eq!(
        bridge.expect_metric(
            "dialbridge_webhook_deliveries_total",
            &["result=\"failed\""]
        ),
        2
    );
    until(5, "an empty queue", || {
        (bridge.expect_metric("dialbridge_webhook_events_queued", &[]) == 0).then_some(())
    });

    // The receiver goes down; Carol calls and waits; the bridge restarts; the receiver comes
    // back: Carol's events arrive, sent by the restarted bridge.
    receiver.stop();
    let mut carol = phone(&bridge, "carol");
    carol.send_digits(&format!("{}##", ada.conference_id));
    until(15, "carol's events stored", || {
        (bridge.expect_metric("dialbridge_webhook_events_queued", &[]) >= 2
            && bridge.expect_metric(
                "dialbridge_webhook_deliveries_total",
                &["result=\"failed\""],
            ) >= 3)
            .then_some(())
    });
    bridge.terminate();
    carol.stop_media();
    bridge.restart();
    bridge.wait_http();
    receiver.resume();
    let after = until(30, "carol's events after the restart", || {
        let e = receiver.events();
        (e.len() >= expected.len() + 2).then_some(e)
    });
    assert_eq!(
        summary(&after[expected.len()..expected.len() + 2]),
        pairs(&[("participant.joined", "carol"), ("lobby.waiting", "carol")])
    );
    until(10, "the restarted bridge counts what it delivered", || {
        (bridge.expect_metric(
            "dialbridge_webhook_deliveries_total",
            &["result=\"delivered\""],
        ) >= 2)
            .then_some(())
    });
}

#[test]
fn an_event_nobody_accepts_for_the_maximum_age_is_dropped_counted_and_audited() {
    let mut receiver = Receiver::start(0);
    receiver.stop();
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: vec![
                "--webhook-url".into(),
                receiver.url(),
                "--webhook-secret-file".into(),
                secret.display().to_string(),
                "--webhook-retry-after".into(),
                "1".into(),
                "--webhook-max-age".into(),
                "2".into(),
            ],
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    let mut alice = phone(&bridge, "alice");
    alice.send_digits(&format!("{}##", orgs[0].conference_id));
    until(30, "the events dropped", || {
        (bridge.expect_metric(
            "dialbridge_webhook_deliveries_total",
            &["result=\"dropped\""],
        ) >= 2)
            .then_some(())
    });
    assert_eq!(
        bridge.expect_metric("dialbridge_webhook_events_queued", &[]),
        0
    );
    let audit = bridge.api().get("/api/audit").json();
    let dropped: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "webhook.dropped")
        .collect();
    assert!(dropped.len() >= 2, "{audit}");
    assert!(
        dropped[0]["detail"]
            .as_str()
            .unwrap()
            .contains(&receiver.url()),
        "{audit}"
    );
    assert!(
        !bridge.log_text().contains(SECRET),
        "the secret is never logged"
    );
    alice.hangup();
}

#[test]
fn webhook_flags_that_cannot_work_stop_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(support::binary())
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--sip-listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run dialbridge");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(&["--webhook-url", "http://127.0.0.1:9/"]);
    assert!(err.contains("--webhook-secret-file"), "{err}");
    let err = run(&[
        "--webhook-url",
        "ftp://127.0.0.1/",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert!(err.contains("http:// and https://"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = run(&[
        "--webhook-url",
        "https://hooks.example.net/",
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert!(err.contains("chmod 600") && !err.contains(SECRET), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "a refused start leaves no data directory behind"
    );
}

#[test]
fn too_many_wrong_pins_tell_the_stream_the_organizers_pin_is_locked() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    let ada = &orgs[0];
    let streamed = subscribe(bridge.http.unwrap(), &bridge.admin_token());
    let wrong = support::wrong_pin(&ada.pin);
    // Four lines, three wrong PINs each: the tenth failure in a row locks the PIN.
    support::wrong_pins_on_lines(bridge.sip, &ada.conference_id, &wrong, 4);
    let locked = until(15, "organizer.pin_locked on /api/events", || {
        streamed
            .lock()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "organizer.pin_locked")
            .cloned()
    });
    assert_eq!(locked["conference_id"], ada.conference_id.as_str());
    assert_eq!(locked["organizer_id"], ada.id);
    let until_time = locked["locked_until"].as_str().unwrap_or_default();
    assert!(
        until_time.len() == 20 && until_time.ends_with('Z'),
        "{locked}"
    );
    assert!(locked.get("participant").is_none(), "{locked}");
    let text = locked.to_string();
    assert!(!text.contains(&ada.pin) && !text.contains(&wrong), "{text}");
}

#[test]
fn events_reach_an_https_receiver_whose_certificate_the_bridge_checks() {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::TestCa::new(dir.path(), "hooks");
    let issued = ca.server("receiver");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![issued.der.clone()],
            PrivateKeyDer::from_pem_file(&issued.key).unwrap(),
        )
        .unwrap();
    let receiver = Receiver::start_with(0, Some(Arc::new(config)));
    // A receiver the bridge was not told to trust: its certificate is refused, nothing lands.
    let other = tls::TestCa::new(dir.path(), "other");
    let secret = secret_file(dir.path());
    let start = |ca_file: &std::path::Path| {
        Bridge::start(
            &["Ada"],
            BridgeOptions {
                http: true,
                extra: vec![
                    "--webhook-url".into(),
                    receiver.url(),
                    "--webhook-secret-file".into(),
                    secret.display().to_string(),
                    "--webhook-ca-file".into(),
                    ca_file.display().to_string(),
                    "--webhook-retry-after".into(),
                    "1".into(),
                ],
                ..BridgeOptions::default()
            },
        )
    };
    let (untrusting, orgs) = start(&other.cert_path());
    untrusting.wait_http();
    let mut alice = phone(&untrusting, "alice");
    alice.send_digits(&format!("{}##", orgs[0].conference_id));
    until(15, "a refused TLS attempt", || {
        (untrusting.expect_metric(
            "dialbridge_webhook_deliveries_total",
            &["result=\"failed\""],
        ) >= 1)
            .then_some(())
    });
    assert!(
        receiver.deliveries().is_empty(),
        "nothing sent to an untrusted receiver"
    );
    assert!(
        untrusting.log_text().contains("TLS failed"),
        "the log says why"
    );
    alice.hangup();
    drop(untrusting);

    let (bridge, orgs) = start(&ca.cert_path());
    bridge.wait_http();
    let mut bob = phone(&bridge, "bob");
    bob.send_digits(&format!("{}##", orgs[0].conference_id));
    let events = until(15, "events over HTTPS", || {
        let e = receiver.events();
        (e.len() >= 2).then_some(e)
    });
    assert_eq!(
        summary(&events[..2]),
        pairs(&[("participant.joined", "bob"), ("lobby.waiting", "bob")])
    );
    for d in receiver.deliveries() {
        assert_eq!(
            d.signature.as_deref(),
            Some(expected_signature(&d.body).as_str())
        );
    }
    bob.hangup();
}
