//! A SIP phone for end-to-end tests: real SIP and RTP over 127.0.0.1, RFC 4733 and SIP INFO
//! digits, a tone it talks with, and a recording of everything it hears (with arrival times).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dialbridge::media::codec::Codec;
use dialbridge::media::dtmf::{Digit, TelephoneEvent, write_event};
use dialbridge::media::g711;
use dialbridge::media::g722::G722;
use dialbridge::media::rtp;
use dialbridge::media::tone::ToneGenerator;
use dialbridge::sip::message::{self, Framing, HeaderName, Message, Method};
use dialbridge::sip::stream::{StreamItem, StreamReader};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The payload type the phone offers for telephone-event.
pub const TE_PT: u8 = 101;

/// One RTP packet the phone received.
#[derive(Clone, Debug)]
pub struct Heard {
    /// When it arrived.
    pub at: Instant,
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// A G.722 phone's decoding of the payload (16 kHz; its decoder saw every packet in
    /// arrival order); empty for G.711.
    pub wide: Vec<i16>,
}

impl Heard {
    /// Decoded linear audio of this packet: 8 kHz for G.711, 16 kHz for G.722.
    pub fn pcm(&self, codec: Codec) -> Vec<i16> {
        match codec.law() {
            Some(law) => {
                let mut out = vec![0i16; self.payload.len()];
                g711::decode(law, &self.payload, &mut out);
                out
            }
            None => self.wide.clone(),
        }
    }
}

enum MediaOrder {
    Digits(String),
    Tone(Option<f32>),
    /// A tone at this peak amplitude.
    ToneLevel(f32, i16),
    /// Send these bytes as they are, from the phone's RTP socket, at the next tick.
    Raw(Vec<u8>),
    /// Misbehave like a real network or gateway.
    Perturb(Perturb),
    /// Keys as DTMF tones in the audio.
    Tones(String),
    /// Say these 8 kHz samples, 20 ms per packet, in place of the tone.
    Speak(Vec<i16>),
    /// The bridge's media address from its SDP answer: send there and hear only that.
    Peer(SocketAddr),
}

/// Ways a phone's RTP stream can misbehave, for hostile-RTP tests.
#[derive(Clone, Copy, Debug)]
pub enum Perturb {
    /// Start a new SSRC with a new random sequence and timestamp (a gateway switching over).
    NewSsrc,
    /// Jump the sequence number to this value (to cross the 65535 → 0 wrap soon).
    Sequence(u16),
    /// Send every packet this many times (1: normal).
    Copies(u8),
    /// Swap each pair of consecutive audio packets.
    Reorder(bool),
    /// Lose this many percent of the packets of speech ([`Phone::speak`]) at random, drawn
    /// from an RNG seeded with `seed` when the order arrives; 0 stops it. Only packets of
    /// speech draw, so the same seed loses the same packets of the same speech however the
    /// orders fall on the phone's 20 ms clock (a silent packet between them drew once and
    /// moved the whole pattern).
    Drop {
        /// Share of packets lost, in percent.
        percent: u8,
        /// Seeds the draws.
        seed: u64,
    },
}

struct Media {
    heard: Arc<Mutex<Vec<Heard>>>,
    /// Packets of speech lost on purpose ([`Perturb::Drop`]).
    dropped: Arc<AtomicUsize>,
    /// The longest time between two packets of speech, in µs: how steadily it was paced.
    speech_gap_us: Arc<AtomicU64>,
    orders: Sender<MediaOrder>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    local: SocketAddr,
}

/// How the phone's SIP travels.
enum SipLink {
    Udp(UdpSocket),
    /// One connection to the bridge, framed as RFC 3261 §18.3 says.
    Tcp {
        stream: TcpStream,
        reader: StreamReader,
    },
    /// One TLS connection to the bridge (rustls), framed like TCP.
    Tls {
        stream: Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
        reader: StreamReader,
    },
}

