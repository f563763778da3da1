//! Where responses go and which transaction a request belongs to (RFC 3261 §17.2.3, §18.2;
//! RFC 3581), read off the Via headers.

use super::*;

/// Our `host:port` in Via and Contact over `transport`: over TLS the TLS port, and the
/// `--sip-domain` name when set (a peer checks it against our certificate).
pub(super) fn sent_by(config: &EndpointConfig, ip: IpAddr, transport: Transport) -> String {
    match (transport, &config.sip_domain) {
        (Transport::Tls, Some(domain)) => format!("{domain}:{}", config.tls_port),
        (Transport::Tls, None) => host_port(ip, config.tls_port),
        _ => host_port(ip, config.sip_port),
    }
}

/// Formats `ip:port` with brackets for IPv6.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top Via.
pub(super) fn stamp_via(msg: &mut Message, via: &mut Via, source: SocketAddr) {
    let source_ip = source.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let differs = host.parse::<IpAddr>().map_or(true, |ip| ip != source.ip());
    let mut changed = false;
    if via.has_rport() {
        via.set_param("rport", Some(source.port().to_string()));
        via.set_param("received", Some(source_ip));
        changed = true;
    } else if differs {
        via.set_param("received", Some(source_ip));
        changed = true;
    }
    if !changed {
        return;
    }
    // Replace the first element of the first Via header, keeping any others as received.
    let first = msg.header(&HeaderName::Via).unwrap_or_default().to_string();
    let rest: Vec<&str> = crate::sip::header::split_comma_list(&first)
        .into_iter()
        .skip(1)
        .collect();
    let mut value = via.to_string();
    for r in rest {
        value.push_str(", ");
        value.push_str(r.trim());
    }
    let others: Vec<String> = msg
        .headers_named(&HeaderName::Via)
        .skip(1)
        .map(str::to_owned)
        .collect();
    msg.remove_header(&HeaderName::Via);
    // Via must stay the first header block in order; responses copy Vias in this order.
    msg.headers.insert(
        0,
        crate::sip::message::Header {
            name: HeaderName::Via,
            value,
        },
    );
    for (i, v) in others.into_iter().enumerate() {
        msg.headers.insert(
            i + 1,
            crate::sip::message::Header {
                name: HeaderName::Via,
                value: v,
            },
        );
    }
}

/// The top Via as far as it can be read: strictly, or else its sent-by and good parameters,
/// which is enough to send a 400 back (RFC 4475 badinv01).
pub(super) fn readable_top_via(msg: &Message) -> Option<Via> {
    msg.top_via().ok().or_else(|| {
        let value = msg.header(&HeaderName::Via)?;
        Via::parse_lenient(crate::sip::header::split_comma_list(value).first()?)
    })
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4): on a stream, back on
/// the connection it came from; over UDP, to the source address and the Via port (or the
/// source port with `rport`).
pub(super) fn response_destination(source: Peer, via: &Via) -> Peer {
    if source.is_reliable() || via.has_rport() {
        source
    } else {
        Peer::udp(SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)))
    }
}

/// Where in-dialog requests go (RFC 3261 §12.1.1): the Contact URI, else the From URI, made a
/// valid Request-URI by `as_request_uri`; None when neither can be one.
pub(super) fn remote_target(msg: &Message) -> Option<String> {
    let contact = msg.contact().ok().flatten().map(|c| c.uri);
    let from = msg.from_header().ok().map(|f| f.uri);
    [contact, from]
        .into_iter()
        .flatten()
        .find_map(|uri| as_request_uri(&uri))
}

/// A URI as the Request-URI of a request we send: `?headers` of a SIP URI dropped (they are
/// not allowed there, §19.1.1), and only if our own parser reads it, since the peer must too.
/// `validate` only checks the shape of name-addr values, not the URI inside them.
pub(super) fn as_request_uri(uri: &str) -> Option<String> {
    let (parsed, has_headers) = parse_uri(uri, "Contact").ok()?;
    let uri = if has_headers {
        // Headers follow the host; the user part before the last `@` may contain `?` itself.
        let host_from = uri.rfind('@').map_or(0, |at| at + 1);
        let q = host_from + uri.get(host_from..)?.find('?')?;
        uri.get(..q)?
    } else {
        uri
    };
    if matches!(parsed.scheme, UriScheme::Other(_)) {
        return None;
    }
    Some(uri.to_owned())
}

/// The server transaction key of a request (RFC 3261 §17.2.3, with the RFC 2543 fallback).
pub(super) fn tx_key(msg: &Message, via: &Via, method: &Method) -> TxKey {
    let method = if *method == Method::Ack {
        Method::Invite
    } else {
        method.clone()
    };
    let sent_by = format!(
        "{}:{}",
        via.host.to_ascii_lowercase(),
        via.port.unwrap_or(5060)
    );
    match via.branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => TxKey {
            branch: b.to_string(),
            sent_by,
            method,
        },
        other => {
            // RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq number and top Via identify it.
            let from_tag = msg
                .from_header()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default();
            let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
            TxKey {
                branch: format!(
                    "2543|{}|{}|{}|{}|{}",
                    other.unwrap_or(""),
                    msg.call_id().unwrap_or(""),
                    from_tag,
                    cseq,
                    if method == Method::Invite || method == Method::Cancel {
                        ""
                    } else {
                        msg.request_uri().unwrap_or("")
                    }
                ),
                sent_by,
                method,
            }
        }
    }
}
