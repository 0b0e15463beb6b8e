// The browser office in a real headless Chromium (SwiftShader WebGL2), served
// by the real gateway with a stand-in Sim webhook (a real HTTP server that
// answers like Sim and posts the workflow's callbacks), and once through the
// compose nginx.conf. Env: ESPRIT_WEB_DIST (the built office, default
// web/dist), GATEWAY_BIN (default the debug build in the cargo target dir).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { createServer, get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(process.env.HOME, ".cache/esprit-hub/target");
const gatewayBin = process.env.GATEWAY_BIN || join(targetDir, "debug", "gateway");
const webDist = process.env.ESPRIT_WEB_DIST || join(root, "web/dist");
const simToken = "sim-webhook-secret";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on right now. */
async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** A stand-in for a deployed Sim workflow with a webhook trigger. */
async function startStandInSim() {
  const calls = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const reply = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || !req.url.startsWith("/api/webhooks/trigger/")) return reply(404, { error: "Not found" });
    if (req.headers.authorization !== `Bearer ${simToken}`) return reply(401, { error: "Unauthorized" });
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
    calls.push({ headers: req.headers, body });
    reply(200, { message: "Webhook processed" });
    // The workflow's API blocks report progress to the gateway.
    const posts = [
      { type: "step", data: { message: "Reading the calendar" } },
      { type: "step", data: { message: "Booking room 4" } },
      { type: "done", data: { result: { eventId: "evt_1" } } },
    ];
    for (const post of posts) {
      await sleep(700);
      const answer = await fetch(body.callback_url, {
        method: "POST",
        headers: { authorization: `Bearer ${body.callback_token}`, "content-type": "application/json" },
        body: JSON.stringify({ npc: body.npc, ...post }),
      });
      if (answer.status !== 202) calls.push({ refused: answer.status });
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, calls, url: `http://127.0.0.1:${server.address().port}` };
}

