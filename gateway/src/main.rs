//! `gateway`: command line → [`Config`] → serve until SIGTERM or Ctrl-C.

use clap::Parser;
use gateway::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // warp logs every request at info; that belongs at debug for a hub serving thousands.
    let directives = format!("warp=warn,{}", cli.log_level);
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp=warn"));
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
