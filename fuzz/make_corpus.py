#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run from anywhere; deterministic).

Seeds are real messages and packets: the test messages of src/sip/message.rs and
src/sip/sdp.rs (RFC 4475 torture tests, phones' offers), the SIPp scenarios in
sip-test-scenarios/ rendered as SIPp would send them, and RTP/RFC 4733 packets (from SIPp's
dtmf_2833 pcap when the sip-tester package is installed, else built the same way).
Re-run it after changing an input format of a target; commit what it writes.
"""

import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = os.path.join(CORPUS, target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def rust_consts(path):
    """The `const NAME: &str = "...";` literals of a Rust file, unescaped."""
    src = open(path, encoding="utf-8").read()
    out = {}
    for m in re.finditer(r'const ([A-Z0-9_]+): &str = r#"(.*?)"#;', src, re.S):
        out[m.group(1)] = m.group(2)
    for m in re.finditer(r'const ([A-Z0-9_]+): &str = "((?:[^"\\]|\\.)*)";', src, re.S):
        out.setdefault(m.group(1), unescape(m.group(2)))
    return out


def unescape(s):
    s = re.sub(r"\\\n\s*", "", s)
    s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), s)
    s = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)
    return (s.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
             .replace('\\"', '"').replace("\\\\", "\\"))


# ---- SIP messages --------------------------------------------------------------------------

OFFER = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\n")


def request(method, branch="z9hG4bKinv1", call_id="c1@fuzz", cseq=1, tag=None,
            body="", content_type="application/sdp", extra="", via_host="127.0.0.1:5061"):
    to_tag = f";tag={tag}" if tag else ""
    ct = f"Content-Type: {content_type}\r\n" if body else ""
    return (f"{method} sip:bridge@127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {via_host};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\n"
            f"To: <sip:bridge@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:alice@{via_host}>\r\n{extra}{ct}"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}")


SIPP_VALUES = {
    "remote_ip": "127.0.0.1", "remote_port": "5060", "local_ip": "127.0.0.1",
    "local_port": "5061", "transport": "UDP", "pid": "4242", "call_number": "1",
    "call_id": "1-4242@127.0.0.1", "cseq": "1", "local_ip_type": "4",
    "media_ip_type": "4", "media_ip": "127.0.0.1", "media_port": "6000", "service": "1000",
    "next_url": "sip:bridge@127.0.0.1:5060", "routes": "", "$key": "5", "field0": "123456789",
}


def sipp_messages(path, tag):
    """The <send> messages of a SIPp scenario, rendered as SIPp sends them."""
    xml = open(path, encoding="iso-8859-1").read()
    out = []
    for n, block in enumerate(re.findall(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", xml, re.S)):
        lines = [l.strip() for l in block.strip("\n").split("\n")]
        text = "\n".join(lines).strip("\n")
        head, _, body = text.partition("\n\n")
        if not body:
            # SIPp's own convention: the body follows the first blank-free header run.
            parts = re.split(r"\n(?=v=0)", text, maxsplit=1)
            head, body = parts[0], parts[1] if len(parts) > 1 else ""
        method = head.split(" ", 1)[0]
        values = dict(SIPP_VALUES, branch=f"z9hG4bK-4242-1-{n}", peer_tag_param=f";tag={tag}",
                      cseq="1" if method in ("INVITE", "ACK") else str(n))
        fill = lambda t: re.sub(r"\[last_[A-Za-z-]+:?\]", "", re.sub(
            r"\[([a-z_$0-9]+)\]", lambda m: values.get(m.group(1), m.group(0)), t))
        # SIPp drops the lines that a substitution left empty ([routes] without routes).
        head = "\n".join(l for l in fill(head).split("\n") if l)
        body = crlf(fill(body) + "\n") if body else ""
        head = head.replace("[len]", str(len(body.encode())))
        out.append(crlf(head + "\n\n") + body)
    return out


def sip_message_seeds():
    msg = rust_consts(os.path.join(ROOT, "src/sip/message/tests.rs"))
    for name in ["INVITE", "WSINV", "DBLREQ", "CLERR", "SCALAR02"]:
        write("sip_message", f"rfc4475_{name.lower()}", crlf(msg[name]))
    write("sip_message", "rfc4475_intmeth", crlf(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
        "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.\n"
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
        "Max-Forwards: 255\n"
        "extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb\n"
        "Content-Length: 0\n\n"))
    write("sip_message", "invite_sdp", request("INVITE", body=OFFER))
    for n, m in enumerate(sipp_messages(os.path.join(ROOT, "sip-test-scenarios/attendee_info.xml"), "b0b")):
        write("sip_message", f"sipp_attendee_info_{n}", m)
    write("sip_message", "response_200_sdp", crlf(
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKinv1;rport=5061;received=127.0.0.1\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\nTo: <sip:bridge@127.0.0.1>;tag=0123456789abcdef\n"
        "Call-ID: c1@fuzz\nCSeq: 1 INVITE\nContact: <sip:127.0.0.1:5060>\n"
        f"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\nServer: dialbridge\nContent-Type: application/sdp\nContent-Length: {len(OFFER)}\n\n") + OFFER)
    write("sip_message", "response_180", crlf(
        "SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKinv1\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\nTo: <sip:bridge@127.0.0.1>;tag=x\n"
        "Call-ID: c1@fuzz\nCSeq: 1 INVITE\nContent-Length: 0\n\n"))
    write("sip_message", "options", request("OPTIONS", branch="z9hG4bKopt", extra="Accept: application/sdp\r\n"))
    write("sip_message", "cancel", request("CANCEL"))
    write("sip_message", "register", request("REGISTER", extra="Expires: 3600\r\n"))
    write("sip_message", "compact_lf_only", (
        "INVITE sip:1000@127.0.0.1 SIP/2.0\nv: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKc\n"
        "f: <sip:a@127.0.0.1>;tag=1\nt: <sip:1000@127.0.0.1>\ni: compact@fuzz\nCSeq: 1 INVITE\n"
        f"m: <sip:a@127.0.0.1:5061>\nc: application/sdp\nk: timer\nl: {len(OFFER)}\n\n") + OFFER)
    write("sip_message", "keepalive", "\r\n\r\n")
    write("sip_message", "stream_two_messages", request("OPTIONS", branch="z9hG4bKs1") + request("BYE", branch="z9hG4bKs2", tag="t"))
    write("sip_message", "ipv6", crlf(
        "INVITE sip:[2001:db8::10]:5060;transport=udp SIP/2.0\nVia: SIP/2.0/UDP [::1]:5064;branch=z9hG4bK6;rport\n"
        "From: \"Bob\" <sip:bob@[::1]:5064>;tag=6\nTo: <sip:1000@[2001:db8::10]>\nCall-ID: v6@fuzz\nCSeq: 2 INVITE\n"
        "Contact: <sip:bob@[::1]:5064;ob>\nMax-Forwards: 70\nContent-Length: 0\n\n"))
    write("sip_message", "tel_uri", crlf(
        "INVITE tel:+15555550100;phone-context=example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKt\n"
        "From: <tel:+15555550199>;tag=t\nTo: <tel:+15555550100>\nCall-ID: tel@fuzz\nCSeq: 1 INVITE\nContent-Length: 0\n\n"))
    write("sip_message", "routes", request("BYE", tag="t", extra=(
        "Route: <sip:proxy.example.com;lr>, <sip:127.0.0.1:5080;lr>\r\n"
        "Record-Route: <sip:127.0.0.1:5080;lr;ftag=x>\r\nRequire: 100rel\r\nSupported: timer, replaces\r\n")))
    write("sip_message", "folded_non_utf8", b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKf\r\n"
          b"Subject: first\r\n  second\r\n\tthird\r\nX-Binary: \xff\xfe\x80ok\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
          b"Call-ID: f@fuzz\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\n\x00\x01\xff\r")
    write("sip_message", "bad_request_line", "INVITE  sip:a@127.0.0.1  SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKb\r\nCall-ID: b\r\n\r\n")
    write("sip_message", "sip_3_0", request("INVITE").replace("SIP/2.0\r\n", "SIP/3.0\r\n", 1))


# ---- SDP ----------------------------------------------------------------------------------

def sdp_seeds():
    consts = rust_consts(os.path.join(ROOT, "src/sip/sdp/tests.rs"))
    names = ["SIPP_DEFAULT", "SIPP_DTMF", "BARESIP", "LINPHONE_IPV6", "ASTERISK", "FREESWITCH"]
    for i, name in enumerate(names):
        write("sdp", name.lower(), bytes([i]) + crlf(consts[name]).encode())
    write("sdp", "lf_only", b"\x01" + consts["SIPP_DTMF"].encode())
    base = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\n{c}t=0 0\n{m}"
    def sdp(sel, name, c="c=IN IP4 127.0.0.1\n", m="m=audio 6000 RTP/AVP 0 8 101\na=rtpmap:101 telephone-event/8000\n"):
        write("sdp", name, bytes([sel]) + crlf(base.format(c=c, m=m)).encode())
    sdp(0, "ours_for_read_answer", m="m=audio 20000 RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=ptime:20\na=sendrecv\n")
    sdp(0x80, "hold_zero_address", c="c=IN IP4 0.0.0.0\n", m="m=audio 6000 RTP/AVP 0\na=sendonly\n")
    sdp(1, "inactive_ipv6_hold", c="c=IN IP6 ::\n", m="m=audio 6000 RTP/AVP 8\na=inactive\n")
    sdp(2, "srtp_then_avp", m="m=audio 6000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\nm=audio 6002 RTP/AVP 0\n")
    sdp(0, "multicast", c="c=IN IP4 224.2.1.1/127/3\n")
    sdp(0x40, "srtp_baresip", m="m=audio 6000 RTP/SAVP 0 101\na=rtpmap:101 telephone-event/8000\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n")
    sdp(0x60, "srtp_teams_lifetime", m="m=audio 6000 RTP/SAVP 0 8 101\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\na=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31|1:1\n")
    sdp(0x41, "srtp_gcm_and_unknown", m="m=audio 6000 RTP/SAVPF 9 0\na=crypto:1 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\na=crypto:2 AEAD_AES_128_GCM inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVu==\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz KDR=24\n")
    sdp(0, "hostname", c="c=IN IP4 phone.example.com\n")
    sdp(0, "no_connection", c="")
    sdp(0, "media_level_connection", c="", m="m=video 0 RTP/AVP 31\nm=audio 6000 RTP/AVPF 0\nc=IN IP4 127.0.0.1\nc=IN IP4 127.0.0.2\na=recvonly\n")
    sdp(0, "dynamic_pcmu", m="m=audio 6000 RTP/AVP 96 97\na=rtpmap:96 PCMU/8000/1\na=rtpmap:97 telephone-event/8000\na=fmtp:97 0-15\n")
    sdp(0, "no_common_codec", m="m=audio 6000 RTP/AVP 9 18 96\na=rtpmap:96 opus/48000/2\na=rtpmap:0 PCMU/16000\n")
    sdp(0, "x_network", c="c=ATM NSAP 47.0005.80.ffe100.0000.f21a.0000.0123.4567.89ab.00\n")


# ---- SRTP ---------------------------------------------------------------------------------

def srtp_seeds():
    pcmu = bytes([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]) + bytes([0xD5]) * 160
    rr = bytes([0x81, 0xC9, 0x00, 0x07]) + bytes(range(28)) + bytes([0x80, 0, 0, 1]) + bytes(10)
    write("srtp", "aes_cm_80_rtp", bytes([0]) + pcmu + bytes(10))
    write("srtp", "aes_cm_32_mki", bytes([0x41]) + pcmu + bytes(8))
    write("srtp", "gcm_rtp", bytes([2]) + pcmu + bytes(16))
    write("srtp", "srtcp_rr", bytes([0]) + rr)
    write("srtp", "flip_one_byte", bytes([0]) + bytes(20) + bytes([1]))
    write("srtp", "empty", bytes([3]))


# ---- RTP and RFC 4733 ---------------------------------------------------------------------

def rtp_packet(pt, seq, ts, ssrc, payload, marker=False, padding=0, csrcs=(), ext=None):
    first = 0x80 | (0x20 if padding else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    out = struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if padding:
        out += bytes(padding - 1) + bytes([padding])
    return out


def pcap_udp_payloads(path):
    """UDP payloads of an Ethernet/IPv4 pcap (SIPp's dtmf_2833 files)."""
    data = open(path, "rb").read()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    pos, out = 24, []
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        out.append(frame[14 + ihl + 8:])
    return out


def sipp_press(event, ts, seq, ssrc=0x0E05384E):
    """One key press as SIPp's pcaps send it: 7 updates, then 3 end packets."""
    pkts = []
    for i in range(10):
        end = i >= 7
        dur = 160 * min(i + 1, 7)
        pkts.append(rtp_packet(101, seq + i, ts, ssrc, bytes([event, (0x80 if end else 0) | 10]) + struct.pack("!H", dur), marker=(i == 0)))
    return pkts


def rtp_seeds():
    def raw(pkts, depth=2, ticks_between=False):
        out = bytes([depth])
        for p in pkts:
            out += b"\x00" + struct.pack("!H", len(p)) + p
            if ticks_between:
                out += b"\x01"
        return out + b"\x0d"  # four ticks at the end
    pcmu = bytes([0xFF]) * 160
    ssrc = 0x1234ABCD
    write("rtp", "pcmu_stream", raw([rtp_packet(0, 100 + i, 160 * i, ssrc, pcmu, marker=i == 0) for i in range(6)], ticks_between=True))
    write("rtp", "seq_wrap", raw([rtp_packet(0, 65533 + i, 160 * i, ssrc, pcmu) for i in range(6)], ticks_between=True))
    write("rtp", "reorder_duplicate", raw([rtp_packet(0, s, 160 * s, ssrc, pcmu) for s in [10, 12, 11, 11, 14, 13, 12]]))
    write("rtp", "jump_restart", raw([rtp_packet(0, s, 160 * s, ssrc, pcmu) for s in [10, 11, 5000, 5001, 5002]], ticks_between=True))
    write("rtp", "ssrc_change", raw([rtp_packet(0, 10, 0, ssrc, pcmu), rtp_packet(0, 11, 160, ssrc, pcmu), rtp_packet(0, 900, 0, 0xCAFE, pcmu), rtp_packet(0, 901, 160, 0xCAFE, pcmu)], ticks_between=True))
    write("rtp", "padding_csrc_extension", raw([
        rtp_packet(0, 1, 0, ssrc, pcmu, padding=4),
        rtp_packet(0, 2, 160, ssrc, pcmu, csrcs=(1, 2, 3)),
        rtp_packet(0, 3, 320, ssrc, pcmu, ext=b"\x10\xAA\x00\x00"),
        rtp_packet(0, 4, 480, ssrc, pcmu[:80], marker=True, padding=1, csrcs=(7,), ext=bytes(8)),
    ], ticks_between=True))
    write("rtp", "ptime_10_and_30", raw([rtp_packet(0, 1, 0, ssrc, pcmu[:80]), rtp_packet(0, 2, 80, ssrc, bytes(240))], ticks_between=True))
    write("rtp", "invalid_packets", raw([
        b"\x80\x00\x00", bytes(12), b"\x80\xc8\x00\x06" + bytes(24),  # short, version 0, RTCP SR
        b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12),  # STUN binding request
        b"\xa0\x00\x00\x01" + bytes(8),  # padding flag with no byte for the count
        b"\x8f\x00\x00\x01" + bytes(8) + bytes(8),  # 15 CSRCs announced, 2 present
        b"\x90\x00\x00\x01" + bytes(8) + b"\xbe\xde\x00\x09",  # extension past the end
    ]))
    dtmf = sipp_press(5, 8000, 200)
    pcap = "/usr/share/sip-tester/dtmf_2833_5.pcap"
    if os.path.exists(pcap):
        dtmf = pcap_udp_payloads(pcap)
    write("rtp", "rfc4733_press", raw(dtmf + [rtp_packet(0, 300, 9000, 0x0E05384E, pcmu)]))
    # Built packets (tag 2) and our sender (tag 3).
    built = bytes([4])
    for i, (flags, pt, delta, ln) in enumerate([(0x01, 0, 1, 160), (0x02, 0, 1, 160), (0x04 | (2 << 3), 0, 2, 161),
                                                (0x00, 0, -1, 160), (0x00, 0x80, 1, 4), (0x06, 0, 3000, 160), (0, 0, 1, 80)]):
        built += b"\x02" + struct.pack("!BBhHBB", flags, pt, delta, 160, ln, 0) + b"\x05"
    write("rtp", "built_packets", built + b"\x3d")
    write("rtp", "sender", bytes([2]) + b"\x03\x00\xa0\x14" + b"\x03\x65\x04\x00" + b"\x03\x80\x00\x00" + b"\x03\x08\xff\x14")


def rfc4733_seeds():
    def rec(mode, ssrc, ts, event, flags, dur):
        # Duration's high byte is the ssrc selector byte (see the target's doc comment).
        return bytes([mode, ssrc]) + struct.pack("!I", ts) + bytes([event, flags, dur & 0xFF])
    press = b"".join(rec(0 if i < 7 else 0, 0, 8000, 5, (0x80 if i >= 7 else 0) | 10, 160 * (i + 1)) for i in range(10))
    write("rfc4733", "one_press", press)
    write("rfc4733", "press_with_retransmitted_ends", b"".join(rec(2 if i >= 7 else 0, 0, 8000, 1, (0x80 if i >= 7 else 0) | 10, 160 * (i + 1)) for i in range(8)))
    write("rfc4733", "two_presses_same_key", press + press.replace(struct.pack("!I", 8000), struct.pack("!I", 16000)))
    write("rfc4733", "reused_timestamp_next_key", rec(0, 0, 500, 1, 0x80, 800) + rec(0, 0, 500, 2, 0x80, 800))
    write("rfc4733", "long_event_segments", rec(0, 0, 1000, 11, 0, 0xFF) + rec(4, 0, 0, 11, 0, 0xFF) + rec(4, 0, 0, 11, 0x80, 0x20))
    write("rfc4733", "flash_and_short", rec(0, 1, 77, 16, 0x80, 1) + rec(0x90, 1, 78, 3, 0, 2) + rec(0xB0, 2, 79, 4, 0, 3))
    write("rfc4733", "interleaved_ssrcs", b"".join(rec(1, s, 4000, 12 + s, 0x8A if s == 3 else 0x0A, 160) for s in range(4)))
    write("rfc4733", "all_keys", b"".join(rec(0, 0, 1000 * (e + 1), e, 0x80, 800) for e in range(16)))
    pcap = "/usr/share/sip-tester/dtmf_2833_0.pcap"
    if os.path.exists(pcap):
        recs = b""
        for p in pcap_udp_payloads(pcap):
            ts, payload = struct.unpack("!I", p[4:8])[0], p[12:16]
            recs += bytes([0, payload[2]]) + struct.pack("!I", ts) + bytes([payload[0], payload[1], payload[3]])
        write("rfc4733", "sipp_pcap_0", recs)


# ---- SIP INFO bodies ----------------------------------------------------------------------

def sip_info_seeds():
    for i, (sel, body) in enumerate([
        (0, "Signal=5\r\nDuration=160\r\n"), (0, "Signal=#\r\nDuration=160"), (0, "signal = 11\r\nduration=100"),
        (2, "Signal=*\nDuration=250\n"), (0, "Duration=160\r\nSignal=A\r\nSignal=1"), (0, "Signal=1 0\r\n"),
        (1, "5"), (1, "11\r\n"), (3, " # "), (4, ""), (4, "Signal=5"), (0, "Signal=\r\nSignal=2")]):
        write("sip_info", f"body_{i:02}", bytes([sel]) + body.encode())


# ---- Engine scripts -----------------------------------------------------------------------

def script(*steps):
    out = ""
    for cmd, payload in steps:
        # A step ends at a line starting with %%; bytes past Content-Length are ignored.
        if payload and not payload.endswith("\n"):
            payload += "\n"
        out += f"%%{cmd}\n{payload}"
    return out


def ack(tag="$TAG", cseq=1, branch="z9hG4bKack1", body="", call_id="c1@fuzz"):
    return request("ACK", branch=branch, tag=tag, cseq=cseq, body=body, call_id=call_id)


def engine_seeds():
    inv = request("INVITE", body=OFFER)
    info = lambda n, digit, ct="application/dtmf-relay": request(
        "INFO", branch=f"z9hG4bKinfo{n}", tag="$TAG", cseq=1 + n, body=f"Signal={digit}\r\nDuration=160\r\n", content_type=ct)
    bye = request("BYE", branch="z9hG4bKbye1", tag="$TAG", cseq=10)
    write("engine", "call_info_bye", script(("recv 0", inv), ("recv 0", ack()), ("recv 0", info(1, "4")),
                                            ("recv 0", info(2, "#")), ("wait 100", ""), ("recv 0", bye), ("wait 40000", "")))
    write("engine", "no_ack_timeout", script(("recv 0", inv), ("wait 40000", "")))
    write("engine", "cancel_while_offered", script(("policy hold", ""), ("recv 0", inv), ("recv 0", request("CANCEL")),
                                                   ("recv 0", ack(tag="$TAG", branch="z9hG4bKinv1")), ("wait 6000", "")))
    write("engine", "ringing_then_cancel", script(("delay 2000", ""), ("recv 0", inv), ("wait 500", ""),
                                                  ("recv 0", request("CANCEL")), ("wait 3000", "")))
    write("engine", "late_offer", script(("recv 1", request("INVITE")), ("recv 1", ack(body=OFFER.replace("6000", "6002")))))
    write("engine", "reinvite_hold", script(("recv 0", inv), ("recv 0", ack()),
                                            ("recv 0", request("INVITE", branch="z9hG4bKre1", tag="$TAG", cseq=2, body=OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"))),
                                            ("recv 0", ack(cseq=2, branch="z9hG4bKack2")), ("hangup 0", "")))
    bye_ok = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=$BRANCH;rport\r\n"
              "From: <sip:bridge@127.0.0.1>;tag=$TAG\r\nTo: <sip:alice@127.0.0.1>;tag=a1\r\n"
              "Call-ID: c1@fuzz\r\nCSeq: 100 BYE\r\nContent-Length: 0\r\n\r\n")
    write("engine", "our_bye_answered", script(("recv 0", inv), ("recv 0", ack()), ("hangup 0", ""), ("wait 600", ""), ("recv 0", bye_ok)))
    write("engine", "reject_503", script(("policy reject 503", ""), ("recv 0", inv), ("recv 0", ack(branch="z9hG4bKinv1"))))
    write("engine", "retransmissions", script(("recv 0", inv), ("recv 0", inv), ("wait 500", ""), ("recv 0", ack()), ("recv 0", ack()), ("recv 0", info(1, "1")), ("recv 0", info(1, "1"))))
    write("engine", "options_register_unknown", script(
        ("recv 2", request("OPTIONS", branch="z9hG4bKo1", via_host="127.0.0.2:5060")), ("recv 2", request("REGISTER", branch="z9hG4bKr1")),
        ("recv 2", request("SUBSCRIBE", branch="z9hG4bKs1")), ("recv 2", request("INVITE", branch="z9hG4bKq1", extra="Require: 100rel\r\n")),
        ("wait 33000", "")))
    write("engine", "malformed", script(("recv 0", "INVITE  sip:a@127.0.0.1  SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKm\r\nCall-ID: m\r\nCSeq: 1 INVITE\r\n\r\n"),
                                        ("recv 0", "\r\n\r\n"), ("recv 0", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                        ("recv 0", request("INVITE", body=OFFER).replace("Content-Length: ", "Content-Length: 9")),
                                        ("recv 0", request("INVITE", branch="z9hG4bKv").replace("SIP/2.0\r\n", "SIP/3.0\r\n", 1))))
    write("engine", "unknown_dialog", script(("recv 3", request("BYE", tag="nosuch", via_host="[::1]:5064")),
                                             ("recv 3", request("INFO", tag="nosuch", via_host="[::1]:5064"))))
    write("engine", "info_application_dtmf", script(("recv 0", inv), ("recv 0", ack()),
                                                    ("recv 0", request("INFO", branch="z9hG4bKi1", tag="$TAG", cseq=2, body="11", content_type="application/dtmf")),
                                                    ("recv 0", request("INFO", branch="z9hG4bKi2", tag="$TAG", cseq=3, body="x", content_type="text/plain")),
                                                    ("recv 0", request("INFO", branch="z9hG4bKi3", tag="$TAG", cseq=4))))
    steps = []
    for m in sipp_messages(os.path.join(ROOT, "sip-test-scenarios/attendee_info.xml"), "$TAG"):
        steps.append(("recv 0", m))
    write("engine", "sipp_attendee_info", script(*steps))
    write("engine", "two_calls_hangupall", script(("recv 0", inv), ("recv 1", request("INVITE", call_id="c2@fuzz", via_host="127.0.0.1:5062", body=OFFER)),
                                                  ("recv 1", ack(call_id="c2@fuzz")), ("hangupall", ""), ("wait 70000", "")))
    write("engine", "rfc2543_branch", script(("recv 0", request("INVITE", branch="1234", body=OFFER)), ("recv 0", ack(branch="5678"))))
    write("engine", "wsinv", crlf(rust_consts(os.path.join(ROOT, "src/sip/message/tests.rs"))["WSINV"]))
    write("engine", "srtp_488_ack", script(("recv 0", request("INVITE", body=OFFER.replace("RTP/AVP", "RTP/SAVP"))), ("recv 0", ack(branch="z9hG4bKinv1", tag="$TAG"))))
    write("engine", "text_body_415", script(("recv 0", request("INVITE", body="hello", content_type="text/plain"))))
    write("engine", "reinvite_pending_and_old_cseq", script(("delay 1000", ""), ("recv 0", inv), ("wait 200", ""),
                                                           ("recv 0", request("INVITE", branch="z9hG4bKre2", tag="$TAG", cseq=2, body=OFFER)),
                                                           ("wait 900", ""), ("recv 0", ack()),
                                                           ("recv 0", request("INVITE", branch="z9hG4bKre3", tag="$TAG", cseq=1, body=OFFER))))
    write("engine", "hold_accept_reject", script(("policy hold", ""), ("recv 0", inv), ("recv 1", request("INVITE", call_id="c2@fuzz", branch="z9hG4bKx2", body=OFFER)),
                                                 ("accept 0", ""), ("reject 1 486", ""), ("recv 0", ack()), ("hangup 0", "")))


def main():
    for target in ["sip_message", "sdp", "rtp", "rfc4733", "sip_info", "engine", "srtp"]:
        path = os.path.join(CORPUS, target)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if not name.startswith("crash-") and not name.startswith("regression-"):
                    os.remove(os.path.join(path, name))
    sip_message_seeds()
    sdp_seeds()
    srtp_seeds()
    rtp_seeds()
    rfc4733_seeds()
    sip_info_seeds()
    engine_seeds()
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        print(f"{target}: {len(files)} seeds, {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
