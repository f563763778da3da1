//! The README's shell examples, run as a user would paste them.
//!
//! Every fenced ```` ```sh ```` block of README.md carries a marker right above it: `<!-- run:
//! NAME -->` (a test here runs it) or `<!-- norun: REASON -->` (it cannot run here; the README
//! says so next to it). A block without a marker, a `run:` name no test here knows, or a known
//! name the README lost fails `every_shell_block_is_marked_and_run`, so a new example must be
//! classified and an example cannot silently stop being run.
//!
//! How each block is run, against a bridge the test starts (each test in a loopback-only
//! network namespace of its own, so the documented ports 5060 and 8080 are free and used as
//! written):
//!
//! - `demo`, `demo-other-ports` (`cargo run --release -- ARGS`): the binary `cargo test` built,
//!   with ARGS exactly as written (a release build per test run is too slow); the banner must
//!   come and name the ports. The lines that banner prints are run in `tests/demo.rs`.
//! - `sipp-attendee`, `sipp-organizer`, `baresip`: `bash -euo pipefail -c BLOCK`, from the
//!   repository root (SIPp) and from the directory the demo was started in (baresip), as the
//!   README says, against that demo. The lines that set what the README tells the user to fill
//!   in (`ID=`, `PIN=`) get this demo's values; nothing else changes. Checked at the demo's
//!   `/metrics` and log: the attendee waited in the lobby, the organizer's PIN started the
//!   meeting and moved the attendee in, baresip's call was answered.
//! - `admin-setup`, then each row of the admin's-day table (the command line, then the API
//!   call) and `api-token`: `bash -euo pipefail -c "SETUP; COMMAND"` in a directory standing
//!   for the repository root (the binary `cargo test` built at `./target/release/dialbridge`,
//!   the demo started there as the README says); each row's effect is checked (an organizer
//!   added shows up in the list, a PIN is shown once, settings change...).
//! - `serve`, `backup`, `restore`: as written, with `dialbridge` on PATH and
//!   `./target/release/dialbridge` both the built binary, in a private mount namespace where
//!   `/var/lib/dialbridge` and `/var/backups` are empty tmpfs: the bridge starts, the backup of the
//!   running bridge is written (0600, with its key), and after an organizer added later, a
//!   stop and the restore, the bridge starts again on the restored data (it refuses a key
//!   that does not match) without that organizer. The restore's `BACKUP=` fill-in line gets
//!   the file the backup block wrote.
//! - `load-quick` and the not-run benchmark lines: their benchmark, scenarios and flags must
//!   exist in `Cargo.toml` and `benches/load.rs` (a full release benchmark is too slow here;
//!   `cargo test` runs the quick form as a smoke run, `benches/load.rs` without `--bench`).
//!   `cargo test --test NAME` lines must name a test file.
//!
//! Needs root (CI runs as root: namespaces, mounts, SIPp's raw socket), `unshare`, `curl`,
//! SIPp (`sip-tester`) and baresip (`baresip-core`), which `./test.sh` installs.

#[path = "support/demo.rs"]
mod demo;
#[path = "support/netns.rs"]
mod netns;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use demo::{Running, Shell, banner_field, log_lines};
use netns::run_isolated_with_mounts;
use support::metrics::{metric, wait_metric};

const LIMIT: Duration = Duration::from_secs(150);

