//! End-to-end: SIP over TLS (RFC 3261 §26, RFC 5630) against the real `dialbridge` binary on
//! 127.0.0.1, with a test CA made by rcgen and rustls as the client — calls, mutual TLS,
//! certificate checks at start, renewal on SIGHUP, and no cleartext on the wire.

#[path = "support/tls.rs"]
mod pki;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::sip::message::{HeaderName, Message, Method};
use dialbridge::sip::stream::{StreamItem, StreamReader};
use pki::{TestCa, free_tcp_addr, handshake, tls_flags};
use support::phone::Phone;
use support::{Bridge, BridgeOptions, assets, binary, position_of_run, wait_until};

fn options(me: SocketAddr, bridge: SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sips:bridge@{bridge} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {me};branch=z9hG4bK-tls-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sips:probe@{me}>;tag=t{n}\r\nTo: <sips:bridge@{bridge}>\r\n\
         Call-ID: tls-{n}@probe\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Sends one OPTIONS on `stream` and returns the answer, or None when the connection fails
/// or closes first.
fn ask(
    stream: &mut (impl Read + Write),
    me: SocketAddr,
    bridge: SocketAddr,
    n: u32,
) -> Option<Message> {
    stream.write_all(options(me, bridge, n).as_bytes()).ok()?;
    stream.flush().ok()?;
    let mut reader = StreamReader::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let n = match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return None,
        };
        reader.push(Instant::now(), &buf[..n]);
        if let Some(StreamItem::Message(m)) = reader.next_item() {
            return Some(m);
        }
    }
    None
}

/// A bridge serving SIP over TLS with a fresh CA's server certificate.
struct TlsBridge {
    bridge: Bridge,
    tls: SocketAddr,
    ca: TestCa,
    dir: tempfile::TempDir,
}

fn start(
    organizers: &[&str],
    http: bool,
    more: &[&str],
) -> (TlsBridge, Vec<support::OrganizerInfo>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "bridge");
    let server = ca.server("server");
    let tls = free_tcp_addr();
    let mut extra = tls_flags(tls, &server);
    extra.extend(more.iter().map(|s| s.to_string()));
    let (bridge, orgs) = Bridge::start(
        organizers,
        BridgeOptions {
            http,
            extra,
            ..BridgeOptions::default()
        },
    );
    (
        TlsBridge {
            bridge,
            tls,
            ca,
            dir,
        },
        orgs,
    )
}

#[test]
fn a_caller_over_tls_reaches_the_lobby_and_gets_its_bye_on_its_connection() {
    let (b, orgs) = start(&["Ada"], false, &["--sip-domain", "localhost"]);
    let org = &orgs[0];
    let mut p = Phone::new_tls(b.tls, b.ca.client_config(None), Codec::Pcmu, Some(700.0));
    let ok = p.call();
    let contact = ok
        .header(&HeaderName::Contact)
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        contact,
        format!("<sip:localhost:{};transport=tls>", b.tls.port()),
        "the 200's Contact names --sip-domain and the TLS port"
    );
    p.send_digits(&format!("{}##", org.conference_id));
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::Mu)[..10].to_vec();
    wait_until(&p, Duration::from_secs(15), "the lobby", |h| {
        position_of_run(h, &lobby).is_some()
    });
    // Shutting down says goodbye with a BYE on the caller's own TLS connection.
    b.bridge.signal(libc::SIGTERM);
    assert!(p.wait_for_bye(Duration::from_secs(10)), "BYE over TLS");
    let bye = p
        .requests
        .iter()
        .find(|r| r.method() == Some(&Method::Bye))
        .expect("the BYE");
    let via = bye.header(&HeaderName::Via).unwrap_or_default();
    assert!(
        via.starts_with(&format!("SIP/2.0/TLS localhost:{};", b.tls.port())),
        "{via}"
    );
    let mut bridge = b.bridge;
    assert!(bridge.terminate().success());
    let cdr = std::fs::read_to_string(bridge.data_dir.path().join("cdr.jsonl")).expect("CDR");
    assert!(cdr.contains("\"transport\":\"tls\""), "{cdr}");
}

#[test]
fn bad_tls_files_stop_serve_at_start_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "ca");
    let good = ca.server("good");
    let other = ca.server("other");
    let expired = ca.issue(
        "expired",
        vec!["127.0.0.1".into()],
        Some(((2020, 1, 1), (2021, 1, 1))),
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("no-such-cert.pem");
    let cases: Vec<(
        &str,
        std::path::PathBuf,
        std::path::PathBuf,
        std::path::PathBuf,
    )> = vec![
        (
            "missing",
            missing.clone(),
            good.key.clone(),
            missing.clone(),
        ),
        (
            "garbage",
            garbage.clone(),
            good.key.clone(),
            garbage.clone(),
        ),
        (
            "expired",
            expired.cert.clone(),
            expired.key.clone(),
            expired.cert.clone(),
        ),
        (
            "mismatched key",
            good.cert.clone(),
            other.key.clone(),
            other.key.clone(),
        ),
    ];
    for (what, cert, key, named) in cases {
        let data = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(binary())
            .arg("--data-dir")
            .arg(data.path())
            .args([
                "serve",
                "--sip-listen",
                "127.0.0.1:0",
                "--sip-tls-listen",
                "127.0.0.1:0",
            ])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .output()
            .expect("run dialbridge");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("dialbridge: error:"))
            .unwrap_or_else(|| panic!("{what}: no error line in {stderr}"));
        assert!(
            line.contains(&named.display().to_string()),
            "{what}: the error names {}: {line}",
            named.display()
        );
        assert!(
            std::fs::read_dir(data.path()).unwrap().next().is_none(),
            "{what}: nothing written to the data directory"
        );
    }
}

