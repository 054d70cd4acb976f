// Issue 19: an agent's outbound fetch hands over the answer as it arrives. Before, the host
// buffered the whole upstream body first: server-sent events sent 150 ms apart reached the agent
// (and its caller) all at once, and an agent could not stop a download it no longer wanted.
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { DEFAULT_EGRESS, type EgressPolicy } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

const meta = { id: "7", name: "relay", codeHash: `0x${"07".repeat(32)}` };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

let server: Server;
let base: string;
/** Bytes the /flood route managed to hand to the socket, by request. */
const flooded: number[] = [];

function sse(res: ServerResponse, events: number, gapMs: number): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  let sent = 0;
  const next = () => {
    res.write(`data: ${sent}\n\n`);
    if (++sent === events) res.end();
    else setTimeout(next, gapMs);
  };
  next();
}

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/events") sse(res, 5, 150);
    else if (url.pathname === "/flood") {
      // As fast as the socket takes it, up to 64 MiB: what the agent does not read stays here.
      const slot = flooded.push(0) - 1;
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const piece = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (flooded[slot]! < 64 * 1024 * 1024) {
          flooded[slot]! += piece.length;
          if (!res.write(piece)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => res.removeAllListeners("drain"));
      pump();
    } else if (url.pathname === "/drip") {
      res.writeHead(200);
      let n = 0;
      const t = setInterval(() => {
        res.write("x".repeat(1024));
        if (++n === 4) {
          clearInterval(t);
          res.end();
        }
      }, 60);
      res.on("close", () => clearInterval(t));
    } else if (url.pathname === "/upload") {
      // When each piece of a request body arrives, and what it all was.
      const started = Date.now();
      const pieces: { at: number; text: string }[] = [];
      req.on("data", (c: Buffer) => pieces.push({ at: Date.now() - started, text: c.toString() }));
      req.on("end", () =>
        res.end(
          JSON.stringify({
            body: pieces.map((p) => p.text).join(""),
            spread: pieces.length ? pieces.at(-1)!.at - pieces[0]!.at : 0,
            chunked: req.headers["transfer-encoding"] === "chunked",
          }),
        ),
      );
    } else {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ path: url.pathname }));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

async function sandboxFor(handler: string, egress: Partial<EgressPolicy> = {}) {
  return IsolateSandbox.create({
    meta,
    limits: { wallTimeMs: 10_000, egress: { ...DEFAULT_EGRESS, allowHosts: ["127.0.0.1"], ...egress } },
    code: `export default { async fetch(request) { ${handler} } };`,
  });
}

async function json(s: IsolateSandbox): Promise<unknown> {
  const r = await s.invoke({ method: "GET", url: "https://relay.agents.veil/", headers: [], body: null });
  assert.equal(r.status, 200, text(r.body));
  return JSON.parse(text(r.body));
}

