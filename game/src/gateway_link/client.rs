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
    Ended(String),
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    settings: GatewaySettings,
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

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(describe)?;
        decode(response).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, String> {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(describe)?;
        decode(response).await
    }
}

/// Prefix of the messages of answers the gateway refused for want of credentials.
const SIGNED_OUT: &str = "signed out: ";

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, String> {
    let status = response.status();
    let signed_out = if status == reqwest::StatusCode::UNAUTHORIZED {
        SIGNED_OUT
    } else {
        ""
    };
    let text = response.text().await.map_err(describe)?;
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|e| format!("unexpected answer: {e}"));
    }
    // The gateway's errors are `{"error":{"code","message"}}`: show the message.
    match serde_json::from_str::<protocol::ErrorBody>(&text) {
        Ok(body) => Err(format!("{signed_out}{}", body.error.message)),
        Err(_) => Err(format!(
            "{signed_out}{status}: {}",
            text.chars().take(160).collect::<String>()
        )),
    }
}

/// Tells the office when a failure means its credentials are no longer good.
fn report_signed_out(events: &EventSink, error: &str) {
    if let Some(reason) = error.strip_prefix(SIGNED_OUT) {
        let _ = events.send(LinkEvent::SignedOut {
            reason: reason.to_owned(),
        });
    }
}

fn describe(error: reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
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
                                Err(e) => Some(StreamItem::Ended(format!(
                                    "bad event from the gateway: {e}"
                                ))),
                            },
                            Err(e) => Some(StreamItem::Ended(e.to_string())),
                        }
                    });
                let opened = futures_util::stream::once(async { StreamItem::Opened });
                let ended = futures_util::stream::once(async {
                    StreamItem::Ended("the gateway closed the stream".into())
                });
                opened.chain(events).chain(ended).left_stream()
            }
            Ok(response) => {
                let status = response.status();
                let message = decode::<serde_json::Value>(response)
                    .await
                    .err()
                    .unwrap_or_default();
                let ended = StreamItem::Ended(if message.starts_with(SIGNED_OUT) {
                    message
                } else {
                    format!("{status}: {message}")
                });
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
    let api = Api {
        http: reqwest::Client::new(),
        settings,
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

async fn load_roster(api: &Api, events: &EventSink) -> Result<Roster, String> {
    let roster: Roster = api.get("/api/agents").await?;
    let _ = events.send(LinkEvent::Roster(roster.clone()));
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
                return Err(format!("HTTP {}", response.status()));
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

async fn stream_loop(api: Api, events: EventSink) {
    let url = api.settings.base_url.clone();
    let mut last_id: Option<u64> = None;
    let mut attempt = 0u32;
    let mut office = None;
    loop {
        let _ = events.send(LinkEvent::State(LinkState::Connecting { url: url.clone() }));
        load_office(&api, &events, &mut office).await;
        let error = match connect_once(&api, &events, &mut last_id, &mut attempt).await {
            Ok(()) => "the gateway closed the stream".to_owned(),
            Err(e) => {
                report_signed_out(&events, &e);
                e
            }
        };
        attempt += 1;
        let backoff = Duration::from_millis(500)
            .saturating_mul(1 << attempt.min(5))
            .min(MAX_BACKOFF);
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
) -> Result<(), String> {
    let roster = load_roster(api, events).await?;
    if last_id.is_none() {
        for agent in &roster.agents {
            load_history(api, events, &agent.npc).await;
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
                let _ = events.send(LinkEvent::Live(event));
                if roster_changed {
                    if let Ok(roster) = load_roster(api, events).await {
                        for agent in &roster.agents {
                            load_history(api, events, &agent.npc).await;
                        }
                    }
                }
            }
            StreamItem::Ended(reason) => return Err(reason),
        }
    }
    Ok(())
}

async fn load_history(api: &Api, events: &EventSink, npc: &str) {
    match api
        .get::<HistoryPage>(&format!("/api/history?npc={npc}&limit={HISTORY_PAGE}"))
        .await
    {
        Ok(page) => {
            let _ = events.send(LinkEvent::History {
                npc: npc.to_owned(),
                more_before: page.next_before.is_some(),
                events: page.events,
            });
        }
        Err(e) => tracing::warn!(npc, error = %e, "history not loaded"),
    }
}

async fn command_loop(
    api: Api,
    events: EventSink,
    mut commands: futures_channel::mpsc::UnboundedReceiver<LinkCommand>,
) {
    while let Some(command) = commands.next().await {
        let (agent, result) = match command {
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
            } => {
                let body = RespondRequest { decision, comment };
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
            LinkCommand::SignOut => {
                let result = api
                    .request(reqwest::Method::DELETE, "/api/session")
                    .send()
                    .await;
                let _ = events.send(LinkEvent::SignedOut {
                    reason: match result {
                        Ok(_) => "signed out".to_owned(),
                        Err(e) => describe(e),
                    },
                });
                continue;
            }
            LinkCommand::CountRuns { since } => {
                let mut url =
                    reqwest::Url::parse("http://office/api/runs/count").expect("a constant URL");
                url.query_pairs_mut().append_pair("since", &since);
                let path = format!("/api/runs/count?{}", url.query().unwrap_or_default());
                match api.get::<RunCount>(&path).await {
                    Ok(count) => {
                        let _ = events.send(LinkEvent::RunsToday {
                            since: count.since,
                            started: count.started,
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "runs today not counted"),
                }
                continue;
            }
            LinkCommand::LoadRuns { agent } => {
                let result = api
                    .get::<RunsPage>(&format!("/api/runs?agent={agent}&limit=20"))
                    .await;
                if let Ok(page) = &result {
                    let _ = events.send(LinkEvent::Runs {
                        agent: agent.clone(),
                        runs: page.runs.clone(),
                    });
                }
                (agent, result.map(|_| ()))
            }
        };
        if let Err(message) = result {
            report_signed_out(&events, &message);
            let _ = events.send(LinkEvent::Refused { agent, message });
        }
    }
}
