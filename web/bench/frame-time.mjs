// Frame time of the browser office in headless Chromium (SwiftShader) with N
// NPCs while events stream at R per second. Prints mean / p50 / p99 frame
// intervals measured with requestAnimationFrame inside the page, and the
// page's main-thread busy time per frame (Chrome's Performance metrics: the
// wasm's own CPU, apart from the GPU process's rasteriser).
//   node bench/frame-time.mjs [npcs=100] [events_per_second=100] [seconds=10] [live|replay]
// `replay` publishes the events first (as fast as asked, for the same time),
// then opens the office at the moment they began and plays them back at 1×:
// the page takes the same events per second from the time slider as it took
// live. 2,400 events/s replayed is a day of 57,600 events (100 agents, a
// run of 12 events each every half hour, all day) played at 3600×.
// Env: ESPRIT_WEB_DIST (default web/dist), GATEWAY_BIN (default debug build).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [npcs = 100, rate = 100, seconds = 10] = process.argv.slice(2, 5).map(Number);
const mode = process.argv[5] || "live";
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(process.env.HOME, ".cache/esprit-hub/target");
const gatewayBin = process.env.GATEWAY_BIN || join(targetDir, "release", "gateway");
const webDist = process.env.ESPRIT_WEB_DIST || join(root, "web/dist");
const port = 3900 + (process.pid % 90);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "esprit-frames-"));
const agents = Array.from({ length: npcs }, (_, i) => ({ agent: `a${i}`, npc: `a${i}`, name: `Agent ${i}`, flow: "scheduler" }));
writeFileSync(join(dir, "agents.json"), JSON.stringify(agents));
const gateway = spawn(gatewayBin, ["--port", String(port), "--agent-map-file", join(dir, "agents.json"),
  "--flows-dir", join(root, "data/flows"), "--data-dir", join(dir, "db"), "--web-dist", webDist, "--log-level", "warn"],
  { stdio: ["ignore", "ignore", "inherit"] });
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break; } catch { /* starting */ }
  await sleep(100);
}
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox",
  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"] });
try {
  let publishing = true, sent = 0;
  const publish = async () => {
    const started = Date.now();
    while (publishing) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      const batch = [];
      for (; sent < due; sent++) batch.push({ npc: `a${sent % npcs}`, type: "step", data: { message: `step ${sent}` } });
      if (batch.length) await fetch(`http://127.0.0.1:${port}/api/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(batch) });
      await sleep(20);
    }
  };
  let from = null;
  if (mode === "replay") {
    from = Date.now();
    const recording = publish();
    await sleep((seconds + 5) * 1000);
    publishing = false;
    await recording;
    publishing = true;
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  await page.goto(`http://127.0.0.1:${port}/${from === null ? "" : `?at=${from}`}`);
  await page.waitForFunction((n) => document.querySelectorAll("#mirror-agents li").length === n, npcs, { timeout: 180_000 });
  await sleep(3000);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const busy = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
  const moment = async () => Number(await page.getAttribute("#mirror", "data-moment"));
  let publisher = Promise.resolve();
  let replayedFrom = null;
  if (mode === "replay") {
    await page.$eval('[data-timeline="play"]', (b) => b.click());
    await page.waitForFunction(() => document.getElementById("mirror").dataset.playing === "1");
    replayedFrom = await moment();
  } else {
    publisher = publish();
  }
  const before = await busy();
  const stamps = await page.evaluate((ms) => new Promise((resolve) => {
    const times = [];
    const end = performance.now() + ms;
    const tick = (t) => { times.push(t); if (t < end) requestAnimationFrame(tick); else resolve(times); };
    requestAnimationFrame(tick);
  }), seconds * 1000);
  const after = await busy();
  publishing = false;
  await publisher;
  if (replayedFrom !== null) {
    const moved = (await moment()) - replayedFrom;
    console.log(`replayed ${(moved / 1000).toFixed(1)} s of the recording in ${seconds} s (${sent} events recorded over ${seconds + 5} s)`);
  }
  const deltas = stamps.slice(1).map((t, i) => t - stamps[i]).sort((a, b) => a - b);
  const mean = deltas.reduce((a, b) => a + b, 0) / deltas.length;
  const pct = (p) => deltas[Math.min(deltas.length - 1, Math.floor(p * deltas.length))];
  const perFrame = (name) => (((after[name] - before[name]) * 1000) / deltas.length).toFixed(2);
  console.log(`${mode}: ${npcs} NPCs, ${rate} events/s, ${deltas.length} frames in ${seconds} s: mean ${mean.toFixed(1)} ms, p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms (${sent} events sent)`);
  console.log(`main thread per frame: ${perFrame("TaskDuration")} ms busy, ${perFrame("ScriptDuration")} ms in script`);
} finally {
  await browser.close();
  gateway.kill("SIGTERM");
  await new Promise((r) => (gateway.exitCode === null ? gateway.once("exit", r) : r()));
  rmSync(dir, { recursive: true, force: true });
}
