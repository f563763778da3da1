//! The load benchmark: the release binary driven by SIPp on this machine, measured from
//! SIPp's statistics, the bridge's /proc entries and its /metrics.
//!
//!     cargo bench --bench load                 # every scenario, full length (~45 min)
//!     cargo bench --bench load -- --quick      # every scenario, a few seconds each
//!     cargo bench --bench load -- setup lobby  # some scenarios
//!     cargo test --bench load                  # smoke run (what CI does): quick, and it fails
//!                                              # on any failed call or caller left out
//!
//! Scenarios: `setup` (call setup rate, RFC 4733 digits), `setup-info` (the same with SIP
//! INFO digits), `lobby` (callers held in lobbies), `meeting` (talking participants in mixed
//! meetings), `move` (a 1,000-caller lobby moved in), `pin` (organizer PIN checks under a held
//! lobby). Options: `--rate N` (one setup step at N calls/s), `--secs N` (its length).
//!
//! Run as root: SIPp sends RTP through raw sockets, and the benchmark moves itself into a
//! network namespace of its own (loopback only) where nftables drops the RTP SIPp would
//! ignore anyway (see `loadkit::isolate`). Every figure printed is measured in this run.

#[path = "support/loadkit.rs"]
mod loadkit;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loadkit::{Bridge, Metrics, Sipp, write_csv, write_dtmf_pcap};

/// RTP ports for the bridge (SIPp uses 24000 and up, the kernel's ephemeral ports 32768 and up).
const RTP_RANGE: &str = "10000-23999";
/// Bridge flags for scenarios whose SIPp callers send no RTP and stay longer than the
/// bridge's no-RTP timeout (60 s), which would rightly hang them up.
const SILENT_CALLERS: &[&str] = &["--rtp-timeout", "0"];
/// Conferences the callers are spread over (meetings hash to workers by conference ID).
const CONFERENCES: usize = 8;

struct Opts {
    quick: bool,
    /// Run by `cargo test` (no `--bench`): quick, and every correctness check must hold.
    smoke: bool,
    /// Correctness checks that did not hold (failed calls, callers missing).
    problems: std::cell::RefCell<Vec<String>>,
    work: tempfile::TempDir,
    /// `--rate N`: run the setup scenario once at this rate (for profiling).
    rate: Option<f64>,
    /// `--secs N`: length of each setup step.
    secs: Option<u64>,
    /// `--info`: the setup scenario sends the digits as SIP INFO instead of RFC 4733.
    info: bool,
}

impl Opts {
    fn secs(&self, full: u64, quick: u64) -> u64 {
        if self.quick { quick } else { full }
    }

    /// Records a correctness problem; the smoke run fails on any.
    fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let what = what();
            eprintln!("check failed: {what}");
            self.problems.borrow_mut().push(what);
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("work dir");
        d
    }
}

fn scenario(name: &str) -> PathBuf {
    loadkit::repo().join("sip-test-scenarios").join(name)
}

/// Samples the bridge over a measurement window.
struct Window {
    at: Instant,
    cpu: f64,
    metrics: Metrics,
}

impl Window {
    fn open(b: &Bridge) -> Window {
        Window {
            at: Instant::now(),
            cpu: b.cpu_seconds(),
            metrics: b.metrics(),
        }
    }

    /// (CPU in % of one core, metrics now, seconds elapsed).
    fn close(&self, b: &Bridge) -> (f64, Metrics, f64) {
        let secs = self.at.elapsed().as_secs_f64();
        let cpu = (b.cpu_seconds() - self.cpu) / secs * 100.0;
        (cpu, b.metrics(), secs)
    }
}

fn p99_lateness_ms(now: &Metrics, before: &Metrics) -> String {
    p99_ms(now, before, "dialbridge_media_tick_lateness_seconds")
}

/// p99 of how late the last frame of a tick left: the worst call's send lateness.
fn p99_send_lateness_ms(now: &Metrics, before: &Metrics) -> String {
    p99_ms(now, before, "dialbridge_media_send_lateness_seconds")
}

