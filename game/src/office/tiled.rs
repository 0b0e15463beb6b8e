//! Tiled's JSON map format (`.tmj`) as typed structs: what the office reads
//! of a map saved by Tiled 1.8 or later, and the decoding of tile layer data
//! (a plain array, or base64, optionally zlib or gzip compressed).
//!
//! The `tiled` crate reads only the XML formats (TMX/TSX), so the JSON is read
//! here with serde; every field the office relies on is named, and anything
//! else Tiled writes is ignored.

use serde::Deserialize;
use std::io::Read;

/// The top of a `.tmj` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub struct TmjMap {
    pub width: u32,
    pub height: u32,
    pub tilewidth: u32,
    pub tileheight: u32,
    #[serde(default = "orthogonal")]
    pub orientation: String,
    #[serde(default)]
    pub infinite: bool,
    pub layers: Vec<TmjLayer>,
    #[serde(default)]
    pub tilesets: Vec<TmjTileset>,
}

fn orthogonal() -> String {
    "orthogonal".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum TmjLayer {
    #[serde(rename = "tilelayer")]
    Tiles(TmjTileLayer),
    #[serde(rename = "objectgroup")]
    Objects(TmjObjectLayer),
    #[serde(rename = "group")]
    Group {
        name: String,
        #[serde(default = "yes")]
        visible: bool,
        layers: Vec<TmjLayer>,
    },
    #[serde(rename = "imagelayer")]
    Image { name: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct TmjTileLayer {
    pub name: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default = "yes")]
    pub visible: bool,
    /// Absent on infinite maps (which use chunks; the office refuses those).
    #[serde(default)]
    pub data: Option<TileData>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub compression: Option<String>,
}

/// Tile layer data: `"encoding": "csv"` (the default) stores an array.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TileData {
    Array(Vec<u32>),
    Base64(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct TmjObjectLayer {
    pub name: String,
    #[serde(default = "yes")]
    pub visible: bool,
    #[serde(default)]
    pub objects: Vec<TmjObject>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TmjObject {
    pub id: u32,
    #[serde(default)]
    pub name: String,
    /// Tiled 1.8 and 1.10+ write `type`; 1.9 wrote `class`.
    #[serde(default, rename = "type", alias = "class")]
    pub class: String,
    pub x: f64,
    pub y: f64,
    #[serde(default)]
    pub width: f64,
    #[serde(default)]
    pub height: f64,
    #[serde(default)]
    pub point: bool,
    #[serde(default)]
    pub properties: Vec<TmjProperty>,
}

impl TmjObject {
    pub fn property(&self, name: &str) -> Option<&serde_json::Value> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TmjProperty {
    pub name: String,
    pub value: serde_json::Value,
}

/// A tileset embedded in the map (an external `.tsj` is referred to by `source`).
#[derive(Debug, Clone, Deserialize)]
pub struct TmjTileset {
    pub firstgid: u32,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub imagewidth: u32,
    #[serde(default)]
    pub imageheight: u32,
    #[serde(default)]
    pub tilewidth: u32,
    #[serde(default)]
    pub tileheight: u32,
    #[serde(default)]
    pub tilecount: u32,
    #[serde(default)]
    pub columns: u32,
    #[serde(default)]
    pub margin: u32,
    #[serde(default)]
    pub spacing: u32,
    #[serde(default)]
    pub tiles: Vec<TmjTile>,
}

/// Per-tile data of a tileset: its class and properties.
#[derive(Debug, Clone, Deserialize)]
pub struct TmjTile {
    pub id: u32,
    #[serde(default, rename = "type", alias = "class")]
    pub class: String,
    #[serde(default)]
    pub properties: Vec<TmjProperty>,
}

/// Tiled keeps flip flags in a gid's top bits.
const FLIP_FLAGS: u32 = 0xF000_0000;

/// A gid without its flip flags (the office draws tiles unflipped).
pub fn bare_gid(gid: u32) -> u32 {
    gid & !FLIP_FLAGS
}

impl TmjTileLayer {
    /// The layer's gids, row by row, flip flags removed.
    pub fn gids(&self) -> Result<Vec<u32>, String> {
        let gids = match &self.data {
            None => return Err("has no data (infinite maps are not supported)".into()),
            Some(TileData::Array(gids)) => gids.clone(),
            Some(TileData::Base64(text)) => {
                if self.encoding.as_deref() != Some("base64") {
                    return Err(format!(
                        "data is a string but encoding is {:?}",
                        self.encoding
                    ));
                }
                let bytes = decode_base64(text, self.compression.as_deref())?;
                if bytes.len() % 4 != 0 {
                    return Err(format!(
                        "data decodes to {} bytes, not whole 32-bit gids",
                        bytes.len()
                    ));
                }
                bytes
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
        };
        Ok(gids.into_iter().map(bare_gid).collect())
    }
}

fn decode_base64(text: &str, compression: Option<&str>) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("data is not valid base64: {e}"))?;
    let mut out = Vec::new();
    match compression {
        None | Some("") => return Ok(raw),
        Some("zlib") => flate2::read::ZlibDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("zlib data does not inflate: {e}"))?,
        Some("gzip") => flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip data does not inflate: {e}"))?,
        Some(other) => {
            return Err(format!(
                "compression {other:?} is not supported (save the layer as CSV, base64, zlib or gzip)"
            ));
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn layer(data: TileData, encoding: Option<&str>, compression: Option<&str>) -> TmjTileLayer {
        TmjTileLayer {
            name: "floor".into(),
            width: 2,
            height: 2,
            visible: true,
            data: Some(data),
            encoding: encoding.map(Into::into),
            compression: compression.map(Into::into),
        }
    }

    fn base64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn every_layer_format_tiled_saves_decodes_to_the_same_gids() {
        let gids = [1u32, 2, 0x8000_0003, 4];
        let bytes: Vec<u8> = gids.iter().flat_map(|g| g.to_le_bytes()).collect();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&bytes).unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&bytes).unwrap();
        let layers = [
            layer(TileData::Array(gids.to_vec()), None, None),
            layer(TileData::Base64(base64(&bytes)), Some("base64"), None),
            layer(
                TileData::Base64(base64(&zlib.finish().unwrap())),
                Some("base64"),
                Some("zlib"),
            ),
            layer(
                TileData::Base64(base64(&gzip.finish().unwrap())),
                Some("base64"),
                Some("gzip"),
            ),
        ];
        for layer in layers {
            assert_eq!(layer.gids().unwrap(), [1, 2, 3, 4], "{layer:?}");
        }
        let zstd = layer(
            TileData::Base64(base64(&bytes)),
            Some("base64"),
            Some("zstd"),
        );
        assert!(zstd.gids().unwrap_err().contains("zstd"));
    }

    #[test]
    fn objects_read_the_class_under_either_name() {
        let old: TmjObject =
            serde_json::from_str(r#"{"id":1,"name":"a","type":"desk","x":0,"y":0}"#).unwrap();
        let mid: TmjObject =
            serde_json::from_str(r#"{"id":2,"name":"b","class":"desk","x":0,"y":0}"#).unwrap();
        assert_eq!(old.class, "desk");
        assert_eq!(mid.class, "desk");
    }
}
