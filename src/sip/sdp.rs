//! SDP offer/answer for the call's single audio stream (RFC 3264 over RFC 8866 SDP).
//!
//! The bridge is an audio-only user agent server that speaks PCMU (PT 0), PCMA (PT 8), G.722
//! (PT 9) and telephone-event/8000 (RFC 4733) at 20 ms, over RTP or SRTP keyed by SDES
//! (`RTP/SAVP` with `a=crypto`, RFC 4568; see [`SrtpPolicy`]). This module turns a caller's offer into our
//! answer, makes an offer when an INVITE arrives without one (RFC 3264 §5), and reads the
//! answer to that offer from the ACK. `sdp-types` parses; we write our SDP with plain
//! formatting because it is short and must be exact. Sans-IO: bytes in, values out, and no
//! input can make it panic.
//!
//! Choices a reader of call logs should know:
//! - **Hold by `c=0.0.0.0`** (RFC 2543 style, also `::`): the peer cannot receive at that
//!   address, so we drop the receive half of its direction (sendrecv becomes sendonly,
//!   recvonly becomes inactive) and answer the reverse: a plain `0.0.0.0` offer is answered
//!   `recvonly`, and [`Negotiated::remote`] is `None`.
//! - **A host name in `c=`**: a sans-IO core cannot resolve it, so `remote` is `None` but the
//!   direction is kept; symmetric RTP latches to where the peer's packets really come from.
//! - **Missing or unusable `c=`** (no `c=` at all, a non-`IN` network, an unknown address
//!   type, a multicast group) rejects that audio stream.
//! - **Several `c=` lines in one media section** (layered multicast): the first one counts.
//!   Two session-level `c=` lines are invalid SDP and `sdp-types` rejects the body.
//! - **Offered `ptime`** is ignored: we always send 20 ms frames and say so with `a=ptime:20`.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use sdp_types::{AddrType, Media, NetType, Session};

use crate::media::codec::Codec;
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpSuite};
use crate::sip::sdes;

/// Largest SDP body we parse; real phone offers are 0.3–2 KB, so this only stops abuse.
pub const MAX_SDP_LEN: usize = 32 * 1024;

/// Most media sections we answer; the answer mirrors every one, so this bounds its size too.
pub const MAX_MEDIA_SECTIONS: usize = 16;

/// The telephone-event payload type we put in our own offers (the common choice of phones).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The packet duration we always send, in milliseconds: one media-clock tick.
pub const PTIME_MS: u32 = 20;

/// The only telephone-event clock rate we accept: it matches our 8 kHz codecs (RFC 4733 §7.1.1).
const TELEPHONE_EVENT_RATE: u32 = 8000;

/// Our `o=` user name and `s=` session name, so peers' logs show who answered.
const SESSION_NAME: &str = "dialbridge";

/// Longest transport name we copy into an error, so a hostile body cannot bloat logs.
const MAX_ERROR_TEXT: usize = 64;

/// Media direction attribute (RFC 3264 §5.1/§6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both sides send and receive (the default when no attribute is given).
    SendRecv,
    /// The side owning this value only sends.
    SendOnly,
    /// The side owning this value only receives.
    RecvOnly,
    /// Neither side sends media (e.g. a hold with `a=inactive`).
    Inactive,
}

