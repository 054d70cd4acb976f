// Agent runtime speed, side by side on this machine with one load generator (autocannon):
//   (1) a hello-world agent through the Veil gateway and worker: the gateway in the worker's
//       process (`veil up` with one worker, `veil worker --gateway-port`; docs/adr/0016) and in
//       its own process (`veil up` with more workers; docs/adr/0015), and the worker alone,
//   (2) the same handler on Cloudflare's workerd, (3) a plain node:http server, same bytes.
// Then cold starts and resident memory per idle agent.
//
//   node --import tsx bench/runtime.ts [seconds=3] [connections=16] [agents=1000] [wide=64] [rounds=3]
// Throughput is measured at `connections` and again at `wide` connections: at 16 the path
// through a separate gateway process is bound by its latency (each hop's wake-ups), not by CPU,
// and more connections show what the same processes do when requests arrive together.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, Agent as HttpAgent, get as httpGet } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { startDaemon } from "../src/network/processes.ts";
import { up } from "../src/network/up.ts";
import { IsolateSandbox } from "../src/sandbox/isolate.ts";
import { VeilClient } from "../src/sdk/client.ts";

const seconds = Number(process.argv[2] ?? 3);
const connections = Number(process.argv[3] ?? 16);
const agentCount = Number(process.argv[4] ?? 1000);
const wideConnections = Number(process.argv[5] ?? 64);
const rounds = Number(process.argv[6] ?? 3);
const work = mkdtempSync(join(tmpdir(), "veil-bench-runtime-"));
const HANDLER = `export default { fetch() { return new Response("Hello, world!"); } };`;

type Row = { name: string; rps: number; p50: number; p99: number; errors: number };
async function load(name: string, url: string, conns = connections): Promise<Row> {
  await autocannon({ url, connections: conns, duration: 1 }); // warm up
  const r = await autocannon({ url, connections: conns, duration: seconds });
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
  };
}

// (3) plain node:http
const plain = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
  res.end("Hello, world!");
});
await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;

// (2) workerd, from the npm package's binary
const wdDir = join(work, "workerd");
mkdirSync(wdDir);
writeFileSync(join(wdDir, "worker.js"), HANDLER);
const wdPort = 20000 + Math.floor(Math.random() * 20000);
writeFileSync(
  join(wdDir, "config.capnp"),
  `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ (name = "http", address = "127.0.0.1:${wdPort}", http = (), service = "main") ],
);
const hello :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-01",
);
`,
);
// In its own process group: the npm bin is a Node wrapper that starts the real binary, and
// killing only the wrapper leaves workerd running after the bench.
const workerd = spawn(join("node_modules", ".bin", "workerd"), ["serve", join(wdDir, "config.capnp")], {
  stdio: "ignore",
  detached: true,
});
const wdUrl = `http://127.0.0.1:${wdPort}/`;
for (let i = 0; i < 100; i++) {
  if (
    await fetch(wdUrl)
      .then((r) => r.ok)
      .catch(() => false)
  )
    break;
  await new Promise((r) => setTimeout(r, 100));
}

// (1) Veil: the whole network with one worker (its gateway in the worker's process), the hello
// agent deployed; and a second gateway in its own process on the same network.
const net = await up({
  dir: join(work, ".veil"),
  workers: 1,
  gateway: "worker",
  basePort: 0,
  host: "127.0.0.1",
  onProgress: () => {},
  // One load generator is one caller: a limit far above what it can send keeps the check on the
  // measured path without refusing anything.
  gatewayRateLimit: 1_000_000_000,
});
const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
const client = new VeilClient(net.network, { privateKey: user.privateKey });
const agentDir = join(work, "hello");
mkdirSync(join(agentDir, "src"), { recursive: true });
writeFileSync(join(agentDir, "src", "index.ts"), HANDLER);
const deployed = await client.deploy(agentDir, "hello");
const gatewayUrl = `${net.network.gateway!.url}/agents/hello/`;
const ownGateway = await startDaemon(
  "gateway-own-process",
  ["gateway", "--network", net.path, "--port", "0", "--rate-limit", "1000000000"],
  join(work, ".veil", "logs"),
);
const ownGatewayUrl = `${ownGateway.ready.url}/agents/hello/`;
const workerUrl = `${net.network.workers[0]!.url}/v1/agents/${deployed.id}/invoke/`;

