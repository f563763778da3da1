//! `dialbridge serve`: its flags and how they become the server's settings.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LobbyAdmitArg {
    Auto,
    Organizer,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// SIP listen address, for UDP and TCP alike.
    #[arg(long, default_value = "0.0.0.0:5060", value_name = "IP:PORT")]
    sip_listen: SocketAddr,
    /// RTP port range, one even port per call.
    #[arg(long, default_value = "10000-20000", value_name = "LOW-HIGH")]
    rtp_ports: PortRange,
    /// Admin API and web pages on this address (not served without it).
    #[arg(long, value_name = "IP:PORT")]
    http_listen: Option<SocketAddr>,
    /// Address to put in SDP (default: the listen address, or the one routing to the caller).
    #[arg(long, value_name = "IP")]
    media_ip: Option<IpAddr>,
    /// Media worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    media_threads: Option<u16>,
    /// How media threads hand RTP to the kernel: `sendto` (one system call per datagram) or
    /// `io-uring` (a tick's datagrams in a few io_uring submissions).
    #[arg(long, value_name = "sendto|io-uring", default_value = "sendto", value_parser = rtp_send)]
    rtp_send: dialbridge::config::RtpSend,
    /// Which sockets carry RTP: `per-call` (each call its own port; works behind NAT) or
    /// `per-thread` (one port per media thread, calls told apart by source address, a tick's
    /// RTP sent in batches: cheaper, but each call's RTP must come from the address in its SDP).
    #[arg(long, value_name = "per-call|per-thread", default_value = "per-call", value_parser = rtp_sockets)]
    rtp_sockets: dialbridge::config::RtpSockets,
    /// Send each 20 ms frame's held callers in N slices (each caller always in the same one),
    /// so a media thread with thousands of callers spreads its packets over the frame
    /// instead of sending them all at its start; 1 sends them all at once.
    #[arg(long, value_name = "N", default_value_t = dialbridge::engine::DEFAULT_TICK_SLICES, value_parser = clap::value_parser!(u32).range(1..=10))]
    media_slices: u32,
    /// Run the media threads with this real-time priority (SCHED_FIFO, 1-99), so their 20 ms
    /// clock is not kept waiting by the SIP thread, the web API or other processes on a busy
    /// machine. Needs root or CAP_SYS_NICE; the bridge refuses to start without it.
    #[arg(long, value_name = "1-99", value_parser = clap::value_parser!(u8).range(1..=99))]
    media_realtime_priority: Option<u8>,
    /// Ring (180) this long before answering.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    answer_delay_ms: u64,
    /// Load prompts and hold music from this directory (laid out like assets/).
    #[arg(long, value_name = "DIR")]
    assets_dir: Option<PathBuf>,
    /// Hang up calls that send no RTP for this many seconds (0: never).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    rtp_timeout: u64,
    /// Say goodbye to callers who waited in a lobby this many seconds (0: never).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    lobby_timeout: u64,
    /// Ask each caller to say their name after the conference ID (a tone, then at most
    /// 4 s, ended by # or by silence). The meeting then hears "<name> has joined" and
    /// "<name> has left" instead of a chime, and an organizer going through the lobby (*24)
    /// hears each name. Names are kept in memory only, for the length of the call.
    #[arg(long)]
    record_names: bool,
    /// When the organizer enters their PIN: `auto` lets the whole lobby in at once;
    /// `organizer` keeps it waiting until the organizer lets callers in (*21 everyone, *24
    /// one at a time). Either way the organizer hears how many callers there are.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "auto|organizer"
    )]
    lobby_admit: LobbyAdmitArg,
    /// E-mail the organizer "N callers are waiting in your lobby" once someone has waited
    /// this many seconds in it (once per wait: again only after the lobby emptied;
    /// default: never).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    lobby_mail_after: Option<u64>,
    /// SIP timer T1 in milliseconds (RFC 3261 default 500).
    #[arg(long, default_value_t = 500, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=10_000))]
    t1_ms: u64,
    /// Calls in progress before new ones get 503 (0: no limit but the RTP port range).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_calls: usize,
    /// New calls per second before new ones get 503 (0: no limit).
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    max_call_rate: u32,
    /// Take SIP only from these networks, e.g. your SIP trunk's (repeatable or
    /// comma-separated CIDRs; default: from anywhere, with a warning at start-up).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    trusted_networks: Vec<ipnet::IpNet>,
    /// What SIP from elsewhere gets: `reject` (INVITEs get 403) or `drop` (no answer at all).
    #[arg(long, value_name = "reject|drop", default_value = "reject", value_parser = untrusted_action)]
    untrusted: dialbridge::config::UntrustedAction,
    /// SIP over TCP: connections open at once, all sources together.
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_tcp_connections: u32,
    /// SIP over TCP: connections open at once from one IP address.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_tcp_per_source: u32,
    /// SIP over TCP: close a connection that carries no call after this long without a byte.
    #[arg(long, default_value_t = 120, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    tcp_idle_timeout: u64,
    /// SIP over TCP: close a connection whose message does not arrive whole within this long
    /// of its first byte (slow senders).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    tcp_message_timeout: u64,
    /// SIP over TLS on this address (5061 is conventional; not served without it). Needs
    /// --tls-cert and --tls-key. TLS connections have the TCP limits and timeouts.
    #[arg(long, value_name = "IP:PORT", requires_all = ["tls_cert", "tls_key"])]
    sip_tls_listen: Option<SocketAddr>,
    /// SIP over TLS: the server certificate (PEM, followed by any intermediates). To renew,
    /// replace the files and send SIGHUP: new connections get the new one, calls stay up.
    #[arg(long, value_name = "FILE", requires = "sip_tls_listen")]
    tls_cert: Option<PathBuf>,
    /// SIP over TLS: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "sip_tls_listen")]
    tls_key: Option<PathBuf>,
    /// SIP over TLS: require a client certificate issued by one of these CAs (PEM; mutual
    /// TLS, as SBC links use). Without it clients are not asked for one.
    #[arg(long, value_name = "FILE", requires = "sip_tls_listen")]
    tls_client_ca: Option<PathBuf>,
    /// SIP over TLS: the name put in Via and Contact (the one the certificate names), so a
    /// peer that checks names accepts them; default: the bridge's address.
    #[arg(long, value_name = "FQDN", requires = "sip_tls_listen", value_parser = sip_domain)]
    sip_domain: Option<String>,
    /// SRTP with SDES keys (RFC 4568): `offer` gives SRTP to a caller offering RTP/SAVP and
    /// plain RTP to the others, `require` answers plain offers 488 and offers RTP/SAVP itself,
    /// `off` declines SRTP.
    #[arg(long, default_value = "offer", value_name = "off|offer|require", value_parser = srtp_mode)]
    srtp: dialbridge::sip::sdp::SrtpMode,
    /// Take SRTP keys that came over plain UDP/TCP SIP, where anyone on the path reads them
    /// (by default only SIP over TLS may carry them, and such offers get 488).
    #[arg(long)]
    srtp_over_cleartext_sip: bool,
    /// Unknown conference IDs one calling number may try per window before its calls get a
    /// short goodbye at once (0: no limit).
    #[arg(long, default_value_t = 6, value_name = "N")]
    id_guesses_per_caller: u32,
    /// Unknown conference IDs one source address outside --trusted-networks may try per
    /// window (0: no limit).
    #[arg(long, default_value_t = 60, value_name = "N")]
    id_guesses_per_source: u32,
    /// The window for the two limits above.
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    id_guess_window: u64,
    /// Call detail records (one JSON object per answered call) go to this file; a bare
    /// name is in the data directory.
    #[arg(long, default_value = "cdr.jsonl", value_name = "FILE")]
    cdr_file: PathBuf,
    /// Write no call detail records.
    #[arg(long)]
    no_cdr: bool,
    /// Register at a provider under this address of record, so its calls for the number
    /// reach the bridge (repeatable), e.g. `sip:4930123456@sipconnect.example.net`,
    /// `...;transport=tcp` or `...;transport=tls` (or a `sips:` URI). The host is resolved
    /// once at start (no DNS SRV).
    #[arg(long, value_name = "URI")]
    register: Vec<String>,
    /// On SIGTERM or SIGINT, stop taking calls (new INVITEs and OPTIONS get 503, so a
    /// dispatcher sends calls elsewhere) and let the calls in progress go on for up to this
    /// long before the goodbye; 0: goodbye at once.
    #[arg(long, default_value_t = 0, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    drain_timeout: u64,
    /// With --database-url: this node's name in the cluster, unique among the nodes sharing
    /// the database (default: the host name). A second running node with the same name is
    /// refused at start.
    #[arg(long, value_name = "NAME", value_parser = parse_node_name)]
    node_name: Option<String>,
    /// With --database-url: where the other nodes reach this one for SIP (default: the SIP
    /// listen address); shown by `dialbridge cluster status`.
    #[arg(long, value_name = "IP:PORT")]
    cluster_advertise: Option<SocketAddr>,
    /// With --database-url: the owner-only file holding the cluster's shared secret (one
    /// line, at least 32 characters, the same on every node), which signs the relay legs
    /// nodes open to each other; without it this node refuses relay legs.
    #[arg(long, value_name = "FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// With --database-url: callers in progress across all the nodes before new ones get 503
    /// (each caller counted once, on the node that answered it; the other nodes' counts are
    /// as of their last heartbeat, at most a second old). 0: no cluster-wide limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    cluster_max_calls: usize,
    /// With --database-url: new callers per second across all the nodes; each node taking
    /// calls admits its share (N divided by the live nodes not draining). 0: no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    cluster_max_call_rate: u32,
    /// Over TLS, trust registrars whose certificate chains to these CAs (PEM) as well as the
    /// system's (Debian's ca-certificates).
    #[arg(long, value_name = "FILE")]
    register_ca: Option<PathBuf>,
    /// The digest user name for --register (default: the URI's user).
    #[arg(long, value_name = "USER", requires = "register")]
    register_auth_user: Option<String>,
    /// The file holding the password for --register; it must be readable by its owner only.
    #[arg(long, value_name = "FILE", requires = "register")]
    register_password_file: Option<PathBuf>,
    /// The registration expiry asked for; refreshed at half of what the registrar grants.
    #[arg(long, default_value_t = dialbridge::config::DEFAULT_REGISTER_EXPIRES, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(10..=86_400))]
    register_expires: u32,
    /// The bridge's address as callers and providers reach it (1:1 NAT, cloud VMs): put in
    /// SDP and in the registered Contact while the sockets stay on the private address.
    #[arg(long, value_name = "IP")]
    public_address: Option<IpAddr>,
    /// POST every meeting event as signed JSON to this http:// or https:// URL (repeatable);
    /// needs --webhook-secret-file. Events are stored first and retried until delivered.
    #[arg(long, value_name = "URL")]
    webhook_url: Vec<String>,
    /// The file whose first line is the webhook signing secret (HMAC-SHA256); it must be
    /// readable by its owner only.
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Trust the CA certificates in this PEM file for https:// webhook receivers, instead of
    /// the system's (a private CA).
    #[arg(long, value_name = "FILE")]
    webhook_ca_file: Option<PathBuf>,
    /// An event a receiver has not accepted for this long is dropped (counted and audited).
    #[arg(long, default_value_t = 86_400, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    webhook_max_age: u64,
    /// The pause after a failed webhook attempt; it doubles with each further failure, up to
    /// ten minutes.
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=600))]
    webhook_retry_after: u64,
    /// One `[[register]]` table of the config file (uri, auth_user, password_file, expires),
    /// as the config file passes it on.
    #[arg(long, hide = true, value_name = "JSON", value_parser = register_table)]
    register_table: Vec<dialbridge::config::RegisterAccount>,
}

