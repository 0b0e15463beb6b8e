//! The link's async side: the same code natively (reqwest on tokio) and in the
//! browser (reqwest on fetch).

use super::platform::sleep;
use super::{EventSink, GatewaySettings, LinkCommand, LinkEvent, LinkState};
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use protocol::{
    EventEnvelope, EventKind, HistoryPage, RespondRequest, Roster, RunAck, RunCount, RunRequest,
    RunsPage, SessionInfo,
};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HISTORY_PAGE: usize = 100;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One item of the gateway's stream.
#[derive(Debug)]
pub enum StreamItem {
    /// The gateway accepted the subscription.
    Opened,
    Event(EventEnvelope),
    /// The connection ended (cleanly or not); reconnect from the last id.
    Ended(LinkError),
}

/// Why something the link asked of the gateway did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    /// No answer: the gateway is down or the network is.
    #[error("{0}")]
    Unreachable(String),
    /// The gateway no longer takes the office's credentials.
    #[error("signed out: {0}")]
    SignedOut(String),
    /// The gateway refused, and said why.
    #[error("{0}")]
    Refused(String),
    /// An answer the office cannot read.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("the gateway closed the stream")]
    Closed,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    settings: GatewaySettings,
    gate: Arc<Mutex<Gate>>,
}

/// Whether live events reach the office. While it shows the past they wait
/// here (the newest [`HELD_MOST`]), and follow the live roster when it returns.
#[derive(Default)]
struct Gate {
    past: bool,
    held: VecDeque<EventEnvelope>,
    view: View,
}

/// One showing of the office: it changes with every moment shown and every
/// return to live. The stream and the commands load side by side, so a load
/// answered after the office moved on is dropped instead of mixed into what
/// it shows now.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct View(u64);

/// Live events kept while the office shows the past; older ones are in the
/// live roster it loads on return.
const HELD_MOST: usize = 100_000;

impl Api {
    fn showing_past(&self) -> bool {
        self.gate.lock().expect("gate lock").past
    }

    /// The view shown, while it is live.
    fn live_view(&self) -> Option<View> {
        let gate = self.gate.lock().expect("gate lock");
        (!gate.past).then_some(gate.view)
    }

    /// Starts a new view; from now on live events wait when it shows the past.
    fn next_view(&self, past: bool) -> View {
        let mut gate = self.gate.lock().expect("gate lock");
        gate.past |= past;
        gate.view = View(gate.view.0 + 1);
        gate.view
    }

    /// Tells the office `event` if `view` is still what it shows.
    fn send_in(&self, view: View, events: &EventSink, event: LinkEvent) {
        let gate = self.gate.lock().expect("gate lock");
        if gate.view == view {
            let _ = events.send(event);
        }
    }

    /// Hands a live event to the office, or keeps it while the past is shown;
    /// says whether it went through.
    fn forward_live(&self, event: EventEnvelope, events: &EventSink) -> bool {
        let mut gate = self.gate.lock().expect("gate lock");
        if gate.past {
            if gate.held.len() == HELD_MOST {
                gate.held.pop_front();
            }
            gate.held.push_back(event);
            return false;
        }
        let _ = events.send(LinkEvent::Live(event));
        true
    }
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.settings.base_url));
        match &self.settings.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, LinkError> {
        self.get_with(path, &[]).await
    }

    /// A GET with query parameters, encoded by the HTTP client.
    async fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, LinkError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await
            .map_err(describe)?;
        decode(response).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, LinkError> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(describe)?;
        decode(response).await
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, LinkError> {
    let status = response.status();
    let text = response.text().await.map_err(describe)?;
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|e| LinkError::Unexpected(e.to_string()));
    }
    // The gateway's errors are `{"error":{"code","message"}}`: show the message.
    let said = match serde_json::from_str::<protocol::ErrorBody>(&text) {
        Ok(body) => body.error.message,
        Err(_) => format!("{status}: {}", text.chars().take(160).collect::<String>()),
    };
    Err(if status == reqwest::StatusCode::UNAUTHORIZED {
        LinkError::SignedOut(said)
    } else {
        LinkError::Refused(said)
    })
}

/// Tells the office when a failure means its credentials are no longer good.
fn report_signed_out(events: &EventSink, error: &LinkError) {
    if let LinkError::SignedOut(reason) = error {
        let _ = events.send(LinkEvent::SignedOut {
            reason: reason.clone(),
        });
    }
}