fn p99_ms(now: &Metrics, before: &Metrics, name: &str) -> String {
    now.quantile_since(before, name, 0.99)
        .map_or("-".into(), |s| {
            if s.is_finite() {
                format!("≤{:.2}", s * 1000.0)
            } else {
                ">100".into()
            }
        })
}

/// Waits (up to the ramp plus 30 s) until `n` callers are in `place` (`lobby`, `meeting`)
/// and returns how many are there.
fn wait_for_callers(b: &Bridge, place: &str, n: usize, ramp: f64) -> f64 {
    let series = format!("dialbridge_callers{{place=\"{place}\"}}");
    let deadline = Instant::now() + Duration::from_secs_f64(ramp + 30.0);
    while b.metrics().sum(&series) < n as f64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    b.metrics().sum(&series)
}

/// Runs SIPp instances for `rows` split over `instances`, `-r` total `rate`, holding `hold_ms`.
#[allow(clippy::too_many_arguments)]
fn run_sipp(
    b: &Bridge,
    o: &Opts,
    name: &str,
    scenario: &Path,
    rows: &[String],
    instances: usize,
    rate: f64,
    hold_ms: u64,
    limit: u64,
) -> Vec<Sipp> {
    let per = rows.len().div_ceil(instances);
    rows.chunks(per.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let dir = o.dir(&format!("{name}-{i}"));
            let csv = dir.join("calls.csv");
            write_csv(&csv, chunk);
            let r = rate / instances as f64;
            Sipp::start(
                b.sip,
                scenario,
                &csv,
                &dir,
                &[
                    "-m".into(),
                    chunk.len().to_string(),
                    "-l".into(),
                    chunk.len().to_string(),
                    "-r".into(),
                    format!("{r:.3}"),
                    "-rp".into(),
                    "1000".into(),
                    "-d".into(),
                    hold_ms.to_string(),
                    "-timeout".into(),
                    format!("{limit}s"),
                    "-timeout_error".into(),
                ],
            )
        })
        .collect()
}

fn finish_all(runs: Vec<Sipp>, limit: u64) -> loadkit::SippRun {
    let mut total = loadkit::SippRun::default();
    for r in runs {
        let one = r.finish(Duration::from_secs(limit + 30));
        total.exit = total.exit.max(one.exit);
        total.successful += one.successful;
        total.failed += one.failed;
        total.retransmissions += one.retransmissions;
        total.rtt_ms.extend(one.rtt_ms);
    }
    total
}

/// SIPp reports response times in whole milliseconds.
fn rtt_text(ms: f64) -> String {
    if ms < 1.0 {
        "<1".into()
    } else {
        format!("{ms:.0}")
    }
}