impl Direction {
    /// The direction to answer for a peer's direction (RFC 3264 §6.1): what it sends, we receive.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether we may send RTP, when `self` is our own direction.
    pub fn we_send(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether we expect RTP from the peer, when `self` is our own direction.
    pub fn we_receive(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The SDP attribute name, as written in `a=<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Reads a direction attribute name; names are matched loosely because phones vary.
    fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The peer's direction once we know it cannot receive (its address is `0.0.0.0`).
    fn without_receive(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

/// How the bridge treats SRTP (`--srtp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrtpMode {
    /// Plain RTP only: an `RTP/SAVP` stream is declined (488 if it is the only one).
    Off,
    /// SRTP for a caller who offers it, plain RTP for one who does not.
    #[default]
    Offer,
    /// SRTP only: a plain offer is answered 488, and our own offers are `RTP/SAVP`.
    Require,
}

impl SrtpMode {
    /// The value as written on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpMode::Off => "off",
            SrtpMode::Offer => "offer",
            SrtpMode::Require => "require",
        }
    }

    /// Reads the value written on the command line or in the config file.
    pub fn parse(text: &str) -> Option<SrtpMode> {
        [SrtpMode::Off, SrtpMode::Offer, SrtpMode::Require]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// What one offer/answer may do about SRTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrtpPolicy {
    /// The operator's choice.
    pub mode: SrtpMode,
    /// SDES keys may travel in this message: it came over TLS, or the operator accepts keys
    /// over cleartext SIP (`--srtp-over-cleartext-sip`). Keys anyone on the path can read
    /// protect nothing, so without this an SRTP stream is declined.
    pub keys_allowed: bool,
}

impl SrtpPolicy {
    /// Plain RTP only (what `--srtp off` means).
    pub const PLAIN: SrtpPolicy = SrtpPolicy {
        mode: SrtpMode::Off,
        keys_allowed: false,
    };

    /// Whether our own offer (an INVITE without SDP) is SRTP.
    pub fn offers_srtp(self) -> bool {
        self.mode == SrtpMode::Require && self.keys_allowed
    }
}

/// The tag of the one `a=crypto` line in our own offers.
pub const OFFER_CRYPTO_TAG: u32 = 1;

/// The suite of our own offers: the one every SRTP peer must speak (RFC 4568 §6.2).
pub const OFFER_SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

/// What offer/answer agreed for the call's audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Where the peer wants RTP. `None` for a hold address (`0.0.0.0`/`::`) or a host name we
    /// cannot resolve here; symmetric RTP latching fills the gap for the latter.
    pub remote: Option<SocketAddr>,
    /// The audio codec both sides use.
    pub codec: Codec,
    /// The payload type number for `codec` on the wire, as the offerer numbered it
    /// (static 0/8 normally, a dynamic number if the offerer mapped it so).
    pub payload_type: u8,
    /// The offerer's payload type for telephone-event/8000, if both sides do RFC 4733.
    pub telephone_event: Option<u8>,
    /// OUR direction: whether we may send and whether to expect RTP from the peer.
    pub direction: Direction,
    /// Packet duration we send, in milliseconds: always [`PTIME_MS`].
    pub ptime_ms: u32,
    /// The SRTP keys, when the stream is `RTP/SAVP`; `None` for plain RTP.
    pub srtp: Option<SrtpKeys>,
}

/// Why a connection line (`c=`) cannot carry the call's audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionFault {
    /// The network type is not `IN` (Internet).
    NotInternet,
    /// The address type is neither `IP4` nor `IP6`.
    UnknownAddressType,
    /// The address is a multicast group; the bridge only does unicast calls.
    Multicast,
}

impl fmt::Display for ConnectionFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionFault::NotInternet => "the network type is not IN",
            ConnectionFault::UnknownAddressType => "the address type is neither IP4 nor IP6",
            ConnectionFault::Multicast => "multicast addresses are not supported",
        })
    }
}

