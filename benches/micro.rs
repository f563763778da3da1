//! Micro-benchmarks of the per-call hot paths: SIP parsing and the transaction path, RFC 4733
//! decoding, G.711, the mixer per participant, a media worker tick per call, and packet-loss
//! concealment per frame.
//! Run with `cargo bench --bench micro`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dialbridge::bridge::mixer::{Mixer, Pcm};
use dialbridge::call::CallId;
use dialbridge::call::Conference;
use dialbridge::engine::{Command, MAX_TALKERS, MeetingHomes, Worker, WorkerConfig};
use dialbridge::ivr::assets::Assets;
use dialbridge::media::agc::Agc;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::media::dtmf::{Digit, DtmfReceiver, TelephoneEvent, write_event};
use dialbridge::media::g711;
use dialbridge::media::g722::G722;
use dialbridge::media::inband::InbandDetector;
use dialbridge::media::plc::Plc;
use dialbridge::media::resample::{Downsampler, Upsampler};
use dialbridge::media::srtp::{MasterKey, SrtpKeys, SrtpSession, SrtpSuite};
use dialbridge::media::vad::VoiceActivity;
use dialbridge::sip::endpoint::{Endpoint, EndpointConfig, Event};
use dialbridge::sip::message::{Framing, parse};
use dialbridge::sip::sdp::{Direction, LocalMedia, Negotiated};
use rand::SeedableRng;
use rand::rngs::StdRng;

const INVITE: &str = "INVITE sip:bridge@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-BRANCH;rport\r\n\
From: \"SIPp attendee\" <sip:attendee@127.0.0.1:5061>;tag=12345SIPpTag001\r\n\
To: <sip:bridge@127.0.0.1:5060>\r\nCall-ID: CALLID@127.0.0.1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:attendee@127.0.0.1:5061>\r\nMax-Forwards: 70\r\nUser-Agent: SIPp\r\n\
Content-Type: application/sdp\r\nContent-Length: LEN\r\n\r\n\
v=0\r\no=sipp 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n\
a=fmtp:96 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

/// The INVITE with a correct Content-Length for its SDP body.
fn invite_text() -> String {
    let (head, body) = INVITE.split_once("\r\n\r\n").expect("head and body");
    format!(
        "{}\r\n\r\n{body}",
        head.replace("LEN", &body.len().to_string())
    )
}

fn sip(c: &mut Criterion) {
    let invite_template = invite_text();
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite", |b| {
        b.iter(|| parse(black_box(invite_template.as_bytes()), Framing::Datagram))
    });
    // A whole call's signalling: INVITE, accept (200 with SDP), ACK, BYE.
    let local = LocalMedia {
        ip: [127, 0, 0, 1].into(),
        port: 20000,
        session_id: 1,
        session_version: 1,
    };
    let from: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    let mut ep = Endpoint::new(EndpointConfig::default(), StdRng::seed_from_u64(1));
    let mut n = 0u64;
    g.bench_function("call_invite_ack_bye", |b| {
        b.iter(|| {
            n += 1;
            let now = Instant::now();
            let invite = invite_template
                .replace("BRANCH", &n.to_string())
                .replace("CALLID", &n.to_string());
            ep.handle_datagram(now, from, invite.as_bytes());
            let mut call = None;
            while let Some(e) = ep.poll_event() {
                if let Event::IncomingCall { call: c, .. } = e {
                    call = Some(c);
                }
            }
            let call = call.expect("a call");
            ep.accept(now, call, local);
            let mut tag = String::new();
            while let Some(t) = ep.poll_transmit() {
                if t.bytes.starts_with(b"SIP/2.0 200") {
                    let text = String::from_utf8_lossy(&t.bytes);
                    tag = text
                        .split("tag=")
                        .nth(2)
                        .and_then(|s| s.split(['\r', ';']).next())
                        .unwrap_or_default()
                        .to_string();
                }
            }
            for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
                let req = format!(
                    "{method} sip:bridge@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK{method}{n};rport\r\n\
                     From: <sip:attendee@127.0.0.1:5061>;tag=12345SIPpTag001\r\nTo: <sip:bridge@127.0.0.1:5060>;tag={tag}\r\n\
                     Call-ID: {n}@127.0.0.1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                );
                ep.handle_datagram(now, from, req.as_bytes());
            }
            while ep.poll_event().is_some() {}
            while ep.poll_transmit().is_some() {}
            // Let Timer J/L retire the transactions so the state stays bounded.
            ep.handle_timeout(now + Duration::from_secs(40));
        })
    });
    g.finish();
}