/// A `[[register]]` table of the config file, as `config_file` passes it on.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterTable {
    uri: String,
    auth_user: Option<String>,
    password_file: Option<PathBuf>,
    expires: Option<u32>,
}

fn register_table(v: &str) -> Result<dialbridge::config::RegisterAccount, String> {
    let t: RegisterTable = serde_json::from_str(v).map_err(|e| {
        format!("a [[register]] table takes uri, auth_user, password_file and expires: {e}")
    })?;
    let expires = t
        .expires
        .unwrap_or(dialbridge::config::DEFAULT_REGISTER_EXPIRES);
    if !(10..=86_400).contains(&expires) {
        return Err(format!(
            "[[register]] {}: expires must be 10-86400 seconds",
            t.uri
        ));
    }
    Ok(dialbridge::config::RegisterAccount {
        aor: t.uri,
        auth_user: t.auth_user,
        password_file: t.password_file,
        expires,
    })
}

/// A host name for `--sip-domain`: letters, digits, `-` and `.` only (it goes into headers).
fn sip_domain(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(format!(
            "expected a host name such as sip.example.com, got {v:?}"
        ))
    }
}

/// `--srtp`'s three values.
fn srtp_mode(v: &str) -> Result<dialbridge::sip::sdp::SrtpMode, String> {
    dialbridge::sip::sdp::SrtpMode::parse(v)
        .ok_or_else(|| format!("expected off, offer or require, got {v:?}"))
}