/// Why an SDP body could not be negotiated; [`SdpError::status_code`] gives the SIP reply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is empty: the request carries no offer (make one with [`offer`] instead).
    #[error("the message body is empty: there is no SDP to read")]
    Empty,
    /// The body is larger than [`MAX_SDP_LEN`].
    #[error("the SDP body is {len} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Size of the body received.
        len: usize,
        /// The limit, [`MAX_SDP_LEN`].
        max: usize,
    },
    /// The body is not SDP that `sdp-types` can read.
    #[error("the body is not valid SDP: {0}")]
    Unparsable(#[from] sdp_types::ParserError),
    /// The body has more media sections than [`MAX_MEDIA_SECTIONS`].
    #[error("the SDP has {count} media sections; the bridge answers at most {max}")]
    TooManyMedia {
        /// Media sections in the body.
        count: usize,
        /// The limit, [`MAX_MEDIA_SECTIONS`].
        max: usize,
    },
    /// No `m=audio` line with a non-zero port: there is no audio stream to take part in.
    #[error("the SDP has no active audio stream (an m=audio line with a non-zero port)")]
    NoAudio,
    /// The audio stream needs a transport we lack (DTLS-SRTP, TCP media, …).
    #[error(
        "the audio stream uses transport {proto}; the bridge speaks RTP/AVP, RTP/AVPF, RTP/SAVP and RTP/SAVPF"
    )]
    UnsupportedTransport {
        /// The offered transport, shortened for logs.
        proto: String,
    },
    /// The stream is SRTP and the bridge runs with `--srtp off`.
    #[error("the audio stream is SRTP (RTP/SAVP) and the bridge runs with --srtp off")]
    SrtpOff,
    /// The stream is plain RTP and the bridge runs with `--srtp require`.
    #[error("the audio stream is plain RTP and the bridge runs with --srtp require")]
    SrtpRequired,
    /// SRTP keys came (or would go) over SIP that is not TLS.
    #[error(
        "SRTP keys would cross the network in clear SIP: call over SIP/TLS, or start the bridge with --srtp-over-cleartext-sip"
    )]
    KeysInClear,
    /// No `a=crypto` line the bridge can use.
    #[error(
        "no usable a=crypto line: the bridge speaks AES_CM_128_HMAC_SHA1_80/_32, AES_256_CM_HMAC_SHA1_80/_32 and AEAD_AES_128/256_GCM, one key per line, lifetimes of at least 2^20 packets, no session parameters but WSH"
    )]
    NoUsableCrypto,
    /// The audio stream offers neither PCMU/8000 nor PCMA/8000 (or, in an answer to our
    /// offer, picks a format we did not offer).
    #[error("no common codec: the audio stream has neither PCMU/8000 nor PCMA/8000 as we offered")]
    NoCommonCodec,
    /// The audio stream has no `c=` line at media or session level.
    #[error("the audio stream has no c= line at media or session level")]
    NoConnection,
    /// The audio stream's `c=` line cannot carry unicast RTP.
    #[error("the audio stream's connection address `{address}` is unusable: {fault}")]
    BadConnection {
        /// The address as written, shortened for logs.
        address: String,
        /// What is wrong with it.
        fault: ConnectionFault,
    },
}

impl SdpError {
    /// The SIP status to reject an INVITE with: 400 for broken SDP, 413 when too large,
    /// 488 (Not Acceptable Here) when the SDP is fine but we cannot take part.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Empty | SdpError::Unparsable(_) | SdpError::NoConnection => 400,
            SdpError::TooLarge { .. } => 413,
            SdpError::TooManyMedia { .. }
            | SdpError::NoAudio
            | SdpError::UnsupportedTransport { .. }
            | SdpError::SrtpOff
            | SdpError::SrtpRequired
            | SdpError::KeysInClear
            | SdpError::NoUsableCrypto
            | SdpError::NoCommonCodec
            | SdpError::BadConnection { .. } => 488,
        }
    }
}

/// Our side's address for the SDP (`c=` and `o=`) and RTP port, plus session id/version
/// bookkeeping (RFC 3264 §8: bump `session_version` for every new offer or answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address peers send RTP to; an IPv4-mapped IPv6 address is written as IPv4.
    pub ip: IpAddr,
    /// Our RTP port for this call; must not be 0 (that would reject the stream).
    pub port: u16,
    /// The `o=` session id, fixed for the dialog.
    pub session_id: u64,
    /// The `o=` session version, increased by the caller on each new description.
    pub session_version: u64,
}

/// Parses an offer and builds our answer (RFC 3264 §6).
///
/// The first `m=audio` line with a non-zero port, transport RTP/AVP or RTP/AVPF, a common
/// codec and a usable connection is accepted; every other media line is answered with port
/// 0. The codec is the offerer's first PCMU/PCMA in its format order, answered with the
/// offerer's payload type number, followed by its telephone-event/8000 payload type if any.
/// When no audio line is accepted, the error is that of the first active audio line, or
/// [`SdpError::NoAudio`] if there was none. Plain RTP only; [`answer_with`] does SRTP.
pub fn answer(offer: &[u8], local: &LocalMedia) -> Result<(Negotiated, String), SdpError> {
    answer_with(offer, local, SrtpPolicy::PLAIN, &mut |_| None)
}

