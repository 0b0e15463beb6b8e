// The browser office in a real headless Chromium (SwiftShader WebGL2), served
// by the real gateway with a stand-in Sim webhook (a real HTTP server that
// answers like Sim and posts the workflow's callbacks), and once through the
// compose nginx.conf. Env: ESPRIT_WEB_DIST (the built office, default
// web/dist), GATEWAY_BIN (default the debug build in the cargo target dir).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { createServer, get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(process.env.HOME, ".cache/esprit-hub/target");
const gatewayBin = process.env.GATEWAY_BIN || join(targetDir, "debug", "gateway");
const fixtureBin = process.env.FIXTURE_BIN || join(targetDir, "debug", "fixture");
const webDist = process.env.ESPRIT_WEB_DIST || join(root, "web/dist");
const simToken = "sim-webhook-secret";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Scratch directories made by this run, removed when it ends. */
const scratchDirs = [];
function scratchDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}

/** A port nobody listens on right now. */
async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * A fixture started by the Rust test kit, as the Rust tests start it: resolves
 * with the JSON line it printed (where to reach it), plus stop() and kill().
 * It stops what it started when told, or when this process's end closes its input.
 */
async function startFixture(args, env = {}) {
  const child = spawn(fixtureBin, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  const exited = new Promise((r) => child.once("exit", r));
  const line = await new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const at = buffered.indexOf("\n");
      if (at >= 0) resolve(buffered.slice(0, at));
    });
    child.once("exit", (code) => reject(new Error(`fixture ${args[0]} exited (${code}) before it was ready`)));
  });
  const end = async (word) => { child.stdin.end(`${word}\n`); await exited; };
  return { ...JSON.parse(line), stop: () => end("stop"), kill: () => end("kill") };
}

/** A stand-in for a deployed Sim workflow with a webhook trigger (posts its callbacks 700 ms apart). */
async function startStandInSim() {
  const sim = await startFixture(["sim", "--token", simToken, "--pace-ms", "700"]);
  /** What the stand-in received: `calls` ({headers, body}) and the statuses of refused callbacks. */
  sim.received = async () => (await fetch(sim.calls)).json();
  return sim;
}

async function waitUntil(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await sleep(200);
  }
}

function startGateway({ port, dir, agents, extra = [], env = {} }) {
  return startFixture(["gateway", "--bin", gatewayBin, "--port", String(port), "--",
    ...extra,
    "--agent-map-file", agents,
    "--flows-dir", join(root, "data/flows"),
    "--office-dir", join(root, "assets/office"),
    "--data-dir", join(dir, "db"),
    "--web-dist", webDist,
    "--log-level", "warn",
  ], env);
}

/** nginx with compose/nginx.conf, rendered for these gateways (host:port each). */
async function startNginx(gateways) {
  const nginx = await startFixture(["nginx", "--gateways", gateways.join(","), "--sim", sim.url.slice("http://".length)]);
  return { ...nginx, base: nginx.url };
}

/** A Redis of its own on a free loopback port, persisting every write. */
function startRedis() {
  return startFixture(["redis"]);
}

function pixels(buffer) {
  const png = PNG.sync.read(buffer);
  return { width: png.width, height: png.height, data: png.data };
}

/** Pixels within `tolerance` of a colour, in the whole image or a rectangle. */
function countNear(image, [r, g, b], tolerance, { x0 = 0, y0 = 0, x1 = image.width, y1 = image.height } = {}) {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * image.width + x) * 4;
      if (Math.abs(image.data[i] - r) <= tolerance && Math.abs(image.data[i + 1] - g) <= tolerance && Math.abs(image.data[i + 2] - b) <= tolerance) n++;
    }
  }
  return n;
}

/** Pixels that differ between two screenshots inside a rectangle. */
function changedIn(a, b, { x0, y0, x1, y1 }) {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(a.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(a.width, x1); x++) {
      const i = (y * a.width + x) * 4;
      if (Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]) > 30) n++;
    }
  }
  return n;
}

const chromiumArgs = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Opens the office and waits until the floor is drawn; returns the page and its problems. */
async function openOffice(browser, url, { context = browser, viewport = { width: 1280, height: 760 } } = {}) {
  const page = await context.newPage(context === browser ? { viewport } : undefined);
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  const started = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("loader").style.display === "none", null, { timeout: 120_000 });
  const image = await waitUntil("the office floor", async () => {
    const shot = pixels(await page.screenshot());
    return countNear(shot, [196, 150, 100], 8) > 20_000 ? shot : null;
  }, 60_000);
  return { page, problems, image, firstFrameMs: Date.now() - started };
}

const mirrorEntry = (page, npc) => page.evaluate((npc) => {
  const li = document.querySelector(`#mirror-agents li[data-npc="${npc}"]`);
  const rect = li?.dataset.bubbleRect?.split(",").map(Number);
  return li && {
    npc, status: li.dataset.status, selected: li.getAttribute("aria-current") === "true",
    x: Number(li.dataset.x), y: Number(li.dataset.y), label: li.querySelector(".label").textContent,
    away: li.dataset.away === "true",
    question: li.querySelector(".question p")?.textContent ?? null,
    answers: [...li.querySelectorAll('.question button[data-action="answer"]')].map((b) => b.dataset.decision),
    bubble: li.dataset.bubble ? { lines: li.dataset.bubble.split("\n"), left: rect[0], top: rect[1], right: rect[2], bottom: rect[3] } : null,
  };
}, npc);

const allEntries = (page) => page.$$eval("#mirror-agents li", (els) => els.map((li) => li.dataset.npc))
  .then((npcs) => Promise.all(npcs.map((npc) => mirrorEntry(page, npc))));

/** Publishes an event as a workflow would (no-token mode: from loopback). */
async function publish(npc, type, data, runId) {
  const response = await fetch(`http://127.0.0.1:${port}/api/events`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ npc, type, data, ...(runId ? { run_id: runId } : {}) }),
  });
  assert.equal(response.status, 202, await response.text());
}

/** A click whose press and release land in the same frame, as a quick person's do on a slow page. */
async function quickClick(page, x, y) {
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.up();
}

/** The bounding box of pixels near a colour inside an area, or null. */
function boxOf(image, colour, tolerance, area) {
  let box = null;
  for (let y = area.y0; y < area.y1; y++) {
    for (let x = area.x0; x < area.x1; x++) {
      const i = (y * image.width + x) * 4;
      if (Math.abs(image.data[i] - colour[0]) <= tolerance && Math.abs(image.data[i + 1] - colour[1]) <= tolerance && Math.abs(image.data[i + 2] - colour[2]) <= tolerance) {
        box = box ? { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x), y1: Math.max(box.y1, y) } : { x0: x, y0: y, x1: x, y1: y };
      }
    }
  }
  return box;
}

