//! Registration to a SIP provider (RFC 3261 §10, §22; RFC 3581; RFC 5626 keep-alives), sans-IO:
//! the clock and the registrar's responses in, REGISTER requests, keep-alives and events out.
//!
//! One `Registration` per address of record keeps a binding of the bridge's Contact at the
//! provider's registrar, so that the provider sends calls for that number to the bridge even
//! when it sits behind NAT or on a dynamic address. It lives beside the `Endpoint`: the driver
//! hands it the responses whose top-Via branch it claims (`Registrations::handle_response`)
//! and everything else to the endpoint. Retransmissions are the transaction layer's
//! (`NonInviteClient`, Timers E and F).
//!
//! Timing, all from the injected clock:
//! - **Refresh** at half the expiry the registrar granted (at least `MIN_REFRESH` later).
//! - **Failure** (a final response other than 2xx/401/407/423, credentials refused, Timer F,
//!   a lost connection): retry after `BACKOFF_BASE` doubling per failure in a row up to
//!   `BACKOFF_MAX`, each wait shortened by a random 0–20 % (from the injected RNG) so many
//!   bridges restarted together do not hit the registrar in step.
//! - **401/407** without credentials sent, or with `stale=true`: answered at once with the
//!   new nonce (not a failure; at most `MAX_STALE` stale answers in a row).
//! - **423** with a larger `Min-Expires`: asked again at once with that expiry.
//! - **Keep-alive** while registered: a CRLFCRLF ping (RFC 5626 §3.5.1) every
//!   `KEEPALIVE_UDP` over UDP (under common NAT UDP timeouts) and `KEEPALIVE_TCP` over TCP.
//! - **NAT**: the response's top Via `received`/`rport` (RFC 3581) names the address the
//!   registrar saw; when it differs from our Contact, the Contact changes and we register
//!   again at once (the old Contact is removed in the same request). Over TCP only the IP is
//!   taken (the port seen is the connection's ephemeral one). A `--public-address` disables
//!   learning: the operator has said what it is.
//! - **Stop**: a REGISTER with `Expires: 0` for our Contact, answered or timed out.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::RngExt;
use rand::rngs::StdRng;

use crate::sip::random_hex as token;

use crate::sip::digest::{self, Challenge, Credentials, Password};
use crate::sip::endpoint::{ALLOW, Transmit, host_port};
use crate::sip::header::{SipUri, UriScheme, split_comma_list};
use crate::sip::message::{self, HeaderName, Message, Method};
use crate::sip::transaction::{ClientResponse, NonInviteClient, TimerOutcome, Timers};
use crate::sip::transport::{Peer, Transport};

/// First wait after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// Never refresh sooner than this after a success, whatever the registrar grants.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// CRLFCRLF keep-alive interval over UDP.
pub const KEEPALIVE_UDP: Duration = Duration::from_secs(25);
/// CRLFCRLF keep-alive interval over TCP (RFC 5626 §4.4.1 suggests 95–120 s).
pub const KEEPALIVE_TCP: Duration = Duration::from_secs(90);
/// `stale=true` answers in a row before it counts as a failure.
const MAX_STALE: u32 = 3;
/// Contact changes learned from `received`/`rport` in a row before we stop following them.
const MAX_ADDRESS_CHANGES: u32 = 3;
/// Largest expiry we ask for, also after a 423.
pub const MAX_EXPIRES: u32 = 86_400;

/// What one address of record needs.
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// The address of record, as the operator wrote it (`sip:4930123456@provider;transport=tcp`).
    pub aor: String,
    /// The registrar's resolved address and the transport to it.
    pub registrar: Peer,
    /// The digest user name.
    pub auth_user: String,
    /// The digest secret.
    pub password: Password,
    /// The expiry we ask for, in seconds.
    pub expires: u32,
    /// Our Contact's host as we start (the public address, or the local one towards the
    /// registrar).
    pub contact_ip: IpAddr,
    /// Our Contact's port (the SIP listen port).
    pub contact_port: u16,
    /// The Contact address was stated by the operator: never learned from responses.
    pub fixed_address: bool,
    /// Transaction timers.
    pub timers: Timers,
    /// `User-Agent`.
    pub user_agent: String,
}