fn untrusted_action(v: &str) -> Result<dialbridge::config::UntrustedAction, String> {
    match v {
        "reject" => Ok(dialbridge::config::UntrustedAction::Reject),
        "drop" => Ok(dialbridge::config::UntrustedAction::Drop),
        _ => Err(format!("expected reject or drop, got {v:?}")),
    }
}

pub(crate) async fn serve(
    data_dir: PathBuf,
    database_url: Option<&dialbridge::store::DatabaseUrl>,
    mail: MailConfig,
    mail_args: &MailArgs,
    args: ServeArgs,
) -> Result<(), CliError> {
    let mut config = serve_config(data_dir, mail, mail_args);
    config.database_url = database_url.cloned();
    config.sip_listen = args.sip_listen;
    config.rtp_ports = args.rtp_ports;
    config.http_listen = args.http_listen;
    config.media_ip = args.media_ip;
    config.rtp_send = args.rtp_send;
    config.rtp_sockets = args.rtp_sockets;
    config.media_slices = args.media_slices;
    config.media_realtime_priority = args.media_realtime_priority;
    if let Some(n) = args.media_threads {
        config.media_threads = usize::from(n);
    }
    config.answer_delay = Duration::from_millis(args.answer_delay_ms);
    config.assets_dir = args.assets_dir;
    config.rtp_timeout = (args.rtp_timeout > 0).then(|| Duration::from_secs(args.rtp_timeout));
    config.lobby_timeout =
        (args.lobby_timeout > 0).then(|| Duration::from_secs(args.lobby_timeout));
    config.ivr.record_names = args.record_names;
    config.lobby_admit = match args.lobby_admit {
        LobbyAdmitArg::Auto => dialbridge::bridge::meeting::LobbyAdmit::Auto,
        LobbyAdmitArg::Organizer => dialbridge::bridge::meeting::LobbyAdmit::Organizer,
    };
    config.lobby_mail_after = args.lobby_mail_after.map(Duration::from_secs);
    config.timers.t1 = Duration::from_millis(args.t1_ms);
    config.timers.t2 = config.timers.t2.max(config.timers.t1);
    config.admission = dialbridge::sip::admission::AdmissionConfig {
        max_calls: args.max_calls,
        max_rate: f64::from(args.max_call_rate),
        cluster_max_calls: args.cluster_max_calls,
        cluster_max_rate: f64::from(args.cluster_max_call_rate),
    };
    config.trusted_networks =
        (!args.trusted_networks.is_empty()).then(|| args.trusted_networks.clone());
    config.untrusted = args.untrusted;
    config.tcp = dialbridge::config::TcpLimits {
        max_connections: args.max_tcp_connections as usize,
        max_per_source: args.max_tcp_per_source as usize,
        idle_timeout: Duration::from_secs(args.tcp_idle_timeout),
        message_timeout: Duration::from_secs(args.tcp_message_timeout),
    };
    config.sip_tls_listen = args.sip_tls_listen;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(dialbridge::config::TlsFiles {
            cert,
            key,
            client_ca: args.tls_client_ca,
        });
    }
    config.sip_domain = args.sip_domain;
    config.srtp = args.srtp;
    config.srtp_over_cleartext_sip = args.srtp_over_cleartext_sip;
    config.cdr_file = (!args.no_cdr).then(|| args.cdr_file.clone());
    config.public_address = args.public_address;
    config.register_ca = args.register_ca.clone();
    config.drain_timeout = Duration::from_secs(args.drain_timeout);
    config.node_name = args.node_name;
    config.cluster_advertise = args.cluster_advertise;
    config.cluster_secret_file = args.cluster_secret_file;
    config.registrations = args
        .register
        .iter()
        .map(|aor| dialbridge::config::RegisterAccount {
            aor: aor.clone(),
            auth_user: args.register_auth_user.clone(),
            password_file: args.register_password_file.clone(),
            expires: args.register_expires,
        })
        .chain(args.register_table.iter().cloned())
        .collect();
    config.webhooks = dialbridge::config::WebhookSettings {
        urls: args.webhook_url.clone(),
        secret_file: args.webhook_secret_file.clone(),
        ca_file: args.webhook_ca_file.clone(),
        max_age: Duration::from_secs(args.webhook_max_age),
        retry_after: Duration::from_secs(args.webhook_retry_after),
    };
    config.guessing = dialbridge::auth::guessing::GuessLimits {
        per_caller: args.id_guesses_per_caller,
        per_source: args.id_guesses_per_source,
        window: Duration::from_secs(args.id_guess_window),
    };
    dialbridge::runtime::serve::run(config, |_| {})
        .await
        .map_err(|e| port_error(e, "serve"))?;
    Ok(())
}

/// `--node-name`: checked as the cluster module wants it.
fn parse_node_name(s: &str) -> Result<String, String> {
    dialbridge::cluster::parse_node_name(s).map_err(|e| e.to_string())
}

fn rtp_sockets(v: &str) -> Result<dialbridge::config::RtpSockets, String> {
    match v {
        "per-call" => Ok(dialbridge::config::RtpSockets::PerCall),
        "per-thread" => Ok(dialbridge::config::RtpSockets::PerThread),
        _ => Err(format!("expected per-call or per-thread, got {v:?}")),
    }
}

fn rtp_send(v: &str) -> Result<dialbridge::config::RtpSend, String> {
    match v {
        "sendto" => Ok(dialbridge::config::RtpSend::SendTo),
        "io-uring" => Ok(dialbridge::config::RtpSend::IoUring),
        _ => Err(format!("expected sendto or io-uring, got {v:?}")),
    }
}
