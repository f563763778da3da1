//! Tests of `notify`, beside it so the code reads on its own.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicUsize;
use std::time::UNIX_EPOCH;

use proptest::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const PIN: &str = "48213";

/// 2026-11-03 14:25:01 UTC, so the Date header and file names are predictable.
fn fixed_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_793_715_901)
}

fn fast() -> MailerOptions {
    MailerOptions {
        retry_delays: vec![Duration::from_millis(100); 3],
        shutdown_grace: Duration::from_secs(2),
        smtp_timeout: Duration::from_secs(2),
        clock: fixed_clock,
        ..MailerOptions::default()
    }
}

fn outbox_config() -> MailConfig {
    MailConfig {
        from: "dialbridge <bridge@example.com>".into(),
        smtp: None,
    }
}

fn smtp_config(port: u16) -> MailConfig {
    MailConfig {
        from: "dialbridge <bridge@example.com>".into(),
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::None,
            username: None,
            password: None,
        }),
    }
}

fn pin_mail() -> Mail {
    let dial_in = DialIn {
        numbers: vec!["+1 555 0100".into()],
        instructions: String::new(),
    };
    let (subject, text_body) = pin_notice(
        "Ada Lovelace",
        PIN,
        "731902644",
        &dial_in,
        PinReason::Enabled,
    );
    Mail {
        to: "Ada Lovelace <ada@example.com>".into(),
        subject,
        text_body,
        kind: MailKind::PinNotice,
        organizer_id: Some(7),
    }
}

async fn final_status(mailer: &Mailer, ticket: MailTicket) -> MailStatus {
    timeout(Duration::from_secs(10), async {
        loop {
            match mailer.status(ticket) {
                Some(s) if s.is_final() => return s,
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
    .expect("mail reached a final status")
}

async fn statuses_until_final(
    events: &mut broadcast::Receiver<MailEvent>,
    ticket: MailTicket,
) -> Vec<MailStatus> {
    let mut seen = Vec::new();
    timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("event stream open");
            if event.ticket == ticket {
                let done = event.status.is_final();
                seen.push(event.status);
                if done {
                    return;
                }
            }
        }
    })
    .await
    .expect("mail reached a final status");
    seen
}

/// Headers (unfolded) and body of an RFC 5322 message.
fn parse_message(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("continuation after a header");
            last.1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("name: value");
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Clone, Copy, PartialEq)]
enum Script {
    Accept,
    /// 451 after the message data.
    DeferData,
    /// 550 to RCPT TO.
    RejectRcpt,
    /// Accepts the TCP connection and never says a word.
    Silent,
}

struct Received {
    rcpt_to: Vec<String>,
    data: String,
}

struct FakeSmtp {
    port: u16,
    received: mpsc::UnboundedReceiver<Received>,
    connections: Arc<AtomicUsize>,
}

/// A tiny SMTP server on 127.0.0.1: connection `n` follows `scripts[n]` (the last one
/// repeats).
async fn fake_smtp(scripts: Vec<Script>) -> FakeSmtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, received) = mpsc::unbounded_channel();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let script = *scripts.get(n).or(scripts.last()).unwrap_or(&Script::Accept);
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = smtp_session(stream, script, tx).await;
            });
        }
    });
    FakeSmtp {
        port,
        received,
        connections,
    }
}

