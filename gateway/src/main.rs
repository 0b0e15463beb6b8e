//! `gateway`: command line → [`Config`] → serve until SIGTERM or Ctrl-C.

use clap::Parser;
use gateway::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if cli.healthcheck {
        return healthcheck(&cli).await;
    }
    // warp logs every request, and every 4xx at warn: the gateway's own logs say what matters.
    let directives = format!("warp=error,{}", cli.log_level);
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();

    let config = match cli.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut running = match gateway::spawn(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            return std::process::ExitCode::FAILURE;
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
    std::process::ExitCode::SUCCESS
}

async fn healthcheck(cli: &Cli) -> std::process::ExitCode {
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
        Ok(response) if response.status().is_success() => std::process::ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("gateway: {url} answered {}", response.status());
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("gateway: {url}: {e}");
            std::process::ExitCode::FAILURE
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
