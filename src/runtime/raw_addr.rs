//! A socket address in the C layout the kernel reads from a `sendmmsg` or io_uring message.
//!
//! Our own rather than socket2's `SockAddr` or a `sockaddr_storage` because a tick keeps one
//! per queued datagram (thousands, written once and read once per tick): 28 bytes and a
//! length instead of 128.

use std::net::SocketAddr;

/// A destination as the kernel reads it, with its length.
#[derive(Clone, Copy)]
pub(super) struct RawAddr {
    addr: SockaddrIn,
    len: libc::socklen_t,
}

/// The two address families a datagram here goes to, in the kernel's layouts.
#[derive(Clone, Copy)]
#[repr(C)]
union SockaddrIn {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl RawAddr {
    /// For a message's `msg_name`: the kernel only reads through it.
    pub(super) fn as_ptr(&self) -> *mut libc::c_void {
        (&raw const self.addr).cast_mut().cast()
    }

    /// For a message's `msg_namelen`.
    pub(super) fn len(&self) -> libc::socklen_t {
        self.len
    }
}

impl From<SocketAddr> for RawAddr {
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => RawAddr {
                addr: SockaddrIn {
                    v4: libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: a.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    },
                },
                len: std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            },
            SocketAddr::V6(a) => RawAddr {
                addr: SockaddrIn {
                    v6: libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as libc::sa_family_t,
                        sin6_port: a.port().to_be(),
                        sin6_flowinfo: a.flowinfo(),
                        sin6_addr: libc::in6_addr {
                            s6_addr: a.ip().octets(),
                        },
                        sin6_scope_id: a.scope_id(),
                    },
                },
                len: std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            },
        }
    }
}
