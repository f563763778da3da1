//! Which transport a SIP message travels over (RFC 3261 §18), as the sans-IO core sees it.
//!
//! The core never touches a socket: it only needs to know whether the transport is reliable
//! (no retransmission timers, §17) and, for a stream, that responses go back on the
//! connection the request came from (§18.2.2). The driver owns the sockets and connections.

use std::fmt;
use std::net::SocketAddr;

/// The transport protocols the bridge speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One message per datagram; requests and responses are retransmitted on timers.
    Udp,
    /// A byte stream framed by Content-Length; the transport delivers, nothing is retransmitted.
    Tcp,
    /// TCP inside TLS (RFC 3261 §26, RFC 5630): framed and reliable like TCP.
    Tls,
}

impl Transport {
    /// True when the transport itself delivers messages, so Timers E, G are not run and
    /// Timers I, J, K are zero (RFC 3261 §17.1.2.2, §17.2.1, §17.2.2).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The `sent-protocol` transport token in Via (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The value of a URI's `transport` parameter, and of call records (`tls`).
    pub fn as_param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// The far end of a message: an address and the transport to it. For TCP the address is the
/// remote end of a connection, so it also names that connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The remote address (for TCP: the connection's remote end).
    pub addr: SocketAddr,
    /// How messages reach it.
    pub transport: Transport,
}

impl Peer {
    /// A peer reached by UDP datagrams.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Udp,
        }
    }

    /// A peer on the other end of a TCP connection.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Tcp,
        }
    }

    /// A peer on the other end of a TLS connection.
    pub fn tls(addr: SocketAddr) -> Peer {
        Peer {
            addr,
            transport: Transport::Tls,
        }
    }

    /// True on a reliable transport (see `Transport::is_reliable`).
    pub fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.transport)
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it or it failed.
    Peer,
    /// Nothing arrived for the idle timeout and no call used it.
    Idle,
    /// A message took longer than the message timeout to arrive.
    SlowSender,
    /// The peer did not read what we wrote.
    Stuck,
    /// The stream could not be framed (answered 400 where possible).
    Malformed,
    /// We closed it (shutdown).
    Local,
}

impl CloseReason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [CloseReason; 6] = [
        CloseReason::Peer,
        CloseReason::Idle,
        CloseReason::SlowSender,
        CloseReason::Stuck,
        CloseReason::Malformed,
        CloseReason::Local,
    ];

    /// For logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::Idle => "idle",
            CloseReason::SlowSender => "slow_sender",
            CloseReason::Stuck => "stuck",
            CloseReason::Malformed => "malformed",
            CloseReason::Local => "local",
        }
    }
}