async fn smtp_session(
    stream: TcpStream,
    script: Script,
    tx: mpsc::UnboundedSender<Received>,
) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    if script == Script::Silent {
        let _keep = r;
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Ok(());
    }
    let mut r = BufReader::new(r);
    w.write_all(b"220 fake.test ESMTP\r\n").await?;
    let mut rcpt_to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            b"250-fake.test\r\n250 8BITMIME\r\n"
        } else if cmd.starts_with("MAIL FROM") {
            b"250 2.1.0 ok\r\n"
        } else if cmd.starts_with("RCPT TO") {
            if script == Script::RejectRcpt {
                b"550 5.1.1 no such mailbox\r\n"
            } else {
                rcpt_to.push(line.trim_end().to_string());
                b"250 2.1.5 ok\r\n"
            }
        } else if cmd == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            if script == Script::DeferData {
                b"451 4.3.0 try again later\r\n"
            } else {
                let _ = tx.send(Received {
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                b"250 2.0.0 queued\r\n"
            }
        } else if cmd == "RSET" || cmd == "NOOP" {
            b"250 ok\r\n"
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.2 not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
}

fn outbox_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn outbox_mail_is_a_private_parseable_eml_with_the_pin() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let mail = pin_mail();
    let subject = mail.subject.clone();
    let ticket = mailer.send(mail);
    assert!(matches!(
        final_status(&mailer, ticket).await,
        MailStatus::Sent
    ));

    let dir = mailer.outbox_dir().unwrap();
    assert_eq!(dir, data.path().join("outbox"));
    let dir_mode = std::fs::metadata(dir).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let files = outbox_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with(&format!("20261103T142501.000000Z-t{ticket}-")),
        "{name}"
    );
    assert!(name.ends_with(".eml"));
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let (headers, body) = parse_message(&raw);
    assert_eq!(
        header(&headers, "To"),
        Some("\"Ada Lovelace\" <ada@example.com>")
    );
    assert_eq!(
        header(&headers, "From"),
        Some("dialbridge <bridge@example.com>")
    );
    assert_eq!(header(&headers, "Subject"), Some(subject.as_str()));
    assert_eq!(
        header(&headers, "Date"),
        Some("Tue, 03 Nov 2026 14:25:01 +0000")
    );
    assert_eq!(header(&headers, "Auto-Submitted"), Some("auto-generated"));
    assert!(header(&headers, "Message-ID").is_some_and(|v| v.starts_with('<')));
    assert_eq!(
        header(&headers, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        body.contains(&format!("Your PIN:            {PIN}\r\n")),
        "{body}"
    );
    assert!(!subject.contains(PIN));
}

#[tokio::test]
async fn smtp_mail_arrives_at_the_relay() {
    let mut server = fake_smtp(vec![Script::Accept]).await;
    let mailer =
        Mailer::start_with(smtp_config(server.port), Path::new("/nonexistent"), fast()).unwrap();
    assert!(mailer.outbox_dir().is_none());
    let ticket = mailer.send(pin_mail());
    assert!(matches!(
        final_status(&mailer, ticket).await,
        MailStatus::Sent
    ));
    let got = timeout(Duration::from_secs(2), server.received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.rcpt_to, vec!["RCPT TO:<ada@example.com>"]);
    let (headers, body) = parse_message(&got.data);
    assert_eq!(
        header(&headers, "Subject"),
        Some("Your audio conferencing PIN")
    );
    assert!(body.contains(PIN));
}

#[tokio::test]
async fn deferred_mail_is_retried_then_sent() {
    let mut server = fake_smtp(vec![Script::DeferData, Script::Accept]).await;
    let mailer = Mailer::start_with(smtp_config(server.port), Path::new("/"), fast()).unwrap();
    let mut events = mailer.subscribe();
    let started = std::time::Instant::now();
    let ticket = mailer.send(pin_mail());
    let seen = statuses_until_final(&mut events, ticket).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(seen.first(), Some(MailStatus::Queued)), "{seen:?}");
    assert!(
        seen.iter().any(|s| matches!(
            s,
            MailStatus::Retrying {
                attempt: 1,
                next_in_secs: 1,
                last_error: DeliveryError::Deferred { code: 451, .. },
            }
        )),
        "{seen:?}"
    );
    assert!(matches!(seen.last(), Some(MailStatus::Sent)), "{seen:?}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert!(server.received.recv().await.is_some());
}

