// What the web platform costs an agent per request (issue 19): the same handler with and without
// URL parsing, with a repeated URL (the realm's cache of recent URLs), new absolute URLs (the
// realm's own parser for the common case, and "/path" against a base), new internationalized
// ones (one synchronous host call each, bridge.ts `urlParse`), and a fetch of a small answer.
// Printed side by side, each against the handler that does none of it.
//   npm run bench:web-platform [-- requests]
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { IsolateSandbox } from "../src/sandbox/isolate.ts";

const requests = Number(process.argv[2] ?? 20_000);
const meta = { id: "1", name: "bench", codeHash: `0x${"00".repeat(32)}` };

const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
const port = (upstream.address() as AddressInfo).port;

const handlers: [string, string, number][] = [
  ["baseline: return a Response", `return new Response("ok");`, requests],
  ["new URL(request.url) once", `return new Response(new URL(request.url).pathname);`, requests],
  [
    "10 new absolute URLs (parsed in the realm)",
    `let n = 0; for (let i = 0; i < 10; i++) n += new URL("https://x.test/p/" + Math.random()).pathname.length; return new Response(String(n));`,
    requests,
  ],
  [
    "10 new /paths against a base (in the realm)",
    `let n = 0; for (let i = 0; i < 10; i++) n += new URL("/p/" + Math.random(), "https://x.test").pathname.length; return new Response(String(n));`,
    requests,
  ],
  [
    "10 new IDN URLs (the host's parser)",
    `let n = 0; for (let i = 0; i < 10; i++) n += new URL("https://bücher.example/p/" + Math.random()).pathname.length; return new Response(String(n));`,
    requests,
  ],
  [
    "fetch of an 11-byte answer",
    `const r = await fetch("http://127.0.0.1:${port}/"); return new Response(await r.text());`,
    Math.min(requests, 3_000),
  ],
];

const rows: { name: string; usPerRequest: number }[] = [];
for (const [name, body, n] of handlers) {
  const s = await IsolateSandbox.create({
    meta,
    limits: {
      egress: {
        allowHosts: [`127.0.0.1:${port}`],
        maxRequestBytes: 1 << 20,
        maxResponseBytes: 1 << 20,
        timeoutMs: 5000,
        maxConcurrent: 16,
        maxFetchesPerRequest: 5,
      },
    },
    code: `export default { async fetch(request) { ${body} } };`,
  });
  const req = (i: number) => ({
    method: "GET",
    url: `https://bench.agents.veil/r/${i % 7}`,
    headers: [],
    body: null,
  });
  for (let i = 0; i < 500; i++) await s.invoke(req(i)); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await s.invoke(req(i));
  const us = Number(process.hrtime.bigint() - started) / 1000 / n;
  rows.push({ name, usPerRequest: us });
  s.dispose();
}
upstream.close();
const base = rows[0]!.usPerRequest;
console.log(`${requests} sequential requests per handler (fetch: ${Math.min(requests, 3_000)})`);
console.log(
  "handler".padEnd(40),
  "µs/request".padStart(11),
  "vs baseline".padStart(12),
  "added µs".padStart(10),
);
for (const r of rows)
  console.log(
    r.name.padEnd(40),
    r.usPerRequest.toFixed(1).padStart(11),
    `${(r.usPerRequest / base).toFixed(2)}×`.padStart(12),
    (r.usPerRequest - base).toFixed(1).padStart(10),
  );
process.exit(0);
