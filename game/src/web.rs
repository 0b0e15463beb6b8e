//! The browser's edge: the gateway URL from the page, and the page's
//! accessible mirror of the office.

use crate::attention::{AttentionSettings, AttentionWanted};
use crate::gateway_link::GatewaySettings;
use crate::mirror::{Mirror, MirrorEntry, MirrorInbox, MirrorRequest};
use bevy::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Document, Element};

/// `?gateway=` if given, else the page's own origin. The browser signs in
/// with a session cookie (the page's sign-in form), never a token in the URL.
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
        token: None,
        // A shared moment: `?at=` in ms since the epoch.
        at: param("at").and_then(|at| at.parse().ok()),
    }
}

/// Keeps the page's accessible mirror (`#mirror`) in step with the office.
pub fn plugin(app: &mut App) {
    app.add_systems(
        Startup,
        (
            listen_to_mirror_buttons,
            listen_to_attention_switches,
            listen_to_time_controls,
            restore_attention,
        ),
    )
    .add_systems(Update, (sign_in_again, tell_page_about_attention))
    .add_systems(Last, write_mirror);
}

/// The browser's visit book: `esprit-last-visit.<who>` in local storage.
pub struct VisitsInLocalStorage;

impl crate::away::VisitBook for VisitsInLocalStorage {
    fn last_visit(&self, who: &str) -> Option<i64> {
        let key = format!("esprit-last-visit.{who}");
        local_storage()?.get_item(&key).ok()??.parse().ok()
    }

    fn remember(&self, who: &str, at_ms: i64) {
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(&format!("esprit-last-visit.{who}"), &at_ms.to_string());
        }
    }
}

/// Where the person's attention switches are kept between visits.
const ATTENTION_KEY: &str = "esprit-attention";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

fn restore_attention(mut settings: ResMut<AttentionSettings>) {
    let saved = local_storage().and_then(|s| s.get_item(ATTENTION_KEY).ok().flatten());
    if let Some(saved) = saved {
        *settings = AttentionSettings {
            chime: saved.contains("chime"),
            notify: saved.contains("notify"),
        };
    }
}

/// The page's checkboxes in the mirror ask for the same switches as the HUD.
fn listen_to_attention_switches(inbox: Res<MirrorInbox>) {
    let Some(page) = document() else { return };
    let sender = inbox.sender.clone();
    let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let checked = |id: &str| {
            document()
                .and_then(|d| d.get_element_by_id(id))
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
                .is_some_and(|i| i.checked())
        };
        let _ = sender.send(MirrorRequest::Attention(AttentionSettings {
            chime: checked("attention-chime"),
            notify: checked("attention-notify"),
        }));
    });
    for id in ["attention-chime", "attention-notify"] {
        if let Some(input) = page.get_element_by_id(id) {
            let _ = input
                .add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        }
    }
    on_change.forget();
}

/// The mirror's time controls ask what the slider's buttons ask.
fn listen_to_time_controls(inbox: Res<MirrorInbox>) {
    use crate::timeline::TimelineRequest;
    let Some(controls) = document().and_then(|d| d.get_element_by_id("mirror-timeline")) else {
        return;
    };
    let sender = inbox.sender.clone();
    let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let asked = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|t| t.closest("button[data-timeline]").ok().flatten())
            .and_then(|b| b.get_attribute("data-timeline"));
        let request = match asked.as_deref() {
            Some("live") => TimelineRequest::Live,
            Some("previous") => TimelineRequest::PreviousMark,
            Some("next") => TimelineRequest::NextMark,
            Some("play") => TimelineRequest::Play,
            Some("pause") => TimelineRequest::Pause,
            _ => return,
        };
        let _ = sender.send(MirrorRequest::Timeline(request));
    });
    let _ = controls.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
    let sender = inbox.sender.clone();
    let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let speed = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
            .and_then(|select| select.value().parse::<f64>().ok());
        if let Some(speed) = speed {
            let _ = sender.send(MirrorRequest::Timeline(TimelineRequest::Speed(speed)));
        }
    });
    let _ = controls.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
    on_change.forget();
}

