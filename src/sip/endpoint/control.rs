//! What the application does to a call: answer it, refuse it, hang it up.

use super::*;

impl Endpoint {
    /// Whether the bridge takes new calls: when not, OPTIONS gets `503` with `Retry-After`,
    /// so a proxy that probes with OPTIONS (Kamailio's dispatcher) routes calls elsewhere.
    pub fn set_available(&mut self, available: bool) {
        self.available = available;
    }

    /// Answers an incoming call with our media address (after `answer_delay`, ringing meanwhile).
    pub fn accept(&mut self, now: Instant, id: CallId, local: LocalMedia) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Offered {
            return;
        }
        call.local = Some(local);
        if self.config.answer_delay.is_zero() {
            self.send_answer(now, id);
            return;
        }
        call.state = CallState::Ringing;
        let at = now + self.config.answer_delay;
        call.answer_at = Some(at);
        let tag = call.local_tag.clone();
        let (Some(invite), Some(tx_id)) = (call.invite.clone(), call.invite_tx) else {
            return;
        };
        let ringing = self.build_response(&invite, 180, "Ringing", Some(&tag), &[], None);
        let dest = match self.invite_txs.get_mut(&tx_id) {
            Some((tx, _)) => {
                tx.send_provisional(ringing.clone());
                tx.peer()
            }
            None => return,
        };
        self.send(dest, ringing);
        self.schedule(Some(at), TimerRef::Answer(id.0));
    }

    pub(super) fn send_answer(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(invite), Some(tx_id), Some(local)) =
            (call.invite.clone(), call.invite_tx, call.local)
        else {
            return;
        };
        let tag = call.local_tag.clone();
        let transport = call.peer.transport;
        let sips = call.sips;
        let policy = self.config.srtp_policy(transport);
        let rng = &mut self.rng;
        let (body, params) = if invite.body.is_empty() {
            call.offer_pending = true;
            call.srtp_key = policy
                .offers_srtp()
                .then(|| MasterKey::random(sdp::OFFER_SUITE, rng));
            (
                sdp::offer(&local, call.srtp_key.as_ref()).into_bytes(),
                None,
            )
        } else {
            match sdp::answer_with(&invite.body, &local, policy, &mut |suite| {
                Some(MasterKey::random(suite, rng))
            }) {
                Ok((neg, answer)) => {
                    call.srtp_key = neg.srtp.as_ref().map(|keys| keys.local.clone());
                    (answer.into_bytes(), Some(neg))
                }
                Err(_) => {
                    // Checked when the INVITE arrived; cannot differ now.
                    self.reject(now, id, 488, None);
                    return;
                }
            }
        };
        call.state = CallState::Answered;
        call.answer_at = None;
        let contact = self.contact(local.ip, transport, sips);
        self.answer_ok(now, tx_id, &invite, &tag, contact, &body);
        if let Some(params) = params {
            self.events
                .push_back(Event::MediaUpdate { call: id, params });
        }
    }

    /// Refuses an incoming call that has not been answered yet (e.g. 503 when out of ports).
    pub fn reject(&mut self, now: Instant, id: CallId, code: u16, retry_after: Option<u32>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.state, CallState::Offered | CallState::Ringing) {
            return;
        }
        let tag = call.local_tag.clone();
        let (Some(invite), Some(tx_id)) = (call.invite.take(), call.invite_tx) else {
            return;
        };
        let headers: Vec<(HeaderName, String)> = retry_after
            .map(|s| (HeaderName::RetryAfter, s.to_string()))
            .into_iter()
            .collect();
        self.final_invite_response(
            now,
            tx_id,
            &invite,
            code,
            message::reason_phrase(code),
            Some(&tag),
            &headers,
            None,
        );
        self.remove_call(id);
    }

    /// Ends a call from our side: BYE once it is confirmed, a final error before it is answered.
    pub fn hangup(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match call.state {
            CallState::Offered | CallState::Ringing => {
                self.reject(now, id, 480, None);
                self.events.push_back(Event::CallEnded {
                    call: id,
                    reason: EndReason::LocalHangup,
                });
            }
            // §15: no BYE before the ACK; it goes out when the ACK (or Timer L) comes.
            CallState::Answered => call.hangup_pending = true,
            CallState::Confirmed => self.send_bye(now, id),
        }
    }

    /// Hangs up every call (shutdown).
    pub fn hangup_all(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.hangup(now, id);
        }
    }

    pub(super) fn send_bye(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.local_cseq = call.local_cseq.wrapping_add(1) & 0x7fff_ffff;
        let ip = call
            .local
            .as_ref()
            .map(|l| l.ip)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let branch = format!("{MAGIC_COOKIE}{}", random_token(&mut self.rng, 20));
        let mut bye = message::request(Method::Bye, &call.remote_target);
        bye.add_header(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                call.peer.transport,
                sent_by(&self.config, ip, call.peer.transport)
            ),
        );
        for route in &call.route_set {
            bye.add_header(HeaderName::Route, route.clone());
        }
        bye.add_header(HeaderName::MaxForwards, "70");
        bye.add_header(HeaderName::From, call.local_to.clone());
        bye.add_header(HeaderName::To, call.remote_from.clone());
        bye.add_header(HeaderName::CallId, call.sip_call_id.clone());
        bye.add_header(HeaderName::CSeq, format!("{} BYE", call.local_cseq));
        bye.add_header(HeaderName::UserAgent, self.config.server_name.clone());
        let bytes = bye.to_bytes();
        let peer = call.peer;
        let tx_id = self.next_id();
        let tx = NonInviteClient::new(now, peer, bytes.clone(), self.config.timers);
        let next = tx.next_timeout();
        self.client_txs.insert(tx_id, (tx, branch.clone()));
        self.client_index.insert(branch, tx_id);
        self.schedule(next, TimerRef::Client(tx_id));
        self.send(peer, bytes);
        self.end_call(id, EndReason::LocalHangup);
    }

    pub(super) fn end_call(&mut self, id: CallId, reason: EndReason) {
        if self.remove_call(id) {
            self.events.push_back(Event::CallEnded { call: id, reason });
        }
    }

    pub(super) fn remove_call(&mut self, id: CallId) -> bool {
        match self.calls.remove(&id) {
            Some(call) => {
                self.dialogs.remove(&(call.sip_call_id, call.local_tag));
                true
            }
            None => false,
        }
    }
}
