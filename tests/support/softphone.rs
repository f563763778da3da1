//! Real softphones driven headless for end-to-end tests: baresip (Debian `baresip-core`,
//! controlled over `ctrl_tcp`) and linphonec (Debian `linphone-cli`, controlled on stdin).
//! Each plays a WAV file as its microphone and records what it hears to a WAV file, which
//! the tests analyse after the call.
//!
//! Meant to run in a loopback-only network namespace (`netns.rs`): the phones are told to use
//! 127.0.0.1, and whatever address they advertise anyway is checked to lead nowhere.

// Each test file uses the phones and ways of connecting it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::netns::assert_unreachable;
use crate::recording::Recording;
use crate::support::free_udp_port;
use dialbridge::media::tone::ToneGenerator;

/// Where Debian installs baresip's modules (baresip 1.0 looks in /usr/local otherwise).
const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";

/// How long a phone may take to answer a command or to get a call up.
const PHONE_WAIT: Duration = Duration::from_secs(10);

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

/// Every address a phone's log shows in SDP `c=` and `o=` lines (its own and the bridge's).
fn sdp_addresses(log: &str) -> Vec<IpAddr> {
    log.lines()
        .filter(|l| l.starts_with("c=IN ") || l.starts_with("o="))
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// Checks that the phone advertised at least one address and that each one it or the bridge
/// advertised is loopback or unreachable from here.
fn assert_contained(phone: &str, log: &str) {
    let addresses = sdp_addresses(log);
    assert!(!addresses.is_empty(), "{phone}'s log shows no SDP");
    for a in addresses {
        assert_unreachable(a);
    }
}

/// baresip with the `aufile` source, `sndfile` recording and `ctrl_tcp` control.
pub struct Baresip {
    name: String,
    child: Child,
    dir: tempfile::TempDir,
    ctrl: TcpStream,
    /// Bytes from `ctrl_tcp` not yet parsed into netstrings.
    pending: Vec<u8>,
    /// Events (`{"event":true,"type":...}`) received so far.
    events: Vec<serde_json::Value>,
    /// Its account and calls use SIP over TLS.
    tls: bool,
}

/// How a softphone connects: plain UDP, SIP over TLS, or SIP over TLS with mandatory SRTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security<'a> {
    /// SIP over UDP, plain RTP.
    Plain,
    /// SIP over TLS trusting this CA certificate, plain RTP.
    Tls(&'a Path),
    /// SIP over TLS trusting this CA certificate, and SRTP with SDES keys or no call.
    TlsSrtp(&'a Path),
}

impl Security<'_> {
    fn ca(self) -> Option<PathBuf> {
        match self {
            Security::Plain => None,
            Security::Tls(ca) | Security::TlsSrtp(ca) => Some(ca.to_path_buf()),
        }
    }

    fn srtp(self) -> bool {
        matches!(self, Security::TlsSrtp(_))
    }
}

impl Baresip {
    /// Starts baresip as `sip:NAME@127.0.0.1`, its microphone playing `source` (a WAV at the
    /// rate of the codec it will talk).
    pub fn start(name: &str, source: &Path) -> Baresip {
        Self::start_with(name, source, Security::Plain)
    }

    /// Starts baresip as `sip:NAME@127.0.0.1;transport=tls`, trusting the CA certificate in
    /// `ca` (`sip_cafile`); its calls go over TLS.
    pub fn start_tls(name: &str, source: &Path, ca: &Path) -> Baresip {
        Self::start_with(name, source, Security::Tls(ca))
    }

    /// Starts baresip as `sip:NAME@127.0.0.1;transport=tls` with SRTP mandatory
    /// (`mediaenc=srtp-mand`, its `srtp.so`): it offers `RTP/SAVP` with `a=crypto` lines.
    pub fn start_tls_srtp(name: &str, source: &Path, ca: &Path) -> Baresip {
        Self::start_with(name, source, Security::TlsSrtp(ca))
    }

    fn start_with(name: &str, source: &Path, security: Security<'_>) -> Baresip {
        let ca = security.ca();
        let ca = ca.as_deref();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        let recordings = dir.path().join("recordings");
        std::fs::create_dir_all(&config).expect("config dir");
        std::fs::create_dir_all(&recordings).expect("recordings dir");
        let ctrl_port = free_tcp_port();
        // `net_interface 127.0.0.1` makes baresip use loopback: left to itself it finds no
        // usable address in a loopback-only namespace. G.722 is loaded so that the phone
        // takes it whenever the bridge offers it; the checks work on decoded audio.
        let text = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             net_interface 127.0.0.1\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             audio_source aufile,{source}\n\
             module_path {BARESIP_MODULES}\n\
             module g722.so\n\
             module g711.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {recordings}\n\
             {cafile}{srtp}",
            sip = free_udp_port(),
            source = source.display(),
            recordings = recordings.display(),
            cafile = ca.map_or(String::new(), |ca| format!("sip_cafile {}\n", ca.display())),
            srtp = if security.srtp() {
                "module srtp.so\n"
            } else {
                ""
            },
        );
        std::fs::write(config.join("config"), text).expect("write baresip config");
        std::fs::write(
            config.join("accounts"),
            if security.srtp() {
                format!("<sip:{name}@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand\n")
            } else if ca.is_some() {
                format!("<sip:{name}@127.0.0.1;transport=tls>;regint=0\n")
            } else {
                format!("<sip:{name}@127.0.0.1>;regint=0\n")
            },
        )
        .expect("write baresip accounts");
        let log = std::fs::File::create(dir.path().join("baresip.log")).expect("log file");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&config)
            // -s: SIP trace in the log (to check the addresses in the SDP); -t: a last resort.
            .args(["-s", "-t", "300"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("run baresip (Debian baresip-core)");
        let deadline = Instant::now() + PHONE_WAIT;
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    panic!("baresip's ctrl_tcp never listened: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        ctrl.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        Baresip {
            name: name.to_string(),
            child,
            dir,
            ctrl,
            pending: Vec::new(),
            events: Vec::new(),
            tls: ca.is_some(),
        }
    }

    fn command(&mut self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": command}).to_string();
        let netstring = format!("{}:{body},", body.len());
        self.ctrl
            .write_all(netstring.as_bytes())
            .expect("write to baresip's ctrl_tcp");
    }

    /// Reads what `ctrl_tcp` sent (for up to 100 ms) and keeps the events.
    fn poll(&mut self) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.ctrl.read(&mut buf) {
            self.pending.extend_from_slice(&buf[..n]);
        }
        while let Some(colon) = self.pending.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&self.pending[..colon])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                panic!("not a netstring from ctrl_tcp: {:?}", self.pending);
            };
            let end = colon + 1 + len;
            if self.pending.len() <= end {
                break;
            }
            let message: serde_json::Value =
                serde_json::from_slice(&self.pending[colon + 1..end]).expect("JSON from ctrl_tcp");
            self.pending.drain(..=end);
            if message["event"] == true {
                self.events.push(message);
            }
        }
    }

    /// Waits for an event of this type; returns when it was seen.
    fn wait_event(&mut self, kind: &str, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
                self.events.remove(i);
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "baresip {} saw no {kind}; events: {:?}; log:\n{}",
                self.name,
                self.events,
                self.log()
            );
            self.poll();
        }
    }

    /// Calls the bridge; returns when the call was established (about when the recording
    /// of what the phone hears starts).
    pub fn dial(&mut self, bridge: SocketAddr) -> Instant {
        let uri = if self.tls {
            format!("sip:dialin@{bridge};transport=tls")
        } else {
            format!("sip:dialin@{bridge}")
        };
        self.command("dial", &uri);
        self.wait_event("CALL_ESTABLISHED", PHONE_WAIT)
    }

    /// Sends keys as RFC 4733 telephone events (`sndcode`).
    pub fn send_digits(&mut self, digits: &str) {
        self.command("sndcode", digits);
    }

    /// Hangs up and returns the recording of what the phone heard.
    pub fn hang_up(&mut self) -> Recording {
        self.command("hangup", "");
        self.wait_event("CALL_CLOSED", PHONE_WAIT);
        // sndfile closes (and so completes) the file when the call's audio stream goes away.
        self.command("quit", "");
        let deadline = Instant::now() + PHONE_WAIT;
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "baresip did not quit");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_contained(&format!("baresip {}", self.name), &self.log());
        let recordings = self.dir.path().join("recordings");
        let decoded: Vec<PathBuf> = std::fs::read_dir(&recordings)
            .expect("recordings dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        assert_eq!(decoded.len(), 1, "one recording of what baresip heard");
        Recording::open(&decoded[0])
    }

    /// Everything baresip printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- baresip {} log ----\n{}", self.name, self.log());
        }
    }
}

