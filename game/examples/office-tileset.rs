//! Draws the office tileset from code and writes the PNG the shipped map uses:
//! `cargo run -p game --example office-tileset [PATH]`
//! (default `assets/office/tiles.png`; a test checks the committed file matches).

fn main() -> std::process::ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/office/tiles.png").to_owned()
    });
    let png = game::art::tileset::office_tileset().to_png();
    match std::fs::write(&path, &png) {
        Ok(()) => {
            println!("wrote {path} ({} bytes)", png.len());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("office-tileset: cannot write {path}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