/// Every `run:` name, and the test that runs it.
const RUN: &[(&str, &str)] = &[
    ("demo", "calling_in_as_the_readme_says"),
    ("demo-other-ports", "the_demo_on_other_ports"),
    ("sipp-attendee", "calling_in_as_the_readme_says"),
    ("sipp-organizer", "calling_in_as_the_readme_says"),
    ("baresip", "calling_in_as_the_readme_says"),
    ("admin-setup", "an_admins_day_as_the_readme_says"),
    ("admin-day", "an_admins_day_as_the_readme_says"),
    ("api-token", "an_admins_day_as_the_readme_says"),
    (
        "serve",
        "serving_backing_up_and_restoring_as_the_readme_says",
    ),
    (
        "backup",
        "serving_backing_up_and_restoring_as_the_readme_says",
    ),
    (
        "restore",
        "serving_backing_up_and_restoring_as_the_readme_says",
    ),
    ("load-quick", "benchmarks_and_tests_the_readme_names_exist"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A marker comment (`<!-- run: NAME ... -->` or `<!-- norun: ... -->`).
#[derive(Clone, Debug, PartialEq)]
enum Marker {
    Run(String),
    NoRun(String),
}

fn marker(line: &str) -> Option<Marker> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    if let Some(rest) = inner.strip_prefix("run:") {
        let name = rest.split_whitespace().next()?.to_string();
        return Some(Marker::Run(name));
    }
    inner
        .strip_prefix("norun:")
        .map(|r| Marker::NoRun(r.trim().to_string()))
}

/// A fenced code block.
#[derive(Debug)]
struct Block {
    lang: String,
    text: String,
    /// 1-based line of the opening fence.
    line: usize,
    marker: Option<Marker>,
}

struct Readme {
    lines: Vec<String>,
    blocks: Vec<Block>,
}

impl Readme {
    fn load() -> Readme {
        let text = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut blocks = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if let Some(lang) = lines[i].strip_prefix("```") {
                let start = i;
                let mut body = Vec::new();
                i += 1;
                while i < lines.len() && !lines[i].starts_with("```") {
                    body.push(lines[i].as_str());
                    i += 1;
                }
                let marker = lines[..start]
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .and_then(|l| marker(l));
                blocks.push(Block {
                    lang: lang.trim().to_string(),
                    text: body.join("\n") + "\n",
                    line: start + 1,
                    marker,
                });
            }
            i += 1;
        }
        Readme { lines, blocks }
    }

    /// The block marked `run: name`.
    fn run_block(&self, name: &str) -> &Block {
        let found: Vec<&Block> = self
            .blocks
            .iter()
            .filter(|b| b.marker == Some(Marker::Run(name.into())))
            .collect();
        assert_eq!(found.len(), 1, "one README block marked run: {name}");
        found[0]
    }

    /// The rows of the table right after the marker `run: name`: (first cell, the code of
    /// every other cell).
    fn run_table(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let at = self
            .lines
            .iter()
            .position(|l| marker(l) == Some(Marker::Run(name.into())))
            .unwrap_or_else(|| panic!("no README marker run: {name}"));
        let table: Vec<&String> = self.lines[at + 1..]
            .iter()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(table.len() > 2, "a table after run: {name}");
        table[2..]
            .iter()
            .map(|row| {
                let cells: Vec<&str> = row
                    .trim()
                    .trim_matches('|')
                    .split(" | ")
                    .map(str::trim)
                    .collect();
                let code = cells[1..]
                    .iter()
                    .map(|c| {
                        c.strip_prefix('`')
                            .and_then(|c| c.strip_suffix('`'))
                            .unwrap_or_else(|| panic!("a command in backticks: {c}"))
                            .to_string()
                    })
                    .collect();
                (cells[0].to_string(), code)
            })
            .collect()
    }
}

fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "console")
}

/// The block with the value of each `NAME=...` line the README asks the user to fill in
/// replaced: the line must exist once, and keeps its comment.
fn fill_in(block: &str, values: &[(&str, &str)]) -> String {
    let mut text = block.to_string();
    for (name, value) in values {
        let prefix = format!("{name}=");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(lines.len(), 1, "one {prefix} line to fill in:\n{block}");
        let old = lines[0].to_string();
        let comment = old.find(" #").map(|i| &old[i..]).unwrap_or_default();
        text = text.replace(&old, &format!("{prefix}{value}{comment}"));
    }
    text
}

/// The arguments after `cargo run --release --` in a one-line block.
fn cargo_run_args(block: &Block) -> Vec<String> {
    let lines: Vec<&str> = block.text.lines().collect();
    assert_eq!(lines.len(), 1, "one command:\n{}", block.text);
    let rest = lines[0]
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("a `cargo run --release -- ARGS` line: {}", lines[0]));
    assert!(
        !rest.contains(['\'', '"', '$', '\\']),
        "plain words only: {rest}"
    );
    rest.split_whitespace().map(str::to_string).collect()
}