fn dtmf(c: &mut Criterion) {
    let mut g = c.benchmark_group("rfc4733");
    g.throughput(Throughput::Elements(1));
    let mut rx = DtmfReceiver::new();
    let mut payload = [0u8; 4];
    let mut ts = 0u32;
    g.bench_function("on_packet", |b| {
        b.iter(|| {
            ts = ts.wrapping_add(1);
            let ev = TelephoneEvent {
                event: Digit::D5.event(),
                end: ts.is_multiple_of(4),
                volume: 10,
                duration: 160,
            };
            write_event(&ev, &mut payload);
            rx.on_packet(7, ts / 4, black_box(&payload))
        })
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("g711_frame");
    g.throughput(Throughput::Elements(160));
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i * 397) % 20000) as i16 - 10000)
        .collect();
    let mut enc = [0u8; 160];
    let mut dec = [0i16; 160];
    for law in Law::ALL {
        let codec = Codec::from(law);
        g.bench_function(format!("encode_{}", codec.encoding_name()), |b| {
            b.iter(|| g711::encode(law, black_box(&pcm), &mut enc))
        });
        g.bench_function(format!("decode_{}", codec.encoding_name()), |b| {
            b.iter(|| g711::decode(law, black_box(&enc), &mut dec))
        });
    }
    g.finish();
    // G.722 is per caller and per direction (stateful), and the rate converters run for
    // each narrowband caller in a wideband meeting: their cost per 20 ms frame.
    let mut g = c.benchmark_group("wideband_frame");
    let wide: [i16; 320] = std::array::from_fn(|i| ((i * 397) % 20000) as i16 - 10000);
    let narrow: [i16; 160] = std::array::from_fn(|i| ((i * 397) % 20000) as i16 - 10000);
    let mut g722 = G722::new();
    let mut payload = [0u8; 160];
    let mut out_wide = [0i16; 320];
    let mut out_narrow = [0i16; 160];
    g.bench_function("g722_encode", |b| {
        b.iter(|| g722.encode(black_box(&wide), &mut payload))
    });
    g.bench_function("g722_decode", |b| {
        b.iter(|| g722.decode(black_box(&payload), &mut out_wide))
    });
    let mut up = Upsampler::new();
    g.bench_function("upsample_8k_to_16k", |b| {
        b.iter(|| up.process(black_box(&narrow), &mut out_wide))
    });
    let mut down = Downsampler::new();
    g.bench_function("downsample_16k_to_8k", |b| {
        b.iter(|| down.process(black_box(&wide), &mut out_narrow))
    });
    let mut vad = VoiceActivity::new();
    let mut agc = Agc::new();
    g.bench_function("talk_detect_and_gain_8k", |b| {
        b.iter(|| {
            let mut f = narrow;
            let talking = vad.update(&f);
            let level = vad.level_db();
            agc.process(&mut f, talking, level);
            black_box(f)
        })
    });
    g.finish();
}