/// The next message on a stream link, reading at most once (about 50 ms).
fn read_framed(stream: &mut impl Read, reader: &mut StreamReader) -> Option<Message> {
    if let Some(StreamItem::Message(m)) = reader.next_item() {
        return Some(m);
    }
    let mut buf = vec![0u8; 65536];
    let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
    reader.push(Instant::now(), &buf[..n]);
    match reader.next_item() {
        Some(StreamItem::Message(m)) => Some(m),
        _ => None,
    }
}

/// A test phone. One call at a time.
pub struct Phone {
    sip: SipLink,
    bridge: SocketAddr,
    codec: Codec,
    call_id: String,
    from_tag: String,
    to_header: Option<String>,
    /// Through a proxy that record-routed the call (Kamailio): the 200's Contact, and the
    /// Record-Route set reversed, which in-dialog requests follow (RFC 3261 §12.1.2).
    dialog_route: Option<(String, Vec<String>)>,
    cseq: u32,
    media: Option<Media>,
    remote_media: Option<SocketAddr>,
    received: Vec<Message>,
    /// Requests the bridge sent us (BYE), already answered 200.
    pub requests: Vec<Message>,
    invite: Option<Message>,
    tone: Option<f32>,
    /// The From user: the calling number the bridge sees.
    from_user: String,
    /// Offer telephone-event in SDP (false: an old gateway that only sends tones).
    telephone_event: bool,
    /// The user dialled in the Request-URI and To (`bridge`, or a number a proxy routes).
    request_user: String,
    /// More headers for the INVITE (a relay leg's signature).
    invite_headers: Vec<(HeaderName, String)>,
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Phone {
    /// A phone that will call `bridge`, talking `codec`, sending `tone` Hz (None: silence).
    pub fn new(bridge: SocketAddr, codec: Codec, tone: Option<f32>) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
        sip.set_read_timeout(Some(Duration::from_millis(50))).ok();
        Self::with_link(SipLink::Udp(sip), bridge, codec, tone)
    }

    /// A phone whose SIP goes over one TCP connection to the bridge (media stays RTP/UDP).
    pub fn new_tcp(bridge: SocketAddr, codec: Codec, tone: Option<f32>) -> Phone {
        let stream = TcpStream::connect(bridge).expect("connect SIP over TCP");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .ok();
        stream.set_nodelay(true).ok();
        let link = SipLink::Tcp {
            stream,
            reader: StreamReader::new(),
        };
        Self::with_link(link, bridge, codec, tone)
    }

