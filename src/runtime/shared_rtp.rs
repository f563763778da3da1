//! One RTP socket per media thread (`--rtp-sockets per-thread`): every call the thread
//! answers gets that socket's port in its SDP, and incoming datagrams are told apart by their
//! source address.
//!
//! Why: with a socket per call, each datagram sent pays for looking up and warming a socket
//! of its own; a shared socket stays hot and a tick's datagrams leave in a few `sendmmsg`
//! calls. The price: a call's RTP must come from the address its SDP names (a trunk, an SBC,
//! a phone with a public address), because there is no port of its own to latch on; RTP
//! from any other address is dropped and counted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::fast::RandomState;

use crate::call::CallId;
use crate::media::ports::{PortError, PortLease, PortPool};

/// Kernel buffer asked for each way: a tick's worth of datagrams for thousands of calls
/// (6,000 callers × 50 packets/s queue about 6,000 datagrams, some 5 MiB, between two reads).
const BUFFER_BYTES: libc::c_int = 16 << 20;

/// A media thread's shared RTP socket and the calls it carries.
pub struct SharedRtp {
    socket: UdpSocket,
    port: u16,
    /// The media thread that reads it.
    worker: usize,
    routes: Mutex<Routes>,
    _lease: PortLease,
}

/// Which call each source address belongs to, both ways, so that a call's route can be
/// replaced or removed without a search.
#[derive(Default)]
struct Routes {
    by_addr: HashMap<SocketAddr, Route, RandomState>,
    by_call: HashMap<CallId, SocketAddr, RandomState>,
}

impl Routes {
    /// The call's address is no longer its (unless a newer call has taken it meanwhile).
    fn forget(&mut self, call: CallId) {
        if let Some(old) = self.by_call.remove(&call)
            && self.by_addr.get(&old).map(|r| r.call) == Some(call)
        {
            self.by_addr.remove(&old);
        }
    }
}

/// Whose RTP a source address carries, and the media thread that has that call now.
///
/// Why the thread is here: a call that joins a meeting on another thread still sends to this
/// socket, so about half of a meeting's datagrams are handed on; knowing where from the
/// batch's one look-up spares a look-up per datagram in a map every thread reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The call.
    pub call: CallId,
    /// The media thread that has it.
    pub home: usize,
}