fn mixer(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixer_tick");
    for talkers in [2usize, 10, 50] {
        let frames: Vec<Pcm> = (0..talkers)
            .map(|t| [((t * 31) as i16).wrapping_mul(97); 320])
            .collect();
        g.throughput(Throughput::Elements(talkers as u64));
        g.bench_with_input(
            BenchmarkId::new("talkers", talkers),
            &frames,
            |b, frames| {
                let mut m = Mixer::new();
                let mut out = [0i16; 320];
                let mut enc = [0u8; 160];
                b.iter(|| {
                    m.clear(false);
                    for f in frames {
                        m.add(f);
                    }
                    for f in frames {
                        m.talker_mix(f, &mut out);
                        g711::encode(Law::Mu, &out[..160], &mut enc);
                    }
                    black_box(&enc);
                })
            },
        );
    }
    g.finish();
}

/// A worker for the benchmarks: no timeouts, since criterion runs thousands of 20 ms ticks
/// and callers that send nothing would be hung up after the RTP timeout, leaving it empty.
fn bench_worker(assets: &Arc<Assets>) -> Worker<()> {
    Worker::new(
        0,
        Arc::new(MeetingHomes::new(1)),
        Arc::clone(assets),
        WorkerConfig {
            rtp_timeout: None,
            lobby_timeout: None,
            ..WorkerConfig::default()
        },
        StdRng::seed_from_u64(1),
    )
}

fn bench_conference() -> Conference {
    Conference {
        organizer_id: 1,
        conference_id: "123456789".into(),
        organizer_name: "Ada".into(),
        start_without_pin: false,
    }
}

/// Answers call `id` (PCMU from 127.0.0.1:`port`, SRTP with `srtp` keys).
fn start_caller(w: &mut Worker<()>, now: Instant, id: u64, port: u16, srtp: Option<SrtpKeys>) {
    w.handle_command(
        now,
        Command::Start {
            call: CallId(id),
            transport: (),
            sip_call_id: format!("c{id}"),
            from: format!("sip:{id}@127.0.0.1"),
            params: Negotiated {
                remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
                codec: Codec::Pcmu,
                payload_type: 0,
                telephone_event: Some(101),
                direction: Direction::SendRecv,
                ptime_ms: 20,
                srtp,
            },
            entry: dialbridge::engine::Entry::Ivr,
        },
    );
}

/// Takes call `id` through the IVR as an attendee of `conference`.
fn through_ivr(w: &mut Worker<()>, now: Instant, id: u64, conference: &Conference) {
    let call = CallId(id);
    for d in conference.conference_id.chars().chain(['#']) {
        w.handle_command(
            now,
            Command::Digit {
                call,
                digit: Digit::from_char(d).unwrap(),
            },
        );
    }
    w.handle_command(
        now,
        Command::ConferenceFound {
            call,
            conference: Some(conference.clone()),
        },
    );
    w.handle_command(
        now,
        Command::Digit {
            call,
            digit: Digit::Pound,
        },
    );
}

fn worker_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("worker_tick");
    g.measurement_time(Duration::from_secs(5));
    let assets = Arc::new(Assets::bundled().expect("assets"));
    for (calls, srtp) in [(100u64, false), (1000, false), (1000, true)] {
        g.throughput(Throughput::Elements(calls));
        let mut w = bench_worker(&assets);
        let now = Instant::now();
        let conference = bench_conference();
        for id in 0..calls {
            let keys = srtp.then(|| SrtpKeys {
                local: MasterKey::from_bytes(SrtpSuite::AesCm128HmacSha1_80, &[1; 30])
                    .expect("key"),
                remote: MasterKey::from_bytes(SrtpSuite::AesCm128HmacSha1_80, &[2; 30])
                    .expect("key"),
                remote_mki_len: 0,
            });
            start_caller(&mut w, now, id, 7000, keys);
            through_ivr(&mut w, now, id, &conference);
        }
        assert_eq!(w.meeting_sizes("123456789"), Some((calls as usize, 0)));
        let mut t = now;
        let name = if srtp {
            "lobby_calls_srtp"
        } else {
            "lobby_calls"
        };
        g.bench_function(BenchmarkId::new(name, calls), |b| {
            b.iter(|| {
                t += Duration::from_millis(20);
                let mut sent = 0usize;
                w.tick(t, &mut |_: &(), _: SocketAddr, bytes: &[u8]| {
                    sent += bytes.len();
                });
                black_box(sent)
            })
        });
        // Every caller still got its packet (with the SRTP tag when SRTP is on).
        t += Duration::from_millis(20);
        let mut sent = Vec::new();
        w.tick(t, &mut |_: &(), _: SocketAddr, bytes: &[u8]| {
            sent.push(bytes.len())
        });
        let expected = if srtp { 182 } else { 172 };
        assert_eq!(
            sent.len(),
            calls as usize,
            "every lobby caller is sent a packet"
        );
        assert!(
            sent.iter().all(|&n| n == expected),
            "{expected}-byte packets"
        );
    }
    g.finish();
}

