//! The `dialbridge` command: run the bridge, manage organizers and settings, or start a demo.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use dialbridge::admin::service::{AdminService, MailOutcome};
use dialbridge::config::{PortRange, ServeConfig};
use dialbridge::directory::{Actor, Directory, NewOrganizer, Organizer, OrganizerUpdate};
use dialbridge::notify::{DialIn, MailConfig, Mailer, SmtpConfig, SmtpSecurity};

mod cluster_cli;
mod meetings_cli;

/// A self-hosted SIP/RTP dial-in meeting bridge.
#[derive(Parser, Debug)]
#[command(name = "dialbridge", version, about)]
struct Cli {
    /// Directory for the database, key files and the e-mail outbox.
    #[arg(
        long,
        global = true,
        default_value = "dialbridge-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Keep the directory (organizers, PIN tags, settings, lockouts, audit log) in this
    /// PostgreSQL database instead of SQLite in the data directory, e.g.
    /// postgres://dialbridge@db.example.org:5432/dialbridge. The PIN key, outbox and admin
    /// token stay in the data directory.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<dialbridge::store::DatabaseUrl>,
    /// Log filter (e.g. info, debug, dialbridge=trace); RUST_LOG wins if set. Default: info
    /// for `serve` and `demo`, warn for the other commands.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    /// Log lines as `text` or as one JSON object per line (`json`, for log shippers).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Read settings from this TOML file: its keys are the long flags (`sip_listen =
    /// "0.0.0.0:5060"`, `trusted_networks = ["10.0.0.0/8"]`); flags given here win.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    mail: MailArgs,
    #[command(subcommand)]
    command: Command,
}

