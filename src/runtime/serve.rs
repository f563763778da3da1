//! `dialbridge serve`: opens everything, wires the SIP task, the media worker threads, the
//! control task and the admin HTTP server together, and takes them down in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::telemetry::{ClusterGauges, SipGauges, Telemetry, WebhookGauges};
use crate::admin::AppState;
use crate::admin::auth::AdminToken;
use crate::admin::service::AdminService;
use crate::config::ServeConfig;
use crate::directory::Directory;
use crate::engine::WorkerConfig;
use crate::ivr::assets::{AssetError, Assets};
use crate::media::ports::PortPool;
use crate::sip::admission::Admission;
use crate::sip::endpoint::{Endpoint, EndpointConfig};

use super::control::{DirectoryDuties, LockMail, serve_directory};
use super::media::{self as driver, MediaStartError};
use super::sip::{SIP_RECV_BUFFER, SipDriver, grow_recv_buffer};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The SIP port could not be bound.
    #[error("cannot listen for SIP on {addr}: {source}")]
    SipListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The SIP TCP port could not be bound (UDP and TCP share the port number).
    #[error("cannot listen for SIP over TCP on {addr}: {source}")]
    SipTcpListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The SIP TLS port could not be bound.
    #[error("cannot listen for SIP over TLS on {addr}: {source}")]
    SipTlsListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `--sip-tls-listen` without certificate and key files.
    #[error("SIP over TLS needs --tls-cert FILE and --tls-key FILE")]
    TlsFilesMissing,
    /// The TLS certificate, key or client CA file is unusable.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// The RTP range cannot hold a single call.
    #[error("cannot use RTP ports {range}: {reason}")]
    RtpPorts {
        /// The range.
        range: String,
        /// Why.
        reason: String,
    },
    /// `--rtp-send io-uring` batches per-call sockets; per-thread sockets batch by themselves.
    #[error(
        "--rtp-send io-uring works with --rtp-sockets per-call only (per-thread sockets send in sendmmsg batches already)"
    )]
    RtpSendWithSharedSockets,
    /// The database or key could not be opened.
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    /// Prompts or hold music could not be loaded.
    #[error(transparent)]
    Assets(#[from] AssetError),
    /// The media workers could not start.
    #[error(transparent)]
    Media(#[from] MediaStartError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The SIP thread could not be started.
    #[error("cannot start the SIP thread: {0}")]
    SipThread(#[source] std::io::Error),
    /// The admin HTTP port could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    HttpListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The call detail record file cannot be written.
    #[error(transparent)]
    Cdr(#[from] crate::cdr::CdrError),
    /// The admin token could not be set up.
    #[error(transparent)]
    AdminToken(#[from] crate::admin::auth::TokenError),
    /// The mail settings are unusable.
    #[error(transparent)]
    Mail(#[from] crate::notify::NotifyError),
    /// A `--register` address of record, its password file or its registrar is unusable.
    #[error(transparent)]
    Registration(#[from] super::registration::RegistrationSetupError),
    /// Cluster limits on a node with no shared directory.
    #[error(
        "--cluster-max-calls and --cluster-max-call-rate limit the nodes sharing a PostgreSQL directory: \
         give --database-url postgres://…, or limit this node alone with --max-calls and --max-call-rate"
    )]
    ClusterLimitsAlone,
    /// This node cannot join the cluster (its name is taken, or the database failed).
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] crate::store::HeartbeatError),
    /// The cluster secret file is unusable.
    #[error(transparent)]
    ClusterSecret(#[from] crate::cluster::leg::LegKeyError),
    /// A `--webhook-url` or the webhook secret file is unusable.
    #[error(transparent)]
    Webhooks(#[from] super::webhooks::WebhookSetupError),
}

/// A running bridge's addresses, reported once everything is bound.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The SIP UDP address actually bound.
    pub sip: SocketAddr,
    /// The admin HTTP address, if served.
    pub http: Option<SocketAddr>,
    /// The SIP TLS address, if served.
    pub sip_tls: Option<SocketAddr>,
}

/// The dial-in text for e-mails: the configured numbers, or our own SIP address.
pub fn dial_in(config: &ServeConfig, sip: SocketAddr) -> crate::notify::DialIn {
    let numbers = if config.dial_in.is_empty() {
        let ip = config.media_ip.unwrap_or(sip.ip());
        vec![format!("sip:bridge@{}", SocketAddr::new(ip, sip.port()))]
    } else {
        config.dial_in.clone()
    };
    crate::notify::DialIn {
        numbers,
        instructions: String::new(),
    }
}

/// Writes each e-mail's final delivery outcome to the audit log (never its body).
pub fn audit_mail_events(
    mailer: &crate::notify::Mailer,
    directory: Directory,
) -> tokio::task::JoinHandle<()> {
    let mut events = mailer.subscribe();
    let source = if mailer.outbox_dir().is_some() {
        "outbox"
    } else {
        "smtp"
    };
    tokio::spawn(async move {
        let actor = crate::directory::Actor {
            who: "mailer".into(),
            source: source.into(),
        };
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "mail events were missed in the audit log");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let (action, detail) = match &event.status {
                crate::notify::MailStatus::Sent => (
                    "mail.sent",
                    format!("{:?} ticket={}", event.kind, event.ticket.0),
                ),
                crate::notify::MailStatus::Failed { last_error } => (
                    "mail.failed",
                    format!(
                        "{:?} ticket={} error={last_error}",
                        event.kind, event.ticket.0
                    ),
                ),
                _ => continue,
            };
            directory
                .record(&actor, action, event.organizer_id, &detail)
                .await;
        }
    })
}

/// Opens everything, then serves until SIGINT/SIGTERM. `on_ready` runs once bound.
pub async fn run(config: ServeConfig, on_ready: impl FnOnce(&Bound)) -> Result<(), ServeError> {
    raise_fd_limit();
    // Everything that can fail on bad flags is checked before the data directory is touched,
    // so a mistyped command changes nothing.
    let assets = Arc::new(match &config.assets_dir {
        Some(dir) => Assets::from_dir(dir)?,
        None => Assets::bundled()?,
    });
    // The TLS files are checked before anything is bound: a wrong one stops the start.
    if config.database_url.is_none()
        && (config.admission.cluster_max_calls > 0 || config.admission.cluster_max_rate > 0.0)
    {
        return Err(ServeError::ClusterLimitsAlone);
    }
    let tls = match (config.sip_tls_listen, &config.tls) {
        (None, _) => None,
        (Some(_), None) => return Err(ServeError::TlsFilesMissing),
        (Some(_), Some(files)) => Some(super::tls::TlsSettings::load(files.clone())?),
    };
    // So are the registrations: their password files and registrars' names.
    let registering = super::registration::prepare(&config).await?;
    let connector =
        super::registration::Connector::new(&registering, config.register_ca.as_deref())?;
    // And the webhooks: their URLs and secret file.
    let webhooks = super::webhooks::prepare(&config.webhooks)?;
    // And the cluster secret that relay legs are signed with.
    let legs = match &config.cluster_secret_file {
        Some(path) => Some(Arc::new(crate::cluster::leg::LegKey::load(path)?)),
        None => None,
    };
    // And the right to real-time media threads.
    if let Some(priority) = config.media_realtime_priority {
        super::realtime::check(priority)
            .map_err(|source| driver::MediaStartError::Realtime { priority, source })?;
    }
    // And RTP socket modes that work together.
    if config.rtp_sockets == crate::config::RtpSockets::PerThread
        && config.rtp_send == crate::config::RtpSend::IoUring
    {
        return Err(ServeError::RtpSendWithSharedSockets);
    }
    let socket =
        UdpSocket::bind(config.sip_listen)
            .await
            .map_err(|source| ServeError::SipListen {
                addr: config.sip_listen,
                source,
            })?;
    // TCP on the same port number as UDP (which may have been picked by the system).
    let tcp_addr = socket.local_addr().unwrap_or(config.sip_listen);
    let tcp_listener = tokio::net::TcpListener::bind(tcp_addr)
        .await
        .and_then(|l| l.into_std())
        .map_err(|source| ServeError::SipTcpListen {
            addr: tcp_addr,
            source,
        })?;
    let tls_listener = match config.sip_tls_listen {
        None => None,
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .and_then(|l| l.into_std())
                .map_err(|source| ServeError::SipTlsListen { addr, source })?,
        ),
    };
    let sip_buffer = grow_recv_buffer(&socket, SIP_RECV_BUFFER);
    if sip_buffer < SIP_RECV_BUFFER / 2 {
        tracing::warn!(
            bytes = sip_buffer,
            "small SIP receive buffer: bursts of requests may be dropped; raise net.core.rmem_max or run with CAP_NET_ADMIN"
        );
    }
    let http_listener = match config.http_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::HttpListen { addr, source })?,
        ),
        None => None,
    };
    let bound = Bound {
        sip: socket.local_addr().unwrap_or(config.sip_listen),
        http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
        sip_tls: tls_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let bind_ip = config.sip_listen.ip();
    let pool = PortPool::new(config.rtp_ports.low, config.rtp_ports.high);
    if pool.capacity() == 0 {
        return Err(ServeError::RtpPorts {
            range: config.rtp_ports.to_string(),
            reason: "no even port in the range".into(),
        });
    }
    // Fail now, not at the first call, if the range cannot be bound at all.
    match pool.bind(bind_ip) {
        Ok(probe) => drop(probe),
        Err(err) => {
            return Err(ServeError::RtpPorts {
                range: config.rtp_ports.to_string(),
                reason: err.to_string(),
            });
        }
    }

    let directory = Directory::open_at(&config.data_dir, config.database_url.as_ref()).await?;
    let cdr_path = config.cdr_file.clone().map(|p| {
        if p.is_relative() && p.parent().is_none_or(|d| d.as_os_str().is_empty()) {
            config.data_dir.join(p)
        } else {
            p
        }
    });
    let cdr = match crate::cdr::CdrLog::open(cdr_path.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            directory.close().await;
            return Err(err.into());
        }
    };
    let mailer = match crate::notify::Mailer::start(config.mail.clone(), &config.data_dir) {
        Ok(m) => m,
        Err(err) => {
            directory.close().await;
            return Err(err.into());
        }
    };
    // Runs as long as the mailer; the bridge never waits for it.
    let _mail_audit = audit_mail_events(&mailer, directory.clone());
    let webhook_gauges = Arc::new(WebhookGauges::default());
    let webhooks = match webhooks {
        Some(prepared) => Some(
            super::webhooks::Webhooks::start(
                prepared,
                directory.clone(),
                Arc::clone(&webhook_gauges),
            )
            .await,
        ),
        None => None,
    };
    let (event_sink, event_subscribers) =
        super::events::start(webhooks, Arc::clone(&webhook_gauges));

    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let worker_config = WorkerConfig {
        ivr: config.ivr.clone(),
        rtp_timeout: config.rtp_timeout,
        lobby_timeout: config.lobby_timeout,
        lobby_admit: config.lobby_admit,
        lobby_mail_after: config.lobby_mail_after,
        tick_slices: config.media_slices,
        ..WorkerConfig::default()
    };
    let sip_control = control_tx.clone();
    let shared = match config.rtp_sockets {
        crate::config::RtpSockets::PerCall => Vec::new(),
        crate::config::RtpSockets::PerThread => (0..config.media_threads.max(1))
            .map(|worker| {
                super::shared_rtp::SharedRtp::bind(&pool, bind_ip, worker)
                    .map(Arc::new)
                    .map_err(|err| ServeError::RtpPorts {
                        range: config.rtp_ports.to_string(),
                        reason: err.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let (media, threads) = driver::start(
        driver::MediaThreads {
            count: config.media_threads,
            rtp_send: config.rtp_send,
            realtime_priority: config.media_realtime_priority,
        },
        shared,
        assets,
        worker_config,
        control_tx,
        event_sink.clone(),
    )?;

    let (hangup_tx, hangup_rx) = mpsc::unbounded_channel();
    // Where organizers reach the web pages: the configured URL, else the HTTP listener.
    let public_url = config
        .public_url
        .clone()
        .or_else(|| bound.http.map(|a| format!("http://{a}")));
    let lock_mail = LockMail {
        mailer: mailer.clone(),
        admins: config.admin_emails.clone(),
        self_service_url: public_url
            .as_deref()
            .map(|base| format!("{}/self-service", base.trim_end_matches('/'))),
    };
    let sip_gauges = Arc::new(SipGauges::default());
    let cluster_gauges = Arc::new(ClusterGauges::default());
    let node_name = config
        .node_name
        .clone()
        .unwrap_or_else(crate::cluster::default_node_name);
    // Relay legs to other nodes: with a shared directory and a cluster secret.
    let (relay_tx, relay_rx) = mpsc::unbounded_channel();
    let relays = match (&config.database_url, &legs) {
        (Some(_), Some(key)) => Some(super::relay_legs::RelayLegs::new(
            Arc::clone(key),
            node_name.clone(),
            config.timers,
        )),
        _ => None,
    };
    let relay_tx = relays.is_some().then_some(relay_tx);
    // A PostgreSQL directory may be shared with other nodes: join the cluster on it.
    let cluster = match &config.database_url {
        None => None,
        Some(_) => {
            let identity = crate::cluster::NodeIdentity {
                name: node_name.clone(),
                advertise: config.cluster_advertise.unwrap_or(bound.sip).to_string(),
            };
            let joined = super::cluster::join(
                directory.store().clone(),
                identity,
                Arc::clone(&media) as Arc<dyn crate::admin::service::LiveMeetings>,
                Arc::clone(&sip_gauges),
                Arc::clone(&cluster_gauges),
            )
            .await;
            match joined {
                Ok(joined) => Some(joined),
                Err(err) => {
                    media.shutdown();
                    for t in threads {
                        let _ = t.join();
                    }
                    directory.close().await;
                    return Err(err.into());
                }
            }
        }
    };
    let (cluster_handle, cluster_driver) = match cluster {
        Some((handle, driver)) => (Some(handle), Some(driver)),
        None => (None, None),
    };
    let directory_task = tokio::spawn(serve_directory(
        directory.clone(),
        Arc::clone(&media),
        control_rx,
        DirectoryDuties {
            cdr,
            hangups: hangup_tx,
            lock_mail,
            guessing: config.guessing,
            gauges: Arc::clone(&sip_gauges),
            events: event_sink.clone(),
            cluster: cluster_handle.clone(),
            relays: relay_tx,
        },
    ));

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signals)?;
    // SIGHUP: read the TLS files again. New connections take the new certificate; those up
    // (and their calls) keep theirs; a reload that fails keeps the old one.
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(ServeError::Signals)?;
    let reloading = tls.clone();
    tokio::spawn(async move {
        while sighup.recv().await.is_some() {
            match &reloading {
                None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                // File reads: off the runtime's workers.
                Some(tls) => match tokio::task::spawn_blocking({
                    let tls = tls.clone();
                    move || tls.reload()
                })
                .await
                {
                    Err(_) => tracing::error!("SIGHUP: the TLS reload stopped unexpectedly"),
                    Ok(Ok(())) => tracing::info!(
                        "SIGHUP: TLS certificate and key reloaded; new connections use them"
                    ),
                    Ok(Err(err)) => tracing::error!(
                        error = %err,
                        "SIGHUP: TLS reload failed; keeping the certificate in use"
                    ),
                },
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The admin server stops only once the SIP task has finished, so that `/metrics` and the
    // API keep answering while a node drains (`--drain-timeout`) and says goodbye.
    let (http_stop_tx, http_stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        let _ = stop_tx.send(true);
    };

    let telemetry = Arc::new(Telemetry {
        media: media.gauges().to_vec(),
        sip: Arc::clone(&sip_gauges),
        webhooks: webhook_gauges,
        cluster: Arc::clone(&cluster_gauges),
    });
    // The leases are kept while the node drains: its meetings go on until the SIP task ends.
    let cluster_task = cluster_driver.map(|driver| tokio::spawn(driver.run(http_stop_rx.clone())));
    // On a cluster, a meeting started through the API starts on the node hosting it, and
    // this node starts the ones other nodes pass to it.
    let live_meetings: Arc<dyn crate::admin::service::LiveMeetings> = match &cluster_handle {
        Some(handle) => {
            tokio::spawn(super::cluster::serve_starts(
                directory.clone(),
                node_name.clone(),
                Arc::clone(&media),
                http_stop_rx.clone(),
            ));
            Arc::new(super::cluster::ClusterMeetings::new(
                Arc::clone(&media),
                handle.clone(),
            ))
        }
        None => Arc::clone(&media) as Arc<dyn crate::admin::service::LiveMeetings>,
    };
    let http_task = match http_listener {
        Some(listener) => {
            let service = AdminService::new(
                directory.clone(),
                mailer.clone(),
                Some(live_meetings),
                dial_in(&config, bound.sip),
                public_url.as_deref().unwrap_or_default(),
            );
            let state = Arc::new(AppState {
                service,
                token: AdminToken::load_or_create(&config.data_dir)?,
                sessions: Default::default(),
                telemetry: Some(Arc::clone(&telemetry) as Arc<dyn crate::metrics::Exposition>),
                events: Some(event_subscribers.clone()),
            });
            let mut stop = http_stop_rx.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(err) = crate::admin::serve(listener, state, stopped).await {
                    tracing::error!(error = %err, "admin HTTP server failed");
                }
            }))
        }
        None => None,
    };

    let admin_url = bound
        .http
        .and_then(|addr| write_admin_url(&config.data_dir, addr));
    tracing::info!(sip = %bound.sip, sip_tls = ?bound.sip_tls, http = ?bound.http, rtp = %config.rtp_ports, media_threads = media.workers(), "dialbridge is listening");
    on_ready(&bound);

    let endpoint = Endpoint::new(
        EndpointConfig {
            timers: config.timers,
            answer_delay: config.answer_delay,
            server_name: "dialbridge".into(),
            sip_port: bound.sip.port(),
            tls_port: bound.sip_tls.map_or(0, |a| a.port()),
            sip_domain: config.sip_domain.clone(),
            srtp: config.srtp,
            srtp_over_cleartext: config.srtp_over_cleartext_sip,
        },
        // Tags and branches unpredictable to anyone on the path: seeded from the OS.
        rand::make_rng::<rand::rngs::StdRng>(),
    );
    // The SIP task gets a thread and a reactor of its own: a datagram wakes it directly,
    // not after a busy worker of the shared runtime gets round to polling for I/O, so a
    // burst of INVITEs never waits behind directory queries or the admin pages.
    let socket = socket.into_std().map_err(ServeError::SipThread)?;
    let sip_media = Arc::clone(&media);
    let media_ip = config
        .media_ip
        .or(config.public_address)
        .or((!bind_ip.is_unspecified()).then_some(bind_ip));
    let gauges = Arc::clone(&sip_gauges);
    let admission = config.admission;
    let cluster_load = cluster_handle
        .is_some()
        .then(|| Arc::clone(&cluster_gauges));
    // The registrars send the calls for the numbers registered there: they count as trusted.
    let trusted = config.trusted_networks.clone().map(|mut nets| {
        nets.extend(
            registering
                .iter()
                .map(|p| ipnet::IpNet::from(p.registrar().ip())),
        );
        nets
    });
    let registrations = super::registration::start(
        registering,
        &config,
        bound.sip,
        bound.sip_tls,
        config.timers,
        &sip_gauges,
    );
    let untrusted = config.untrusted;
    let tcp_limits = config.tcp;
    match &trusted {
        None => tracing::warn!(
            "no --trusted-networks: taking SIP from anywhere; set it to your trunks' networks"
        ),
        Some(nets) => {
            tracing::info!(networks = ?nets, action = ?untrusted, "taking SIP only from trusted networks")
        }
    }
    let mut sip_stop = stop_rx.clone();
    // Dropped when the SIP thread ends for any reason, so a failed start stops the server.
    let (sip_alive, sip_ended) = tokio::sync::oneshot::channel::<()>();
    let sip_thread = std::thread::Builder::new()
        .name("sip".into())
        .spawn(move || -> Result<(), std::io::Error> {
            let _alive = sip_alive;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                // A tokio socket belongs to the reactor it is registered with: this one.
                let (tcp_tx, tcp_rx) = mpsc::channel(1024);
                let tls_listener = match tls_listener {
                    Some(l) => Some(tokio::net::TcpListener::from_std(l)?),
                    None => None,
                };
                let tls = match tls {
                    Some(settings) => Some(super::sip_tcp::TcpConnections::new_tls(
                        tcp_limits,
                        tcp_tx.clone(),
                        settings,
                    )),
                    // Registering over TLS without serving it: the connections the bridge
                    // opens to its registrars still need a home.
                    None if connector.has_tls() => Some(
                        super::sip_tcp::TcpConnections::new_tls_clients(tcp_limits, tcp_tx.clone()),
                    ),
                    None => None,
                };
                let mut sip = SipDriver {
                    socket: UdpSocket::from_std(socket)?,
                    tcp_listener: tokio::net::TcpListener::from_std(tcp_listener)?,
                    tcp: super::sip_tcp::TcpConnections::new(tcp_limits, tcp_tx),
                    tls_listener,
                    tls,
                    handshake_log: Default::default(),
                    tcp_rx,
                    tcp_calls: HashMap::new(),
                    control: sip_control,
                    draining: None,
                    drain_timeout: config.drain_timeout,
                    drain_until: None,
                    admission: Admission::new(admission),
                    trusted,
                    untrusted,
                    endpoint,
                    media: sip_media,
                    pool,
                    bind_ip,
                    media_ip,
                    pending: HashMap::new(),
                    route_cache: HashMap::new(),
                    gauges,
                    registrations,
                    connector,
                    legs,
                    relays,
                    relay_rx,
                    cluster_load,
                    legs_in: Default::default(),
                };
                let stopped = async move {
                    let _ = sip_stop.wait_for(|s| *s).await;
                };
                sip.run(hangup_rx, stopped).await;
                Ok(())
            })
        })
        .map_err(ServeError::SipThread)?;
    tokio::select! {
        _ = shutdown => {}
        _ = sip_ended => {}
    }
    let sip_result = tokio::task::spawn_blocking(move || sip_thread.join())
        .await
        .ok()
        .and_then(Result::ok);
    match sip_result {
        Some(Ok(())) => {}
        Some(Err(err)) => tracing::error!(error = %err, "the SIP task could not run"),
        None => tracing::error!("the SIP task stopped unexpectedly"),
    }

    tracing::info!("shutting down");
    let _ = http_stop_tx.send(true);
    media.shutdown();
    for t in threads {
        let _ = t.join();
    }
    directory_task.abort();
    if let Some(task) = cluster_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
    }
    if let Some(task) = http_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
    }
    if let Some(path) = admin_url {
        let _ = std::fs::remove_file(path);
    }
    mailer.shutdown().await;
    directory.close().await;
    drop(stop_rx);
    Ok(())
}

/// Tells commands on this machine (`dialbridge meetings`) where the admin API listens: its
/// URL in DATA_DIR/admin-url (a loopback address when listening on all); the file's path.
fn write_admin_url(
    data_dir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> Option<std::path::PathBuf> {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = format!("http://{}\n", std::net::SocketAddr::new(ip, addr.port()));
    let path = data_dir.join(crate::admin::auth::ADMIN_URL_FILE);
    match std::fs::write(&path, url) {
        Ok(()) => Some(path),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot write the admin URL file: `dialbridge meetings` needs --url");
            None
        }
    }
}

/// Lets the process hold one socket per call: raise the soft descriptor limit to the hard one.
pub(super) fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