const targets = [
  ["node:http (baseline)", plainUrl],
  ["workerd", wdUrl],
  ["Veil worker (direct)", workerUrl],
  ["Veil gateway+worker", gatewayUrl],
  ["Veil gateway → worker", ownGatewayUrl],
] as const;
/**
 * Each target `rounds` times, the targets taking turns, and the median round of each: on a
 * shared 2-core machine throughput drifts by ±15% over a minute, and taking turns spreads the
 * drift over every target instead of landing on whichever ran at the wrong moment.
 */
async function loadAll(conns: number): Promise<Row[]> {
  const runs: Row[][] = targets.map(() => []);
  for (let round = 0; round < rounds; round++)
    for (const [i, [name, url]] of targets.entries()) runs[i]!.push(await load(name, url, conns));
  return runs.map((r) => r.sort((a, b) => a.rps - b.rps)[Math.floor(r.length / 2)]!);
}
const rows = await loadAll(connections);
const wideRows = await loadAll(wideConnections);
// Latency without queueing: one kept-alive connection, one request at a time, timed in µs
// (autocannon's histogram is in whole milliseconds, too coarse for a sub-millisecond overhead).
const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
function once(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: keepAlive }, (res) => {
      res.resume();
      res.on("end", () => resolve());
    }).on("error", reject);
  });
}
async function sequential(name: string, url: string): Promise<[string, number, number]> {
  for (let i = 0; i < 200; i++) await once(url);
  const xs: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await once(url);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return [name, xs[1000]!, xs[1980]!];
}
const seqRows = [
  await sequential("node:http (baseline)", plainUrl),
  await sequential("workerd", wdUrl),
  await sequential("Veil worker (direct)", workerUrl),
  await sequential("Veil gateway+worker (one process)", gatewayUrl),
  await sequential("Veil gateway → worker (two processes)", ownGatewayUrl),
];
// Client-side latency through the SDK: plain, plain with the receipt checked, end-to-end encrypted.
async function sdkLatency(
  label: string,
  request: Parameters<typeof client.invoke>[1],
): Promise<[string, number, number]> {
  for (let i = 0; i < 30; i++) await client.invoke("hello", request);
  const xs: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await client.invoke("hello", request);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return [label, xs[150]!, xs[297]!];
}
const sdkRows = [
  await sdkLatency("plain", { verify: false }),
  await sdkLatency("plain, receipt verified", { verify: true }),
  await sdkLatency("encrypted, receipt verified", { encrypt: true }),
];
process.kill(-workerd.pid!, "SIGKILL");
ownGateway.child.kill("SIGKILL");
plain.close();
await net.stop();

for (const [table, conns] of [
  [rows, connections],
  [wideRows, wideConnections],
] as const) {
  const [base, wd] = [table[0]!, table[1]!];
  console.log(
    `\nthroughput and latency: ${conns} connections, median of ${rounds} rounds of ${seconds}s, targets taking turns, one autocannon`,
  );
  console.log("name                      req/s    p50 ms  p99 ms  errors  vs workerd  p50 over node:http");
  for (const r of table) {
    console.log(
      `${r.name.padEnd(24)} ${r.rps.toFixed(0).padStart(7)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}  ${String(r.errors).padStart(6)}  ${(r.rps / wd.rps).toFixed(2).padStart(9)}  ${(r.p50 - base.p50).toFixed(2).padStart(8)}`,
    );
  }
}

console.log("\none connection, one request at a time (2000)   p50 ms  p99 ms  p50 over node:http");
for (const [label, p50, p99] of seqRows)
  console.log(
    `${label.padEnd(46)} ${p50.toFixed(3).padStart(6)}  ${p99.toFixed(3).padStart(6)}  ${(p50 - seqRows[0]![1]).toFixed(3).padStart(8)}   target < 1 ms`,
  );

console.log("\nSDK invoke through the gateway, sequential (300 requests)   p50 ms   p99 ms");
for (const [label, p50, p99] of sdkRows)
  console.log(`${label.padEnd(58)} ${p50.toFixed(2).padStart(6)}  ${p99.toFixed(2).padStart(6)}`);
console.log(
  `extra p50 of an encrypted invocation over a verified plain one: ${(sdkRows[2]![1] - sdkRows[1]![1]).toFixed(2)} ms (target < 0.2 ms); over an unverified one: ${(sdkRows[2]![1] - sdkRows[0]![1]).toFixed(2)} ms`,
);