/// A worker's talkers: 50 meetings of 21 callers who all talk (a 440 Hz tone at a level of
/// its own for each, so the loudest four of each meeting are mixed), each sending a PCMU
/// packet every frame. One iteration is a frame: every caller's packet in
/// (`handle_rtp`: sequence, jitter buffer), then the tick (decode, concealer, voice
/// detection, gain, the mix, each participant's frame encoded and sent). Per-talker cost
/// with 1,050 callers' state, about what one media thread holds at 2,100 talkers; warm (the
/// state left in the caches by the last frame) and cold (pushed out before each frame).
fn meeting_tick(c: &mut Criterion) {
    const MEETINGS: u64 = 50;
    const PER: u64 = 21;
    let mut g = c.benchmark_group("worker_tick");
    g.measurement_time(Duration::from_secs(5));
    let assets = Arc::new(Assets::bundled().expect("assets"));
    let mut w = bench_worker(&assets);
    let now = Instant::now();
    let calls = MEETINGS * PER;
    for m in 0..MEETINGS {
        let conference = Conference {
            organizer_id: m as i64,
            conference_id: format!("5{m:08}"),
            organizer_name: "Ada".into(),
            start_without_pin: true,
        };
        for i in 0..PER {
            let id = m * PER + i;
            start_caller(&mut w, now, id, 10_000 + id as u16, None);
            through_ivr(&mut w, now, id, &conference);
        }
        assert_eq!(
            w.meeting_sizes(&conference.conference_id),
            Some((0, PER as usize)),
            "every caller of meeting {m} is in its meeting"
        );
    }
    // Each caller's tone: its own level, the same 20 ms of a 440 Hz wave every frame.
    let payloads: Vec<[u8; 160]> = (0..calls)
        .map(|id| {
            let amplitude = 2_000.0 + (id % PER) as f32 * 400.0;
            let pcm: [i16; 160] = std::array::from_fn(|n| {
                (amplitude * (std::f32::consts::TAU * 440.0 * n as f32 / 8000.0).sin()) as i16
            });
            let mut payload = [0u8; 160];
            g711::encode(Law::Mu, &pcm, &mut payload);
            payload
        })
        .collect();
    let mut senders: Vec<dialbridge::media::rtp::RtpSender> = (0..calls)
        .map(|id| dialbridge::media::rtp::RtpSender::new(id as u32 + 1, 0, 0))
        .collect();
    let mut packet = [0u8; 12 + 160];
    let mut t = now;
    let mut frame = |w: &mut Worker<()>, t: Instant| {
        let mut sent = 0usize;
        for (id, (sender, payload)) in senders.iter_mut().zip(&payloads).enumerate() {
            let len = sender.write(0, payload, &mut packet).expect("packet");
            sender.advance(160);
            let source = SocketAddr::from(([127, 0, 0, 1], 10_000 + id as u16));
            w.handle_rtp(t, CallId(id as u64), source, &packet[..len]);
        }
        w.tick(t, &mut |_: &(), _: SocketAddr, bytes: &[u8]| {
            sent += bytes.len()
        });
        sent
    };
    // Past the join prompts: from here on every participant hears the mix.
    for _ in 0..500 {
        t += Duration::from_millis(20);
        frame(&mut w, t);
    }
    g.throughput(Throughput::Elements(calls));
    g.bench_function(BenchmarkId::new("meeting_talkers", calls), |b| {
        b.iter(|| {
            t += Duration::from_millis(20);
            black_box(frame(&mut w, t))
        })
    });
    // The same frame with the worker's state pushed out of this core's caches first, as in a
    // real run the kernel's packet buffers push it out between ticks (a media thread also
    // receives and sends some 2,000 datagrams a frame): only the frame is timed. This is the
    // figure a change to how the tick touches memory shows up in.
    let mut flood = vec![0u8; 8 << 20];
    g.bench_function(BenchmarkId::new("meeting_talkers_cold", calls), |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                for line in flood.chunks_mut(64) {
                    line[0] = line[0].wrapping_add(1);
                }
                black_box(&mut flood);
                t += Duration::from_millis(20);
                let start = Instant::now();
                black_box(frame(&mut w, t));
                spent += start.elapsed();
            }
            spent
        })
    });
    t += Duration::from_millis(20);
    assert_eq!(
        frame(&mut w, t),
        calls as usize * 172,
        "every participant is sent a frame"
    );
    assert_eq!(
        w.stats().talkers,
        MEETINGS * MAX_TALKERS as u64,
        "the loudest four of each meeting are mixed"
    );
    g.finish();
}

