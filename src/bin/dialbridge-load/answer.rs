//! The calibration server: a trivial stand-in for the bridge, in-process on its own thread,
//! doing the least a bridge must for the generator's measurements to work. It answers an
//! INVITE at once with 200 and an SDP answer, sends one frame per 20 ms to where the call's
//! RTP comes from (a constant IVR frame; after `ID##` the bundled lobby prompt, then hold
//! music; after `ID#*PIN#` silence, for that caller and everyone in that conference's
//! lobby), takes keys as RFC 4733 events or INFO, and answers BYE. It checks no PIN and
//! never retransmits its 200 (loopback does not lose datagrams).
//!
//! What the generator sustains against it is the generator's own ceiling on this machine
//! (sharing the cores with this server, so a lower bound).

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dialbridge::ivr::assets::{Assets, Frame};
use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::Law;
use dialbridge::media::dtmf::{Digit, parse_dtmf_relay, parse_event};
use dialbridge::sip::message::{self, Framing, HeaderName, Message, Method, StartLine};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::media::{Stream, TELEPHONE_EVENT};

const SIP: Token = Token(0);
/// A frame no asset has: what callers hear in the IVR.
const IVR_FRAME: Frame = [0x55; 160];
const SILENCE: Frame = [0xFF; 160];
/// Media slots per 20 ms frame.
const SLOTS: usize = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Ivr,
    Lobby(usize),
    Meeting,
}

struct Call {
    rtp: UdpSocket,
    remote: Option<SocketAddr>,
    ok: Vec<u8>,
    keys: String,
    place: Place,
    last_event: Option<u32>,
    stream: Stream,
}