#[test]
fn every_shell_block_is_marked_and_run() {
    let readme = Readme::load();
    let mut seen = BTreeSet::new();
    for block in readme.blocks.iter().filter(|b| is_shell(&b.lang)) {
        match &block.marker {
            Some(Marker::Run(name)) => {
                assert!(
                    RUN.iter().any(|(n, _)| n == name),
                    "README line {}: no test here runs `run: {name}`",
                    block.line
                );
                assert!(seen.insert(name.clone()), "two blocks marked run: {name}");
            }
            Some(Marker::NoRun(reason)) => {
                assert!(
                    !reason.is_empty(),
                    "README line {}: norun: why?",
                    block.line
                );
                // Said where a reader sees it, not only in the comment.
                let end = block.line + block.text.lines().count() + 1;
                let after = readme.lines[end..(end + 4).min(readme.lines.len())].join(" ");
                assert!(
                    after.to_lowercase().contains("not run by the"),
                    "README line {}: a block not run must say so next to it",
                    block.line
                );
            }
            None => panic!(
                "README line {}: a ```{} block without <!-- run: NAME --> or <!-- norun: REASON -->:\n{}",
                block.line, block.lang, block.text
            ),
        }
    }
    // The admin's-day table is run too (its marker comes before a table, not a block).
    for (name, _) in RUN {
        if *name == "admin-day" {
            assert!(!readme.run_table(name).is_empty());
            seen.insert(name.to_string());
        }
    }
    let known: BTreeSet<String> = RUN.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        seen, known,
        "every run: name the tests know is in the README"
    );
    // Indented code blocks would escape all this: every example is fenced.
    let mut fenced = false;
    for (i, line) in readme.lines.iter().enumerate() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let after_blank = i > 0 && readme.lines[i - 1].trim().is_empty();
        assert!(
            fenced || !(after_blank && line.starts_with("    ") && !line.trim().is_empty()),
            "README line {}: an indented code block; fence it and mark it",
            i + 1
        );
    }
}

#[test]
fn benchmarks_and_tests_the_readme_names_exist() {
    let readme = Readme::load();
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let load = std::fs::read_to_string(repo().join("benches/load.rs")).expect("benches/load.rs");
    let quick = readme.run_block("load-quick").text.trim().to_string();
    assert_eq!(quick, "sudo cargo bench --bench load -- --quick");
    let mut checked = 0;
    for block in readme.blocks.iter().filter(|b| is_shell(&b.lang)) {
        for line in block.text.lines() {
            let command = line.split(" #").next().unwrap_or_default();
            let words: Vec<&str> = command.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                let next = words.get(i + 1).copied().unwrap_or_default();
                if *w == "--bench" {
                    assert!(
                        manifest.contains(&format!("name = \"{next}\""))
                            && repo().join(format!("benches/{next}.rs")).is_file(),
                        "no benchmark {next}: {line}"
                    );
                    checked += 1;
                }
                if *w == "--test" && words.get(i.wrapping_sub(1)) == Some(&"test") {
                    assert!(
                        repo().join(format!("tests/{next}.rs")).is_file(),
                        "no test {next}: {line}"
                    );
                    checked += 1;
                }
            }
            // What follows `--` is the load benchmark's own command line: its flags and
            // scenario names must be ones benches/load.rs reads.
            if command.contains("--bench load --") {
                let args = command.split_once("--bench load --").map_or("", |(_, a)| a);
                for arg in args.split_whitespace() {
                    if arg.parse::<f64>().is_ok() {
                        continue;
                    }
                    let known = if arg.starts_with("--") {
                        load.contains(&format!("\"{arg}\""))
                    } else {
                        load.contains(&format!("\"{arg}\" =>"))
                    };
                    assert!(known, "benches/load.rs does not know {arg:?}: {line}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8, "the README names benchmarks and tests");
    let test_sh = repo().join("test.sh");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&test_sh).expect("test.sh").permissions(),
    );
    assert!(mode & 0o111 != 0, "./test.sh is executable");
}

/// A directory standing for the repository root: the binary `cargo test` built at
/// `./target/release/dialbridge`, and a `bin/` with it as `dialbridge` for PATH.
fn stand_in_root() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let release = root.path().join("target/release");
    std::fs::create_dir_all(&release).expect("target/release");
    std::os::unix::fs::symlink(support::binary(), release.join("dialbridge")).expect("symlink");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(support::binary(), bin.join("dialbridge")).expect("symlink");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (root, PathBuf::from(path))
}

/// Mounts an empty tmpfs on `dir` (in this test's private mount namespace), making `dir`
/// first if it is missing. Kept to the directories the README's blocks write, so that this
/// checkout (which CI may clone anywhere, /tmp included) is never hidden.
fn tmpfs(dir: &str) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("make {dir}: {e}"));
    assert!(
        !repo().starts_with(dir),
        "a tmpfs on {dir} would hide this checkout at {}",
        repo().display()
    );
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", dir])
        .status()
        .expect("run mount");
    assert!(status.success(), "mount a tmpfs on {dir}");
}

