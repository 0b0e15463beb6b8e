//! The native office in a real window: Xvfb + Mesa's software Vulkan, against
//! a real gateway with the demo agents. Checks pixels, not an exact image, and
//! saves the picture for the README.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An RGB screenshot of the X display, via ImageMagick.
struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Shot {
    fn take(display: &str, save_png: Option<&Path>) -> Option<Shot> {
        let grab = |target: &str| {
            Command::new("import")
                .args([
                    "-display", display, "-window", "root", "-depth", "8", target,
                ])
                .output()
        };
        let out = grab("ppm:-").ok()?;
        if !out.status.success() {
            return None;
        }
        if let Some(path) = save_png {
            grab(&format!("png:{}", path.display())).ok()?;
        }
        // Binary PPM: "P6\n<w> <h>\n255\n" then RGB bytes.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while out.stdout[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while !out.stdout[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&out.stdout[start..i]).to_string());
        }
        let (width, height) = (fields[1].parse().ok()?, fields[2].parse().ok()?);
        Some(Shot {
            width,
            height,
            rgb: out.stdout[i + 1..].to_vec(),
        })
    }

    /// Pixels within `tolerance` of `colour`.
    fn count(&self, colour: [u8; 3], tolerance: i32) -> usize {
        self.rgb
            .chunks_exact(3)
            .filter(|p| (0..3).all(|c| (p[c] as i32 - colour[c] as i32).abs() <= tolerance))
            .count()
    }

    fn distinct_colours(&self) -> usize {
        self.rgb
            .chunks_exact(3)
            .map(|p| (p[0], p[1], p[2]))
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

const WOOD: [u8; 3] = [196, 150, 100];
const LAMP_RED: [u8; 3] = [255, 60, 60];
const SCREEN_ON: [u8; 3] = [120, 220, 255];

fn wait_for(display: &str, what: &str, timeout: Duration, test: impl Fn(&Shot) -> bool) -> Shot {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(shot) = Shot::take(display, None) {
            if test(&shot) {
                return shot;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A real gateway with the sample agents and flows, storing in a temporary
/// directory (kept alive by the second value).
async fn demo_gateway() -> (gateway::Running, tempfile::TempDir) {
    let root = repo_root();
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        gateway::Config::for_paths(root.join("data/agents.json"), dir.path().join("db"));
    config.flows_dir = root.join("data/flows");
    (gateway::spawn(config).await.unwrap(), dir)
}

fn need_tools(tools: &[&str]) {
    for tool in tools {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .status()
                .unwrap()
                .success(),
            "{tool} is missing: run ./test.sh, which installs xvfb, mesa-vulkan-drivers, imagemagick and x11-utils"
        );
    }
}

/// A virtual X display of its own (`first` keeps tests running at once apart).
fn xvfb(first: u32) -> (String, Killed) {
    let display = format!(":{}", first + std::process::id() % 50);
    let server = Killed(
        Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x760x24",
                "-nolisten",
                "tcp",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(1));
    (display, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_office_draws_npcs_and_shows_an_error() {
    need_tools(&["Xvfb", "import", "xprop"]);
    let root = repo_root();
    let (gateway, _data) = demo_gateway().await;
    let base = gateway.url();

    let (display, _xvfb) = xvfb(40);
    let _office = Killed(
        Command::new(env!("CARGO_BIN_EXE_game"))
            .args(["--gateway", &base])
            .env("DISPLAY", &display)
            .env("WGPU_BACKEND", "vulkan")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let first = wait_for(
        &display,
        "the office floor and its NPCs",
        Duration::from_secs(90),
        |s| s.count(WOOD, 6) > 20_000 && s.distinct_colours() > 40,
    );
    assert_eq!((first.width, first.height), (1280, 760));
    let icon = Command::new("xprop")
        .args([
            "-display",
            &display,
            "-name",
            "Esprit-Hub office",
            "_NET_WM_ICON",
        ])
        .output()
        .unwrap();
    let icon = String::from_utf8_lossy(&icon.stdout);
    assert!(
        icon.contains("Icon (48 x 48)"),
        "the window has its 48×48 icon: {}",
        icon.chars().take(80).collect::<String>()
    );
    assert!(
        first.count(LAMP_RED, 4) < 5,
        "no red lamps before anything failed"
    );

    let client = reqwest::Client::new();
    for (npc, kind, data) in [
        (
            "deployer",
            "error",
            serde_json::json!({"error": "kubectl: connection refused"}),
        ),
        ("researcher", "started", serde_json::json!({})),
    ] {
        let r = client
            .post(format!("{base}/api/events"))
            .json(&serde_json::json!({"npc": npc, "type": kind, "data": data}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let after = wait_for(
        &display,
        "the red lamp and the lit monitor",
        Duration::from_secs(20),
        |s| s.count(LAMP_RED, 4) >= 10 && s.count(SCREEN_ON, 4) >= 50,
    );
    assert!(after.count(LAMP_RED, 4) > first.count(LAMP_RED, 4) + 10);
    Shot::take(&display, Some(&root.join("docs/screenshot-desktop.png")))
        .expect("screenshot saved");
    gateway.shutdown().await;
}

/// Frames the office draws in `seconds` (after its warm-up), from its
/// `--frame-stats` line.
fn frames_drawn(display: &str, base: &str, render: &str, seconds: u32) -> u32 {
    let out = Command::new(env!("CARGO_BIN_EXE_game"))
        .args(["--gateway", base, "--render", render])
        .args(["--frame-stats", &seconds.to_string()])
        .env("DISPLAY", display)
        .env("WGPU_BACKEND", "vulkan")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&out.stdout);
    let line = stats
        .lines()
        .find(|l| l.starts_with("npcs "))
        .unwrap_or_else(|| panic!("no frame stats from the office: {stats}"));
    let mut words = line.split_whitespace();
    words.find(|w| *w == "frames");
    words.next().and_then(|n| n.parse().ok()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_office_draws_only_on_its_quiet_tick() {
    need_tools(&["Xvfb"]);
    let root = repo_root();
    let (gateway, _data) = demo_gateway().await;
    let base = gateway.url();
    let agents: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(root.join("data/agents.json")).unwrap()).unwrap();
    let client = reqwest::Client::new();
    let everyone = |kind: &'static str| {
        let (client, base, agents) = (client.clone(), base.clone(), agents.clone());
        async move {
            for agent in &agents {
                let r = client
                    .post(format!("{base}/api/events"))
                    .json(&serde_json::json!({"npc": agent["npc"], "type": kind, "data": {"error": "stopped"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        }
    };
    // Everyone slumped over a failure: nothing types, walks or fades.
    everyone("error").await;
    let (display, _xvfb) = xvfb(90);
    let seconds = 4;
    let (d, b) = (display.clone(), base.clone());
    let still = tokio::task::spawn_blocking(move || frames_drawn(&d, &b, "on-demand", seconds))
        .await
        .unwrap();
    // One frame per quiet tick (0.5 s focused, 1 s unfocused), and a few to spare.
    assert!(
        still <= seconds * 2 + 3,
        "a still office drew {still} frames in {seconds} s"
    );
    let (d, b) = (display.clone(), base.clone());
    let continuous =
        tokio::task::spawn_blocking(move || frames_drawn(&d, &b, "continuous", seconds))
            .await
            .unwrap();
    assert!(
        continuous > still * 4,
        "drawing every frame ({continuous}) is the comparison: on demand drew {still}"
    );
    // Everyone typing, each in their own rhythm: every keystroke (0.14 s) is
    // drawn, on frames shared on a 50 ms grid (20 a second at most).
    everyone("started").await;
    let (d, b) = (display.clone(), base.clone());
    let typing = tokio::task::spawn_blocking(move || frames_drawn(&d, &b, "on-demand", seconds))
        .await
        .unwrap();
    let keystrokes = seconds as f32 / 0.14;
    assert!(
        typing as f32 >= keystrokes * 0.8 && typing <= seconds * 20 + 3,
        "a typing office drew {typing} frames in {seconds} s ({keystrokes:.0} keystrokes each)"
    );
    println!("frames in {seconds} s: still {still}, continuous {continuous}, typing {typing}");
    gateway.shutdown().await;
}
