//! Reads what tcpdump wrote (classic pcap, as `tcpdump -w` writes it) into IPv4 UDP and TCP
//! packets, so a test can check what really crossed the wire. A record still being written at
//! the end of the file is left out.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

/// The transport of a captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// UDP: one datagram.
    Udp,
    /// TCP: one segment's payload.
    Tcp,
}

/// One captured IPv4 packet's transport payload.
#[derive(Clone, Debug)]
pub struct Packet {
    /// UDP or TCP.
    pub proto: Proto,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The UDP datagram or TCP segment payload.
    pub payload: Vec<u8>,
}

/// Every IPv4 UDP/TCP packet in the capture at `path`, in capture order.
pub fn read(path: &Path) -> Vec<Packet> {
    let data = std::fs::read(path).unwrap_or_default();
    let Some(header) = data.get(..24) else {
        return Vec::new();
    };
    let magic = u32::from_le_bytes(header[..4].try_into().unwrap());
    let little = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => panic!("not a pcap file (magic {other:08x})"),
    };
    let u32_at = |b: &[u8]| {
        let b: [u8; 4] = b.try_into().unwrap();
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(&header[20..24]);
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(record) = data.get(at..at + 16) {
        let captured = u32_at(&record[8..12]) as usize;
        let Some(frame) = data.get(at + 16..at + 16 + captured) else {
            break;
        };
        at += 16 + captured;
        let ip = match link {
            // Ethernet (what Linux loopback captures as): skip the 14-byte header.
            1 => frame.get(14..),
            // Raw IP.
            12 | 101 => Some(frame),
            // Linux cooked capture v1 and v2.
            113 => frame.get(16..),
            276 => frame.get(20..),
            other => panic!("unexpected pcap link type {other}"),
        };
        if let Some(packet) = ip.and_then(parse_ipv4) {
            out.push(packet);
        }
    }
    out
}

fn parse_ipv4(ip: &[u8]) -> Option<Packet> {
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let ip = ip.get(..total.min(ip.len()))?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let l4 = ip.get(ihl..)?;
    let ports = |b: &[u8]| -> Option<(u16, u16)> {
        Some((
            u16::from_be_bytes([*b.first()?, *b.get(1)?]),
            u16::from_be_bytes([*b.get(2)?, *b.get(3)?]),
        ))
    };
    let (proto, (sport, dport), payload) = match ip[9] {
        17 => (Proto::Udp, ports(l4)?, l4.get(8..)?),
        6 => {
            let offset = usize::from(l4.get(12)? >> 4) * 4;
            (Proto::Tcp, ports(l4)?, l4.get(offset..)?)
        }
        _ => return None,
    };
    Some(Packet {
        proto,
        src: SocketAddr::V4(SocketAddrV4::new(src, sport)),
        dst: SocketAddr::V4(SocketAddrV4::new(dst, dport)),
        payload: payload.to_vec(),
    })
}
