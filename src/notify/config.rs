//! Mail settings as read from the config file, checked once at start-up so that a typo in
//! the SMTP host or the sender address stops `serve` instead of failing every PIN mail later.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde::Deserialize;
use zeroize::Zeroize;

use super::NotifyError;

/// Longest host name DNS allows (RFC 1035 §2.3.4, without the trailing dot).
const MAX_HOST_LEN: usize = 253;
/// Longest DNS label.
const MAX_LABEL_LEN: usize = 63;

/// How mail leaves the bridge; without `smtp` every mail is written to `DATA_DIR/outbox/`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The sender, e.g. `dialbridge <bridge@example.com>` or `bridge@example.com`.
    pub from: String,
    /// The SMTP relay; `None` writes `.eml` files into the outbox instead.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

impl Default for MailConfig {
    /// No relay (the outbox) and a sender that names the bridge.
    fn default() -> Self {
        MailConfig {
            from: "dialbridge <dialbridge@localhost>".into(),
            smtp: None,
        }
    }
}

/// Where and how to hand mail to an SMTP relay.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or IP address of the relay (also the name its TLS certificate must carry).
    pub host: String,
    /// TCP port; `None` picks the usual one for `security` (25, 587 or 465).
    #[serde(default)]
    pub port: Option<u16>,
    /// Encryption of the connection to the relay.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Login name, if the relay wants `AUTH`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `username`; never printed by `Debug`, wiped from memory on drop.
    #[serde(default)]
    pub password: Option<String>,
}

/// Transport security towards the relay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain text (a relay on the same host or a trusted network only); port 25.
    None,
    /// Plain connect, then `STARTTLS` is required before anything is sent; port 587.
    #[default]
    #[serde(alias = "start_tls", alias = "start-tls")]
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS); port 465.
    Tls,
}

impl SmtpSecurity {
    /// The port relays conventionally listen on for this kind of security.
    pub const fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmtpSecurity::None => "none",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
        })
    }
}

impl SmtpConfig {
    /// The port actually used: the configured one or the default for `security`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }

    /// `host:port`, for messages and logs.
    pub fn server(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.effective_port()),
            _ => format!("{}:{}", self.host, self.effective_port()),
        }
    }
}

