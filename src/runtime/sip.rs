//! The SIP task: its own thread and reactor, the UDP socket and TCP connections, the sans-IO
//! endpoint, admission control, and the calls' hand-over to the media workers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::telemetry::SipGauges;
use crate::call::CallId;
use crate::engine::{Command, Entry};
use crate::media::ports::PortPool;
use crate::sip::admission::{Admission, Load, Verdict};
use crate::sip::endpoint::{Endpoint, Event};
use crate::sip::registration::Registrations;
use crate::sip::sdp::LocalMedia;
use crate::sip::transport::{Peer, Transport};

use super::media::{ControlEvent, MediaHandle, MediaTransport};
use super::security_event;

/// Largest SIP datagram we accept (RFC 3261 §18.1.1 allows up to 65,535 over UDP).
pub(super) const MAX_SIP_DATAGRAM: usize = 65_535;

/// Datagrams handled per wake-up before timers and events get their turn.
pub(super) const RECV_BATCH: usize = 64;

/// At shutdown: how long callers get to hear goodbye and answer our BYE before the process
/// exits anyway (the whole shutdown stays within 10 s).
pub(super) const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);

/// `Retry-After` on the 503s a shutting-down bridge gives new calls.
pub(super) const DRAIN_RETRY_AFTER_S: u32 = 30;

/// Receive buffer for the SIP socket: the default (~200 KiB, about 100 datagrams) overflows
/// when a burst of INVITEs meets a few milliseconds without CPU, and every lost request
/// costs the caller a 500 ms retransmission.
pub(super) const SIP_RECV_BUFFER: usize = 8 << 20;

/// Raises a socket's receive buffer as far as allowed (SO_RCVBUFFORCE when privileged,
/// else up to net.core.rmem_max) and returns the size the kernel reports.
pub(super) fn grow_recv_buffer(socket: &UdpSocket, bytes: usize) -> usize {
    use std::os::fd::AsRawFd;
    let sock = socket2::SockRef::from(socket);
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&want).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = sock.set_recv_buffer_size(bytes);
    }
    sock.recv_buffer_size().unwrap_or(0)
}

pub(super) struct SipDriver {
    pub(super) socket: UdpSocket,
    pub(super) tcp_listener: tokio::net::TcpListener,
    pub(super) tcp: super::sip_tcp::TcpConnections,
    /// SIP over TLS (`--sip-tls-listen`): its listener and connections, which report on
    /// `tcp_rx` like TCP's.
    pub(super) tls_listener: Option<tokio::net::TcpListener>,
    pub(super) tls: Option<super::sip_tcp::TcpConnections>,
    /// Sources whose failed TLS handshake has been logged.
    pub(super) handshake_log: super::tls::HandshakeLog,
    pub(super) tcp_rx: mpsc::Receiver<super::sip_tcp::TcpInput>,
    /// Calls whose signalling came over TCP or TLS, and their connection.
    pub(super) tcp_calls: HashMap<CallId, Peer>,
    /// To the directory task: who is calling (for the guessing limits).
    pub(super) control: mpsc::UnboundedSender<ControlEvent>,
    /// Shutting down: new calls get 503 and the SIP task ends at this instant at the latest.
    pub(super) draining: Option<Instant>,
    /// `--drain-timeout`: on a stop, calls keep going this long (new ones and OPTIONS get
    /// 503) before the goodbye; zero says goodbye at once.
    pub(super) drain_timeout: std::time::Duration,
    /// Draining: calls in progress go on until this time or until none is left.
    pub(super) drain_until: Option<Instant>,
    pub(super) admission: Admission,
    pub(super) trusted: Option<Vec<ipnet::IpNet>>,
    pub(super) untrusted: crate::config::UntrustedAction,
    pub(super) endpoint: Endpoint,
    pub(super) media: Arc<MediaHandle>,
    pub(super) pool: Arc<PortPool>,
    pub(super) bind_ip: IpAddr,
    pub(super) media_ip: Option<IpAddr>,
    /// Media sockets of answered calls whose offer/answer has not completed yet, with the
    /// SIP Call-ID, the From URI and the entry (IVR or relay leg) the media worker is
    /// started with.
    pub(super) pending: HashMap<CallId, (MediaTransport, String, String, Entry)>,
    pub(super) route_cache: HashMap<IpAddr, IpAddr>,
    pub(super) gauges: Arc<SipGauges>,
    /// Registrations at providers (`--register`): beside the endpoint, offered each response
    /// first.
    pub(super) registrations: Registrations,
    /// TCP connections to registrars being opened.
    pub(super) connector: super::registration::Connector,
    /// The cluster secret relay legs from other nodes are signed with (None: legs refused).
    pub(super) legs: Option<Arc<crate::cluster::leg::LegKey>>,
    /// Relay legs this node opens to the owners of its callers' meetings (None: no cluster
    /// secret, no legs), and the media workers' requests for them.
    pub(super) relays: Option<super::relay_legs::RelayLegs>,
    pub(super) relay_rx: mpsc::UnboundedReceiver<super::relay_legs::RelayRequest>,
    /// The cluster's figures for its admission limits (None on a single node).
    pub(super) cluster_load: Option<Arc<super::telemetry::ClusterGauges>>,
    /// Relay legs from other nodes in progress (their callers are counted where answered).
    pub(super) legs_in: std::collections::HashSet<CallId>,
}

