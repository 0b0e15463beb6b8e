//! The browser's edge: the gateway URL from the page, and the page's
//! accessible mirror of the office.

use crate::gateway_link::GatewaySettings;
use crate::mirror::{Mirror, MirrorEntry, MirrorInbox, MirrorRequest};
use bevy::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Document, Element};

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

/// Keeps the page's accessible mirror (`#mirror`) in step with the office.
pub fn plugin(app: &mut App) {
    app.add_systems(Startup, listen_to_mirror_buttons)
        .add_systems(Last, write_mirror);
}

fn document() -> Option<Document> {
    web_sys::window().and_then(|w| w.document())
}

/// One delegated listener for every entry's buttons; it lives as long as the page.
fn listen_to_mirror_buttons(inbox: Res<MirrorInbox>) {
    let Some(list) = document().and_then(|d| d.get_element_by_id("mirror-agents")) else {
        return;
    };
    let sender = inbox.sender.clone();
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let Some(button) = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|t| t.closest("button[data-action]").ok().flatten())
        else {
            return;
        };
        let Some(npc) = button
            .closest("li[data-npc]")
            .ok()
            .flatten()
            .and_then(|li| li.get_attribute("data-npc"))
        else {
            return;
        };
        let request = match button.get_attribute("data-action").as_deref() {
            Some("run") => MirrorRequest::Run(npc),
            Some("select") => MirrorRequest::Select(npc),
            _ => return,
        };
        let _ = sender.send(request);
    });
    let _ = list.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
}

/// Most announcements left in the live region.
const LIVE_LINES: u32 = 20;

fn write_mirror(mut mirror: ResMut<Mirror>) {
    if !mirror.is_changed() {
        return;
    }
    let Some(document) = document() else { return };
    let (Some(section), Some(list), Some(live)) = (
        document.get_element_by_id("mirror"),
        document.get_element_by_id("mirror-agents"),
        document.get_element_by_id("mirror-live"),
    ) else {
        return;
    };
    let _ = section.set_attribute("data-connection", mirror.connection);

    let wanted: Vec<String> = mirror.entries.iter().map(entry_id).collect();
    let children = list.children();
    for i in (0..children.length()).rev() {
        if let Some(child) = children.item(i)
            && !wanted.contains(&child.id())
        {
            child.remove();
        }
    }
    for (position, entry) in mirror.entries.iter().enumerate() {
        let item = document
            .get_element_by_id(&wanted[position])
            .or_else(|| new_entry(&document, entry));
        let Some(item) = item else { continue };
        // Only move nodes that are out of place: moving a node drops its focus.
        if list.children().item(position as u32).map(|c| c.id()) != Some(wanted[position].clone()) {
            let _ = list.insert_before(
                &item,
                list.children()
                    .item(position as u32)
                    .as_ref()
                    .map(|e| e.as_ref()),
            );
        }
        fill_entry(&item, entry);
    }

    let sentences = std::mem::take(&mut mirror.bypass_change_detection().announcements);
    for sentence in sentences {
        if let Ok(line) = document.create_element("p") {
            line.set_text_content(Some(&sentence));
            let _ = live.append_child(&line);
        }
    }
    while live.child_element_count() > LIVE_LINES {
        if let Some(first) = live.first_element_child() {
            first.remove();
        }
    }
}

fn entry_id(entry: &MirrorEntry) -> String {
    format!("mirror-npc-{}", entry.npc)
}

fn new_entry(document: &Document, entry: &MirrorEntry) -> Option<Element> {
    let item = document.create_element("li").ok()?;
    item.set_id(&entry_id(entry));
    item.set_attribute("data-npc", &entry.npc).ok()?;
    let label = document.create_element("span").ok()?;
    label.set_class_name("label");
    item.append_child(&label).ok()?;
    for (action, verb) in [("select", "Open"), ("run", "Run")] {
        let button = document.create_element("button").ok()?;
        button.set_attribute("type", "button").ok()?;
        button.set_attribute("data-action", action).ok()?;
        button.set_text_content(Some(&format!("{verb} {}", entry.name)));
        item.append_child(&button).ok()?;
    }
    Some(item)
}

fn fill_entry(item: &Element, entry: &MirrorEntry) {
    let mut text = format!("{}: {}", entry.name, entry.status.label());
    if let Some(message) = &entry.message {
        text.push_str(" — ");
        text.push_str(message);
    }
    if let Ok(Some(label)) = item.query_selector(".label")
        && label.text_content().as_deref() != Some(text.as_str())
    {
        label.set_text_content(Some(&text));
    }
    let _ = item.set_attribute("data-status", entry.status.label());
    if entry.selected {
        let _ = item.set_attribute("aria-current", "true");
    } else {
        let _ = item.remove_attribute("aria-current");
    }
    match entry.screen {
        Some([x, y]) => {
            let _ = item.set_attribute("data-x", &x.to_string());
            let _ = item.set_attribute("data-y", &y.to_string());
        }
        None => {
            let _ = item.remove_attribute("data-x");
            let _ = item.remove_attribute("data-y");
        }
    }
}
