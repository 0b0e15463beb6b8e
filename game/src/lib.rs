//! The Esprit-Hub office: every agent is a pixel-art character with a desk in
//! an office drawn from a Tiled map; its animation shows its status, and idle
//! characters walk about. One plugin per feature; the rules (status from
//! events, behaviour, walking, animation, seating) are plain Rust tested
//! without a window.

pub mod art;
pub mod attention;
pub mod away;
mod bench;
pub mod camera;
#[cfg(not(target_arch = "wasm32"))]
pub mod chime;
#[cfg(not(target_arch = "wasm32"))]
mod desktop;
pub mod frame_stats;
pub mod gateway_link;
pub mod mirror;
pub mod npc;
pub mod office;
pub mod on_demand;
pub mod pointer;
#[cfg(not(target_arch = "wasm32"))]
pub mod preferences;
pub mod roster;
pub mod selection;
pub mod timeline;
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod whiteboard;
pub mod world_text;

use bevy::prelude::*;
use gateway_link::GatewaySettings;

/// The office's rules without a window: link messages, NPCs, layout.
/// Headless tests add this to `MinimalPlugins`.
pub struct OfficeCorePlugin;

impl Plugin for OfficeCorePlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            gateway_link::plugin,
            roster::plugin,
            selection::plugin,
            npc::plugin,
            attention::plugin,
            office::plugin,
            whiteboard::plugin,
            bench::plugin,
            mirror::plugin,
            timeline::plugin,
        ));
    }
}

/// The whole app: window, egui, art, camera and the office.
pub struct AppPlugin {
    pub gateway: GatewaySettings,
    /// A map to start from instead of the built-in one (the gateway's still wins).
    pub office: Option<office::OfficeSource>,
}

impl Plugin for AppPlugin {
    fn build(&self, app: &mut App) {
        let window = Window {
            title: "Esprit-Hub office".into(),
            resolution: (1280, 760).into(),
            #[cfg(target_arch = "wasm32")]
            canvas: Some("#office".into()),
            #[cfg(target_arch = "wasm32")]
            fit_canvas_to_parent: true,
            ..default()
        };
        let defaults = DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(window),
                ..default()
            })
            .set(ImagePlugin::default_nearest());
        #[cfg(target_arch = "wasm32")]
        let defaults = defaults.set(AssetPlugin {
            meta_check: bevy::asset::AssetMetaCheck::Never,
            ..default()
        });
        // DefaultPlugins before EguiPlugin, so egui panels take clicks before sprites do.
        app.add_plugins(defaults)
            .add_plugins(bevy_egui::EguiPlugin::default())
            .insert_resource(ClearColor(Color::srgb(0.11, 0.11, 0.16)))
            .insert_resource(self.gateway.clone());
        if let Some(source) = &self.office {
            app.insert_resource(source.clone());
        }
        app.add_plugins((
            art::plugin,
            OfficeCorePlugin,
            camera::plugin,
            pointer::plugin,
            ui::plugin,
            away::plugin,
            on_demand::plugin,
        ));
        #[cfg(target_arch = "wasm32")]
        app.add_plugins(web::plugin);
        #[cfg(not(target_arch = "wasm32"))]
        app.add_plugins((desktop::plugin, chime::plugin, preferences::plugin));
        app.add_systems(Startup, gateway_link::start_link);
    }
}