/// [`answer`] with SRTP as `policy` allows: an `RTP/SAVP(F)` line is accepted with its first
/// usable `a=crypto` line, answered with the same tag and suite and our key from `our_key`
/// (called once, for the chosen suite; `None` declines SRTP).
pub fn answer_with(
    offer: &[u8],
    local: &LocalMedia,
    policy: SrtpPolicy,
    our_key: &mut dyn FnMut(SrtpSuite) -> Option<MasterKey>,
) -> Result<(Negotiated, String), SdpError> {
    let session = parse(offer)?;
    let mut crypto = Crypto::Answer { policy, our_key };
    let (index, negotiated, tag) = accept_audio(&session, |_, _| true, &mut crypto)?;

    let mut sdp = String::with_capacity(320 + 40 * session.medias.len());
    write_session_header(&mut sdp, local);
    for (i, media) in session.medias.iter().enumerate() {
        if i == index {
            // The transport as RFC 3551/3711 spell it, whatever case the offer used.
            write_audio(
                &mut sdp,
                local.port,
                canonical_proto(&media.proto),
                &negotiated,
                tag,
            );
        } else {
            write_rejected(&mut sdp, media);
        }
    }
    Ok((negotiated, sdp))
}

/// Builds our offer for an INVITE that came without SDP (RFC 3261 §13.2.1, RFC 3264 §5):
/// PCMU, PCMA, G.722 and telephone-event at [`TELEPHONE_EVENT_PT`], sendrecv; `RTP/SAVP` with
/// one `a=crypto` line ([`OFFER_CRYPTO_TAG`], [`OFFER_SUITE`]) when `srtp` gives our key.
pub fn offer(local: &LocalMedia, srtp: Option<&MasterKey>) -> String {
    let mut sdp = String::with_capacity(400);
    write_session_header(&mut sdp, local);
    let proto = if srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    line(
        &mut sdp,
        format_args!(
            "m=audio {} {proto} {} {} {} {TELEPHONE_EVENT_PT}",
            local.port,
            Codec::Pcmu.payload_type(),
            Codec::Pcma.payload_type(),
            Codec::G722.payload_type(),
        ),
    );
    for codec in Codec::ALL {
        write_rtpmap(&mut sdp, codec.payload_type(), codec);
    }
    write_telephone_event(&mut sdp, TELEPHONE_EVENT_PT);
    line(&mut sdp, format_args!("a=ptime:{PTIME_MS}"));
    line(&mut sdp, format_args!("a={}", Direction::SendRecv.as_str()));
    if let Some(key) = srtp {
        line(
            &mut sdp,
            format_args!("a=crypto:{}", sdes::write(OFFER_CRYPTO_TAG, key)),
        );
    }
    sdp
}

/// The offer of a relay leg to a meeting's owner node: exactly the caller's codec and
/// telephone-event, numbered as the caller numbered them, in plain RTP (the legs stay inside
/// the cluster), so that packets pass between the two legs unchanged.
pub fn relay_offer(local: &LocalMedia, caller: &Negotiated) -> String {
    let mut sdp = String::with_capacity(300);
    write_session_header(&mut sdp, local);
    match caller.telephone_event {
        Some(te) => line(
            &mut sdp,
            format_args!(
                "m=audio {} RTP/AVP {} {te}",
                local.port, caller.payload_type
            ),
        ),
        None => line(
            &mut sdp,
            format_args!("m=audio {} RTP/AVP {}", local.port, caller.payload_type),
        ),
    }
    write_rtpmap(&mut sdp, caller.payload_type, caller.codec);
    if let Some(te) = caller.telephone_event {
        write_telephone_event(&mut sdp, te);
    }
    line(&mut sdp, format_args!("a=ptime:{PTIME_MS}"));
    line(&mut sdp, format_args!("a={}", Direction::SendRecv.as_str()));
    sdp
}