/// Why the configured address of record cannot be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AorError {
    /// Not a SIP URI.
    #[error("'{0}' is not a sip: URI (e.g. sip:4930123456@sipconnect.example.net)")]
    NotSip(String),
    /// No user part: nothing to register.
    #[error("'{0}' has no user part (the number or account name before '@')")]
    NoUser(String),
    /// An unknown transport parameter.
    #[error("'{0}': transport must be udp, tcp or tls")]
    Transport(String),
}

/// The parts of an address of record registration needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aor {
    /// The user (number or account).
    pub user: String,
    /// The registrar's host (name or IP literal, IPv6 with brackets).
    pub host: String,
    /// Its port, if given.
    pub port: Option<u16>,
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// A `sips:` address of record: TLS, and `sips:` in every URI we write (RFC 5630).
    pub sips: bool,
}

impl Aor {
    /// Reads an address of record: a `sip:` URI with a user and an optional
    /// `transport=udp|tcp|tls`, or a `sips:` URI (TLS).
    pub fn parse(uri: &str) -> Result<Aor, AorError> {
        let parsed = SipUri::parse(uri).map_err(|_| AorError::NotSip(uri.to_string()))?;
        let sips = match parsed.scheme {
            UriScheme::Sip => false,
            UriScheme::Sips => true,
            _ => return Err(AorError::NotSip(uri.to_string())),
        };
        let user = parsed
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AorError::NoUser(uri.to_string()))?;
        let transport = match parsed.param("transport").flatten() {
            _ if sips => Transport::Tls,
            None => Transport::Udp,
            Some(t) if t.eq_ignore_ascii_case("udp") => Transport::Udp,
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
            Some(_) => return Err(AorError::Transport(uri.to_string())),
        };
        Ok(Aor {
            user,
            host: parsed.host,
            port: parsed.port,
            transport,
            sips,
        })
    }

    /// The port to send to when the URI names none (5060; no DNS SRV lookup).
    pub fn port_or_default(&self) -> u16 {
        let default = if self.transport == Transport::Tls {
            5061
        } else {
            5060
        };
        self.port.unwrap_or(default)
    }

    /// `sip` or `sips`.
    fn scheme(&self) -> &'static str {
        if self.sips { "sips" } else { "sip" }
    }

    fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// Why a registration attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The registrar refused our credentials (a second 401/407 that is not `stale`).
    Credentials {
        /// 401 or 407.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// Any other final response.
    Status {
        /// The status code.
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// A 401/407 with no challenge we can answer.
    Challenge {
        /// 401 or 407.
        code: u16,
        /// What was wrong with it.
        why: String,
    },
    /// No final response within Timer F.
    Timeout,
    /// The connection to the registrar failed or closed.
    Transport,
}

impl Failure {
    /// The status code, when a response caused it.
    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::Credentials { code, .. }
            | Failure::Status { code, .. }
            | Failure::Challenge { code, .. } => Some(*code),
            Failure::Timeout | Failure::Transport => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Credentials { code, reason } => write!(
                f,
                "{code} {reason}: the registrar refused the credentials (check the user name and password file)"
            ),
            Failure::Status { code, reason } => write!(f, "{code} {reason}"),
            Failure::Challenge { code, why } => write!(f, "{code} with no usable challenge: {why}"),
            Failure::Timeout => f.write_str("no answer from the registrar (timed out)"),
            Failure::Transport => f.write_str("the connection to the registrar failed"),
        }
    }
}

/// What a registration tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// The binding is in place until `expires` from now.
    Registered {
        /// What the registrar granted.
        expires: Duration,
        /// The Contact registered.
        contact: String,
    },
    /// An attempt failed; the next one is in `retry_in`.
    Failed {
        /// Why.
        why: Failure,
        /// When the next attempt goes out.
        retry_in: Duration,
    },
    /// The registrar sees us at another address than our Contact: registering that one.
    AddressLearned {
        /// The address the registrar saw.
        addr: SocketAddr,
    },
    /// The binding was removed (after `stop`), or the stop gave up waiting.
    Unregistered,
}

