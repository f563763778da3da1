//! `dialbridge demo`: a bridge with embedded defaults, the files a newcomer's SIPp and
//! softphone need, and the banner that says what to dial.

use super::*;

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// SIP listen address, UDP and TCP (loopback by default); another port here if 5060 is
    /// taken. The lines the demo prints follow it.
    #[arg(long, default_value = "127.0.0.1:5060", value_name = "IP:PORT")]
    sip_listen: SocketAddr,
    /// Admin web pages, API and /metrics; another port here if 8080 is taken.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    http_listen: SocketAddr,
    /// RTP port range.
    #[arg(long, default_value = "20000-21999", value_name = "LOW-HIGH")]
    rtp_ports: PortRange,
}

const DEMO_EMAIL: &str = "demo-organizer@dialbridge.invalid";

/// What the demo's SIPp lines need from `sip-test-scenarios/`.
const DEMO_SCENARIO_FILES: &[&str] = &[
    "attendee_rfc4733.xml",
    "organizer_rfc4733.xml",
    "caller-tone.ulaw",
];

/// The `sip-test-scenarios/` directory, as an absolute path: under the working directory,
/// the checkout the binary was built in (`target/*/dialbridge` lies in it), or the source
/// directory it was compiled from. None when none of them has the scenarios (an installed
/// binary whose source is gone).
fn find_scenarios() -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    roots.extend(std::env::current_dir().ok());
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(std::path::Path::to_path_buf));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    roots
        .into_iter()
        .map(|root| root.join("sip-test-scenarios"))
        .find(|dir| DEMO_SCENARIO_FILES.iter().all(|f| dir.join(f).is_file()))
        .and_then(|dir| dir.canonicalize().ok())
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A 16-bit mono 8 kHz WAV header for `samples` samples.
fn wav_header(samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&8000u32.to_le_bytes());
    h.extend_from_slice(&16000u32.to_le_bytes()); // bytes per second
    h.extend_from_slice(&2u16.to_le_bytes()); // bytes per frame
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

/// How long the demo's headless baresip talks (its microphone is a silent WAV, and baresip
/// hangs up when the file ends).
const DEMO_SILENCE_MINUTES: u32 = 10;

/// The files the demo's printed lines use, written into DATA_DIR/demo/.
struct DemoFiles {
    attendee_csv: PathBuf,
    organizer_csv: PathBuf,
    baresip_dir: PathBuf,
    /// Where baresip records what it hears and sends, when there is no sound card.
    recordings: Option<PathBuf>,
}

fn write_demo_files(
    data_dir: &std::path::Path,
    conference_id: &str,
    pin: &str,
    phone_ip: IpAddr,
) -> Result<DemoFiles, CliError> {
    let dir = data_dir.join("demo");
    let baresip_dir = dir.join("baresip");
    let fail = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| CliError::DemoFiles { path, source }
    };
    std::fs::create_dir_all(&baresip_dir).map_err(fail(&baresip_dir))?;
    let attendee_csv = dir.join("attendee.csv");
    let organizer_csv = dir.join("organizer.csv");
    std::fs::write(&attendee_csv, format!("SEQUENTIAL\n{conference_id};\n"))
        .map_err(fail(&attendee_csv))?;
    std::fs::write(
        &organizer_csv,
        format!("SEQUENTIAL\n{conference_id};{pin};\n"),
    )
    .map_err(fail(&organizer_csv))?;
    // A sound card: baresip talks and listens through it. Without one (a server, a
    // container) a silent WAV is its microphone and what it hears is recorded.
    let sound_card = std::path::Path::new("/dev/snd").exists();
    let (audio, recordings) = if sound_card {
        (
            "module g722.so\nmodule g711.so\nmodule alsa.so\n\
             audio_player alsa,default\naudio_source alsa,default\naudio_alert alsa,default\n"
                .to_string(),
            None,
        )
    } else {
        let silence = baresip_dir.join("silence.wav");
        let samples = DEMO_SILENCE_MINUTES * 60 * 8000;
        let wanted = 44 + u64::from(samples) * 2;
        if std::fs::metadata(&silence).map(|m| m.len()).ok() != Some(wanted) {
            let mut file = std::fs::File::create(&silence).map_err(fail(&silence))?;
            file.write_all(&wav_header(samples))
                .and_then(|()| {
                    std::io::copy(
                        &mut std::io::Read::take(std::io::repeat(0), u64::from(samples) * 2),
                        &mut file,
                    )
                })
                .map_err(fail(&silence))?;
        }
        let recordings = baresip_dir.join("recordings");
        std::fs::create_dir_all(&recordings).map_err(fail(&recordings))?;
        (
            format!(
                "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\naudio_source aufile,{}\n\
                 snd_path {}\n",
                silence.display(),
                recordings.display()
            ),
            Some(recordings),
        )
    };
    let config = format!(
        "# Written by `dialbridge demo`: a baresip that calls the demo bridge.\n\
         sip_listen {listen}\n\
         net_interface {phone_ip}\n\
         module_path /usr/lib/baresip/modules\n\
         module stdio.so\n\
         {audio}\
         module_app account.so\n\
         module_app menu.so\n",
        listen = SocketAddr::new(phone_ip, 0),
    );
    let config_path = baresip_dir.join("config");
    std::fs::write(&config_path, config).map_err(fail(&config_path))?;
    let accounts = baresip_dir.join("accounts");
    let host = match phone_ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    std::fs::write(&accounts, format!("<sip:demo@{host}>;regint=0\n")).map_err(fail(&accounts))?;
    Ok(DemoFiles {
        attendee_csv,
        organizer_csv,
        baresip_dir,
        recordings,
    })
}

