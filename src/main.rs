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
mod demo_cli;
mod meetings_cli;
mod serve_cli;

use demo_cli::{DemoArgs, demo};
use serve_cli::{ServeArgs, serve};

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
    // One worker: SIP and media have threads of their own, and what runs here (the directory's
    // side of calls, the HTTP API, webhooks) is light and never blocks; a second worker cost
    // more in wake-ups than it gave (an IVR call: 303 against 285 µs of bridge CPU, README).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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