/// Removes files a README block wrote outside the test's own directories when the test ends.
struct RemoveOnDrop(&'static [&'static str]);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for f in self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[test]
fn calling_in_as_the_readme_says() {
    run_isolated_with_mounts("calling_in_as_the_readme_says", LIMIT, || {
        // The blocks write /tmp/attendee.csv and /tmp/organizer.csv, as a user's shell would;
        // /tmp itself is not masked, since this checkout may live under it.
        let _csv = RemoveOnDrop(&["/tmp/attendee.csv", "/tmp/organizer.csv"]);
        let readme = Readme::load();
        let cwd = tempfile::tempdir().expect("tempdir");
        let mut demo = Running::start(
            cwd.path(),
            &string_refs(&cargo_run_args(readme.run_block("demo"))),
        );
        let banner = demo.banner();
        let conf = banner_field(&banner, "Conference ID:");
        let pin = banner_field(&banner, "Organizer PIN:");
        support::remember_secret(&pin);
        let http = "127.0.0.1:8080".parse().expect("addr");
        let attendee = fill_in(&readme.run_block("sipp-attendee").text, &[("ID", &conf)]);
        let organizer = fill_in(
            &readme.run_block("sipp-organizer").text,
            &[("ID", &conf), ("PIN", &pin)],
        );
        // From the repository root, as the README says.
        let attendee = Shell::start(&attendee, repo(), &[], false);
        wait_metric(
            http,
            "dialbridge_callers",
            &["place=\"lobby\""],
            1.0,
            Duration::from_secs(20),
            "the README's attendee waits in the lobby",
        );
        let waiting = ["waiting in the lobby", &format!("conference={conf}")];
        assert_eq!(log_lines(&demo.log_text(), &waiting), 1);
        Shell::start(&organizer, repo(), &[], false).succeeds(Duration::from_secs(45));
        let accepted = metric(
            http,
            "dialbridge_pin_checks_total",
            &["result=\"accepted\""],
        );
        assert_eq!(accepted, Some(1.0), "the organizer's PIN was accepted");
        let moved = [
            "meeting started; lobby moved in",
            &format!("conference={conf}"),
            "moved=1",
        ];
        assert_eq!(
            log_lines(&demo.log_text(), &moved),
            1,
            "the organizer started the meeting and the attendee moved in"
        );
        attendee.succeeds(Duration::from_secs(40));
        // baresip, from the directory the demo was started in.
        let mut phone = Shell::start(&readme.run_block("baresip").text, cwd.path(), &[], true);
        wait_metric(
            http,
            "dialbridge_callers",
            &["place=\"ivr\""],
            1.0,
            Duration::from_secs(15),
            "the README's baresip line dials in and is answered",
        );
        assert!(phone.running(), "baresip stays in the call");
        phone.stop();
    });
}

fn string_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn the_demo_on_other_ports() {
    run_isolated_with_mounts("the_demo_on_other_ports", LIMIT, || {
        let readme = Readme::load();
        let cwd = tempfile::tempdir().expect("tempdir");
        let args = cargo_run_args(readme.run_block("demo-other-ports"));
        let mut demo = Running::start(cwd.path(), &string_refs(&args));
        let banner = demo.banner();
        let sip = args
            .iter()
            .position(|a| a == "--sip-listen")
            .and_then(|i| args.get(i + 1))
            .expect("the block picks a SIP port");
        let http = args
            .iter()
            .position(|a| a == "--http-listen")
            .and_then(|i| args.get(i + 1))
            .expect("the block picks an HTTP port");
        assert!(banner.contains(&format!("sip:bridge@{sip}")), "{banner}");
        assert!(banner.contains(&format!("http://{http}/admin")), "{banner}");
        assert!(
            !banner.contains(":5060") && !banner.contains(":8080"),
            "{banner}"
        );
        let calls = metric(http.parse().expect("addr"), "dialbridge_calls_active", &[]);
        assert_eq!(
            calls,
            Some(0.0),
            "it serves /metrics on the port it was given"
        );
    });
}