/// Reads the owner node's answer to a [`relay_offer`]: it must keep the caller's codec at
/// the caller's number (else the legs could not pass packets through unchanged).
pub fn read_relay_answer(answer: &[u8], caller: &Negotiated) -> Result<Negotiated, SdpError> {
    let session = parse(answer)?;
    let mut crypto = Crypto::ReadAnswer { offered: None };
    let (_, negotiated, _) = accept_audio(
        &session,
        |pt, format| match format {
            Format::Codec(codec) => codec == caller.codec && pt == caller.payload_type,
            Format::TelephoneEvent => Some(pt) == caller.telephone_event,
            Format::Other => false,
        },
        &mut crypto,
    )?;
    Ok(negotiated)
}

/// Reads the peer's answer to our [`offer`] (carried in the ACK).
///
/// The answer must pick from what we offered: PCMU at 0, PCMA at 8 or G.722 at 9, else
/// [`SdpError::NoCommonCodec`]. Telephone-event counts only at [`TELEPHONE_EVENT_PT`]: an
/// answer that renumbers it leaves `telephone_event` `None`, since one number must serve
/// both directions. `offered` is our key when our offer was SRTP: the answer must then be
/// `RTP/SAVP` with an `a=crypto` line of our tag and suite; otherwise it must be plain RTP.
pub fn read_answer(answer: &[u8], offered: Option<&MasterKey>) -> Result<Negotiated, SdpError> {
    let session = parse(answer)?;
    let mut crypto = Crypto::ReadAnswer { offered };
    let (_, negotiated, _) = accept_audio(
        &session,
        |pt, format| match format {
            Format::Codec(codec) => codec.payload_type() == pt,
            Format::TelephoneEvent => pt == TELEPHONE_EVENT_PT,
            Format::Other => false,
        },
        &mut crypto,
    )?;
    Ok(negotiated)
}

/// The SRTP side of one negotiation.
enum Crypto<'a> {
    /// Answering an offer.
    Answer {
        policy: SrtpPolicy,
        our_key: &'a mut dyn FnMut(SrtpSuite) -> Option<MasterKey>,
    },
    /// Reading the answer to our offer, which carried `offered` if it was SRTP.
    ReadAnswer { offered: Option<&'a MasterKey> },
}

/// The RTP transports we speak, spelled as their RFCs do; an unknown one as it came (only
/// rejected lines keep it).
fn canonical_proto(proto: &str) -> &str {
    ["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"]
        .into_iter()
        .find(|known| proto.eq_ignore_ascii_case(known))
        .unwrap_or(proto)
}

impl Crypto<'_> {
    /// Whether the line is SRTP, once its transport and our policy allow it at all.
    fn check(&self, media: &Media) -> Result<bool, SdpError> {
        let proto = media.proto.as_str();
        let is = |name: &str| proto.eq_ignore_ascii_case(name);
        let secure = if is("RTP/AVP") || is("RTP/AVPF") {
            false
        } else if is("RTP/SAVP") || is("RTP/SAVPF") {
            true
        } else {
            return Err(SdpError::UnsupportedTransport {
                proto: shorten(proto),
            });
        };
        match self {
            Crypto::Answer { policy, .. } => match (secure, policy.mode) {
                (false, SrtpMode::Require) => Err(SdpError::SrtpRequired),
                (true, SrtpMode::Off) => Err(SdpError::SrtpOff),
                (true, _) if !policy.keys_allowed => Err(SdpError::KeysInClear),
                _ => Ok(secure),
            },
            Crypto::ReadAnswer { offered } => match (secure, offered) {
                (false, Some(_)) => Err(SdpError::SrtpRequired),
                (true, None) => Err(SdpError::SrtpOff),
                _ => Ok(secure),
            },
        }
    }

    /// The agreed keys and the tag to answer with, for a line [`Crypto::check`] found secure.
    fn keys_for(&mut self, media: &Media) -> Result<(SrtpKeys, u32), SdpError> {
        match self {
            Crypto::Answer { our_key, .. } => {
                let theirs = crypto_lines(media).next().ok_or(SdpError::NoUsableCrypto)?;
                let local = our_key(theirs.key.suite()).ok_or(SdpError::SrtpOff)?;
                let keys = SrtpKeys {
                    local,
                    remote: theirs.key,
                    remote_mki_len: theirs.mki_len,
                };
                Ok((keys, theirs.tag))
            }
            Crypto::ReadAnswer { offered } => {
                let ours = offered.ok_or(SdpError::SrtpOff)?;
                let theirs = crypto_lines(media)
                    .find(|line| line.tag == OFFER_CRYPTO_TAG && line.key.suite() == ours.suite())
                    .ok_or(SdpError::NoUsableCrypto)?;
                let keys = SrtpKeys {
                    local: ours.clone(),
                    remote: theirs.key,
                    remote_mki_len: theirs.mki_len,
                };
                Ok((keys, OFFER_CRYPTO_TAG))
            }
        }
    }
}

