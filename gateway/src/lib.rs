//! The Esprit-Hub gateway: the SSE hub every office watches, the agent
//! registry, and the run backends that start workflows.
//!
//! [`spawn`] builds the whole app from a [`Config`] and serves it; `main` and
//! the tests both go through it. How a run flows through the modules is in
//! `docs/architecture.md`.

pub mod auth;
pub mod backends;
pub mod budget;
pub mod config;
pub mod core;
pub mod hub;
pub mod metrics;
pub mod otel;
pub mod outbound;
pub mod process;
#[cfg(test)]
mod properties;
pub mod registry;
mod routes;
pub mod server;
pub mod sim;
pub mod store;
pub mod watch;
pub mod workspace;

pub use config::{Cli, Config};

use anyhow::Context;
use auth::{Authenticator, RunTokens};
use backends::{Backends, flow::FlowBackend, sim::SimBackend, webhook::WebhookBackend};
use core::{CommitFanout, CoreSettings, Service, ServiceParts, StatusBoard};
use hub::EventHub;
use outbound::Outbound;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use store::{EventLog, RetentionPolicy, SqliteStore, Stores};
use tokio::sync::oneshot;

/// A running gateway: its address, its core, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _watcher: Option<watch::RegistryWatcher>,
    /// Dropped last: the streams' threads outlive the server that hands them work.
    _writers: server::StreamWriters,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, ends streams with a retry hint, flushes the store.
    pub async fn shutdown(mut self) {
        self.service.stop_streams();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.service.close_store().await;
    }

    /// Waits until the server stops by itself (it does not, short of a signal).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

/// A name for this process among gateways sharing a store.
fn instance_id() -> String {
    let bytes: [u8; 4] = rand::random();
    format!("gw-{}-{}", std::process::id(), hex::encode(bytes))
}

/// Loads the registry, opens the store, binds and serves.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    metrics::init();
    let registry = Registry::load(&config.agent_map_file)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let self_url = format!("http://{addr}");
    let instance = config.gateway_id.clone().unwrap_or_else(instance_id);

    let outbound = Outbound::new(config.outbound.clone());
    let sim_link = sim::SimLink::new(&outbound, &config.sim);
    let backends = Arc::new(backends(&config, &self_url, outbound, sim_link.clone())?);
    let hub = Arc::new(EventHub::new(config.subscriber_queue));
    let board = Arc::new(StatusBoard::default());
    let run_tokens = RunTokens::default();
    let fanout = Arc::new(CommitFanout::new(
        board.clone(),
        hub.clone(),
        run_tokens.clone(),
        backends.clone(),
    ));
    let store = open_store(&config, &instance, fanout.clone()).await?;
    let service = Service::new(ServiceParts {
        registry,
        store: store.clone(),
        hub,
        board,
        auth: authenticator(&config, run_tokens)?,
        backends,
        settings: CoreSettings {
            public_url: config.public_url.clone().unwrap_or(self_url),
            sim: config.sim.clone(),
            instance,
            run_deadline: config.run_deadline,
            session_lifetime: config.auth.session_lifetime,
            telemetry: config.telemetry,
        },
    });
    fanout.on_roster({
        let service = Arc::downgrade(&service);
        // Commits are told on the store's own thread: the reload runs here.
        let runtime = tokio::runtime::Handle::current();
        move || {
            if let Some(service) = service.upgrade() {
                runtime.spawn(async move {
                    if let Err(e) = service.reload_synced().await {
                        tracing::warn!(error = %e, "cannot read the synced Sim roster");
                    }
                });
            }
        }
    });
    fanout.on_checkpoint({
        let service = Arc::downgrade(&service);
        let runtime = tokio::runtime::Handle::current();
        move |id, snapshot| {
            if let Some(service) = service.upgrade() {
                runtime.spawn(async move {
                    if let Err(e) = service.keep_checkpoint(id, snapshot).await {
                        tracing::warn!(id, error = %e, "checkpoint not kept");
                    }
                });
            }
        }
    });
    service.restore().await?;
    // Runs left open by a process that is gone end now, not after their deadline.
    service.sweep_runs().await?;
    service.spawn_sweeper(config.run_sweep);
    service.spawn_telemetry();
    if let Some(link) = sim_link.filter(|link| link.mirrors()) {
        workspace::spawn(
            service.clone(),
            link,
            workspace::MirrorSettings {
                poll: config.sim.poll,
                roster: config.sim.roster_every,
            },
        );
    }

    let watcher = watch::RegistryWatcher::start(
        service.clone(),
        config.agent_map_file.clone(),
        config.flows_dir.clone(),
        config.auth.users_file.clone(),
    )
    .map_err(|e| tracing::warn!(error = %e, "file watching is off; edit-and-reload will not work"))
    .ok();
    spawn_retention(store.log, config.retention);
    if config.demo {
        service.spawn_demo();
    }
    let writers = server::StreamWriters::start(config.stream_nice)
        .context("cannot start the stream writer threads")?;
    let (server, shutdown) = serve(listener, service.clone(), writers.handle(), &config);
    tracing::info!(%addr, agents = service.registry().agents().len(), "gateway listening");
    Ok(Running {
        addr,
        service,
        shutdown: Some(shutdown),
        server,
        _watcher: watcher,
        _writers: writers,
    })
}