/// The address a caller on this machine dials for a bridge bound to `bound`.
fn dial_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The banner: where the demo listens, its conference ID and PIN, and command lines that
/// call it, each working as printed from any directory.
fn demo_banner(
    sip: SocketAddr,
    http: SocketAddr,
    conf: &str,
    pin: &str,
    token: &std::path::Path,
    scenarios: Option<&std::path::Path>,
    files: &DemoFiles,
) -> String {
    let dial = dial_address(sip);
    let ip = dial.ip();
    let web = dial_address(http);
    let mut text = format!(
        "\n\
         dialbridge demo\n\
         ===============\n\
         SIP:            sip:bridge@{dial}  (UDP and TCP)\n\
         Conference ID:  {conf}\n\
         Organizer PIN:  {pin}  (a new one at every demo start)\n\
         Admin pages:    http://{web}/admin  (sign in with the token in {token})\n\
         \n\
         Callers press:  {conf}#  then  #  (attendee: you wait in the lobby with hold music)\n\
         Organizer:      {conf}#  then  *  then  {pin}#  (starts the meeting; the lobby joins)\n\
         \n",
        token = token.display(),
    );
    let csv = |p: &std::path::Path| shell_word(&p.display().to_string());
    match scenarios.and_then(|s| s.parent().map(|root| (s, root))) {
        Some((_, root)) => {
            // The scenarios stream sip-test-scenarios/caller-tone.ulaw, a path SIPp opens
            // from its working directory: each line runs SIPp from the scenarios' parent.
            let root = shell_word(&root.display().to_string());
            text.push_str(&format!(
                "With SIPp (run it as root: it sends RFC 4733 digits through a raw socket; Debian package\n\
                 sip-tester). Each line works as it is, from any directory. An attendee, who waits 20 s\n\
                 in the lobby:\n\
                 \x20 (cd {root} && sipp {dial} -sf sip-test-scenarios/attendee_rfc4733.xml -inf {att} -m 1 -l 1 -i {ip} -mi {ip} -p 5070 -mp 6000 -d 20000)\n\
                 then, within those 20 s, the organizer, whose PIN starts the meeting and moves the attendee in:\n\
                 \x20 (cd {root} && sipp {dial} -sf sip-test-scenarios/organizer_rfc4733.xml -inf {org} -m 1 -l 1 -i {ip} -mi {ip} -p 5072 -mp 6100 -d 10000)\n",
                att = csv(&files.attendee_csv),
                org = csv(&files.organizer_csv),
            ));
        }
        None => text.push_str(
            "With SIPp: its scenarios were not found (they come with the source, in\n\
             sip-test-scenarios/; run the demo from a checkout: cargo run --release -- demo).\n",
        ),
    }
    let sound = match &files.recordings {
        None => "It talks and listens through the sound card.".to_string(),
        Some(dir) => format!(
            "No sound card here: its microphone is silent for {DEMO_SILENCE_MINUTES} minutes, and\n\
             what it hears is recorded in {}.",
            dir.display()
        ),
    };
    text.push_str(&format!(
        "With baresip (Debian package baresip-core), from any directory; once it answers, type the\n\
         keys above on its console (q quits). {sound}\n\
         \x20 baresip -f {dir} -e \"/dial sip:bridge@{dial}\"\n\
         With any other softphone: dial sip:bridge@{dial} (no registration), then type the keys above.\n\
         \n\
         SIP or HTTP port taken? dialbridge demo --sip-listen {ip}:PORT --http-listen {ip}:PORT\n\
         (and these lines follow). Press Ctrl-C to stop.\n",
        dir = shell_word(&files.baresip_dir.display().to_string()),
    ));
    text
}

