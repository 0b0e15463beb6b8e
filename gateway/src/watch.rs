//! Reloads `agents.json`, flow files and the users file when they change on disk.

use crate::core::Service;
use crate::registry::Registry;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Editors write in bursts (truncate, write, rename): wait for quiet before reloading.
const SETTLE: Duration = Duration::from_millis(150);

pub struct RegistryWatcher {
    _watcher: RecommendedWatcher,
}

impl RegistryWatcher {
    pub fn start(
        service: Arc<Service>,
        agents_file: PathBuf,
        flows_dir: PathBuf,
        users_file: Option<PathBuf>,
    ) -> notify::Result<RegistryWatcher> {
        let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
            })?;
        // Watch the directory, not the file: editors replace files by renaming.
        let agents_dir = parent_or_dot(&agents_file);
        watcher.watch(&agents_dir, RecursiveMode::NonRecursive)?;
        if flows_dir.is_dir() {
            watcher.watch(&flows_dir, RecursiveMode::NonRecursive)?;
        }
        let users_dir = users_file.as_deref().map(parent_or_dot);
        if let Some(dir) = &users_dir
            && *dir != agents_dir
        {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let users_name = users_file
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_owned());
        let agents_name = agents_file.file_name().map(|n| n.to_owned());
        let flows_abs = std::fs::canonicalize(&flows_dir).unwrap_or(flows_dir.clone());
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut changed = vec![first];
                while let Ok(Some(path)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                    changed.push(path);
                }
                let mut registry_changed = false;
                let mut users_changed = false;
                let mut flows_changed = std::collections::BTreeSet::new();
                for path in changed {
                    let name = path.file_name().map(|n| n.to_owned());
                    if name == agents_name {
                        registry_changed = true;
                    } else if users_name.is_some() && name == users_name {
                        users_changed = true;
                    } else if path.extension().is_some_and(|e| e == "ron")
                        && path
                            .parent()
                            .map(|p| std::fs::canonicalize(p).unwrap_or(p.to_owned()))
                            == Some(flows_abs.clone())
                    {
                        flows_changed.insert(path);
                    }
                }
                for path in flows_changed {
                    service.flows().reload(&path);
                }
                if users_changed && let Some(path) = &users_file {
                    match crate::auth::users::load(path) {
                        Ok(users) => service.replace_users(users),
                        Err(error) => {
                            tracing::error!(%error, "users file rejected; keeping the last good one")
                        }
                    }
                }
                if registry_changed {
                    match Registry::load(&agents_file) {
                        Ok(registry) => service.replace_registry(registry).await,
                        Err(error) => {
                            tracing::error!(%error, "agent registry rejected; keeping the last good one")
                        }
                    }
                }
            }
        });
        Ok(RegistryWatcher { _watcher: watcher })
    }
}

fn parent_or_dot(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}
