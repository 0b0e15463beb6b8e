//! The Esprit-Hub gateway: the SSE hub every office watches, the agent
//! registry, and the webhook routing that starts runs.
//!
//! [`spawn`] builds the whole app from a [`Config`] and serves it; `main` and
//! the tests both go through it.

pub mod auth;
pub mod config;
pub mod error;
pub mod flows;
pub mod hub;
pub mod metrics;
pub mod registry;
pub mod routes;
pub mod service;
pub mod sim;
pub mod store;
pub mod watch;
pub mod webhook;

pub use config::{Cli, Config};

use anyhow::Context;
use auth::{Authenticator, RunTokens};
use hub::EventHub;
use registry::Registry;
use service::{CommitFanout, Service, StatusBoard};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use store::{EventStore, RetentionPolicy, SqliteStore};
use tokio::sync::oneshot;

/// A running gateway: its address, its core, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    shutdown: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _watcher: Option<watch::RegistryWatcher>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, ends streams with a retry hint, flushes the store.
    pub async fn shutdown(mut self) {
        self.service.hub.shut_down();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.service.store.close().await;
    }

    /// Waits until the server stops by itself (it does not, short of a signal).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

/// Loads the registry, opens the store, binds and serves.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    metrics::init();
    let registry = Registry::load(&config.agent_map_file)?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;

    let hub = Arc::new(EventHub::new(config.subscriber_queue));
    let board = Arc::new(StatusBoard::default());
    let auth = Authenticator {
        tokens: config.tokens.clone(),
        runs: RunTokens::default(),
    };
    let fanout = Arc::new(CommitFanout {
        board: board.clone(),
        hub: hub.clone(),
        auth: auth.clone(),
    });
    let store: Arc<dyn EventStore> = Arc::new(
        SqliteStore::open(&config.data_dir, config.store_sync, fanout).with_context(|| {
            format!(
                "cannot open the event store in {}",
                config.data_dir.display()
            )
        })?,
    );
    let self_url = format!("http://{addr}");
    let service = Arc::new(Service {
        registry: RwLock::new(Arc::new(registry)),
        store: store.clone(),
        hub,
        board,
        auth,
        webhooks: webhook::WebhookClient::new(config.webhook.clone()),
        sim: config.sim.clone(),
        public_url: config
            .public_url
            .clone()
            .unwrap_or_else(|| self_url.clone()),
        flows: flows::FlowRunner::new(config.flows_dir.clone(), self_url.clone()),
        self_url,
        answering: Default::default(),
    });
    service.restore().await?;
    service.flows.load_all()?;

    let watcher = watch::RegistryWatcher::start(
        service.clone(),
        config.agent_map_file.clone(),
        config.flows_dir.clone(),
    )
    .map_err(|e| tracing::warn!(error = %e, "file watching is off; edit-and-reload will not work"))
    .ok();
    spawn_retention(store, config.retention);
    if config.demo {
        flows::spawn_demo(service.clone());
    }

    let settings = routes::RouteSettings {
        body_limit: config.body_limit,
        keepalive: config.keepalive,
        web_dist: config.web_dist.clone(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let filter = routes::all(service.clone(), settings);
    let server = tokio::spawn(
        warp::serve(filter)
            .incoming(listener)
            .graceful(async {
                let _ = rx.await;
            })
            .run(),
    );
    tracing::info!(%addr, agents = service.registry().agents().len(), "gateway listening");
    Ok(Running {
        addr,
        service,
        shutdown: Some(tx),
        server,
        _watcher: watcher,
    })
}

fn spawn_retention(store: Arc<dyn EventStore>, retention: config::Retention) {
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
