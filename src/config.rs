//! Settings of `dialbridge serve`, validated before anything starts.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::ivr::flow::IvrConfig;
use crate::sip::transaction::Timers;

/// An inclusive range of UDP ports for RTP, written `LOW-HIGH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub low: u16,
    /// Last port.
    pub high: u16,
}

/// Why a port range was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortRangeError {
    /// Not `LOW-HIGH`.
    #[error("expected LOW-HIGH, e.g. 10000-20000")]
    Syntax,
    /// A bound is not a port number.
    #[error("'{0}' is not a port number (1-65535)")]
    Port(String),
    /// LOW is above HIGH or the range has no even port.
    #[error("the range must hold at least one even port with LOW <= HIGH")]
    Empty,
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (low, high) = s.split_once('-').ok_or(PortRangeError::Syntax)?;
        let parse = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| PortRangeError::Port(p.trim().to_string()))
        };
        let (low, high) = (parse(low)?, parse(high)?);
        if low > high || (low == high && low % 2 == 1) {
            return Err(PortRangeError::Empty);
        }
        Ok(PortRange { low, high })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where the database and key files live.
    pub data_dir: PathBuf,
    /// A PostgreSQL server holding the directory instead of SQLite in `data_dir`.
    pub database_url: Option<crate::store::DatabaseUrl>,
    /// SIP listen address (UDP and TCP on the same port).
    pub sip_listen: SocketAddr,
    /// RTP ports.
    pub rtp_ports: PortRange,
    /// Address put in SDP; by default the listen address, or the local address that routes to the caller.
    pub media_ip: Option<IpAddr>,
    /// Media worker threads (default: one per core).
    pub media_threads: usize,
    /// How the media workers hand RTP to the kernel.
    pub rtp_send: RtpSend,
    /// A socket per call or one per media thread (`--rtp-sockets`).
    pub rtp_sockets: RtpSockets,
    /// Slices each 20 ms media frame is sent in (`--media-slices`).
    pub media_slices: u32,
    /// Real-time (`SCHED_FIFO`) priority of the media threads (`--media-realtime-priority`);
    /// none leaves them to the ordinary scheduler.
    pub media_realtime_priority: Option<u8>,
    /// Ring before answering (180 Ringing), zero answers at once.
    pub answer_delay: Duration,
    /// Load prompts and hold music from here instead of the bundled ones.
    pub assets_dir: Option<PathBuf>,
    /// SIP timer values.
    pub timers: Timers,
    /// IVR attempts and timeouts.
    pub ivr: IvrConfig,
    /// Hang up calls that send no RTP for this long.
    pub rtp_timeout: Option<Duration>,
    /// Say goodbye to callers who waited in a lobby this long (None: never).
    pub lobby_timeout: Option<Duration>,
    /// Whether the lobby moves in when the organizer authenticates or waits for them.
    pub lobby_admit: crate::bridge::meeting::LobbyAdmit,
    /// E-mail the organizer when someone has waited this long in their lobby (None: never).
    pub lobby_mail_after: Option<Duration>,
    /// Admin API and web pages (HTTP); None: not served.
    pub http_listen: Option<SocketAddr>,
    /// Base URL of the web pages as users reach them (for links in e-mails).
    pub public_url: Option<String>,
    /// How PIN e-mails leave (SMTP, or `.eml` files in `DATA_DIR/outbox/`).
    pub mail: crate::notify::MailConfig,
    /// Numbers or SIP URIs to dial, for the instructions in e-mails.
    pub dial_in: Vec<String>,
    /// Admins told by e-mail when an organizer's PIN locks until reset.
    pub admin_emails: Vec<String>,
    /// Limits on calls in progress and new calls per second (503 past them).
    pub admission: crate::sip::admission::AdmissionConfig,
    /// Networks SIP requests are taken from (None: anywhere).
    pub trusted_networks: Option<Vec<ipnet::IpNet>>,
    /// What requests from elsewhere get.
    pub untrusted: UntrustedAction,
    /// SIP over TCP: connection limits and timeouts (TLS connections have the same).
    pub tcp: TcpLimits,
    /// SIP over TLS: where to listen (None: not served).
    pub sip_tls_listen: Option<SocketAddr>,
    /// SIP over TLS: the certificate, key and client CA files.
    pub tls: Option<TlsFiles>,
    /// The name put in Via and Contact over TLS (what the certificate names).
    pub sip_domain: Option<String>,
    /// Whether calls get SRTP (`--srtp`).
    pub srtp: crate::sip::sdp::SrtpMode,
    /// SDES keys may travel over SIP that is not TLS (`--srtp-over-cleartext-sip`).
    pub srtp_over_cleartext_sip: bool,
    /// Conference-ID guessing limits per calling number and source address.
    pub guessing: crate::auth::guessing::GuessLimits,
    /// Addresses of record to keep registered at providers (`--register`, `[[register]]`).
    pub registrations: Vec<RegisterAccount>,
    /// More CAs to trust for registrars over TLS (`--register-ca`).
    pub register_ca: Option<PathBuf>,
    /// On SIGTERM/SIGINT, calls in progress go on this long before the goodbye
    /// (`--drain-timeout`; zero: goodbye at once).
    pub drain_timeout: Duration,
    /// The bridge's address as seen from outside (1:1 NAT, cloud VMs): put in SDP and in
    /// Contact while the sockets stay on the private address.
    pub public_address: Option<IpAddr>,
    /// This node's name in a cluster (`--node-name`; None: the host name). Only used with a
    /// PostgreSQL directory.
    pub node_name: Option<String>,
    /// Where other nodes reach this one for SIP (`--cluster-advertise`; None: the SIP
    /// listen address).
    pub cluster_advertise: Option<SocketAddr>,
    /// The owner-only file holding the secret relay legs between nodes are signed with
    /// (`--cluster-secret-file`; None: this node takes no relay legs).
    pub cluster_secret_file: Option<PathBuf>,
    /// Call detail records as JSON lines here (a bare file name: in the data directory);
    /// None: not written.
    pub cdr_file: Option<std::path::PathBuf>,
    /// Where meeting events are POSTed (`--webhook-url`), signed with what secret, for how long.
    pub webhooks: WebhookSettings,
}