fn describe(error: reqwest::Error) -> LinkError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    LinkError::Unreachable(message)
}

/// Follows `/api/stream` from `after`: yields events, then `Ended` once.
pub fn follow_stream(
    http: reqwest::Client,
    settings: GatewaySettings,
    after: u64,
) -> impl Stream<Item = StreamItem> {
    futures_util::stream::once(async move {
        let mut request = http
            .get(format!("{}/api/stream", settings.base_url))
            .header("Last-Event-ID", after.to_string());
        if let Some(token) = &settings.token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let events = response
                    .bytes_stream()
                    .eventsource()
                    .filter_map(|frame| async move {
                        match frame {
                            Ok(frame) if frame.data.is_empty() => None,
                            Ok(frame) => match serde_json::from_str::<EventEnvelope>(&frame.data) {
                                Ok(event) => Some(StreamItem::Event(event)),
                                Err(e) => Some(StreamItem::Ended(LinkError::Unexpected(format!(
                                    "bad event from the gateway: {e}"
                                )))),
                            },
                            Err(e) => {
                                Some(StreamItem::Ended(LinkError::Unreachable(e.to_string())))
                            }
                        }
                    });
                let opened = futures_util::stream::once(async { StreamItem::Opened });
                let ended =
                    futures_util::stream::once(async { StreamItem::Ended(LinkError::Closed) });
                opened.chain(events).chain(ended).left_stream()
            }
            Ok(response) => {
                let status = response.status();
                let refused = match decode::<serde_json::Value>(response).await {
                    Err(LinkError::Refused(message)) => {
                        LinkError::Refused(format!("{status}: {message}"))
                    }
                    Err(other) => other,
                    Ok(_) => LinkError::Refused(status.to_string()),
                };
                let ended = StreamItem::Ended(refused);
                futures_util::stream::once(futures_util::future::ready(ended)).right_stream()
            }
            Err(e) => {
                let ended = StreamItem::Ended(describe(e));
                futures_util::stream::once(futures_util::future::ready(ended)).right_stream()
            }
        }
    })
    .flatten()
}

/// The link: stream and commands run side by side until the app ends.
pub async fn run(
    settings: GatewaySettings,
    events: EventSink,
    commands: futures_channel::mpsc::UnboundedReceiver<LinkCommand>,
) {
    let gate = Gate {
        // A shared moment: nothing live shows until the person asks for it.
        past: settings.at.is_some(),
        ..Gate::default()
    };
    let api = Api {
        http: reqwest::Client::new(),
        settings,
        gate: Arc::new(Mutex::new(gate)),
    };
    match api.get::<SessionInfo>("/api/session").await {
        Ok(session) => {
            let _ = events.send(LinkEvent::Session(session));
        }
        Err(e) => report_signed_out(&events, &e),
    }
    futures_util::future::join(
        stream_loop(api.clone(), events.clone()),
        command_loop(api, events, commands),
    )
    .await;
}

/// The live roster, told to the office if it was live from asking to answer.
async fn load_roster(api: &Api, events: &EventSink) -> Result<Roster, LinkError> {
    let view = api.live_view();
    let roster: Roster = api.get("/api/agents").await?;
    if let Some(view) = view {
        api.send_in(view, events, LinkEvent::Roster(roster.clone()));
    }
    Ok(roster)
}

/// Where the gateway serves the office map.
const OFFICE_MAP: &str = "/office/office.tmj";

/// Fetches the gateway's office map and its tileset image; reports them when
/// they differ from what was reported last. A gateway without one (404) keeps
/// the office on its built-in map.
async fn load_office(api: &Api, events: &EventSink, last: &mut Option<(String, Vec<u8>)>) {
    let url = format!("{}{OFFICE_MAP}", api.settings.base_url);
    let fetch = |path: String| {
        let request = api.request(reqwest::Method::GET, &path);
        async move {
            let response = request.send().await.map_err(describe)?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !response.status().is_success() {
                return Err(LinkError::Refused(format!("HTTP {}", response.status())));
            }
            response
                .bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(describe)
        }
    };
    let map = match fetch(OFFICE_MAP.to_owned()).await {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "office map not loaded");
            return;
        }
    };
    // The tileset image is named inside the map; a map that does not parse is
    // still reported, so the office can say what is wrong with it.
    let image = serde_json::from_str::<serde_json::Value>(&map)
        .ok()
        .and_then(|v| v["tilesets"][0]["image"].as_str().map(str::to_owned));
    let tileset = match image {
        Some(image) if !image.contains("..") && !image.starts_with('/') => {
            match fetch(format!("/office/{image}")).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => Vec::new(),
                Err(e) => {
                    tracing::warn!(error = %e, "office tileset not loaded");
                    return;
                }
            }
        }
        _ => Vec::new(),
    };
    let loaded = (map, tileset);
    if last.as_ref() != Some(&loaded) {
        let _ = events.send(LinkEvent::Office {
            url,
            map: loaded.0.clone(),
            tileset: loaded.1.clone(),
        });
        *last = Some(loaded);
    }
}

