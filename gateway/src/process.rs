//! The gateway process: command line → [`Config`](crate::Config) → serve until SIGTERM or
//! Ctrl-C. It lives in the library, not in `main.rs`: a release binary
//! that polls the server's futures itself re-instantiates their drop glue
//! and builds much slower.

use crate::Cli;
use std::process::ExitCode;

/// Runs the gateway process for a parsed command line: `--healthcheck` asks
/// a running gateway, anything else serves until SIGTERM or Ctrl-C.
pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    if cli.healthcheck {
        return healthcheck(&cli).await;
    }
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(cli.log_level.clone())
        .with(tracing_subscriber::fmt::layer().with_target(false))
        .init();

    let config = match cli.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let mut running = match crate::spawn(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("Esprit-Hub gateway on {}", running.url());
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down: ending streams, flushing the store");
            running.shutdown().await;
        }
        _ = running.wait() => {}
    }
    ExitCode::SUCCESS
}

async fn healthcheck(cli: &Cli) -> ExitCode {
    let ip = match cli.bind {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = format!("http://{}/healthz", std::net::SocketAddr::new(ip, cli.port));
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("gateway: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("gateway: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