/// Runs `setup` then `command` with bash, in `cwd`; its stdout.
fn run_after(setup: &str, command: &str, cwd: &Path) -> String {
    Shell::start(&format!("{setup}\n{command}\n"), cwd, &[], false)
        .succeeds(Duration::from_secs(20))
}

fn json(text: &str, what: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    support::remember_json_secrets(&v);
    v
}

fn five_digit_pin(v: &serde_json::Value, what: &str) {
    let pin = v["pin"].as_str().unwrap_or_default();
    assert!(
        pin.len() == 5 && pin.bytes().all(|b| b.is_ascii_digit()),
        "{what}: a PIN shown once: {v}"
    );
}

#[test]
fn an_admins_day_as_the_readme_says() {
    run_isolated_with_mounts("an_admins_day_as_the_readme_says", LIMIT, || {
        let readme = Readme::load();
        let (root, _) = stand_in_root();
        let cwd = root.path();
        // The bridge the README has running: the demo, started there.
        let mut demo = Running::start(cwd, &string_refs(&cargo_run_args(readme.run_block("demo"))));
        demo.banner();
        let setup = readme.run_block("admin-setup").text.clone();
        let rows = readme.run_table("admin-day");
        let tasks: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        let mut pins = Vec::new();
        for (task, commands) in &rows {
            assert_eq!(commands.len(), 2, "{task}: a command line and an API call");
            let cli = run_after(&setup, &commands[0], cwd);
            let api = run_after(&setup, &commands[1], cwd);
            let (cli, api) = (cli.trim(), api.trim());
            match task.as_str() {
                "create an organizer (PIN shown once, e-mailed)" => {
                    let c = json(cli, task);
                    let a = json(api, task);
                    five_digit_pin(&c, task);
                    five_digit_pin(&a, task);
                    assert_eq!(c["name"], "Ada", "{c}");
                    assert_eq!(a["organizer"]["name"], "Ada", "{a}");
                    pins.extend([c["pin"].to_string(), a["pin"].to_string()]);
                }
                "list them (PINs as `*****`)" => {
                    // The demo organizer and the two Adas.
                    assert_eq!(
                        cli.lines().filter(|l| l.contains("*****")).count(),
                        3,
                        "{cli}"
                    );
                    assert_eq!(cli.matches("Ada <ada@example.com>").count(), 2, "{cli}");
                    let a = json(api, task);
                    let list = a.as_array().or_else(|| a["organizers"].as_array());
                    let list = list.unwrap_or_else(|| panic!("a list: {a}"));
                    assert_eq!(list.len(), 3, "{a}");
                    assert!(list.iter().all(|o| o["pin"] == "*****"), "{a}");
                    for pin in &pins {
                        let digits = pin.trim_matches('"');
                        assert!(
                            !cli.contains(digits) && !api.contains(digits),
                            "PIN shown twice"
                        );
                    }
                }
                "reset a PIN (shown once, e-mailed)" => {
                    five_digit_pin(&json(cli, task), task);
                    five_digit_pin(&json(api, task), task);
                }
                "longer PINs from now on" => {
                    assert!(cli.contains("pin_length = 6"), "{cli}");
                    assert_eq!(json(api, task)["pin_length"], 6);
                }
                "switch PIN e-mails off" => {
                    assert!(cli.contains("pin_emails = off"), "{cli}");
                    assert_eq!(json(api, task)["auto_email"], false);
                }
                "callers may start organizer 1's meetings" => {
                    assert!(cli.starts_with("1 "), "organizer 1 shown: {cli}");
                    let a = json(api, task);
                    assert_eq!(a["organizer"]["id"], 1, "{a}");
                    assert_eq!(a["organizer"]["start_without_pin"], true, "{a}");
                }
                "what happened" => {
                    assert!(cli.lines().count() >= 8, "the day's entries: {cli}");
                    let a = json(api, task);
                    let entries = a.as_array().or_else(|| a["entries"].as_array());
                    assert!(
                        entries.is_some_and(|e| e.len() >= 8),
                        "the day's entries: {a}"
                    );
                }
                other => panic!("README admin's-day row {other:?}: no check for it here"),
            }
        }
        assert_eq!(tasks.len(), 7, "{tasks:?}");
        // The settings really changed, and a new PIN has the new length.
        let shown = run_after(&setup, "$B settings show --json", cwd);
        let shown = json(&shown, "settings show");
        assert_eq!(
            (shown["pin_length"].as_i64(), &shown["auto_email"]),
            (Some(6), &serde_json::json!(false))
        );
        // The token example: a list, then a PIN reset of organizer 1 with a 6-digit PIN.
        let out = run_after(&setup, &readme.run_block("api-token").text, cwd);
        let mut values = serde_json::Deserializer::from_str(&out).into_iter::<serde_json::Value>();
        let list = values.next().and_then(Result::ok).expect("the list");
        assert!(list.to_string().contains("Demo Organizer"), "{list}");
        let reset = values.next().and_then(Result::ok).expect("the reset");
        support::remember_json_secrets(&reset);
        assert_eq!(reset["pin"].as_str().map(str::len), Some(6), "{reset}");
        drop(demo);
    });
}