#[tokio::test]
async fn rejected_mail_fails_without_retry() {
    let server = fake_smtp(vec![Script::RejectRcpt, Script::Accept]).await;
    let mailer = Mailer::start_with(smtp_config(server.port), Path::new("/"), fast()).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    let seen = statuses_until_final(&mut events, ticket).await;
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, MailStatus::Retrying { .. })),
        "{seen:?}"
    );
    match seen.last() {
        Some(MailStatus::Failed {
            last_error: DeliveryError::Rejected { code: 550, reply },
        }) => assert!(reply.contains("no such mailbox"), "{reply}"),
        other => panic!("expected a 550 rejection, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_relay_means_retrying() {
    let port = closed_port().await;
    let options = MailerOptions {
        retry_delays: vec![Duration::from_secs(60)],
        ..fast()
    };
    let mailer = Mailer::start_with(smtp_config(port), Path::new("/"), options).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    let status = timeout(Duration::from_secs(5), async {
        loop {
            let e = events.recv().await.unwrap();
            if matches!(e.status, MailStatus::Retrying { .. }) {
                return e.status;
            }
        }
    })
    .await
    .unwrap();
    match status {
        MailStatus::Retrying {
            attempt: 1,
            next_in_secs: 60,
            last_error: err @ DeliveryError::Connection { .. },
        } => assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        ),
        other => panic!("expected Retrying after a refused connection, got {other:?}"),
    }
    assert!(matches!(
        mailer.status(ticket),
        Some(MailStatus::Retrying { .. })
    ));
}

#[tokio::test]
async fn retries_run_out_then_the_mail_fails() {
    let port = closed_port().await;
    let mailer = Mailer::start_with(smtp_config(port), Path::new("/"), fast()).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    let seen = statuses_until_final(&mut events, ticket).await;
    let retries = seen
        .iter()
        .filter(|s| matches!(s, MailStatus::Retrying { .. }))
        .count();
    assert_eq!(retries, 3, "one per configured delay: {seen:?}");
    assert!(
        matches!(
            seen.last(),
            Some(MailStatus::Failed {
                last_error: DeliveryError::Connection { .. }
            })
        ),
        "{seen:?}"
    );
}

#[tokio::test]
async fn bad_recipient_fails_before_queueing() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let mut mail = pin_mail();
    mail.to = "not an address".into();
    let ticket = mailer.send(mail);
    assert!(matches!(
        mailer.status(ticket),
        Some(MailStatus::Failed {
            last_error: DeliveryError::BadRecipient { .. }
        })
    ));
}

#[tokio::test]
async fn subject_with_a_line_break_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let mut mail = pin_mail();
    mail.subject = "Hi\r\nBcc: everyone@example.com".into();
    let ticket = mailer.send(mail);
    assert!(matches!(
        mailer.status(ticket),
        Some(MailStatus::Failed {
            last_error: DeliveryError::BadSubject
        })
    ));
}

#[tokio::test]
async fn full_queue_fails_the_new_mail_instead_of_blocking() {
    let port = closed_port().await;
    let options = MailerOptions {
        retry_delays: vec![Duration::from_secs(60)],
        max_pending: 1,
        ..fast()
    };
    let mailer = Mailer::start_with(smtp_config(port), Path::new("/"), options).unwrap();
    let first = mailer.send(pin_mail());
    let second = mailer.send(pin_mail());
    assert!(matches!(
        mailer.status(second),
        Some(MailStatus::Failed {
            last_error: DeliveryError::QueueFull { limit: 1 }
        })
    ));
    assert!(!mailer.status(first).unwrap().is_final());
}

#[tokio::test]
async fn tickets_are_distinct_across_clones() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let other = mailer.clone();
    let a = mailer.send(pin_mail());
    let b = other.send(pin_mail());
    assert_ne!(a, b);
    assert!(matches!(final_status(&other, a).await, MailStatus::Sent));
    assert!(matches!(final_status(&mailer, b).await, MailStatus::Sent));
    assert_eq!(outbox_files(mailer.outbox_dir().unwrap()).len(), 2);
}

