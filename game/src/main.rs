//! `game`: the office window. Native reads `--gateway`/`ESPRIT_GATEWAY`; the
//! browser build uses the page's origin (or `?gateway=`).

use bevy::prelude::*;
use game::AppPlugin;
#[cfg(not(target_arch = "wasm32"))]
use game::gateway_link::GatewaySettings;

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser, Debug)]
#[command(name = "game", about = "Esprit-Hub office: your agents at their desks")]
struct Cli {
    /// The gateway's URL.
    #[arg(long, env = "ESPRIT_GATEWAY", default_value = "http://127.0.0.1:3001")]
    gateway: String,
    /// A viewer or operator token, for a gateway with auth.
    #[arg(long, env = "ESPRIT_TOKEN")]
    token: Option<String>,
    /// An office layout to use instead of the built-in one.
    #[arg(long, env = "ESPRIT_OFFICE")]
    office: Option<std::path::PathBuf>,
    /// Measure frame times for this many seconds (after a warm-up), print them and exit.
    #[arg(long)]
    frame_stats: Option<f64>,
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    let office = match cli
        .office
        .as_deref()
        .map(game::office::layout::OfficeLayout::load)
        .transpose()
    {
        Ok(office) => office,
        Err(e) => {
            eprintln!("game: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let gateway = GatewaySettings {
        base_url: cli.gateway.trim_end_matches('/').to_owned(),
        token: cli.token,
    };
    let mut app = App::new();
    app.add_plugins(AppPlugin { gateway, office });
    if let Some(secs) = cli.frame_stats {
        app.insert_resource(game::frame_stats::FrameStats::new(
            started,
            std::time::Duration::from_secs_f64(secs),
        ))
        .add_plugins(game::frame_stats::plugin);
    }
    app.run();
    std::process::ExitCode::SUCCESS
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let gateway = game::web::gateway_from_page();
    App::new()
        .add_plugins(AppPlugin {
            gateway,
            office: None,
        })
        .run();
}
