//! An SSE reader over a real connection, checking every frame as it reads.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use protocol::EventEnvelope;
use std::time::Duration;

/// An SSE reader over a real connection.
pub struct Subscriber {
    events: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
}

impl Subscriber {
    pub async fn connect(url: &str, last_event_id: Option<u64>, token: Option<&str>) -> Subscriber {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "stream {url}");
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|r| r.map_err(|e| e.to_string()));
        Subscriber {
            events: Box::pin(events),
        }
    }

    /// The next event (skipping frames with no event, like the hello), or None when the stream ends.
    pub async fn next_within(&mut self, wait: Duration) -> Option<EventEnvelope> {
        loop {
            let frame = tokio::time::timeout(wait, self.events.next())
                .await
                .ok()??
                .ok()?;
            if frame.data.is_empty() {
                continue;
            }
            let envelope: EventEnvelope =
                serde_json::from_str(&frame.data).expect("data is an envelope");
            assert_eq!(frame.event, envelope.kind.as_str());
            assert_eq!(frame.id, envelope.id.to_string());
            return Some(envelope);
        }
    }

    pub async fn next(&mut self) -> EventEnvelope {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10s")
    }

    /// Reads to the end of the stream: whatever was left and how it ended.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Option<eventsource_stream::Event> {
        tokio::time::timeout(wait, self.events.next())
            .await
            .ok()??
            .ok()
    }

    /// Events until a run ends (`done` or `error`, inclusive), each within 15 s.
    pub async fn until_end(&mut self) -> Vec<EventEnvelope> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .next_within(Duration::from_secs(15))
                .await
                .expect("the run ends within 15 s");
            let end = event.kind.is_terminal();
            seen.push(event);
            if end {
                return seen;
            }
        }
    }

    /// Events until one of `kind` arrives (inclusive).
    pub async fn until(&mut self, kind: &str) -> Vec<EventEnvelope> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.kind.as_str() == kind;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}