// Cold starts: a fresh 100 KB bundle, and a worker's first request (isolate + prelude + module).
// Shaped like what `veil deploy` makes (esbuild): many functions inside, one default export.
// (A module of 2,100 exports costs V8 ~1.5 ms more to instantiate; real bundles do not look so.)
const filler = Array.from(
  { length: 2100 },
  (_, i) => `function f${i}(x) { return x * ${i} + ${i % 7}; }`,
).join("\n");
const big = `${filler}\nconst all = [${Array.from({ length: 2100 }, (_, i) => `f${i}`).join(",")}];\nexport default { fetch() { return new Response("Hello, world! " + all.length); } };`;
const request = {
  method: "GET",
  url: "https://a.agents.veil/",
  headers: [] as [string, string][],
  body: null,
};
/** Median create + first invoke; `spacedMs` apart, as deploys to a running worker come. */
const coldTimes = async (code: string, n: number, spacedMs: number) => {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, spacedMs));
    const t = performance.now();
    const s = await IsolateSandbox.create({
      code: `${code}\n//${i}`,
      meta: { id: String(i), name: "c", codeHash: "0x" },
    });
    await s.invoke(request);
    xs.push(performance.now() - t);
    s.dispose();
  }
  return xs.sort((a, b) => a - b)[Math.floor(n / 2)]!;
};
/** The same in a fresh process: nothing warmed, the prelude not yet built (median of n). */
const freshProcess = async (n: number) => {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", join("bench", "cold-process.ts")], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let text = "";
      child.stdout.on("data", (c: Buffer) => {
        text += c.toString();
      });
      child.on("exit", (code) =>
        code === 0 ? resolve(text) : reject(new Error(`cold-process exited ${code}`)),
      );
    });
    xs.push(Number(out.trim()));
  }
  return xs.sort((a, b) => a - b)[Math.floor(n / 2)]!;
};
const kb = (Buffer.byteLength(big) / 1024).toFixed(0);
console.log(
  "\ncold start, create + first invoke (median of 20)                 hello    " +
    kb +
    " KB   target < 10 ms",
);
console.log(
  `  deploy to a running worker (spare isolate ready)            ${(await coldTimes(HANDLER, 20, 50)).toFixed(2).padStart(6)}  ${(await coldTimes(big, 20, 50)).toFixed(2).padStart(6)}`,
);
console.log(
  `  deploys back to back (spare still being made)               ${(await coldTimes(HANDLER, 20, 0)).toFixed(2).padStart(6)}  ${(await coldTimes(big, 20, 0)).toFixed(2).padStart(6)}`,
);
// Per-caller realms (ADR 0009): a caller the agent has not seen gets a new realm.
{
  const s = await IsolateSandbox.create({ code: big, meta: { id: "r", name: "r", codeHash: "0x" } });
  await s.invoke(request);
  const xs: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t = performance.now();
    await s.invoke({ ...request, caller: `signer:${i}` });
    xs.push(performance.now() - t);
  }
  s.dispose();
  console.log(
    `  a caller's first request to a loaded 100 KB agent (new realm) ${xs
      .sort((a, b) => a - b)[20]!
      .toFixed(2)
      .padStart(6)}`,
  );
}
console.log(
  `  first agent in a fresh process, median of 5 (includes building the prelude, which a worker does as it starts)\n                                                              ${(await freshProcess(5)).toFixed(2).padStart(6)}`,
);

// Resident memory per idle agent.
global.gc?.();
const before = process.memoryUsage().rss;
const sandboxes: IsolateSandbox[] = [];
for (let i = 0; i < agentCount; i++) {
  const s = await IsolateSandbox.create({
    code: HANDLER,
    meta: { id: String(i), name: `a${i}`, codeHash: "0x" },
  });
  await s.invoke(request);
  sandboxes.push(s);
}
await new Promise((r) => setTimeout(r, 500));
const after = process.memoryUsage().rss;
console.log(
  `resident memory per idle agent (${agentCount} agents): ${((after - before) / agentCount / 1024 / 1024).toFixed(2)} MB   target < 3 MB`,
);
for (const s of sandboxes) s.dispose();
process.exit(0);