    /// A phone whose SIP goes over one TLS connection to `bridge_tls`, the bridge's TLS
    /// port (media stays RTP/UDP); panics when the handshake fails.
    pub fn new_tls(
        bridge_tls: SocketAddr,
        config: std::sync::Arc<rustls::ClientConfig>,
        codec: Codec,
        tone: Option<f32>,
    ) -> Phone {
        let stream = TcpStream::connect(bridge_tls).expect("connect SIP over TLS");
        stream.set_nodelay(true).ok();
        let name = rustls::pki_types::ServerName::from(bridge_tls.ip());
        let mut conn = rustls::ClientConnection::new(config, name).expect("TLS client");
        let mut stream = stream;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)
                .expect("TLS handshake with the bridge");
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .ok();
        let link = SipLink::Tls {
            stream: Box::new(rustls::StreamOwned::new(conn, stream)),
            reader: StreamReader::new(),
        };
        Self::with_link(link, bridge_tls, codec, tone)
    }

    fn with_link(sip: SipLink, bridge: SocketAddr, codec: Codec, tone: Option<f32>) -> Phone {
        Phone {
            sip,
            bridge,
            codec,
            call_id: format!("{}@dialbridge-test", token()),
            from_tag: token(),
            to_header: None,
            dialog_route: None,
            cseq: 1,
            media: None,
            remote_media: None,
            received: Vec::new(),
            requests: Vec::new(),
            invite: None,
            tone,
            from_user: "tester".into(),
            telephone_event: true,
            request_user: "bridge".into(),
            invite_headers: Vec::new(),
        }
    }

    /// Offers no telephone-event: keys can then only go as tones in the audio.
    pub fn without_telephone_event(&mut self) {
        self.telephone_event = false;
    }

    /// Sends these keys as DTMF tones in the audio (80 ms tone, 80 ms pause each).
    pub fn send_inband_digits(&self, keys: &str) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Tones(keys.to_string()));
        }
    }

    /// Dials this user (Request-URI and To), e.g. a number a registrar routes; "bridge" by
    /// default.
    pub fn set_request_user(&mut self, user: &str) {
        self.request_user = user.into();
    }

    /// Sends this header with the INVITE as well.
    pub fn add_invite_header(&mut self, name: &str, value: &str) {
        self.invite_headers
            .push((HeaderName::parse(name), value.to_string()));
    }

    /// The SIP Call-ID of this phone's call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Calls as this number (the From user); "tester" by default.
    pub fn set_from_user(&mut self, user: &str) {
        self.from_user = user.to_string();
    }

    /// The local SIP address.
    pub fn sip_addr(&self) -> SocketAddr {
        match &self.sip {
            SipLink::Udp(s) => s.local_addr().expect("local addr"),
            SipLink::Tcp { stream, .. } => stream.local_addr().expect("local addr"),
            SipLink::Tls { stream, .. } => stream.sock.local_addr().expect("local addr"),
        }
    }

    fn transport(&self) -> &'static str {
        match self.sip {
            SipLink::Udp(_) => "UDP",
            SipLink::Tcp { .. } => "TCP",
            SipLink::Tls { .. } => "TLS",
        }
    }

    /// The next SIP message from the bridge, waiting at most about 50 ms.
    fn recv_message(&mut self) -> Option<Message> {
        match &mut self.sip {
            SipLink::Udp(s) => {
                let mut buf = vec![0u8; 65536];
                let (n, _) = s.recv_from(&mut buf).ok()?;
                message::parse(&buf[..n], Framing::Datagram)
                    .ok()
                    .map(|(m, _)| m)
            }
            SipLink::Tcp { stream, reader } => read_framed(stream, reader),
            SipLink::Tls { stream, reader } => read_framed(stream, reader),
        }
    }

    /// The bridge's media address from its SDP.
    pub fn remote_media(&self) -> Option<SocketAddr> {
        self.remote_media
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{branch};rport",
            self.transport(),
            self.sip_addr()
        )
    }

    fn sdp(&self, rtp: SocketAddr) -> String {
        let pt = self.codec.payload_type();
        if !self.telephone_event {
            return format!(
                "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {} RTP/AVP {pt}\r\na=rtpmap:{pt} {}/8000\r\na=ptime:20\r\na=sendrecv\r\n",
                rtp.port(),
                self.codec.encoding_name()
            );
        }
        format!(
            "v=0\r\no=test 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP {pt} {TE_PT}\r\na=rtpmap:{pt} {}/8000\r\na=rtpmap:{TE_PT} telephone-event/8000\r\n\
             a=fmtp:{TE_PT} 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
            rtp.port(),
            self.codec.encoding_name()
        )
    }

    /// Sends raw bytes to the bridge's SIP port.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.sip {
            SipLink::Udp(s) => {
                s.send_to(bytes, self.bridge).expect("send SIP");
            }
            SipLink::Tcp { stream, .. } => stream.write_all(bytes).expect("send SIP over TCP"),
            SipLink::Tls { stream, .. } => {
                stream.write_all(bytes).expect("send SIP over TLS");
                stream.flush().expect("send SIP over TLS");
            }
        }
    }

    /// Waits for a SIP message matching `pred`; answers bridge requests (BYE, …) with 200.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        if let Some(i) = self.received.iter().position(&pred) {
            return Some(self.received.remove(i));
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let Some(msg) = self.recv_message() else {
                continue;
            };
            if msg.method().is_some() {
                if msg.method() != Some(&Method::Ack) {
                    let ok = message::response_to(&msg, 200, "OK");
                    self.send_raw(&ok.to_bytes());
                }
                let matched = pred(&msg);
                self.requests.push(msg.clone());
                if matched {
                    return Some(msg);
                }
                continue;
            }
            if pred(&msg) {
                return Some(msg);
            }
            self.received.push(msg);
        }
        None
    }

    /// Waits for a response with this status to a request with this CSeq method.
    pub fn wait_response(
        &mut self,
        status: u16,
        method: Method,
        timeout: Duration,
    ) -> Option<Message> {
        self.wait_for(timeout, |m| {
            m.status() == Some(status) && m.cseq().is_ok_and(|c| c.method == method)
        })
    }

    /// Builds a request in the current dialog.
    fn request(&mut self, method: Method, body: Option<(&str, &[u8])>) -> Message {
        let in_dialog = !matches!(method, Method::Invite | Method::Cancel);
        let uri = match (&self.dialog_route, in_dialog) {
            (Some((contact, _)), true) => contact.clone(),
            _ => format!("sip:{}@{}", self.request_user, self.bridge),
        };
        let mut m = message::request(method.clone(), &uri);
        if let (Some((_, routes)), true) = (&self.dialog_route, in_dialog) {
            for route in routes {
                m.add_header(HeaderName::Route, route.clone());
            }
        }
        m.add_header(HeaderName::Via, self.via(&token()));
        m.add_header(HeaderName::MaxForwards, "70");
        m.add_header(
            HeaderName::From,
            format!(
                "<sip:{}@{}>;tag={}",
                self.from_user,
                self.sip_addr(),
                self.from_tag
            ),
        );
        m.add_header(
            HeaderName::To,
            self.to_header
                .clone()
                .unwrap_or_else(|| format!("<sip:{}@{}>", self.request_user, self.bridge)),
        );
        m.add_header(HeaderName::CallId, self.call_id.clone());
        let cseq = if method == Method::Ack || method == Method::Cancel {
            self.cseq
        } else {
            self.cseq += 1;
            self.cseq
        };
        m.add_header(HeaderName::CSeq, format!("{cseq} {}", method.as_str()));
        m.add_header(
            HeaderName::Contact,
            match self.sip {
                SipLink::Udp(_) => format!("<sip:tester@{}>", self.sip_addr()),
                SipLink::Tcp { .. } => format!("<sip:tester@{};transport=tcp>", self.sip_addr()),
                SipLink::Tls { .. } => format!("<sip:tester@{};transport=tls>", self.sip_addr()),
            },
        );
        if method == Method::Invite {
            for (name, value) in &self.invite_headers {
                m.add_header(name.clone(), value.clone());
            }
        }
        if let Some((ctype, body)) = body {
            m.add_header(HeaderName::ContentType, ctype);
            m.body = body.to_vec();
        }
        m
    }

    /// Sends the INVITE (with an SDP offer) and returns it; does not wait.
    pub fn send_invite(&mut self) -> Message {
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
        let local = rtp.local_addr().expect("rtp addr");
        let sdp = self.sdp(local);
        let invite = self.request(Method::Invite, Some(("application/sdp", sdp.as_bytes())));
        self.send_raw(&invite.to_bytes());
        self.invite = Some(invite.clone());
        self.start_media(rtp);
        invite
    }

    /// Calls the bridge: INVITE, waits for 200, sends ACK. Returns the 200.
    pub fn call(&mut self) -> Message {
        let invite = self.send_invite();
        let deadline = Instant::now() + Duration::from_secs(5);
        let ok = loop {
            if let Some(ok) = self.wait_response(200, Method::Invite, Duration::from_millis(500)) {
                break ok;
            }
            assert!(Instant::now() < deadline, "no 200 OK to INVITE");
            if matches!(self.sip, SipLink::Udp(_)) {
                self.send_raw(&invite.to_bytes()); // our own Timer A (none on TCP, §17.1.1.2)
            }
        };
        self.ack(&ok);
        ok
    }

    /// Acknowledges a 2xx and learns the bridge's media address.
    pub fn ack(&mut self, ok: &Message) {
        self.to_header = ok.header(&HeaderName::To).map(str::to_owned);
        let routes: Vec<String> = ok
            .headers_named(&HeaderName::RecordRoute)
            .flat_map(|v| {
                v.split(',')
                    .map(|r| r.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let contact = ok.header(&HeaderName::Contact).map(|c| {
            c.trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string()
        });
        if let (false, Some(contact)) = (routes.is_empty(), contact) {
            self.dialog_route = Some((contact, routes.into_iter().rev().collect()));
        }
        self.remote_media = media_address(&ok.body);
        if let (Some(m), Some(peer)) = (&self.media, self.remote_media) {
            let _ = m.orders.send(MediaOrder::Peer(peer));
        }
        let ack = self.request(Method::Ack, None);
        self.send_raw(&ack.to_bytes());
    }

    /// Sends CANCEL for the pending INVITE.
    pub fn cancel(&mut self) {
        let invite = self.invite.clone().expect("an INVITE to cancel");
        let mut cancel = message::request(Method::Cancel, invite.request_uri().unwrap_or_default());
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            if let Some(v) = invite.header(&name) {
                cancel.add_header(name, v.to_string());
            }
        }
        cancel.add_header(HeaderName::MaxForwards, "70");
        cancel.add_header(HeaderName::CSeq, format!("{} CANCEL", self.cseq));
        self.send_raw(&cancel.to_bytes());
    }

    /// Acknowledges a non-2xx final response to the INVITE (same branch, §17.1.1.3).
    pub fn ack_error(&mut self, response: &Message) {
        let invite = self.invite.clone().expect("an INVITE");
        let mut ack = message::request(Method::Ack, invite.request_uri().unwrap_or_default());
        for name in [HeaderName::Via, HeaderName::From, HeaderName::CallId] {
            if let Some(v) = invite.header(&name) {
                ack.add_header(name, v.to_string());
            }
        }
        if let Some(to) = response.header(&HeaderName::To) {
            ack.add_header(HeaderName::To, to.to_string());
        }
        ack.add_header(HeaderName::MaxForwards, "70");
        ack.add_header(HeaderName::CSeq, format!("{} ACK", self.cseq));
        self.send_raw(&ack.to_bytes());
    }

    /// Hangs up with BYE and waits for the 200.
    pub fn hangup(&mut self) -> Option<Message> {
        let bye = self.request(Method::Bye, None);
        self.send_raw(&bye.to_bytes());
        let r = self.wait_response(200, Method::Bye, Duration::from_secs(3));
        self.stop_media();
        r
    }

    /// Sends a request in the dialog and waits for its final response.
    pub fn in_dialog(&mut self, method: Method, body: Option<(&str, &[u8])>) -> Option<Message> {
        let req = self.request(method.clone(), body);
        self.send_raw(&req.to_bytes());
        self.wait_for(Duration::from_secs(3), |m| {
            m.status().is_some_and(|s| s >= 200) && m.cseq().is_ok_and(|c| c.method == method)
        })
    }

    /// Sends one digit by SIP INFO (`application/dtmf-relay`).
    pub fn info_digit(&mut self, key: char) -> Option<Message> {
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        self.in_dialog(
            Method::Info,
            Some(("application/dtmf-relay", body.as_bytes())),
        )
    }

    /// Waits for the bridge to hang up (BYE); answered with 200 automatically.
    pub fn wait_for_bye(&mut self, timeout: Duration) -> bool {
        if self
            .requests
            .iter()
            .any(|r| r.method() == Some(&Method::Bye))
        {
            return true;
        }
        self.wait_for(timeout, |m| m.method() == Some(&Method::Bye))
            .is_some()
    }

    fn start_media(&mut self, socket: UdpSocket) {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let speech_gap_us = Arc::new(AtomicU64::new(0));
        let (orders, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let local = socket.local_addr().expect("rtp addr");
        let thread = {
            let heard = Arc::clone(&heard);
            let dropped = Arc::clone(&dropped);
            let speech_gap_us = Arc::clone(&speech_gap_us);
            let stop = Arc::clone(&stop);
            let codec = self.codec;
            let bridge_ip = self.bridge.ip();
            let tone = self.tone;
            std::thread::spawn(move || {
                let shared = Shared {
                    heard,
                    dropped,
                    speech_gap_us,
                    orders: rx,
                    stop,
                };
                media_loop(socket, codec, bridge_ip, tone, shared)
            })
        };
        self.media = Some(Media {
            heard,
            dropped,
            speech_gap_us,
            orders,
            stop,
            thread: Some(thread),
            local,
        });
    }

    /// Sends raw bytes from the phone's RTP socket to the bridge (malformed packets…).
    pub fn send_rtp_raw(&self, bytes: &[u8]) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Raw(bytes.to_vec()));
        }
    }

    /// Makes the phone's RTP misbehave from the next packet on.
    pub fn perturb(&self, how: Perturb) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Perturb(how));
        }
    }

    /// Sends these keys as RFC 4733 events (about 160 ms per key).
    pub fn send_digits(&self, keys: &str) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Digits(keys.to_string()));
        }
    }

    /// Says these 8 kHz samples (20 ms per packet, paced by the phone's clock), then goes back
    /// to its tone or silence.
    pub fn speak(&self, pcm: &[i16]) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Speak(pcm.to_vec()));
        }
    }

    /// Changes what the phone says (a tone in Hz, or silence).
    pub fn set_tone(&self, tone: Option<f32>) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::Tone(tone));
        }
    }

    /// Talks a tone at this peak amplitude (8000 is the default level; 100 a faint line).
    pub fn set_tone_level(&self, tone: f32, amplitude: i16) {
        if let Some(m) = &self.media {
            let _ = m.orders.send(MediaOrder::ToneLevel(tone, amplitude));
        }
    }

    /// Everything heard so far.
    pub fn heard(&self) -> Vec<Heard> {
        self.media
            .as_ref()
            .map(|m| m.heard.lock().expect("heard lock").clone())
            .unwrap_or_default()
    }

    /// How many packets of speech ([`Phone::speak`]) [`Perturb::Drop`] has lost so far.
    pub fn speech_dropped(&self) -> usize {
        self.media
            .as_ref()
            .map_or(0, |m| m.dropped.load(Ordering::SeqCst))
    }

    /// The longest time between two packets of the last speech ([`Phone::speak`]) as the
    /// phone sent them (20 ms when the machine kept up).
    pub fn speech_pacing(&self) -> Duration {
        self.media.as_ref().map_or(Duration::ZERO, |m| {
            Duration::from_micros(m.speech_gap_us.load(Ordering::SeqCst))
        })
    }

    /// The phone's own RTP address.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        self.media.as_ref().map(|m| m.local)
    }

    /// Stops sending and receiving media.
    pub fn stop_media(&mut self) {
        if let Some(m) = &mut self.media {
            m.stop.store(true, Ordering::SeqCst);
            if let Some(t) = m.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// The codec this phone talks.
    pub fn codec(&self) -> Codec {
        self.codec
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop_media();
    }
}

/// Reads the first audio `m=` port and `c=` address of an SDP body.
pub fn media_address(sdp: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(sdp).ok()?;
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .parse()
        .ok()?;
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}

/// What the media thread shares with its phone.
struct Shared {
    heard: Arc<Mutex<Vec<Heard>>>,
    dropped: Arc<AtomicUsize>,
    speech_gap_us: Arc<AtomicU64>,
    orders: Receiver<MediaOrder>,
    stop: Arc<AtomicBool>,
}

fn media_loop(
    socket: UdpSocket,
    codec: Codec,
    bridge_ip: std::net::IpAddr,
    tone: Option<f32>,
    shared: Shared,
) {
    let Shared {
        heard,
        dropped,
        speech_gap_us,
        orders,
        stop,
    } = shared;
    let mut ssrc: u32 = rand::random();
    let mut seq: u16 = rand::random();
    let mut copies: u8 = 1;
    let mut reorder = false;
    let mut held: Option<Vec<u8>> = None;
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let mut ts: u32 = rand::random();
    let rate = codec.sample_rate() as f32;
    let mut generator = tone.map(|f| ToneGenerator::new(f, 8000, rate));
    let mut g722 = codec.law().is_none().then(G722::new);
    // Frames still to send of in-band keys: (row, column) generators, or None for a pause.
    let mut tone_frames: std::collections::VecDeque<Option<(f32, f32)>> = Default::default();
    let mut dtmf_phase = 0u32;
    // Speech still to say, 160 samples a packet.
    let mut speech: std::collections::VecDeque<i16> = Default::default();
    let mut dropping: Option<(f64, StdRng)> = None;
    let mut speaking = false;
    let mut last_speech: Option<Instant> = None;
    let mut pending_digits: std::collections::VecDeque<char> = Default::default();
    // (event code, start timestamp, packets sent so far)
    let mut current: Option<(u8, u32, u16)> = None;
    let mut gap = 0u32;
    let mut dest: Option<SocketAddr> = None;
    // Set from the SDP answer: packets from anywhere else (another test's bridge still
    // sending to a port this phone now has) are neither heard nor answered.
    let mut peer: Option<SocketAddr> = None;
    let mut buf = [0u8; 2048];
    let mut next = Instant::now();
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        // Receive until the next 20 ms send time, stamping each packet as it arrives.
        loop {
            let now = Instant::now();
            if now >= next {
                break;
            }
            socket.set_read_timeout(Some(next - now)).ok();
            match socket.recv_from(&mut buf) {
                Ok((n, src)) => {
                    let at = Instant::now();
                    if peer.is_some_and(|p| p != src) {
                        continue;
                    }
                    if dest.is_none() {
                        dest = Some(src);
                    }
                    if let Ok(p) = rtp::parse(&buf[..n]) {
                        let mut wide = Vec::new();
                        if let Some(g) = g722.as_mut()
                            && p.payload_type == codec.payload_type()
                        {
                            let mut out = [0i16; 320];
                            let n = g.decode(p.payload, &mut out);
                            wide.extend_from_slice(&out[..n]);
                        }
                        heard.lock().expect("heard lock").push(Heard {
                            wide,
                            at,
                            seq: p.sequence,
                            ts: p.timestamp,
                            marker: p.marker,
                            pt: p.payload_type,
                            payload: p.payload.to_vec(),
                        });
                    }
                }
                Err(_) => continue,
            }
        }
        next += Duration::from_millis(20);
        for order in orders.try_iter() {
            match order {
                MediaOrder::Digits(keys) => pending_digits.extend(keys.chars()),
                // Only where the phone can reach it (a bridge on loopback, not one that
                // writes its public address): elsewhere the phone answers where RTP comes from.
                MediaOrder::Peer(addr) if addr.ip() == bridge_ip => {
                    peer = Some(addr);
                    dest = Some(addr);
                }
                MediaOrder::Peer(_) => {}
                MediaOrder::Tone(t) => generator = t.map(|f| ToneGenerator::new(f, 8000, rate)),
                MediaOrder::ToneLevel(f, amplitude) => {
                    generator = Some(ToneGenerator::new(f, amplitude, rate))
                }
                MediaOrder::Raw(bytes) => raw.push(bytes),
                MediaOrder::Perturb(Perturb::NewSsrc) => {
                    ssrc = rand::random();
                    seq = rand::random();
                    ts = rand::random();
                    first = true;
                }
                MediaOrder::Perturb(Perturb::Sequence(s)) => seq = s,
                MediaOrder::Perturb(Perturb::Copies(n)) => copies = n.max(1),
                MediaOrder::Perturb(Perturb::Reorder(on)) => reorder = on,
                MediaOrder::Perturb(Perturb::Drop { percent, seed }) => {
                    dropping = (percent > 0)
                        .then(|| (f64::from(percent) / 100.0, StdRng::seed_from_u64(seed)));
                }
                MediaOrder::Speak(pcm) => {
                    speech.extend(pcm);
                    last_speech = None;
                    speech_gap_us.store(0, Ordering::SeqCst);
                }
                MediaOrder::Tones(keys) => {
                    for k in keys.chars() {
                        let d = Digit::from_char(k).expect("valid key");
                        let f = dialbridge::media::inband::frequencies(d);
                        tone_frames.extend([Some(f); 4]);
                        tone_frames.extend([None; 4]);
                    }
                }
            }
        }
        // Until the bridge's RTP tells us its port, we can't send; the bridge sends first.
        let Some(to) = dest.filter(|d| d.ip() == bridge_ip) else {
            continue;
        };
        for bytes in raw.drain(..) {
            let _ = socket.send_to(&bytes, to);
        }
        let mut packet = [0u8; 12 + 160];
        packet[0] = 0x80;
        packet[4..8].copy_from_slice(&ts.to_be_bytes());
        packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
        let len;
        if current.is_none()
            && gap == 0
            && let Some(key) = pending_digits.pop_front()
        {
            let digit = Digit::from_char(key).expect("valid key");
            current = Some((digit.event(), ts, 0));
        }
        if let Some((event, start, sent)) = current {
            // 5 packets of a growing event, then 3 end packets (RFC 4733 §2.5.1.4).
            let end = sent >= 5;
            let duration = 160 * (sent.min(5) + 1);
            let ev = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            };
            let mut payload = [0u8; 4];
            write_event(&ev, &mut payload);
            packet[1] = TE_PT | if sent == 0 { 0x80 } else { 0 };
            packet[4..8].copy_from_slice(&start.to_be_bytes());
            packet[12..16].copy_from_slice(&payload);
            len = 16;
            current = if sent >= 7 {
                gap = 3;
                None
            } else {
                Some((event, start, sent + 1))
            };
        } else {
            gap = gap.saturating_sub(1);
            let mut pcm = [0i16; 160];
            if let Some(g) = &mut generator
                && codec.law().is_some()
            {
                g.fill(&mut pcm);
            }
            match tone_frames.pop_front() {
                // -10 dBm0 per tone, as a phone's keypad sends them.
                Some(Some((row, col))) => {
                    for (i, s) in pcm.iter_mut().enumerate() {
                        let t = (dtmf_phase + i as u32) as f32 / 8000.0;
                        let v = 7000.0
                            * ((2.0 * std::f32::consts::PI * row * t).sin()
                                + (2.0 * std::f32::consts::PI * col * t).sin());
                        *s = v as i16;
                    }
                    dtmf_phase += 160;
                }
                Some(None) => pcm = [0i16; 160],
                None => {}
            }
            speaking = !speech.is_empty();
            if speaking {
                // Packets go out on the phone's own clock; a starved test machine shows here.
                let now = Instant::now();
                if let Some(last) = last_speech {
                    let gap = now.duration_since(last).as_micros();
                    speech_gap_us.fetch_max(gap.min(u128::from(u64::MAX)) as u64, Ordering::SeqCst);
                }
                last_speech = Some(now);
                for s in &mut pcm {
                    *s = speech.pop_front().unwrap_or(0);
                }
            }
            let mut enc = [0u8; 160];
            match (codec.law(), g722.as_mut()) {
                (Some(law), _) => g711::encode(law, &pcm, &mut enc),
                (None, Some(g)) => {
                    // Wideband: the tone at 16 kHz (in-band keys are a G.711 matter here).
                    let mut wide = [0i16; 320];
                    if let Some(tone) = &mut generator {
                        tone.fill(&mut wide);
                    }
                    g.encode(&wide, &mut enc);
                }
                (None, None) => {}
            }
            packet[1] = codec.payload_type() | if first { 0x80 } else { 0 };
            first = false;
            packet[12..172].copy_from_slice(&enc);
            len = 172;
        }
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        let out = packet[..len].to_vec();
        let is_audio = len == 172;
        if is_audio
            && speaking
            && let Some((p, rng)) = &mut dropping
            && rng.random_bool(*p)
        {
            // Lost on the way: the sequence number and timestamp move on all the same.
            dropped.fetch_add(1, Ordering::SeqCst);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            continue;
        }
        let batch: Vec<Vec<u8>> = if reorder && is_audio {
            // Hold one packet back and send it after the next.
            match held.take() {
                None => {
                    held = Some(out);
                    Vec::new()
                }
                Some(earlier) => vec![out, earlier],
            }
        } else {
            held.take().into_iter().chain([out]).collect()
        };
        for p in &batch {
            for _ in 0..copies {
                let _ = socket.send_to(p, to);
            }
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
}
