//! Several dialbridge nodes behind Kamailio with the shipped `contrib/kamailio/dialbridge.cfg`
//! (dispatcher, OPTIONS probing, Record-Route, sanity, pike), all on 127.0.0.1: calls spread
//! over the nodes, and a node stopped with SIGTERM and `--drain-timeout` gets no new calls
//! while its calls in progress go on, then exits when the last one ends. Nodes sharing a
//! PostgreSQL directory hold leases on their meetings: one owner per meeting, taken over
//! within 5 s of its owner's death, shown by `dialbridge cluster status`.

#[path = "support/kamailio.rs"]
mod kamailio;
mod support;

use std::process::Command;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dialbridge::cluster::leg::{LEG_HEADER, LegClaim, LegKey};
use dialbridge::ivr::flow::Role;
use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::sip::message::{HeaderName, Method};
use kamailio::Kamailio;
use support::phone::Phone;
use support::postgres::Postgres;
use support::{
    Bridge, BridgeOptions, assets, binary, first_tone, free_udp_port, hears, position_of_run,
    tones_heard, wait_until,
};

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

/// A call through the edge; the node that answered it (by its Contact).
fn call(edge: &Kamailio, nodes: &[SocketAddr]) -> (Phone, SocketAddr) {
    call_toned(edge, nodes, None)
}