/// How PIN e-mails are sent (every command that changes PINs sends them).
#[derive(Args, Debug)]
struct MailArgs {
    /// SMTP relay host; without it e-mails are written to DATA_DIR/outbox/ as .eml files.
    #[arg(long, global = true, value_name = "HOST")]
    smtp_host: Option<String>,
    /// SMTP port (default by security: 25, 587 for starttls, 465 for tls).
    #[arg(long, global = true, value_name = "PORT")]
    smtp_port: Option<u16>,
    /// SMTP transport security.
    #[arg(long, global = true, value_enum, default_value = "starttls")]
    smtp_security: SecurityArg,
    /// SMTP login name.
    #[arg(long, global = true, value_name = "USER")]
    smtp_user: Option<String>,
    /// File holding the SMTP password (kept out of the process list).
    #[arg(long, global = true, value_name = "FILE")]
    smtp_password_file: Option<PathBuf>,
    /// Sender of PIN e-mails.
    #[arg(
        long,
        global = true,
        value_name = "MAILBOX",
        default_value = "dialbridge <dialbridge@localhost>"
    )]
    mail_from: String,
    /// A phone number or SIP URI to dial, for the instructions in e-mails (repeatable).
    #[arg(long, global = true, value_name = "NUMBER")]
    dial_in: Vec<String>,
    /// Base URL of the web pages as organizers reach them (for self-service links).
    #[arg(long, global = true, value_name = "URL")]
    public_url: Option<String>,
    /// An admin address told when an organizer's PIN locks until reset (repeatable).
    #[arg(long, global = true, value_name = "ADDR")]
    admin_email: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LobbyAdmitArg {
    Auto,
    Organizer,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SecurityArg {
    None,
    Starttls,
    Tls,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bridge until SIGINT/SIGTERM.
    Serve(Box<ServeArgs>),
    /// Manage organizers (people who start meetings with a PIN).
    #[command(subcommand)]
    Organizer(OrganizerCommand),
    /// Show or change organization-wide settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Show the newest audit log entries.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// See and steer the running bridge's meetings and lobbies (through its admin API).
    Meetings(meetings_cli::MeetingsArgs),
    /// The nodes sharing a PostgreSQL directory (`--database-url`).
    #[command(subcommand)]
    Cluster(cluster_cli::ClusterCommand),
    /// Run the bridge on 127.0.0.1 with a demo organizer, and print how to call it.
    Demo(DemoArgs),
    /// Copy the database (consistent, safe while the bridge runs) to FILE and the PIN key
    /// to FILE.key; never overwrites a file.
    Backup {
        /// Where to write the database copy (must not exist yet).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Copy the database only; keep DATA_DIR/pin.key safe yourself (FILE alone cannot
        /// check any PIN).
        #[arg(long)]
        no_key: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
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

#[derive(Subcommand, Debug)]
enum OrganizerCommand {
    /// Create an organizer; an enabled one gets a PIN, printed only this once and e-mailed.
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Send PIN e-mails here instead of --email.
        #[arg(long)]
        email_override: Option<String>,
        /// Create it disabled (no PIN yet).
        #[arg(long)]
        disabled: bool,
        /// Callers may start this organizer's meetings without the PIN.
        #[arg(long, alias = "start-without-pin")]
        callers_can_start: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List organizers (PINs are shown as *****).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one organizer.
    Show {
        /// The organizer's id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change name, e-mail, override address or the start rule.
    #[command(alias = "update")]
    Set {
        /// The organizer's id.
        id: i64,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// New override address ("" removes it).
        #[arg(long)]
        email_override: Option<String>,
        /// Callers may start meetings without the PIN (on|off).
        #[arg(long, alias = "start-without-pin", value_name = "on|off", value_parser = on_off)]
        callers_can_start: Option<bool>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Enable for audio conferencing: a new PIN, printed only this once and e-mailed.
    Enable {
        /// The organizer's id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Disable: the conference ID and PIN stop working at once.
    Disable {
        /// The organizer's id.
        id: i64,
    },
    /// Delete an organizer.
    Delete {
        /// The organizer's id.
        id: i64,
    },
    /// A new PIN, printed only this once and e-mailed; the old one stops working.
    ResetPin {
        /// The organizer's id.
        id: i64,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A new conference ID; the old one stops working; the organizer is e-mailed.
    ResetConferenceId {
        /// The organizer's id.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Reads a switch the way operators write it: on/off (true/false and yes/no also work).
fn on_off(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("expected on or off, got {v:?}")),
    }
}

fn on_off_text(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

#[derive(Subcommand, Debug)]
enum SettingsCommand {
    /// Print the settings.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change settings; a bad value changes nothing.
    Set {
        /// Digits in newly generated PINs (4-12).
        #[arg(long)]
        pin_length: Option<u8>,
        /// Send PIN e-mails automatically on enable and reset (on|off).
        #[arg(long, alias = "auto-email", value_name = "on|off", value_parser = on_off)]
        pin_emails: Option<bool>,
        /// Anonymous callers can start meetings (on|off).
        #[arg(long, value_name = "on|off", value_parser = on_off)]
        anonymous_start: Option<bool>,
    },
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// SIP listen address, UDP and TCP (loopback by default); another port here if 5060 is
    /// taken. The lines the demo prints follow it.
    #[arg(long, default_value = "127.0.0.1:5060", value_name = "IP:PORT")]
    sip_listen: SocketAddr,
    /// Admin web pages, API and /metrics; another port here if 8080 is taken.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    http_listen: SocketAddr,
    /// RTP port range.
    #[arg(long, default_value = "20000-21999", value_name = "LOW-HIGH")]
    rtp_ports: PortRange,
}

/// A failure of a command, printed as one line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Directory(#[from] dialbridge::directory::DirectoryError),
    #[error(transparent)]
    Admin(#[from] dialbridge::admin::service::AdminError),
    #[error(transparent)]
    Serve(#[from] dialbridge::runtime::serve::ServeError),
    #[error(transparent)]
    Mail(#[from] dialbridge::notify::NotifyError),
    #[error(transparent)]
    Backup(#[from] dialbridge::backup::BackupError),
    #[error(transparent)]
    Meetings(#[from] meetings_cli::MeetingsError),
    #[error(transparent)]
    Cluster(#[from] cluster_cli::ClusterCliError),
    #[error("cannot read the SMTP password file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
    #[error(
        "{source}; pick another port with {flag} IP:PORT (e.g. dialbridge {command} {flag} {example})"
    )]
    Port {
        source: Box<dialbridge::runtime::serve::ServeError>,
        flag: &'static str,
        command: &'static str,
        example: SocketAddr,
    },
    #[error(
        "`dialbridge {command}` works on the embedded SQLite directory only, not with --database-url: {hint}"
    )]
    SqliteOnly {
        command: &'static str,
        hint: &'static str,
    },
    #[error("cannot write the demo's files in {path}: {source}")]
    DemoFiles {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A port the bridge cannot listen on, with the flag that picks another one; other errors
/// as they are.
fn port_error(err: dialbridge::runtime::serve::ServeError, command: &'static str) -> CliError {
    use dialbridge::runtime::serve::ServeError;
    let (flag, addr) = match &err {
        ServeError::SipListen { addr, .. } | ServeError::SipTcpListen { addr, .. } => {
            ("--sip-listen", *addr)
        }
        ServeError::HttpListen { addr, .. } => ("--http-listen", *addr),
        ServeError::SipTlsListen { addr, .. } => ("--sip-tls-listen", *addr),
        _ => return CliError::Serve(err),
    };
    let mut example = addr;
    example.set_port(addr.port().wrapping_add(2).max(1024));
    CliError::Port {
        source: Box::new(err),
        flag,
        command,
        example,
    }
}

/// The command line, with `--config FILE`'s settings filled in where no flag was given.
fn parse_command_line() -> Result<Cli, String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some(path) = dialbridge::config_file::config_path(&args) else {
        return Ok(Cli::parse_from(args));
    };
    let text = std::fs::read_to_string(&path).map_err(|source| {
        dialbridge::config_file::ConfigFileError::Read {
            path: path.clone(),
            source,
        }
        .to_string()
    })?;
    let command = Cli::command();
    let matches = command.clone().get_matches_from(args.clone());
    let merged = dialbridge::config_file::merge(&path, &text, &command, &matches, args)
        .map_err(|e| e.to_string())?;
    let matches = command
        .try_get_matches_from(merged)
        .unwrap_or_else(|e| e.exit());
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // Everything the bridge creates (database, WAL, keys, outbox, backups) is owner-only
    // from its first byte, including files whose mode a library chooses (SQLite's).
    // SAFETY: umask(2) only sets this process's file creation mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let cli = match parse_command_line() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "dialbridge: error: {err}");
            return ExitCode::from(2);
        }
    };
    let default_level = match cli.command {
        Command::Serve(_) | Command::Demo(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or(default_level))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "dialbridge: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async move {
        let mail = mail_config(&cli.mail)?;
        let db = cli.database_url.as_ref();
        match cli.command {
            Command::Serve(args) => serve(cli.data_dir, db, mail, &cli.mail, *args).await,
            Command::Demo(args) => {
                if db.is_some() {
                    return Err(CliError::SqliteOnly {
                        command: "demo",
                        hint: "the demo always keeps its own SQLite directory; run it without --database-url",
                    });
                }
                demo(cli.data_dir, mail, &cli.mail, args).await
            }
            Command::Organizer(cmd) => {
                with_service(&cli.data_dir, db, mail, &cli.mail, |s| organizer(s, cmd)).await
            }
            Command::Settings(cmd) => {
                with_service(&cli.data_dir, db, mail, &cli.mail, |s| settings(s, cmd)).await
            }
            Command::Audit { limit, json } => {
                with_service(&cli.data_dir, db, mail, &cli.mail, |s| {
                    audit(s, limit, json)
                })
                .await
            }
            Command::Backup { file, no_key, json } => {
                if db.is_some() {
                    return Err(CliError::SqliteOnly {
                        command: "backup",
                        hint: "back a PostgreSQL directory up with pg_dump, and keep a copy of DATA_DIR/pin.key apart from it",
                    });
                }
                backup(&cli.data_dir, &file, !no_key, json).await
            }
            Command::Cluster(command) => cluster_cli::run(db, command, &mut out())
                .await
                .map_err(CliError::from),
            Command::Meetings(args) => {
                let data_dir = cli.data_dir;
                tokio::task::spawn_blocking(move || meetings_cli::run(&data_dir, args))
                    .await
                    .map_err(|e| CliError::Output(std::io::Error::other(e)))?
                    .map_err(CliError::from)
            }
        }
    })
}

fn mail_config(args: &MailArgs) -> Result<MailConfig, CliError> {
    let password = match &args.smtp_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| CliError::PasswordFile {
                    path: path.clone(),
                    source,
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        None => None,
    };
    let smtp = args.smtp_host.as_ref().map(|host| SmtpConfig {
        host: host.clone(),
        port: args.smtp_port,
        security: match args.smtp_security {
            SecurityArg::None => SmtpSecurity::None,
            SecurityArg::Starttls => SmtpSecurity::StartTls,
            SecurityArg::Tls => SmtpSecurity::Tls,
        },
        username: args.smtp_user.clone(),
        password,
    });
    Ok(MailConfig {
        from: args.mail_from.clone(),
        smtp,
    })
}

/// How long a command waits for the audit entries of its last e-mails.
const MAIL_AUDIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a management command with the same service the admin API uses, then flushes mail.
async fn with_service<F, Fut>(
    data_dir: &std::path::Path,
    database_url: Option<&dialbridge::store::DatabaseUrl>,
    mail: MailConfig,
    args: &MailArgs,
    f: F,
) -> Result<(), CliError>
where
    F: FnOnce(AdminService) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let directory = Directory::open_at(data_dir, database_url).await?;
    let mailer = match Mailer::start(mail, data_dir) {
        Ok(m) => m,
        Err(e) => {
            directory.close().await;
            return Err(e.into());
        }
    };
    let mail_audit = dialbridge::runtime::serve::audit_mail_events(&mailer, directory.clone());
    let dial_in = DialIn {
        numbers: args.dial_in.clone(),
        instructions: String::new(),
    };
    let public_url = args.public_url.clone().unwrap_or_default();
    let service = AdminService::new(
        directory.clone(),
        mailer.clone(),
        None,
        dial_in,
        &public_url,
    );
    let result = f(service).await;
    mailer.shutdown().await;
    // The last "mail sent" entries are written after the mailer stops (over the network
    // with PostgreSQL): let them land before the directory closes.
    drop(mailer);
    if tokio::time::timeout(MAIL_AUDIT_GRACE, mail_audit)
        .await
        .is_err()
    {
        tracing::warn!("the audit log of the last e-mails was not written in time");
    }
    directory.close().await;
    result
}

fn out() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

fn print(text: &str) -> Result<(), CliError> {
    writeln!(out(), "{text}").map_err(CliError::Output)
}

fn organizer_line(o: &Organizer) -> String {
    format!(
        "{:>4}  {:<9}  {:<8}  PIN {:<5}  {} <{}>{}",
        o.id,
        o.conference_id,
        if o.enabled { "enabled" } else { "disabled" },
        o.pin.unwrap_or("none"),
        o.name,
        o.email,
        o.email_override
            .as_deref()
            .map(|e| format!(" (PIN mails to {e})"))
            .unwrap_or_default()
    )
}

fn mail_line(mail: &MailOutcome) -> String {
    match mail {
        MailOutcome::Queued { to, .. } => format!("E-mailed to {to}."),
        MailOutcome::AutoEmailOff => "Automatic e-mails are off: pass it on yourself.".into(),
        MailOutcome::None => String::new(),
    }
}

fn cli_actor() -> Actor {
    Actor::cli()
}

async fn organizer(service: AdminService, cmd: OrganizerCommand) -> Result<(), CliError> {
    let actor = cli_actor();
    match cmd {
        OrganizerCommand::Add {
            name,
            email,
            email_override,
            disabled,
            callers_can_start: start_without_pin,
            json,
        } => {
            let new = NewOrganizer {
                name,
                email,
                email_override,
                enabled: !disabled,
                start_without_pin,
            };
            let (org, pin, mail) = service.create(&actor, &new).await?;
            if json {
                let mut v = serde_json::to_value(&org).unwrap_or_default();
                v["pin"] = serde_json::json!(pin.as_ref().map(|p| p.as_digits()));
                v["email_delivery"] = serde_json::to_value(&mail).unwrap_or_default();
                print(&v.to_string())
            } else {
                let pin_text = match &pin {
                    Some(p) => format!(
                        "PIN: {}  (shown only this once) {}",
                        p.as_digits(),
                        mail_line(&mail)
                    ),
                    None => "No PIN yet: enable the organizer to give them one.".into(),
                };
                print(&format!(
                    "Organizer {} created: {} <{}>\nConference ID: {}\n{pin_text}",
                    org.id, org.name, org.email, org.conference_id
                ))
            }
        }
        OrganizerCommand::List { json } => {
            let all = service.organizers().await?;
            if json {
                print(&serde_json::to_string(&all).unwrap_or_else(|_| "[]".into()))
            } else {
                all.iter().try_for_each(|o| print(&organizer_line(o)))
            }
        }
        OrganizerCommand::Show { id, json } => {
            let org = service.organizer(id).await?;
            if json {
                print(&serde_json::to_string(&org).unwrap_or_default())
            } else {
                print(&organizer_line(&org))
            }
        }
        OrganizerCommand::Set {
            id,
            name,
            email,
            email_override,
            callers_can_start: start_without_pin,
            json,
        } => {
            let update = OrganizerUpdate {
                name,
                email,
                email_override: email_override.map(|e| (!e.trim().is_empty()).then_some(e)),
                start_without_pin,
            };
            let org = service.update(&actor, id, &update).await?;
            if json {
                print(&serde_json::to_string(&org).unwrap_or_default())
            } else {
                print(&organizer_line(&org))
            }
        }
        OrganizerCommand::Enable { id, json } => {
            let (org, pin, mail) = service.enable(&actor, id).await?;
            if json {
                print(&serde_json::json!({"id": org.id, "conference_id": org.conference_id, "pin": pin.as_digits(), "email_delivery": mail}).to_string())
            } else {
                print(&format!(
                    "Organizer {id} enabled. PIN: {}  (shown only this once) {}",
                    pin.as_digits(),
                    mail_line(&mail)
                ))
            }
        }
        OrganizerCommand::Disable { id } => {
            service.disable(&actor, id).await?;
            print(&format!(
                "Organizer {id} disabled: their conference ID and PIN no longer work."
            ))
        }
        OrganizerCommand::Delete { id } => {
            service.delete(&actor, id).await?;
            print(&format!("Organizer {id} deleted."))
        }
        OrganizerCommand::ResetPin { id, json } => {
            let (_, pin, mail) = service.reset_pin(&actor, id).await?;
            if json {
                print(
                    &serde_json::json!({"id": id, "pin": pin.as_digits(), "email_delivery": mail})
                        .to_string(),
                )
            } else {
                print(&format!(
                    "New PIN for organizer {id}: {}  (shown only this once) {}",
                    pin.as_digits(),
                    mail_line(&mail)
                ))
            }
        }
        OrganizerCommand::ResetConferenceId { id, json } => {
            let (org, mail) = service.reset_conference_id(&actor, id).await?;
            if json {
                print(&serde_json::json!({"id": id, "conference_id": org.conference_id, "email_delivery": mail}).to_string())
            } else {
                print(&format!(
                    "New conference ID for organizer {id}: {} {}",
                    org.conference_id,
                    mail_line(&mail)
                ))
            }
        }
    }
}

async fn settings(service: AdminService, cmd: SettingsCommand) -> Result<(), CliError> {
    let s = match cmd {
        SettingsCommand::Show { json: true } => {
            return print(&serde_json::to_string(&service.settings().await?).unwrap_or_default());
        }
        SettingsCommand::Show { json: false } => service.settings().await?,
        SettingsCommand::Set {
            pin_length,
            pin_emails: auto_email,
            anonymous_start,
        } => {
            service
                .update_settings(&cli_actor(), pin_length, auto_email, anonymous_start)
                .await?
        }
    };
    print(&format!(
        "pin_length = {}\npin_emails = {}\nanonymous_start = {}",
        s.pin_length,
        on_off_text(s.auto_email),
        on_off_text(s.anonymous_start)
    ))
}

async fn audit(service: AdminService, limit: u32, json: bool) -> Result<(), CliError> {
    let entries = service.audit_log(limit).await?;
    for e in entries {
        let line = if json {
            serde_json::json!({"id": e.id, "at": e.at, "actor": e.actor, "source": e.source, "action": e.action, "organizer_id": e.organizer_id, "detail": e.detail}).to_string()
        } else {
            format!(
                "{}  {:<20} {:<22} {:<22} {:>5}  {}",
                e.at,
                e.actor,
                e.source,
                e.action,
                e.organizer_id.map(|i| i.to_string()).unwrap_or_default(),
                e.detail
            )
        };
        print(&line)?;
    }
    Ok(())
}

async fn backup(
    data_dir: &std::path::Path,
    file: &std::path::Path,
    with_key: bool,
    json: bool,
) -> Result<(), CliError> {
    let done = dialbridge::backup::backup(data_dir, file, with_key).await?;
    let copy = &done.copy;
    if json {
        return print(
            &serde_json::json!({
                "database": done.database,
                "bytes": copy.bytes,
                "organizers": copy.organizers,
                "audit_entries": copy.audit_entries,
                "key": done.key,
                "live_key": done.live_key,
            })
            .to_string(),
        );
    }
    let db = done.database.display();
    let key_line = match &done.key {
        Some(key) => format!(
            "  {}  the PIN key: keep it with {db}, and both as secret as the data directory\n\
             \x20 (the database alone cannot check any PIN; with its key, PINs can be brute-forced)",
            key.display()
        ),
        None => format!(
            "  PIN key NOT copied (--no-key): {db} alone cannot check any PIN. Keep a copy of\n\
             \x20 {} (it never changes) somewhere safe, apart from {db}.",
            done.live_key.display()
        ),
    };
    print(&format!(
        "Backed up {} ({} organizers, {} audit entries), consistent and integrity-checked:\n\
         \x20 {db}  the database, {} bytes\n\
         {key_line}\n\
         To restore: stop the bridge; copy {db} to DATA_DIR/{} and the key to DATA_DIR/{}\n\
         (owner-only, chmod 600); delete any {}-wal and -shm files there; start the bridge.",
        data_dir.display(),
        copy.organizers,
        copy.audit_entries,
        copy.bytes,
        dialbridge::store::DATABASE_FILE,
        dialbridge::directory::PIN_KEY_FILE,
        dialbridge::store::DATABASE_FILE,
    ))
}

fn serve_config(data_dir: PathBuf, mail: MailConfig, args: &MailArgs) -> ServeConfig {
    let mut config = ServeConfig::new(data_dir);
    config.mail = mail;
    config.dial_in = args.dial_in.clone();
    config.public_url = args.public_url.clone();
    config.admin_emails = args.admin_email.clone();
    config
}

async fn serve(
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

const DEMO_EMAIL: &str = "demo-organizer@dialbridge.invalid";

/// What the demo's SIPp lines need from `sip-test-scenarios/`.
const DEMO_SCENARIO_FILES: &[&str] = &[
    "attendee_rfc4733.xml",
    "organizer_rfc4733.xml",
    "caller-tone.ulaw",
];

/// The `sip-test-scenarios/` directory, as an absolute path: under the working directory,
/// the checkout the binary was built in (`target/*/dialbridge` lies in it), or the source
/// directory it was compiled from. None when none of them has the scenarios (an installed
/// binary whose source is gone).
fn find_scenarios() -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    roots.extend(std::env::current_dir().ok());
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(std::path::Path::to_path_buf));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
        .into_iter()
        .map(|root| root.join("sip-test-scenarios"))
        .find(|dir| DEMO_SCENARIO_FILES.iter().all(|f| dir.join(f).is_file()))
        .and_then(|dir| dir.canonicalize().ok())
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A 16-bit mono 8 kHz WAV header for `samples` samples.
fn wav_header(samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes()); // bytes per second
    h.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

/// How long the demo's headless baresip talks (its microphone is a silent WAV, and baresip
/// hangs up when the file ends).
const DEMO_SILENCE_MINUTES: u32 = 10;

/// The files the demo's printed lines use, written into DATA_DIR/demo/.
struct DemoFiles {
    attendee_csv: PathBuf,
    organizer_csv: PathBuf,
    baresip_dir: PathBuf,
    /// Where baresip records what it hears and sends, when there is no sound card.
    recordings: Option<PathBuf>,
}

fn write_demo_files(
    data_dir: &std::path::Path,
    conference_id: &str,
    pin: &str,
    phone_ip: IpAddr,
) -> Result<DemoFiles, CliError> {
    let dir = data_dir.join("demo");
    let baresip_dir = dir.join("baresip");
    let fail = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| CliError::DemoFiles { path, source }
    };
    std::fs::create_dir_all(&baresip_dir).map_err(fail(&baresip_dir))?;
    let attendee_csv = dir.join("attendee.csv");
    let organizer_csv = dir.join("organizer.csv");
    std::fs::write(&attendee_csv, format!("SEQUENTIAL\n{conference_id};\n"))
        .map_err(fail(&attendee_csv))?;
    std::fs::write(
        &organizer_csv,
        format!("SEQUENTIAL\n{conference_id};{pin};\n"),
    )
    .map_err(fail(&organizer_csv))?;
    // A sound card: baresip talks and listens through it. Without one (a server, a
    // container) a silent WAV is its microphone and what it hears is recorded.
    let sound_card = std::path::Path::new("/dev/snd").exists();
    let (audio, recordings) = if sound_card {
        (
            "module g722.so\nmodule g711.so\nmodule alsa.so\n\
             audio_player alsa,default\naudio_source alsa,default\naudio_alert alsa,default\n"
                .to_string(),
            None,
        )
    } else {
        let silence = baresip_dir.join("silence.wav");
        let samples = DEMO_SILENCE_MINUTES * 60 * 8000;
        let wanted = 44 + u64::from(samples) * 2;
        if std::fs::metadata(&silence).map(|m| m.len()).ok() != Some(wanted) {
            let mut file = std::fs::File::create(&silence).map_err(fail(&silence))?;
            file.write_all(&wav_header(samples))
                .and_then(|()| {
                    std::io::copy(
                        &mut std::io::Read::take(std::io::repeat(0), u64::from(samples) * 2),
                        &mut file,
                    )
                })
                .map_err(fail(&silence))?;
        }
        let recordings = baresip_dir.join("recordings");
        std::fs::create_dir_all(&recordings).map_err(fail(&recordings))?;
        (
            format!(
                "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\naudio_source aufile,{}\n\
                 snd_path {}\n",
                silence.display(),
                recordings.display()
            ),
            Some(recordings),
        )
    };
    let config = format!(
        "# Written by `dialbridge demo`: a baresip that calls the demo bridge.\n\
         sip_listen {listen}\n\
         net_interface {phone_ip}\n\
         module_path /usr/lib/baresip/modules\n\
         module stdio.so\n\
         {audio}\
         module_app account.so\n\
         module_app menu.so\n",
        listen = SocketAddr::new(phone_ip, 0),
    );
    let config_path = baresip_dir.join("config");
    std::fs::write(&config_path, config).map_err(fail(&config_path))?;
    let accounts = baresip_dir.join("accounts");
    let host = match phone_ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    std::fs::write(&accounts, format!("<sip:demo@{host}>;regint=0\n")).map_err(fail(&accounts))?;
    Ok(DemoFiles {
        attendee_csv,
        organizer_csv,
        baresip_dir,
        recordings,
    })
}

/// The address a caller on this machine dials for a bridge bound to `bound`.
fn dial_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The banner: where the demo listens, its conference ID and PIN, and command lines that
/// call it, each working as printed from any directory.
fn demo_banner(
    sip: SocketAddr,
    http: SocketAddr,
    conf: &str,
    pin: &str,
    token: &std::path::Path,
    scenarios: Option<&std::path::Path>,
    files: &DemoFiles,
) -> String {
    let dial = dial_address(sip);
    let ip = dial.ip();
    let web = dial_address(http);
    let mut text = format!(
        "\n\
         dialbridge demo\n\
         ===============\n\
         SIP:            sip:bridge@{dial}  (UDP and TCP)\n\
         Conference ID:  {conf}\n\
         Organizer PIN:  {pin}  (a new one at every demo start)\n\
         Admin pages:    http://{web}/admin  (sign in with the token in {token})\n\
         \n\
         Callers press:  {conf}#  then  #  (attendee: you wait in the lobby with hold music)\n\
         Organizer:      {conf}#  then  *  then  {pin}#  (starts the meeting; the lobby joins)\n\
         \n",
        token = token.display(),
    );
    let csv = |p: &std::path::Path| shell_word(&p.display().to_string());
    match scenarios.and_then(|s| s.parent().map(|root| (s, root))) {
        Some((_, root)) => {
            // The scenarios stream sip-test-scenarios/caller-tone.ulaw, a path SIPp opens
            // from its working directory: each line runs SIPp from the scenarios' parent.
            let root = shell_word(&root.display().to_string());
            text.push_str(&format!(
                "With SIPp (run it as root: it sends RFC 4733 digits through a raw socket; Debian package\n\
                 sip-tester). Each line works as it is, from any directory. An attendee, who waits 20 s\n\
                 in the lobby:\n\
                 \x20 (cd {root} && sipp {dial} -sf sip-test-scenarios/attendee_rfc4733.xml -inf {att} -m 1 -l 1 -i {ip} -mi {ip} -p 5070 -mp 6000 -d 20000)\n\
                 then, within those 20 s, the organizer, whose PIN starts the meeting and moves the attendee in:\n\
                 \x20 (cd {root} && sipp {dial} -sf sip-test-scenarios/organizer_rfc4733.xml -inf {org} -m 1 -l 1 -i {ip} -mi {ip} -p 5072 -mp 6100 -d 10000)\n",
                att = csv(&files.attendee_csv),
                org = csv(&files.organizer_csv),
            ));
        }
        None => text.push_str(
            "With SIPp: its scenarios were not found (they come with the source, in\n\
             sip-test-scenarios/; run the demo from a checkout: cargo run --release -- demo).\n",
        ),
    }
    let sound = match &files.recordings {
        None => "It talks and listens through the sound card.".to_string(),
        Some(dir) => format!(
            "No sound card here: its microphone is silent for {DEMO_SILENCE_MINUTES} minutes, and\n\
             what it hears is recorded in {}.",
            dir.display()
        ),
    };
    text.push_str(&format!(
        "With baresip (Debian package baresip-core), from any directory; once it answers, type the\n\
         keys above on its console (q quits). {sound}\n\
         \x20 baresip -f {dir} -e \"/dial sip:bridge@{dial}\"\n\
         With any other softphone: dial sip:bridge@{dial} (no registration), then type the keys above.\n\
         \n\
         SIP or HTTP port taken? dialbridge demo --sip-listen {ip}:PORT --http-listen {ip}:PORT\n\
         (and these lines follow). Press Ctrl-C to stop.\n",
        dir = shell_word(&files.baresip_dir.display().to_string()),
    ));
    text
}

async fn demo(
    data_dir: PathBuf,
    mail: MailConfig,
    mail_args: &MailArgs,
    args: DemoArgs,
) -> Result<(), CliError> {
    let directory = Directory::open(&data_dir).await?;
    let existing = directory
        .organizers()
        .await?
        .into_iter()
        .find(|o| o.email == DEMO_EMAIL);
    let actor = cli_actor();
    let (org, pin) = match existing {
        Some(org) => {
            let pin = directory.reset_pin(&actor, org.id).await?;
            if !org.enabled {
                directory
                    .set_organizer_enabled(&actor, org.id, true)
                    .await?;
            }
            (org, pin)
        }
        None => {
            directory
                .add_organizer(&actor, "Demo Organizer", DEMO_EMAIL)
                .await?
        }
    };
    directory.close().await;
    // The printed lines name files by absolute path, so they work from any directory.
    let absolute = data_dir.canonicalize().unwrap_or_else(|_| data_dir.clone());
    let files = write_demo_files(
        &absolute,
        &org.conference_id,
        pin.as_digits(),
        dial_address(args.sip_listen).ip(),
    )?;
    let scenarios = find_scenarios();
    let token_path = absolute.join(dialbridge::admin::auth::ADMIN_TOKEN_FILE);
    let mut config = serve_config(data_dir, mail, mail_args);
    config.sip_listen = args.sip_listen;
    config.rtp_ports = args.rtp_ports;
    config.http_listen = Some(args.http_listen);
    let conf = org.conference_id.clone();
    // Printed once the ports are bound: the lines name the ports it really listens on.
    let on_ready = |bound: &dialbridge::runtime::serve::Bound| {
        let text = demo_banner(
            bound.sip,
            bound.http.unwrap_or(args.http_listen),
            &conf,
            pin.as_digits(),
            &token_path,
            scenarios.as_deref(),
            &files,
        );
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    };
    dialbridge::runtime::serve::run(config, on_ready)
        .await
        .map_err(|e| port_error(e, "demo"))?;
    Ok(())
}

/// `--node-name`: checked as the cluster module wants it.
fn parse_node_name(s: &str) -> Result<String, String> {
    dialbridge::cluster::parse_node_name(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> DemoFiles {
        DemoFiles {
            attendee_csv: "/data dir/demo/attendee.csv".into(),
            organizer_csv: "/data dir/demo/organizer.csv".into(),
            baresip_dir: "/data dir/demo/baresip".into(),
            recordings: None,
        }
    }

    #[test]
    fn banner_lines_name_the_bound_ports_and_quote_paths() {
        let sip: SocketAddr = "0.0.0.0:5062".parse().unwrap();
        let http: SocketAddr = "127.0.0.1:8082".parse().unwrap();
        let scenarios = PathBuf::from("/src tree/sip-test-scenarios");
        let text = demo_banner(
            sip,
            http,
            "123456789",
            "12345",
            std::path::Path::new("/d/admin-token"),
            Some(&scenarios),
            &files(),
        );
        assert!(text.contains(
            "  (cd '/src tree' && sipp 127.0.0.1:5062 -sf sip-test-scenarios/attendee_rfc4733.xml \
             -inf '/data dir/demo/attendee.csv' "
        ));
        assert!(text.contains("-inf '/data dir/demo/organizer.csv' "));
        assert!(text.contains(
            "  baresip -f '/data dir/demo/baresip' -e \"/dial sip:bridge@127.0.0.1:5062\""
        ));
        assert!(text.contains("http://127.0.0.1:8082/admin"));
        assert!(!text.contains("5060") && !text.contains("8080"));
    }

    #[test]
    fn without_the_scenarios_the_banner_says_so_instead_of_printing_a_broken_line() {
        let addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let text = demo_banner(
            addr,
            addr,
            "123456789",
            "12345",
            std::path::Path::new("/d/admin-token"),
            None,
            &files(),
        );
        assert!(text.contains("its scenarios were not found"));
        assert!(!text.contains("sipp "));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(shell_word("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