fn dispatch(name: &str, detail: &serde_json::Value) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let detail = js_sys::JSON::parse(&detail.to_string()).unwrap_or(wasm_bindgen::JsValue::NULL);
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = window.dispatch_event(&event);
    }
}

/// Hands new questions and the switches to the page's loader, which owns the
/// audio and the notifications (both need the page's user gesture).
fn tell_page_about_attention(
    settings: Res<AttentionSettings>,
    mut wanted: MessageReader<AttentionWanted>,
) {
    if settings.is_changed() {
        let words: Vec<&str> = [(settings.chime, "chime"), (settings.notify, "notify")]
            .into_iter()
            .filter_map(|(on, word)| on.then_some(word))
            .collect();
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(ATTENTION_KEY, &words.join(","));
        }
        for (id, on) in [
            ("attention-chime", settings.chime),
            ("attention-notify", settings.notify),
        ] {
            if let Some(input) = document()
                .and_then(|d| d.get_element_by_id(id))
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                input.set_checked(on);
            }
        }
        dispatch(
            "esprit-attention-settings",
            &serde_json::json!({"chime": settings.chime, "notify": settings.notify}),
        );
    }
    for question in wanted.read() {
        dispatch(
            "esprit-attention",
            &serde_json::json!({"npc": question.npc, "name": question.name, "question": question.question}),
        );
    }
}

/// Seconds between reloads for a new sign-in, so a gateway that refuses the
/// stream but accepts the session cannot make the page reload in a loop.
const RELOAD_GAP_MS: f64 = 30_000.0;

/// The session ended (signed out, expired, revoked): reload, and the page's
/// loader asks for a token again.
fn sign_in_again(session: Res<crate::gateway_link::Session>) {
    if !session.is_changed() || session.signed_out.is_none() {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let now = js_sys::Date::now();
    let storage = window.session_storage().ok().flatten();
    let last = storage
        .as_ref()
        .and_then(|s| s.get_item("esprit-reloaded-at").ok().flatten())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    if now - last < RELOAD_GAP_MS {
        return;
    }
    if let Some(storage) = storage {
        let _ = storage.set_item("esprit-reloaded-at", &now.to_string());
    }
    let _ = window.location().reload();
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
            Some("answer") => match button.get_attribute("data-decision") {
                Some(decision) => MirrorRequest::Answer { npc, decision },
                None => return,
            },
            _ => return,
        };
        let _ = sender.send(request);
    });
    let _ = list.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    on_click.forget();
}

/// Most announcements left in the live region: the latest few, not a log.
const LIVE_LINES: u32 = 5;

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
    let [left, top, right, bottom] = mirror.view;
    let _ = section.set_attribute("data-view", &format!("{left},{top},{right},{bottom}"));
    let [left, top, right, bottom] = mirror.office;
    let _ = section.set_attribute("data-office", &format!("{left},{top},{right},{bottom}"));
    let _ = section.set_attribute("data-layout", if mirror.compact { "phone" } else { "wide" });
    let controls: Vec<String> = mirror
        .controls
        .iter()
        .map(|(name, [l, t, r, b])| format!("{name}:{l},{t},{r},{b}"))
        .collect();
    let _ = section.set_attribute("data-controls", &controls.join(" "));
    set_or_remove(
        &section,
        "data-moment",
        mirror.moment.map(|at| at.to_string()),
    );
    set_or_remove(
        &section,
        "data-playing",
        mirror.playing.map(|speed| speed.to_string()),
    );
    let _ = section.set_attribute("data-marks", &mirror.marks.to_string());
    let away = mirror.away.as_ref().map(|facts| {
        format!(
            "since={} runs={} failed={} waiting={} cost={:.2}",
            facts.since_ms, facts.runs, facts.failed, facts.waiting, facts.cost_usd
        )
    });
    set_or_remove(&section, "data-away", away);
    let past = mirror.moment.is_some();
    // While it plays the moment changes every frame: the address follows
    // once it rests.
    if mirror.playing.is_none() {
        follow_moment_in_address(mirror.moment);
    }

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
        fill_entry(&item, entry, past);
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