/// A call through the edge from a phone sending `tone`; the node that answered it.
fn call_toned(edge: &Kamailio, nodes: &[SocketAddr], tone: Option<f32>) -> (Phone, SocketAddr) {
    let mut phone = Phone::new(edge.addr, Codec::Pcmu, tone);
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
    let answered = |node: &Bridge| node.metric("dialbridge_calls_answered_total", &[]);

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

/// `dialbridge cluster status --json`, one object per node.
fn status(url: &str) -> Vec<serde_json::Value> {
    let out = Command::new(binary())
        .args(["--database-url", url, "cluster", "status", "--json"])
        .output()
        .expect("run dialbridge cluster status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// (name, state, meetings owned) of every node in `cluster status`.
fn nodes(url: &str) -> Vec<(String, String, i64)> {
    status(url)
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default().to_string(),
                n["state"].as_str().unwrap_or_default().to_string(),
                n["meetings_owned"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The cluster secret every node of the tests' clusters shares.
const SECRET: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// Nodes `names` on one fresh database of `pg`: the first creates organizer Ada, the others
/// get its PIN key (as an operator copies it), each its `--node-name`, the cluster secret
/// when `secret`, and `extra` flags. Returns the nodes, Ada, and the database URL.
fn start_nodes(
    pg: &Postgres,
    database: &str,
    names: &[&str],
    secret: bool,
    extra: &[&str],
) -> (Vec<Bridge>, support::OrganizerInfo, String) {
    let url = pg.create_database(database);
    let secrets = tempfile::tempdir().expect("tempdir");
    let secret_file = secrets.path().join("cluster.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write secret");
    std::fs::set_permissions(
        &secret_file,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .expect("chmod");
    let options = |name: &str| {
        let mut flags = vec!["--node-name".to_string(), name.to_string()];
        if secret {
            flags.push("--cluster-secret-file".into());
            flags.push(secret_file.display().to_string());
        }
        flags.extend(extra.iter().map(|f| f.to_string()));
        BridgeOptions {
            http: true,
            global: vec!["--database-url".into(), url.clone()],
            extra: flags,
            ..BridgeOptions::default()
        }
    };
    let (first, mut orgs) = Bridge::start(&["Ada"], options(names[0]));
    let key = first
        .data_dir
        .path()
        .join(dialbridge::directory::PIN_KEY_FILE);
    let mut bridges = vec![first];
    for name in &names[1..] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(&key, dir.path().join(dialbridge::directory::PIN_KEY_FILE))
            .expect("copy the PIN key");
        bridges.push(Bridge::start_in(dir, &[], options(name)).0);
    }
    (bridges, orgs.remove(0), url)
}

/// A caller on `node` for `conference`, through the IVR into its lobby, sending `tone`.
fn attendee(node: &Bridge, conference: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(node.sip, Codec::Pcmu, tone);
    p.call();
    p.send_digits(&format!("{conference}#"));
    std::thread::sleep(Duration::from_millis(200));
    p.send_digits("#");
    p
}

#[test]
fn nodes_on_one_postgresql_directory_hold_one_lease_per_meeting() {
    let pg = Postgres::start();
    let (nodes_started, ada, url) = start_nodes(&pg, "cluster", &["a", "b"], false, &[]);
    let [mut a, mut b]: [Bridge; 2] = nodes_started.try_into().ok().expect("two nodes");
    let conference = ada.conference_id.clone();
    assert_eq!(
        nodes(&url),
        vec![("a".into(), "up".into(), 0), ("b".into(), "up".into(), 0)]
    );

    // The first caller's look-up on a makes a the meeting's owner.
    let _first = attendee(&a, &conference, None);
    wait_for("a's claim", Duration::from_secs(15), || {
        a.metric("dialbridge_cluster_claims_total", &["owner=\"here\""]) == 1
    });
    wait_for("the lease in the status", Duration::from_secs(5), || {
        nodes(&url)[0].2 == 1
    });
    wait_for("the lease in a's figures", Duration::from_secs(5), || {
        a.metric("dialbridge_cluster_leases_held", &[]) == 1
    });

    // A caller for the same meeting on b finds a owning it.
    let _second = attendee(&b, &conference, None);
    wait_for("b's look-up", Duration::from_secs(15), || {
        b.metric("dialbridge_cluster_claims_total", &["owner=\"elsewhere\""]) == 1
    });
    assert_eq!(
        b.metric("dialbridge_cluster_claims_total", &["owner=\"here\""]),
        0
    );
    assert!(b.log_text().contains("meeting hosted by another node"));

    // A second process under a running node's name is refused at start, changing nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        a.data_dir.path().join(dialbridge::directory::PIN_KEY_FILE),
        dir.path().join(dialbridge::directory::PIN_KEY_FILE),
    )
    .expect("copy the PIN key");
    let mut twin = Command::new(binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", &url, "serve", "--node-name", "a"])
        .args(["--sip-listen", &format!("127.0.0.1:{}", free_udp_port())])
        .args(["--rtp-ports", "39000-39010"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start a twin");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = twin.try_wait().expect("poll the twin") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = twin.kill();
            panic!("a second node named a kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut twin.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    assert!(!exit.success());
    assert!(
        err.contains("another running node already uses the node name a"),
        "{err}"
    );
    assert_eq!(nodes(&url)[0].2, 1, "the twin took nothing from a");

    // The owner dies. Its lease was renewed at most a second before and lasts 3 s: 4 s
    // later the next look-up on b takes the meeting over.
    a.sigkill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let _third = attendee(&b, &conference, None);
    wait_for("b's claim", Duration::from_secs(15), || {
        b.metric("dialbridge_cluster_claims_total", &["owner=\"here\""]) == 1
    });
    wait_for(
        "the status after the takeover",
        Duration::from_secs(10),
        || nodes(&url) == vec![("a".into(), "gone".into(), 0), ("b".into(), "up".into(), 1)],
    );
    assert!(killed.elapsed() < Duration::from_secs(20));

    // A clean stop leaves the cluster: the node's row and leases go at once.
    b.terminate();
    assert_eq!(nodes(&url), vec![("a".into(), "gone".into(), 0)]);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A phone that calls `node` as a relay leg from node `b`, signed with `key`.
fn leg(node: &Bridge, key: &LegKey, conference: &str, role: Role, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(node.sip, Codec::Pcmu, tone);
    let claim = LegClaim {
        conference_id: conference.to_string(),
        role,
        node: "b".into(),
    };
    let header = key.sign(&claim, p.call_id(), unix_now());
    p.add_invite_header(LEG_HEADER, &header);
    p
}

#[test]
fn relay_legs_signed_with_the_cluster_secret_skip_the_ivr_and_forged_ones_get_403() {
    let pg = Postgres::start();
    let (mut started, ada, _url) = start_nodes(&pg, "legs", &["a"], true, &[]);
    let owner = started.remove(0);
    let conference = ada.conference_id.clone();
    let secret = SECRET;
    let key = LegKey::from_bytes(secret.as_bytes());

    // An attendee's leg: no greeting (the caller heard it on the node that answered), straight
    // to the lobby's hold music.
    let mut waiting = leg(&owner, &key, &conference, Role::Attendee, None);
    waiting.call();
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(
        &waiting,
        Duration::from_secs(10),
        "hold music on the leg",
        |h| position_of_run(h, &hold).is_some(),
    );
    // Frames from its middle: a prompt starts with silence, as a lobby may.
    let welcome = assets().prompt(Prompt::Welcome).frames(Law::Mu)[20..25].to_vec();
    assert!(
        position_of_run(&waiting.heard(), &welcome).is_none(),
        "a leg hears no IVR"
    );

    // The organizer's leg (its PIN was checked where it was answered) starts the meeting: the
    // waiting leg hears it.
    let started = Instant::now();
    let mut boss = leg(&owner, &key, &conference, Role::Organizer, Some(1000.0));
    boss.call();
    wait_until(
        &waiting,
        Duration::from_secs(10),
        "the organizer's leg",
        |h| first_tone(h, started, 1000.0, Codec::Pcmu).is_some(),
    );

    // A leg that promotes itself to organizer, or is signed with another secret: 403.
    let mut promoted = Phone::new(owner.sip, Codec::Pcmu, None);
    let header = key
        .sign(
            &LegClaim {
                conference_id: conference.clone(),
                role: Role::Attendee,
                node: "b".into(),
            },
            promoted.call_id(),
            unix_now(),
        )
        .replace("role=attendee", "role=organizer");
    promoted.add_invite_header(LEG_HEADER, &header);
    let mut strange = leg(
        &owner,
        &LegKey::from_bytes(&[1; 32]),
        &conference,
        Role::Organizer,
        None,
    );
    for phone in [&mut promoted, &mut strange] {
        phone.send_invite();
        assert!(
            phone
                .wait_response(403, Method::Invite, Duration::from_secs(5))
                .is_some(),
            "a forged leg is refused"
        );
    }
    assert_eq!(
        owner.metric(
            "dialbridge_cluster_relay_legs_in_total",
            &["result=\"accepted\""]
        ),
        2
    );
    assert_eq!(
        owner.metric(
            "dialbridge_cluster_relay_legs_in_total",
            &["result=\"refused\""]
        ),
        2
    );
    assert!(owner.log_text().contains("relay leg refused"));
    assert!(
        !owner.log_text().contains(secret),
        "the secret never reaches the log"
    );
}

#[test]
fn callers_answered_by_a_node_that_does_not_host_the_meeting_are_relayed_to_its_owner() {
    let pg = Postgres::start();
    let (started, ada, _url) = start_nodes(&pg, "relay", &["a", "b"], true, &[]);
    let [a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let secret = SECRET;
    let ada = &ada;

    // The first caller reaches a: a hosts the meeting.
    let on_a = attendee(&a, &ada.conference_id, Some(600.0));
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(&on_a, Duration::from_secs(15), "hold music on a", |h| {
        position_of_run(h, &hold).is_some()
    });

    // A caller answered by b hears a's lobby through a relay leg.
    let mut on_b = attendee(&b, &ada.conference_id, Some(400.0));
    let relayed_from = on_b.heard().len();
    wait_until(&on_b, Duration::from_secs(15), "a's hold music on b", |h| {
        h.len() > relayed_from && position_of_run(&h[relayed_from..], &hold).is_some()
    });
    assert_eq!(
        a.metric(
            "dialbridge_cluster_relay_legs_in_total",
            &["result=\"accepted\""]
        ),
        1
    );
    assert!(b.log_text().contains("relay leg up"), "{}", b.log_text());

    // The organizer, also answered by b, types the PIN there: relayed as the organizer, the
    // meeting starts on a and both lobbies move in the same tick.
    let started = Instant::now();
    let mut boss = Phone::new(b.sip, Codec::Pcmu, Some(1000.0));
    boss.call();
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let heard_at = |p: &Phone, what: &str| {
        wait_until(p, Duration::from_secs(20), what, |h| {
            first_tone(h, started, 1000.0, Codec::Pcmu).is_some()
        });
        first_tone(&p.heard(), started, 1000.0, Codec::Pcmu).expect("heard")
    };
    let at_a = heard_at(&on_a, "the organizer on a's caller");
    let at_b = heard_at(&on_b, "the organizer on b's relayed caller");
    let apart = if at_a > at_b {
        at_a - at_b
    } else {
        at_b - at_a
    };
    eprintln!("the organizer first heard {apart:?} apart by a caller on a and one relayed from b");
    assert!(apart <= Duration::from_millis(40), "{apart:?}");

    // N-1 across nodes: each hears the other two, not itself.
    hears(
        &boss,
        &[Prompt::N2, Prompt::CallersJoinedFromLobby],
        "'two callers joined from the lobby', through the leg",
    );
    std::thread::sleep(Duration::from_millis(1500));
    let since = Instant::now() - Duration::from_millis(800);
    let all = [400.0, 600.0, 1000.0];
    assert_eq!(
        tones_heard(&on_a.heard(), since, &all, Codec::Pcmu),
        vec![400.0, 1000.0]
    );
    assert_eq!(
        tones_heard(&on_b.heard(), since, &all, Codec::Pcmu),
        vec![600.0, 1000.0]
    );
    assert_eq!(
        tones_heard(&boss.heard(), since, &all, Codec::Pcmu),
        vec![400.0, 600.0]
    );
    assert!(
        b.metric("dialbridge_relay_packets_total", &["worker=\"0\""])
            + b.metric("dialbridge_relay_packets_total", &["worker=\"1\""])
            > 100
    );

    // The relayed caller hangs up on b: its leg ends on a, whose meeting goes on with two.
    on_b.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let meeting = a
            .api()
            .get(&format!("/api/meetings/{}", ada.conference_id))
            .json();
        let n = meeting["participants"].as_array().map_or(0, Vec::len);
        if n == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leg did not leave a's meeting: {meeting}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!b.log_text().contains(secret) && !a.log_text().contains(secret));
}

#[test]
fn when_the_owner_dies_its_relayed_callers_are_rehomed_into_a_running_meeting() {
    let pg = Postgres::start();
    let (started, ada, url) = start_nodes(&pg, "rehome", &["a", "b"], true, &[]);
    let [mut a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let ada = &ada;
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();

    // a hosts the meeting; b relays its attendee and the organizer there.
    let on_a = attendee(&a, &ada.conference_id, Some(600.0));
    wait_until(&on_a, Duration::from_secs(15), "hold music on a", |h| {
        position_of_run(h, &hold).is_some()
    });
    let on_b = attendee(&b, &ada.conference_id, Some(400.0));
    let started = Instant::now();
    let mut boss = Phone::new(b.sip, Codec::Pcmu, Some(1000.0));
    boss.call();
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    wait_until(
        &on_b,
        Duration::from_secs(20),
        "the meeting through the leg",
        |h| first_tone(h, started, 1000.0, Codec::Pcmu).is_some(),
    );

    // a dies. b's callers hear "reconnecting", then b takes the meeting over once a's lease
    // ran out, and they are back in a running meeting: the organizer's caller was on b.
    a.sigkill();
    let killed = Instant::now();
    // Its start: the new owner may be found before the prompt ends, which cuts it short.
    let reconnecting = assets().prompt(Prompt::Reconnecting).frames(Law::Mu)[..40].to_vec();
    wait_until(
        &on_b,
        Duration::from_secs(10),
        "'reconnecting' after the owner died",
        |h| position_of_run(h, &reconnecting).is_some(),
    );
    wait_until(
        &on_b,
        Duration::from_secs(20),
        "the organizer again, on b",
        |h| first_tone(h, killed + Duration::from_secs(1), 1000.0, Codec::Pcmu).is_some(),
    );
    let back = killed.elapsed();
    eprintln!("relayed callers back in a running meeting {back:?} after the owner died");
    assert!(back < Duration::from_secs(8), "{back:?}");
    wait_until(
        &boss,
        Duration::from_secs(10),
        "the attendee, to the organizer on b",
        |h| first_tone(h, killed + Duration::from_secs(1), 400.0, Codec::Pcmu).is_some(),
    );
    assert!(b.metric("dialbridge_cluster_claims_total", &["owner=\"here\""]) >= 1);
    wait_for("b owning the meeting", Duration::from_secs(5), || {
        nodes(&url)
            .iter()
            .any(|(n, _, owned)| n == "b" && *owned == 1)
    });
}

#[test]
fn three_nodes_behind_kamailio_run_one_meeting_and_a_dead_non_owner_drops_only_its_calls() {
    let pg = Postgres::start();
    let (mut bridges, ada, _url) = start_nodes(&pg, "three", &["a", "b", "c"], true, &[]);
    let ada = &ada;
    let nodes: Vec<SocketAddr> = bridges.iter().map(|b| b.sip).collect();
    let edge = edge(&nodes);

    // Three callers through the edge, one per node (round robin), all in one lobby.
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    let tones = [400.0, 600.0, 800.0];
    let mut lobby = Vec::new();
    for tone in tones {
        let (phone, node) = call_toned(&edge, &nodes, Some(tone));
        phone.send_digits(&format!("{}#", ada.conference_id));
        std::thread::sleep(Duration::from_millis(200));
        phone.send_digits("#");
        wait_until(
            &phone,
            Duration::from_secs(20),
            "the lobby's hold music",
            |h| position_of_run(h, &hold).is_some(),
        );
        lobby.push((phone, node));
    }
    let mut answered: Vec<SocketAddr> = lobby.iter().map(|(_, n)| *n).collect();
    answered.sort();
    let mut all = nodes.clone();
    all.sort();
    assert_eq!(answered, all, "one lobby caller on each node");
    let owner = lobby[0].1;

    // The organizer's PIN, typed on whichever node the edge picks, moves the whole lobby.
    let started = Instant::now();
    let (boss, boss_node) = call_toned(&edge, &nodes, Some(1000.0));
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let firsts: Vec<Instant> = lobby
        .iter()
        .map(|(p, _)| {
            wait_until(p, Duration::from_secs(20), "the organizer", |h| {
                first_tone(h, started, 1000.0, Codec::Pcmu).is_some()
            });
            first_tone(&p.heard(), started, 1000.0, Codec::Pcmu).expect("heard")
        })
        .collect();
    let spread = *firsts.iter().max().expect("3") - *firsts.iter().min().expect("3");
    eprintln!("a lobby spread over three nodes moved within {spread:?}");
    assert!(spread <= Duration::from_millis(40), "{spread:?}");

    // A node that neither hosts the meeting nor answered the organizer dies: only its caller
    // drops; the others go on hearing the meeting.
    let victim = nodes
        .iter()
        .copied()
        .find(|n| *n != owner && *n != boss_node)
        .expect("three nodes, at most two excluded");
    let index = nodes.iter().position(|n| *n == victim).expect("a node");
    bridges[index].sigkill();
    std::thread::sleep(Duration::from_secs(3));
    let since = Instant::now() - Duration::from_millis(800);
    for (i, (phone, node)) in lobby.iter().enumerate() {
        let heard = tones_heard(&phone.heard(), since, &[1000.0], Codec::Pcmu);
        if *node == victim {
            assert!(heard.is_empty(), "the dead node's caller hears nothing");
        } else {
            assert_eq!(
                heard,
                vec![1000.0],
                "caller {i} on a live node still hears the meeting"
            );
        }
    }
    let others: Vec<f32> = tones
        .iter()
        .zip(&lobby)
        .filter(|(_, (_, n))| *n != victim)
        .map(|(t, _)| *t)
        .collect();
    let mut heard = tones_heard(&boss.heard(), since, &tones, Codec::Pcmu);
    heard.sort_by(f32::total_cmp);
    assert_eq!(heard, others, "the organizer hears the callers left");
}

#[test]
fn conference_id_guessing_limits_hold_across_the_nodes() {
    let pg = Postgres::start();
    let (started, ada, _url) = start_nodes(
        &pg,
        "guessing",
        &["a", "b"],
        false,
        &["--id-guesses-per-caller", "2"],
    );
    let [a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");

    // Two unknown IDs from one number on a...
    let mut guesser = Phone::new(a.sip, Codec::Pcmu, None);
    guesser.set_from_user("+15550100");
    guesser.call();
    for guess in ["111111111#", "222222222#"] {
        let before = guesser.heard().len();
        guesser.send_digits(guess);
        let not_found =
            assets().prompt(Prompt::ConferenceNotFound).frames(Law::Mu)[10..20].to_vec();
        wait_until(&guesser, Duration::from_secs(15), "'not recognized'", |h| {
            h.len() > before && position_of_run(&h[before..], &not_found).is_some()
        });
    }
    guesser.hangup();

    // ...and the same number on b is cut off before its next look-up, even for a real ID.
    let mut again = Phone::new(b.sip, Codec::Pcmu, None);
    again.set_from_user("+15550100");
    again.call();
    again.send_digits(&format!("{}#", ada.conference_id));
    wait_for("b cutting the guesser off", Duration::from_secs(15), || {
        b.metric("dialbridge_guessers_cut_off_total", &[]) == 1
    });
    assert!(b.log_text().contains("counted_on=\"the cluster's nodes\""));

    // Another number is not affected.
    let mut honest = Phone::new(b.sip, Codec::Pcmu, None);
    honest.set_from_user("+15550111");
    honest.call();
    honest.send_digits(&format!("{}#", ada.conference_id));
    std::thread::sleep(Duration::from_millis(200));
    honest.send_digits("#");
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(&honest, Duration::from_secs(15), "the lobby", |h| {
        position_of_run(h, &hold).is_some()
    });
    assert_eq!(b.metric("dialbridge_guessers_cut_off_total", &[]), 1);
}

#[test]
fn a_meeting_started_through_another_nodes_api_starts_where_it_is_hosted() {
    let pg = Postgres::start();
    let (started, ada, _url) = start_nodes(&pg, "api-start", &["a", "b"], true, &[]);
    let [a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    let one = attendee(&a, &ada.conference_id, Some(600.0));
    wait_until(&one, Duration::from_secs(15), "the lobby on a", |h| {
        position_of_run(h, &hold).is_some()
    });
    let two = attendee(&b, &ada.conference_id, Some(1400.0));
    wait_until(&two, Duration::from_secs(15), "a's lobby, relayed", |h| {
        position_of_run(h, &hold).is_some()
    });

    // An operator starts it through b's API: a, which hosts it, moves its lobby in.
    let t = Instant::now();
    let r = b.api().post(&format!("/api/organizers/{}/start", ada.id));
    assert_eq!(r.status, 202, "{}", r.body);
    wait_until(
        &one,
        Duration::from_secs(10),
        "the relayed caller, on a",
        |h| first_tone(h, t, 1400.0, Codec::Pcmu).is_some(),
    );
    wait_until(&two, Duration::from_secs(10), "a's caller, on b", |h| {
        first_tone(h, t, 600.0, Codec::Pcmu).is_some()
    });
    assert!(a.log_text().contains("meeting start asked by another node"));
}

#[test]
fn a_start_asked_while_the_hosting_nodes_listener_was_away_is_not_lost() {
    let pg = Postgres::start();
    let (started, ada, _url) = start_nodes(&pg, "start-away", &["a", "b"], true, &[]);
    let [a, _b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    let one = attendee(&a, &ada.conference_id, None);
    wait_until(&one, Duration::from_secs(15), "the lobby on a", |h| {
        position_of_run(h, &hold).is_some()
    });
    let state = || {
        a.api()
            .get(&format!("/api/meetings/{}", ada.conference_id))
            .json()["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(state(), "lobby");
    // The nodes' listening connections are cut, and a start is asked of a with no NOTIFY at all (as
    // one sent while that connection was away): the row is the request, and a finds it.
    let cut = pg.sql(
        "start-away",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = 'start-away' AND query LIKE 'LISTEN%'",
    );
    assert_eq!(cut.trim(), "2", "both nodes listen");
    pg.sql(
        "start-away",
        &format!(
            "INSERT INTO meeting_starts (node, conference_id, asked_at) VALUES \
             ('a', '{}', (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
            ada.conference_id
        ),
    );
    wait_for("a to start the meeting", Duration::from_secs(10), || {
        state() == "running"
    });
    assert!(
        a.log_text()
            .contains("the meeting start listener lost its connection"),
        "{}",
        a.log_text()
    );
    assert_eq!(
        pg.sql("start-away", "SELECT count(*) FROM meeting_starts")
            .trim(),
        "0"
    );
}

#[test]
fn a_postgresql_outage_longer_than_a_lease_drops_no_call_and_leaves_one_owner() {
    let pg = Postgres::start();
    let (started, ada, url) = start_nodes(&pg, "outage", &["a", "b"], true, &[]);
    let [a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let t = Instant::now();
    let mut boss = Phone::new(a.sip, Codec::Pcmu, Some(1000.0));
    boss.call();
    boss.send_digits(&format!("{}#*{}#", ada.conference_id, ada.pin));
    let mut relayed = attendee(&b, &ada.conference_id, Some(600.0));
    let hears = |p: &Phone, since: Instant, tone: f32, what: &str| {
        wait_until(p, Duration::from_secs(20), what, |h| {
            first_tone(h, since, tone, Codec::Pcmu).is_some()
        })
    };
    hears(
        &relayed,
        t,
        1000.0,
        "the organizer on a, relayed to b's caller",
    );
    hears(&boss, t, 600.0, "b's caller, through the leg");

    // Whichever node's look-up came first hosts the meeting (the organizer's on a or the
    // attendee's on b: they race); that node must still hold it after the outage.
    let owner = nodes(&url)
        .into_iter()
        .find(|(_, _, owned)| *owned == 1)
        .map(|(name, _, _)| name)
        .expect("one node hosts the meeting");
    // Down for longer than a lease (3 s): every lease has run out by the database's clock.
    pg.stop();
    std::thread::sleep(Duration::from_secs(5));
    let during = Instant::now();
    hears(
        &relayed,
        during,
        1000.0,
        "the organizer while the database is down",
    );
    pg.start_again();

    // Back: the owner renews the lease it held (nobody else took it), b's next caller joins
    // the same running meeting, and nobody was hung up.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let rows = nodes(&url);
        if rows
            .iter()
            .any(|(name, _, owned)| *name == owner && *owned == 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{owner} does not hold the lease again: {rows:?}\n--- a ---\n{}\n--- b ---\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = Instant::now();
    let newcomer = attendee(&b, &ada.conference_id, Some(1400.0));
    hears(
        &newcomer,
        after,
        1000.0,
        "the organizer, for a caller after the outage",
    );
    hears(&boss, after, 1400.0, "the newcomer, on a");
    assert_eq!(
        nodes(&url).iter().map(|(_, _, owned)| owned).sum::<i64>(),
        1,
        "one owner for the one meeting: {:?}",
        nodes(&url)
    );
    assert!(
        !boss.wait_for_bye(Duration::from_millis(100)),
        "organizer kept"
    );
    assert!(
        !relayed.wait_for_bye(Duration::from_millis(100)),
        "relayed caller kept"
    );
    assert!(
        a.metric("dialbridge_cluster_database_errors_total", &[]) > 0,
        "the outage is counted"
    );
}

/// An INVITE to `node` that must be refused with 503 and a Retry-After.
fn refused(node: &Bridge) {
    let mut p = Phone::new(node.sip, Codec::Pcmu, None);
    p.send_invite();
    let answer = p
        .wait_response(503, Method::Invite, Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no 503 from {}", node.sip));
    assert!(
        answer.header(&HeaderName::RetryAfter).is_some(),
        "{answer:?}"
    );
    p.ack_error(&answer);
}

#[test]
fn the_cluster_wide_call_limit_counts_each_caller_once_wherever_it_was_answered() {
    let pg = Postgres::start();
    let (started, ada, url) = start_nodes(
        &pg,
        "admission",
        &["a", "b"],
        true,
        &["--cluster-max-calls", "2"],
    );
    let [a, b]: [Bridge; 2] = started.try_into().ok().expect("two nodes");
    let elsewhere = |n: &Bridge| n.metric("dialbridge_cluster_callers_elsewhere", &[]);

    let first = attendee(&a, &ada.conference_id, Some(600.0));
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(&first, Duration::from_secs(15), "hold music on a", |h| {
        position_of_run(h, &hold).is_some()
    });
    // The second caller is answered by b; once a has seen it in b's heartbeat, the cluster
    // holds two callers, the limit. Its relay leg into a is the same caller: let in.
    let mut second = Phone::new(b.sip, Codec::Pcmu, Some(400.0));
    second.call();
    wait_for("a to see b's caller", Duration::from_secs(5), || {
        elsewhere(&a) == 1
    });
    second.send_digits(&format!("{}#", ada.conference_id));
    std::thread::sleep(Duration::from_millis(200));
    second.send_digits("#");
    let from = second.heard().len();
    wait_until(
        &second,
        Duration::from_secs(15),
        "a's lobby through the leg",
        |h| h.len() > from && position_of_run(&h[from..], &hold).is_some(),
    );
    assert_eq!(
        a.metric(
            "dialbridge_cluster_relay_legs_in_total",
            &["result=\"accepted\""]
        ),
        1
    );
    wait_for(
        "b to see a's caller (not the leg)",
        Duration::from_secs(5),
        || elsewhere(&b) == 1,
    );

    // A third caller gets 503 from either node, whose own limits are far away.
    refused(&a);
    refused(&b);
    for node in [&a, &b] {
        assert_eq!(
            node.metric(
                "dialbridge_calls_refused_total",
                &["reason=\"cluster_full\""]
            ),
            1
        );
    }
    let calls: Vec<i64> = status(&url)
        .iter()
        .map(|n| n["calls"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(
        calls,
        vec![1, 1],
        "each node reports the one caller it answered"
    );

    // Once a caller leaves (and its node's next heartbeat says so), there is room again.
    second.hangup();
    wait_for("a to see b empty", Duration::from_secs(5), || {
        elsewhere(&a) == 0
    });
    let mut third = Phone::new(a.sip, Codec::Pcmu, None);
    third.call();
    third.hangup();
    drop(first);
}

#[test]
fn cluster_limits_without_a_shared_directory_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(binary())
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "serve",
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--cluster-max-calls",
            "100",
        ])
        .output()
        .expect("run dialbridge");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--cluster-max-calls") && err.contains("--database-url"),
        "{err}"
    );
}