/// The line's usable `a=crypto` attributes, in the offerer's order of preference.
fn crypto_lines(media: &Media) -> impl Iterator<Item = sdes::CryptoLine> + '_ {
    media
        .get_attribute_values("crypto")
        .flatten()
        .filter_map(|value| sdes::parse(value).ok())
}

/// Checks the size limits around `sdp-types`' parser.
fn parse(body: &[u8]) -> Result<Session, SdpError> {
    if body.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge {
            len: body.len(),
            max: MAX_SDP_LEN,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SdpError::Empty);
    }
    let session = Session::parse(body)?;
    if session.medias.len() > MAX_MEDIA_SECTIONS {
        return Err(SdpError::TooManyMedia {
            count: session.medias.len(),
            max: MAX_MEDIA_SECTIONS,
        });
    }
    Ok(session)
}

/// What a payload type stands for on one media line, as far as the bridge cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One of our audio codecs.
    Codec(Codec),
    /// telephone-event at 8000 Hz.
    TelephoneEvent,
    /// Anything else (opus, G.722, telephone-event/48000, stereo PCMU, …).
    Other,
}

/// Finds the first acceptable audio stream; returns its media index and the agreement.
///
/// `accept` filters formats by (payload type, meaning): everything for an offer, only what
/// we offered for an answer.
fn accept_audio(
    session: &Session,
    accept: impl Fn(u8, Format) -> bool,
    crypto: &mut Crypto<'_>,
) -> Result<(usize, Negotiated, u32), SdpError> {
    let mut first_error = None;
    for (index, media) in session.medias.iter().enumerate() {
        if !media.media.eq_ignore_ascii_case("audio") || media.port == 0 {
            continue;
        }
        match negotiate(session, media, &accept, crypto) {
            Ok((negotiated, tag)) => return Ok((index, negotiated, tag)),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(SdpError::NoAudio))
}

/// Negotiates one active audio media line; the crypto tag to answer with (0 for plain RTP).
fn negotiate(
    session: &Session,
    media: &Media,
    accept: &impl Fn(u8, Format) -> bool,
    crypto: &mut Crypto<'_>,
) -> Result<(Negotiated, u32), SdpError> {
    // Transport and policy first: an SRTP line we may not take is declined whatever its codecs.
    let secure = crypto.check(media)?;
    let (codec, payload_type, telephone_event) = choose_formats(media, accept)?;
    let peer = peer_direction(session, media);
    let (remote, peer) = match remote_address(session, media)? {
        Remote::Ip(ip) => (Some(SocketAddr::new(ip, media.port)), peer),
        Remote::Hold => (None, peer.without_receive()),
        Remote::Unresolved => (None, peer),
    };
    let (srtp, tag) = if secure {
        let (keys, tag) = crypto.keys_for(media)?;
        (Some(keys), tag)
    } else {
        (None, 0)
    };
    Ok((
        Negotiated {
            remote,
            codec,
            payload_type,
            telephone_event,
            direction: peer.reversed(),
            ptime_ms: PTIME_MS,
            srtp,
        },
        tag,
    ))
}

/// Picks the first acceptable codec and telephone-event/8000 in the line's format order.
fn choose_formats(
    media: &Media,
    accept: &impl Fn(u8, Format) -> bool,
) -> Result<(Codec, u8, Option<u8>), SdpError> {
    let map = PayloadMap::of(media);
    let mut codec = None;
    let mut telephone_event = None;
    let payload_types = media
        .fmt
        .split_ascii_whitespace()
        .filter_map(|token| token.parse::<u8>().ok());
    for pt in payload_types {
        let format = map.format(pt);
        if !accept(pt, format) {
            continue;
        }
        match format {
            Format::Codec(c) if codec.is_none() => codec = Some((c, pt)),
            Format::TelephoneEvent if telephone_event.is_none() => telephone_event = Some(pt),
            _ => {}
        }
        if codec.is_some() && telephone_event.is_some() {
            break;
        }
    }
    let (codec, pt) = codec.ok_or(SdpError::NoCommonCodec)?;
    Ok((codec, pt, telephone_event))
}

/// The meaning of each RTP payload type (0–127) on one media line.
///
/// Built in one pass so that a line with thousands of formats and rtpmaps costs linear
/// time, not formats × rtpmaps.
struct PayloadMap([Option<Format>; 128]);

impl PayloadMap {
    /// Reads the line's `a=rtpmap` attributes; the first mapping of a number wins.
    fn of(media: &Media) -> PayloadMap {
        let mut map = [None; 128];
        for value in media.get_attribute_values("rtpmap").flatten() {
            if let Some((pt, format)) = parse_rtpmap(value)
                && let Some(slot) = map.get_mut(usize::from(pt))
                && slot.is_none()
            {
                *slot = Some(format);
            }
        }
        PayloadMap(map)
    }

    /// An rtpmap decides; without one, RFC 3551's static types 0 and 8 still count.
    fn format(&self, pt: u8) -> Format {
        match self.0.get(usize::from(pt)) {
            Some(Some(format)) => *format,
            Some(None) => Codec::from_static_payload_type(pt).map_or(Format::Other, Format::Codec),
            None => Format::Other,
        }
    }
}

/// Reads `<pt> <name>/<rate>[/<channels>]` without allocating, tolerating extra spaces.
fn parse_rtpmap(value: &str) -> Option<(u8, Format)> {
    let (pt, encoding) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
    let pt = pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?.trim();
    let rate = parts.next()?.trim().parse::<u32>().ok()?;
    // We are mono: "/1" or nothing; anything else (stereo, extra fields) is not ours.
    let mono = parts.next().is_none_or(|channels| channels.trim() == "1") && parts.next().is_none();
    let format = if !mono {
        Format::Other
    } else if name.eq_ignore_ascii_case("telephone-event") {
        if rate == TELEPHONE_EVENT_RATE {
            Format::TelephoneEvent
        } else {
            Format::Other
        }
    } else {
        Codec::from_rtpmap(name, rate).map_or(Format::Other, Format::Codec)
    };
    Some((pt, format))
}

/// The peer's direction: media-level attribute, else session-level, else sendrecv.
fn peer_direction(session: &Session, media: &Media) -> Direction {
    let first = |attributes: &[sdp_types::Attribute]| {
        attributes
            .iter()
            .find_map(|a| Direction::from_attribute(&a.attribute))
    };
    first(&media.attributes)
        .or_else(|| first(&session.attributes))
        .unwrap_or(Direction::SendRecv)
}

/// Where the peer's connection line points.
enum Remote {
    /// A unicast address to send RTP to.
    Ip(IpAddr),
    /// `0.0.0.0` or `::`: the peer is not receiving (hold).
    Hold,
    /// Not an IP literal (a host name); we cannot resolve it here.
    Unresolved,
}

/// Reads the media-level `c=` (first of several) or else the session-level one.
fn remote_address(session: &Session, media: &Media) -> Result<Remote, SdpError> {
    let connection = media
        .connections
        .first()
        .or(session.connection.as_ref())
        .ok_or(SdpError::NoConnection)?;
    let address = connection.connection_address.as_str();
    let fault = |fault| SdpError::BadConnection {
        address: shorten(address),
        fault,
    };
    if connection.nettype != NetType::In {
        return Err(fault(ConnectionFault::NotInternet));
    }
    if !matches!(connection.addrtype, AddrType::Ip4 | AddrType::Ip6) {
        return Err(fault(ConnectionFault::UnknownAddressType));
    }
    // A "/ttl" or "/count" suffix only means something for multicast, which we refuse.
    let host = address.split_once('/').map_or(address, |(host, _)| host);
    // The literal wins over a contradicting IP4/IP6 token: sending to it is what works.
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Ok(Remote::Unresolved);
    };
    let ip = ip.to_canonical();
    if ip.is_unspecified() {
        Ok(Remote::Hold)
    } else if ip.is_multicast() {
        Err(fault(ConnectionFault::Multicast))
    } else {
        Ok(Remote::Ip(ip))
    }
}

