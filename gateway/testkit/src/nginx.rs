//! Debian's nginx in the foreground with `compose/nginx.conf`, its upstreams
//! rendered to loopback ports by `compose/render-nginx.sh`; stopped on drop
//! as nginx expects (SIGTERM to the master, which ends its workers at once), and its
//! whole process group killed if that takes too long.

use crate::child::{ServerChild, Shape};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: ServerChild,
    /// The office, its API and stream.
    pub addr: SocketAddr,
    /// Sim Studio, behind the office's sign-in.
    pub studio: SocketAddr,
    dir: tempfile::TempDir,
}

/// The repository's root (for `compose/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

impl Nginx {
    /// nginx in front of `gateways` (one upstream holding all of them), `sim` and `realtime`.
    pub fn start(gateways: &[SocketAddr], sim: SocketAddr, realtime: SocketAddr) -> Nginx {
        let nginx = which("nginx").expect(
            "nginx is installed (./test.sh installs Debian's nginx; or apt-get install nginx)",
        );
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", crate::free_port()).parse().unwrap();
        let studio: SocketAddr = format!("127.0.0.1:{}", crate::free_port()).parse().unwrap();
        let root = repo_root();
        let upstreams: Vec<String> = gateways.iter().map(ToString::to_string).collect();
        let rendered = Command::new(root.join("compose/render-nginx.sh"))
            .args([
                addr.to_string(),
                upstreams.join(","),
                sim.to_string(),
                realtime.to_string(),
                studio.to_string(),
            ])
            .stdin(std::fs::File::open(root.join("compose/nginx.conf")).unwrap())
            .output()
            .unwrap();
        assert!(
            rendered.status.success(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, &rendered.stdout).unwrap();
        let globals = format!(
            "daemon off; pid {}; error_log {} warn;",
            dir.path().join("nginx.pid").display(),
            dir.path().join("error.log").display()
        );
        let child = ServerChild::spawn(
            Command::new(nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-g")
                .arg(globals)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
            Shape::Forking,
            libc::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            addr,
            studio,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn studio_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.studio)
    }

    /// What nginx logged at warn and above.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The master's process id (its workers are in its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops nginx as it expects; dropping it does the same.
    pub fn stop(&mut self) {
        self.child.stop();
    }
}