/// How long to wait before the next try, after `attempt` failed ones.
fn backoff_after(attempt: u32) -> Duration {
    Duration::from_millis(500)
        .saturating_mul(1 << attempt.min(5))
        .min(MAX_BACKOFF)
}

async fn stream_loop(api: Api, events: EventSink) {
    let url = api.settings.base_url.clone();
    let mut last_id: Option<u64> = None;
    let mut attempt = 0u32;
    let mut office = None;
    loop {
        let _ = events.send(LinkEvent::State(LinkState::Connecting { url: url.clone() }));
        load_office(&api, &events, &mut office).await;
        let error = match connect_once(&api, &events, &mut last_id, &mut attempt).await {
            Ok(()) => LinkError::Closed.to_string(),
            Err(e) => {
                report_signed_out(&events, &e);
                e.to_string()
            }
        };
        attempt += 1;
        let backoff = backoff_after(attempt);
        let _ = events.send(LinkEvent::State(LinkState::Reconnecting {
            url: url.clone(),
            error,
            retry_in: backoff.as_secs_f32(),
            attempt,
        }));
        sleep(backoff).await;
    }
}

/// One connection: roster (and, the first time, history), then live events until it drops.
async fn connect_once(
    api: &Api,
    events: &EventSink,
    last_id: &mut Option<u64>,
    attempt: &mut u32,
) -> Result<(), LinkError> {
    let roster = load_roster(api, events).await?;
    if last_id.is_none() {
        if let Some(view) = api.live_view() {
            for agent in &roster.agents {
                load_history(api, events, view, &agent.npc, None).await;
            }
        }
        *last_id = Some(roster.last_event_id);
    }
    let mut stream = std::pin::pin!(follow_stream(
        api.http.clone(),
        api.settings.clone(),
        last_id.unwrap_or(0)
    ));
    while let Some(item) = stream.next().await {
        match item {
            StreamItem::Opened => {
                *attempt = 0;
                let _ = events.send(LinkEvent::State(LinkState::Connected));
            }
            StreamItem::Event(event) => {
                *last_id = Some(event.id);
                let roster_changed = event.kind == EventKind::Roster;
                if api.forward_live(event, events)
                    && roster_changed
                    && let Some(view) = api.live_view()
                    && let Ok(roster) = load_roster(api, events).await
                {
                    for agent in &roster.agents {
                        load_history(api, events, view, &agent.npc, None).await;
                    }
                }
            }
            StreamItem::Ended(reason) => return Err(reason),
        }
    }
    Ok(())
}

/// The npc's newest events (before event `before`, when given), for `view`.
async fn load_history(api: &Api, events: &EventSink, view: View, npc: &str, before: Option<u64>) {
    let limit = HISTORY_PAGE.to_string();
    let before = before.map(|id| id.to_string());
    let mut query = vec![("npc", npc), ("limit", limit.as_str())];
    if let Some(before) = &before {
        query.push(("before", before));
    }
    match api.get_with::<HistoryPage>("/api/history", &query).await {
        Ok(page) => api.send_in(
            view,
            events,
            LinkEvent::History {
                npc: npc.to_owned(),
                more_before: page.next_before.is_some(),
                events: page.events,
            },
        ),
        Err(e) => tracing::warn!(npc, error = %e, "history not loaded"),
    }
}