/** Starts a run of an agent (no-token mode) and returns its id. */
async function startRun(agent, payload = {}) {
  // An earlier test's run may still be finishing.
  await waitUntil(`${agent} to be free`, async () => !["running", "awaiting"].includes((await rosterEntry(agent))?.status), 60_000);
  const response = await fetch(`http://127.0.0.1:${port}/api/run/${agent}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ payload }),
  });
  const body = await response.json();
  assert.equal(response.status, 202, JSON.stringify(body));
  return body.run_id;
}

async function rosterEntry(agent) {
  const roster = await (await fetch(`http://127.0.0.1:${port}/api/agents`)).json();
  return roster.agents.find((a) => a.agent === agent);
}

async function runEvents(runId) {
  const page = await (await fetch(`http://127.0.0.1:${port}/api/history?limit=200`)).json();
  return page.events.filter((e) => e.run_id === runId);
}

/** Waits until the NPC stops moving on screen (the camera glides to a selection). */
async function settledPosition(page, npc) {
  let last = null;
  return waitUntil(`${npc} to settle on screen`, async () => {
    const entry = await mirrorEntry(page, npc);
    const same = last && entry && Math.abs(entry.x - last.x) < 1 && Math.abs(entry.y - last.y) < 1;
    last = entry;
    return same ? entry : null;
  });
}

let sim, gateway, browser, port, dir, agentsFile, agents;

before(async () => {
  assert.ok(existsSync(join(webDist, "index.html")), `the office is built in ${webDist} (web/build.sh)`);
  assert.ok(existsSync(gatewayBin), `gateway binary at ${gatewayBin} (cargo build -p gateway)`);
  sim = await startStandInSim();
  dir = scratchDir("esprit-web-");
  // The sample office, with the scheduler wired to the stand-in Sim webhook.
  agents = JSON.parse(readFileSync(join(root, "data/agents.json"), "utf8")).map((agent) => {
    if (agent.agent !== "scheduler") return agent;
    const { flow, ...rest } = agent;
    return { ...rest, webhookUrl: `${sim.url}/api/webhooks/trigger/esprit-scheduler`, webhookToken: simToken };
  });
  agentsFile = join(dir, "agents.json");
  writeFileSync(agentsFile, JSON.stringify(agents, null, 2));
  port = await freePort();
  gateway = await startGateway({ port, dir, agents: agentsFile });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: chromiumArgs });
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  await sim?.stop();
  for (const scratch of scratchDirs) rmSync(scratch, { recursive: true, force: true });
});

let office;

test("the page loads without console errors and draws the office", { timeout: 180_000 }, async () => {
  office = await openOffice(browser, `http://127.0.0.1:${port}/`);
  const colours = new Set();
  for (let i = 0; i < office.image.data.length; i += 4 * 7) colours.add(office.image.data.readUIntBE(i, 3));
  assert.ok(colours.size > 40, `a detailed picture, not a blank canvas (${colours.size} colours)`);
  assert.deepEqual(office.problems, [], "no console errors");
  console.log(`navigation to first office frame: ${office.firstFrameMs} ms`);
});

/** Opens the page and returns the loader's plain-words problem, once shown. */
async function problemOf(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("problem").style.display === "block", null, { timeout: 60_000 });
  return {
    heading: await page.textContent("#loader h1"),
    problem: await page.textContent("#problem"),
  };
}

test("the loader says plainly when the gateway, the wasm or WebGL2 is missing", { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const unreachable = await problemOf(page, `http://127.0.0.1:${port}/?gateway=http://127.0.0.1:9`);
  assert.equal(unreachable.heading, "The office could not open");
  assert.match(unreachable.problem, /The gateway at http:\/\/127\.0\.0\.1:9 is not answering/);

  await page.route("**/game_bg.wasm", (route) => route.fulfill({ status: 200, contentType: "application/wasm", body: "not wasm" }));
  const broken = await problemOf(page, `http://127.0.0.1:${port}/`);
  assert.match(broken.problem, /The office failed to start/);
  await page.close();

  const noGpu = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...chromiumArgs, "--disable-3d-apis"] });
  try {
    const bare = await noGpu.newPage();
    const missing = await problemOf(bare, `http://127.0.0.1:${port}/`);
    assert.match(missing.problem, /no WebGL2/);
  } finally {
    await noGpu.close();
  }
});

test("the accessible mirror lists every agent from agents.json", { timeout: 60_000 }, async () => {
  const { page } = office;
  const listed = await waitUntil("the mirror", async () => {
    const names = await page.$$eval("#mirror-agents li .label", (els) => els.map((e) => e.textContent));
    return names.length === agents.length ? names : null;
  });
  for (const agent of agents) {
    assert.ok(listed.some((label) => label.startsWith(`${agent.name}: `)), `${agent.name} is listed: ${listed}`);
  }
  assert.equal(await page.getAttribute("#mirror", "data-connection"), "connected");
  assert.equal(await page.getAttribute("#mirror-live", "aria-live"), "polite");
  const buttons = await page.$$eval("#mirror-agents button", (els) => els.map((e) => e.textContent));
  assert.ok(buttons.includes("Run Sage") && buttons.includes("Open Sage"), `keyboard controls: ${buttons}`);
});

test("clicking an NPC opens its panel, and Run drives it through the Sim webhook to done", { timeout: 120_000 }, async () => {
  const { page } = office;
  const before = pixels(await page.screenshot());
  const at = await settledPosition(page, "scheduler");
  assert.ok(at.x > 0 && at.y > 0, `the scheduler is on screen at ${at.x},${at.y}`);
  // The first view fits the whole office beside the roster: nobody off-screen.
  for (const entry of await allEntries(page)) {
    assert.ok(entry.x > 200 && entry.x < 1280 && entry.y > 30 && entry.y < 760, `${entry.label} in view at ${entry.x},${entry.y}`);
  }
  // A press and release in the same frame still selects.
  await quickClick(page, at.x, at.y);
  await waitUntil("the scheduler to be selected", async () => (await mirrorEntry(page, "scheduler"))?.selected);
  await sleep(300);
  const opened = pixels(await page.screenshot());
  // egui's dark panel fill, on the right where the NPC panel opens.
  const panelArea = { x0: 1280 - 300, y0: 80, x1: 1280, y1: 700 };
  const panelFill = [27, 27, 27];
  assert.ok(countNear(before, panelFill, 2, panelArea) < 5_000, "no panel before the click");
  assert.ok(countNear(opened, panelFill, 2, panelArea) > 50_000, "the side panel is drawn on the right");
  // The office re-fits into the space the panel leaves: every character stays in view, left of the panel.
  const entries = await waitUntil("the office to re-fit beside the panel", async () => {
    const all = await allEntries(page);
    return all.every((e) => e.x > 200 && e.x < 1280 - 300) ? all : null;
  });
  const spot = entries.find((e) => e.label.startsWith("Sage"));

  const npcArea = { x0: spot.x - 24, y0: spot.y - 40, x1: spot.x + 24, y1: spot.y + 24 };
  await page.focus('#mirror-npc-scheduler button[data-action="run"]');
  await page.keyboard.press("Enter");
  await waitUntil("the run to start", async () => (await mirrorEntry(page, "scheduler"))?.status === "running");
  await waitUntil("the run to finish", async () => (await mirrorEntry(page, "scheduler"))?.status === "done", 30_000);
  const done = pixels(await page.screenshot());
  const received = await sim.received();
  assert.equal(received.calls.length, 1, "the stand-in Sim received one webhook");
  const call = received.calls[0];
  assert.equal(call.body.npc, "scheduler");
  assert.match(call.body.run_id, /\S/);
  assert.deepEqual(received.refused, [], "every callback was accepted");
  const changed = changedIn(opened, done, npcArea);
  assert.ok(changed > 40, `the NPC's pixels changed with its status (${changed})`);
  const live = await page.textContent("#mirror-live");
  assert.match(live, /Sage: running/);
  assert.match(live, /Sage: done/);
  assert.match((await mirrorEntry(page, "scheduler")).label, /Booking room/);
  // The README's picture: the office with the panel open, the mirror out of focus.
  await page.evaluate(() => document.activeElement?.blur());
  await sleep(300);
  writeFileSync(join(root, "docs/screenshot-browser.png"), await page.screenshot());
});

