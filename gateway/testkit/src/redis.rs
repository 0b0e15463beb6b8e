//! Debian's redis-server on a free loopback port with its own directory,
//! persisting with `appendfsync always` (or what the test asks); stopped on
//! drop (SIGTERM, then its process group killed), and dies with the test.

use crate::child::{ServerChild, Shape};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<ServerChild>,
    pub port: u16,
    dir: tempfile::TempDir,
    fsync: String,
}

fn binary() -> PathBuf {
    crate::nginx::which("redis-server").expect(
        "redis-server is installed (./test.sh installs Debian's redis-server; or apt-get install redis-server)",
    )
}

impl RedisServer {
    /// A server persisting every write before it answers (`appendfsync always`).
    pub fn start() -> RedisServer {
        RedisServer::start_with("always")
    }

    pub fn start_with(fsync: &str) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: crate::free_port(),
            dir: tempfile::tempdir().unwrap(),
            fsync: fsync.to_owned(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (again) on the same port and directory, and waits until it answers.
    pub fn restart(&mut self) {
        let child = ServerChild::spawn(
            Command::new(binary())
                .args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                ])
                .arg(self.dir.path())
                .args([
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    &self.fsync,
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ])
                .stdout(Stdio::null()),
            Shape::Single,
            libc::SIGTERM,
        )
        .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        socket.write_all(b"PING\r\n").is_ok()
            && socket.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// SIGKILL: what Redis acknowledged must be in its append-only file.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }
}