/// Copies peer text into an error, bounded so a hostile body cannot bloat logs.
fn shorten(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT).collect()
}

/// Appends one SDP line with its CRLF.
fn line(out: &mut String, args: fmt::Arguments<'_>) {
    // Writing into a String cannot fail; the Result only exists for other sinks.
    let _ = out.write_fmt(args);
    out.push_str("\r\n");
}

/// `v=`, `o=`, `s=`, `c=` and `t=`: the part every SDP we write starts with.
fn write_session_header(out: &mut String, local: &LocalMedia) {
    let ip = local.ip.to_canonical();
    let addrtype = if ip.is_ipv4() { "IP4" } else { "IP6" };
    line(out, format_args!("v=0"));
    line(
        out,
        format_args!(
            "o={SESSION_NAME} {} {} IN {addrtype} {ip}",
            local.session_id, local.session_version
        ),
    );
    line(out, format_args!("s={SESSION_NAME}"));
    line(out, format_args!("c=IN {addrtype} {ip}"));
    line(out, format_args!("t=0 0"));
}

/// Our accepted audio stream: codec first, then telephone-event, then ptime and direction.
fn write_audio(out: &mut String, port: u16, proto: &str, agreed: &Negotiated, crypto_tag: u32) {
    let (pt, codec, telephone_event) = (agreed.payload_type, agreed.codec, agreed.telephone_event);
    match telephone_event {
        Some(te) => line(out, format_args!("m=audio {port} {proto} {pt} {te}")),
        None => line(out, format_args!("m=audio {port} {proto} {pt}")),
    }
    write_rtpmap(out, pt, codec);
    if let Some(te) = telephone_event {
        write_telephone_event(out, te);
    }
    line(out, format_args!("a=ptime:{PTIME_MS}"));
    line(out, format_args!("a={}", agreed.direction.as_str()));
    if let Some(keys) = &agreed.srtp {
        line(
            out,
            format_args!("a=crypto:{}", sdes::write(crypto_tag, &keys.local)),
        );
    }
}

/// An rtpmap line for one of our codecs at the given payload type.
fn write_rtpmap(out: &mut String, pt: u8, codec: Codec) {
    line(
        out,
        format_args!(
            "a=rtpmap:{pt} {}/{}",
            codec.encoding_name(),
            codec.clock_rate()
        ),
    );
}

/// rtpmap and fmtp for telephone-event: we receive the DTMF events 0–15.
fn write_telephone_event(out: &mut String, pt: u8) {
    line(
        out,
        format_args!("a=rtpmap:{pt} telephone-event/{TELEPHONE_EVENT_RATE}"),
    );
    line(out, format_args!("a=fmtp:{pt} 0-15"));
}

/// A declined stream (RFC 3264 §6): same media and transport, port 0, one offered format.
fn write_rejected(out: &mut String, media: &Media) {
    let format = media.fmt.split_ascii_whitespace().next().unwrap_or("0");
    line(
        out,
        format_args!("m={} 0 {} {format}", media.media, media.proto),
    );
}

#[cfg(test)]
mod tests;