/// Why a shared socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SharedRtpError {
    /// No port left in the RTP range.
    #[error("cannot bind the media thread's RTP socket: {0}")]
    Port(#[from] PortError),
    /// The socket refused non-blocking mode.
    #[error("cannot make the media thread's RTP socket non-blocking: {0}")]
    NonBlocking(#[source] std::io::Error),
}

impl SharedRtp {
    /// Binds media thread `worker`'s socket on `ip`, at a port of the RTP range.
    pub fn bind(pool: &Arc<PortPool>, ip: IpAddr, worker: usize) -> Result<Self, SharedRtpError> {
        let (socket, lease) = pool.bind(ip)?;
        socket
            .set_nonblocking(true)
            .map_err(SharedRtpError::NonBlocking)?;
        let (received, sent) = (
            grow_buffer(&socket, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            grow_buffer(&socket, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        );
        tracing::info!(
            worker,
            port = lease.port(),
            receive_buffer = received,
            send_buffer = sent,
            "media thread's shared RTP socket"
        );
        Ok(SharedRtp {
            socket,
            port: lease.port(),
            worker,
            routes: Mutex::new(Routes::default()),
            _lease: lease,
        })
    }

    /// The port every call of this thread has in its SDP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The media thread that reads the socket.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The socket, for reads, sends and polling.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The socket's descriptor.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn lock(&self) -> MutexGuard<'_, Routes> {
        // A poisoned lock only means another thread panicked mid-update of two maps that
        // each stay consistent on their own.
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// RTP from `remote` is `call`'s from now on, and media thread `home` has the call (None:
    /// the call has no address yet, as on hold); its former address no longer is. A newer
    /// call at the same address takes it.
    pub fn route(&self, call: CallId, remote: Option<SocketAddr>, home: usize) {
        let mut routes = self.lock();
        let routes = &mut *routes;
        routes.forget(call);
        if let Some(remote) = remote {
            routes.by_addr.insert(remote, Route { call, home });
            routes.by_call.insert(call, remote);
        }
    }

    /// Media thread `home` has the call now (it moved there to join a meeting).
    pub fn rehome(&self, call: CallId, home: usize) {
        let mut routes = self.lock();
        let routes = &mut *routes;
        if let Some(remote) = routes.by_call.get(&call)
            && let Some(route) = routes.by_addr.get_mut(remote)
            && route.call == call
        {
            route.home = home;
        }
    }

    /// The call has ended: its address is free.
    pub fn unroute(&self, call: CallId) {
        self.lock().forget(call);
    }

    /// Whose RTP comes from `source`.
    pub fn lookup(&self, source: SocketAddr) -> Option<Route> {
        let [route] = self.lookup_each(std::iter::once(source));
        route
    }

    /// Whose RTP each of `sources` is, under one lock for a whole batch of datagrams.
    pub fn lookup_each<const N: usize>(
        &self,
        sources: impl Iterator<Item = SocketAddr>,
    ) -> [Option<Route>; N] {
        let routes = self.lock();
        let mut found = [None; N];
        for (route, source) in found.iter_mut().zip(sources) {
            *route = routes.by_addr.get(&source).copied();
        }
        found
    }

    /// How many calls have an address on this socket.
    pub fn routed(&self) -> usize {
        self.lock().by_call.len()
    }
}

/// Asks for [`BUFFER_BYTES`] with the option that ignores the system limit (allowed to root
/// and CAP_NET_ADMIN), else with the one capped by it; returns what the kernel gave.
fn grow_buffer(socket: &UdpSocket, force: libc::c_int, capped: libc::c_int) -> usize {
    let bytes: libc::c_int = BUFFER_BYTES;
    let set = |option: libc::c_int| {
        // SAFETY: a valid socket, and an int option with its own size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&raw const bytes).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(force) != 0 {
        let _ = set(capped);
    }
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket and an int with its size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            capped,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    if rc == 0 { value.max(0) as usize } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> SharedRtp {
        let pool = PortPool::new(41301, 41320);
        SharedRtp::bind(&pool, IpAddr::from([127, 0, 0, 1]), 1).unwrap()
    }

    #[test]
    fn datagrams_are_told_apart_by_source_and_a_moved_or_ended_call_lets_go() {
        let rtp = shared();
        assert_eq!(rtp.port() % 2, 0);
        assert_eq!(rtp.worker(), 1);
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        rtp.route(CallId(1), Some(a), 1);
        rtp.route(CallId(2), Some(b), 1);
        assert_eq!(rtp.lookup(a), Some(on(1, 1)));
        assert_eq!(rtp.lookup(b), Some(on(2, 1)));
        assert_eq!(rtp.lookup("127.0.0.1:5004".parse().unwrap()), None);
        // A re-INVITE moves call 1: its old address is no longer its.
        let a2: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        rtp.route(CallId(1), Some(a2), 1);
        assert_eq!(rtp.lookup(a), None);
        assert_eq!(rtp.lookup(a2), Some(on(1, 1)));
        // Hold (no address), then the end.
        rtp.route(CallId(2), None, 1);
        assert_eq!(rtp.lookup(b), None);
        // A batch's senders at once: one answer per source, in order, the rest None.
        assert_eq!(
            rtp.lookup_each::<4>([a2, b, a2].into_iter()),
            [Some(on(1, 1)), None, Some(on(1, 1)), None]
        );
        rtp.unroute(CallId(1));
        assert_eq!(rtp.routed(), 0);
    }

    fn on(call: u64, home: usize) -> Route {
        Route {
            call: CallId(call),
            home,
        }
    }

    #[test]
    fn a_newer_call_at_the_same_address_takes_it_and_keeps_it_when_the_older_ends() {
        let rtp = shared();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        rtp.route(CallId(1), Some(a), 1);
        rtp.route(CallId(2), Some(a), 1);
        assert_eq!(rtp.lookup(a), Some(on(2, 1)));
        rtp.unroute(CallId(1));
        assert_eq!(rtp.lookup(a), Some(on(2, 1)));
        // The older call moving elsewhere does not take the address's datagrams with it.
        rtp.rehome(CallId(1), 0);
        assert_eq!(rtp.lookup(a), Some(on(2, 1)));
    }

    #[test]
    fn a_call_that_moves_to_another_thread_has_its_datagrams_sent_there() {
        let rtp = shared();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        rtp.route(CallId(1), Some(a), 1);
        rtp.route(CallId(2), Some(b), 1);
        rtp.rehome(CallId(1), 0);
        assert_eq!(rtp.lookup(a), Some(on(1, 0)));
        assert_eq!(rtp.lookup(b), Some(on(2, 1)), "the other call stays");
        // A re-INVITE taken on its new thread keeps it there; a call on hold has no route
        // to move, and one that has ended none to bring back.
        let a2: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        rtp.route(CallId(1), Some(a2), 0);
        assert_eq!(rtp.lookup(a2), Some(on(1, 0)));
        rtp.route(CallId(2), None, 1);
        rtp.rehome(CallId(2), 0);
        assert_eq!(rtp.lookup(b), None);
        rtp.unroute(CallId(1));
        rtp.rehome(CallId(1), 1);
        assert_eq!(rtp.lookup(a2), None);
        assert_eq!(rtp.routed(), 0);
    }

    #[test]
    fn the_socket_gets_large_buffers_as_root_or_at_least_the_system_default() {
        let rtp = shared();
        let received = grow_buffer(rtp.socket(), libc::SO_RCVBUFFORCE, libc::SO_RCVBUF);
        // The kernel doubles what it is asked for; without privileges it caps at rmem_max.
        assert!(received > 0);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(received >= BUFFER_BYTES as usize, "{received}");
        }
    }
}