/// linphonec with `soundcard use files`: `play` is its microphone, `record` what it hears.
pub struct Linphonec {
    name: String,
    child: Child,
    stdin: ChildStdin,
    /// Everything it printed on stdout so far.
    output: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
    /// Its calls go over SIP/TLS.
    tls: bool,
}

impl Linphonec {
    /// Starts linphonec, its microphone playing `source` (8 kHz WAV).
    pub fn start(name: &str, source: &Path) -> Linphonec {
        Self::start_with(name, source, Security::Plain)
    }

    /// Starts linphonec with SIP over TLS only (trusting `ca`) and SRTP mandatory (SDES).
    pub fn start_tls_srtp(name: &str, source: &Path, ca: &Path) -> Linphonec {
        Self::start_with(name, source, Security::TlsSrtp(ca))
    }

    fn start_with(name: &str, source: &Path, security: Security<'_>) -> Linphonec {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        // Without its database directory linphone never opens its SIP ports.
        std::fs::create_dir_all(home.join(".local/share/linphone")).expect("linphone home");
        let rc = dir.path().join("linphonerc");
        // Port 0 switches a transport off; RTP takes the port and the one above (RTCP).
        let ports = match security.ca() {
            // Over TLS only; linphone checks the bridge's certificate against the test CA (the
            // name is an IP address, which it does not match against the certificate).
            Some(ca) => format!(
                "sip_port=0\nsip_tcp_port=0\nsip_tls_port={tls}\nverify_server_certs=1\n\
                 verify_server_cn=0\nroot_ca={ca}\n",
                tls = free_tcp_port(),
                ca = ca.display()
            ),
            None => format!(
                "sip_port={}\nsip_tcp_port=0\nsip_tls_port=0\n",
                free_udp_port()
            ),
        };
        let srtp = if security.srtp() {
            "media_encryption=srtp\nmedia_encryption_mandatory=1\n"
        } else {
            ""
        };
        let text = format!(
            "[sip]\n{ports}use_rfc2833=1\nuse_info=0\n{srtp}\
             contact=\"{name}\" <sip:{name}@127.0.0.1>\n\
             [rtp]\naudio_rtp_port={rtp}\n\
             [sound]\nechocancellation=0\n\
             [video]\nautomatically_initiate=0\nautomatically_accept=0\n",
            rtp = free_udp_port() & !1,
        );
        std::fs::write(&rc, text).expect("write linphonerc");
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            // Level 6 logs the SIP messages (to check the addresses in the SDP).
            .args(["-d", "6", "-l"])
            .arg(dir.path().join("linphone.log"))
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run linphonec (Debian linphone-cli)");
        let stdin = child.stdin.take().expect("linphonec stdin");
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut o) = output.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            });
        }
        let mut phone = Linphonec {
            name: name.to_string(),
            child,
            stdin,
            output,
            dir,
            tls: security.ca().is_some(),
        };
        phone.say("soundcard use files");
        phone.wait_output("Using wav files instead of soundcard.");
        phone.say(&format!("play {}", source.display()));
        let record = phone.recording_path();
        phone.say(&format!("record {}", record.display()));
        phone
    }

    fn recording_path(&self) -> PathBuf {
        self.dir.path().join("heard.wav")
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to linphonec");
        self.stdin.flush().expect("flush linphonec stdin");
    }

    fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn wait_output(&self, needle: &str) -> Instant {
        let deadline = Instant::now() + PHONE_WAIT;
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "linphonec {} never printed {needle:?}; it printed:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Instant::now()
    }

    /// Calls the bridge; returns when the call's media was up (about when the recording of
    /// what the phone hears starts).
    pub fn dial(&mut self, bridge: SocketAddr) -> Instant {
        if self.tls {
            self.say(&format!("call sip:dialin@{bridge};transport=tls"));
        } else {
            self.say(&format!("call sip:dialin@{bridge}"));
        }
        self.wait_output("Media streams established")
    }

    /// Sends keys as RFC 4733 telephone events. linphonec sends one key per second and
    /// reads nothing else meanwhile.
    pub fn send_digits(&mut self, digits: &str) {
        self.say(digits);
    }

    /// Hangs up and returns the recording of what the phone heard.
    pub fn hang_up(&mut self) -> Recording {
        self.say("terminate");
        self.wait_output("ended (");
        self.say("quit");
        let deadline = Instant::now() + PHONE_WAIT;
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "linphonec did not quit");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_contained(&format!("linphonec {}", self.name), &self.log());
        Recording::open(&self.recording_path())
    }

    /// linphone's log (with the SIP messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("linphone.log")).unwrap_or_default()
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- linphonec {} output ----\n{}",
                self.name,
                self.output()
            );
        }
    }
}

/// A phone's microphone: 60 s of a tone at about -12 dBFS, or of silence (the phones hang
/// up when their source file ends), at `rate` Hz. baresip's `aufile` does not resample, so
/// its file must have the rate of the codec it talks: 16 kHz, since it offers G.722 first
/// and the bridge takes it. linphonec resamples whatever it plays.
pub fn microphone(dir: &Path, tone: Option<f32>, rate: usize) -> PathBuf {
    let path = dir.join(format!("mic-{}-{rate}.wav", tone.unwrap_or(0.0)));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut samples = vec![0i16; 60 * rate];
    if let Some(freq) = tone {
        ToneGenerator::new(freq, 8000, rate as f32).fill(&mut samples);
    }
    let mut w = hound::WavWriter::create(&path, spec).expect("create the microphone WAV");
    for s in samples {
        w.write_sample(s).expect("write the microphone WAV");
    }
    w.finalize().expect("finish the microphone WAV");
    path
}