/// Scenario 1: the highest call setup rate with 0 failed calls and 0 retransmissions.
fn setup(o: &Opts, info: bool) -> Vec<String> {
    let b = Bridge::start(RTP_RANGE, &[]);
    let orgs = b.organizers(4);
    let secs = o.secs.unwrap_or(o.secs(60, 5));
    let mut scenarios = Vec::new();
    let mut csv_rows = Vec::new();
    for (i, (conf, _)) in orgs.iter().enumerate() {
        if info {
            scenarios.push(scenario("load_info.xml"));
            csv_rows.push(format!("{conf}##"));
            continue;
        }
        csv_rows.push("x".to_string());
        let dir = o.dir(&format!("setup-scn-{i}"));
        let pcap = dir.join("digits.pcap");
        write_dtmf_pcap(&pcap, &format!("{conf}##"), 101);
        let xml = std::fs::read_to_string(scenario("load_setup_rfc4733.xml"))
            .expect("scenario")
            .replace("DTMF_PCAP", &pcap.display().to_string());
        let path = dir.join("load_setup.xml");
        std::fs::write(&path, xml).expect("scenario copy");
        scenarios.push(path);
    }
    let mut lines = Vec::new();
    let mut best: Option<(f64, String)> = None;
    // The targets' latency bound as well: p99 INVITE→200 under 20 ms.
    let mut best_fast: Option<f64> = None;
    let mut lo = 0.0f64;
    let mut hi: Option<f64> = None;
    let mut rate = o.rate.unwrap_or(if o.quick { 20.0 } else { 250.0 });
    let steps = if o.quick || o.rate.is_some() { 1 } else { 8 };
    for _ in 0..steps {
        let calls = (rate * secs as f64) as usize;
        let w = Window::open(&b);
        let sipp_cpu_before = loadkit::ended_children_cpu_seconds();
        let per = calls / scenarios.len();
        let runs: Vec<Sipp> = scenarios
            .iter()
            .enumerate()
            .map(|(i, scn)| {
                let dir = o.dir(&format!("setup-{i}"));
                let csv = dir.join("calls.csv");
                write_csv(&csv, &vec![csv_rows[i].clone(); per]);
                Sipp::start(
                    b.sip,
                    scn,
                    &csv,
                    &dir,
                    &[
                        "-m".into(),
                        per.to_string(),
                        "-l".into(),
                        ((rate / 4.0 * 6.0) as usize + 10).to_string(),
                        "-r".into(),
                        format!("{:.3}", rate / 4.0),
                        "-d".into(),
                        "2000".into(),
                        "-timeout".into(),
                        format!("{}s", secs + 30),
                        "-timeout_error".into(),
                    ],
                )
            })
            .collect();
        let run = finish_all(runs, secs + 30);
        let (cpu, m, elapsed) = w.close(&b);
        let sipp_cpu = (loadkit::ended_children_cpu_seconds() - sipp_cpu_before) / elapsed * 100.0;
        let joined = (m.sum("dialbridge_conference_joins_total")
            - w.metrics.sum("dialbridge_conference_joins_total")) as u64;
        let ok = run.failed == 0
            && run.retransmissions == 0
            && run.successful as usize == per * 4
            && joined == run.successful;
        let line = format!(
            "| {rate:>6.0} calls/s for {secs} s | {:>6} ok | {joined:>6} reached the lobby | {:>3} failed | {:>4} retrans | p50 {} ms | p99 {} ms | CPU {cpu:>5.1} % | SIPp CPU {sipp_cpu:>5.1} % | tick p99 {} ms |",
            run.successful,
            run.failed,
            run.retransmissions,
            run.rtt_quantile(0.5).map_or("-".into(), rtt_text),
            run.rtt_quantile(0.99).map_or("-".into(), rtt_text),
            p99_lateness_ms(&m, &w.metrics),
        );
        println!("setup: {line}");
        println!(
            "setup: INVITE→200 ms p90 {:?} p95 {:?} p99 {:?} p99.9 {:?} max {:?}",
            run.rtt_quantile(0.9),
            run.rtt_quantile(0.95),
            run.rtt_quantile(0.99),
            run.rtt_quantile(0.999),
            run.rtt_quantile(1.0)
        );
        let turn = |q| {
            m.quantile_since(&w.metrics, "dialbridge_sip_turn_seconds", q)
                .map(|s| s * 1000.0)
        };
        println!(
            "setup: SIP task turn ms p99 {:?} p99.9 {:?} p99.99 {:?}",
            turn(0.99),
            turn(0.999),
            turn(0.9999)
        );
        if steps == 1 {
            o.check(ok, || format!("setup at {rate} calls/s: {} ok of {}, {joined} reached the lobby, {} failed, {} retransmissions", run.successful, per * 4, run.failed, run.retransmissions));
        }
        lines.push(line.clone());
        if ok && run.rtt_quantile(0.99).is_some_and(|ms| ms < 20.0) {
            best_fast = Some(best_fast.map_or(rate, |b: f64| b.max(rate)));
        }
        if ok {
            lo = rate;
            best = Some((rate, line));
        } else {
            hi = Some(rate);
        }
        rate = match hi {
            None => rate * 2.0,
            Some(h) => (lo + h) / 2.0,
        };
        if hi.is_some_and(|h| h - lo < h * 0.05) {
            break;
        }
    }
    let how = if info {
        "SIP INFO (one INFO per key)"
    } else {
        "RFC 4733 (SIPp pcap)"
    };
    let mut out = vec![
        format!("### Call setup rate (INVITE → 200 → ACK → conference ID and ## as {how} → lobby 2 s → BYE)"),
        "| rate | calls | through the IVR into the lobby | failed | SIPp retransmissions | INVITE→200 p50 | p99 | bridge CPU (% of a core) | SIPp CPU (all instances) | media tick lateness p99 |".into(),
        "|---|---|---|---|---|---|---|---|---|---|".into(),
    ];
    out.extend(lines);
    out.push(match best {
        Some((r, _)) => {
            format!("Highest rate with 0 failed calls and 0 retransmissions: **{r:.0} calls/s**.")
        }
        None => "No rate passed with 0 failures and 0 retransmissions.".into(),
    });
    out.push(match best_fast {
        Some(r) => format!(
            "Highest rate tried that also kept p99 INVITE→200 under 20 ms: **{r:.0} calls/s**."
        ),
        None => "No rate tried kept p99 INVITE→200 under 20 ms with 0 failures.".into(),
    });
    out
}

