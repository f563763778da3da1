//! The RTP port range: one even port per call, handed out as a lease that frees itself.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// Why no media port could be had.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Every port of the range is in use (by our calls or by other programs).
    #[error("no free RTP port left in {low}-{high}")]
    Exhausted {
        /// Range start.
        low: u16,
        /// Range end.
        high: u16,
    },
}

#[derive(Debug)]
struct Inner {
    used: Vec<bool>,
    cursor: usize,
}

/// A range of even UDP ports for RTP (the odd neighbour stays free for RTCP, RFC 3550 §11).
#[derive(Debug)]
pub struct PortPool {
    low: u16,
    high: u16,
    inner: Mutex<Inner>,
}

/// One port taken from the pool; dropping it returns the port.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<PortPool>,
    port: u16,
}

impl PortLease {
    /// The leased port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.release(self.port);
    }
}

impl PortPool {
    /// A pool over the even ports of `low..=high`.
    pub fn new(low: u16, high: u16) -> Arc<PortPool> {
        let first = low + (low % 2);
        let slots = if high >= first {
            usize::from((high - first) / 2) + 1
        } else {
            0
        };
        Arc::new(PortPool {
            low: first,
            high,
            inner: Mutex::new(Inner {
                used: vec![false; slots],
                cursor: 0,
            }),
        })
    }

    /// How many ports the pool has in all.
    pub fn capacity(&self) -> usize {
        self.lock().used.len()
    }

    /// How many are leased now.
    pub fn in_use(&self) -> usize {
        self.lock().used.iter().filter(|u| **u).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain bools.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn release(&self, port: u16) {
        let slot = usize::from((port - self.low) / 2);
        if let Some(u) = self.lock().used.get_mut(slot) {
            *u = false;
        }
    }

    /// Binds a UDP socket on `ip` at the next free port of the range.
    pub fn bind(self: &Arc<Self>, ip: IpAddr) -> Result<(UdpSocket, PortLease), PortError> {
        let slots = self.lock().used.len();
        for _ in 0..slots {
            let port = {
                let mut inner = self.lock();
                let Some(offset) = (0..slots)
                    .map(|i| (inner.cursor + i) % slots)
                    .find(|&s| !inner.used[s])
                else {
                    break;
                };
                inner.used[offset] = true;
                inner.cursor = (offset + 1) % slots;
                self.low + (offset as u16) * 2
            };
            let lease = PortLease {
                pool: Arc::clone(self),
                port,
            };
            match UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    dont_fragment(&socket);
                    return Ok((socket, lease));
                }
                // Taken by another program: the cursor has moved past it, so the next
                // attempts try other ports first.
                Err(_) => drop(lease),
            }
        }
        Err(PortError::Exhausted {
            low: self.low,
            high: self.high,
        })
    }
}

/// Sends the socket's IPv4 datagrams with DF set and the path MTU ignored
/// (`IP_PMTUDISC_PROBE`). An RTP packet is far below any path MTU, and with DF the kernel
/// gives it IP ID 0 instead of drawing one from its shared, hashed ID table for every
/// packet (about 5 % of what a held caller costs). A socket that refuses keeps the default.
fn dont_fragment(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    if !matches!(socket.local_addr(), Ok(SocketAddr::V4(_))) {
        return;
    }
    let value: libc::c_int = libc::IP_PMTUDISC_PROBE;
    // SAFETY: a valid socket, and an int option with its own size.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_sockets_send_with_dont_fragment_and_ignore_the_path_mtu() {
        use std::os::fd::AsRawFd;
        let pool = PortPool::new(41201, 41210);
        let (socket, _lease) = pool.bind("127.0.0.1".parse().unwrap()).unwrap();
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket and an int with its size.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(value, libc::IP_PMTUDISC_PROBE);
    }

    #[test]
    fn hands_out_even_ports_and_runs_out_cleanly() {
        let pool = PortPool::new(41001, 41006);
        assert_eq!(pool.capacity(), 3, "41002, 41004, 41006");
        let ip = IpAddr::from([127, 0, 0, 1]);
        let a = pool.bind(ip).unwrap();
        let b = pool.bind(ip).unwrap();
        let c = pool.bind(ip).unwrap();
        for (_, l) in [&a, &b, &c] {
            assert_eq!(l.port() % 2, 0);
        }
        assert!(matches!(pool.bind(ip), Err(PortError::Exhausted { .. })));
        drop(b);
        let d = pool.bind(ip).expect("a released port is reused");
        assert_eq!(pool.in_use(), 3);
        drop((a, c, d));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn skips_ports_other_programs_hold() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let squatter = UdpSocket::bind((ip, 41102)).unwrap();
        let pool = PortPool::new(41102, 41104);
        let (_s, lease) = pool.bind(ip).unwrap();
        assert_eq!(lease.port(), 41104);
        assert!(pool.bind(ip).is_err());
        drop(squatter);
    }
}