test("a question asked before the page opened is answerable from the mirror by keyboard", { timeout: 180_000 }, async () => {
  const runId = await startRun("deployer", { version: "v2.3.0", env: "production" });
  const asked = await waitUntil("Dex to ask", async () => (await rosterEntry("deployer"))?.question, 60_000);
  assert.equal(asked.question, "Deploy v2.3.0 to production?");
  assert.equal(asked.run_id, runId);

  const fresh = await openOffice(browser, `http://127.0.0.1:${port}/`);
  const entry = await waitUntil("the question in the fresh page's mirror", async () => {
    const e = await mirrorEntry(fresh.page, "deployer");
    return e?.question ? e : null;
  });
  assert.equal(entry.question, "Dex asks: Deploy v2.3.0 to production?");
  assert.deepEqual(entry.answers, ["approve", "reject"]);
  await fresh.page.focus('#mirror-npc-deployer button[data-decision="approve"]');
  await fresh.page.keyboard.press("Enter");
  await waitUntil("the run to finish after the approval", async () =>
    (await runEvents(runId)).some((e) => e.type === "done"), 60_000);
  const answer = (await runEvents(runId)).find((e) => e.type === "response");
  assert.equal(answer?.decision, "approve", JSON.stringify(answer));
  await waitUntil("the question to leave the mirror", async () => (await mirrorEntry(fresh.page, "deployer")).question === null);
  assert.deepEqual(fresh.problems, []);
  await fresh.page.close();
});

test("a question is answerable from the NPC's panel", { timeout: 180_000 }, async () => {
  const { page } = office;
  const runId = await startRun("deployer", { version: "v2.4.0", env: "staging" });
  await waitUntil("Dex to ask in the page", async () => (await mirrorEntry(page, "deployer"))?.question, 60_000);
  const at = await settledPosition(page, "deployer");
  await quickClick(page, at.x, at.y);
  await waitUntil("Dex to be selected", async () => (await mirrorEntry(page, "deployer"))?.selected);
  // The panel's question box (its amber fill), its answer buttons on its last row.
  const panelArea = { x0: 1280 - 300, y0: 40, x1: 1280, y1: 760 };
  const box = await waitUntil("the question box in the panel", async () => {
    await sleep(300);
    return boxOf(pixels(await page.screenshot()), [60, 50, 20], 2, panelArea);
  });
  const shot = pixels(await page.screenshot());
  const row = box.y1 - 12;
  let buttonX = null;
  for (let x = box.x0 + 2; x < box.x1; x++) {
    const i = (row * shot.width + x) * 4;
    if (Math.abs(shot.data[i] - 60) + Math.abs(shot.data[i + 1] - 50) + Math.abs(shot.data[i + 2] - 20) > 40) { buttonX = x; break; }
  }
  assert.ok(buttonX !== null, `an answer button on the question box's last row (${JSON.stringify(box)})`);
  await quickClick(page, buttonX + 12, row);
  const answer = await waitUntil("the panel's answer", async () =>
    (await runEvents(runId)).find((e) => e.type === "response"), 30_000);
  assert.equal(answer.decision, "approve", JSON.stringify(answer));
  await waitUntil("the run to finish", async () => (await runEvents(runId)).some((e) => e.type === "done"), 60_000);
});

test("speech bubbles wrap at words, stay within three lines, inside the office and off each other", { timeout: 120_000 }, async () => {
  const { page } = office;
  const long = "Staging checks green (smoke, migrations, canary) and the rollout plan for every region is ready for your review now";
  for (const npc of ["mailops", "researcher", "reviewer", "support"]) {
    await publish(npc, "step", { message: `${npc}: ${long}` });
  }
  const shown = await waitUntil("four bubbles", async () => {
    const withBubbles = (await allEntries(page)).filter((e) => e.bubble && e.bubble.lines.join(" ").includes("Staging"));
    return withBubbles.length === 4 ? withBubbles : null;
  });
  const words = new Set(long.split(" ").concat(shown.map((e) => e.bubble.lines[0].split(" ")[0])));
  for (const { bubble, label } of shown) {
    assert.ok(bubble.lines.length <= 3, `${label}: ${bubble.lines.length} lines`);
    const said = bubble.lines.join(" ").replace(/…$/, "").split(" ");
    for (const word of said) assert.ok(words.has(word), `${label}: "${word}" is a whole word (${bubble.lines.join(" | ")})`);
    assert.ok(bubble.lines.at(-1).endsWith("…"), `${label}: a cut text ends with …`);
    assert.ok(bubble.left >= 0 && bubble.right <= 1280 && bubble.top >= 0 && bubble.bottom <= 760, `${label}: in the window ${JSON.stringify(bubble)}`);
  }
  for (let i = 0; i < shown.length; i++) {
    for (let j = i + 1; j < shown.length; j++) {
      const [a, b] = [shown[i].bubble, shown[j].bubble];
      const apart = a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
      assert.ok(apart, `bubbles of ${shown[i].label} and ${shown[j].label} do not overlap`);
    }
  }
});

test("the mirror opens as a drawer that leaves the office in view, with the latest few announcements", { timeout: 120_000 }, async () => {
  const { page } = office;
  for (let i = 0; i < 4; i++) {
    await publish("monitor", "started", { message: `check ${i}` });
    await publish("monitor", "done", { message: `check ${i} fine` });
  }
  await waitUntil("Otto's announcements", async () => (await page.textContent("#mirror-live")).includes("Otto: done"));
  await sleep(500);
  assert.ok((await page.$$eval("#mirror-live p", (ps) => ps.length)) <= 5, "at most five announcements stay");
  await page.focus('#mirror-npc-monitor button[data-action="select"]');
  const drawer = await page.$eval("#mirror", (el) => el.getBoundingClientRect().toJSON());
  assert.ok(drawer.left === 0 && drawer.width <= 300 && drawer.height >= 700, `a drawer on the left edge: ${JSON.stringify(drawer)}`);
  const inView = (await allEntries(page)).filter((e) => e.x > drawer.right);
  assert.ok(inView.length >= 4, `most characters stay visible beside the drawer (${inView.length})`);
  await page.evaluate(() => document.activeElement?.blur());
});

test("idle characters get up from their desks and walk about", { timeout: 150_000 }, async () => {
  const { page } = office;
  const away = await waitUntil("someone away from their desk", async () =>
    (await allEntries(page)).find((e) => e.away), 120_000);
  assert.ok(away.x > 0 && away.y > 0);
  writeFileSync(join(root, "docs/screenshot-walking.png"), await page.screenshot());
});

