//! End-to-end: registration to a provider (`serve --register`) against a real registrar,
//! Debian's Kamailio 5.6 with digest authentication (SHA-256, qop=auth) on 127.0.0.1. The
//! bridge registers (401, then 200), a call to the number through Kamailio reaches the IVR,
//! the binding is refreshed before it expires, a stop unregisters it, and a wrong password
//! is logged, shown in `/metrics` and retried no sooner than the backoff allows.

#[path = "support/kamailio.rs"]
mod kamailio;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::net::SocketAddr;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::Codec;
use dialbridge::sip::message::Method;
use kamailio::Kamailio;
use support::phone::Phone;
use support::{Bridge, BridgeOptions, free_udp_port, hears, remember_secret};

const NUMBER: &str = "4930123456";
const PASSWORD: &str = "Reg1stration-s3cret";
/// 1 while the registrar holds the binding, per `aor` label.
const UP: &str = "dialbridge_registration_up";
/// Failed registration attempts, per `aor` label.
const FAILURES: &str = "dialbridge_registration_failures_total";

/// A Kamailio registrar on a free 127.0.0.1 port, in its own temporary directory; stopped
/// when dropped.
struct Registrar {
    kamailio: Kamailio,
    /// Its SIP over TLS address, when started with a certificate.
    tls_addr: Option<SocketAddr>,
}

impl std::ops::Deref for Registrar {
    type Target = Kamailio;
    fn deref(&self) -> &Kamailio {
        &self.kamailio
    }
}

impl Registrar {
    /// Starts Kamailio as the provider's registrar: REGISTERs are challenged (digest,
    /// SHA-256, qop=auth, the password `password`) and saved in memory; any other request
    /// for a registered user is forwarded to the registered Contact.
    fn start(password: &str) -> Registrar {
        Self::start_with(password, None)
    }

    /// [`Registrar::start`], also serving SIP over TLS with this certificate (Debian's
    /// `kamailio-tls-modules`); as a TLS client it does not check the bridge's certificate.
    fn start_with(password: &str, tls: Option<&tls::Issued>) -> Registrar {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_udp_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let tls_addr = tls.map(|_| tls::free_tcp_addr());
        let tls_cfg = match (tls, tls_addr) {
            (Some(issued), Some(tls_addr)) => {
                let file = dir.path().join("tls.cfg");
                std::fs::write(
                    &file,
                    format!(
                        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                         require_certificate = no\nprivate_key = {}\ncertificate = {}\n\n\
                         [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                         require_certificate = no\n",
                        issued.key.display(),
                        issued.cert.display()
                    ),
                )
                .expect("write tls.cfg");
                format!(
                    "enable_tls=yes\nlisten=tls:{tls_addr}\nloadmodule \"tls.so\"\n\
                     modparam(\"tls\", \"config\", \"{}\")\n",
                    file.display()
                )
            }
            _ => String::new(),
        };
        let cfg = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{tls_cfg}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 10)
modparam("auth", "algorithm", "SHA-256")
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        xlog("L_NOTICE", "TEST-REGISTER expires=$hdr(Expires) authorization=$hdr(Authorization)\n");
        if (!pv_auth_check("$td", "{password}", "0", "1")) {{
            xlog("L_NOTICE", "TEST-CHALLENGE $tU\n");
            auth_challenge("$td", "1");
            exit;
        }}
        if (!save("location")) {{ sl_reply_error(); exit; }}
        xlog("L_NOTICE", "TEST-SAVED $tU expires=$hdr(Expires)\n");
        exit;
    }}
    if (is_method("ACK") && t_check_trans()) {{ t_relay(); exit; }}
    if (!lookup("location")) {{
        xlog("L_NOTICE", "TEST-NOT-FOUND $rm $rU\n");
        if (!is_method("ACK")) {{ sl_send_reply("404", "Not Found"); }}
        exit;
    }}
    xlog("L_NOTICE", "TEST-FORWARD $rm to $ru\n");
    t_relay();
    exit;
}}
"#
        );
        let cfg_path = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).expect("write kamailio.cfg");
        Registrar {
            kamailio: Kamailio::start(dir, &cfg_path, &[], addr),
            tls_addr,
        }
    }
}

