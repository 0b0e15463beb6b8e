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
    /// An office map (`.tmj`, saved by Tiled) to start from instead of the
    /// built-in one; the gateway's map replaces it once loaded.
    #[arg(long, env = "ESPRIT_OFFICE")]
    office: Option<std::path::PathBuf>,
    /// Where the desktop keeps the person's switches (the chime) between runs
    /// [default: `office.ron` in `esprit-hub` in the user's config directory].
    #[arg(long, env = "ESPRIT_PREFERENCES")]
    preferences: Option<std::path::PathBuf>,
    /// Open the office as it stood at this moment (`2026-12-06T03:00:00Z`,
    /// `"2026-12-06 03:00"` in local time, or ms since the epoch) instead of now.
    #[arg(long, value_parser = parse_moment)]
    at: Option<i64>,
    /// Measure frame times for this many seconds (after a warm-up), print them and exit.
    #[arg(long)]
    frame_stats: Option<f64>,
    /// `on-demand` draws only when something changes or moves; `continuous`
    /// draws every frame the display takes (the default with --frame-stats).
    #[arg(long, value_enum)]
    render: Option<Pace>,
    /// Idle characters get up almost at once and come back soon (to measure
    /// a walking office).
    #[arg(long, hide = true)]
    restless: bool,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Pace {
    OnDemand,
    Continuous,
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    let office = match cli.office.as_deref().map(load_office).transpose() {
        Ok(office) => office,
        Err(e) => {
            eprintln!("game: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let gateway = GatewaySettings {
        at: cli.at,
        base_url: cli.gateway.trim_end_matches('/').to_owned(),
        token: cli.token,
    };
    let pace = match cli.render {
        Some(Pace::OnDemand) => game::on_demand::RenderPace::OnDemand,
        Some(Pace::Continuous) => game::on_demand::RenderPace::Continuous,
        None if cli.frame_stats.is_some() => game::on_demand::RenderPace::Continuous,
        None => game::on_demand::RenderPace::OnDemand,
    };
    let preferences = match cli.preferences {
        Some(path) => game::preferences::PreferencesFile(Some(path)),
        None => game::preferences::PreferencesFile::standard(),
    };
    // Last visits sit beside the switches.
    let visits: Box<dyn game::away::VisitBook> = match &preferences.0 {
        Some(path) => Box::new(game::away::VisitsFile(path.with_file_name("visits.ron"))),
        None => Box::new(game::away::VisitsInMemory::default()),
    };
    let mut app = App::new();
    app.insert_resource(pace)
        .insert_resource(game::away::Visits(visits))
        .insert_resource(preferences)
        .insert_resource(game::npc::Tempo(if cli.restless { 0.02 } else { 1.0 }))
        .add_plugins(AppPlugin { gateway, office });
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

/// `--at`: ms since the epoch, RFC 3339, or a local `YYYY-MM-DD HH:MM[:SS]`.
#[cfg(not(target_arch = "wasm32"))]
fn parse_moment(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .and_then(|local| local.and_local_timezone(chrono::Local).earliest())
        .map(|at| at.timestamp_millis())
        .ok_or_else(|| {
            format!("`{text}` is not a moment: give RFC 3339, \"YYYY-MM-DD HH:MM\" or ms since the epoch")
        })
}

/// Reads a Tiled map and the tileset image it names (relative to the map).
#[cfg(not(target_arch = "wasm32"))]
fn load_office(path: &std::path::Path) -> Result<game::office::OfficeSource, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let name = path.display().to_string();
    let map = game::office::map::OfficeMap::parse(&name, &text).map_err(|e| e.to_string())?;
    let image = path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(&map.tileset.image);
    let tileset = std::fs::read(&image)
        .map_err(|e| format!("{name}: tileset {}: cannot read: {e}", image.display()))?;
    game::office::OfficeSource::load(&name, &text, &tileset)
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let gateway = game::web::gateway_from_page();
    App::new()
        .insert_resource(game::away::Visits(Box::new(
            game::web::VisitsInLocalStorage,
        )))
        .add_plugins(AppPlugin {
            gateway,
            office: None,
        })
        .run();
}