test("with access tokens the page asks for one, signs in with a cookie and shows who is signed in", { timeout: 180_000 }, async () => {
  const tokenPort = await freePort();
  const tokenDir = scratchDir("esprit-web-tokens-");
  const secured = await startGateway({ port: tokenPort, dir: tokenDir, agents: agentsFile,
    extra: ["--token", "operator:alice:alice-secret-token-0123456789,publisher:ci:ci-secret-token-0123456789"] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${tokenPort}/`);
    await page.waitForSelector("#sign-in:not([hidden])", { timeout: 60_000 });
    await page.fill("#sign-in-token", "wrong-token");
    await page.click("#sign-in button");
    await waitUntil("the refusal", async () => (await page.textContent("#sign-in-problem")).length > 0);
    await page.fill("#sign-in-token", "alice-secret-token-0123456789");
    await page.click("#sign-in button");
    await page.waitForFunction(() => document.getElementById("loader").style.display === "none", null, { timeout: 120_000 });
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.httpOnly), "an HttpOnly session cookie");
    assert.ok(!page.url().includes("token"), "no token in the address");
    assert.match(await page.textContent("#mirror-subject"), /alice \(operator\)/);
    await waitUntil("the stream", async () => (await page.getAttribute("#mirror", "data-connection")) === "connected");
    // The publisher's event reaches the signed-in page.
    const published = await fetch(`http://127.0.0.1:${tokenPort}/api/events`, {
      method: "POST", headers: { "content-type": "application/json", authorization: "Bearer ci-secret-token-0123456789" },
      body: JSON.stringify({ npc: "support", type: "step", data: { message: "ticket 42 answered" } }),
    });
    assert.equal(published.status, 202);
    await waitUntil("the event in the page", async () => (await mirrorEntry(page, "support"))?.label.includes("ticket 42 answered"));
    // Signing out ends the session; the page asks again.
    await page.focus("#sign-out");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#sign-in:not([hidden])", { timeout: 60_000 });
    await context.close();
  } finally {
    await secured.stop();
  }
});

test("a ?gateway= the serving gateway does not list never hears from the page", { timeout: 60_000 }, async () => {
  // Another server on loopback, recording whatever reaches it.
  const heard = [];
  const elsewhere = createServer((req, res) => { heard.push(`${req.method} ${req.url}`); res.writeHead(200); res.end("{}"); });
  await new Promise((r) => elsewhere.listen(0, "127.0.0.1", r));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/?gateway=http://127.0.0.1:${elsewhere.address().port}`);
    await waitUntil("the loader to give up", async () => /not answering/.test(await page.textContent("#loader")), 30_000);
    assert.deepEqual(heard, [], "the page's own policy kept it from connecting anywhere else");
    await page.close();
  } finally {
    elsewhere.close();
  }
});

/** The part of the window the office is fitted into, from the mirror. */
/** The NPC panel's controls on the canvas, by name: [left, top, right, bottom]. */
async function controlsOf(page) {
  const text = (await page.getAttribute("#mirror", "data-controls")) || "";
  return Object.fromEntries(text.split(" ").filter(Boolean).map((c) => {
    const [name, rect] = c.split(":");
    return [name, rect.split(",").map(Number)];
  }));
}

/** A rectangle the page's mirror gives as "left,top,right,bottom" (CSS px). */
async function rectOf(page, attribute) {
  const [left, top, right, bottom] = (await page.getAttribute("#mirror", attribute)).split(",").map(Number);
  return { left, top, right, bottom };
}

/** The part of the window the office is fitted into. */
const viewOf = (page) => rectOf(page, "data-view");
/** Where the office's floor is drawn (past the window's edges where the view crops it). */
const officeOf = (page) => rectOf(page, "data-office");

