//! The browser's edge: the gateway URL from the page.

use crate::gateway_link::GatewaySettings;

/// `?gateway=` if given, else the page's own origin; `?token=` for auth.
pub fn gateway_from_page() -> GatewaySettings {
    let location = web_sys::window().map(|w| w.location());
    let origin = location
        .as_ref()
        .and_then(|l| l.origin().ok())
        .unwrap_or_default();
    let params = location
        .as_ref()
        .and_then(|l| l.search().ok())
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok());
    let param = |name: &str| {
        params
            .as_ref()
            .and_then(|p| p.get(name))
            .filter(|v| !v.is_empty())
    };
    GatewaySettings {
        base_url: param("gateway")
            .unwrap_or(origin)
            .trim_end_matches('/')
            .to_owned(),
        token: param("token"),
    }
}