impl Drop for SmtpConfig {
    fn drop(&mut self) {
        // The config is cloned into the worker; each copy wipes its password when it goes.
        if let Some(p) = self.password.as_mut() {
            p.zeroize();
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("from", &self.from)
            .field("smtp", &self.smtp)
            .finish()
    }
}

impl MailConfig {
    /// Parses the sender address; the first check `Mailer::start` makes.
    pub fn from_mailbox(&self) -> Result<Mailbox, NotifyError> {
        Mailbox::from_str(self.from.trim()).map_err(|source| NotifyError::BadFrom {
            from: self.from.clone(),
            source,
        })
    }
}

/// True for a syntactically valid DNS host name or an IP address literal.
pub(crate) fn is_valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn is_loopback(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks the SMTP settings and builds the lettre transport (no network I/O happens here).
pub(crate) fn smtp_transport(
    smtp: &SmtpConfig,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let host = smtp.host.trim();
    if !is_valid_host(host) {
        return Err(NotifyError::BadSmtpHost {
            host: smtp.host.clone(),
        });
    }
    if smtp.port == Some(0) {
        return Err(NotifyError::BadSmtpPort {
            security: smtp.security,
            default: smtp.security.default_port(),
        });
    }
    let credentials = match (&smtp.username, &smtp.password) {
        (None, None) => None,
        (Some(user), Some(pass)) if !user.is_empty() && !pass.is_empty() => {
            Some(Credentials::new(user.clone(), pass.clone()))
        }
        _ => return Err(NotifyError::IncompleteCredentials),
    };
    if credentials.is_some() && smtp.security == SmtpSecurity::None && !is_loopback(host) {
        return Err(NotifyError::CredentialsWithoutTls {
            host: host.to_string(),
        });
    }
    let tls_error = |source| NotifyError::SmtpTls {
        host: host.to_string(),
        source,
    };
    let builder = match smtp.security {
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        SmtpSecurity::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
        }
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?
        }
    };
    let builder = builder.port(smtp.effective_port()).timeout(Some(timeout));
    let builder = match credentials {
        Some(c) => builder.credentials(c),
        None => builder,
    };
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn smtp(host: &str, security: SmtpSecurity) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: None,
            security,
            username: None,
            password: None,
        }
    }

    #[test]
    fn default_ports_follow_security() {
        assert_eq!(smtp("h", SmtpSecurity::None).effective_port(), 25);
        assert_eq!(smtp("h", SmtpSecurity::StartTls).effective_port(), 587);
        assert_eq!(smtp("h", SmtpSecurity::Tls).effective_port(), 465);
        let mut explicit = smtp("h", SmtpSecurity::Tls);
        explicit.port = Some(2465);
        assert_eq!(explicit.effective_port(), 2465);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let config = MailConfig {
            from: "bridge@example.com".into(),
            smtp: Some(SmtpConfig {
                host: "mail.example.com".into(),
                port: None,
                security: SmtpSecurity::Tls,
                username: Some("bridge".into()),
                password: Some("hunter2-secret".into()),
            }),
        };
        let shown = format!("{config:?} {:#?}", config.clone());
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("mail.example.com"));
    }

    #[test]
    fn deserializes_security_names_and_defaults_to_starttls() {
        let v: SmtpSecurity = serde_json::from_str("\"tls\"").unwrap();
        assert_eq!(v, SmtpSecurity::Tls);
        let v: SmtpSecurity = serde_json::from_str("\"starttls\"").unwrap();
        assert_eq!(v, SmtpSecurity::StartTls);
        let v: SmtpSecurity = serde_json::from_str("\"none\"").unwrap();
        assert_eq!(v, SmtpSecurity::None);
        let c: MailConfig =
            serde_json::from_str(r#"{"from":"a@b.c","smtp":{"host":"mail.b.c"}}"#).unwrap();
        let s = c.smtp.as_ref().unwrap();
        assert_eq!(s.security, SmtpSecurity::StartTls);
        assert_eq!(s.effective_port(), 587);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let r = serde_json::from_str::<MailConfig>(r#"{"from":"a@b.c","smpt":{}}"#);
        assert!(r.is_err());
    }

    #[test]
    fn host_check_accepts_names_and_ips() {
        for ok in [
            "mail.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "smtp-1.x.org.",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "mail example.com",
            "-mail.x",
            "a..b",
            "mail.x:25",
            "http://x",
            "x\r\n",
        ] {
            assert!(!is_valid_host(bad), "{bad:?}");
        }
        assert!(!is_valid_host(&"a".repeat(64)));
        assert!(!is_valid_host(&["a"; 200].join(".")));
    }

    #[test]
    fn bad_smtp_host_is_refused() {
        let err = smtp_transport(
            &smtp("mail example.com", SmtpSecurity::None),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, NotifyError::BadSmtpHost { .. }), "{err}");
        assert!(err.to_string().contains("mail example.com"));
    }

    #[test]
    fn port_zero_is_refused() {
        let mut s = smtp("mail.example.com", SmtpSecurity::None);
        s.port = Some(0);
        let err = smtp_transport(&s, Duration::from_secs(1)).unwrap_err();
        assert!(
            matches!(err, NotifyError::BadSmtpPort { default: 25, .. }),
            "{err}"
        );
    }

    #[test]
    fn username_without_password_is_refused() {
        let mut s = smtp("mail.example.com", SmtpSecurity::StartTls);
        s.username = Some("bridge".into());
        let err = smtp_transport(&s, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, NotifyError::IncompleteCredentials), "{err}");
    }

    #[test]
    fn credentials_over_plain_text_to_a_remote_host_are_refused() {
        let mut s = smtp("mail.example.com", SmtpSecurity::None);
        s.username = Some("bridge".into());
        s.password = Some("pw".into());
        let err = smtp_transport(&s, Duration::from_secs(1)).unwrap_err();
        assert!(
            matches!(err, NotifyError::CredentialsWithoutTls { .. }),
            "{err}"
        );
        s.host = "127.0.0.1".into();
        assert!(smtp_transport(&s, Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn tls_modes_build_without_network() {
        for sec in [SmtpSecurity::StartTls, SmtpSecurity::Tls] {
            assert!(smtp_transport(&smtp("mail.example.com", sec), Duration::from_secs(1)).is_ok());
        }
    }

    #[test]
    fn bad_from_address_is_refused() {
        let c = MailConfig {
            from: "dialbridge <not an address>".into(),
            smtp: None,
        };
        let err = c.from_mailbox().unwrap_err();
        assert!(matches!(err, NotifyError::BadFrom { .. }), "{err}");
        let ok = MailConfig {
            from: "dialbridge <bridge@example.com>".into(),
            smtp: None,
        };
        assert_eq!(
            ok.from_mailbox().unwrap().email.to_string(),
            "bridge@example.com"
        );
    }

    proptest! {
        #[test]
        fn host_check_never_panics(s in any::<String>()) {
            let _ = is_valid_host(&s);
        }

        #[test]
        fn transport_setup_never_panics(host in any::<String>(), port in any::<Option<u16>>()) {
            let mut s = smtp(&host, SmtpSecurity::StartTls);
            s.port = port;
            let _ = smtp_transport(&s, Duration::from_secs(1));
        }
    }
}
