//! Words in the office (names, speech bubbles, the whiteboard): a component
//! on the entity they belong to. The UI paints them (`ui/world_text.rs`).

use bevy::prelude::*;
use bevy_egui::egui;

/// Text drawn over the office where its entity is.
#[derive(Component, Clone, Debug, PartialEq)]
#[require(Transform, Visibility)]
pub struct WorldText {
    pub text: String,
    /// Letter size in world pixels.
    pub size: f32,
    pub colour: Color,
    /// Which point of the text's box sits on the entity.
    pub anchor: egui::Align2,
}

impl WorldText {
    pub fn new(text: impl Into<String>, size: f32, colour: Color, anchor: egui::Align2) -> Self {
        Self {
            text: text.into(),
            size,
            colour,
            anchor,
        }
    }
}