/// Packet-loss concealment: the cost of one concealed 20 ms frame, alone (the repetition of
/// the past) and leading into the next frame, against the cost of passing a good one.
fn plc(c: &mut Criterion) {
    let mut g = c.benchmark_group("plc");
    g.throughput(Throughput::Elements(1));
    // A voiced sound: 125 Hz with falling harmonics.
    let speech: Vec<[i16; 160]> = (0..8)
        .map(|f| {
            std::array::from_fn(|i| {
                let t = (f * 160 + i) as f32 / 8000.0;
                (1..=5)
                    .map(|k| {
                        3000.0 / k as f32
                            * (2.0 * std::f32::consts::PI * 125.0 * k as f32 * t).sin()
                    })
                    .sum::<f32>() as i16
            })
        })
        .collect();
    let primed = || {
        let mut p = Plc::new();
        for f in &speech {
            let mut frame = *f;
            p.good(&mut frame);
        }
        p
    };
    g.bench_function("good_frame", |b| {
        let mut p = primed();
        let mut frame = speech[0];
        b.iter(|| {
            frame = speech[3];
            p.good(black_box(&mut frame));
        })
    });
    // Each iteration: a frame lost after a good one (the pitch search runs every time).
    g.bench_function("conceal_after_good", |b| {
        let p = primed();
        let mut frame = [0i16; 160];
        b.iter_batched_ref(
            || p.clone(),
            |p| p.conceal(black_box(&mut frame)),
            criterion::BatchSize::SmallInput,
        );
    });
    g.bench_function("conceal_before_next", |b| {
        let p = primed();
        let mut frame = [0i16; 160];
        b.iter_batched_ref(
            || p.clone(),
            |p| p.conceal_before(black_box(&mut frame), &speech[4]),
            criterion::BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// In-band DTMF detection per 20 ms frame, paid for every caller whose peer sends no
/// telephone-events: a loud tone (the filters run on every block) and silence (they do not).
fn inband(c: &mut Criterion) {
    let mut g = c.benchmark_group("inband");
    g.throughput(Throughput::Elements(1));
    let tone: Vec<[i16; 160]> = (0..50)
        .map(|f| {
            std::array::from_fn(|i| {
                let t = (f * 160 + i) as f32 / 8000.0;
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()) as i16
            })
        })
        .collect();
    g.bench_function("tone_frame", |b| {
        let mut d = InbandDetector::new();
        let mut n = 0usize;
        b.iter(|| {
            n = (n + 1) % tone.len();
            d.push_frame(black_box(&tone[n]))
        })
    });
    g.bench_function("silent_frame", |b| {
        let mut d = InbandDetector::new();
        let silence = [0i16; 160];
        b.iter(|| d.push_frame(black_box(&silence)))
    });
    g.finish();
}

/// SRTP per packet (a 20 ms PCMU packet, AES_CM_128_HMAC_SHA1_80): what a held SRTP caller
/// adds to a plain one, 50 times a second each way.
fn srtp(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp");
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let a = MasterKey::from_bytes(suite, &[1; 30]).expect("key");
    let b_key = MasterKey::from_bytes(suite, &[2; 30]).expect("key");
    let keys = |local: &MasterKey, remote: &MasterKey| SrtpKeys {
        local: local.clone(),
        remote: remote.clone(),
        remote_mki_len: 0,
    };
    let mut sender = SrtpSession::new(&keys(&a, &b_key)).expect("session");
    let mut receiver = SrtpSession::new(&keys(&b_key, &a)).expect("session");
    let mut packet = vec![0x80u8, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    packet.extend_from_slice(&[0xd5; 160]);
    let mut seq = 0u16;
    g.throughput(Throughput::Elements(1));
    g.bench_function("protect_pcmu_packet", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            black_box(sender.protect_rtp(&packet).expect("protect"))
        })
    });
    g.bench_function("protect_and_unprotect_pcmu_packet", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            let wire = sender.protect_rtp(&packet).expect("protect");
            black_box(receiver.unprotect_rtp(&wire).is_ok())
        })
    });
    g.finish();
}

