//! End-to-end: the directory in PostgreSQL (`--database-url`). A throwaway server is
//! started by the test (tests/support/postgres.rs); organizers are created with the CLI
//! against it, and callers with the test phone check that the lobby, the PIN and its
//! lockout work as on SQLite, and that a database restart drops no call.

mod support;
#[path = "support/tls.rs"]
mod tls;

use std::process::Command;
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use support::phone::Phone;
use support::postgres::Postgres;
use support::{
    Bridge, BridgeOptions, assets, first_tone, heard_times, position_of_run, wait, wait_until,
};

const ORGANIZER_TONE: f32 = 1000.0;

/// A bridge whose directory is a fresh database on `pg`, with `organizers` created by the CLI.
fn start(pg: &Postgres, organizers: &[&str]) -> (Bridge, Vec<support::OrganizerInfo>, String) {
    let url = pg.create_database("dialbridge");
    let (bridge, orgs) = Bridge::start(
        organizers,
        BridgeOptions {
            global: vec!["--database-url".into(), url.clone()],
            ..BridgeOptions::default()
        },
    );
    assert!(
        !bridge
            .data_dir
            .path()
            .join(dialbridge::store::DATABASE_FILE)
            .exists(),
        "no SQLite file: the directory is in PostgreSQL"
    );
    (bridge, orgs, url)
}

fn attendee(bridge: &Bridge, conference_id: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, tone);
    p.call();
    p.send_digits(&format!("{conference_id}#"));
    wait(200);
    p.send_digits("#");
    p
}

fn organizer(bridge: &Bridge, conference_id: &str, pin: &str) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, Some(ORGANIZER_TONE));
    p.call();
    p.send_digits(&format!("{conference_id}#*{pin}#"));
    p
}

fn hears_the_organizer_after(p: &Phone, since: Instant, what: &str) {
    wait_until(p, Duration::from_secs(15), what, |h| {
        first_tone(h, since, ORGANIZER_TONE, Codec::Pcmu).is_some()
    });
}

#[test]
fn with_the_directory_in_postgresql_the_lobby_moves_and_wrong_pins_lock() {
    let pg = Postgres::start();
    let (bridge, orgs, url) = start(&pg, &["Ada", "Bob"]);
    let (ada, bob) = (&orgs[0], &orgs[1]);

    // Lobby, then the organizer's PIN moves the waiting caller into the meeting.
    let waiting = attendee(&bridge, &ada.conference_id, None);
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(&waiting, Duration::from_secs(15), "hold music", |h| {
        position_of_run(h, &hold).is_some()
    });
    let started = Instant::now();
    let _boss = organizer(&bridge, &ada.conference_id, &ada.pin);
    hears_the_organizer_after(&waiting, started, "the organizer, after the lobby");

    // Twelve wrong PINs for Bob on four lines lock his PIN (ten fail in a row lock it).
    let wrong = support::wrong_pin(&bob.pin);
    support::wrong_pins_on_lines(bridge.sip, &bob.conference_id, &wrong, 4);
    let mut owner = Phone::new(bridge.sip, Codec::Pcmu, None);
    owner.call();
    owner.send_digits(&format!("{}#*{}#", bob.conference_id, bob.pin));
    assert!(
        heard_times(&owner, Prompt::WrongPin, 1, Duration::from_secs(15)),
        "the locked PIN is refused even when right"
    );

    // The CLI reads the same directory: the failures and the lock are in its audit log.
    let out = Command::new(support::binary())
        .arg("--data-dir")
        .arg(bridge.data_dir.path())
        .args(["--database-url", &url, "audit", "--json", "--limit", "100"])
        .output()
        .expect("run dialbridge audit");
    assert!(
        out.status.success(),
        "audit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let locks = text
        .lines()
        .filter(|l| {
            l.contains("\"pin.locked\"") && l.contains(&format!("\"organizer_id\":{}", bob.id))
        })
        .count();
    assert!(locks >= 1, "pin.locked for Bob in the audit log:\n{text}");
    assert!(
        text.matches("\"pin.failure\"").count() >= 12,
        "every wrong PIN counted:\n{text}"
    );

    // `database_url` in a config file works like the flag.
    let config = bridge.data_dir.path().join("dialbridge.toml");
    std::fs::write(&config, format!("database_url = \"{url}\"\n")).expect("write config");
    let out = Command::new(support::binary())
        .arg("--data-dir")
        .arg(bridge.data_dir.path())
        .arg("--config")
        .arg(&config)
        .args(["organizer", "list"])
        .output()
        .expect("run dialbridge organizer list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && listed.contains(&ada.conference_id)
            && listed.contains(&bob.conference_id),
        "both organizers listed from PostgreSQL: {listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_postgresql_restart_drops_no_call_and_a_caller_meanwhile_hears_call_again_later() {
    let pg = Postgres::start();
    let (bridge, orgs, url) = start(&pg, &["Ada"]);
    let ada = &orgs[0];
    let started = Instant::now();
    let mut boss = organizer(&bridge, &ada.conference_id, &ada.pin);
    let mut guest = attendee(&bridge, &ada.conference_id, None);
    hears_the_organizer_after(&guest, started, "the organizer in the meeting");

    pg.stop();
    assert!(!pg.accepting(), "the database is down");

    // A caller who enters an ID now is told to call again later and hung up cleanly.
    let mut late = Phone::new(bridge.sip, Codec::Pcmu, None);
    late.call();
    late.send_digits(&format!("{}#", ada.conference_id));
    assert!(
        late.wait_for_bye(Duration::from_secs(30)),
        "the bridge hangs up on the caller it cannot look up; log:\n{}",
        bridge.log_text()
    );
    let unavailable = assets()
        .prompt(Prompt::ServiceUnavailable)
        .frames(Law::Mu)
        .to_vec();
    assert!(
        position_of_run(&late.heard(), &unavailable).is_some(),
        "the whole 'call again later' before the BYE"
    );

    // An admin command meanwhile fails at once, saying what is wrong, and changes nothing.
    let out = Command::new(support::binary())
        .arg("--data-dir")
        .arg(bridge.data_dir.path())
        .args(["--database-url", &url])
        .args([
            "organizer",
            "add",
            "--name",
            "Bob",
            "--email",
            "bob@example.com",
        ])
        .output()
        .expect("run dialbridge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot connect to the PostgreSQL directory"),
        "{err}"
    );

    // The meeting went on meanwhile.
    let during = Instant::now();
    hears_the_organizer_after(&guest, during, "the organizer while the database is down");

    pg.start_again();
    let after = Instant::now();
    let newcomer = attendee(&bridge, &ada.conference_id, None);
    hears_the_organizer_after(
        &newcomer,
        after,
        "the organizer, for a caller after the restart",
    );
    hears_the_organizer_after(&guest, after, "the organizer, still, after the restart");

    // Nobody of the meeting was hung up.
    assert!(
        !guest.wait_for_bye(Duration::from_millis(200)),
        "guest kept"
    );
    assert!(
        !boss.wait_for_bye(Duration::from_millis(200)),
        "organizer kept"
    );
    assert!(
        bridge.log_text().contains("conference lookup failed"),
        "the outage is logged"
    );
    // Bob was never added: the directory holds Ada alone.
    let list = Command::new(support::binary())
        .arg("--data-dir")
        .arg(bridge.data_dir.path())
        .args(["--database-url", &url])
        .args(["organizer", "list", "--json"])
        .output()
        .expect("run dialbridge");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("Ada") && !list.contains("Bob"), "{list}");
}