fn attendee_rows(orgs: &[(String, String)], n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}##", orgs[i % orgs.len()].0))
        .collect()
}

/// Scenario 2: callers held in lobbies with hold music.
fn lobby(o: &Opts) -> Vec<String> {
    let sizes: Vec<usize> = if o.quick {
        vec![20]
    } else {
        vec![1000, 2000, 4000, 6000]
    };
    let mut out = vec![
        "### Callers held in lobbies with hold music (silent callers, 8 conferences)".into(),
        "| callers | bridge CPU (% of a core) | RSS | RSS per caller | RTP packets per caller per s | media tick lateness p99 | last frame of a tick, lateness p99 | failed calls |".into(),
        "|---|---|---|---|---|---|---|---|".into(),
    ];
    for n in sizes {
        let b = Bridge::start(RTP_RANGE, SILENT_CALLERS);
        let orgs = b.organizers(CONFERENCES);
        std::thread::sleep(Duration::from_secs(1));
        let idle_rss = b.rss_kib();
        let rate = if o.quick { 20.0 } else { 200.0 };
        let ramp = n as f64 / rate;
        let window = o.secs(30, 3);
        let hold_ms = ((ramp + 8.0 + window as f64) * 1000.0) as u64;
        let limit = (ramp as u64) + window + 60;
        let runs = run_sipp(
            &b,
            o,
            "lobby",
            &scenario("load_info.xml"),
            &attendee_rows(&orgs, n),
            4,
            rate,
            hold_ms,
            limit,
        );
        // Wait until everyone is in a lobby, then measure.
        let in_lobby = wait_for_callers(&b, "lobby", n, ramp);
        let w = Window::open(&b);
        std::thread::sleep(Duration::from_secs(window));
        let (cpu, m, secs) = w.close(&b);
        let rss = b.rss_kib();
        let sent = m.sum("dialbridge_rtp_packets_sent_total")
            - w.metrics.sum("dialbridge_rtp_packets_sent_total");
        let run = finish_all(runs, limit);
        let line = format!(
            "| {n} (in lobby: {in_lobby:.0}) | {cpu:.1} % | {:.0} MiB | {:.1} KiB | {:.2} | {} ms | {} ms | {} |",
            rss as f64 / 1024.0,
            (rss.saturating_sub(idle_rss)) as f64 / n as f64,
            sent / in_lobby.max(1.0) / secs,
            p99_lateness_ms(&m, &w.metrics),
            p99_send_lateness_ms(&m, &w.metrics),
            run.failed,
        );
        println!("lobby: {line}");
        o.check(run.failed == 0 && in_lobby as usize == n, || {
            format!(
                "lobby of {n}: {in_lobby} in lobbies, {} failed calls",
                run.failed
            )
        });
        let pps = sent / in_lobby.max(1.0) / secs;
        o.check((49.0..=51.0).contains(&pps), || {
            format!("lobby of {n}: {pps:.2} RTP packets per caller per s, not 50 ± 1")
        });
        out.push(line);
    }
    out
}