/// The webhook flags.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// http:// or https:// URLs every event goes to.
    pub urls: Vec<String>,
    /// The owner-only file whose first line is the HMAC secret.
    pub secret_file: Option<PathBuf>,
    /// PEM CA certificates trusted for https:// receivers instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// An event not delivered for this long is dropped (counted and audited).
    pub max_age: Duration,
    /// The pause after the first failed attempt; each next one doubles, up to ten minutes.
    pub retry_after: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            urls: Vec::new(),
            secret_file: None,
            ca_file: None,
            max_age: Duration::from_secs(24 * 3600),
            retry_after: Duration::from_secs(10),
        }
    }
}

/// One address of record to register at a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterAccount {
    /// The address of record, e.g. `sip:4930123456@sipconnect.example.net;transport=tcp`.
    pub aor: String,
    /// The digest user name (default: the URI's user).
    pub auth_user: Option<String>,
    /// The file holding the password (owner-only).
    pub password_file: Option<PathBuf>,
    /// The expiry asked for, in seconds.
    pub expires: u32,
}

/// The expiry asked for when none is given (`--register-expires`).
pub const DEFAULT_REGISTER_EXPIRES: u32 = 600;

/// The files of SIP over TLS, PEM encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate, then any intermediates.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// With mutual TLS: the CAs a client certificate must chain to.
    pub client_ca: Option<PathBuf>,
}

/// What a SIP request from outside the trusted networks gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UntrustedAction {
    /// INVITEs are answered `403 Forbidden`.
    #[default]
    Reject,
    /// Every datagram is dropped unanswered (scanners learn nothing).
    Drop,
}

impl ServeConfig {
    /// Defaults for a data directory: SIP on 0.0.0.0:5060, RTP 10000-20000.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            data_dir,
            database_url: None,
            sip_listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            rtp_ports: PortRange {
                low: 10000,
                high: 20000,
            },
            media_ip: None,
            media_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            rtp_send: RtpSend::SendTo,
            rtp_sockets: RtpSockets::PerCall,
            media_slices: crate::engine::DEFAULT_TICK_SLICES,
            media_realtime_priority: None,
            answer_delay: Duration::ZERO,
            assets_dir: None,
            timers: Timers::default(),
            ivr: IvrConfig::default(),
            rtp_timeout: Some(Duration::from_secs(60)),
            lobby_timeout: Some(Duration::from_secs(30 * 60)),
            lobby_admit: crate::bridge::meeting::LobbyAdmit::Auto,
            lobby_mail_after: None,
            http_listen: None,
            public_url: None,
            mail: crate::notify::MailConfig::default(),
            dial_in: Vec::new(),
            admin_emails: Vec::new(),
            admission: crate::sip::admission::AdmissionConfig::default(),
            trusted_networks: None,
            untrusted: UntrustedAction::Reject,
            tcp: TcpLimits::default(),
            sip_tls_listen: None,
            tls: None,
            sip_domain: None,
            srtp: crate::sip::sdp::SrtpMode::default(),
            srtp_over_cleartext_sip: false,
            guessing: crate::auth::guessing::GuessLimits::default(),
            cdr_file: Some("cdr.jsonl".into()),
            webhooks: WebhookSettings::default(),
            registrations: Vec::new(),
            register_ca: None,
            drain_timeout: Duration::ZERO,
            public_address: None,
            node_name: None,
            cluster_advertise: None,
            cluster_secret_file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_refuse_nonsense() {
        assert_eq!(
            "10000-20000".parse::<PortRange>(),
            Ok(PortRange {
                low: 10000,
                high: 20000
            })
        );
        assert_eq!("10000".parse::<PortRange>(), Err(PortRangeError::Syntax));
        assert_eq!(
            "0-10".parse::<PortRange>(),
            Err(PortRangeError::Port("0".into()))
        );
        assert_eq!(
            "10-70000".parse::<PortRange>(),
            Err(PortRangeError::Port("70000".into()))
        );
        assert_eq!("20-10".parse::<PortRange>(), Err(PortRangeError::Empty));
        assert_eq!("11-11".parse::<PortRange>(), Err(PortRangeError::Empty));
        assert!("12-12".parse::<PortRange>().is_ok());
    }
}

/// Limits and timeouts for SIP over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once, all sources together.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_per_source: usize,
    /// A connection with no bytes in for this long and no call on it is closed.
    pub idle_timeout: Duration,
    /// A message must arrive whole within this long of its first byte (slow senders).
    pub message_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 4096,
            max_per_source: 256,
            idle_timeout: Duration::from_secs(120),
            message_timeout: Duration::from_secs(10),
        }
    }
}

/// Which sockets carry calls' RTP (`--rtp-sockets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtpSockets {
    /// Each call its own port: works behind NAT (the bridge latches to where RTP comes from).
    #[default]
    PerCall,
    /// One port per media thread, calls told apart by source address, a tick's RTP sent in
    /// `sendmmsg` batches: cheaper per packet, but a call's RTP must come from its SDP address.
    PerThread,
}

/// How the media workers hand a tick's RTP to the kernel (`--rtp-send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtpSend {
    /// One `sendto` per datagram, from the call's socket.
    #[default]
    SendTo,
    /// A tick's datagrams batched into io_uring submissions (still from each call's socket).
    IoUring,
}