enum Phase {
    /// The next REGISTER goes out at this instant.
    Waiting(Instant),
    /// A REGISTER is under way.
    InFlight {
        tx: NonInviteClient,
        branch: String,
        /// It carried credentials.
        authorized: bool,
    },
    /// Stopped: nothing more to do.
    Stopped,
}

/// Keeps one address of record registered.
pub struct Registration {
    config: RegistrationConfig,
    aor: Aor,
    call_id: String,
    from_tag: String,
    cseq: u32,
    challenge: Option<(Challenge, bool)>,
    nc: u32,
    expires: u32,
    contact: SocketAddr,
    /// A Contact we moved away from, removed in the next REGISTER.
    old_contact: Option<SocketAddr>,
    up: bool,
    /// Until when the registrar last said it holds our binding: a stop unregisters while
    /// it may still, even after a refresh failed.
    bound_until: Option<Instant>,
    failures: u32,
    stale_in_row: u32,
    min_expires_in_row: u32,
    address_changes: u32,
    keepalive_at: Option<Instant>,
    stopping: bool,
    phase: Phase,
    transmits: Vec<Transmit>,
    events: Vec<RegistrationEvent>,
    rng: StdRng,
}

impl Registration {
    /// A registration that sends its first REGISTER at `now`.
    pub fn new(
        now: Instant,
        config: RegistrationConfig,
        mut rng: StdRng,
    ) -> Result<Self, AorError> {
        let aor = Aor::parse(&config.aor)?;
        let call_id = format!("{}@dialbridge", token(&mut rng, 24));
        let from_tag = token(&mut rng, 12);
        let expires = config.expires.clamp(1, MAX_EXPIRES);
        Ok(Registration {
            contact: SocketAddr::new(config.contact_ip, config.contact_port),
            config,
            aor,
            call_id,
            from_tag,
            cseq: 0,
            challenge: None,
            nc: 0,
            expires,
            old_contact: None,
            up: false,
            bound_until: None,
            failures: 0,
            stale_in_row: 0,
            min_expires_in_row: 0,
            address_changes: 0,
            keepalive_at: None,
            stopping: false,
            phase: Phase::Waiting(now),
            transmits: Vec::new(),
            events: Vec::new(),
            rng,
        })
    }

    /// The address of record.
    pub fn aor(&self) -> &str {
        &self.config.aor
    }

    /// The registrar.
    pub fn registrar(&self) -> Peer {
        self.config.registrar
    }

    /// True while the registrar holds our binding.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Failed attempts in a row.
    pub fn failures_in_row(&self) -> u32 {
        self.failures
    }

    /// Our Contact address now.
    pub fn contact(&self) -> SocketAddr {
        self.contact
    }

