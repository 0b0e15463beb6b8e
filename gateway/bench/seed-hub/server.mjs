// The seed design's event hub (esprit-hub-architecture.md, "Gateway Service
// (Node.js/Fastify)"): POST /api/events broadcasts to the npc's SSE clients
// in memory (nothing stored, nothing replayed); GET /api/stream?npc=X
// subscribes. Used only as the latency baseline of docs/benchmarks.md:
//   node gateway/bench/seed-hub/server.mjs [port=3700]
import Fastify from "fastify";

const port = Number(process.argv[2] || 3700);
const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
/** npc → the raw responses of its subscribers. */
const channels = new Map();

// One event, or an array of them (as the load generator posts).
app.post("/api/events", async (request, reply) => {
  const events = Array.isArray(request.body) ? request.body : [request.body ?? {}];
  if (!events.every((e) => typeof e?.npc === "string" && typeof e?.type === "string")) {
    return reply.code(400).send({ error: { code: "invalid_event", message: "npc and type are required" } });
  }
  for (const { npc, type, data } of events) {
    const frame = `event: ${type}\ndata: ${JSON.stringify({ npc, type, data, ts: new Date().toISOString() })}\n\n`;
    for (const client of channels.get(npc) ?? []) client.write(frame);
  }
  return reply.code(202).send({ ok: true });
});

app.get("/api/stream", (request, reply) => {
  const npc = request.query.npc;
  reply.hijack();
  reply.raw.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  reply.raw.write(": hello\n\n");
  if (!channels.has(npc)) channels.set(npc, new Set());
  channels.get(npc).add(reply.raw);
  request.raw.on("close", () => channels.get(npc)?.delete(reply.raw));
});

app.get("/readyz", async () => ({ ok: true }));

await app.listen({ port, host: "127.0.0.1" });
console.log(`seed hub on http://127.0.0.1:${port}`);
