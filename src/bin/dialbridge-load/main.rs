//! dialbridge-load: an open-loop load generator for the bridge.
//!
//! It drives whole IVR calls over real UDP sockets (INVITE → 200 → ACK → the conference ID
//! and `##` as RFC 4733 events in the call's own RTP stream or as SIP INFO → the lobby for
//! `--hold` seconds → BYE), organizer calls that type `*` and a PIN, and meetings of talkers.
//! Calls start on a fixed schedule (call `i` at `i / rate`) whatever happened to earlier
//! calls, and INVITE → 200 is measured from when a call should have started, so a slow
//! bridge cannot slow the generator down and hide its own latency (coordinated omission).
//! Latencies go into HDR histograms; the generator prints its own CPU and how late its
//! calls and RTP left, so a reader can see whether it had headroom.
//!
//!     dialbridge-load --target 127.0.0.1:5060 --conference 123456789 --rate 200 --duration 20
//!     dialbridge-load --target … --conference ID --search --duration 60   # RFC 7501/7502
//!     dialbridge-load --calibrate                                         # its own ceiling

mod answer;
mod link;
mod media;
mod plan;
mod shard;
mod sip;
mod stats;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;

use media::Recognizer;
use plan::{Conference, Role};
use shard::{DigitMode, Shared};
use stats::{NodeSummary, Stats, Summary, process_cpu_seconds};

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "dialbridge-load",
    about = "Open-loop SIP/RTP load generator for dialbridge: full IVR calls, HDR latency histograms, its own CPU and lag"
)]
struct Args {
    /// The bridge's SIP address (UDP).
    #[arg(long, value_name = "IP:PORT")]
    target: Option<SocketAddr>,
    /// A conference to call, `ID` or `ID:PIN` (repeat for several; calls take them in turn).
    #[arg(long = "conference", value_name = "ID[:PIN]")]
    conferences: Vec<String>,
    /// A file of conferences, one `ID` or `ID:PIN` per line.
    #[arg(long, value_name = "FILE")]
    conferences_file: Option<PathBuf>,
    /// New calls per second (attendee calls; a meeting run adds one organizer per meeting).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds over which calls start (each search step lasts this long).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds in the lobby after the last `#` (attendees), in the meeting after moving in
    /// (meeting attendees) or after the PIN (organizers).
    #[arg(long, default_value_t = 2.0)]
    hold: f64,
    /// How the keys are sent.
    #[arg(long, value_enum, default_value = "rfc4733")]
    digits: DigitMode,
    /// Shards: threads, each with its own SIP socket and its share of the calls.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Local address for SIP and RTP (any 127.0.0.x on loopback); with sampling, the RTP
    /// address of the unchecked calls only.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: IpAddr,
    /// Sampling: the RTP address of the sampled calls, which alone are checked (lobby audio
    /// required, histograms); the others bind their RTP to --local-ip and only have to be
    /// answered, send their keys (and audio), hold and have their BYE answered, so that a
    /// benchmark may drop the bridge's audio to them (an unchecked meeting attendee holds from
    /// its organizer's PIN, unheard). Needs --sample-every.
    #[arg(long, value_name = "IP")]
    sample_ip: Option<IpAddr>,
    /// Sampling: call i (in schedule order) is sampled when i % N == 0 (N ≥ 1; 1 samples
    /// every call). Without it, every call is checked.
    #[arg(long, value_name = "N")]
    sample_every: Option<u64>,
    /// Send a 440 Hz tone every 20 ms, as a talking phone does.
    #[arg(long)]
    audio: bool,
    /// Offer SRTP on every call (`RTP/SAVP`, AES_CM_128_HMAC_SHA1_80 with an SDES key): the
    /// generator's SIP is UDP, so the bridge needs `--srtp-over-cleartext-sip`.
    #[arg(long)]
    srtp: bool,
    /// SIP transport: one UDP socket, or one TCP or TLS connection, per shard (`--target`
    /// is then the bridge's TCP port, or its `--sip-tls-listen` address for TLS).
    #[arg(long, value_enum, default_value = "udp")]
    transport: link::Transport,
    /// The CA certificate (PEM) that issued the bridge's certificate (`--transport tls`).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// Meeting run: every N callers form a meeting, N − 1 attendees and the organizer, who
    /// calls `--organizer-delay` after the last attendee and enters the PIN (needs ID:PIN).
    #[arg(long, value_name = "N")]
    meeting: Option<usize>,
    /// Seconds between a meeting's last attendee and its organizer (the attendees must be
    /// hearing hold music by the PIN: the lobby prompt lasts 6.5 s).
    #[arg(long, default_value_t = 10.0)]
    organizer_delay: f64,
    /// Seconds a meeting attendee waits for the meeting before the call counts as failed.
    #[arg(long, default_value_t = 60.0)]
    lobby_limit: f64,
    /// SIP timer T1 in milliseconds (first retransmission interval).
    #[arg(long, default_value_t = 500)]
    t1_ms: u64,
    /// Search for the highest rate held for `--duration` with 0 failed calls and 0
    /// retransmissions (RFC 7501/7502): double from `--rate`, then halve the interval.
    #[arg(long)]
    search: bool,
    /// Highest rate the search tries.
    #[arg(long, default_value_t = 20_000.0)]
    search_max: f64,
    /// The search stops when the interval between a clean and a failing rate is this
    /// fraction of the failing one.
    #[arg(long, default_value_t = 0.05)]
    search_precision: f64,
    /// Seconds between search steps, for the bridge to settle.
    #[arg(long, default_value_t = 5.0)]
    settle: f64,
    /// Measure the generator's own ceiling against a trivial answering server in-process.
    #[arg(long)]
    calibrate: bool,
    /// Short run (or short calibration); exit 1 on any failed call or missing histogram.
    #[arg(long)]
    smoke: bool,
    /// Print the results as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("no target: pass --target IP:PORT (the bridge's SIP address), or --calibrate")]
    NoTarget,
    #[error("{0:?} is not a conference: use ID or ID:PIN, digits only")]
    BadConference(String),
    #[error("cannot read the conferences file {path}: {source}")]
    ConferencesFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    Shard(#[from] shard::ShardError),
    #[error(transparent)]
    Server(#[from] answer::ServerError),
    #[error("the bundled prompts did not load (they recognise the lobby): {0}")]
    Assets(#[from] dialbridge::ivr::assets::AssetError),
    #[error("--threads must be at least 1")]
    NoThreads,
    #[error("--transport tls needs --tls-ca FILE (the CA that issued the bridge's certificate)")]
    NoTlsCa,
    #[error(
        "cannot bind an RTP socket to --sample-ip {ip}: {source} (is it an address of this machine?)"
    )]
    SampleIp { ip: IpAddr, source: std::io::Error },
    #[error(transparent)]
    Link(#[from] link::LinkError),
    #[error("a shard thread could not start or panicked: {0}")]
    Thread(String),
}

/// One run's results, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
struct Report {
    rate: f64,
    duration_s: f64,
    hold_s: f64,
    digits: DigitMode,
    threads: usize,
    meeting: Option<usize>,
    /// The sampled calls' RTP address (`--sample-ip`), if sampling.
    sample_ip: Option<IpAddr>,
    /// Every how many calls one is sampled (`--sample-every`), if sampling.
    sample_every: Option<u64>,
    /// Planned calls whose audio is checked (all of them without sampling).
    checked: u64,
    /// Planned calls whose audio is not checked (their RTP on `--local-ip`).
    unchecked: u64,
    planned: u64,
    started: u64,
    answered: u64,
    succeeded: u64,
    failed: u64,
    failures: BTreeMap<String, u64>,
    retransmissions_sent: u64,
    retransmissions_received: u64,
    /// INVITE → 200 from the call's scheduled start.
    invite_200: Summary,
    /// INVITE → 200 from when the INVITE left (comparable with SIPp's response time).
    invite_200_sent: Summary,
    /// Last `#` → first lobby frame.
    lobby: Summary,
    /// Organizer's PIN `#` → first meeting frame, per moved lobby caller.
    pin_to_meeting: Summary,
    /// Per answering node (the address of its SDP answers): behind a proxy such as
    /// Kamailio, which node of a cluster answered each call, and its callers' lobby moves.
    by_node: BTreeMap<String, NodeSummary>,
    /// How late INVITEs left against the schedule.
    start_lag: Summary,
    /// How late each 1 ms media slot's last packet left.
    send_lag: Summary,
    skipped_slots: u64,
    send_errors: u64,
    rtp_sent: u64,
    rtp_received: u64,
    /// CPU of the shard threads, % of one core over the run.
    generator_cpu_percent: f64,
    /// CPU of the whole process (with the calibration server, if any).
    process_cpu_percent: f64,
    wall_s: f64,
    verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    /// 0 failed calls, 0 retransmissions, and the generator kept its schedule.
    Clean,
    /// Failed calls or retransmissions.
    Failed,
    /// Clean calls, but the generator itself fell behind: the rate says nothing of the bridge.
    GeneratorLimited,
}

/// A generator that starts calls or RTP this late (p99) is past its own capacity.
const LAG_LIMIT_MS: f64 = 10.0;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("dialbridge-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs what the arguments ask; false when a smoke check or the run itself failed.
fn run(args: &Args) -> Result<bool, LoadError> {
    if args.threads == 0 {
        return Err(LoadError::NoThreads);
    }
    let sampling = plan::Sampling::new(args.sample_ip, args.sample_every, args.local_ip)?;
    if let Some(s) = sampling {
        // Fail now, not as "no local RTP port" on every sampled call.
        std::net::UdpSocket::bind(SocketAddr::new(s.ip, 0))
            .map_err(|source| LoadError::SampleIp { ip: s.ip, source })?;
    }
    let recognizer = Arc::new(Recognizer::bundled()?);
    if args.calibrate {
        return calibrate(args, recognizer);
    }
    let target = args.target.ok_or(LoadError::NoTarget)?;
    let conferences = conferences(args)?;
    if args.search {
        let (steps, best) = search(args, |rate| {
            run_once(args, target, &conferences, rate, &recognizer)
        })?;
        print_search(args, &steps, best, "search");
        return Ok(best.is_some());
    }
    let rate = if args.smoke && args.rate <= 0.0 {
        10.0
    } else {
        args.rate
    };
    let report = run_once(args, target, &conferences, rate, &recognizer)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_report(&report);
    }
    if args.smoke {
        let problems = smoke_problems(&report);
        for p in &problems {
            eprintln!("smoke check failed: {p}");
        }
        return Ok(problems.is_empty());
    }
    Ok(report.verdict == Verdict::Clean)
}

fn conferences(args: &Args) -> Result<Vec<Conference>, LoadError> {
    let mut out = Vec::new();
    for c in &args.conferences {
        out.push(plan::parse_conference(c).ok_or_else(|| LoadError::BadConference(c.clone()))?);
    }
    if let Some(path) = &args.conferences_file {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::ConferencesFile {
            path: path.clone(),
            source,
        })?;
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            out.push(
                plan::parse_conference(line)
                    .ok_or_else(|| LoadError::BadConference(line.into()))?,
            );
        }
    }
    Ok(out)
}

