//! Our responses: built from the request, sent statefully through a server transaction or
//! statelessly.

use super::*;

impl Endpoint {
    /// Our Contact for a call over `transport`; `sips` when the caller asked for a SIPS URI.
    pub(super) fn contact(&self, ip: IpAddr, transport: Transport, sips: bool) -> String {
        let at = sent_by(&self.config, ip, transport);
        match transport {
            Transport::Udp => format!("<sip:{at}>"),
            Transport::Tcp => format!("<sip:{at};transport=tcp>"),
            Transport::Tls if sips => format!("<sips:{at}>"),
            Transport::Tls => format!("<sip:{at};transport=tls>"),
        }
    }

    /// Builds a response to `req` with our `Server` header and, if given, our To tag.
    pub(super) fn build_response(
        &self,
        req: &Message,
        code: u16,
        reason: &str,
        tag: Option<&str>,
        headers: &[(HeaderName, String)],
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut resp = message::response_to(req, code, reason);
        if code > 100
            && let Some(tag) = tag
            && resp.to_header().ok().is_some_and(|t| t.tag().is_none())
        {
            let to = resp.header(&HeaderName::To).unwrap_or_default().to_string();
            resp.set_header(HeaderName::To, with_tag(&to, tag));
        }
        // RFC 3261 §12.1.1: a response that makes a dialog carries the INVITE's Record-Route,
        // so the caller's ACK, BYE and INFO come back through the proxies that asked to stay.
        if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
            let routes: Vec<String> = req
                .headers_named(&HeaderName::RecordRoute)
                .map(str::to_string)
                .collect();
            for route in routes {
                resp.add_header(HeaderName::RecordRoute, route);
            }
        }
        for (name, value) in headers {
            resp.add_header(name.clone(), value.clone());
        }
        resp.add_header(HeaderName::Server, self.config.server_name.clone());
        if let Some(body) = body {
            resp.add_header(HeaderName::ContentType, "application/sdp");
            resp.body = body.to_vec();
        }
        resp.to_bytes()
    }

    /// The 200 to an INVITE (the first or a re-INVITE): our Contact, what we allow, our SDP.
    pub(super) fn answer_ok(
        &mut self,
        now: Instant,
        tx_id: u64,
        invite: &Message,
        tag: &str,
        contact: String,
        sdp: &[u8],
    ) {
        let headers = [
            (HeaderName::Contact, contact),
            (HeaderName::Allow, ALLOW.to_string()),
        ];
        self.final_invite_response(
            now,
            tx_id,
            invite,
            200,
            "OK",
            Some(tag),
            &headers,
            Some(sdp),
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn final_invite_response(
        &mut self,
        now: Instant,
        tx_id: u64,
        req: &Message,
        code: u16,
        reason: &str,
        tag: Option<&str>,
        headers: &[(HeaderName, String)],
        body: Option<&[u8]>,
    ) {
        let bytes = self.build_response(req, code, reason, tag, headers, body);
        let Some((tx, _)) = self.invite_txs.get_mut(&tx_id) else {
            return;
        };
        tx.send_final(now, code, bytes.clone());
        let dest = tx.peer();
        let next = tx.next_timeout();
        self.send(dest, bytes);
        self.schedule(next, TimerRef::Invite(tx_id));
    }

    /// Answers a request through a new non-INVITE server transaction (absorbs retransmissions).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reply_stateful(
        &mut self,
        now: Instant,
        req: &Message,
        dest: Peer,
        key: TxKey,
        code: u16,
        reason: &str,
        headers: &[(HeaderName, String)],
    ) {
        let tag = self
            .dialog_call(req)
            .and_then(|id| self.calls.get(&id))
            .map(|c| c.local_tag.clone())
            .unwrap_or_else(|| random_token(&mut self.rng, 16));
        let bytes = self.build_response(req, code, reason, Some(&tag), headers, None);
        if req.method() == Some(&Method::Invite) {
            let tx_id = self.next_id();
            let mut tx = InviteServer::new(dest, self.config.timers);
            tx.send_final(now, code, bytes.clone());
            let next = tx.next_timeout();
            self.invite_txs.insert(tx_id, (tx, None));
            self.index_tx(key, tx_id);
            self.schedule(next, TimerRef::Invite(tx_id));
            self.send(dest, bytes);
        } else {
            self.record_other_tx(now, key, dest, bytes);
        }
    }

    pub(super) fn record_other_tx(&mut self, now: Instant, key: TxKey, dest: Peer, bytes: Vec<u8>) {
        let tx_id = self.next_id();
        let mut tx = NonInviteServer::new(dest, self.config.timers);
        tx.send_final(now, bytes.clone());
        let next = tx.next_timeout();
        self.other_txs.insert(tx_id, tx);
        self.index_tx(key, tx_id);
        self.schedule(next, TimerRef::Other(tx_id));
        self.send(dest, bytes);
    }

    /// Answers a request for a dialog or transaction we do not know (§12.2.2).
    pub(super) fn reply_481(&mut self, now: Instant, req: &Message, dest: Peer, key: TxKey) {
        self.reply_stateful(
            now,
            req,
            dest,
            key,
            481,
            "Call/Transaction Does Not Exist",
            &[],
        );
    }

    /// Answers without keeping a transaction: for requests too broken to match one.
    pub(super) fn reply_stateless(
        &mut self,
        _now: Instant,
        req: &Message,
        dest: Peer,
        code: u16,
        reason: &str,
        headers: &[(HeaderName, String)],
    ) {
        let tag = random_token(&mut self.rng, 16);
        let bytes = self.build_response(req, code, reason, Some(&tag), headers, None);
        self.send(dest, bytes);
    }
}