/// A running calibration server.
pub struct Server {
    /// Where it takes SIP.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Socket or poller set-up failed.
    #[error("cannot start the calibration server on {ip}: {source}")]
    Io {
        /// The address tried.
        ip: IpAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bundled assets did not load.
    #[error("the bundled prompts did not load: {0}")]
    Assets(#[from] dialbridge::ivr::assets::AssetError),
}

impl Server {
    /// Starts the server on `ip` (a free port).
    pub fn start(ip: IpAddr) -> Result<Server, ServerError> {
        let io = |source| ServerError::Io { ip, source };
        let std_sock = std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(io)?;
        let s2 = socket2::SockRef::from(&std_sock);
        let _ = s2.set_recv_buffer_size(8 << 20);
        let _ = s2.set_send_buffer_size(8 << 20);
        std_sock.set_nonblocking(true).map_err(io)?;
        let addr = std_sock.local_addr().map_err(io)?;
        let mut sip = UdpSocket::from_std(std_sock);
        let poll = Poll::new().map_err(io)?;
        poll.registry()
            .register(&mut sip, SIP, Interest::READABLE)
            .map_err(io)?;
        let assets = Assets::bundled()?;
        let mut lobby: Vec<Frame> = assets.prompt(Prompt::LobbyWait).frames(Law::Mu).to_vec();
        let hold_start = lobby.len();
        lobby.extend_from_slice(assets.hold_music().frames(Law::Mu));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("calibration-server".into())
            .spawn(move || {
                let mut s = Loop {
                    poll,
                    sip,
                    addr,
                    calls: HashMap::new(),
                    tokens: HashMap::new(),
                    buckets: vec![Vec::new(); SLOTS],
                    started: HashSet::new(),
                    next_token: 1,
                    lobby,
                    hold_start,
                    buf: vec![0; 65_536],
                };
                s.run(&flag);
            })
            .map_err(io)?;
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Loop {
    poll: Poll,
    sip: UdpSocket,
    addr: SocketAddr,
    /// Calls by RTP token.
    calls: HashMap<usize, Call>,
    /// Tokens by Call-ID.
    tokens: HashMap<String, usize>,
    /// Tokens by 1 ms media slot: each call's frames leave in its own slot, so that one
    /// 20 ms burst of every call's frame never holds up the SIP answers.
    buckets: Vec<Vec<usize>>,
    started: HashSet<String>,
    next_token: usize,
    lobby: Vec<Frame>,
    hold_start: usize,
    buf: Vec<u8>,
}

impl Loop {
    fn run(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(1024);
        let start = Instant::now();
        let mut slot: u64 = 1;
        while !stop.load(Ordering::Relaxed) {
            let deadline = start + Duration::from_millis(slot);
            let now = Instant::now();
            if now >= deadline {
                self.media((slot % SLOTS as u64) as usize);
                slot += 1;
                if now - deadline > Duration::from_millis(SLOTS as u64) {
                    // Late by more than a frame: skip ahead, never burst.
                    slot = (now - start).as_millis() as u64 + 1;
                }
                continue;
            }
            if self.poll.poll(&mut events, Some(deadline - now)).is_err() {
                continue;
            }
            for ev in events.iter() {
                match ev.token() {
                    SIP => self.read_sip(),
                    Token(t) => self.read_rtp(t),
                }
            }
        }
    }

    fn media(&mut self, slot: usize) {
        let mut pkt = [0u8; 256];
        let Some(bucket) = self.buckets.get_mut(slot) else {
            return;
        };
        bucket.retain(|t| self.calls.contains_key(t));
        for t in bucket.iter() {
            let Some(c) = self.calls.get_mut(t) else {
                continue;
            };
            let Some(remote) = c.remote else { continue };
            let frame = match c.place {
                Place::Ivr => &IVR_FRAME,
                Place::Meeting => &SILENCE,
                Place::Lobby(pos) => {
                    let len = self.lobby.len();
                    let next = if pos + 1 >= len {
                        self.hold_start
                    } else {
                        pos + 1
                    };
                    c.place = Place::Lobby(next);
                    self.lobby.get(pos).unwrap_or(&SILENCE)
                }
            };
            let n = c.stream.audio_packet(&mut pkt, frame);
            c.stream.ts = c.stream.ts.wrapping_add(160);
            let _ = c.rtp.send_to(&pkt[..n], remote);
        }
    }

    fn read_sip(&mut self) {
        loop {
            let (n, from) = match self.sip.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            let Some(Ok((msg, _))) = self
                .buf
                .get(..n)
                .map(|b| message::parse(b, Framing::Datagram))
            else {
                continue;
            };
            let StartLine::Request { method, .. } = &msg.start else {
                continue;
            };
            let Some(call_id) = msg.call_id().map(str::to_string) else {
                continue;
            };
            let reply = match method {
                Method::Ack => None,
                Method::Invite => self.invite(&msg, &call_id, from),
                Method::Bye => {
                    if let Some(mut c) = self
                        .tokens
                        .remove(&call_id)
                        .and_then(|t| self.calls.remove(&t))
                    {
                        let _ = self.poll.registry().deregister(&mut c.rtp);
                    }
                    Some(crate::sip::answer(&msg, 200))
                }
                Method::Info => {
                    let token = self.tokens.get(&call_id).copied();
                    if let (Some(d), Some(t)) = (parse_dtmf_relay(&msg.body), token) {
                        self.key(t, d);
                    }
                    Some(crate::sip::answer(&msg, 200))
                }
                _ => Some(crate::sip::answer(&msg, 200)),
            };
            if let Some(r) = reply {
                let _ = self.sip.send_to(&r, from);
            }
        }
    }

    fn invite(&mut self, msg: &Message, call_id: &str, _from: SocketAddr) -> Option<Vec<u8>> {
        if let Some(c) = self.tokens.get(call_id).and_then(|t| self.calls.get(t)) {
            return Some(c.ok.clone());
        }
        let std_rtp = std::net::UdpSocket::bind(SocketAddr::new(self.addr.ip(), 0)).ok()?;
        std_rtp.set_nonblocking(true).ok()?;
        let local = std_rtp.local_addr().ok()?;
        let mut rtp = UdpSocket::from_std(std_rtp);
        let token = self.next_token;
        self.next_token += 1;
        self.poll
            .registry()
            .register(&mut rtp, Token(token), Interest::READABLE)
            .ok()?;
        let mut ok = message::response_to(msg, 200, "OK");
        let to = msg.header(&HeaderName::To).unwrap_or_default();
        ok.set_header(HeaderName::To, format!("{to};tag=cal{token}"));
        ok.set_header(HeaderName::Contact, format!("<sip:bridge@{}>", self.addr));
        ok.set_header(HeaderName::ContentType, "application/sdp");
        let ip = local.ip();
        ok.body = format!(
            "v=0\r\no=cal 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n",
            local.port()
        )
        .into_bytes();
        let ok = ok.to_bytes();
        self.tokens.insert(call_id.to_string(), token);
        if let Some(b) = self.buckets.get_mut(token % SLOTS) {
            b.push(token);
        }
        self.calls.insert(
            token,
            Call {
                rtp,
                remote: crate::sip::media_address(&msg.body),
                ok: ok.clone(),
                keys: String::new(),
                place: Place::Ivr,
                last_event: None,
                stream: Stream::new(token as u32, 0, 0),
            },
        );
        Some(ok)
    }

    fn read_rtp(&mut self, token: usize) {
        loop {
            let Some(c) = self.calls.get_mut(&token) else {
                return;
            };
            let (n, from) = match c.rtp.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(_) => return,
            };
            // Symmetric RTP: answer to where the caller's packets come from.
            c.remote = Some(from);
            let Some(p) = self
                .buf
                .get(..n)
                .and_then(|b| dialbridge::media::rtp::parse(b).ok())
            else {
                continue;
            };
            if p.payload_type != TELEPHONE_EVENT || c.last_event == Some(p.timestamp) {
                continue;
            }
            c.last_event = Some(p.timestamp);
            let digit = parse_event(p.payload)
                .ok()
                .and_then(|e| Digit::from_event(e.event));
            if let Some(d) = digit {
                self.key(token, d);
            }
        }
    }

    fn key(&mut self, token: usize, d: Digit) {
        let Some(c) = self.calls.get_mut(&token) else {
            return;
        };
        c.keys.push(d.as_char());
        if d != Digit::Pound {
            return;
        }
        let keys = c.keys.clone();
        let mut parts = keys.split('#');
        let id = parts.next().unwrap_or_default().to_string();
        let rest: Vec<&str> = parts.collect();
        match rest.as_slice() {
            ["", ""] => {
                c.place = if self.started.contains(&id) {
                    Place::Meeting
                } else {
                    Place::Lobby(0)
                };
                c.keys = format!("{id}#L");
            }
            [pin, ""] if pin.starts_with('*') => {
                c.place = Place::Meeting;
                self.started.insert(id.clone());
                let prefix = format!("{id}#L");
                for other in self.calls.values_mut() {
                    if other.keys == prefix {
                        other.place = Place::Meeting;
                    }
                }
            }
            _ => {}
        }
    }
}
