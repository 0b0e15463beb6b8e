//! The Esprit-Hub office: every agent is a pixel-art character at a desk whose
//! animation shows its status. One plugin per feature; the rules (status from
//! events, animation, desk layout) are plain Rust tested without a window.

pub mod art;
pub mod camera;
#[cfg(not(target_arch = "wasm32"))]
mod desktop;
pub mod frame_stats;
pub mod gateway_link;
pub mod mirror;
pub mod npc;
pub mod office;
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod web;

use bevy::prelude::*;
use gateway_link::GatewaySettings;

/// The office's rules without a window: link messages, NPCs, layout.
/// Headless tests add this to `MinimalPlugins`.
pub struct OfficeCorePlugin;

impl Plugin for OfficeCorePlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            gateway_link::plugin,
            npc::plugin,
            office::plugin,
            mirror::plugin,
        ));
    }
}

/// The whole app: window, egui, art, camera and the office.
pub struct AppPlugin {
    pub gateway: GatewaySettings,
    pub office: Option<office::layout::OfficeLayout>,
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
        if let Some(layout) = &self.office {
            app.insert_resource(office::Office(layout.clone()));
        }
        app.add_plugins((art::plugin, OfficeCorePlugin, camera::plugin, ui::plugin));
        #[cfg(target_arch = "wasm32")]
        app.add_plugins(web::plugin);
        #[cfg(not(target_arch = "wasm32"))]
        app.add_plugins(desktop::plugin);
        app.add_systems(Startup, gateway_link::start_link);
    }
}