/** One or two fingers through the DevTools protocol: each step a list of [x, y]; empty ends the touch. */
async function touch(cdp, steps, pauseMs = 160) {
  let type = "touchStart";
  for (const points of steps) {
    await cdp.send("Input.dispatchTouchEvent", { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
    type = "touchMove";
    await sleep(pauseMs);
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await sleep(pauseMs);
}

// Twice: with the whole browser at the phone's pixel ratio, as on a phone, and
// with the ratio only emulated (a desktop browser's device mode, Playwright's
// deviceScaleFactor alone), where the canvas's device pixels stay at the
// screen's ratio while devicePixelRatio says 3.
for (const forced of [true, false]) test(`on a phone${forced ? "" : " (its pixel ratio emulated)"}: the office fills the screen, a tap opens a bottom sheet, pinch zooms, drag pans, the banner answers, the payload takes the on-screen keyboard`, { timeout: 300_000 }, async () => {
  const args = forced ? [...chromiumArgs, "--force-device-scale-factor=3"] : chromiumArgs;
  const phone = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
  // A phone's user agent: egui's text agent opens the on-screen keyboard for phones only.
  const userAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
  const context = await phone.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 3, userAgent });
  const { page, problems } = await openOffice(phone, `http://127.0.0.1:${port}/`, { context });
  const cdp = await context.newCDPSession(page);
  try {
    await waitUntil("the phone layout", async () => (await page.getAttribute("#mirror", "data-layout")) === "phone");
    // Held upright, the office fills the height and is cropped at the sides.
    const { view, floor } = await waitUntil("the office fitted", async () => {
      const [v, f, all] = [await viewOf(page), await officeOf(page), await allEntries(page)];
      return all.length === agents.length && all.every((e) => e.y >= f.top && e.y <= f.bottom) && f.left <= 0 && f.right >= 390 ? { view: v, floor: f } : null;
    });
    const share = ((Math.min(floor.right, 390) - Math.max(floor.left, 0)) * (floor.bottom - floor.top)) / (390 * 844);
    // Pixel art scales in whole device pixels: at an emulated ratio the
    // canvas has a third of the pixels, so the zoom steps are coarser.
    assert.ok(share >= (forced ? 0.6 : 0.5), `the office is ${Math.round(share * 100)}% of the screen`);
    assert.ok(floor.top >= view.top && floor.bottom <= view.bottom, `the office in its space (${JSON.stringify(floor)} in ${JSON.stringify(view)})`);
    assert.ok(view.top <= 60, `one slim bar on top (${view.top} px)`);
    const inSight = (await allEntries(page)).filter((e) => e.x >= 0 && e.x <= 390);
    assert.ok(inSight.length >= 3, `characters in sight: ${inSight.map((e) => e.label)}`);
    const fittedShot = await page.screenshot({ scale: "css" });
    if (forced) writeFileSync(join(root, "docs/screenshot-phone.png"), fittedShot);
    const fullScreen = pixels(fittedShot);
    // The minimap shows the whole floor under it; a tap looks there, and Fit comes back.
    const minimap = (await controlsOf(page)).minimap;
    assert.ok(minimap && minimap[1] >= floor.bottom - 8, `the minimap below the office (${minimap})`);
    const mapFloor = countNear(fullScreen, [150, 120, 85], 2, { x0: minimap[0], y0: minimap[1], x1: minimap[2], y1: minimap[3] });
    assert.ok(mapFloor > ((minimap[2] - minimap[0]) * (minimap[3] - minimap[1])) / 3, `the minimap drawn (${mapFloor} floor pixels)`);
    await page.touchscreen.tap(minimap[0] + 3, (minimap[1] + minimap[3]) / 2);
    const fit = await waitUntil("the Fit button", async () => (await controlsOf(page)).fit);
    await waitUntil("the view at the floor's left end", async () => (await officeOf(page)).left > floor.left + 100);
    await page.touchscreen.tap((fit[0] + fit[2]) / 2, (fit[1] + fit[3]) / 2);
    await waitUntil("the fitted view again", async () =>
      (await officeOf(page)).left === floor.left && !(await controlsOf(page)).fit);

    // A tap selects and opens the bottom sheet; the office re-fits above it.
    const tapped = inSight[0].npc;
    const at = await settledPosition(page, tapped);
    await page.touchscreen.tap(at.x, at.y);
    await waitUntil(`${tapped} selected by a tap`, async () => (await mirrorEntry(page, tapped))?.selected);
    const withSheet = await waitUntil("the sheet", async () => {
      const v = await viewOf(page);
      return v.bottom <= 844 * 0.6 ? v : null;
    });
    for (const entry of await waitUntil("the office above the sheet", async () => {
      const all = await allEntries(page);
      return all.every((e) => e.y <= withSheet.bottom) ? all : null;
    })) assert.ok(entry.y >= withSheet.top, `${entry.label} in view`);
    // A swipe down on the sheet's handle closes it.
    await touch(cdp, [[[195, withSheet.bottom + 10]], [[195, withSheet.bottom + 120]], [[195, withSheet.bottom + 300]]]);
    await waitUntil("the sheet closed by a swipe", async () => !(await mirrorEntry(page, tapped)).selected);

    // Two fingers apart: a step closer; one finger: the office follows it.
    const [a0, b0] = [await settledPosition(page, "scheduler"), await settledPosition(page, "deployer")];
    const middle = [(view.left + view.right) / 2, (view.top + view.bottom) / 2];
    await touch(cdp, [
      [[middle[0] - 30, middle[1]], [middle[0] + 30, middle[1]]],
      [[middle[0] - 60, middle[1]], [middle[0] + 60, middle[1]]],
      [[middle[0] - 90, middle[1]], [middle[0] + 90, middle[1]]],
    ]);
    const [a1, b1] = [await settledPosition(page, "scheduler"), await settledPosition(page, "deployer")];
    assert.ok(Math.abs(b1.x - a1.x) > Math.abs(b0.x - a0.x) * 1.2, `a pinch zooms in (${b0.x - a0.x} → ${b1.x - a1.x})`);
    await touch(cdp, [[[middle[0], middle[1]]], [[middle[0] + 30, middle[1]]], [[middle[0] + 60, middle[1]]], [[middle[0] + 90, middle[1]]]]);
    const a2 = await settledPosition(page, "scheduler");
    assert.ok(a2.x - a1.x > 40, `a one-finger drag pans the office (${a1.x} → ${a2.x})`);

    // A question waits: the banner shows it; one tap answers.
    const runId = await startRun("deployer", { version: "v9.9.9", env: "phone" });
    await waitUntil("Dex's question in the page", async () => (await mirrorEntry(page, "deployer"))?.question, 60_000);
    const withBanner = await waitUntil("the banner", async () => {
      const v = await viewOf(page);
      return v.bottom < view.bottom - 60 ? v : null;
    });
    const shot = pixels(await page.screenshot({ scale: "css" }));
    const banner = boxOf(shot, [60, 50, 20], 2, { x0: 0, y0: withBanner.bottom, x1: 390, y1: 844 });
    assert.ok(banner && banner.y1 - banner.y0 >= 60, `the banner below the office (${JSON.stringify(banner)})`);
    let buttonX = null;
    const row = banner.y1 - 30;
    for (let x = banner.x0 + 2; x < banner.x1; x++) {
      const i = (row * shot.width + x) * 4;
      if (Math.abs(shot.data[i] - 60) + Math.abs(shot.data[i + 1] - 50) + Math.abs(shot.data[i + 2] - 20) > 40) { buttonX = x; break; }
    }
    assert.ok(buttonX !== null, "an answer button in the banner");
    await page.touchscreen.tap(buttonX + 20, row);
    const answer = await waitUntil("the banner's answer", async () => (await runEvents(runId)).find((e) => e.type === "response"), 30_000);
    assert.equal(answer.decision, "approve");
    await waitUntil("the banner to go", async () => (await viewOf(page)).bottom >= view.bottom - 2);

    // The payload editor, typed into with the on-screen keyboard; the run carries it.
    await page.$eval('#mirror-npc-scheduler button[data-action="select"]', (b) => b.click());
    const toggle = await waitUntil("the sheet's payload toggle", async () => (await controlsOf(page))["payload-toggle"]);
    const run = (await controlsOf(page)).run;
    assert.ok(run[3] - run[1] >= 44 && toggle[3] - toggle[1] >= 44, `44 px touch targets (Run ${run}, payload ${toggle})`);
    await page.touchscreen.tap((toggle[0] + toggle[2]) / 2, (toggle[1] + toggle[3]) / 2);
    // Once the section has finished opening (egui animates it).
    let lastEditor = null;
    const editor = await waitUntil("the payload editor", async () => {
      const now = (await controlsOf(page)).payload;
      const settled = now && lastEditor && now.join() === lastEditor.join();
      lastEditor = now;
      return settled ? now : null;
    });
    // A quick tap at the end of the text (the finger's touch and lift land in
    // one frame of this slow page): the keyboard opens, egui's text agent has focus.
    await touch(cdp, [[[editor[2] - 10, (editor[1] + editor[3]) / 2]]], 0);
    await waitUntil("the on-screen keyboard", () => page.evaluate(() => document.activeElement?.id === "egui_text_agent" && !document.activeElement.hidden));
    const editorArea = { x0: editor[0], y0: editor[1], x1: editor[2], y1: editor[3] };
    const untyped = pixels(await page.screenshot({ scale: "css" }));
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Backspace");
    await page.keyboard.insertText('{"room": "4"}');
    // What was typed shows in the editor (the person reads it before tapping Run).
    const typedAt = Date.now();
    await waitUntil("the typed payload on screen", async () => changedIn(untyped, pixels(await page.screenshot({ scale: "css" })), editorArea) > 60, 10_000);
    console.log(`typed text on screen after ${Date.now() - typedAt} ms`);
    const calls = (await sim.received()).calls.length;
    const runNow = (await controlsOf(page)).run;
    await page.touchscreen.tap((runNow[0] + runNow[2]) / 2, (runNow[1] + runNow[3]) / 2);
    const call = await waitUntil("the run with the typed payload", async () =>
      (await sim.received()).calls.slice(calls).find((c) => c.body?.npc === "scheduler"));
    assert.deepEqual(call.body.payload, { room: "4" });
    // The stand-in's callbacks are all in before the gateway stops.
    await waitUntil("the typed run to finish", async () => (await mirrorEntry(page, "scheduler"))?.status === "done", 30_000);
    assert.deepEqual(problems, []);
  } finally {
    await phone.close();
  }
});

/** Where the office is in time: the moment shown (null: live) and whether it plays. */
const momentOf = async (page) => {
  const at = await page.getAttribute("#mirror", "data-moment");
  return at === null ? null : Number(at);
};

/** The moment once the office stops moving it: a drag's last positions reach
 * the game a few frames after the mouse is released. */
async function settledMoment(page) {
  const seen = [];
  return waitUntil("the moment to settle", async () => {
    seen.push(await momentOf(page));
    const last = seen.slice(-3);
    return last.length === 3 && last[0] !== null && last.every((at) => at === last[0]) ? last[0] : null;
  });
}

/** Presses one of the mirror's time controls (as a keyboard or screen reader does). */
const timelineButton = (page, which) => page.$eval(`[data-timeline="${which}"]`, (b) => b.click());

/** The last difference officeMatches saw, for the message when it never matches. */
let officeDifference = "";

/** Every character in the mirror is as `GET /api/agents?at=` says (or live, without `at`). */
async function officeMatches(page, at) {
  const roster = await (await fetch(`http://127.0.0.1:${port}/api/agents${at === null ? "" : `?at=${at}`}`)).json();
  for (const agent of roster.agents) {
    const entry = await mirrorEntry(page, agent.npc);
    if (entry?.status !== agent.status) {
      officeDifference = `${agent.npc} is ${entry?.status} on the page and ${agent.status} at ${at} (the page shows ${await momentOf(page)})`;
      return false;
    }
  }
  return true;
}

/** Waits until every character shows what the gateway says of moment `at` (null: now). */
const officeAs = (page, what, at, timeoutMs) =>
  waitUntil(() => `${what}: ${officeDifference}`, () => officeMatches(page, at), timeoutMs);

test("the time slider: a shared moment, marks, Live, dragging and playing back to now; nothing is run or answered from the past", { timeout: 240_000 }, async () => {
  const runId = await startRun("deployer", { version: "v4.0.0", env: "then" });
  await waitUntil("Dex asking", async () => (await rosterEntry("deployer"))?.status === "awaiting", 60_000);
  await sleep(1500);
  const at = Date.now();
  await sleep(1500);
  const answered = await fetch(`http://127.0.0.1:${port}/api/runs/${runId}/respond`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ decision: "reject" }),
  });
  assert.equal(answered.status, 202);
  await waitUntil("Dex's run over", async () => (await rosterEntry("deployer"))?.status !== "awaiting", 60_000);
  const then = await (await fetch(`http://127.0.0.1:${port}/api/agents?at=${at}`)).json();
  const { page, problems } = await openOffice(browser, `http://127.0.0.1:${port}/?at=${at}`);
  try {
    await waitUntil("the past moment", async () => (await page.getAttribute("#mirror", "data-connection")) === "past");
    assert.equal(await momentOf(page), at);
    // Every character as it was then: Dex still asks, though live it was answered.
    for (const agent of then.agents) {
      await waitUntil(`${agent.npc} as it was`, async () => (await mirrorEntry(page, agent.npc))?.status === agent.status);
    }
    assert.equal((await mirrorEntry(page, "deployer")).status, "awaiting");
    assert.notEqual((await rosterEntry("deployer")).status, "awaiting", "live has moved on");
    // The violet frame says plainly that this is not now.
    const framed = pixels(await page.screenshot());
    writeFileSync(join(root, "docs/screenshot-past.png"), await page.screenshot());
    assert.ok(countNear(framed, [170, 140, 240], 12) > 2_000, "the past is framed in violet");
    // The slider marks the question (and every other error and wait).
    const marks = await (await fetch(`http://127.0.0.1:${port}/api/marks?from=${Date.now() - 7 * 86_400_000}`)).json();
    await waitUntil("the marks on the slider", async () => Number(await page.getAttribute("#mirror", "data-marks")) >= marks.marks.length);
    assert.ok(marks.marks.some((m) => m.npc === "deployer" && m.type === "awaiting"));

    // In the past, run and answer are off: on the page and on the canvas.
    assert.equal(await page.$eval('#mirror-npc-deployer button[data-action="answer"]', (b) => b.disabled), true);
    assert.equal(await page.$eval('#mirror-npc-deployer button[data-action="run"]', (b) => b.disabled), true);
    const events = (await runEvents(runId)).length;
    await page.$eval('#mirror-npc-deployer button[data-action="answer"]', (b) => b.click());
    const dex = await mirrorEntry(page, "deployer");
    await quickClick(page, dex.x, dex.y);
    const run = await waitUntil("the panel's Run", async () => (await controlsOf(page)).run);
    const runsSince = async () => (await (await fetch(`http://127.0.0.1:${port}/api/runs/count?since=${new Date(at).toISOString()}`)).json()).started;
    const runsBefore = await runsSince();
    await quickClick(page, (run[0] + run[2]) / 2, (run[1] + run[3]) / 2);
    await sleep(1000);
    assert.equal((await runEvents(runId)).length, events, "nothing answered from the past");
    assert.equal(await runsSince(), runsBefore, "nothing run from the past");
    await page.keyboard.press("Escape");

    // Live (the canvas button) returns to now.
    const live = (await controlsOf(page))["timeline-live"];
    await quickClick(page, (live[0] + live[2]) / 2, (live[1] + live[3]) / 2);
    await waitUntil("live again", async () => (await page.getAttribute("#mirror", "data-connection")) === "connected");
    assert.equal(await momentOf(page), null);
    await officeAs(page, "the live office", null);
    assert.equal(await page.$eval('#mirror-npc-deployer button[data-action="run"]', (b) => b.disabled), false);

    // Drag the slider back: the office shows the moment it was dragged to.
    const [left, top, right, bottom] = (await controlsOf(page)).timeline;
    const y = (top + bottom) / 2;
    await page.mouse.move(right - 2, y);
    await page.mouse.down();
    for (const x of [right - 40, right - 120, (left + right) / 2]) {
      await page.mouse.move(x, y, { steps: 3 });
      await sleep(150);
    }
    await page.mouse.up();
    await waitUntil("a past moment", async () => (await page.getAttribute("#mirror", "data-connection")) === "past");
    const dragged = await settledMoment(page);
    assert.ok(dragged < Date.now() - 10_000, `dragged to ${dragged}`);
    await officeAs(page, "the office as of the dragged moment", dragged);
    // The address carries the moment: copying it shares the office as it was.
    await waitUntil("the moment in the address", async () => new URL(page.url()).searchParams.get("at") === String(await momentOf(page)));

    // The previous question: the mark jumps to Dex asking again.
    await timelineButton(page, "live");
    await waitUntil("live again", async () => (await momentOf(page)) === null);
    await waitUntil("no moment in the address", async () => !new URL(page.url()).searchParams.has("at"));
    await timelineButton(page, "previous");
    await waitUntil("back at the last mark", async () => (await momentOf(page)) !== null);
    const jumped = await momentOf(page);
    await officeAs(page, "the office as of the mark", jumped);

    // Play from Dex's question at 3600×: the night goes by and the office is live again.
    await timelineButton(page, "live");
    await waitUntil("live again", async () => (await momentOf(page)) === null);
    await page.goto(`http://127.0.0.1:${port}/?at=${at}`);
    await waitUntil("the past moment", async () => (await momentOf(page)) === at, 120_000);
    await waitUntil("Dex asking, replayed", async () => (await mirrorEntry(page, "deployer"))?.status === "awaiting");
    // At 1× the moment shown moves on with the clock...
    const speed = (value) => page.$eval("#timeline-speed", (select, value) => {
      select.value = value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }, value);
    await speed("1");
    await timelineButton(page, "play");
    await waitUntil("playing", async () => (await page.getAttribute("#mirror", "data-playing")) === "1");
    await waitUntil("the moment moving on", async () => (await momentOf(page)) >= at + 1_000);
    assert.ok((await momentOf(page)) < at + 60_000, "at 1×, a second a second");
    // ...and at 3600× the rest of the night goes by in a moment (too quickly to watch it play here).
    await speed("3600");
    await waitUntil("the answer replayed", async () => (await mirrorEntry(page, "deployer"))?.status !== "awaiting", 30_000);
    await waitUntil("caught up with now", async () => (await page.getAttribute("#mirror", "data-connection")) === "connected", 60_000);
    await officeAs(page, "the live office after the replay", null);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("after an absence a card says what happened since, with the gateway's numbers, and replays it", { timeout: 180_000 }, async () => {
  const since = Date.now() - 3 * 3_600_000;
  // Something happened meanwhile: a run that failed.
  await publish("monitor", "started", { message: "checking" }, "away-run");
  await publish("monitor", "error", { error: "probe timed out" }, "away-run");
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  // The last visit, three hours ago on this browser (an open gateway: no one signed in).
  await context.addInitScript((since) => {
    if (!localStorage.getItem("seeded")) {
      localStorage.setItem("esprit-last-visit.", String(since));
      localStorage.setItem("seeded", "1");
    }
  }, since);
  const { page, problems } = await openOffice(browser, `http://127.0.0.1:${port}/`, { context });
  try {
    const away = await waitUntil("the card", () => page.getAttribute("#mirror", "data-away"), 60_000);
    const facts = Object.fromEntries(away.split(" ").map((pair) => pair.split("=")));
    assert.equal(Number(facts.since), since);
    const summary = await (await fetch(`http://127.0.0.1:${port}/api/summary?since=${since}`)).json();
    assert.equal(Number(facts.runs), summary.runs_started);
    assert.equal(Number(facts.failed), summary.runs_failed);
    assert.equal(Number(facts.waiting), summary.waiting.length);
    assert.equal(Number(facts.cost), Number(summary.usage.cost_usd.toFixed(2)));
    assert.ok(summary.runs_started > 0, "this office ran things in the last hours");
    // This visit is remembered: the next opening is no absence.
    const kept = Number(await page.evaluate(() => localStorage.getItem("esprit-last-visit.")));
    assert.ok(kept > since + 3_000_000, `visit kept at ${kept}`);
    // Replay what I missed: from the last visit, at a speed that fits a minute.
    // The card's place once it settled (a window sizes itself over its first frames).
    let replay = null;
    await waitUntil("the card's buttons in place", async () => {
      const now = (await controlsOf(page))["away-replay"];
      const settled = now && replay && now.join() === replay.join();
      replay = now;
      await sleep(300);
      return settled;
    });
    await quickClick(page, (replay[0] + replay[2]) / 2, (replay[1] + replay[3]) / 2);
    await waitUntil("replaying", async () => (await momentOf(page)) !== null);
    assert.ok((await momentOf(page)) >= since);
    assert.equal(await page.getAttribute("#mirror", "data-playing"), String(Math.round((Date.now() - since) / 60_000)));
    assert.equal(await page.getAttribute("#mirror", "data-away"), null, "the card is gone");
    const again = await openOffice(browser, `http://127.0.0.1:${port}/`, { context });
    await sleep(3000);
    assert.equal(await again.page.getAttribute("#mirror", "data-away"), null, "no card right after a visit");
    await again.page.close();
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("a new question chimes when the person asked for it, and the choice is kept", { timeout: 120_000 }, async () => {
  const { page } = office;
  await page.focus("#attention-chime");
  await page.keyboard.press("Space");
  await waitUntil("the choice to be kept", async () =>
    (await page.evaluate(() => localStorage.getItem("esprit-attention"))) === "chime");
  const chimes = async () => Number((await page.getAttribute("html", "data-chimes")) || 0);
  const before = await chimes();
  const runId = await startRun("deployer", { version: "v3.0.0", env: "production" });
  await waitUntil("a chime for Dex's question", async () => (await chimes()) === before + 1, 60_000);
  const answered = await fetch(`http://127.0.0.1:${port}/api/runs/${runId}/respond`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ decision: "reject" }),
  });
  assert.equal(answered.status, 202);
  await publish("monitor", "step", { message: "no question here" });
  await sleep(1500);
  assert.equal(await chimes(), before + 1, "only a question chimes, and only once");
  await page.keyboard.press("Space");
  await waitUntil("the chime off again", async () =>
    (await page.evaluate(() => localStorage.getItem("esprit-attention"))) === "");
  await page.evaluate(() => document.activeElement?.blur());
});

test("a gateway restart shows reconnecting, then resumes with no missed events", { timeout: 120_000 }, async () => {
  const { page } = office;
  await gateway.stop();
  await waitUntil("reconnecting", async () => (await page.getAttribute("#mirror", "data-connection")) === "reconnecting");
  assert.equal((await mirrorEntry(page, "researcher")).status, "offline", "NPCs show offline while the gateway is away");
  gateway = await startGateway({ port, dir, agents: agentsFile });
  // Published before the page is back: it must arrive through Last-Event-ID replay.
  await publish("researcher", "started", { message: "while you were away" });
  await publish("researcher", "step", { message: "read 12 papers while you were away" });
  await publish("researcher", "done", { result: { papers: 12 } });
  const stillAway = (await page.getAttribute("#mirror", "data-connection")) !== "connected";
  await waitUntil("connected again", async () => (await page.getAttribute("#mirror", "data-connection")) === "connected", 60_000);
  const entry = await waitUntil("the researcher's missed run", async () => {
    const e = await mirrorEntry(page, "researcher");
    return e.status === "done" ? e : null;
  });
  assert.match(entry.label, /read 12 papers while you were away/);
  console.log(`events published while the page was ${stillAway ? "still reconnecting" : "already back"} arrived`);
});

test("through the compose nginx.conf: page, wasm and stream load", { timeout: 180_000 }, async () => {
  const nginx = await startNginx([`127.0.0.1:${port}`]);
  try {
    const wasm = await new Promise((resolve, reject) => {
      httpGet(`${nginx.base}/game_bg.wasm`, { headers: { "accept-encoding": "gzip, br" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.headers));
      }).on("error", reject);
    });
    assert.equal(wasm["content-type"], "application/wasm");
    assert.match(wasm["content-encoding"] || "", /^(gzip|br)$/, "the wasm goes out compressed");
    const proxied = await openOffice(browser, `${nginx.base}/`);
    assert.deepEqual(proxied.problems, [], "no console errors (the CSP lets the wasm run)");
    await waitUntil("the mirror through nginx", async () =>
      (await proxied.page.getAttribute("#mirror", "data-connection")) === "connected");
    await proxied.page.close();
  } finally {
    await nginx.stop();
  }
});

