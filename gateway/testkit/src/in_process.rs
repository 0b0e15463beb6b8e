//! A real gateway in this process, on port 0, with its files in a temp dir.

use crate::sse::Subscriber;
use gateway::{Config, Running};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

pub struct TestGateway {
    pub running: Running,
    pub dir: TempDir,
    pub http: reqwest::Client,
}

impl TestGateway {
    pub async fn start(agents: Value) -> TestGateway {
        Self::start_with(agents, |_| {}).await
    }

    pub async fn start_with(agents: Value, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("agents.json"),
            serde_json::to_string_pretty(&agents).unwrap(),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        Self::spawn_in(dir, tweak).await
    }

    async fn spawn_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let mut config = Config::for_paths(dir.path().join("agents.json"), dir.path().join("db"));
        config.flows_dir = dir.path().join("flows");
        config.web_dist = dir.path().join("dist");
        config.outbound.backoff = Duration::from_millis(20);
        tweak(&mut config);
        let running = gateway::spawn(config).await.expect("gateway starts");
        TestGateway {
            running,
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// Stops this gateway and starts a new one on the same files (its
    /// store, agents.json), configured by `tweak` again.
    pub async fn restart(self, tweak: impl FnOnce(&mut Config)) -> TestGateway {
        let TestGateway { running, dir, .. } = self;
        running.shutdown().await;
        Self::spawn_in(dir, tweak).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn publish(&self, npc: &str, kind: &str, data: Value) -> u64 {
        crate::publish(
            &self.http,
            &self.running.url(),
            json!({"npc": npc, "type": kind, "data": data}),
        )
        .await
    }

    /// Starts a run and reads its npc's events until the run ends.
    pub async fn run_to_end(
        &self,
        agent: &str,
        payload: Value,
    ) -> (String, Vec<protocol::EventEnvelope>) {
        let (run_id, mut stream) = self.run(agent, payload).await;
        (run_id, stream.until_end().await)
    }

    /// Starts a run (it must be accepted) with a stream of its npc opened first.
    pub async fn run(&self, agent: &str, payload: Value) -> (String, Subscriber) {
        let stream = self.subscribe(&format!("?npc={agent}")).await;
        let (status, body) = self
            .post(&format!("/api/run/{agent}"), json!({ "payload": payload }))
            .await;
        assert_eq!(status, 202, "{body}");
        (body["run_id"].as_str().unwrap().to_owned(), stream)
    }

    pub async fn subscribe(&self, query: &str) -> Subscriber {
        Subscriber::connect(&self.url(&format!("/api/stream{query}")), None, None).await
    }

    pub fn write_flow(&self, name: &str, text: &str) {
        std::fs::write(self.path("flows").join(format!("{name}.ron")), text).unwrap();
        self.running
            .service
            .flows()
            .reload(&self.path("flows").join(format!("{name}.ron")));
    }
}