/// Sends one command; an action answers whose it was and how it went, a
/// read (which tells the office itself) answers nothing.
async fn act(
    api: &Api,
    events: &EventSink,
    command: LinkCommand,
) -> Option<(String, Result<(), LinkError>)> {
    if api.showing_past()
        && let Some(agent) = command.agent()
    {
        // Nothing is run or answered from the past.
        return Some((
            agent.to_owned(),
            Err(LinkError::Refused(
                "this is the office as it was; open it live to act".into(),
            )),
        ));
    }
    Some(match command {
        LinkCommand::Run { agent, payload } => {
            let result = api
                .post::<RunAck>(&format!("/api/run/{agent}"), &RunRequest { payload })
                .await;
            if let Ok(accepted) = &result {
                let _ = events.send(LinkEvent::RunAccepted {
                    agent: agent.clone(),
                    run_id: accepted.run_id.clone(),
                });
            }
            (agent, result.map(|_| ()))
        }
        LinkCommand::Respond {
            agent,
            run_id,
            decision,
            comment,
            input,
        } => {
            let body = RespondRequest {
                decision,
                comment,
                input,
            };
            (
                agent,
                api.post::<RunAck>(&format!("/api/runs/{run_id}/respond"), &body)
                    .await
                    .map(|_| ()),
            )
        }
        LinkCommand::Cancel { agent, run_id } => (
            agent,
            api.post::<RunAck>(
                &format!("/api/runs/{run_id}/cancel"),
                &serde_json::json!({}),
            )
            .await
            .map(|_| ()),
        ),
        LinkCommand::LiftBench { agent } => (
            agent.clone(),
            api.post::<serde_json::Value>(
                &format!("/api/agents/{agent}/bench/lift"),
                &serde_json::json!({}),
            )
            .await
            .map(|_| ()),
        ),
        LinkCommand::LoadRuns { agent } => {
            let result = api
                .get_with::<RunsPage>("/api/runs", &[("agent", &agent), ("limit", "20")])
                .await;
            if let Ok(page) = &result {
                let _ = events.send(LinkEvent::Runs {
                    agent: agent.clone(),
                    runs: page.runs.clone(),
                });
            }
            (agent, result.map(|_| ()))
        }
        read => {
            read_for_office(api, events, read).await;
            return None;
        }
    })
}