test("two gateways on Redis behind nginx: killing either one keeps the page working, without a reload", { timeout: 240_000 }, async () => {
  const redis = await startRedis();
  const ports = [await freePort(), await freePort()];
  const start = (p) => startGateway({ port: p, dir: scratchDir("esprit-web-redis-"), agents: agentsFile,
    env: { STORE_URL: redis.url, STORE_PREFIX: "web-test" } });
  const gateways = [];
  let nginx;
  try {
    // The first start also waits for Redis to take connections.
    gateways.push(await start(ports[0]), await start(ports[1]));
    nginx = await startNginx(ports.map((p) => `127.0.0.1:${p}`));
    const { page, problems } = await openOffice(browser, `${nginx.base}/`);
    await waitUntil("connected through nginx", async () => (await page.getAttribute("#mirror", "data-connection")) === "connected");
    await page.evaluate(() => { window.__sameDocument = true; });
    const say = async (message) => {
      // As publishers do: a 502 (nginx met the dead gateway first) is tried again.
      const status = await waitUntil("the publish to be taken", async () => {
        const response = await fetch(`${nginx.base}/api/events`, {
          method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ npc: "support", type: "step", data: { message } }),
        });
        return response.status === 502 ? null : response.status;
      });
      assert.equal(status, 202);
      await waitUntil(`"${message}" in the page`, async () => (await mirrorEntry(page, "support"))?.label.includes(message), 60_000);
    };
    await say("both gateways up");
    // Whichever gateway holds the page's stream, it dies once.
    for (const i of [0, 1]) {
      await gateways[i].kill();
      await say(`gateway ${i + 1} killed`);
      gateways[i] = await start(ports[i]);
    }
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page never reloaded");
    assert.deepEqual(problems.filter((p) => !/Failed to load resource|ERR_|502|net::/.test(p)), []);
    await page.close();
  } finally {
    await nginx?.stop();
    for (const gateway of gateways) await gateway.stop().catch(() => {});
    await redis.stop();
  }
});