/// Scenario 3: meetings of talking participants.
fn meeting(o: &Opts) -> Vec<String> {
    let shapes: Vec<(usize, usize)> = if o.quick {
        vec![(2, 3)]
    } else {
        vec![(100, 10), (200, 10), (300, 10)]
    };
    let mut out = vec![
        "### Participants in mixed meetings (everyone talking: SIPp streams a tone from every caller)".into(),
        "| meetings × participants | bridge CPU (% of a core) | RSS | media tick lateness p99 | last frame of a tick, lateness p99 | RTP packets out per participant per s | in per participant per s | failed calls |".into(),
        "|---|---|---|---|---|---|---|---|".into(),
    ];
    for (meetings, per) in shapes {
        let b = Bridge::start(RTP_RANGE, &[]);
        let orgs = b.organizers(meetings);
        let n = meetings * per;
        let rows: Vec<String> = (0..n)
            .map(|i| {
                let (conf, pin) = &orgs[i % meetings];
                if i < meetings {
                    format!("{conf}#*{pin}#")
                } else {
                    format!("{conf}##")
                }
            })
            .collect();
        let rate = if o.quick { 10.0 } else { 200.0 };
        let ramp = n as f64 / rate;
        let window = o.secs(30, 3);
        let hold_ms = ((ramp + 8.0 + window as f64) * 1000.0) as u64;
        let limit = ramp as u64 + window + 60;
        let runs = run_sipp(
            &b,
            o,
            "meeting",
            &scenario("load_talk.xml"),
            &rows,
            4,
            rate,
            hold_ms,
            limit,
        );
        let in_meeting = wait_for_callers(&b, "meeting", n, ramp);
        let w = Window::open(&b);
        std::thread::sleep(Duration::from_secs(window));
        let (cpu, m, secs) = w.close(&b);
        let rss = b.rss_kib();
        let delta = |name: &str| m.sum(name) - w.metrics.sum(name);
        let run = finish_all(runs, limit);
        let line = format!(
            "| {meetings} × {per} (in meetings: {in_meeting:.0}) | {cpu:.1} % | {:.0} MiB | {} ms | {} ms | {:.2} | {:.2} | {} |",
            rss as f64 / 1024.0,
            p99_lateness_ms(&m, &w.metrics),
            p99_send_lateness_ms(&m, &w.metrics),
            delta("dialbridge_rtp_packets_sent_total") / in_meeting.max(1.0) / secs,
            delta("dialbridge_rtp_packets_received_total") / in_meeting.max(1.0) / secs,
            run.failed,
        );
        println!("meeting: {line}");
        o.check(run.failed == 0 && in_meeting as usize == n, || {
            format!(
                "{meetings} meetings × {per}: {in_meeting} in meetings, {} failed calls",
                run.failed
            )
        });
        out.push(line);
    }
    out
}

/// Scenario 4: a lobby of 1,000 moved in by the organizer's PIN.
fn lobby_move(o: &Opts) -> Vec<String> {
    let n = if o.quick { 20 } else { 1000 };
    let b = Bridge::start(RTP_RANGE, SILENT_CALLERS);
    let orgs = b.organizers(1);
    let (conf, pin) = orgs[0].clone();
    let rate = if o.quick { 20.0 } else { 200.0 };
    let ramp = n as f64 / rate;
    let hold_ms = ((ramp + 20.0) * 1000.0) as u64;
    let limit = ramp as u64 + 90;
    let runs = run_sipp(
        &b,
        o,
        "move",
        &scenario("load_info.xml"),
        &vec![format!("{conf}##"); n],
        2,
        rate,
        hold_ms,
        limit,
    );
    wait_for_callers(&b, "lobby", n, ramp);
    let organizer = run_sipp(
        &b,
        o,
        "move-org",
        &scenario("load_info.xml"),
        &[format!("{conf}#*{pin}#")],
        1,
        1.0,
        3000,
        30,
    );
    let org = finish_all(organizer, 30);
    let m = b.metrics();
    let run = finish_all(runs, limit);
    let callers = m.sum("dialbridge_last_lobby_move_callers");
    let pin_to_tick = m.sum("dialbridge_last_lobby_move_pin_to_tick_microseconds") / 1000.0;
    let tick = m.sum("dialbridge_last_lobby_move_tick_microseconds") / 1000.0;
    let line = format!(
        "| {n} | {callers:.0} | {pin_to_tick:.1} ms | {:.1} ms | {tick:.2} ms | {} |",
        pin_to_tick + tick,
        run.failed + org.failed
    );
    println!("move: {line}");
    o.check(
        run.failed + org.failed == 0 && callers as usize == n,
        || {
            format!(
                "lobby move of {n}: {callers} moved, {} failed calls",
                run.failed + org.failed
            )
        },
    );
    vec![
        "### A lobby moved into the meeting by the organizer's PIN (measured in the bridge: from the PIN's `#` arriving to the sendto() of the first and the last moved caller's first meeting frame)".into(),
        "| lobby | moved in one step | PIN `#` → first caller's first meeting frame | → last caller's | first → last caller | failed calls |".into(),
        "|---|---|---|---|---|---|".into(),
        line,
    ]
}

