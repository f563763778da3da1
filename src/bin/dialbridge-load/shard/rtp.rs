//! A shard's RTP: the 1 ms slot clock that sends each call's keys or voice without bursts,
//! and the reading of what the bridge sends back (first lobby frame, meeting audio).

use super::*;

impl Shard {
    pub(super) fn media(&mut self, now: Instant) {
        let t0 = self.shared.t0;
        if self.buckets.iter().all(Vec::is_empty) {
            // Nothing to send: let the clock follow real time without counting a skip.
            self.next_slot = self
                .next_slot
                .max(now.saturating_duration_since(t0).as_millis() as u64);
            return;
        }
        loop {
            let deadline = t0 + Duration::from_millis(self.next_slot);
            if deadline > now {
                return;
            }
            if now - deadline > Duration::from_millis(SLOTS) {
                // More than a frame late: skip ahead rather than send the missed slots in a
                // burst; the calls of skipped slots lose a frame, which is counted.
                let current = now.saturating_duration_since(t0).as_millis() as u64;
                self.stats.skipped_slots += current.saturating_sub(self.next_slot);
                self.next_slot = current;
                continue;
            }
            let bucket = (self.next_slot % SLOTS) as usize;
            let ids = std::mem::take(&mut self.buckets[bucket]);
            let mut keep = Vec::with_capacity(ids.len());
            let mut sent = false;
            let audio = self.shared.audio;
            for id in ids {
                // A call that ended is gone from the map: `frame` sends nothing for it and it
                // is not kept.
                sent |= self.frame(id);
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.phase.sends_frames(audio))
                {
                    keep.push(id);
                }
            }
            self.buckets[bucket] = keep;
            if sent {
                self.stats.send_lag.record(Instant::now() - deadline);
            }
            self.next_slot += 1;
        }
    }

    /// The call's packet of this 20 ms frame: a key event, or a tone with `--audio`.
    pub(super) fn frame(&mut self, id: u64) -> bool {
        let shared = Arc::clone(&self.shared);
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(remote) = call.remote_rtp else {
            return false;
        };
        let mut pkt = [0u8; 256];
        let mut len = 0;
        let mut keys_done = false;
        if call.phase == Phase::Keys && shared.digits == DigitMode::Rfc4733 {
            if let Some(code) = call
                .keys
                .get(call.key_pos)
                .copied()
                .and_then(media::event_code)
            {
                if call.key_part == 0 {
                    call.key_ts = call.stream.ts;
                    if call.key_pos + 1 == call.keys.len() {
                        // The bridge takes a key from its first packet.
                        call.keys_done = Some(Instant::now());
                        keys_done = true;
                    }
                }
                len = call
                    .stream
                    .key_packet(&mut pkt, code, call.key_part, call.key_ts);
                call.key_part += 1;
                if call.key_part == PACKETS_PER_KEY {
                    call.key_part = 0;
                    call.key_pos += 1;
                    if call.key_pos >= call.keys.len() {
                        call.phase = Phase::Waiting;
                        call.stream.mark = true;
                    }
                }
            }
        } else if shared.audio
            && matches!(call.phase, Phase::Keys | Phase::Waiting)
            && let Some(f) = shared.tone.get(call.tone_pos % shared.tone.len().max(1))
        {
            len = call.stream.audio_packet(&mut pkt, f);
            call.tone_pos += 1;
        }
        call.stream.ts = call.stream.ts.wrapping_add(FRAME_SAMPLES);
        let mut sent = false;
        if len > 0 {
            let result = match call.srtp.as_mut() {
                Some(session) => match session.protect_rtp(&pkt[..len]) {
                    Ok(protected) => call.rtp.send_to(&protected, remote),
                    Err(_) => Err(std::io::Error::other("SRTP protect failed")),
                },
                None => call.rtp.send_to(&pkt[..len], remote),
            };
            match result {
                Ok(_) => self.stats.rtp_sent += 1,
                Err(_) => self.stats.send_errors += 1,
            }
            sent = true;
        }
        if keys_done {
            self.after_keys(id, Instant::now());
        }
        sent
    }

    pub(super) fn read_rtp(&mut self, id: u64) {
        let shared = Arc::clone(&self.shared);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let mut meeting_now: Option<Instant> = None;
        loop {
            let n = match call.rtp.recv_from(&mut self.buf) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            self.stats.rtp_received += 1;
            // An attendee outside a meeting has nothing more to learn once it heard the lobby,
            // and an unchecked call nothing at all: the rest is counted, not read (nor
            // decrypted), so the generator keeps its CPU for sending.
            if !call.spec.checked || (call.lobby_at.is_some() && call.spec.meeting.is_none()) {
                continue;
            }
            // SRTP from the first packet on, IVR prompts included: a receiver that starts
            // mid-stream after the sender's sequence number wrapped would guess its rollover
            // counter wrong and fail every packet after (RFC 3711 §3.3.1).
            let decrypted;
            let datagram = match call.srtp.as_mut() {
                Some(session) => match self.buf.get(..n).map(|b| session.unprotect_rtp(b)) {
                    Some(Ok(plain)) => {
                        decrypted = plain;
                        &decrypted[..]
                    }
                    _ => continue,
                },
                None => self.buf.get(..n).unwrap_or_default(),
            };
            let Some(keys_done) = call.keys_done else {
                continue;
            };
            let Some(pkt) = dialbridge::media::rtp::parse(datagram).ok() else {
                continue;
            };
            if pkt.payload_type != media::PCMU {
                continue;
            }
            let now = Instant::now();
            let heard = shared.recognizer.classify(pkt.payload);
            match heard {
                Heard::HoldMusic => {
                    call.heard_hold = true;
                    if call.lobby_at.is_none() {
                        call.lobby_at = Some(now);
                        self.stats
                            .lobby
                            .record(now.saturating_duration_since(keys_done));
                    }
                }
                Heard::LobbyPrompt(i) if call.lobby_at.is_none() => {
                    // Frame i of the prompt: the prompt began i frames ago.
                    let began = now
                        .checked_sub(Duration::from_millis(20 * u64::from(i)))
                        .unwrap_or(now)
                        .max(keys_done);
                    call.lobby_at = Some(began);
                    self.stats
                        .lobby
                        .record(began.saturating_duration_since(keys_done));
                }
                Heard::Silence | Heard::Other
                    if call.spec.role == Role::Attendee
                        && call.spec.meeting.is_some()
                        && !call.in_meeting
                        && call.phase != Phase::Hanging
                        && (call.heard_hold
                            || (heard == Heard::Other && call.lobby_at.is_some())) =>
                {
                    meeting_now = Some(now);
                    break;
                }
                _ => {}
            }
        }
        let Some(now) = meeting_now else {
            return;
        };
        call.in_meeting = true;
        if let Some(sent) = shared.pin_sent(call.spec.meeting) {
            let took = now.saturating_duration_since(sent);
            self.stats.pin_to_meeting.record(took);
            if let Some(ip) = call.node {
                self.stats
                    .by_node
                    .entry(ip)
                    .or_default()
                    .pin_to_meeting
                    .record(took);
            }
        } else {
            call.failure
                .get_or_insert("meeting audio before the organizer's PIN");
        }
        self.timer(now + shared.hold, id, Timer::HangUp);
        // Drain what is left so the socket stays readable-edge clean.
        self.read_rtp_drain(id);
    }

    pub(super) fn read_rtp_drain(&mut self, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        while let Ok((_, _)) = call.rtp.recv_from(&mut self.buf) {
            self.stats.rtp_received += 1;
        }
    }
}