/// One run at `rate`.
fn run_once(
    args: &Args,
    target: SocketAddr,
    conferences: &[Conference],
    rate: f64,
    recognizer: &Arc<Recognizer>,
) -> Result<Report, LoadError> {
    let sampling = plan::Sampling::new(args.sample_ip, args.sample_every, args.local_ip)?;
    let mut plan = plan::build(
        rate,
        Duration::from_secs_f64(args.duration.max(0.0)),
        conferences,
        args.meeting,
        Duration::from_secs_f64(args.organizer_delay.max(0.0)),
    )?;
    plan.sample(sampling.as_ref());
    let checked = plan.checked();
    let unchecked = plan.calls.len() - checked;
    // Calls that must hear the lobby: the checked attendees.
    let lobby_samples = plan
        .calls
        .iter()
        .filter(|c| c.checked && c.role == Role::Attendee)
        .count();
    let attendees_in_meetings = plan
        .calls
        .iter()
        .filter(|c| c.checked && c.role == Role::Attendee && c.meeting.is_some())
        .count();
    let mut shards: Vec<Vec<plan::CallSpec>> = vec![Vec::new(); args.threads];
    for (i, c) in plan.calls.iter().enumerate() {
        if let Some(s) = shards.get_mut(i % args.threads) {
            s.push(c.clone());
        }
    }
    // Start a little ahead so every shard thread is up before the first call is due.
    let t0 = Instant::now() + Duration::from_millis(50);
    let run_id = u64::from(std::process::id()) << 32
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let tls = match (args.transport, &args.tls_ca) {
        (link::Transport::Tls, Some(ca)) => Some(link::tls_config(ca)?),
        (link::Transport::Tls, None) => return Err(LoadError::NoTlsCa),
        _ => None,
    };
    let shared = Arc::new(Shared {
        target,
        local_ip: args.local_ip,
        sample_ip: sampling.map(|s| s.ip),
        digits: args.digits,
        hold: Duration::from_secs_f64(args.hold.max(0.0)),
        audio: args.audio,
        t0,
        t1: Duration::from_millis(args.t1_ms.max(1)),
        lobby_limit: Duration::from_secs_f64(args.lobby_limit.max(0.0)),
        conferences: conferences.to_vec(),
        recognizer: Arc::clone(recognizer),
        pins: (0..plan.meetings).map(|_| AtomicU64::new(0)).collect(),
        tone: media::tone_frames(),
        run_id,
        srtp: args.srtp,
        transport: args.transport,
        tls,
    });
    let cpu_before = process_cpu_seconds();
    let handles: Vec<_> = shards
        .into_iter()
        .enumerate()
        .map(|(i, calls)| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("load-shard-{i}"))
                .spawn(move || shard::run(shared, calls))
                .map_err(|e| LoadError::Thread(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let mut total = Stats::default();
    for h in handles {
        let stats = h
            .join()
            .map_err(|_| LoadError::Thread("a shard panicked".into()))??;
        total.merge(&stats);
    }
    let wall = t0.elapsed().as_secs_f64().max(1e-3);
    let process_cpu = process_cpu_seconds() - cpu_before;
    let mut report = Report {
        rate,
        duration_s: args.duration,
        hold_s: args.hold,
        digits: args.digits,
        threads: args.threads,
        meeting: args.meeting,
        sample_ip: sampling.map(|s| s.ip),
        sample_every: sampling.map(|s| s.every.get()),
        checked: checked as u64,
        unchecked: unchecked as u64,
        planned: total.planned,
        started: total.started,
        answered: total.answered,
        succeeded: total.succeeded,
        failed: total.failed_calls(),
        failures: total
            .failed
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        retransmissions_sent: total.retransmissions_sent,
        retransmissions_received: total.retransmissions_received,
        invite_200: total.invite_200.summary(),
        invite_200_sent: total.invite_200_sent.summary(),
        lobby: total.lobby.summary(),
        pin_to_meeting: total.pin_to_meeting.summary(),
        by_node: total
            .by_node
            .iter()
            .map(|(ip, n)| (ip.to_string(), n.summary()))
            .collect(),
        start_lag: total.start_lag.summary(),
        send_lag: total.send_lag.summary(),
        skipped_slots: total.skipped_slots,
        send_errors: total.send_errors,
        rtp_sent: total.rtp_sent,
        rtp_received: total.rtp_received,
        generator_cpu_percent: total.cpu_seconds / wall * 100.0,
        process_cpu_percent: process_cpu / wall * 100.0,
        wall_s: wall,
        verdict: Verdict::Failed,
    };
    let clean = report.failed == 0
        && report.retransmissions_sent == 0
        && report.succeeded == report.planned;
    // Skipped slots and send errors are reported but do not decide: one 20 ms stall of a
    // machine shared with other work skips slots without the schedule slipping.
    let generator_ok =
        report.start_lag.p99_ms <= LAG_LIMIT_MS && report.send_lag.p99_ms <= LAG_LIMIT_MS;
    report.verdict = match (clean, generator_ok) {
        (true, true) => Verdict::Clean,
        (true, false) => Verdict::GeneratorLimited,
        (false, _) => Verdict::Failed,
    };
    // Kept for the smoke checks: how many samples each histogram must have.
    EXPECTED.with(|e| e.set((lobby_samples, attendees_in_meetings)));
    Ok(report)
}

std::thread_local! {
    /// (lobby samples, PIN → meeting samples) the last run should have produced.
    static EXPECTED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// What a smoke run must show: every call succeeded and every histogram has its samples.
fn smoke_problems(r: &Report) -> Vec<String> {
    let (lobby, meeting) = EXPECTED.with(std::cell::Cell::get);
    let mut p = Vec::new();
    if r.failed > 0 || r.succeeded != r.planned {
        p.push(format!(
            "{} of {} calls succeeded; failures: {:?}",
            r.succeeded, r.planned, r.failures
        ));
    }
    if r.invite_200.count != r.planned {
        p.push(format!(
            "INVITE→200 histogram has {} of {} samples",
            r.invite_200.count, r.planned
        ));
    }
    if r.lobby.count as usize != lobby {
        p.push(format!(
            "lobby histogram has {} of {lobby} samples",
            r.lobby.count
        ));
    }
    if r.pin_to_meeting.count as usize != meeting {
        p.push(format!(
            "PIN→meeting histogram has {} of {meeting} samples",
            r.pin_to_meeting.count
        ));
    }
    p
}

/// RFC 7501/7502-style search: the highest rate held for `--duration` with 0 failed calls
/// and 0 retransmissions. Doubles from `--rate` until a step fails, then bisects; `step`
/// runs one rate.
fn search(
    args: &Args,
    mut step: impl FnMut(f64) -> Result<Report, LoadError>,
) -> Result<(Vec<Report>, Option<f64>), LoadError> {
    let mut steps = Vec::new();
    let mut lo: Option<f64> = None;
    let mut hi: Option<f64> = None;
    let mut rate = args.rate.max(1.0);
    loop {
        let r = step(rate)?;
        if !args.json {
            print_report(&r);
            println!();
        }
        let clean = r.verdict == Verdict::Clean;
        steps.push(r);
        if clean {
            lo = Some(rate);
        } else {
            hi = Some(rate);
        }
        let next = match (lo, hi) {
            (Some(l), Some(h)) => {
                if (h - l) <= h * args.search_precision {
                    break;
                }
                (l + h) / 2.0
            }
            (Some(l), None) => l * 2.0,
            (None, Some(h)) => {
                if h <= 1.0 {
                    break;
                }
                h / 2.0
            }
            (None, None) => break,
        };
        if next > args.search_max {
            break;
        }
        rate = next.round().max(1.0);
        std::thread::sleep(Duration::from_secs_f64(args.settle.max(0.0)));
    }
    Ok((steps, lo))
}

/// The generator's own ceiling: a search against the in-process answering server.
fn calibrate(args: &Args, recognizer: Arc<Recognizer>) -> Result<bool, LoadError> {
    let conferences = vec![Conference {
        id: "123456789".into(),
        pin: Some("12345".into()),
    }];
    let mut a = args.clone();
    if args.smoke {
        // A few seconds: proves the path works and the histograms fill, not the ceiling.
        a.duration = 1.0;
        a.hold = 1.0;
        a.search_max = 200.0;
    }
    // Each step gets a server of its own: calls a failed step left behind (given up by
    // Timer B, their BYE never sent) would otherwise go on being served, flood the
    // generator with their audio and fail every later step.
    let step = |rate: f64| -> Result<Report, LoadError> {
        let server = answer::Server::start(args.local_ip)?;
        run_once(&a, server.addr, &conferences, rate, &recognizer)
    };
    let (steps, best) = if a.smoke {
        // Fixed steps rather than a search, so that a step slowed by other work on the
        // machine does not send the smoke run downwards.
        let mut steps = Vec::new();
        for rate in [50.0, 100.0, 200.0] {
            steps.push(step(rate)?);
        }
        let best = steps
            .iter()
            .filter(|s| s.verdict == Verdict::Clean)
            .map(|s| s.rate)
            .reduce(f64::max);
        (steps, best)
    } else {
        search(&a, step)?
    };
    print_search(&a, &steps, best, "calibration");
    if a.smoke {
        // Every call must work; a step the generator itself was too late for (on a machine
        // busy with other work) still proves the path, so the verdict is not checked here.
        let ok = !steps.is_empty()
            && steps.iter().all(|s| {
                s.failed == 0
                    && s.succeeded == s.planned
                    && s.invite_200.count == s.planned
                    && s.lobby.count == s.checked
            });
        if !ok {
            eprintln!("smoke check failed: calibration calls failed or histograms are missing");
        }
        return Ok(ok);
    }
    Ok(best.is_some())
}

fn print_search(args: &Args, steps: &[Report], best: Option<f64>, what: &str) {
    let top = steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    if args.json {
        #[derive(Serialize)]
        struct Out<'a> {
            mode: &'a str,
            highest_clean_rate: Option<f64>,
            highest_rate_tried: f64,
            search_max: f64,
            steps: &'a [Report],
        }
        let out = Out {
            mode: what,
            highest_clean_rate: best,
            highest_rate_tried: top,
            search_max: args.search_max,
            steps,
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    println!(
        "| rate (calls/s) | calls ok | failed | retransmissions sent | INVITE→200 p50 / p99 / max (ms, from schedule) | # → lobby p50 / p99 (ms) | start lag p99 / send lag p99 (ms) | generator CPU (% of a core) | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in steps {
        println!(
            "| {:.0} | {} | {} | {} | {:.2} / {:.2} / {:.2} | {:.1} / {:.1} | {:.2} / {:.2} | {:.1} | {:?} |",
            s.rate,
            s.succeeded,
            s.failed,
            s.retransmissions_sent,
            s.invite_200.p50_ms,
            s.invite_200.p99_ms,
            s.invite_200.max_ms,
            s.lobby.p50_ms,
            s.lobby.p99_ms,
            s.start_lag.p99_ms,
            s.send_lag.p99_ms,
            s.generator_cpu_percent,
            s.verdict
        );
    }
    match best {
        Some(b) if steps.iter().all(|s| s.verdict == Verdict::Clean) => println!(
            "{what}: every step was clean; highest rate tried {b:.0} calls/s (the search stops at --search-max {:.0})",
            args.search_max
        ),
        Some(b) => println!(
            "{what}: highest rate held for {:.0} s with 0 failed calls and 0 retransmissions: {b:.0} calls/s",
            args.duration
        ),
        None => println!("{what}: no rate tried was clean"),
    }
}

fn print_report(r: &Report) {
    println!(
        "{:.0} calls/s for {} s, keys as {:?}, hold {:.1} s, {} thread(s){}",
        r.rate,
        r.duration_s,
        r.digits,
        r.hold_s,
        r.threads,
        r.meeting
            .map(|n| format!(", meetings of {n}"))
            .unwrap_or_default()
    );
    println!(
        "calls: {} planned, {} started, {} answered, {} succeeded, {} failed {:?}",
        r.planned, r.started, r.answered, r.succeeded, r.failed, r.failures
    );
    match (r.sample_ip, r.sample_every) {
        (Some(ip), Some(n)) => println!(
            "audio checked on {} calls (one in {n}, RTP from {ip}), unchecked on {} (answered, keys sent, held and hung up are all they must do)",
            r.checked, r.unchecked
        ),
        _ => println!(
            "audio checked on {} calls, unchecked on {}",
            r.checked, r.unchecked
        ),
    }
    println!(
        "retransmissions: {} sent, {} received",
        r.retransmissions_sent, r.retransmissions_received
    );
    println!(
        "{:<40} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    for (name, s) in [
        ("INVITE→200 (from the scheduled start)", &r.invite_200),
        ("INVITE→200 (from the INVITE's send)", &r.invite_200_sent),
        ("last # → lobby audio", &r.lobby),
        ("PIN # → meeting audio (lobby callers)", &r.pin_to_meeting),
        ("generator: INVITE start lag", &r.start_lag),
        ("generator: RTP send lag (1 ms slots)", &r.send_lag),
    ] {
        println!(
            "{name:<40} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms
        );
    }
    if r.by_node.len() > 1 {
        for (ip, n) in &r.by_node {
            let m = &n.pin_to_meeting;
            println!(
                "answered by {ip}: {} calls; PIN # → meeting audio for its lobby callers: {} samples, p50 {:.2} / p99 {:.2} / max {:.2} ms",
                n.answered, m.count, m.p50_ms, m.p99_ms, m.max_ms
            );
        }
    }
    println!(
        "generator: CPU {:.1} % of a core (shard threads; whole process {:.1} %), {} skipped media slots, {} send errors, RTP {} sent / {} received, {:.1} s",
        r.generator_cpu_percent,
        r.process_cpu_percent,
        r.skipped_slots,
        r.send_errors,
        r.rtp_sent,
        r.rtp_received,
        r.wall_s
    );
    println!("verdict: {:?}", r.verdict);
}