#[test]
fn serving_backing_up_and_restoring_as_the_readme_says() {
    run_isolated_with_mounts(
        "serving_backing_up_and_restoring_as_the_readme_says",
        LIMIT,
        || {
            tmpfs("/var/lib/dialbridge");
            tmpfs("/var/backups");
            let readme = Readme::load();
            let (root, path) = stand_in_root();
            let cwd = root.path();
            let env = [("PATH", path.to_str().expect("PATH"))];
            let serve = readme.run_block("serve").text.clone();
            let listening = |bridge: &Shell| bridge.stderr().contains("dialbridge is listening");
            let bridge = Shell::start(&serve, cwd, &env, false);
            wait_for(
                || listening(&bridge),
                "the README's serve line starts the bridge",
                &bridge,
            );
            let cli = |args: &str| {
                Shell::start(
                    &format!("dialbridge --data-dir /var/lib/dialbridge {args}"),
                    cwd,
                    &env,
                    false,
                )
                .succeeds(Duration::from_secs(20))
            };
            for name in ["Ada", "Bob"] {
                let out = cli(&format!(
                    "organizer add --name {name} --email {name}@example.com --json"
                ));
                json(&out, "organizer add");
            }
            let backup = readme.run_block("backup").text.clone();
            let out = Shell::start(&backup, cwd, &env, false).succeeds(Duration::from_secs(20));
            assert!(
                out.contains("Backed up /var/lib/dialbridge (2 organizers"),
                "{out}"
            );
            let date = Command::new("date")
                .arg("+%F")
                .output()
                .expect("date")
                .stdout;
            let file = format!(
                "/var/backups/dialbridge-{}.db",
                String::from_utf8_lossy(&date).trim()
            );
            for f in [file.clone(), format!("{file}.key")] {
                let mode = std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::metadata(&f)
                        .unwrap_or_else(|e| panic!("{f}: {e}"))
                        .permissions(),
                );
                assert_eq!(mode & 0o777, 0o600, "{f} is owner-only");
            }
            cli("organizer add --name Late --email late@example.com");
            let mut bridge = bridge;
            bridge.stop();
            let restore = fill_in(&readme.run_block("restore").text, &[("BACKUP", &file)]);
            Shell::start(&restore, cwd, &env, false).succeeds(Duration::from_secs(20));
            let bridge = Shell::start(&serve, cwd, &env, false);
            wait_for(
                || listening(&bridge),
                "the bridge starts on the restored data",
                &bridge,
            );
            let list = cli("organizer list");
            assert!(list.contains("Ada") && list.contains("Bob"), "{list}");
            assert!(
                !list.contains("Late"),
                "the organizer added after the backup is gone: {list}"
            );
        },
    );
}

fn wait_for(done: impl Fn() -> bool, what: &str, shell: &Shell) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 20 s\n{}",
            shell.describe(None)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
