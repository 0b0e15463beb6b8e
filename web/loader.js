// Loads the office's wasm with a progress bar, and says plainly what is wrong
// when it cannot start (no WebGL2, wasm failed, gateway unreachable).
import init from "./game.js";

const bar = document.querySelector("#bar > div");
const progress = document.getElementById("progress");
const problem = document.getElementById("problem");
const loader = document.getElementById("loader");

function fail(message) {
  problem.textContent = message;
  problem.style.display = "block";
  progress.textContent = "";
  document.querySelector("#loader h1").textContent = "The office could not open";
}

function gatewayUrl() {
  const given = new URLSearchParams(location.search).get("gateway");
  return (given || location.origin).replace(/\/$/, "");
}

async function fetchWithProgress(url, rawSize) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = rawSize || Number(response.headers.get("content-length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    const share = total ? Math.min(1, received / total) : 0;
    bar.style.width = `${Math.round(share * 100)}%`;
    progress.textContent = `${(received / 1048576).toFixed(1)} MB` + (total ? ` of ${(total / 1048576).toFixed(1)} MB` : "");
  }
  return new Blob(chunks, { type: "application/wasm" });
}

async function main() {
  if (!document.createElement("canvas").getContext("webgl2")) {
    fail("This browser has no WebGL2, which the office needs to draw. Try a current Chrome, Firefox or Safari, or enable hardware acceleration.");
    return;
  }
  const gateway = gatewayUrl();
  try {
    const health = await fetch(`${gateway}/healthz`, { cache: "no-store" });
    if (!health.ok) throw new Error(`HTTP ${health.status}`);
  } catch (e) {
    fail(`The gateway at ${gateway} is not answering (${e.message}). Start it with ./run.sh, or pass ?gateway=URL.`);
    return;
  }
  let rawSize = 0;
  try {
    rawSize = (await (await fetch("./manifest.json", { cache: "no-store" })).json()).wasm_bytes || 0;
  } catch (_) { /* progress falls back to Content-Length */ }
  let wasm;
  try {
    wasm = await fetchWithProgress("./game_bg.wasm", rawSize);
  } catch (e) {
    fail(`The office's code did not download: ${e.message}.`);
    return;
  }
  try {
    const started = performance.now();
    await init({ module_or_path: URL.createObjectURL(wasm) }).catch((e) => {
      // Bevy's winit loop unwinds with a control-flow exception on the web; that is its normal start.
      if (!String(e).includes("Using exceptions for control flow")) throw e;
    });
    window.__esprit_started_ms = performance.now() - started;
  } catch (e) {
    fail(`The office failed to start: ${e}`);
    return;
  }
  loader.style.display = "none";
  document.getElementById("office").focus();
}

main();
