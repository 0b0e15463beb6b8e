// Loads the office's wasm with a progress bar, signs the person in when the
// gateway asks for it (a token exchanged for an HttpOnly session cookie), and
// says plainly what is wrong when it cannot start (no WebGL2, wasm failed,
// gateway unreachable).
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

/**
 * Makes `devicePixelRatio` agree with the pixels the canvas really gets. A
 * browser emulating a phone (its device mode, Playwright's
 * `deviceScaleFactor`) reports the phone's ratio but sizes a canvas's device
 * pixels (`devicePixelContentBoxSize`) at the screen's own; the office sizes
 * its canvas by the second and its text and taps by the first, so it would
 * draw a thumbnail with giant letters. A probe measures the real ratio, and
 * keeps measuring it (zoom changes it); on a real device the two agree and
 * nothing changes.
 */
function followMeasuredPixelRatio() {
  if (!window.ResizeObserverEntry || !("devicePixelContentBoxSize" in ResizeObserverEntry.prototype)) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const probe = document.createElement("div");
    probe.setAttribute("aria-hidden", "true");
    probe.style.cssText = "position:fixed;left:0;top:0;width:64px;height:64px;visibility:hidden;pointer-events:none";
    document.body.appendChild(probe);
    let measured = null;
    let overridden = false;
    new ResizeObserver(([entry]) => {
      const css = entry.contentBoxSize[0].inlineSize;
      const device = entry.devicePixelContentBoxSize[0].inlineSize;
      if (css > 0) measured = device / css;
      if (!overridden && measured && Math.abs(measured - window.devicePixelRatio) > 0.01) {
        overridden = true;
        Object.defineProperty(window, "devicePixelRatio", { get: () => measured, configurable: true });
      }
      resolve();
    }).observe(probe);
  });
}

/** Who the gateway takes this page for: the session, or null when it wants a sign-in. */
async function currentSession(gateway) {
  const response = await fetch(`${gateway}/api/session`, { cache: "no-store" });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/** Shows the sign-in form until a token is accepted; resolves with the session. */
function signIn(gateway) {
  const form = document.getElementById("sign-in");
  const input = document.getElementById("sign-in-token");
  const said = document.getElementById("sign-in-problem");
  document.querySelector("#loader h1").textContent = "Sign in to the office";
  progress.textContent = "";
  document.getElementById("bar").style.display = "none";
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      said.textContent = "";
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const response = await fetch(`${gateway}/api/session`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ token: input.value }),
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          said.textContent = body.error?.message || `The gateway answered HTTP ${response.status}.`;
          input.select();
          return;
        }
        input.value = "";
        form.hidden = true;
        document.getElementById("bar").style.display = "";
        document.querySelector("#loader h1").textContent = "Opening the office…";
        resolve(body);
      } catch (e) {
        said.textContent = `The gateway is not answering (${e.message}).`;
      } finally {
        button.disabled = false;
      }
    });
  });
}

/** The mirror's line about who is signed in, with a sign-out button. */
function showSession(gateway, session) {
  if (session.open) return;
  const line = document.getElementById("mirror-session");
  document.getElementById("mirror-subject").textContent = `Signed in as ${session.subject} (${session.role})`;
  line.hidden = false;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch(`${gateway}/api/session`, { method: "DELETE" }).catch(() => {});
    location.reload();
  });
}

// Attention: the office dispatches `esprit-attention` for each new question
// and `esprit-attention-settings` when the person flips a switch (a click, so
// the audio context and the permission prompt are allowed to start).
const attention = { chime: false, notify: false, audio: null, chimes: 0 };
window.addEventListener("esprit-attention-settings", ({ detail }) => {
  Object.assign(attention, { chime: detail.chime, notify: detail.notify });
  if (attention.chime) {
    attention.audio ||= new AudioContext();
    attention.audio.resume().catch(() => {});
  }
  if (attention.notify && "Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
});
window.addEventListener("esprit-attention", ({ detail }) => {
  if (attention.chime && attention.audio) chime(attention.audio);
  if (attention.notify && document.hidden && "Notification" in window && Notification.permission === "granted") {
    const note = new Notification(`${detail.name} asks`, { body: detail.question, tag: `esprit-${detail.npc}` });
    note.onclick = () => {
      window.focus();
      document.querySelector(`#mirror-npc-${CSS.escape(detail.npc)} button[data-action="select"]`)?.click();
      note.close();
    };
  }
});

/** Two soft notes, a fifth apart, quiet and short. */
function chime(audio) {
  const start = audio.currentTime + 0.02;
  for (const [i, hz] of [[0, 660], [1, 990]]) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.type = "sine";
    tone.frequency.value = hz;
    const at = start + i * 0.16;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.06, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.5);
    tone.connect(gain).connect(audio.destination);
    tone.start(at);
    tone.stop(at + 0.55);
  }
  attention.chimes += 1;
  document.documentElement.dataset.chimes = String(attention.chimes);
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
    // The page's Content-Security-Policy lets it reach only its own gateway
    // and those OFFICE_GATEWAYS lists: a token typed here goes nowhere else.
    const elsewhere = new URL(gateway, location.href).origin !== location.origin
      ? ` The gateway serving this page lets it talk only to gateways its OFFICE_GATEWAYS lists.`
      : "";
    fail(`The gateway at ${gateway} is not answering (${e.message}). Start it with ./run.sh, or pass ?gateway=URL.${elsewhere}`);
    return;
  }
  let session;
  try {
    session = (await currentSession(gateway)) || (await signIn(gateway));
  } catch (e) {
    fail(`The gateway at ${gateway} did not say who you are (${e.message}).`);
    return;
  }
  showSession(gateway, session);
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
  await followMeasuredPixelRatio();
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