/// Reads that tell the office what they found: sign-out, runs today, usage.
async fn read_for_office(api: &Api, events: &EventSink, command: LinkCommand) {
    match command {
        LinkCommand::SignOut => {
            let result = api
                .request(reqwest::Method::DELETE, "/api/session")
                .send()
                .await;
            let _ = events.send(LinkEvent::SignedOut {
                reason: match result {
                    Ok(_) => "signed out".to_owned(),
                    Err(e) => describe(e).to_string(),
                },
            });
        }
        LinkCommand::CountRuns { since } => {
            match api
                .get_with::<RunCount>("/api/runs/count", &[("since", &since)])
                .await
            {
                Ok(count) => {
                    let _ = events.send(LinkEvent::RunsToday {
                        since: count.since,
                        started: count.started,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "runs today not counted"),
            }
        }
        LinkCommand::FetchUsage { since } => {
            match api
                .get_with::<protocol::UsageReport>("/api/usage", &[("since", &since)])
                .await
            {
                Ok(report) => {
                    let _ = events.send(LinkEvent::Usage {
                        since,
                        report: Box::new(report),
                    });
                }
                Err(e) => tracing::warn!(error = %e, "usage not read"),
            }
        }
        LinkCommand::ShowMoment { at } => show_moment(api, events, at).await,
        LinkCommand::GoLive => go_live(api, events).await,
        LinkCommand::LoadReplay { window, after } => {
            let (from, to) = (window.0.to_string(), window.1.to_string());
            let mut query = vec![
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("limit", "1000"),
            ];
            let after_text = after.map(|id| id.to_string());
            if let Some(after) = &after_text {
                query.push(("after", after));
            }
            match api.get_with::<HistoryPage>("/api/history", &query).await {
                Ok(page) => {
                    let _ = events.send(LinkEvent::Replay {
                        window,
                        after,
                        events: page.events,
                        next_after: page.next_after,
                    });
                }
                Err(e) => tracing::warn!(error = %e, "replay not loaded"),
            }
        }
        LinkCommand::LoadMarks { window } => {
            let (from, to) = (window.0.to_string(), window.1.to_string());
            match api
                .get_with::<protocol::Marks>("/api/marks", &[("from", &from), ("to", &to)])
                .await
            {
                Ok(marks) => {
                    let _ = events.send(LinkEvent::Marks { window, marks });
                }
                Err(e) => tracing::warn!(error = %e, "marks not loaded"),
            }
        }
        LinkCommand::LoadAway { since } => {
            match api
                .get_with::<protocol::AwaySummary>("/api/summary", &[("since", &since.to_string())])
                .await
            {
                Ok(summary) => {
                    let _ = events.send(LinkEvent::Away(Box::new(summary)));
                }
                Err(e) => tracing::warn!(error = %e, "summary not loaded"),
            }
        }
        other => tracing::error!(command = ?other, "a command neither sent nor read"),
    }
}

/// The office as it stood at `at`: live events wait from now on; the roster
/// then, and each agent's history up to then.
async fn show_moment(api: &Api, events: &EventSink, at: i64) {
    let view = api.next_view(true);
    match api.get::<Roster>(&format!("/api/agents?at={at}")).await {
        Ok(roster) => {
            let moment = LinkEvent::Moment {
                at: Some(at),
                roster: roster.clone(),
            };
            api.send_in(view, events, moment);
            for agent in &roster.agents {
                let before = agent.last_event_id.map(|id| id + 1);
                load_history(api, events, view, &agent.npc, before.or(Some(1))).await;
            }
        }
        Err(error) => {
            report_signed_out(events, &error);
            tracing::warn!(error = %error, at, "the office at a moment not loaded");
        }
    }
}

/// Back to now: the live roster and histories, then the live events that
/// waited meanwhile (those newer than the roster), then the stream again.
async fn go_live(api: &Api, events: &EventSink) {
    let view = api.next_view(false);
    loop {
        match api.get::<Roster>("/api/agents").await {
            Ok(roster) => {
                let live = LinkEvent::Moment {
                    at: None,
                    roster: roster.clone(),
                };
                api.send_in(view, events, live);
                for agent in &roster.agents {
                    load_history(api, events, view, &agent.npc, None).await;
                }
                let mut gate = api.gate.lock().expect("gate lock");
                for event in gate.held.drain(..) {
                    if event.id > roster.last_event_id {
                        let _ = events.send(LinkEvent::Live(event));
                    }
                }
                gate.past = false;
                return;
            }
            Err(error) => {
                report_signed_out(events, &error);
                if matches!(error, LinkError::SignedOut(_)) {
                    return;
                }
                tracing::warn!(error = %error, "the live office not loaded; trying again");
                sleep(backoff_after(3)).await;
            }
        }
    }
}

async fn command_loop(
    api: Api,
    events: EventSink,
    mut commands: futures_channel::mpsc::UnboundedReceiver<LinkCommand>,
) {
    while let Some(command) = commands.next().await {
        let Some((agent, result)) = act(&api, &events, command).await else {
            continue;
        };
        if let Err(error) = result {
            report_signed_out(&events, &error);
            let _ = events.send(LinkEvent::Refused {
                agent,
                message: error.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        Api {
            http: reqwest::Client::new(),
            settings: GatewaySettings {
                base_url: "http://127.0.0.1:9".into(),
                token: None,
                at: None,
            },
            gate: Arc::default(),
        }
    }

    /// The npcs whose histories reached the office.
    fn told(rx: &crossbeam_channel::Receiver<LinkEvent>) -> Vec<String> {
        rx.try_iter()
            .map(|event| match event {
                LinkEvent::History { npc, .. } => npc,
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn history(npc: &str) -> LinkEvent {
        LinkEvent::History {
            npc: npc.into(),
            more_before: false,
            events: Vec::new(),
        }
    }

    #[test]
    fn loads_answered_after_the_office_moved_on_are_dropped() {
        let api = api();
        let (tx, rx) = crossbeam_channel::unbounded();
        let events = EventSink { tx, wake: None };
        // The stream begins a live load...
        let live = api.live_view().expect("the office starts live");
        // ...and the person drags the slider before it is answered.
        let moment = api.next_view(true);
        assert_eq!(
            api.live_view(),
            None,
            "no live loads begin while the past shows"
        );
        api.send_in(live, &events, history("live-scheduler"));
        api.send_in(moment, &events, history("past-scheduler"));
        // Back to live: what the moment still had on its way is dropped too.
        let back = api.next_view(false);
        api.send_in(moment, &events, history("past-deployer"));
        api.send_in(back, &events, history("live-deployer"));
        assert_eq!(told(&rx), ["past-scheduler", "live-deployer"]);
    }
}
