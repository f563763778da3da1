//! The `dialbridge` command: run the bridge, manage organizers, or start a demo.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dialbridge::config::{PortRange, ServeConfig};
use dialbridge::directory::{Directory, Organizer};

/// A self-hosted SIP/RTP dial-in meeting bridge.
#[derive(Parser, Debug)]
#[command(name = "dialbridge", version, about)]
struct Cli {
    /// Directory for the database and key files.
    #[arg(
        long,
        global = true,
        default_value = "dialbridge-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Log filter (e.g. info, debug, dialbridge=trace); RUST_LOG wins if set. Default: info
    /// for `serve` and `demo`, warn for the other commands.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bridge until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Manage organizers (people who start meetings with a PIN).
    #[command(subcommand)]
    Organizer(OrganizerCommand),
    /// Run the bridge on 127.0.0.1 with a demo organizer, and print how to call it.
    Demo(DemoArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// SIP UDP listen address.
    #[arg(long, default_value = "0.0.0.0:5060", value_name = "IP:PORT")]
    sip_listen: SocketAddr,
    /// RTP port range, one even port per call.
    #[arg(long, default_value = "10000-20000", value_name = "LOW-HIGH")]
    rtp_ports: PortRange,
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
    /// SIP timer T1 in milliseconds (RFC 3261 default 500).
    #[arg(long, default_value_t = 500, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=10_000))]
    t1_ms: u64,
}

#[derive(Subcommand, Debug)]
enum OrganizerCommand {
    /// Create an organizer; prints the conference ID and the PIN (shown only this once).
    Add {
        /// Display name.
        #[arg(long)]
        name: String,
        /// E-mail address (PIN e-mails go there).
        #[arg(long)]
        email: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List organizers (PINs are never shown).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give an organizer a new PIN (shown only this once); the old one stops working.
    ResetPin {
        /// The organizer's id.
        id: i64,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// SIP UDP listen address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:5060", value_name = "IP:PORT")]
    sip_listen: SocketAddr,
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
    Serve(#[from] dialbridge::server::ServeError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) | Command::Demo(_) => "info",
        Command::Organizer(_) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or(default_level))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
        match cli.command {
            Command::Serve(args) => serve(cli.data_dir, args).await,
            Command::Organizer(cmd) => organizer(cli.data_dir, cmd).await,
            Command::Demo(args) => demo(cli.data_dir, args).await,
        }
    })
}

async fn serve(data_dir: PathBuf, args: ServeArgs) -> Result<(), CliError> {
    let mut config = ServeConfig::new(data_dir);
    config.sip_listen = args.sip_listen;
    config.rtp_ports = args.rtp_ports;
    config.media_ip = args.media_ip;
    if let Some(n) = args.media_threads {
        config.media_threads = usize::from(n);
    }
    config.answer_delay = Duration::from_millis(args.answer_delay_ms);
    config.assets_dir = args.assets_dir;
    config.rtp_timeout = (args.rtp_timeout > 0).then(|| Duration::from_secs(args.rtp_timeout));
    config.timers.t1 = Duration::from_millis(args.t1_ms);
    config.timers.t2 = config.timers.t2.max(config.timers.t1);
    dialbridge::server::run(config, |_| {}).await?;
    Ok(())
}

fn print_organizer_text(out: &mut impl Write, o: &Organizer) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>4}  {:<9}  {:<8}  {} <{}>",
        o.id,
        o.conference_id,
        if o.enabled { "enabled" } else { "disabled" },
        o.name,
        o.email
    )
}

async fn organizer(data_dir: PathBuf, cmd: OrganizerCommand) -> Result<(), CliError> {
    let directory = Directory::open(&data_dir).await?;
    let mut out = std::io::stdout().lock();
    let result = match cmd {
        OrganizerCommand::Add { name, email, json } => {
            let (org, pin) = directory.add_organizer(&name, &email).await?;
            if json {
                let v = serde_json::json!({
                    "id": org.id,
                    "name": org.name,
                    "email": org.email,
                    "conference_id": org.conference_id,
                    "pin": pin.as_digits(),
                });
                writeln!(out, "{v}")
            } else {
                writeln!(
                    out,
                    "Organizer {} created: {} <{}>\nConference ID: {}\nPIN: {}  (shown only this once)",
                    org.id,
                    org.name,
                    org.email,
                    org.conference_id,
                    pin.as_digits()
                )
            }
        }
        OrganizerCommand::List { json } => {
            let all = directory.organizers().await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
                )
            } else {
                all.iter()
                    .try_for_each(|o| print_organizer_text(&mut out, o))
            }
        }
        OrganizerCommand::ResetPin { id, json } => {
            let pin = directory.reset_pin(id).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"id": id, "pin": pin.as_digits()})
                )
            } else {
                writeln!(
                    out,
                    "New PIN for organizer {id}: {}  (shown only this once)",
                    pin.as_digits()
                )
            }
        }
    };
    directory.close().await;
    result.map_err(CliError::Output)
}

const DEMO_EMAIL: &str = "demo-organizer@dialbridge.invalid";

async fn demo(data_dir: PathBuf, args: DemoArgs) -> Result<(), CliError> {
    let directory = Directory::open(&data_dir).await?;
    let existing = directory
        .organizers()
        .await?
        .into_iter()
        .find(|o| o.email == DEMO_EMAIL);
    let (org, pin) = match existing {
        Some(org) => {
            let pin = directory.reset_pin(org.id).await?;
            (org, pin)
        }
        None => {
            directory
                .add_organizer("Demo Organizer", DEMO_EMAIL)
                .await?
        }
    };
    directory.close().await;
    let sip = args.sip_listen;
    let conf = &org.conference_id;
    let text = format!(
        "\n\
         dialbridge demo\n\
         ===============\n\
         SIP:            sip:bridge@{sip}  (UDP)\n\
         Conference ID:  {conf}\n\
         Organizer PIN:  {pin}  (a new one at every demo start)\n\
         \n\
         Callers press:  {conf}#  then  #  (attendee: you wait in the lobby with hold music)\n\
         Organizer:      {conf}#  then  *  then  {pin}#  (starts the meeting; the lobby joins)\n\
         \n\
         With SIPp (as root; apt-get install sip-tester):\n\
         \x20 attendee:  printf 'SEQUENTIAL\\n{conf};\\n' > /tmp/db.csv && sipp {sip} -sf sip-test-scenarios/attendee_rfc4733.xml -inf /tmp/db.csv -m 1 -l 1 -i {ip} -p 5070 -mp 6000\n\
         \x20 organizer: printf 'SEQUENTIAL\\n{conf};{pin};\\n' > /tmp/do.csv && sipp {sip} -sf sip-test-scenarios/organizer_rfc4733.xml -inf /tmp/do.csv -m 1 -l 1 -i {ip} -p 5072 -mp 6100\n\
         With a softphone: dial sip:bridge@{sip}, then type the digits above.\n\
         \n\
         Press Ctrl-C to stop.\n",
        pin = pin.as_digits(),
        ip = sip.ip(),
    );
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(CliError::Output)?;
    let mut config = ServeConfig::new(data_dir);
    config.sip_listen = sip;
    config.rtp_ports = args.rtp_ports;
    dialbridge::server::run(config, |_| {}).await?;
    Ok(())
}