/// The run backends: webhooks, Sim's API, and the embedded flows (loaded now).
fn backends(
    config: &Config,
    self_url: &str,
    outbound: Outbound,
    sim_link: Option<Arc<sim::SimLink>>,
) -> anyhow::Result<Backends> {
    let flows = FlowBackend::new(
        config.flows_dir.clone(),
        outbound.clone(),
        self_url.to_owned(),
        config.flow_seed,
    );
    flows.load_all()?;
    Ok(Backends::new(
        WebhookBackend::new(outbound.clone()),
        SimBackend::new(outbound, config.sim.clone(), sim_link),
        flows,
    ))
}

/// The store the config names, telling `listener` of every commit.
async fn open_store(
    config: &Config,
    instance: &str,
    listener: Arc<CommitFanout>,
) -> anyhow::Result<Stores> {
    Ok(match &config.store {
        config::StoreKind::Sqlite => Stores::of(Arc::new(
            SqliteStore::open(
                &config.data_dir,
                config.store_sync,
                instance.to_owned(),
                listener,
            )
            .with_context(|| {
                format!(
                    "cannot open the event store in {}",
                    config.data_dir.display()
                )
            })?,
        )),
        config::StoreKind::Redis {
            url,
            prefix,
            instance_ttl,
        } => Stores::of(Arc::new(
            store::RedisStore::open(
                store::RedisSettings {
                    url: url.clone(),
                    prefix: prefix.clone(),
                    instance: instance.to_owned(),
                    instance_ttl: *instance_ttl,
                },
                listener,
            )
            .await
            .context("cannot open the event store in Redis (STORE_URL)")?,
        )),
    })
}

/// Serves the API and the office on `listener` until the sender is used,
/// writing streams on `writers`.
fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    writers: tokio::runtime::Handle,
    config: &Config,
) -> (tokio::task::JoinHandle<()>, oneshot::Sender<()>) {
    let settings = routes::RouteSettings {
        body_limit: config.body_limit,
        keepalive: config.keepalive,
        web_dist: config.web_dist.clone(),
        office_dir: config.office_dir.clone(),
        body_timeout: config.limits.body_timeout,
        gathering: config.stream_gathering,
        office_gateways: config.office_gateways.clone(),
        metrics_token: config.metrics_token.as_deref().map(auth::digest),
    };
    let edge = routes::Edge::new(config.edge.clone(), config.auth.secure_cookies);
    edge.spawn_housekeeping();
    let (tx, rx) = oneshot::channel::<()>();
    let streams = routes::StreamEndpoint::new(service.clone(), &settings, edge.clone());
    let app = warp::service(routes::all(service, settings, edge, streams.clone()));
    let server = tokio::spawn(server::serve(
        listener,
        app,
        streams,
        writers,
        config.limits.server.clone(),
        async {
            let _ = rx.await;
        },
    ));
    (server, tx)
}

/// Configured tokens, the users file and the JWT key, checked now.
fn authenticator(config: &Config, runs: RunTokens) -> anyhow::Result<Authenticator> {
    let users = match &config.auth.users_file {
        Some(path) => Some(auth::users::load(path)?),
        None => None,
    };
    let jwt = match &config.auth.jwt {
        None => None,
        Some(settings) => {
            let (issuer, audience) = (settings.issuer.as_deref(), settings.audience.as_str());
            Some(match &settings.key {
                config::JwtKey::Secret(secret) => {
                    auth::jwt::JwtVerifier::shared_secret(secret.as_bytes(), issuer, audience)
                }
                config::JwtKey::PublicKeyFile(path) => {
                    auth::jwt::JwtVerifier::public_key(path, issuer, audience)?
                }
            })
        }
    };
    Ok(Authenticator::new(
        config.auth.tokens.clone(),
        users,
        jwt,
        runs,
    ))
}

fn spawn_retention(store: Arc<dyn EventLog>, retention: config::Retention) {
    let policy = RetentionPolicy {
        events_per_npc: retention.events_per_npc,
        max_age_secs: retention.max_age.as_secs(),
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            every.tick().await;
            match store.prune(policy).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "retention pruned old events"),
                Err(store::StoreError::Closed) => break,
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
    });
}
