//! Requests from the caller's side: a new INVITE, and what comes inside its dialog (re-INVITE,
//! ACK, CANCEL, BYE, INFO).

use super::*;

impl Endpoint {
    pub(super) fn dialog_call(&self, msg: &Message) -> Option<CallId> {
        let to_tag = msg.to_header().ok()?.tag()?.to_string();
        let call_id = msg.call_id()?.to_string();
        self.dialogs.get(&(call_id, to_tag)).copied()
    }

    pub(super) fn handle_invite(
        &mut self,
        now: Instant,
        msg: Message,
        source: Peer,
        dest: Peer,
        key: TxKey,
    ) {
        let has_to_tag = msg
            .to_header()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        if has_to_tag.is_some() {
            self.handle_reinvite(now, msg, dest, key);
            return;
        }
        let tx_id = self.next_id();
        self.index_tx(key, tx_id);
        self.invite_txs
            .insert(tx_id, (InviteServer::new(dest, self.config.timers), None));
        // 100 Trying at once stops the caller's INVITE retransmissions (§17.2.1).
        let trying = self.build_response(&msg, 100, "Trying", None, &[], None);
        if let Some((tx, _)) = self.invite_txs.get_mut(&tx_id) {
            tx.send_provisional(trying.clone());
        }
        self.send(dest, trying);

        if !msg.body.is_empty() && !msg.content_type_is("application/sdp") {
            let headers = [(HeaderName::Accept, "application/sdp".to_string())];
            let tag = random_token(&mut self.rng, 16);
            self.final_invite_response(
                now,
                tx_id,
                &msg,
                415,
                "Unsupported Media Type",
                Some(&tag),
                &headers,
                None,
            );
            return;
        }
        if !msg.accepts("application/sdp") {
            // Our answer (or offer) is SDP; a caller that will not take it gets 406 with a
            // 399 warning saying so (RFC 4475 sdp01).
            let warning = format!(
                "399 {} \"the response would carry application/sdp, which Accept does not allow\"",
                self.config.server_name
            );
            let headers = [
                (HeaderName::Other("Warning".to_owned()), warning),
                (HeaderName::Accept, "application/sdp".to_string()),
            ];
            let tag = random_token(&mut self.rng, 16);
            self.final_invite_response(
                now,
                tx_id,
                &msg,
                406,
                "Not Acceptable",
                Some(&tag),
                &headers,
                None,
            );
            return;
        }
        let Some(remote_target) = remote_target(&msg) else {
            // Our BYE would carry a Request-URI the caller must refuse: refuse the call now.
            let tag = random_token(&mut self.rng, 16);
            let reason = "Bad Request - Contact (or From) URI is malformed";
            self.final_invite_response(now, tx_id, &msg, 400, reason, Some(&tag), &[], None);
            return;
        };
        let policy = self.config.srtp_policy(source.transport);
        let refusal = if msg.body.is_empty() {
            // We make the offer: under --srtp require it must carry keys, which only TLS may.
            (policy.mode == SrtpMode::Require && !policy.keys_allowed)
                .then_some(sdp::SdpError::KeysInClear)
        } else {
            // Check the offer before bothering the application: no common codec is a 488.
            let probe = LocalMedia {
                ip: IpAddr::from([127, 0, 0, 1]),
                port: 9,
                session_id: 0,
                session_version: 0,
            };
            let rng = &mut self.rng;
            sdp::answer_with(&msg.body, &probe, policy, &mut |suite| {
                Some(MasterKey::random(suite, rng))
            })
            .err()
        };
        {
            if let Some(err) = refusal {
                let code = err.status_code();
                let reason = if code == 400 {
                    "Bad Request - Malformed SDP"
                } else {
                    message::reason_phrase(code)
                };
                tracing::info!(call_id = msg.call_id().unwrap_or(""), error = %err, "offer refused");
                let tag = random_token(&mut self.rng, 16);
                self.final_invite_response(now, tx_id, &msg, code, reason, Some(&tag), &[], None);
                return;
            }
        }

        let id = CallId(self.next_id());
        let local_tag = random_token(&mut self.rng, 16);
        let sip_call_id = msg.call_id().unwrap_or_default().to_string();
        let from = msg.from_header().ok();
        let remote_from = msg
            .header(&HeaderName::From)
            .unwrap_or_default()
            .to_string();
        let local_to = with_tag(msg.header(&HeaderName::To).unwrap_or_default(), &local_tag);
        let route_set = msg
            .headers_named(&HeaderName::RecordRoute)
            .flat_map(|v| {
                crate::sip::header::split_comma_list(v)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let from_user = from
            .as_ref()
            .and_then(|f| SipUri::parse(&f.uri).ok())
            .and_then(|u| u.user);
        let invite_cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let relay_leg = msg
            .header(&HeaderName::parse(RELAY_LEG_HEADER))
            .map(str::to_string);
        let sips = msg
            .request_uri()
            .and_then(|u| SipUri::parse(u).ok())
            .is_some_and(|u| u.scheme == UriScheme::Sips);
        if let Some((_, call)) = self.invite_txs.get_mut(&tx_id) {
            *call = Some(id);
        }
        self.dialogs
            .insert((sip_call_id.clone(), local_tag.clone()), id);
        self.calls.insert(
            id,
            CallSig {
                sip_call_id: sip_call_id.clone(),
                local_tag,
                remote_from,
                local_to,
                remote_target,
                route_set,
                peer: source,
                sips,
                local_cseq: self.rng.random::<u16>().into(),
                remote_cseq: invite_cseq,
                state: CallState::Offered,
                invite: Some(msg),
                invite_tx: Some(tx_id),
                invite_cseq,
                local: None,
                offer_pending: false,
                srtp_key: None,
                hangup_pending: false,
                answer_at: None,
            },
        );
        self.events.push_back(Event::IncomingCall {
            call: id,
            sip_call_id,
            source: source.addr,
            transport: source.transport,
            from_user,
            from_uri: from.map(|f| f.uri).unwrap_or_default(),
            relay_leg,
        });
    }

    pub(super) fn handle_reinvite(&mut self, now: Instant, msg: Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(&msg) else {
            self.reply_481(now, &msg, dest, key);
            return;
        };
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if cseq <= call.remote_cseq {
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                500,
                "Server Internal Error - CSeq Out of Order",
                &[],
            );
            return;
        }
        if call.state != CallState::Confirmed {
            // §14.2: an INVITE while ours is still being answered is retried later.
            let headers = [(HeaderName::RetryAfter, "1".to_string())];
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                500,
                "Server Internal Error - Previous INVITE Pending",
                &headers,
            );
            return;
        }
        if !msg.body.is_empty() && !msg.content_type_is("application/sdp") {
            let headers = [(HeaderName::Accept, "application/sdp".to_string())];
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                415,
                "Unsupported Media Type",
                &headers,
            );
            return;
        }
        let Some(mut local) = call.local else {
            return;
        };
        local.session_version += 1;
        let local_tag = call.local_tag.clone();
        let sips = call.sips;
        let policy = self.config.srtp_policy(call.peer.transport);
        let current_key = call.srtp_key.clone();
        let rng = &mut self.rng;
        let mut our_key = |suite: SrtpSuite| {
            Some(
                current_key
                    .clone()
                    .filter(|key| key.suite() == suite)
                    .unwrap_or_else(|| MasterKey::random(suite, rng)),
            )
        };
        let (body, params, offer_pending, offered_key) = if msg.body.is_empty() {
            let key = if policy.offers_srtp() {
                our_key(sdp::OFFER_SUITE)
            } else {
                None
            };
            let body = sdp::offer(&local, key.as_ref()).into_bytes();
            (body, None, true, key)
        } else {
            match sdp::answer_with(&msg.body, &local, policy, &mut our_key) {
                Ok((neg, answer)) => (answer.into_bytes(), Some(neg), false, None),
                Err(err) => {
                    let code = err.status_code();
                    let reason = if code == 400 {
                        "Bad Request - Malformed SDP"
                    } else {
                        message::reason_phrase(code)
                    };
                    // The old media keeps running: a refused re-INVITE changes nothing (§14.2).
                    self.reply_stateful(now, &msg, dest, key, code, reason, &[]);
                    return;
                }
            }
        };
        let tx_id = self.next_id();
        self.index_tx(key, tx_id);
        self.invite_txs.insert(
            tx_id,
            (InviteServer::new(dest, self.config.timers), Some(id)),
        );
        let contact = self.contact(local.ip, dest.transport, sips);
        self.answer_ok(now, tx_id, &msg, &local_tag, contact, &body);
        if let Some(call) = self.calls.get_mut(&id) {
            call.remote_cseq = cseq;
            call.invite_cseq = cseq;
            call.invite_tx = Some(tx_id);
            call.local = Some(local);
            call.offer_pending = offer_pending;
            call.srtp_key = match &params {
                Some(params) => params.srtp.as_ref().map(|keys| keys.local.clone()),
                None => offered_key,
            };
            call.state = CallState::Answered;
            if let Some(target) = msg
                .contact()
                .ok()
                .flatten()
                .and_then(|c| as_request_uri(&c.uri))
            {
                call.remote_target = target;
            }
        }
        if let Some(params) = params {
            self.events
                .push_back(Event::MediaUpdate { call: id, params });
        }
    }

    pub(super) fn handle_ack(&mut self, now: Instant, msg: &Message, key: TxKey) {
        // ACK for a 3xx–6xx: same branch as the INVITE (§17.2.3).
        if let Some(&tx_id) = self.tx_index.get(&key)
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
            && !tx.is_proceeding()
            && !matches!(
                tx.state(),
                crate::sip::transaction::InviteServerState::Accepted { .. }
            )
        {
            tx.on_ack(now);
            let next = tx.next_timeout();
            self.schedule(next, TimerRef::Invite(tx_id));
            return;
        }
        // ACK for a 2xx: a request of its own within the dialog (§13.3.1.4).
        let Some(id) = self.dialog_call(msg) else {
            return;
        };
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Answered || cseq != call.invite_cseq {
            return; // a retransmitted ACK
        }
        call.state = CallState::Confirmed;
        call.invite = None;
        if let Some(tx_id) = call.invite_tx
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
        {
            tx.on_2xx_ack();
        }
        let offer_pending = std::mem::take(&mut call.offer_pending);
        let hangup_pending = call.hangup_pending;
        if offer_pending {
            match sdp::read_answer(&msg.body, call.srtp_key.as_ref()) {
                Ok(params) => self
                    .events
                    .push_back(Event::MediaUpdate { call: id, params }),
                Err(err) => {
                    tracing::info!(call_id = %call.sip_call_id, error = %err, "answer in ACK unusable: hanging up");
                    self.send_bye(now, id);
                    return;
                }
            }
        }
        if hangup_pending {
            self.send_bye(now, id);
        }
    }

    pub(super) fn handle_cancel(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let invite_key = TxKey {
            method: Method::Invite,
            ..key.clone()
        };
        // A retransmitted CANCEL gets its first answer again.
        if let Some(&id) = self.tx_index.get(&key) {
            if let Some((d, b)) = self
                .other_txs
                .get(&id)
                .and_then(|tx| tx.on_retransmission())
                .map(|(d, b)| (d, b.to_vec()))
            {
                self.send(d, b);
            }
            return;
        }
        let Some(&tx_id) = self.tx_index.get(&invite_key) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        let Some((tx, call)) = self.invite_txs.get(&tx_id) else {
            return;
        };
        let proceeding = tx.is_proceeding();
        let call = *call;
        let tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.local_tag.clone());
        let tag_headers = tag.as_deref();
        // The CANCEL itself is always answered 200; it only matters before the final response.
        let ok = self.build_response(msg, 200, "OK", tag_headers, &[], None);
        self.record_other_tx(now, key, dest, ok);
        if !proceeding {
            return;
        }
        let Some(id) = call else {
            return;
        };
        let Some(invite) = self.calls.get_mut(&id).and_then(|c| c.invite.take()) else {
            return;
        };
        self.final_invite_response(
            now,
            tx_id,
            &invite,
            487,
            "Request Terminated",
            tag_headers,
            &[],
            None,
        );
        self.end_call(id, EndReason::Cancelled);
    }

    pub(super) fn handle_bye(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(msg) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        self.reply_stateful(now, msg, dest, key, 200, "OK", &[]);
        // A BYE on an early dialog (§15: the caller may send one while it rings) leaves the
        // INVITE unanswered: it still gets a final response, 487 (§15.1.2), which also lets
        // its transaction end instead of waiting in Proceeding forever.
        if let Some(call) = self.calls.get_mut(&id)
            && matches!(call.state, CallState::Offered | CallState::Ringing)
            && let (Some(tx_id), Some(invite)) = (call.invite_tx, call.invite.take())
        {
            let tag = call.local_tag.clone();
            self.final_invite_response(
                now,
                tx_id,
                &invite,
                487,
                "Request Terminated",
                Some(&tag),
                &[],
                None,
            );
        } else if let Some(tx_id) = self.calls.get(&id).and_then(|c| c.invite_tx)
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
        {
            // A BYE before the ACK also settles the 2xx (§15.1.2): stop re-sending it.
            tx.on_2xx_ack();
        }
        self.end_call(id, EndReason::RemoteBye);
    }

    pub(super) fn handle_info(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(msg) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        let digit = if msg.content_type_is("application/dtmf-relay") {
            dtmf::parse_dtmf_relay(&msg.body)
        } else if msg.content_type_is("application/dtmf") {
            dtmf::parse_application_dtmf(&msg.body)
        } else if msg.body.is_empty() {
            None // an empty INFO is a keep-alive probe: just answer it
        } else {
            let headers = [(HeaderName::Accept, ACCEPT.to_string())];
            self.reply_stateful(now, msg, dest, key, 415, "Unsupported Media Type", &headers);
            return;
        };
        self.reply_stateful(now, msg, dest, key, 200, "OK", &[]);
        if let Some(digit) = digit {
            self.events.push_back(Event::Dtmf { call: id, digit });
        }
    }
}