pub(crate) async fn demo(
    data_dir: PathBuf,
    mail: MailConfig,
    mail_args: &MailArgs,
    args: DemoArgs,
) -> Result<(), CliError> {
    let directory = Directory::open(&data_dir).await?;
    let existing = directory
        .organizers()
        .await?
        .into_iter()
        .find(|o| o.email == DEMO_EMAIL);
    let actor = cli_actor();
    let (org, pin) = match existing {
        Some(org) => {
            let pin = directory.reset_pin(&actor, org.id).await?;
            if !org.enabled {
                directory
                    .set_organizer_enabled(&actor, org.id, true)
                    .await?;
            }
            (org, pin)
        }
        None => {
            directory
                .add_organizer(&actor, "Demo Organizer", DEMO_EMAIL)
                .await?
        }
    };
    directory.close().await;
    // The printed lines name files by absolute path, so they work from any directory.
    let absolute = data_dir.canonicalize().unwrap_or_else(|_| data_dir.clone());
    let files = write_demo_files(
        &absolute,
        &org.conference_id,
        pin.as_digits(),
        dial_address(args.sip_listen).ip(),
    )?;
    let scenarios = find_scenarios();
    let token_path = absolute.join(dialbridge::admin::auth::ADMIN_TOKEN_FILE);
    let mut config = serve_config(data_dir, mail, mail_args);
    config.sip_listen = args.sip_listen;
    config.rtp_ports = args.rtp_ports;
    config.http_listen = Some(args.http_listen);
    let conf = org.conference_id.clone();
    // Printed once the ports are bound: the lines name the ports it really listens on.
    let on_ready = |bound: &dialbridge::runtime::serve::Bound| {
        let text = demo_banner(
            bound.sip,
            bound.http.unwrap_or(args.http_listen),
            &conf,
            pin.as_digits(),
            &token_path,
            scenarios.as_deref(),
            &files,
        );
        let mut out = std::io::stdout();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    };
    dialbridge::runtime::serve::run(config, on_ready)
        .await
        .map_err(|e| port_error(e, "demo"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> DemoFiles {
        DemoFiles {
            attendee_csv: "/data dir/demo/attendee.csv".into(),
            organizer_csv: "/data dir/demo/organizer.csv".into(),
            baresip_dir: "/data dir/demo/baresip".into(),
            recordings: None,
        }
    }

    #[test]
    fn banner_lines_name_the_bound_ports_and_quote_paths() {
        let sip: SocketAddr = "0.0.0.0:5062".parse().unwrap();
        let http: SocketAddr = "127.0.0.1:8082".parse().unwrap();
        let scenarios = PathBuf::from("/src tree/sip-test-scenarios");
        let text = demo_banner(
            sip,
            http,
            "123456789",
            "12345",
            std::path::Path::new("/d/admin-token"),
            Some(&scenarios),
            &files(),
        );
        assert!(text.contains(
            "  (cd '/src tree' && sipp 127.0.0.1:5062 -sf sip-test-scenarios/attendee_rfc4733.xml \
             -inf '/data dir/demo/attendee.csv' "
        ));
        assert!(text.contains("-inf '/data dir/demo/organizer.csv' "));
        assert!(text.contains(
            "  baresip -f '/data dir/demo/baresip' -e \"/dial sip:bridge@127.0.0.1:5062\""
        ));
        assert!(text.contains("http://127.0.0.1:8082/admin"));
        assert!(!text.contains("5060") && !text.contains("8080"));
    }

    #[test]
    fn without_the_scenarios_the_banner_says_so_instead_of_printing_a_broken_line() {
        let addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let text = demo_banner(
            addr,
            addr,
            "123456789",
            "12345",
            std::path::Path::new("/d/admin-token"),
            None,
            &files(),
        );
        assert!(text.contains("its scenarios were not found"));
        assert!(!text.contains("sipp "));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(shell_word("/a b/it's"), r"'/a b/it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
