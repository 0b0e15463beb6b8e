//! `web-bind`: turns the office's wasm32 build into the module and JavaScript
//! glue the page loads (`game_bg.wasm`, `game.js`), the way `wasm-bindgen
//! --target web` does, with the library pinned to the game's own
//! wasm-bindgen. Built in the workspace, so a fresh machine needs no
//! separately installed CLI of the right version.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use wasm_bindgen_cli_support::Bindgen;

/// Binds the office's wasm for the browser.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The wasm32-unknown-unknown build of the game.
    input: PathBuf,
    /// Where game.js and game_bg.wasm go.
    #[arg(long)]
    out_dir: PathBuf,
    /// The output files' stem.
    #[arg(long, default_value = "game")]
    out_name: String,
    /// Keep function names (readable stack traces; a fifth larger).
    #[arg(long)]
    keep_names: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut bindgen = Bindgen::new();
    bindgen
        .input_path(&args.input)
        .out_name(&args.out_name)
        .web(true)?
        .typescript(false)
        // As the CLI: game.js finds game_bg.wasm beside itself when not told.
        .omit_default_module_path(false)
        .remove_name_section(!args.keep_names)
        .remove_producers_section(!args.keep_names);
    bindgen.generate(&args.out_dir).with_context(|| {
        format!(
            "binding {} into {}",
            args.input.display(),
            args.out_dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    /// The version of `package` in the workspace's Cargo.lock.
    fn locked(package: &str) -> Vec<String> {
        let lock = include_str!("../../../Cargo.lock");
        let mut versions = Vec::new();
        let mut lines = lock.lines();
        while let Some(line) = lines.next() {
            if line == format!("name = \"{package}\"") {
                let version = lines.next().unwrap_or_default();
                versions.push(
                    version
                        .trim_start_matches("version = ")
                        .trim_matches('"')
                        .to_owned(),
                );
            }
        }
        versions
    }

    #[test]
    fn the_binder_reads_the_bindings_of_the_games_wasm_bindgen() {
        let game = locked("wasm-bindgen");
        assert_eq!(game.len(), 1, "one wasm-bindgen in Cargo.lock: {game:?}");
        assert_eq!(locked("wasm-bindgen-cli-support"), game);
    }
}