describe("outbound fetch streams its answer", () => {
  test("an agent relays server-sent events to its caller as they come, not all at the end", async () => {
    const s = await sandboxFor(
      `const r = await fetch("${base}/events");
       return new Response(r.body, { headers: { "content-type": r.headers.get("content-type") } });`,
    );
    try {
      const r = await s.invoke({
        method: "GET",
        url: "https://relay.agents.veil/",
        headers: [],
        body: null,
        acceptStream: true,
      });
      assert.equal(r.status, 200);
      const arrivals: { at: number; data: string }[] = [];
      for await (const c of r.stream!.chunks) arrivals.push({ at: Date.now(), data: text(c) });
      assert.equal(
        arrivals.map((a) => a.data).join(""),
        "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n",
      );
      // 5 events 150 ms apart: the caller has the first ~600 ms before the last.
      const spread = arrivals.at(-1)!.at - arrivals[0]!.at;
      assert.ok(arrivals.length >= 4, `events came in ${arrivals.length} piece(s)`);
      assert.ok(spread >= 400, `all events reached the caller within ${spread} ms of each other`);
    } finally {
      s.dispose();
    }
  });

  test("the agent reads each event as it arrives, with a reader and with for await", async () => {
    const s = await sandboxFor(
      `const r = await fetch("${base}/events");
       const seen = [];
       for await (const chunk of r.body.pipeThrough(new TextDecoderStream())) seen.push({ at: Date.now(), chunk });
       return Response.json({ seen: seen.map((x) => x.chunk).join(""), pieces: seen.length, spread: seen.at(-1).at - seen[0].at });`,
    );
    try {
      const out = (await json(s)) as { seen: string; pieces: number; spread: number };
      assert.equal(out.seen, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
      assert.ok(out.pieces >= 4, `read in ${out.pieces} piece(s)`);
      assert.ok(out.spread >= 400, `spread ${out.spread} ms`);
    } finally {
      s.dispose();
    }
  });

  test("an agent that stops reading stops the download: the upstream waits (backpressure)", async () => {
    const s = await sandboxFor(
      `const r = await fetch("${base}/flood");
       const reader = r.body.getReader();
       const first = await reader.read();
       await new Promise((ok) => setTimeout(ok, 700));
       await reader.cancel();
       return Response.json({ first: first.value.byteLength });`,
      { maxResponseBytes: 128 * 1024 * 1024 },
    );
    try {
      const out = (await json(s)) as { first: number };
      assert.ok(out.first > 0);
      const sent = flooded.at(-1)!;
      // Without backpressure the host read all 64 MiB into memory in those 700 ms over loopback.
      assert.ok(
        sent < 16 * 1024 * 1024,
        `the upstream got ${Math.round(sent / 1048576)} MiB out while nobody read`,
      );
    } finally {
      s.dispose();
    }
  });

  test("the response size limit is a running total over a streamed answer", async () => {
    const s = await sandboxFor(
      `const r = await fetch("${base}/drip");
       const reader = r.body.getReader();
       let got = 0;
       try { for (;;) { const c = await reader.read(); if (c.done) break; got += c.value.byteLength; } }
       catch (e) { return Response.json({ got, error: e.name, code: e.code }); }
       return Response.json({ got });`,
      { maxResponseBytes: 2500 },
    );
    try {
      const out = (await json(s)) as { got: number; error?: string; code?: string };
      assert.equal(out.code, "EGRESS_RESPONSE_TOO_LARGE");
      assert.equal(out.error, "TypeError");
      assert.ok(out.got <= 2500, `the agent read ${out.got} bytes`);
    } finally {
      s.dispose();
    }
  });

  test("a streamed answer clones (tee), has its URL, and a cancelled one frees its place", async () => {
    const s = await sandboxFor(
      `const r = await fetch("${base}/events");
       const copy = r.clone();
       const [a, b] = await Promise.all([r.text(), copy.text()]);
       // More than the 16 outbound requests an agent may have in flight, each cancelled at once.
       for (let i = 0; i < 20; i++) { const x = await fetch("${base}/flood"); await x.body.cancel(); }
       const small = await fetch("${base}/small");
       return Response.json({ same: a === b, a, url: r.url, cloneUrl: copy.url, small: await small.json(), smallUrl: small.url });`,
      { maxResponseBytes: 128 * 1024 * 1024, maxFetchesPerRequest: 30 },
    );
    try {
      const out = (await json(s)) as Record<string, unknown>;
      assert.equal(out.same, true);
      assert.equal(out.a, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
      assert.equal(out.url, `${base}/events`);
      assert.equal(out.cloneUrl, `${base}/events`);
      assert.deepEqual(out.small, { path: "/small" });
      assert.equal(out.smallUrl, `${base}/small`);
    } finally {
      s.dispose();
    }
  });

  test("a request body made from a stream goes out as the agent produces it, within the request size limit", async () => {
    const produce = `new ReadableStream({
         async start(c) { for (const part of ["one ", "two ", "three"]) { c.enqueue(new TextEncoder().encode(part)); await new Promise((ok) => setTimeout(ok, 150)); } c.close(); },
       })`;
    const s = await sandboxFor(
      `const r = await fetch("${base}/upload", { method: "POST", body: ${produce}, duplex: "half" });
       let tooBig;
       try { await fetch("${base}/upload", { method: "POST", body: ${produce.replace('"one "', '"x".repeat(3000)')}, duplex: "half" }); tooBig = "sent"; } catch (e) { tooBig = e.code; }
       return Response.json({ ...(await r.json()), tooBig });`,
      { maxRequestBytes: 2048 },
    );
    try {
      const out = (await json(s)) as { body: string; spread: number; chunked: boolean; tooBig: string };
      assert.equal(out.body, "one two three");
      assert.equal(out.chunked, true);
      assert.ok(out.spread >= 200, `the pieces reached the upstream within ${out.spread} ms of each other`);
      assert.equal(out.tooBig, "EGRESS_REQUEST_TOO_LARGE");
    } finally {
      s.dispose();
    }
  });
});