    /// True once stopped and the unregistration is answered or given up.
    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.transmits.is_empty()).then(|| self.transmits.remove(0))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// When `handle_timeout` must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Waiting(at) => Some(*at),
            Phase::InFlight { tx, .. } => tx.next_timeout(),
            Phase::Stopped => None,
        };
        [phase, self.keepalive_at].into_iter().flatten().min()
    }

    /// Runs what is due: retransmissions, Timer F, the next REGISTER, keep-alives.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(at) = self.keepalive_at
            && at <= now
        {
            self.transmits.push(Transmit {
                dest: self.config.registrar.addr,
                transport: self.config.registrar.transport,
                bytes: b"\r\n\r\n".to_vec(),
            });
            self.keepalive_at = Some(now + self.keepalive_interval());
        }
        match &mut self.phase {
            Phase::Waiting(at) if *at <= now => self.send_register(now),
            Phase::InFlight { tx, .. } if tx.next_timeout().is_some_and(|t| t <= now) => {
                match tx.on_timeout(now) {
                    TimerOutcome::Retransmit(peer, bytes) => self.transmits.push(Transmit {
                        dest: peer.addr,
                        transport: peer.transport,
                        bytes,
                    }),
                    TimerOutcome::RequestTimeout => self.fail(now, Failure::Timeout),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The connection to the registrar could not be opened or closed (TCP): the attempt
    /// under way, or the binding that relied on it, has failed.
    pub fn transport_failed(&mut self, now: Instant) {
        let busy = matches!(self.phase, Phase::InFlight { .. });
        if busy || self.up {
            self.fail(now, Failure::Transport);
        }
    }

    /// Removes the binding: a REGISTER with `Expires: 0` (nothing when none was made).
    pub fn stop(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.keepalive_at = None;
        let bound = self.bound_until.is_some_and(|until| until > now);
        if self.up || bound || matches!(self.phase, Phase::InFlight { .. }) {
            self.send_register(now);
        } else {
            self.phase = Phase::Stopped;
            self.events.push(RegistrationEvent::Unregistered);
        }
    }

    /// Offers a response: true when it answers this registration's REGISTER (it is then
    /// consumed), false when it belongs to someone else.
    pub fn handle_response(&mut self, now: Instant, msg: &Message) -> bool {
        let Some(code) = msg.status() else {
            return false;
        };
        let Ok(via) = msg.top_via() else {
            return false;
        };
        let Phase::InFlight {
            tx,
            branch,
            authorized,
        } = &mut self.phase
        else {
            return false;
        };
        if via.branch() != Some(branch.as_str()) {
            return false;
        }
        let authorized = *authorized;
        match tx.on_response(now, code) {
            ClientResponse::Final(code) => self.on_final(now, code, msg, authorized),
            ClientResponse::Provisional | ClientResponse::Absorbed => {}
        }
        true
    }

    fn keepalive_interval(&self) -> Duration {
        match self.config.registrar.transport {
            Transport::Udp => KEEPALIVE_UDP,
            _ => KEEPALIVE_TCP,
        }
    }

    fn on_final(&mut self, now: Instant, code: u16, msg: &Message, authorized: bool) {
        let reason = match &msg.start {
            message::StartLine::Response { reason, .. } => reason.chars().take(80).collect(),
            _ => String::new(),
        };
        match code {
            200..=299 => self.on_success(now, msg),
            401 | 407 => {
                let name = if code == 401 {
                    HeaderName::Other("WWW-Authenticate".into())
                } else {
                    HeaderName::Other("Proxy-Authenticate".into())
                };
                let values: Vec<&str> = msg.headers_named(&name).collect();
                let Some(challenge) = Challenge::choose(values.iter().copied()) else {
                    let why = values
                        .first()
                        .map(|v| match Challenge::parse(v) {
                            Err(e) => e.to_string(),
                            Ok(_) => "unreadable".into(),
                        })
                        .unwrap_or_else(|| "no challenge header".into());
                    return self.fail(now, Failure::Challenge { code, why });
                };
                let stale = challenge.stale;
                let new_nonce = self
                    .challenge
                    .as_ref()
                    .is_none_or(|(c, _)| c.nonce != challenge.nonce);
                if new_nonce {
                    self.nc = 0;
                }
                self.challenge = Some((challenge, code == 407));
                if !authorized {
                    self.send_register(now);
                } else if stale && self.stale_in_row < MAX_STALE {
                    self.stale_in_row += 1;
                    self.send_register(now);
                } else {
                    self.fail(now, Failure::Credentials { code, reason });
                }
            }
            423 => {
                let min = msg
                    .header(&HeaderName::Other("Min-Expires".into()))
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(min)
                        if min > self.expires
                            && min <= MAX_EXPIRES
                            && self.min_expires_in_row < 2
                            && !self.stopping =>
                    {
                        self.min_expires_in_row += 1;
                        self.expires = min;
                        self.send_register(now);
                    }
                    _ => self.fail(now, Failure::Status { code, reason }),
                }
            }
            _ => self.fail(now, Failure::Status { code, reason }),
        }
    }

    fn on_success(&mut self, now: Instant, msg: &Message) {
        self.stale_in_row = 0;
        self.min_expires_in_row = 0;
        if self.stopping {
            self.up = false;
            self.bound_until = None;
            self.phase = Phase::Stopped;
            self.events.push(RegistrationEvent::Unregistered);
            return;
        }
        self.old_contact = None;
        if let Some(seen) = self.address_seen(msg)
            && seen != self.contact
            && self.address_changes < MAX_ADDRESS_CHANGES
        {
            self.address_changes += 1;
            self.old_contact = Some(self.contact);
            self.contact = seen;
            self.events
                .push(RegistrationEvent::AddressLearned { addr: seen });
            self.send_register(now);
            return;
        }
        self.address_changes = 0;
        let granted = self.granted_expiry(msg);
        self.up = true;
        self.bound_until = Some(now + Duration::from_secs(u64::from(granted)));
        self.failures = 0;
        let refresh = (Duration::from_secs(u64::from(granted)) / 2).max(MIN_REFRESH);
        self.phase = Phase::Waiting(now + refresh);
        if self.keepalive_at.is_none() {
            self.keepalive_at = Some(now + self.keepalive_interval());
        }
        self.events.push(RegistrationEvent::Registered {
            expires: Duration::from_secs(u64::from(granted)),
            contact: self.contact_uri(self.contact),
        });
    }

    /// The address the registrar saw us at (RFC 3581), when it says.
    fn address_seen(&self, msg: &Message) -> Option<SocketAddr> {
        if self.config.fixed_address {
            return None;
        }
        let via = msg.top_via().ok()?;
        let ip = match via.param("received").flatten() {
            Some(r) => r
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()?,
            None => self.contact.ip(),
        };
        let port = match (
            self.config.registrar.transport,
            via.param("rport").flatten(),
        ) {
            (Transport::Udp, Some(p)) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
            _ => self.contact.port(),
        };
        Some(SocketAddr::new(ip, port))
    }

    /// The expiry the registrar granted our Contact: its `expires` parameter in the
    /// response's Contact list, else the `Expires` header, else what we asked for.
    fn granted_expiry(&self, msg: &Message) -> u32 {
        let ours = self.contact;
        let from_contact = msg
            .headers_named(&HeaderName::Contact)
            .flat_map(split_comma_list)
            .filter_map(|c| crate::sip::header::NameAddr::parse(c).ok())
            .find(|c| {
                SipUri::parse(&c.uri).is_ok_and(|u| {
                    u.host.trim_start_matches('[').trim_end_matches(']') == ours.ip().to_string()
                        && u.port.unwrap_or(5060) == ours.port()
                })
            })
            .and_then(|c| c.param("expires").flatten().and_then(|e| e.parse().ok()));
        let header = msg
            .header(&HeaderName::Expires)
            .and_then(|e| e.trim().parse::<u32>().ok());
        from_contact
            .or(header)
            .filter(|&e| e > 0)
            .unwrap_or(self.expires)
            .min(MAX_EXPIRES)
    }

    fn fail(&mut self, now: Instant, why: Failure) {
        self.up = false;
        self.keepalive_at = None;
        if self.stopping {
            self.phase = Phase::Stopped;
            self.events.push(RegistrationEvent::Unregistered);
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.stale_in_row = 0;
        self.min_expires_in_row = 0;
        let retry_in = self.backoff();
        self.phase = Phase::Waiting(now + retry_in);
        self.events
            .push(RegistrationEvent::Failed { why, retry_in });
    }

    /// `BACKOFF_BASE` doubled per failure in a row, at most `BACKOFF_MAX`, less a random
    /// 0–20 %.
    fn backoff(&mut self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        let step = BACKOFF_BASE
            .saturating_mul(1u32 << doublings)
            .min(BACKOFF_MAX);
        let cut = f64::from(self.rng.random::<u32>()) / f64::from(u32::MAX) * 0.2;
        step.mul_f64(1.0 - cut)
    }

    fn contact_uri(&self, addr: SocketAddr) -> String {
        let user = if self
            .aor
            .user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()+".contains(c))
        {
            format!("{}@", self.aor.user)
        } else {
            String::new()
        };
        let transport = match self.config.registrar.transport {
            _ if self.aor.sips => "",
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        format!(
            "<{}:{user}{}{transport}>",
            self.aor.scheme(),
            host_port(addr.ip(), addr.port())
        )
    }

    fn send_register(&mut self, now: Instant) {
        self.cseq = self.cseq.wrapping_add(1) & 0x7fff_ffff;
        let branch = format!("z9hG4bK{}", token(&mut self.rng, 20));
        let transport = self.config.registrar.transport;
        let request_uri = match transport {
            _ if self.aor.sips => format!("sips:{}", self.aor.host_port()),
            Transport::Udp => format!("sip:{}", self.aor.host_port()),
            other => format!(
                "sip:{};transport={}",
                self.aor.host_port(),
                other.as_param()
            ),
        };
        let aor = format!(
            "<{}:{}@{}>",
            self.aor.scheme(),
            self.aor.user,
            self.aor.host_port()
        );
        let expires = if self.stopping { 0 } else { self.expires };
        let mut req = message::request(Method::Register, &request_uri);
        req.add_header(
            HeaderName::Via,
            format!(
                "SIP/2.0/{transport} {};branch={branch};rport",
                host_port(self.contact.ip(), self.contact.port())
            ),
        );
        req.add_header(HeaderName::MaxForwards, "70");
        req.add_header(HeaderName::From, format!("{aor};tag={}", self.from_tag));
        req.add_header(HeaderName::To, aor);
        req.add_header(HeaderName::CallId, self.call_id.clone());
        req.add_header(HeaderName::CSeq, format!("{} REGISTER", self.cseq));
        let mut contact = self.contact_uri(self.contact);
        if let Some(old) = self.old_contact.filter(|_| !self.stopping) {
            contact.push_str(&format!(", {};expires=0", self.contact_uri(old)));
        }
        req.add_header(HeaderName::Contact, contact);
        req.add_header(HeaderName::Expires, expires.to_string());
        req.add_header(HeaderName::Allow, ALLOW);
        req.add_header(HeaderName::UserAgent, self.config.user_agent.clone());
        let authorized = if let Some((challenge, proxy)) = &self.challenge {
            self.nc = self.nc.wrapping_add(1);
            let cnonce = token(&mut self.rng, 16);
            let value = digest::authorization(
                challenge,
                &Credentials {
                    user: &self.config.auth_user,
                    password: &self.config.password,
                },
                "REGISTER",
                &request_uri,
                &cnonce,
                self.nc,
            );
            let name = if *proxy {
                HeaderName::Other("Proxy-Authorization".into())
            } else {
                HeaderName::Other("Authorization".into())
            };
            req.add_header(name, value);
            true
        } else {
            false
        };
        let bytes = req.to_bytes();
        let peer = self.config.registrar;
        let tx = NonInviteClient::new(now, peer, bytes.clone(), self.config.timers);
        self.transmits.push(Transmit {
            dest: peer.addr,
            transport: peer.transport,
            bytes,
        });
        self.phase = Phase::InFlight {
            tx,
            branch,
            authorized,
        };
    }
}

/// Every address of record the bridge registers, driven together.
#[derive(Default)]
pub struct Registrations {
    list: Vec<Registration>,
}

impl Registrations {
    /// A set of registrations.
    pub fn new(list: Vec<Registration>) -> Self {
        Registrations { list }
    }

    /// Each registration.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.list.iter()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Offers a response to each registration; true when one took it.
    pub fn handle_response(&mut self, now: Instant, msg: &Message) -> bool {
        self.list.iter_mut().any(|r| r.handle_response(now, msg))
    }

    /// The earliest instant any registration has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter_map(Registration::poll_timeout)
            .min()
    }

    /// Runs what is due in each.
    pub fn handle_timeout(&mut self, now: Instant) {
        for r in &mut self.list {
            r.handle_timeout(now);
        }
    }

    /// The connection to `registrar` failed or closed.
    pub fn transport_failed(&mut self, now: Instant, registrar: Peer) {
        for r in self.list.iter_mut().filter(|r| r.registrar() == registrar) {
            r.transport_failed(now);
        }
    }

    /// Unregisters everything.
    pub fn stop(&mut self, now: Instant) {
        for r in &mut self.list {
            r.stop(now);
        }
    }

    /// True once every registration is stopped.
    pub fn all_stopped(&self) -> bool {
        self.list.iter().all(Registration::is_stopped)
    }

    /// The next message to send, from any registration.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.list.iter_mut().find_map(Registration::poll_transmit)
    }

    /// The next event, with the index of the registration it comes from.
    pub fn poll_event(&mut self) -> Option<(usize, RegistrationEvent)> {
        self.list
            .iter_mut()
            .enumerate()
            .find_map(|(i, r)| r.poll_event().map(|e| (i, e)))
    }
}

#[cfg(test)]
mod tests;