#[tokio::test]
async fn shutdown_delivers_what_was_queued_and_refuses_new_mail() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let tickets: Vec<_> = (0..3).map(|_| mailer.send(pin_mail())).collect();
    mailer.shutdown().await;
    for t in tickets {
        assert!(matches!(mailer.status(t), Some(MailStatus::Sent)), "{t}");
    }
    assert_eq!(outbox_files(mailer.outbox_dir().unwrap()).len(), 3);
    let late = mailer.send(pin_mail());
    assert!(matches!(
        mailer.status(late),
        Some(MailStatus::Failed {
            last_error: DeliveryError::ShutDown
        })
    ));
    // A second shutdown returns at once.
    timeout(Duration::from_millis(100), mailer.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn shutdown_is_bounded_by_the_grace_period_with_a_silent_relay() {
    let server = fake_smtp(vec![Script::Silent]).await;
    let options = MailerOptions {
        smtp_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_millis(300),
        ..fast()
    };
    let mailer = Mailer::start_with(smtp_config(server.port), Path::new("/"), options).unwrap();
    let ticket = mailer.send(pin_mail());
    timeout(Duration::from_secs(2), async {
        while !matches!(mailer.status(ticket), Some(MailStatus::Sending)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    mailer.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(
        mailer.status(ticket),
        Some(MailStatus::Failed {
            last_error: DeliveryError::ShutDown
        })
    ));
}

#[tokio::test]
async fn retrying_mail_gets_one_last_try_at_shutdown() {
    let mut server = fake_smtp(vec![Script::DeferData, Script::Accept]).await;
    let options = MailerOptions {
        retry_delays: vec![Duration::from_secs(60)],
        ..fast()
    };
    let mailer = Mailer::start_with(smtp_config(server.port), Path::new("/"), options).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    timeout(Duration::from_secs(5), async {
        while !matches!(
            events.recv().await.unwrap().status,
            MailStatus::Retrying { .. }
        ) {}
    })
    .await
    .unwrap();
    mailer.shutdown().await;
    assert!(matches!(mailer.status(ticket), Some(MailStatus::Sent)));
    assert!(server.received.recv().await.is_some());
}

#[tokio::test]
async fn dropping_every_handle_still_delivers_queued_mail() {
    let data = tempfile::tempdir().unwrap();
    let mailer = Mailer::start_with(outbox_config(), data.path(), fast()).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    drop(mailer);
    let seen = statuses_until_final(&mut events, ticket).await;
    assert!(matches!(seen.last(), Some(MailStatus::Sent)), "{seen:?}");
    assert_eq!(outbox_files(&data.path().join(OUTBOX_DIR)).len(), 1);
}

#[tokio::test]
async fn events_carry_ticket_organizer_and_kind_but_never_the_pin() {
    let port = closed_port().await;
    let mailer = Mailer::start_with(smtp_config(port), Path::new("/"), fast()).unwrap();
    let mut events = mailer.subscribe();
    let ticket = mailer.send(pin_mail());
    let mut all = Vec::new();
    timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.unwrap();
            let done = e.status.is_final();
            all.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap();
    for e in &all {
        assert_eq!(e.ticket, ticket);
        assert_eq!(e.organizer_id, Some(7));
        assert_eq!(e.kind, MailKind::PinNotice);
        let shown = format!(
            "{e:?} {} {}",
            serde_json::to_string(e).unwrap(),
            e.status_text()
        );
        assert!(!shown.contains(PIN), "{shown}");
    }
}

impl MailEvent {
    fn status_text(&self) -> String {
        match &self.status {
            MailStatus::Retrying { last_error, .. } | MailStatus::Failed { last_error } => {
                last_error.to_string()
            }
            other => format!("{other:?}"),
        }
    }
}

#[test]
fn mail_debug_hides_the_body() {
    let shown = format!("{:?}", pin_mail());
    assert!(!shown.contains(PIN), "{shown}");
    assert!(shown.contains("bytes hidden"));
    assert!(shown.contains("ada@example.com"));
}

#[test]
fn status_serializes_for_the_api() {
    let status = MailStatus::Retrying {
        attempt: 2,
        next_in_secs: 30,
        last_error: DeliveryError::Deferred {
            code: 451,
            reply: "4.3.0 try again later".into(),
        },
    };
    let v = serde_json::to_value(&status).unwrap();
    assert_eq!(v["state"], "retrying");
    assert_eq!(v["attempt"], 2);
    assert_eq!(v["next_in_secs"], 30);
    assert!(v["last_error"].as_str().unwrap().contains("451"));
    assert_eq!(
        serde_json::to_value(MailStatus::Sent).unwrap()["state"],
        "sent"
    );
    assert_eq!(serde_json::to_value(MailTicket(9)).unwrap(), 9);
}

#[tokio::test]
async fn start_fails_fast_on_a_bad_sender() {
    let data = tempfile::tempdir().unwrap();
    let config = MailConfig {
        from: "bridge at example dot com".into(),
        smtp: None,
    };
    let err = Mailer::start(config, data.path()).unwrap_err();
    assert!(matches!(err, NotifyError::BadFrom { .. }), "{err}");
    assert!(err.to_string().contains("bridge at example dot com"));
}

#[tokio::test]
async fn start_fails_fast_on_a_bad_smtp_host() {
    let mut config = smtp_config(25);
    if let Some(smtp) = config.smtp.as_mut() {
        smtp.host = "smtp://mail.example.com".into();
    }
    let err = Mailer::start(config, Path::new("/")).unwrap_err();
    assert!(matches!(err, NotifyError::BadSmtpHost { .. }), "{err}");
}

#[test]
fn start_outside_a_runtime_is_an_error_not_a_panic() {
    let data = tempfile::tempdir().unwrap();
    let err = Mailer::start(outbox_config(), data.path()).unwrap_err();
    assert!(matches!(err, NotifyError::NoRuntime));
}

#[test]
fn tickets_after_a_restart_do_not_repeat_earlier_ones() {
    let before = first_ticket(fixed_clock()) + 1_000_000;
    let after_restart = first_ticket(fixed_clock() + Duration::from_secs(1));
    assert!(after_restart > before);
    assert!(first_ticket(fixed_clock()) < 1 << 53);
    assert_eq!(first_ticket(UNIX_EPOCH), 1);
}

#[test]
fn long_replies_are_shortened_on_a_char_boundary() {
    let s = shorten(&"é".repeat(400), 9);
    assert_eq!(s, "éééé…");
    assert_eq!(shorten(" ok ", 10), "ok");
}

fn from() -> Mailbox {
    "dialbridge <bridge@example.com>".parse().unwrap()
}

#[test]
fn oversized_body_is_refused() {
    let mut mail = pin_mail();
    mail.text_body = "x".repeat(MAX_BODY_LEN + 1);
    let err = build(&from(), &mut mail, fixed_clock()).unwrap_err();
    assert!(
        matches!(err, DeliveryError::TooLarge { field: "body", .. }),
        "{err}"
    );
}

#[test]
fn non_ascii_names_and_bodies_are_encoded() {
    let mut mail = pin_mail();
    mail.to = "José Ñandú <jose@example.com>".into();
    mail.subject = "Ihre PIN für Telefonkonferenzen".into();
    let (envelope, bytes) = build(&from(), &mut mail, fixed_clock()).unwrap();
    assert!(bytes.is_ascii(), "7-bit clean on the wire");
    assert_eq!(envelope.to().len(), 1);
    assert_eq!(envelope.to()[0].to_string(), "jose@example.com");
}

proptest! {
    #[test]
    fn build_never_panics_on_arbitrary_input(
        to in any::<String>(),
        subject in any::<String>(),
        body in any::<String>(),
    ) {
        let mut mail = Mail {
            to,
            subject,
            text_body: body,
            kind: MailKind::Other,
            organizer_id: None,
        };
        let _ = build(&from(), &mut mail, fixed_clock());
    }

    #[test]
    fn build_never_panics_on_address_like_input(to in "[ -~]{0,40}@[ -~]{0,40}") {
        let mut mail = pin_mail();
        mail.to = to;
        let _ = build(&from(), &mut mail, fixed_clock());
    }
}