test("a Sim workspace walks in: its pauses are answered from the page and the phone banner, and an unreachable Sim greys it out", { timeout: 300_000 }, async () => {
  const key = "sk-sim-browser-test";
  const workspace = await startFixture(["sim-workspace", "--key", key]);
  const simDir = scratchDir("esprit-web-sim-");
  const emptyAgents = join(simDir, "agents.json");
  writeFileSync(emptyAgents, "[]");
  const simPort = await freePort();
  const simGateway = await startGateway({
    port: simPort, dir: simDir, agents: emptyAgents,
    env: { AP_BASE: workspace.url, AP_TOKEN: key, AP_PROJECT: workspace.workspace, SIM_POLL_SECS: "0.3", SIM_ROSTER_SECS: "0.5" },
  });
  const base = `http://127.0.0.1:${simPort}`;
  const events = async (runId) => (await (await fetch(`${base}/api/history?limit=200`)).json()).events.filter((e) => e.run_id === runId);
  const startInSim = async (workflow) => (await (await fetch(`${workspace.url}/_test/start/${workflow}/schedule`, { method: "POST" })).json()).executionId;
  let phone;
  try {
    // With an empty agents.json, the workspace's deployed workflows are the roster.
    const { page, problems } = await openOffice(browser, `${base}/`);
    const names = await waitUntil("the workflows as characters", async () => {
      const all = await allEntries(page);
      return all.length === 2 ? all.map((e) => e.label.split(":")[0]).sort() : null;
    });
    assert.deepEqual(names, ["Mail triage", "Refunds"]);

    // Started in Sim, paused at its Human in the Loop block: answered from the page.
    const first = await startInSim("wf-refunds");
    const entry = await waitUntil("the pause in the page", async () => {
      const e = await mirrorEntry(page, "wf-refunds");
      return e?.question ? e : null;
    }, 60_000);
    assert.equal(entry.question, "Refunds asks: Refund order 42?");
    assert.deepEqual(entry.answers, ["yes", "no"], "the approve switch as one-tap answers");
    await page.$eval('#mirror-npc-wf-refunds button[data-decision="no"]', (b) => b.click());
    await waitUntil("the run to finish in Sim", async () => (await events(first)).some((e) => e.type === "done"), 60_000);
    const answer = (await events(first)).find((e) => e.type === "response");
    assert.deepEqual(answer.input, { approved: false }, JSON.stringify(answer));

    // On a phone, the banner answers the next pause in one tap.
    phone = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...chromiumArgs, "--force-device-scale-factor=3"] });
    const context = await phone.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 3 });
    const onPhone = await openOffice(phone, `${base}/`, { context });
    await waitUntil("the phone layout", async () => (await onPhone.page.getAttribute("#mirror", "data-layout")) === "phone");
    const second = await startInSim("wf-refunds");
    await waitUntil("the pause on the phone", async () => (await mirrorEntry(onPhone.page, "wf-refunds"))?.question, 60_000);
    const withBanner = await waitUntil("the banner", async () => {
      const v = await viewOf(onPhone.page);
      return v.bottom < 844 - 60 ? v : null;
    });
    const shot = pixels(await onPhone.page.screenshot({ scale: "css" }));
    const banner = boxOf(shot, [60, 50, 20], 2, { x0: 0, y0: withBanner.bottom, x1: 390, y1: 844 });
    assert.ok(banner, "the banner below the office");
    let buttonX = null;
    const row = banner.y1 - 30;
    for (let x = banner.x0 + 2; x < banner.x1; x++) {
      const i = (row * shot.width + x) * 4;
      if (Math.abs(shot.data[i] - 60) + Math.abs(shot.data[i + 1] - 50) + Math.abs(shot.data[i + 2] - 20) > 40) { buttonX = x; break; }
    }
    assert.ok(buttonX !== null, "an answer button in the banner");
    await onPhone.page.touchscreen.tap(buttonX + 20, row);
    const tapped = await waitUntil("the banner's answer", async () => (await events(second)).find((e) => e.type === "response"), 30_000);
    assert.deepEqual(tapped.input, { approved: true }, "the first button is yes");
    assert.deepEqual(onPhone.problems, []);

    // Sim goes down: its characters grey out and say since when.
    await fetch(`${workspace.url}/_test/mood/down`, { method: "POST" });
    const grey = await waitUntil("the characters greyed out", async () => {
      const e = await mirrorEntry(page, "wf-mail");
      return e?.status === "offline" ? e : null;
    }, 30_000);
    assert.match(grey.label, /^Mail triage: offline \(Sim unreachable since \d\d:\d\d\)/);
    await fetch(`${workspace.url}/_test/mood/fine`, { method: "POST" });
    await waitUntil("back in colour", async () => (await mirrorEntry(page, "wf-mail"))?.status !== "offline", 60_000);
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await phone?.close();
    await simGateway.stop();
    await workspace.stop();
  }
});
