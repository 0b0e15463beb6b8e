//! Which character is selected (its panel open) and which is under the
//! pointer: shared by the sprites, the panels, the camera and the page.

use bevy::prelude::*;

/// The NPC under the pointer, for the tooltip.
#[derive(Resource, Default, Debug)]
pub struct Hovered(pub Option<Entity>);

/// The selected NPC (panel open), shared by clicks, the roster and the page.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct Selected(pub Option<Entity>);

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Hovered>().init_resource::<Selected>();
}