impl SipDriver {
    pub(super) async fn run(
        &mut self,
        mut hangups: mpsc::UnboundedReceiver<CallId>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut buf = vec![0u8; MAX_SIP_DATAGRAM];
        tokio::pin!(shutdown);
        loop {
            if let Some(until) = self.drain_until
                && self.draining.is_none()
                && (self.endpoint.call_count() == 0 || Instant::now() >= until)
            {
                let now = Instant::now();
                tracing::info!(
                    calls = self.endpoint.call_count(),
                    "drained: saying goodbye to whoever is left"
                );
                self.say_goodbye(now);
            }
            if let Some(limit) = self.draining {
                let calls = self.endpoint.call_count();
                let byes = self.endpoint.requests_in_flight();
                if calls == 0 && byes == 0 && self.registrations.all_stopped() {
                    tracing::info!("every caller has been said goodbye to");
                    break;
                }
                if Instant::now() >= limit {
                    tracing::warn!(calls, byes, "shutdown: time is up, hanging up the rest");
                    break;
                }
            }
            let deadline = [
                self.endpoint.poll_timeout(),
                self.registrations.poll_timeout(),
                self.relays.as_ref().and_then(|r| r.poll_timeout()),
                self.draining,
                self.drain_until.filter(|_| self.draining.is_none()),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let woke;
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    woke = Instant::now();
                    if let Ok((n, source)) = received {
                        let now = woke;
                        self.take_datagram(now, source, buf.get(..n).unwrap_or_default());
                        for _ in 1..RECV_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.take_datagram(now, source, buf.get(..n).unwrap_or_default()),
                                Err(_) => break,
                            }
                        }
                    }
                }
                Some(call) = hangups.recv() => {
                    woke = Instant::now();
                    self.endpoint.hangup(woke, call);
                }
                Some(request) = self.relay_rx.recv() => {
                    woke = Instant::now();
                    match request {
                        super::relay_legs::RelayRequest::Open(order) => self.open_relay(woke, *order),
                        super::relay_legs::RelayRequest::Drop(call) => {
                            if let Some(relays) = self.relays.as_mut() {
                                relays.drop_leg(woke, call);
                            }
                        }
                    }
                }
                accepted = self.tcp_listener.accept() => {
                    woke = Instant::now();
                    if let Ok((stream, peer)) = accepted {
                        self.take_connection(stream, peer, Transport::Tcp);
                    }
                }
                accepted = accept_on(self.tls_listener.as_ref()) => {
                    woke = Instant::now();
                    if let Ok((stream, peer)) = accepted {
                        self.take_connection(stream, peer, Transport::Tls);
                    }
                }
                Some(input) = self.tcp_rx.recv() => {
                    woke = Instant::now();
                    self.take_tcp(woke, input).await;
                }
                Some((addr, connected)) = self.connector.done_rx.recv() => {
                    woke = Instant::now();
                    self.registrar_connected(woke, addr, connected);
                }
                _ = sleep => {
                    woke = Instant::now();
                    self.endpoint.handle_timeout(woke);
                    self.registrations.handle_timeout(woke);
                    if let Some(relays) = self.relays.as_mut() {
                        relays.handle_timeout(woke);
                    }
                }
                _ = &mut shutdown, if self.draining.is_none() && self.drain_until.is_none() => {
                    woke = Instant::now();
                    self.endpoint.set_available(false);
                    self.gauges.draining.store(true, std::sync::atomic::Ordering::Relaxed);
                    if self.drain_timeout.is_zero() {
                        self.say_goodbye(woke);
                    } else {
                        self.drain_until = Some(woke + self.drain_timeout);
                        self.registrations.stop(woke);
                        tracing::info!(calls = self.endpoint.call_count(), drain_timeout_s = self.drain_timeout.as_secs(), "draining: new calls and OPTIONS get 503, calls in progress go on");
                    }
                }
            }
            self.process_events();
            self.flush().await;
            self.flush_registrations().await;
            self.flush_relays().await;
            self.gauges
                .turn
                .observe_us(woke.elapsed().as_micros().min(u128::from(u64::MAX)) as u64);
            let stats = self.endpoint.stats();
            let g = &self.gauges;
            g.datagrams.store(stats.datagrams, Ordering::Relaxed);
            g.garbage.store(stats.garbage, Ordering::Relaxed);
            g.bad_requests.store(stats.bad_requests, Ordering::Relaxed);
            g.retransmitted_requests
                .store(stats.retransmitted_requests, Ordering::Relaxed);
        }
        // Say goodbye properly to everyone still connected.
        let now = Instant::now();
        self.endpoint.hangup_all(now);
        if let Some(relays) = self.relays.as_mut() {
            relays.hangup_all(now);
        }
        self.process_events();
        self.flush().await;
        self.flush_relays().await;
        self.tcp.close_all();
        if let Some(tls) = self.tls.as_mut() {
            tls.close_all();
        }
        // Let the connection tasks write what is queued (the BYEs) before the runtime ends.
        let closing = async {
            while !self.tcp.is_empty() || self.tls.as_ref().is_some_and(|t| !t.is_empty()) {
                match self.tcp_rx.recv().await {
                    Some(super::sip_tcp::TcpInput::Closed { peer, .. }) => {
                        if let Some(conns) = self.connections(peer.transport) {
                            conns.forget(peer.addr);
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), closing).await;
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted
            .as_ref()
            .is_none_or(|nets| nets.iter().any(|n| n.contains(&ip)))
    }

    /// True for the address of a registrar we register at: its calls come from many callers.
    fn is_registrar(&self, ip: IpAddr) -> bool {
        self.registrations
            .iter()
            .any(|r| r.registrar().addr.ip() == ip)
    }

    /// One datagram in: dropped when untrusted and so configured, else to the endpoint.
    fn take_datagram(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        if self.untrusted == crate::config::UntrustedAction::Drop && !self.is_trusted(source.ip()) {
            self.gauges
                .untrusted_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(relays) = self.relays.as_mut()
            && !relays.is_empty()
            && let Ok((msg, _)) =
                crate::sip::message::parse(bytes, crate::sip::message::Framing::Datagram)
        {
            let ours = if msg.status().is_some() {
                relays.handle_response(now, &msg)
            } else {
                relays.handle_request(now, &msg, source)
            };
            if ours {
                return;
            }
        }
        if bytes.starts_with(b"SIP/2.0 ")
            && !self.registrations.is_empty()
            && let Ok((msg, _)) =
                crate::sip::message::parse(bytes, crate::sip::message::Framing::Datagram)
            && self.registrations.handle_response(now, &msg)
        {
            return;
        }
        self.endpoint.handle_datagram(now, source, bytes);
    }

    /// The last phase of a stop: every caller hears goodbye and gets a BYE, within
    /// `DRAIN_LIMIT`.
    fn say_goodbye(&mut self, now: Instant) {
        self.draining = Some(now + DRAIN_LIMIT);
        if self.drain_until.is_none() {
            self.registrations.stop(now);
        }
        tracing::info!(
            calls = self.endpoint.call_count(),
            "shutting down: new calls get 503, callers hear goodbye"
        );
        self.media.goodbye_all();
    }

    /// A connection to a registrar opened (or not): the messages that waited go out on it.
    fn registrar_connected(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        connected: std::io::Result<super::registration::Connected>,
    ) {
        use super::registration::Connected;
        let (transport, queued) = self.connector.take(addr);
        let taken = match connected {
            Ok(Connected::Tcp(stream)) => self.tcp.accept(stream, addr),
            Ok(Connected::Tls(stream)) => match self.tls.as_mut() {
                Some(tls) => tls.adopt_tls(*stream, addr),
                // Made whenever a registration uses TLS (see `serve`).
                None => return,
            },
            Err(err) => {
                tracing::info!(registrar = %addr, %transport, error = %err, "cannot connect to the registrar");
                self.registrations
                    .transport_failed(now, Peer { addr, transport });
                return;
            }
        };
        if let Err(why) = taken {
            tracing::info!(registrar = %addr, ?why, "no room for the connection to the registrar");
            self.registrations
                .transport_failed(now, Peer { addr, transport });
            return;
        }
        let Some(connections) = self.connections(transport) else {
            return;
        };
        // The binding lives on this connection: never closed as idle.
        connections.call_on(addr, true);
        for bytes in queued {
            connections.send(addr, bytes);
        }
        self.count_connections();
    }

    /// An RTP port from the pool, as a media socket, and its number.
    fn media_port(&self) -> Result<(MediaTransport, u16), String> {
        self.pool
            .bind(self.bind_ip)
            .map_err(|e| e.to_string())
            .and_then(|(sock, lease)| {
                let port = lease.port();
                MediaTransport::new(sock, Some(lease))
                    .map(|t| (t, port))
                    .map_err(|e| e.to_string())
            })
    }

    /// Opens a relay leg for a media worker: an RTP port, then the INVITE to the owner.
    fn open_relay(&mut self, now: Instant, order: super::relay_legs::RelayOrder) {
        let call = order.call;
        let target = order.target.sip;
        let opened = match self.relays.as_ref() {
            None => Err("this node has no --cluster-secret-file".to_string()),
            Some(_) => self.media_port(),
        };
        let result = opened.and_then(|(rtp, port)| {
            let ip = self.local_ip_towards(target.ip());
            let media = LocalMedia {
                ip,
                port,
                session_id: rand::random::<u32>().into(),
                session_version: 1,
            };
            let sip_port = self.socket.local_addr().map_or(0, |a| a.port());
            let sip_local = std::net::SocketAddr::new(ip, sip_port);
            match self.relays.as_mut() {
                Some(relays) => relays.open(now, order, rtp, &media, sip_local),
                None => Err("no relay legs here".into()),
            }
        });
        if let Err(err) = result {
            tracing::warn!(call = call.0, owner_sip = %target, error = %err, "cannot open a relay leg: the caller is told to call again later");
            self.media.send(call, Command::RelayFailed { call });
        }
    }

    /// Sends what the relay legs queued (over UDP) and passes their news to the media side.
    async fn flush_relays(&mut self) {
        let Some(relays) = self.relays.as_mut() else {
            return;
        };
        for t in relays.drain(&self.media) {
            if let Err(err) = self.socket.send_to(&t.bytes, t.dest).await {
                tracing::debug!(dest = %t.dest, error = %err, "relay leg SIP send failed");
            }
        }
    }

    /// Sends what the registrations queued and reports their events.
    async fn flush_registrations(&mut self) {
        while let Some((index, event)) = self.registrations.poll_event() {
            super::registration::report(&self.gauges, &self.registrations, index, &event);
        }
        while let Some(t) = self.registrations.poll_transmit() {
            if !super::registration::needs_connection(t.transport) {
                if let Err(err) = self.socket.send_to(&t.bytes, t.dest).await {
                    tracing::debug!(dest = %t.dest, error = %err, "REGISTER send failed");
                }
            } else if !self
                .connections(t.transport)
                .is_some_and(|c| c.send(t.dest, t.bytes.clone()))
            {
                self.connector.send(
                    Peer {
                        addr: t.dest,
                        transport: t.transport,
                    },
                    t.bytes,
                );
            }
        }
    }

    /// The TCP or the TLS connections.
    fn connections(&mut self, transport: Transport) -> Option<&mut super::sip_tcp::TcpConnections> {
        match transport {
            Transport::Tcp => Some(&mut self.tcp),
            Transport::Tls => self.tls.as_mut(),
            Transport::Udp => None,
        }
    }

    /// Publishes how many TCP and TLS connections are open.
    fn count_connections(&self) {
        self.gauges
            .tcp_connections
            .store(self.tcp.len() as u64, Ordering::Relaxed);
        let tls = self.tls.as_ref().map_or(0, |t| t.len());
        self.gauges
            .tls_connections
            .store(tls as u64, Ordering::Relaxed);
    }

    /// A new TCP or TLS connection: refused when untrusted (with `--untrusted drop`) or past
    /// the connection limits, else given its own task.
    fn take_connection(
        &mut self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        transport: Transport,
    ) {
        if self.untrusted == crate::config::UntrustedAction::Drop && !self.is_trusted(peer.ip()) {
            self.gauges
                .untrusted_dropped
                .fetch_add(1, Ordering::Relaxed);
            self.gauges.tcp_refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(conns) = self.connections(transport) else {
            return;
        };
        match conns.accept(stream, peer) {
            Ok(()) => {
                tracing::debug!(%peer, %transport, "SIP connection");
            }
            Err(why) => {
                tracing::info!(%peer, %transport, ?why, "SIP connection refused");
                security_event(peer.ip(), "tcp-connection-limit");
                self.gauges.tcp_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count_connections();
    }

    /// What a TCP or TLS connection task reported.
    async fn take_tcp(&mut self, now: Instant, input: super::sip_tcp::TcpInput) {
        use super::sip_tcp::TcpInput;
        use crate::sip::stream::StreamItem;
        match input {
            TcpInput::Item { peer, item } => match item {
                StreamItem::Message(msg) => {
                    if !(msg.status().is_some() && self.registrations.handle_response(now, &msg)) {
                        self.endpoint.handle_message(now, peer, msg);
                    }
                }
                StreamItem::Broken { bytes, error } => {
                    tracing::debug!(%peer, %error, "SIP stream cannot be framed: answering and closing");
                    self.endpoint.handle_unparseable(now, peer, &bytes, error);
                    self.flush().await;
                    if let Some(conns) = self.connections(peer.transport) {
                        conns.close(peer.addr);
                    }
                }
                StreamItem::Invalid { bytes, error } => {
                    self.endpoint.handle_unparseable(now, peer, &bytes, error);
                }
                StreamItem::Ping => {}
            },
            TcpInput::HandshakeFailed { peer, why } => {
                self.gauges
                    .tls_handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                if self.handshake_log.first_from(peer.ip()) {
                    tracing::info!(%peer, error = %why, "TLS handshake failed (logged once per source address)");
                } else {
                    tracing::debug!(%peer, error = %why, "TLS handshake failed");
                }
            }
            TcpInput::Closed { peer, why } => {
                tracing::debug!(%peer, why = why.as_str(), "SIP connection closed");
                self.registrations.transport_failed(now, peer);
                if let Some(conns) = self.connections(peer.transport) {
                    conns.forget(peer.addr);
                }
                let slot = crate::sip::transport::CloseReason::ALL
                    .iter()
                    .position(|r| *r == why);
                if let Some(c) = slot.and_then(|i| self.gauges.tcp_closed.get(i)) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                self.count_connections();
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    if let Err(err) = self.socket.send_to(&t.bytes, t.dest).await {
                        tracing::debug!(dest = %t.dest, error = %err, "SIP send failed");
                    }
                }
                transport @ (Transport::Tcp | Transport::Tls) => {
                    // RFC 3261 §18.2.2 would have us reconnect for a response whose
                    // connection closed; a caller that hung up its connection loses it.
                    let sent = self
                        .connections(transport)
                        .is_some_and(|conns| conns.send(t.dest, t.bytes));
                    if !sent {
                        tracing::debug!(dest = %t.dest, %transport, "SIP connection gone: message dropped");
                    }
                }
            }
        }
    }

    fn local_ip_towards(&mut self, peer: IpAddr) -> IpAddr {
        if let Some(ip) = self.media_ip {
            return ip;
        }
        if let Some(ip) = self.route_cache.get(&peer) {
            return *ip;
        }
        // Connecting a UDP socket sends nothing; it only asks the kernel for the route.
        let unspecified: IpAddr = if peer.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        };
        let ip = std::net::UdpSocket::bind((unspecified, 0))
            .and_then(|s| s.connect((peer, 9)).map(|_| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(peer);
        if self.route_cache.len() > 4096 {
            self.route_cache.clear();
        }
        self.route_cache.insert(peer, ip);
        ip
    }

    /// How a new call begins: the IVR, or (a valid relay leg from another node) straight
    /// into its conference. None: refused with 403 (a leg not signed with our secret).
    fn entry(
        &mut self,
        now: Instant,
        call: CallId,
        source: std::net::SocketAddr,
        sip_call_id: &str,
        relay_leg: Option<String>,
    ) -> Option<Entry> {
        let Some(header) = relay_leg else {
            return Some(Entry::Ivr);
        };
        let verdict = match &self.legs {
            None => Err("this node has no --cluster-secret-file".to_string()),
            Some(key) => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                key.verify(&header, sip_call_id, unix)
                    .map_err(|e| e.to_string())
            }
        };
        match verdict {
            Ok(claim) => {
                tracing::info!(%source, conference = %claim.conference_id, role = ?claim.role, node = %claim.node, "relay leg from another node");
                self.gauges
                    .relay_legs_accepted
                    .fetch_add(1, Ordering::Relaxed);
                Some(Entry::Relayed {
                    conference_id: claim.conference_id,
                    role: claim.role,
                })
            }
            Err(why) => {
                tracing::warn!(%source, reason = %why, "relay leg refused: 403");
                security_event(source.ip(), "bad-relay-leg");
                self.gauges
                    .relay_legs_refused
                    .fetch_add(1, Ordering::Relaxed);
                self.endpoint.reject(now, call, 403, None);
                None
            }
        }
    }

    /// The relay legs in progress, for the cluster's count of callers answered here.
    fn publish_legs_in(&self) {
        self.gauges
            .relay_legs_active
            .store(self.legs_in.len() as u64, Ordering::Relaxed);
    }

    fn process_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            let now = Instant::now();
            match event {
                Event::IncomingCall {
                    call,
                    sip_call_id,
                    source,
                    transport: sip_transport,
                    from_user,
                    from_uri,
                    relay_leg,
                } => {
                    let _span = tracing::info_span!("call", call_id = %sip_call_id, call = call.0)
                        .entered();
                    if self.draining.is_some() || self.drain_until.is_some() {
                        tracing::info!(%source, "shutting down: new call refused with 503");
                        self.endpoint
                            .reject(now, call, 503, Some(DRAIN_RETRY_AFTER_S));
                        continue;
                    }
                    if !self.is_trusted(source.ip()) {
                        tracing::info!(%source, "INVITE from outside the trusted networks: 403");
                        security_event(source.ip(), "untrusted-invite");
                        self.endpoint.reject(now, call, 403, None);
                        self.gauges
                            .calls_refused_untrusted
                            .fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Some(entry) = self.entry(now, call, source, &sip_call_id, relay_leg) else {
                        continue;
                    };
                    let active = self.gauges.calls_active.load(Ordering::Relaxed);
                    let relayed = matches!(entry, Entry::Relayed { .. });
                    let load = Load {
                        here: usize::try_from(active).unwrap_or(usize::MAX),
                        // A relay leg's caller was admitted by the node that answered it.
                        cluster: self
                            .cluster_load
                            .as_ref()
                            .filter(|_| !relayed)
                            .and_then(|c| c.load(self.gauges.callers_answered_here())),
                    };
                    let refused = match self.admission.admit(now, load) {
                        Verdict::Admit => None,
                        Verdict::TooManyCalls { retry_after_s } => Some((
                            retry_after_s,
                            &self.gauges.calls_refused_too_many,
                            "too many calls in progress here",
                        )),
                        Verdict::TooFast { retry_after_s } => Some((
                            retry_after_s,
                            &self.gauges.calls_refused_too_fast,
                            "too many new calls per second here",
                        )),
                        Verdict::ClusterFull { retry_after_s } => Some((
                            retry_after_s,
                            &self.gauges.calls_refused_cluster_full,
                            "too many callers across the cluster",
                        )),
                        Verdict::ClusterTooFast { retry_after_s } => Some((
                            retry_after_s,
                            &self.gauges.calls_refused_cluster_too_fast,
                            "this node's share of the cluster's call rate is used up",
                        )),
                    };
                    if let Some((retry_after_s, counter, why)) = refused {
                        tracing::debug!(%source, active, why, "admission: refusing with 503");
                        counter.fetch_add(1, Ordering::Relaxed);
                        self.endpoint.reject(now, call, 503, Some(retry_after_s));
                        continue;
                    }
                    let bound = match self.media.shared_transport(call) {
                        Some(shared) => Ok(shared),
                        None => self.media_port(),
                    };
                    match bound {
                        Ok((transport, port)) => {
                            let ip = self.local_ip_towards(source.ip());
                            let local = LocalMedia {
                                ip,
                                port,
                                session_id: rand::random::<u32>().into(),
                                session_version: 1,
                            };
                            tracing::info!(%source, transport = %sip_transport, from = from_user.as_deref().unwrap_or(""), rtp_port = local.port, "incoming call");
                            self.pending
                                .insert(call, (transport, sip_call_id.clone(), from_uri, entry));
                            let caller = crate::auth::guessing::Caller {
                                source: source.ip(),
                                from_user: from_user.clone(),
                                // A trunk carrying many callers: the trusted networks, and
                                // the registrars we registered at.
                                // Another node of the cluster: its own callers were counted there.
                                trusted: (self.trusted.is_some() && self.is_trusted(source.ip()))
                                    || self.is_registrar(source.ip())
                                    || relayed,
                            };
                            let _ = self.control.send(ControlEvent::CallerKnown {
                                call,
                                caller,
                                sip_call_id: sip_call_id.clone(),
                                source,
                                transport: sip_transport,
                            });
                            let peer = Peer {
                                addr: source,
                                transport: sip_transport,
                            };
                            if let Some(conns) = self.connections(sip_transport) {
                                conns.call_on(source, true);
                                self.tcp_calls.insert(call, peer);
                            }
                            self.endpoint.accept(now, call, local);
                            self.gauges.calls_answered.fetch_add(1, Ordering::Relaxed);
                            self.gauges.calls_active.fetch_add(1, Ordering::Relaxed);
                            if relayed {
                                self.legs_in.insert(call);
                                self.publish_legs_in();
                            }
                        }
                        Err(err) => {
                            tracing::warn!(%source, error = %err, "no media port: refusing call with 503");
                            self.endpoint.reject(now, call, 503, Some(5));
                            self.gauges
                                .calls_refused_no_port
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Event::MediaUpdate { call, params } => {
                    if let Some((transport, sip_call_id, from, entry)) = self.pending.remove(&call)
                    {
                        self.media
                            .start_call(call, transport, sip_call_id, from, params, entry);
                    } else {
                        self.media.send(call, Command::Update { call, params });
                    }
                }
                Event::Dtmf { call, digit } => {
                    self.media.send(call, Command::Digit { call, digit });
                }
                Event::CallEnded { call, reason } => {
                    if let Some(relays) = self.relays.as_mut() {
                        relays.caller_gone(now, call);
                    }
                    tracing::info!(call = call.0, reason = reason.as_str(), "call ended");
                    let _ = self.gauges.calls_active.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |v| v.checked_sub(1),
                    );
                    if self.legs_in.remove(&call) {
                        self.publish_legs_in();
                    }
                    let slot = match reason {
                        crate::call::EndReason::RemoteBye => 0,
                        crate::call::EndReason::Cancelled => 1,
                        crate::call::EndReason::AckTimeout => 2,
                        crate::call::EndReason::LocalHangup => 3,
                        crate::call::EndReason::Rejected => 4,
                    };
                    if let Some(c) = self.gauges.calls_ended.get(slot) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    if self.pending.remove(&call).is_none() {
                        self.media.send(call, Command::Stop { call });
                    }
                    if let Some(peer) = self.tcp_calls.remove(&call)
                        && let Some(conns) = self.connections(peer.transport)
                    {
                        conns.call_on(peer.addr, false);
                    }
                    let _ = self.control.send(ControlEvent::CallGone { call, reason });
                }
            }
        }
    }
}

/// Waits for a connection on `listener`, or forever when there is none.
async fn accept_on(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}