/// An owner-only password file.
fn password_file(dir: &Path, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("provider-password");
    std::fs::write(&path, format!("{password}\n")).expect("write password file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// A bridge registering `sip:NUMBER@registrar` (with `uri_params`) with `password`,
/// serving `/metrics`.
fn start_bridge(
    registrar: &Registrar,
    uri_params: &str,
    password: &str,
    extra: &[&str],
) -> (Bridge, tempfile::TempDir) {
    start_bridge_at(
        &format!("sip:{NUMBER}@{}{uri_params}", registrar.addr),
        password,
        extra,
    )
}

/// A bridge registering `aor` with `password`, serving `/metrics`.
fn start_bridge_at(aor: &str, password: &str, extra: &[&str]) -> (Bridge, tempfile::TempDir) {
    remember_secret(password);
    let secrets = tempfile::tempdir().expect("tempdir");
    let file = password_file(secrets.path(), password);
    let mut flags: Vec<String> = vec![
        "--register".into(),
        aor.to_string(),
        "--register-password-file".into(),
        file.display().to_string(),
    ];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra: flags,
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    (bridge, secrets)
}

#[test]
fn registers_with_digest_takes_calls_through_the_registrar_refreshes_and_unregisters_on_stop() {
    let registrar = Registrar::start(PASSWORD);
    // SIP is taken only from a network the test never uses: the registrar is trusted
    // because the bridge registers there.
    let (mut bridge, _secrets) = start_bridge(
        &registrar,
        "",
        PASSWORD,
        &[
            "--register-expires",
            "20",
            "--trusted-networks",
            "192.0.2.0/24",
            "--untrusted",
            "drop",
        ],
    );
    let aor = format!("aor=\"sip:{NUMBER}@{}\"", registrar.addr);
    assert_eq!(
        bridge.wait_metric(UP, &[&aor], 1, Duration::from_secs(10)),
        1,
        "registered"
    );

    // Challenged first, then saved with SHA-256 digest credentials.
    let lines = registrar.lines("TEST-");
    let challenge = lines.iter().position(|l| l.contains("TEST-CHALLENGE"));
    let saved = lines.iter().position(|l| l.contains("TEST-SAVED"));
    assert!(
        matches!((challenge, saved), (Some(c), Some(s)) if c < s),
        "expected a 401 challenge, then the binding saved:\n{}",
        lines.join("\n")
    );
    let authorized = registrar.lines("TEST-REGISTER");
    assert!(
        authorized
            .iter()
            .any(|l| l.contains("algorithm=SHA-256") && l.contains("qop=auth")),
        "{authorized:?}"
    );
    assert!(
        registrar
            .lines("TEST-SAVED")
            .iter()
            .all(|l| l.contains("expires=20")),
        "the expiry asked for"
    );

    // A caller dials the number at the provider: Kamailio finds the bridge's Contact and
    // forwards the INVITE; the bridge answers and plays its greeting.
    let mut phone = Phone::new(registrar.addr, Codec::Pcmu, None);
    phone.set_request_user(NUMBER);
    phone.call();
    hears(
        &phone,
        &[Prompt::Welcome],
        "the greeting, through the registrar",
    );
    let forwarded = registrar.lines("TEST-FORWARD INVITE");
    assert!(
        forwarded
            .iter()
            .any(|l| l.contains(&format!("sip:{NUMBER}@{}", bridge.sip))),
        "{forwarded:?}"
    );
    assert_eq!(
        bridge.wait_metric(
            "dialbridge_calls_answered_total",
            &[],
            1,
            Duration::from_secs(5)
        ),
        1,
        "the call through the registrar answered"
    );
    phone.hangup();

    // Refreshed before the 20 s granted run out (at half: about 10 s after the first).
    registrar.wait_lines("TEST-SAVED", Duration::from_secs(16), "the refresh", |l| {
        l.len() >= 2
    });

    // A stop removes the binding: a REGISTER with Expires: 0, then calls find nobody.
    bridge.signal_term();
    assert!(
        bridge
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "the bridge stops cleanly"
    );
    assert!(
        registrar
            .lines("TEST-SAVED")
            .last()
            .is_some_and(|l| l.contains("expires=0")),
        "unregistered at stop:\n{}",
        registrar.lines("TEST-").join("\n")
    );
    let log = bridge.log_text();
    assert!(log.contains("unregistered from the provider"), "{log}");
    let mut late = Phone::new(registrar.addr, Codec::Pcmu, None);
    late.set_request_user(NUMBER);
    late.send_invite();
    assert!(
        late.wait_response(404, Method::Invite, Duration::from_secs(3))
            .is_some(),
        "after the stop the registrar knows no Contact for the number"
    );
}

#[test]
fn over_tcp_from_a_config_file_table_the_registration_keeps_its_connection_and_calls_arrive() {
    let registrar = Registrar::start(PASSWORD);
    remember_secret(PASSWORD);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = password_file(dir.path(), PASSWORD);
    let config = dir.path().join("dialbridge.toml");
    std::fs::write(
        &config,
        format!(
            "[[register]]\nuri = \"sip:{NUMBER}@{};transport=tcp\"\nauth_user = \"{NUMBER}\"\n\
             password_file = \"{}\"\nexpires = 60\n",
            registrar.addr,
            file.display()
        ),
    )
    .expect("write config");
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            http: true,
            extra: vec!["--config".into(), config.display().to_string()],
            ..BridgeOptions::default()
        },
    );
    bridge.wait_http();
    let aor = format!("aor=\"sip:{NUMBER}@{};transport=tcp\"", registrar.addr);
    assert_eq!(
        bridge.wait_metric(UP, &[&aor], 1, Duration::from_secs(10)),
        1,
        "registered over TCP"
    );
    assert!(
        bridge.metric("dialbridge_sip_tcp_connections", &[]) >= 1,
        "the connection to the registrar stays open"
    );
    let saved = registrar.lines("TEST-SAVED");
    assert!(
        !saved.is_empty() && saved.iter().all(|l| l.trim_end().ends_with("expires=60")),
        "{saved:?}"
    );
    // Kamailio reaches the Contact (`;transport=tcp`) over TCP.
    let mut phone = Phone::new(registrar.addr, Codec::Pcmu, None);
    phone.set_request_user(NUMBER);
    phone.call();
    hears(
        &phone,
        &[Prompt::Welcome],
        "the greeting, through the registrar over TCP",
    );
    let forwarded = registrar.lines("TEST-FORWARD INVITE");
    assert!(
        forwarded.iter().any(|l| l.contains("transport=tcp")),
        "{forwarded:?}"
    );
    phone.hangup();
}

