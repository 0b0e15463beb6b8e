//! The browser office from `web/dist` (precompressed when possible), the
//! office map from the office directory (`/office/`), and `/studio/`.

use super::RouteSettings;
use crate::core::Service;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use warp::http::{HeaderValue, Response, StatusCode, header};
use warp::{Filter, Rejection, Reply};

pub fn routes(
    service: Arc<Service>,
    settings: RouteSettings,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let studio = warp::path("studio").and(warp::get()).map(move || {
        let target = service.settings().sim.public_url.clone();
        match target {
            Some(url) => warp::redirect::found(
                url.parse::<warp::http::Uri>()
                    .unwrap_or_else(|_| warp::http::Uri::from_static("/")),
            )
            .into_response(),
            None => studio_not_configured(),
        }
    });
    let office_dir = settings.office_dir.clone();
    let office = warp::path("office")
        .and(warp::get())
        .and(warp::path::tail())
        .and_then(move |tail: warp::path::Tail| {
            let dir = office_dir.clone();
            async move { Ok::<_, Rejection>(serve_office_file(&dir, tail.as_str()).await) }
        });
    let dist = settings.web_dist.clone();
    let policy = HeaderValue::from_str(&content_policy(&settings.office_gateways))
        .expect("origins are checked at start");
    // Anything under /api that no route took is a JSON 404, never the office page.
    let not_api = warp::path::full()
        .and_then(|path: warp::path::FullPath| async move {
            if path.as_str() == "/api" || path.as_str().starts_with("/api/") {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one();
    let files = warp::get()
        .and(not_api)
        .and(warp::path::full())
        .and(warp::header::optional::<String>("accept-encoding"))
        .and_then(move |path: warp::path::FullPath, accept: Option<String>| {
            let (dist, policy) = (dist.clone(), policy.clone());
            async move {
                let mut response =
                    serve_file(&dist, path.as_str(), accept.as_deref().unwrap_or("")).await;
                frame_guard(&mut response, policy);
                Ok::<_, Rejection>(response)
            }
        });
    studio.or(office).or(files)
}

/// The page's Content-Security-Policy: its own origin, plus the gateways a
/// `?gateway=` may name (`OFFICE_GATEWAYS`); no page may frame it.
pub fn content_policy(gateways: &[String]) -> String {
    let mut connect = String::from("'self'");
    for origin in gateways {
        connect.push(' ');
        connect.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; connect-src {connect} blob:; frame-ancestors 'self'; \
         base-uri 'none'; form-action 'self'"
    )
}

/// No other page may frame the office (a click inside it would approve a run).
fn frame_guard(response: &mut warp::reply::Response, policy: HeaderValue) {
    let headers = response.headers_mut();
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("content-security-policy", policy);
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

/// A file of the office map. Never cached: a map saved in Tiled shows on the
/// next page load.
async fn serve_office_file(dir: &Path, file: &str) -> warp::reply::Response {
    let Some(path) = resolve(dir, file).filter(|_| !file.is_empty()) else {
        return status_page(StatusCode::NOT_FOUND, "not found");
    };
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return status_page(StatusCode::NOT_FOUND, "not found");
    };
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("tmj" | "tsj" | "json") => "application/json".to_owned(),
        _ => mime_guess::from_path(&path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
    };
    let mut response: warp::reply::Response = Response::new(bytes.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn studio_not_configured() -> warp::reply::Response {
    let page = "<!doctype html><meta charset=utf-8><title>Sim Studio</title>\
        <body style=\"font:16px system-ui;margin:3em;max-width:40em\">\
        <h1>Sim Studio is not configured</h1>\
        <p>Set <code>SIM_PUBLIC_URL</code> (for example <code>http://localhost:3000</code>) \
        and restart the gateway: <code>/studio/</code> then opens Sim in its own origin, \
        since Sim cannot be served under a path prefix.</p>";
    warp::reply::with_status(warp::reply::html(page), StatusCode::NOT_FOUND).into_response()
}

/// Resolves a request path inside `dist`, refusing anything that climbs out.
fn resolve(dist: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(request_path)
        .decode_utf8()
        .ok()?;
    let mut path = dist.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(path)
}

async fn serve_file(
    dist: &Path,
    request_path: &str,
    accept_encoding: &str,
) -> warp::reply::Response {
    let Some(mut path) = resolve(dist, request_path) else {
        return status_page(StatusCode::BAD_REQUEST, "bad path");
    };
    let mut found = tokio::fs::metadata(&path).await;
    if found.as_ref().is_ok_and(|m| m.is_dir()) {
        path.push("index.html");
        found = tokio::fs::metadata(&path).await;
    }
    let source = match found {
        Ok(found) => found,
        // Unknown paths without an extension get the office (client-side routes).
        Err(_) if path.extension().is_none() || path.ends_with("index.html") => {
            path = dist.join("index.html");
            match tokio::fs::metadata(&path).await {
                Ok(found) => found,
                Err(_) => return office_not_built(dist),
            }
        }
        Err(_) => return status_page(StatusCode::NOT_FOUND, "not found"),
    };
    let source_modified = source.modified().ok();
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let mut encoding = None;
    let mut body_path = path.clone();
    for (token, suffix) in [("br", "br"), ("gzip", "gz")] {
        if accepts(accept_encoding, token) {
            let candidate = PathBuf::from(format!("{}.{suffix}", path.display()));
            // A copy older than its file is left from an earlier build (web/build.sh
            // compresses with brotli after the office is up): never serve it.
            let candidate_modified = tokio::fs::metadata(&candidate)
                .await
                .and_then(|m| m.modified())
                .ok();
            if candidate_modified.is_some() && candidate_modified >= source_modified {
                encoding = Some(token);
                body_path = candidate;
                break;
            }
        }
    }
    let bytes = match tokio::fs::read(&body_path).await {
        Ok(bytes) => bytes,
        Err(_) => return status_page(StatusCode::NOT_FOUND, "not found"),
    };
    let mut response: warp::reply::Response = Response::new(bytes.into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime.essence_str())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    // The page must revalidate so a rebuild shows at once; the rest is revalidated by ETag-free mtime reloads.
    let cache = if path.extension().is_some_and(|e| e == "html") {
        "no-cache"
    } else {
        "public, max-age=300"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response.into_response()
}

fn accepts(accept_encoding: &str, token: &str) -> bool {
    accept_encoding.split(',').any(|part| {
        let mut pieces = part.trim().split(';');
        let name = pieces.next().unwrap_or("").trim();
        let refused = pieces.any(|p| p.trim().replace(' ', "") == "q=0");
        name.eq_ignore_ascii_case(token) && !refused
    })
}

fn status_page(status: StatusCode, text: &'static str) -> warp::reply::Response {
    warp::reply::with_status(text, status).into_response()
}

/// No office in `dist` yet. While `web/build.sh` runs it leaves its progress
/// in `dist/.building`; the page says so and reloads itself until the office is there.
fn office_not_built(dist: &Path) -> warp::reply::Response {
    let building = std::fs::read_to_string(dist.join(BUILDING_MARKER)).ok();
    let body = match building {
        Some(progress) => format!(
            "<h1>The office is being built</h1><p>{}</p>\
             <p>This page reloads by itself when the office is ready. The first build \
             compiles the whole game engine for the browser and takes several minutes; \
             later ones take seconds. The API already answers at <code>/api/agents</code>.</p>",
            html_escape(progress.trim())
        ),
        None => format!(
            "<h1>The browser office is not built yet</h1>\
             <p>The gateway is running (the API is at <code>/api/agents</code>), but <code>{}</code> has no \
             <code>index.html</code>.</p><p>Build it with <code>./run.sh</code> (builds and starts everything) \
             or <code>web/build.sh</code>; this page reloads by itself.</p>",
            html_escape(&dist.display().to_string())
        ),
    };
    let page = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>\
         <title>Esprit-Hub</title><body style=\"font:16px system-ui;margin:3em;max-width:42em\">{body}"
    );
    let mut response = warp::reply::html(page).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The file `web/build.sh` writes its progress to while it builds.
const BUILDING_MARKER: &str = ".building";

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One header of a response and its whole body as text.
    async fn header_and_text(
        response: warp::reply::Response,
        name: header::HeaderName,
    ) -> (Option<HeaderValue>, String) {
        let value = response.headers().get(&name).cloned();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (value, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn paths_cannot_climb_out_of_dist() {
        let dist = Path::new("/srv/dist");
        assert_eq!(
            resolve(dist, "/game.wasm"),
            Some(PathBuf::from("/srv/dist/game.wasm"))
        );
        assert_eq!(resolve(dist, "/../etc/passwd"), None);
        assert_eq!(resolve(dist, "/%2e%2e/etc/passwd"), None);
    }

    #[tokio::test]
    async fn a_compressed_copy_older_than_its_file_is_never_served() {
        let dist = tempfile::tempdir().unwrap();
        let file = dist.path().join("game.js");
        std::fs::write(&file, "new").unwrap();
        let stale = dist.path().join("game.js.br");
        std::fs::write(&stale, "old").unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        std::fs::write(dist.path().join("game.js.gz"), "fresh gzip").unwrap();
        let body = |response: warp::reply::Response| async move {
            let (encoding, text) = header_and_text(response, header::CONTENT_ENCODING).await;
            (encoding.map(|v| v.to_str().unwrap().to_string()), text)
        };
        let served = serve_file(dist.path(), "/game.js", "br, gzip").await;
        assert_eq!(
            body(served).await,
            (Some("gzip".into()), "fresh gzip".into())
        );
        let plain = serve_file(dist.path(), "/game.js", "br").await;
        assert_eq!(body(plain).await, (None, "new".into()));
        // Once brotli has caught up, it is served.
        std::fs::write(&stale, "new br").unwrap();
        let served = serve_file(dist.path(), "/game.js", "br, gzip").await;
        assert_eq!(body(served).await, (Some("br".into()), "new br".into()));
    }

    #[tokio::test]
    async fn while_the_office_builds_the_page_shows_its_progress_and_reloads() {
        let dist = tempfile::tempdir().unwrap();
        let page = |response| header_and_text(response, header::CACHE_CONTROL);
        let (_, text) = page(office_not_built(dist.path())).await;
        assert!(text.contains("not built yet"), "{text}");
        std::fs::write(
            dist.path().join(BUILDING_MARKER),
            "Compiling the office for the browser: 120 of about 306 crates<script>\n",
        )
        .unwrap();
        let (no_store, text) = page(office_not_built(dist.path())).await;
        assert!(text.contains("being built"), "{text}");
        assert!(
            text.contains(
                "<p>Compiling the office for the browser: 120 of about 306 crates&lt;script&gt;</p>"
            ),
            "the progress, escaped: {text}"
        );
        assert!(text.contains("http-equiv=refresh"), "it reloads itself");
        assert_eq!(no_store.unwrap(), "no-store", "and is never cached");
    }

    #[test]
    fn accept_encoding_honours_q_zero() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("identity", "gzip"));
    }
}