/// Scenario 5: organizer PIN checks at a high rate while a lobby is held.
fn pin(o: &Opts) -> Vec<String> {
    let lobby_n = if o.quick { 20 } else { 1000 };
    let b = Bridge::start(RTP_RANGE, SILENT_CALLERS);
    let orgs = b.organizers(CONFERENCES + 16);
    let (lobby_orgs, pin_orgs) = orgs.split_at(CONFERENCES);
    let rate = if o.quick { 20.0 } else { 200.0 };
    let window = o.secs(30, 3);
    let ramp = lobby_n as f64 / rate;
    let hold_ms = ((ramp + 16.0 + 2.0 * window as f64) * 1000.0) as u64;
    let limit = ramp as u64 + 2 * window + 90;
    let lobby_runs = run_sipp(
        &b,
        o,
        "pin-lobby",
        &scenario("load_info.xml"),
        &attendee_rows(lobby_orgs, lobby_n),
        2,
        rate,
        hold_ms,
        limit,
    );
    wait_for_callers(&b, "lobby", lobby_n, ramp);
    let quiet = Window::open(&b);
    std::thread::sleep(Duration::from_secs(window));
    let (cpu_quiet, m_quiet, _) = quiet.close(&b);
    let pin_rate = if o.quick { 10.0 } else { 100.0 };
    let pin_calls = (pin_rate * window as f64) as usize;
    let rows: Vec<String> = (0..pin_calls)
        .map(|i| {
            let (c, p) = &pin_orgs[i % pin_orgs.len()];
            format!("{c}#*{p}#")
        })
        .collect();
    let flood = Window::open(&b);
    let pin_runs = run_sipp(
        &b,
        o,
        "pin-flood",
        &scenario("load_info.xml"),
        &rows,
        2,
        pin_rate,
        500,
        window + 60,
    );
    std::thread::sleep(Duration::from_secs(window));
    let (cpu_flood, m_flood, _) = flood.close(&b);
    let checks = finish_all(pin_runs, window + 60);
    let lobby_run = finish_all(lobby_runs, limit);
    let line_quiet = format!(
        "| {lobby_n} in lobbies, no PIN calls | {cpu_quiet:.1} % | {} ms | - |",
        p99_lateness_ms(&m_quiet, &quiet.metrics)
    );
    let line_flood = format!(
        "| {lobby_n} in lobbies + {pin_rate:.0} organizer calls/s with PIN checks | {cpu_flood:.1} % | {} ms | {} ok, {} failed (lobby: {} failed) |",
        p99_lateness_ms(&m_flood, &flood.metrics),
        checks.successful,
        checks.failed,
        lobby_run.failed
    );
    println!("pin: {line_quiet}\npin: {line_flood}");
    o.check(
        checks.failed + lobby_run.failed == 0 && checks.successful as usize == pin_calls,
        || {
            format!(
                "PIN flood: {} of {pin_calls} organizer calls ok, {} failed, lobby {} failed",
                checks.successful, checks.failed, lobby_run.failed
            )
        },
    );
    vec![
        "### PIN checks against the media clock".into(),
        "| load | bridge CPU (% of a core) | media tick lateness p99 | PIN calls |".into(),
        "|---|---|---|---|".into(),
        line_quiet,
        line_flood,
    ]
}