/// The address bar carries the moment shown (`?at=`; none while live), so
/// copying it shares the office as it was.
fn follow_moment_in_address(moment: Option<i64>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(url) = window
        .location()
        .href()
        .ok()
        .and_then(|href| web_sys::Url::new(&href).ok())
    else {
        return;
    };
    let params = url.search_params();
    let wanted = moment.map(|at| at.to_string());
    if params.get("at") == wanted {
        return;
    }
    match &wanted {
        Some(at) => params.set("at", at),
        None => params.delete("at"),
    }
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url.href()));
    }
}

fn set_or_remove(element: &Element, name: &str, value: Option<String>) {
    match value {
        Some(value) => {
            let _ = element.set_attribute(name, &value);
        }
        None => {
            let _ = element.remove_attribute(name);
        }
    }
}

/// `past`: the office shows the past, so its run and answer buttons are off.
fn fill_entry(item: &Element, entry: &MirrorEntry, past: bool) {
    let mut text = format!("{}: {}", entry.name, entry.status.label());
    if let Some(why) = &entry.out_of_reach {
        text.push_str(" (");
        text.push_str(why);
        text.push(')');
    }
    if !entry.meter.is_empty() {
        text.push_str(" · ");
        text.push_str(&entry.meter);
    }
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
    set_flag(item, "data-away", entry.away);
    match &entry.bubble {
        Some((lines, [left, top, right, bottom])) => {
            let _ = item.set_attribute("data-bubble", &lines.join("\n"));
            let _ = item.set_attribute(
                "data-bubble-rect",
                &format!("{left},{top},{right},{bottom}"),
            );
        }
        None => {
            let _ = item.remove_attribute("data-bubble");
            let _ = item.remove_attribute("data-bubble-rect");
        }
    }
    fill_question(item, entry);
    if let Ok(buttons) =
        item.query_selector_all("button[data-action=run], button[data-action=answer]")
    {
        for i in 0..buttons.length() {
            if let Some(button) = buttons.item(i).and_then(|b| b.dyn_into::<Element>().ok()) {
                set_or_remove(&button, "disabled", past.then(String::new));
            }
        }
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

fn set_flag(item: &Element, name: &str, on: bool) {
    if on {
        let _ = item.set_attribute(name, "true");
    } else {
        let _ = item.remove_attribute(name);
    }
}

/// The pending question with one button per answer; rebuilt only when the
/// question changes, so a focused button keeps its focus.
fn fill_question(item: &Element, entry: &MirrorEntry) {
    let existing = item.query_selector(".question").ok().flatten();
    let wanted = entry
        .question
        .as_ref()
        .map(|q| format!("{}:{}", q.run_id, q.event_id));
    let shown = existing
        .as_ref()
        .and_then(|e| e.get_attribute("data-question"));
    if shown == wanted {
        return;
    }
    if let Some(existing) = existing {
        existing.remove();
    }
    let (Some(question), Some(key), Some(document)) = (&entry.question, wanted, document()) else {
        return;
    };
    let Ok(group) = document.create_element("div") else {
        return;
    };
    group.set_class_name("question");
    let _ = group.set_attribute("data-question", &key);
    let _ = group.set_attribute("role", "group");
    let _ = group.set_attribute("aria-label", &format!("{} asks", entry.name));
    if let Ok(text) = document.create_element("p") {
        text.set_text_content(Some(&format!("{} asks: {}", entry.name, question.question)));
        let _ = group.append_child(&text);
    }
    for choice in question.choices() {
        let Ok(button) = document.create_element("button") else {
            continue;
        };
        let _ = button.set_attribute("type", "button");
        let _ = button.set_attribute("data-action", "answer");
        let _ = button.set_attribute("data-decision", &choice);
        button.set_text_content(Some(&format!("Answer {choice}")));
        let _ = group.append_child(&button);
    }
    let _ = item.append_child(&group);
}