async function waitUntil(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function startGateway({ port, dir, agents }) {
  const child = spawn(gatewayBin, [
    "--port", String(port),
    "--agent-map-file", agents,
    "--flows-dir", join(root, "data/flows"),
    "--data-dir", join(dir, "db"),
    "--web-dist", webDist,
    "--log-level", "warn",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise((r) => child.once("exit", r));
  await waitUntil("the gateway", async () => {
    try { return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok; } catch { return false; }
  });
  return { child, exited, stop: async () => { child.kill("SIGTERM"); await exited; } };
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
async function openOffice(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
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
  return li && {
    status: li.dataset.status, selected: li.getAttribute("aria-current") === "true",
    x: Number(li.dataset.x), y: Number(li.dataset.y), label: li.querySelector(".label").textContent,
  };
}, npc);

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
  dir = mkdtempSync(join(tmpdir(), "esprit-web-"));
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
  sim?.server.close();
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
  // Like a person: the pointer arrives, then clicks.
  await page.mouse.move(at.x, at.y);
  await sleep(300);
  await page.mouse.click(at.x, at.y);
  await waitUntil("the scheduler to be selected", async () => (await mirrorEntry(page, "scheduler"))?.selected);
  // The camera follows the selection to the middle of the window.
  const spot = await waitUntil("the camera to centre the scheduler", async () => {
    const e = await mirrorEntry(page, "scheduler");
    return Math.abs(e.x - 640) <= 2 && Math.abs(e.y - 380) <= 2 ? e : null;
  });
  await sleep(300);
  const opened = pixels(await page.screenshot());
  // egui's dark panel fill, on the right where the NPC panel opens.
  const panelArea = { x0: 1280 - 300, y0: 80, x1: 1280, y1: 700 };
  const panelFill = [27, 27, 27];
  assert.ok(countNear(before, panelFill, 2, panelArea) < 5_000, "no panel before the click");
  assert.ok(countNear(opened, panelFill, 2, panelArea) > 50_000, "the side panel is drawn on the right");

  const npcArea = { x0: spot.x - 24, y0: spot.y - 40, x1: spot.x + 24, y1: spot.y + 24 };
  await page.focus('#mirror-npc-scheduler button[data-action="run"]');
  await page.keyboard.press("Enter");
  await waitUntil("the run to start", async () => (await mirrorEntry(page, "scheduler"))?.status === "running");
  await waitUntil("the run to finish", async () => (await mirrorEntry(page, "scheduler"))?.status === "done", 30_000);
  const done = pixels(await page.screenshot());
  assert.equal(sim.calls.length, 1, "the stand-in Sim received one webhook");
  const call = sim.calls[0];
  assert.equal(call.body.npc, "scheduler");
  assert.match(call.body.run_id, /\S/);
  assert.ok(!sim.calls.some((c) => c.refused), "every callback was accepted");
  const changed = changedIn(opened, done, npcArea);
  assert.ok(changed > 40, `the NPC's pixels changed with its status (${changed})`);
  const live = await page.textContent("#mirror-live");
  assert.match(live, /Sage: running/);
  assert.match(live, /Sage: done/);
  assert.match((await mirrorEntry(page, "scheduler")).label, /Booking room 4/);
  // The README's picture: the office with the panel open, the mirror out of focus.
  await page.evaluate(() => document.activeElement?.blur());
  await sleep(300);
  writeFileSync(join(root, "docs/screenshot-browser.png"), await page.screenshot());
});

test("a gateway restart shows reconnecting, then resumes with no missed events", { timeout: 120_000 }, async () => {
  const { page } = office;
  await gateway.stop();
  await waitUntil("reconnecting", async () => (await page.getAttribute("#mirror", "data-connection")) === "reconnecting");
  assert.equal((await mirrorEntry(page, "researcher")).status, "offline", "NPCs show offline while the gateway is away");
  gateway = await startGateway({ port, dir, agents: agentsFile });
  // Published before the page is back: it must arrive through Last-Event-ID replay.
  const publish = (type, data) => fetch(`http://127.0.0.1:${port}/api/events`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ npc: "researcher", type, data }),
  }).then((r) => assert.equal(r.status, 202));
  await publish("started", { message: "while you were away" });
  await publish("step", { message: "read 12 papers while you were away" });
  await publish("done", { result: { papers: 12 } });
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
  const nginxPort = await freePort();
  const conf = execFileSync(join(root, "compose/render-nginx.sh"),
    [`127.0.0.1:${nginxPort}`, `127.0.0.1:${port}`, sim.url.slice(7), sim.url.slice(7)],
    { input: readFileSync(join(root, "compose/nginx.conf")) });
  const nginxDir = mkdtempSync(join(tmpdir(), "esprit-nginx-"));
  writeFileSync(join(nginxDir, "nginx.conf"), conf);
  const nginx = spawn(existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx",
    ["-p", nginxDir, "-c", join(nginxDir, "nginx.conf"), "-g", `daemon off; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log warn;`],
    { stdio: ["ignore", "ignore", "inherit"] });
  try {
    const base = `http://127.0.0.1:${nginxPort}`;
    await waitUntil("nginx", async () => { try { return (await fetch(`${base}/healthz`)).ok; } catch { return false; } });
    const wasm = await new Promise((resolve, reject) => {
      httpGet(`${base}/game_bg.wasm`, { headers: { "accept-encoding": "gzip, br" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.headers));
      }).on("error", reject);
    });
    assert.equal(wasm["content-type"], "application/wasm");
    assert.match(wasm["content-encoding"] || "", /^(gzip|br)$/, "the wasm goes out compressed");
    const proxied = await openOffice(browser, `${base}/`);
    assert.deepEqual(proxied.problems, [], "no console errors (the CSP lets the wasm run)");
    await waitUntil("the mirror through nginx", async () =>
      (await proxied.page.getAttribute("#mirror", "data-connection")) === "connected");
    await proxied.page.close();
  } finally {
    nginx.kill("SIGTERM");
  }
});