/// Scenario 6: twice the zero-failure call rate for minutes, with talking meetings up.
/// The bridge's admission limit is set to that capacity; what must hold: no crash, at least
/// 90 % of capacity in successful calls, established calls losing under 1 % of their RTP,
/// and a clean run at capacity again within 60 s of the load stopping.
fn overload(o: &Opts) -> Vec<String> {
    let capacity = o.rate.unwrap_or(if o.quick { 20.0 } else { 1000.0 });
    let secs = o.secs.unwrap_or(o.secs(300, 5));
    let talkers = if o.quick { 6 } else { 200 };
    let meetings = if o.quick { 2 } else { 20 };
    let cap = format!("{capacity:.0}");
    let b = Bridge::start(
        RTP_RANGE,
        &[
            "--max-call-rate",
            &cap,
            "--max-calls",
            "6500",
            // Calls a SIPp instance gave up on without a BYE must end, as they would
            // in service (the flood's callers are silent but stay only a few seconds).
            "--rtp-timeout",
            "10",
        ],
    );
    let orgs = b.organizers(meetings + CONFERENCES);
    let (meeting_orgs, lobby_orgs) = orgs.split_at(meetings);
    // The established calls: talking meetings that stay up through the overload.
    let rows: Vec<String> = (0..talkers)
        .map(|i| {
            let (conf, pin) = &meeting_orgs[i % meetings];
            if i < meetings {
                format!("{conf}#*{pin}#")
            } else {
                format!("{conf}##")
            }
        })
        .collect();
    let talk_rate = if o.quick { 10.0 } else { 100.0 };
    let ramp = talkers as f64 / talk_rate;
    let recovery_budget = 60;
    let hold_ms = ((ramp + 10.0 + secs as f64 + recovery_budget as f64 + 20.0) * 1000.0) as u64;
    let talk_limit = hold_ms / 1000 + 60;
    let talk_runs = run_sipp(
        &b,
        o,
        "overload-talkers",
        &scenario("load_talk.xml"),
        &rows,
        2,
        talk_rate,
        hold_ms,
        talk_limit,
    );
    let in_meeting = wait_for_callers(&b, "meeting", talkers, ramp);

    // Twice the capacity of new calls, each through the IVR into a lobby for 2 s.
    let offered = 2.0 * capacity;
    let flood_rows = attendee_rows(lobby_orgs, (offered * secs as f64) as usize);
    let w = Window::open(&b);
    let sipp_cpu_before = loadkit::ended_children_cpu_seconds();
    let flood = run_sipp(
        &b,
        o,
        "overload-flood",
        &scenario("load_info.xml"),
        &flood_rows,
        4,
        offered,
        2000,
        secs + 60,
    );
    let flood_run = finish_all(flood, secs + 60);
    let (cpu, m, elapsed) = w.close(&b);
    let sipp_cpu = (loadkit::ended_children_cpu_seconds() - sipp_cpu_before) / elapsed * 100.0;
    let delta = |name: &str| m.sum(name) - w.metrics.sum(name);
    let received = delta("dialbridge_rtp_packets_received_total");
    let lost = delta("dialbridge_rtp_packets_lost_total");
    let loss_pct = lost.max(0.0) / (received + lost.max(0.0)).max(1.0) * 100.0;
    let per_talker_in = received / in_meeting.max(1.0) / elapsed;
    let refused = delta("dialbridge_calls_refused_total");
    // Over the time new calls were offered (the calls themselves end up to a few seconds
    // later).
    let ok_rate = flood_run.successful as f64 / secs as f64;

    // Recovery: runs at capacity until one is clean, starting as soon as the flood ends.
    let load_end = Instant::now();
    let probe_secs = o.secs(10, 3);
    let mut recovered_after: Option<f64> = None;
    let mut probes = Vec::new();
    while load_end.elapsed() < Duration::from_secs(recovery_budget) {
        let started = load_end.elapsed().as_secs_f64();
        let rows = attendee_rows(lobby_orgs, (capacity * probe_secs as f64) as usize);
        let run = finish_all(
            run_sipp(
                &b,
                o,
                "overload-probe",
                &scenario("load_info.xml"),
                &rows,
                4,
                capacity,
                2000,
                probe_secs + 60,
            ),
            probe_secs + 60,
        );
        let m = b.metrics();
        probes.push(format!(
            "{started:.0} s: {} ok, {} failed (calls in progress {:.0}, refused so far: too many {:.0}, too fast {:.0}, no port {:.0})",
            run.successful,
            run.failed,
            m.sum("dialbridge_calls_active"),
            m.sum("dialbridge_calls_refused_total{reason=\"too_many_calls\"}"),
            m.sum("dialbridge_calls_refused_total{reason=\"too_fast\"}"),
            m.sum("dialbridge_calls_refused_total{reason=\"no_media_port\"}"),
        ));
        if run.failed == 0 && run.successful as usize == rows.len() {
            recovered_after = Some(started);
            break;
        }
    }
    let talk_run = finish_all(talk_runs, talk_limit);
    let line = format!(
        "| {offered:.0} calls/s offered for {secs} s (capacity {capacity:.0}) | {ok_rate:.0} calls/s ok ({:.0} % of capacity), {} failed ({refused:.0} refused with 503) | {} of {talkers} established calls dropped | RTP in per talker {per_talker_in:.2}/s, lost {loss_pct:.3} % | tick p99 {} ms | CPU {cpu:.1} % (SIPp {sipp_cpu:.0} %) | recovered {} |",
        ok_rate / capacity * 100.0,
        flood_run.failed,
        talk_run.failed,
        p99_lateness_ms(&m, &w.metrics),
        match recovered_after {
            Some(s) => format!("{s:.0} s after the load stopped (first clean run at capacity)"),
            None => format!("not within {recovery_budget} s ({})", probes.join("; ")),
        },
    );
    println!("overload: {line}");
    o.check(ok_rate >= 0.9 * capacity, || {
        format!("overload: {ok_rate:.1} successful calls/s, under 90 % of {capacity}")
    });
    o.check(
        talk_run.failed == 0 && in_meeting as usize == talkers,
        || {
            format!(
                "overload: {in_meeting} of {talkers} talkers in meetings, {} dropped",
                talk_run.failed
            )
        },
    );
    o.check(loss_pct < 1.0, || {
        format!("overload: established calls lost {loss_pct:.2} % of their RTP")
    });
    o.check(recovered_after.is_some(), || {
        format!("overload: no clean run at capacity within {recovery_budget} s: {probes:?}")
    });
    vec![
        "### Overload: twice the zero-failure call rate, admission control at capacity".into(),
        "| load | new calls | established (talking) calls | their RTP | media | bridge | recovery |".into(),
        "|---|---|---|---|---|---|---|".into(),
        line,
    ]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {:.0} GiB RAM, SIPp on the same machine; {date}",
        mem as f64 / 1048576.0
    )
}