/// A relayed caller's packets on the node that answered: caller to leg and leg to caller,
/// per packet (the relay's cost; no decoding, mixing or encoding).
fn relay(c: &mut Criterion) {
    let mut g = c.benchmark_group("relay");
    let assets = Arc::new(Assets::bundled().expect("assets"));
    let calls = 1000u64;
    let mut w = bench_worker(&assets);
    let now = Instant::now();
    let conference = bench_conference();
    let owner = SocketAddr::from(([127, 0, 0, 2], 9000));
    for id in 0..calls {
        let call = CallId(id);
        start_caller(&mut w, now, id, 7000 + id as u16, None);
        w.handle_command(
            now,
            Command::HostedElsewhere {
                call,
                target: dialbridge::engine::RelayTarget {
                    node: "a".into(),
                    sip: owner,
                },
            },
        );
        through_ivr(&mut w, now, id, &conference);
        w.handle_command(
            now,
            Command::RelayUp {
                call,
                leg: (),
                remote: owner,
            },
        );
    }
    w.drain_events().for_each(drop);
    let mut packet = vec![0x80u8, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
    packet.extend_from_slice(&[0x55; 160]);
    g.throughput(Throughput::Elements(2 * calls));
    g.bench_function(BenchmarkId::new("both_ways_per_1000_callers", calls), |b| {
        b.iter(|| {
            for id in 0..calls {
                let caller = SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16));
                w.handle_rtp(now, CallId(id), caller, &packet);
                w.handle_leg_rtp(now, CallId(id), owner, &packet);
            }
            let mut sent = 0usize;
            w.flush_relayed(&mut |_: &(), _: SocketAddr, bytes: &[u8]| sent += bytes.len());
            black_box(sent)
        })
    });
    // Every packet went on, both ways.
    for id in 0..calls {
        let caller = SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16));
        w.handle_rtp(now, CallId(id), caller, &packet);
        w.handle_leg_rtp(now, CallId(id), owner, &packet);
    }
    let mut sent = 0usize;
    w.flush_relayed(&mut |_: &(), _: SocketAddr, _: &[u8]| sent += 1);
    assert_eq!(sent, 2 * calls as usize, "every packet relayed");
    g.finish();
}

criterion_group!(
    benches,
    sip,
    dtmf,
    codec,
    mixer,
    worker_tick,
    meeting_tick,
    plc,
    inband,
    srtp,
    relay
);
criterion_main!(benches);
