//! Several dialbridge nodes behind Kamailio with the shipped `contrib/kamailio/dialbridge.cfg`
//! (dispatcher, OPTIONS probing, Record-Route, sanity, pike), all on 127.0.0.1: calls spread
//! over the nodes, and a node stopped with SIGTERM and `--drain-timeout` gets no new calls
//! while its calls in progress go on, then exits when the last one ends.

#[path = "support/kamailio.rs"]
mod kamailio;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::Codec;
use dialbridge::sip::message::HeaderName;
use kamailio::Kamailio;
use support::http::request;
use support::phone::Phone;
use support::{Bridge, BridgeOptions, free_udp_port, hears};

/// Kamailio with the shipped configuration in front of `nodes`, probing them every second.
fn edge(nodes: &[SocketAddr]) -> Kamailio {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("nodes.list");
    let text: String = nodes.iter().map(|n| format!("1 sip:{n} 0 0\n")).collect();
    std::fs::write(&list, text).expect("write nodes.list");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("addr");
    let cfg =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/kamailio/dialbridge.cfg");
    let defines = vec![
        format!("LISTEN=udp:{addr}"),
        format!("NODES_FILE=\"{}\"", list.display()),
        "PING_INTERVAL=1".to_string(),
        // Every test caller comes from 127.0.0.1.
        "PIKE_DENSITY=10000".to_string(),
    ];
    Kamailio::start(dir, &cfg, &defines, addr)
}

fn answered(bridge: &Bridge) -> u64 {
    let text = request(bridge.http.expect("http"), "GET", "/metrics", &[], None).body;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("dialbridge_calls_answered_total ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// A call through the edge; the node that answered it (by its Contact).
fn call(edge: &Kamailio, nodes: &[SocketAddr]) -> (Phone, SocketAddr) {
    let mut phone = Phone::new(edge.addr, Codec::Pcmu, None);
    let ok = phone.call();
    let contact = ok
        .header(&HeaderName::Contact)
        .unwrap_or_default()
        .to_string();
    let node = nodes
        .iter()
        .copied()
        .find(|n| contact.contains(&n.to_string()))
        .unwrap_or_else(|| panic!("answered by no node of ours: {contact}"));
    (phone, node)
}

#[test]
fn calls_spread_over_the_nodes_and_a_draining_node_takes_none_but_keeps_its_calls() {
    let options = || BridgeOptions {
        http: true,
        extra: vec!["--drain-timeout".into(), "60".into()],
        ..BridgeOptions::default()
    };
    let (mut first, _) = Bridge::start(&["Ada"], options());
    let (second, _) = Bridge::start(&["Bob"], options());
    let nodes = [first.sip, second.sip];
    let edge = edge(&nodes);

    // Round robin: four calls, two on each node, the first of them answered with the greeting.
    let mut calls: Vec<(Phone, SocketAddr)> = (0..4).map(|_| call(&edge, &nodes)).collect();
    hears(
        &calls[0].0,
        &[Prompt::Welcome],
        "the greeting through the edge",
    );
    assert_eq!((answered(&first), answered(&second)), (2, 2));
    let held = calls
        .iter()
        .position(|(_, n)| *n == first.sip)
        .expect("a call on the first node");
    let (mut kept, _) = calls.swap_remove(held);
    for (mut phone, _) in calls {
        phone.hangup();
    }

    // SIGTERM: the first node drains. The edge's next probe gets 503; calls made meanwhile
    // get 503 from it and go to the other node.
    first.signal_term();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !first.log_text().contains("draining") {
        assert!(Instant::now() < deadline, "{}", first.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..4 {
        let (mut phone, node) = call(&edge, &nodes);
        assert_eq!(node, second.sip, "a draining node takes no new call");
        phone.hangup();
    }
    assert_eq!(answered(&first), 2);
    assert_eq!(answered(&second), 6);
    assert!(
        edge.lines("DIALBRIDGE-DISPATCH").len() >= 8,
        "every call went through the dispatcher"
    );

    // The call in progress on the draining node goes on: it still hears the IVR.
    let before = kept.heard().len();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        kept.heard().len() >= before + 15,
        "the kept call still gets audio"
    );
    assert!(
        first.wait_exit(Duration::from_millis(200)).is_none(),
        "the node waits for its call"
    );
    // Its caller hangs up: the node has nothing left and exits cleanly.
    kept.hangup();
    let status = first
        .wait_exit(Duration::from_secs(15))
        .expect("the drained node exits once its last call ended");
    assert!(status.success(), "{status:?}");
}