fn main() {
    let network = loadkit::isolate();
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !raw.iter().any(|a| a == "--bench");
    let args: Vec<String> = raw.into_iter().filter(|a| a != "--bench").collect();
    let quick = smoke || args.iter().any(|a| a == "--quick");
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--") && a.parse::<f64>().is_err())
        .collect();
    let all = [
        "setup",
        "setup-info",
        "lobby",
        "meeting",
        "move",
        "pin",
        "overload",
    ];
    let run: Vec<&str> = if wanted.is_empty() {
        all.to_vec()
    } else {
        wanted
    };
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let o = Opts {
        quick,
        smoke,
        problems: Default::default(),
        work: tempfile::tempdir().expect("work dir"),
        rate: value("--rate"),
        secs: value("--secs").map(|s| s as u64),
        info: args.iter().any(|a| a == "--info"),
    };
    let mut report = vec![
        format!("## Load benchmark{}", if quick { " (quick)" } else { "" }),
        machine(),
        format!("Network: {network}."),
        String::new(),
    ];
    for s in run {
        let lines = match s {
            "setup" => setup(&o, o.info),
            "setup-info" => setup(&o, true),
            "lobby" => lobby(&o),
            "meeting" => meeting(&o),
            "move" => lobby_move(&o),
            "pin" => pin(&o),
            "overload" => overload(&o),
            other => {
                eprintln!("unknown scenario {other}; choose from {all:?}");
                std::process::exit(2);
            }
        };
        report.extend(lines);
        report.push(String::new());
    }
    println!("\n{}", report.join("\n"));
    let problems = o.problems.borrow();
    if o.smoke && !problems.is_empty() {
        eprintln!(
            "{} check(s) failed:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
        std::process::exit(1);
    }
}