#[test]
fn mutual_tls_refuses_clients_without_a_trusted_certificate_and_logs_each_source_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = TestCa::new(dir.path(), "clients");
    let strangers = TestCa::new(dir.path(), "strangers");
    let ca_flag = clients.cert_path().display().to_string();
    let (b, _) = start(&[], true, &["--tls-client-ca", &ca_flag]);

    // A client with a certificate from the client CA is served.
    let sbc = clients.issue("sbc", vec!["sbc.example.com".into()], None);
    let mut ok_conf = (*b.ca.client_config(Some(&sbc))).clone();
    ok_conf.alpn_protocols.clear();
    let mut s = handshake(b.tls, Arc::new(ok_conf)).expect("handshake with a client certificate");
    let me = s.sock.local_addr().unwrap();
    let answer = ask(&mut s, me, b.tls, 1).expect("OPTIONS answered over mutual TLS");
    assert_eq!(answer.status(), Some(200));

    // Without a certificate, or with one from another CA: no SIP is ever answered.
    let stranger = strangers.issue("stranger", vec!["x.example.com".into()], None);
    for config in [
        b.ca.client_config(None),
        b.ca.client_config(Some(&stranger)),
    ] {
        if let Ok(mut s) = handshake(b.tls, config) {
            let me = s.sock.local_addr().unwrap();
            assert!(
                ask(&mut s, me, b.tls, 2).is_none(),
                "refused client got an answer"
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while b
        .bridge
        .expect_metric("dialbridge_sip_tls_handshake_failures_total", &[])
        < 2
    {
        assert!(Instant::now() < deadline, "two failed handshakes counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = b.bridge.log_text();
    assert_eq!(
        log.matches("logged once per source address").count(),
        1,
        "two failures from one address: one log line\n{log}"
    );
}

/// A TCP stream that keeps a copy of every byte both ways.
struct Recorder {
    inner: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.seen.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn the_bytes_on_the_tls_port_are_never_cleartext_sip() {
    let (b, _) = start(&[], true, &[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sock = TcpStream::connect(b.tls).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let mut rec = Recorder {
        inner: sock,
        seen: Arc::clone(&seen),
    };
    let mut conn = rustls::ClientConnection::new(
        b.ca.client_config(None),
        rustls::pki_types::ServerName::from(b.tls.ip()),
    )
    .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut rec).expect("handshake");
    }
    let mut s = rustls::StreamOwned::new(conn, rec);
    let answer = ask(&mut s, me, b.tls, 1).expect("OPTIONS answered over TLS");
    assert_eq!(answer.status(), Some(200));
    let wire = seen.lock().unwrap().clone();
    assert!(wire.len() > 500, "a handshake and two records went by");
    for cleartext in [&b"OPTIONS"[..], b"SIP/2.0", b"Call-ID", b"tls-1@probe"] {
        assert!(
            !wire.windows(cleartext.len()).any(|w| w == cleartext),
            "{:?} seen in the clear on the TLS port",
            String::from_utf8_lossy(cleartext)
        );
    }

    // Cleartext SIP sent to the TLS port gets no SIP back: a failed handshake.
    let mut plain = TcpStream::connect(b.tls).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let me = plain.local_addr().unwrap();
    assert!(ask(&mut plain, me, b.tls, 2).is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while b
        .bridge
        .expect_metric("dialbridge_sip_tls_handshake_failures_total", &[])
        < 1
    {
        assert!(Instant::now() < deadline, "the cleartext try counted");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_renews_the_certificate_for_new_connections_and_keeps_the_call() {
    let (b, orgs) = start(&["Ada"], false, &[]);
    let mut p = Phone::new_tls(b.tls, b.ca.client_config(None), Codec::Pcmu, None);
    p.call();
    let before = handshake(b.tls, b.ca.client_config(None)).expect("handshake");
    let first = before.conn.peer_certificates().unwrap()[0].clone();

    // Renewal: new files in place, then SIGHUP.
    let renewed = b.ca.server("renewed");
    std::fs::copy(&renewed.cert, b.dir.path().join("server.pem")).unwrap();
    std::fs::copy(&renewed.key, b.dir.path().join("server.key")).unwrap();
    b.bridge.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = handshake(b.tls, b.ca.client_config(None)).expect("handshake after SIGHUP");
        if s.conn.peer_certificates().unwrap()[0] == renewed.der {
            break;
        }
        assert_eq!(s.conn.peer_certificates().unwrap()[0], first);
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The call that was up stays up on its connection.
    for key in format!("{}#", orgs[0].conference_id).chars() {
        let r = p
            .info_digit(key)
            .expect("INFO answered on the old connection");
        assert_eq!(r.status(), Some(200));
    }

    // A renewal that fails keeps the certificate in use, and says which file is wrong.
    let cert_path = b.dir.path().join("server.pem");
    std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    b.bridge.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.bridge.log_text().contains("TLS reload failed") {
        assert!(Instant::now() < deadline, "the failed reload is logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = b.bridge.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("TLS reload failed"))
        .unwrap();
    assert!(line.contains(&cert_path.display().to_string()), "{line}");
    let s = handshake(b.tls, b.ca.client_config(None)).expect("handshake after a failed reload");
    assert_eq!(s.conn.peer_certificates().unwrap()[0], renewed.der);
    let r = p.hangup().expect("BYE answered");
    assert_eq!(r.status(), Some(200));
}

/// How long until the bridge closes `stream` (EOF or an error), at most `limit`; None if it
/// stays open. What arrives meanwhile is returned too.
fn closed_within(
    stream: &mut impl Read,
    sock: &TcpStream,
    limit: Duration,
) -> (Option<Duration>, Vec<u8>) {
    sock.set_read_timeout(Some(Duration::from_millis(50))).ok();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (Some(started.elapsed()), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (Some(started.elapsed()), got),
        }
    }
    (None, got)
}

#[test]
fn keepalives_timeouts_and_the_per_source_limit_hold_over_tls() {
    let (b, _) = start(
        &[],
        true,
        &[
            "--max-tcp-per-source",
            "2",
            "--tcp-message-timeout",
            "1",
            "--tcp-idle-timeout",
            "3",
        ],
    );
    let client = || b.ca.client_config(None);

    // RFC 5626 §3.5.1 keep-alive: CRLFCRLF gets CRLF, inside TLS.
    let mut s = handshake(b.tls, client()).expect("handshake");
    s.write_all(b"\r\n\r\n").unwrap();
    s.flush().unwrap();
    let sock = s.sock.try_clone().unwrap();
    let (closed, got) = closed_within(&mut s, &sock, Duration::from_millis(500));
    assert_eq!((closed, got.as_slice()), (None, &b"\r\n"[..]), "pong");
    // Idle: nothing more for the idle timeout closes it.
    let (closed, _) = closed_within(&mut s, &sock, Duration::from_secs(6));
    let idle = closed.expect("an idle TLS connection is closed");
    assert!(idle >= Duration::from_secs(2), "closed after {idle:?}");
    drop(s);

    // Slow sender: half a message, then nothing, is closed after the message timeout.
    let mut s = handshake(b.tls, client()).expect("handshake");
    s.write_all(b"OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9")
        .unwrap();
    s.flush().unwrap();
    let sock = s.sock.try_clone().unwrap();
    let (closed, _) = closed_within(&mut s, &sock, Duration::from_secs(3));
    assert!(closed.is_some(), "a slow sender over TLS is closed");
    drop(s);

    // A handshake that never comes (a TCP connection that sends nothing) is given up after
    // the message timeout and counted.
    let failures = b
        .bridge
        .expect_metric("dialbridge_sip_tls_handshake_failures_total", &[]);
    let mut mute = TcpStream::connect(b.tls).unwrap();
    let sock = mute.try_clone().unwrap();
    let (closed, _) = closed_within(&mut mute, &sock, Duration::from_secs(3));
    assert!(closed.is_some(), "a stalled handshake is closed");
    drop(mute);
    let deadline = Instant::now() + Duration::from_secs(5);
    while b
        .bridge
        .expect_metric("dialbridge_sip_tls_handshake_failures_total", &[])
        <= failures
    {
        assert!(Instant::now() < deadline, "the stalled handshake counted");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Per source: two connections are taken, the third is closed at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while b
        .bridge
        .expect_metric("dialbridge_sip_tls_connections", &[])
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the earlier connections are gone"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut one = handshake(b.tls, client()).expect("first connection");
    let mut two = handshake(b.tls, client()).expect("second connection");
    let refused_before = b
        .bridge
        .expect_metric("dialbridge_sip_tcp_refused_total", &[]);
    let third = handshake(b.tls, client());
    if let Ok(mut s) = third {
        let me = s.sock.local_addr().unwrap();
        assert!(
            ask(&mut s, me, b.tls, 9).is_none(),
            "the third got an answer"
        );
    }
    assert_eq!(
        b.bridge
            .expect_metric("dialbridge_sip_tcp_refused_total", &[]),
        refused_before + 1
    );
    for (n, s) in [(1, &mut one), (2, &mut two)] {
        let me = s.sock.local_addr().unwrap();
        let answer = ask(s, me, b.tls, n).expect("the first two are served");
        assert_eq!(answer.status(), Some(200));
    }
}
