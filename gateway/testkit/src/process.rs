//! The gateway binary as a child process, for tests that kill it; stopped on
//! drop, and dies with the test process.

use crate::child::{ServerChild, Shape};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `{base}/readyz` answers 200.
pub async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway at {base} did not become ready");
}

/// A gateway binary on a port, with its files in `dir`; killed on drop.
pub struct GatewayProcess {
    pub child: ServerChild,
    pub port: u16,
}

impl GatewayProcess {
    /// Starts `binary` with `dir/agents.json`, `dir/db`, `dir/flows` and `extra` arguments.
    pub fn start(
        binary: &Path,
        dir: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> GatewayProcess {
        let mut command = Command::new(binary);
        command
            .args(["--port", &port.to_string(), "--agent-map-file"])
            .arg(dir.join("agents.json"))
            .arg("--data-dir")
            .arg(dir.join("db"))
            .arg("--flows-dir")
            .arg(dir.join("flows"))
            .args(extra)
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        GatewayProcess {
            child: ServerChild::spawn(&mut command, Shape::Single, libc::SIGTERM)
                .expect("the gateway binary starts"),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, then waits up to `within` for the exit; `None` if it did not stop.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.child.signal(libc::SIGTERM);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        self.child.kill();
    }
}
