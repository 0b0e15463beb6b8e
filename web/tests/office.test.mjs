// The browser office in a real headless Chromium (SwiftShader WebGL2), served by
// a real gateway with the demo agents: it loads without console errors, draws the
// office, and the screenshot goes to docs/ for the README.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, cpSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(process.env.HOME, ".cache/esprit-hub/target");
const gatewayBin = process.env.GATEWAY_BIN || join(targetDir, "debug", "gateway");

/** Decodes an 8-bit RGB/RGBA PNG (what Chromium's screenshots are) into pixels. */
function decodePng(buffer) {
  let offset = 8, width = 0, height = 0, channels = 4;
  const data = [];
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString("ascii", offset + 4, offset + 8);
    const body = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      channels = body[9] === 6 ? 4 : 3;
    } else if (type === "IDAT") data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      pixels[y * stride + x] = (v + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function countNear(image, [r, g, b], tolerance) {
  let n = 0;
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    if (Math.abs(image.pixels[i] - r) <= tolerance && Math.abs(image.pixels[i + 1] - g) <= tolerance && Math.abs(image.pixels[i + 2] - b) <= tolerance) n++;
  }
  return n;
}

async function startGateway(dir, port) {
  const child = spawn(gatewayBin, [
    "--port", String(port),
    "--agent-map-file", join(root, "data/agents.json"),
    "--flows-dir", join(root, "data/flows"),
    "--data-dir", join(dir, "db"),
    "--web-dist", join(root, "web/dist"),
    "--log-level", "warn",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return child;
    } catch (_) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the gateway did not start");
}

test("the browser office loads and draws the office", { timeout: 180_000 }, async () => {
  assert.ok(existsSync(join(root, "web/dist/index.html")), "web/dist is built (web/build.sh)");
  assert.ok(existsSync(gatewayBin), `gateway binary at ${gatewayBin}`);
  const dir = mkdtempSync(join(tmpdir(), "esprit-web-"));
  const port = 3200 + (process.pid % 500);
  const gateway = await startGateway(dir, port);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    const problems = [];
    page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
    page.on("pageerror", (e) => problems.push(String(e)));
    const started = Date.now();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.getElementById("loader").style.display === "none", null, { timeout: 120_000 });
    // Wait until the office is drawn: the wood floor fills a good part of the canvas.
    let image;
    for (let i = 0; i < 60; i++) {
      image = decodePng(await page.screenshot());
      if (countNear(image, [196, 150, 100], 8) > 20_000) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const firstFrameMs = Date.now() - started;
    assert.ok(countNear(image, [196, 150, 100], 8) > 20_000, "the office floor is drawn");
    const colours = new Set();
    for (let i = 0; i < image.pixels.length; i += image.channels * 7) colours.add(image.pixels.readUIntBE(i, 3));
    assert.ok(colours.size > 40, `a detailed picture, not a blank canvas (${colours.size} colours)`);
    assert.deepEqual(problems.filter((p) => !p.includes("Using exceptions for control flow")), [], "no console errors");
    writeFileSync(join(root, "docs/screenshot-browser.png"), await page.screenshot());
    console.log(`navigation to first office frame: ${firstFrameMs} ms`);
  } finally {
    await browser.close();
    gateway.kill();
  }
});
