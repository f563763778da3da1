//! The commands a newcomer is shown, run as shown: `dialbridge demo` started the way the
//! README says, the lines its banner prints picked out of its output, and shell lines run
//! with `bash -euo pipefail -c`, verbatim. Used by `tests/demo.rs` and `tests/readme.rs`,
//! each test in a loopback-only network namespace of its own (`netns.rs`), where the
//! documented default ports (SIP 5060, HTTP 8080, SIPp's 5070/5072, 6000/6100 and 8888) are
//! free for the printed lines to use as they are.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::binary;

/// The last line of the demo's banner: once it is out, every line above it is.
pub const BANNER_END: &str = "Press Ctrl-C to stop.";

/// A running `dialbridge demo` (or any long-running `dialbridge` command whose stdout is
/// read); SIGTERM, then SIGKILL, when dropped.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    /// Its stderr (the log).
    pub log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Running {
    /// Starts the binary with `args` in `cwd`.
    pub fn start(cwd: &Path, args: &[&str]) -> Running {
        let log_dir = tempfile::tempdir().expect("tempdir for the log");
        let log = log_dir.path().join("dialbridge.log");
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")))
            .spawn()
            .expect("start dialbridge");
        let stdout = Arc::new(Mutex::new(String::new()));
        let pipe = child.stdout.take().expect("stdout pipe");
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        Running {
            child,
            stdout,
            log,
            _log_dir: log_dir,
        }
    }

    /// What it printed so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Its log so far, without colour codes.
    pub fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits for the whole banner and returns it.
    pub fn banner(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.stdout();
            if out.contains(BANNER_END) {
                return out;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dialbridge exited ({status}) before its banner; stdout:\n{out}\nlog:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no banner within 30 s; stdout:\n{out}\nlog:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child's pid, not yet reaped.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
            if wait_child(&mut self.child, Duration::from_secs(12)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "---- dialbridge stdout ----\n{}\n---- dialbridge log ----\n{}",
                self.stdout(),
                self.log_text()
            );
        }
    }
}

fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `text` without ANSI colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for end in chars.by_ref() {
                    if ('@'..='~').contains(&end) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value after `label:` on the banner line that starts with it.
pub fn banner_field(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} line in the banner:\n{banner}"))
        .to_string()
}

/// The banner's command lines (indented by two spaces) that contain `needle`.
pub fn printed_lines(banner: &str, needle: &str) -> Vec<String> {
    banner
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' ') && l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// A shell line started with `bash -euo pipefail -c`, in `cwd`, with its output in files.
pub struct Shell {
    child: Child,
    /// What was run.
    pub line: String,
    out: tempfile::TempDir,
}

impl Shell {
    /// Starts `line` (as it is) in `cwd`, in a process group of its own; stdin is a pipe
    /// (see `stdin`) when `stdin` is true, /dev/null otherwise.
    pub fn start(line: &str, cwd: &Path, env: &[(&str, &str)], stdin: bool) -> Shell {
        use std::os::unix::process::CommandExt;
        let out = tempfile::tempdir().expect("tempdir for output");
        let child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", line])
            .current_dir(cwd)
            .envs(env.iter().copied())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::from(
                std::fs::File::create(out.path().join("stdout")).expect("stdout file"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(out.path().join("stderr")).expect("stderr file"),
            ))
            .process_group(0)
            .spawn()
            .expect("run bash");
        Shell {
            child,
            line: line.to_string(),
            out,
        }
    }

    /// Its stdin pipe (when started with `stdin: true`).
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child
            .stdin
            .as_mut()
            .expect("started with a stdin pipe")
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.out.path().join("stdout")).unwrap_or_default()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.out.path().join("stderr")).unwrap_or_default()
    }

    /// The line, its exit status and the end of its output, for failure messages.
    pub fn describe(&self, status: Option<ExitStatus>) -> String {
        let tail = |t: String| {
            let start = t.len().saturating_sub(3000);
            let start = (start..t.len())
                .find(|&i| t.is_char_boundary(i))
                .unwrap_or(t.len());
            t[start..].to_string()
        };
        format!(
            "line: {}\nexit: {status:?}\n---- stdout (end) ----\n{}\n---- stderr (end) ----\n{}",
            self.line,
            tail(self.stdout()),
            tail(self.stderr())
        )
    }

    /// Waits up to `timeout` for it to exit; panics unless it exits 0. Returns its stdout.
    pub fn succeeds(mut self, timeout: Duration) -> String {
        let status = wait_child(&mut self.child, timeout);
        let ok = status.is_some_and(|s| s.success());
        assert!(ok, "a documented command failed\n{}", self.describe(status));
        self.stdout()
    }

    /// Ends it (SIGTERM to its process group, then SIGKILL).
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = self.child.id() as i32;
            // SAFETY: kill(2) on the process group of our own child, not yet reaped.
            unsafe {
                libc::kill(-group, libc::SIGTERM);
            }
            if wait_child(&mut self.child, Duration::from_secs(5)).is_none() {
                // SAFETY: as above.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
                let _ = self.child.wait();
            }
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many lines of `log` contain every one of `needles`.
pub fn log_lines(log: &str, needles: &[&str]) -> usize {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}
