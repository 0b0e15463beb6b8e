//! The desktop remembers the person's switches between runs (the browser keeps
//! them in the page's local storage): a small RON file in the user's config
//! directory, read at start-up and rewritten whenever a switch changes.

use crate::attention::AttentionSettings;
use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the switches are kept; `None` keeps nothing (no config directory).
#[derive(Resource, Clone, Debug, Default)]
pub struct PreferencesFile(pub Option<PathBuf>);

impl PreferencesFile {
    /// `<config dir>/esprit-hub/office.ron`, e.g. `~/.config/esprit-hub/office.ron`.
    pub fn standard() -> Self {
        Self(dirs::config_dir().map(|dir| dir.join("esprit-hub").join("office.ron")))
    }
}

/// What the file holds. Fields the file lacks keep their defaults, so a file
/// from an older office still loads.
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(default)]
struct Saved {
    chime: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PreferencesError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: cannot write: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
}

pub fn plugin(app: &mut App) {
    app.init_resource::<PreferencesFile>()
        .add_systems(PreStartup, restore_switches)
        .add_systems(Last, keep_switches);
}

/// The switches in `path`; `None` when there is no file yet.
pub fn load(path: &Path) -> Result<Option<AttentionSettings>, PreferencesError> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PreferencesError::Read { file, source }),
    };
    let saved: Saved = ron::from_str(&text).map_err(|e| PreferencesError::Parse {
        file,
        line: e.span.start.line,
        column: e.span.start.col,
        message: e.code.to_string(),
    })?;
    Ok(Some(AttentionSettings {
        chime: saved.chime,
        ..default()
    }))
}

/// Writes the switches to `path` whole (a new file renamed over the old), so
/// a crash mid-write never leaves half a file.
pub fn save(path: &Path, settings: &AttentionSettings) -> Result<(), PreferencesError> {
    let failed = |source| PreferencesError::Write {
        file: path.display().to_string(),
        source,
    };
    let saved = Saved {
        chime: settings.chime,
    };
    let text = ron::ser::to_string_pretty(&saved, ron::ser::PrettyConfig::default())
        .map_err(|e| failed(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let partial = path.with_extension("ron.partial");
    std::fs::write(
        &partial,
        format!("// Esprit-Hub office: your switches.\n{text}\n"),
    )
    .map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

/// What was restored, so the first frame's change is not written straight back.
#[derive(Resource)]
struct Restored(AttentionSettings);

fn restore_switches(
    mut commands: Commands,
    file: Res<PreferencesFile>,
    mut settings: ResMut<AttentionSettings>,
) {
    let Some(path) = &file.0 else { return };
    match load(path) {
        Ok(Some(saved)) => *settings = saved,
        Ok(None) => {}
        // A broken file is left alone until the person changes a switch.
        Err(e) => warn!("{e}; the switches start off"),
    }
    commands.insert_resource(Restored(*settings));
}

fn keep_switches(
    file: Res<PreferencesFile>,
    settings: Res<AttentionSettings>,
    mut restored: Option<ResMut<Restored>>,
) {
    let Some(path) = &file.0 else { return };
    if !settings.is_changed() {
        return;
    }
    if let Some(restored) = restored.as_deref_mut() {
        if restored.0 == *settings {
            return;
        }
        restored.0 = *settings;
    }
    if let Err(e) = save(path, &settings) {
        warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_with(path: &Path) -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .init_resource::<AttentionSettings>()
            .insert_resource(PreferencesFile(Some(path.to_owned())))
            .add_plugins(plugin);
        app
    }

    #[test]
    fn a_switch_turned_on_is_on_again_in_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("office.ron");
        let mut first = app_with(&path);
        first.update();
        assert!(!path.exists(), "nothing changed, nothing written");
        first.world_mut().resource_mut::<AttentionSettings>().chime = true;
        first.update();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("chime: true")
        );

        let mut second = app_with(&path);
        second.update();
        assert!(second.world().resource::<AttentionSettings>().chime);
        assert!(!path.with_extension("ron.partial").exists());
    }

    #[test]
    fn a_broken_file_is_named_with_its_line_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("office.ron");
        let broken = "(\n  chime: yes,\n)\n";
        std::fs::write(&path, broken).unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:2:", path.display())),
            "{error}"
        );

        let mut app = app_with(&path);
        app.update();
        app.update();
        assert!(!app.world().resource::<AttentionSettings>().chime);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }

    #[test]
    fn a_missing_field_keeps_its_default_and_a_missing_file_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("office.ron");
        std::fs::write(&path, "()").unwrap();
        assert_eq!(load(&path).unwrap(), Some(AttentionSettings::default()));
        std::fs::write(&path, "(chime: true)").unwrap();
        assert!(load(&path).unwrap().unwrap().chime);
        assert_eq!(load(&dir.path().join("none.ron")).unwrap(), None);
    }
}