#[test]
fn the_directory_is_reached_over_tls_checked_against_the_ca_and_never_in_clear() {
    let pg = Postgres::start();
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = tls::TestCa::new(pki.path(), "db");
    let server = ca.server("db-server");
    pg.require_tls(&server.cert, &server.key);
    let url = pg.create_database("dialbridge");
    let ca_pem = ca.cert_path();
    let with = |query: String| format!("{url}?{query}");
    let verified = with(format!(
        "sslmode=verify-full&sslrootcert={}",
        ca_pem.display()
    ));

    // Verified TLS: the CLI and a running bridge work as with any directory.
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            global: vec!["--database-url".into(), verified.clone()],
            ..BridgeOptions::default()
        },
    );
    let p = attendee(&bridge, &orgs[0].conference_id, None);
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    wait_until(
        &p,
        Duration::from_secs(15),
        "the lobby, directory over TLS",
        |h| position_of_run(h, &hold).is_some(),
    );
    drop(p);
    drop(bridge);

    // In clear (refused by the server), and against a CA that did not issue the server's
    // certificate: the command fails saying why, and names no password.
    let other = tls::TestCa::new(pki.path(), "other");
    for (query, why) in [
        ("sslmode=disable".to_string(), "no encryption"),
        (
            format!(
                "sslmode=verify-full&sslrootcert={}",
                other.cert_path().display()
            ),
            "certificate",
        ),
    ] {
        let data = tempfile::tempdir().expect("tempdir");
        let out = Command::new(support::binary())
            .arg("--data-dir")
            .arg(data.path())
            .args(["--database-url", &with(query.clone())])
            .args(["organizer", "list"])
            .output()
            .expect("run dialbridge");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{query}: {err}");
        assert!(err.to_lowercase().contains(why), "{query}: {err}");
    }
}

#[test]
fn backup_and_demo_refuse_a_postgresql_directory_saying_what_to_do_instead() {
    let data = tempfile::tempdir().expect("tempdir");
    let url = "postgres://dialbridge@127.0.0.1:1/dialbridge";
    for (args, advice) in [
        (vec!["backup", "copy.db"], "pg_dump"),
        (vec!["demo"], "without --database-url"),
    ] {
        let out = Command::new(support::binary())
            .arg("--data-dir")
            .arg(data.path())
            .args(["--database-url", url])
            .args(&args)
            .current_dir(data.path())
            .output()
            .expect("run dialbridge");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("SQLite directory only") && err.contains(advice),
            "{args:?}: {err}"
        );
    }
    assert!(
        !data.path().join("copy.db").exists(),
        "no backup file written"
    );
}