#[test]
fn a_wrong_password_is_logged_shown_in_metrics_and_not_retried_in_a_tight_loop() {
    let registrar = Registrar::start(PASSWORD);
    let (bridge, _secrets) = start_bridge(&registrar, "", "not-the-Password-9", &[]);
    let aor = format!("aor=\"sip:{NUMBER}@{}\"", registrar.addr);
    assert_eq!(
        bridge.wait_metric(FAILURES, &[&aor], 1, Duration::from_secs(10)),
        1,
        "the refused registration counted"
    );
    let failed_at = Instant::now();
    assert_eq!(bridge.expect_metric(UP, &[&aor]), 0);
    let log = bridge.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("registration failed"))
        .unwrap_or_else(|| panic!("no log line saying why; log:\n{log}"));
    assert!(line.contains("code=401"), "{line}");
    assert!(line.contains("refused the credentials"), "{line}");
    assert!(!log.contains("not-the-Password-9"));

    // The first REGISTER is challenged, the one with credentials refused; then nothing for
    // the backoff (at least 24 s), however long we watch here.
    while failed_at.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let registers = registrar.lines("TEST-REGISTER");
    assert_eq!(
        registers.len(),
        2,
        "one challenge answered, then the backoff:\n{}",
        registers.join("\n")
    );
    assert!(registrar.lines("TEST-SAVED").is_empty());
    assert_eq!(bridge.expect_metric(FAILURES, &[&aor]), 1);
}

#[test]
fn a_password_file_others_can_read_stops_the_start_with_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = password_file(dir.path(), PASSWORD);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = Command::new(support::binary())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--sip-listen", "127.0.0.1:0", "--register"])
        .arg(format!("sip:{NUMBER}@127.0.0.1:5060"))
        .arg("--register-password-file")
        .arg(&file)
        .output()
        .expect("run dialbridge");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created before the check"
    );
}

#[test]
fn over_tls_the_registrar_is_verified_and_its_calls_come_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = tls::TestCa::new(dir.path(), "provider");
    let registrar = Registrar::start_with(PASSWORD, Some(&ca.server("registrar")));
    let registrar_tls = registrar.tls_addr.expect("TLS address");
    let aor = format!("sip:{NUMBER}@{registrar_tls};transport=tls");
    let bridge_tls = tls::free_tcp_addr();
    let mut extra: Vec<String> = tls::tls_flags(bridge_tls, &ca.server("bridge"));
    extra.extend([
        "--register-ca".to_string(),
        ca.cert_path().display().to_string(),
    ]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (bridge, _secrets) = start_bridge_at(&aor, PASSWORD, &extra);
    let label = format!("aor=\"{aor}\"");
    assert_eq!(
        bridge.wait_metric(UP, &[&label], 1, Duration::from_secs(10)),
        1,
        "registered over TLS"
    );
    assert!(
        bridge.metric("dialbridge_sip_tls_connections", &[]) >= 1,
        "the TLS connection to the registrar stays open"
    );
    let registers = registrar.lines("TEST-REGISTER");
    assert!(
        registers.len() >= 2 && registers.iter().any(|l| l.contains("SHA-256")),
        "challenged, then answered over TLS: {registers:?}"
    );
    // Kamailio calls the registered Contact: the bridge's TLS port, over TLS.
    let mut phone = Phone::new(registrar.addr, Codec::Pcmu, None);
    phone.set_request_user(NUMBER);
    phone.call();
    hears(
        &phone,
        &[Prompt::Welcome],
        "the greeting, through the registrar over TLS",
    );
    let forwarded = registrar.lines("TEST-FORWARD INVITE");
    let port = format!(":{};", bridge_tls.port());
    assert!(
        forwarded
            .iter()
            .any(|l| l.contains("transport=tls") && l.contains(&port)),
        "{forwarded:?}"
    );
    phone.hangup();

    // Without the provider's CA the registrar's certificate is refused: no registration.
    let (other, _secrets2) = start_bridge_at(&aor, PASSWORD, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !other.log_text().contains("cannot connect to the registrar") {
        assert!(Instant::now() < deadline, "{}", other.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(other.expect_metric(UP, &[&label]), 0);
}
