// SDK invoke latency through the gateway, side by side on one network: plain (no receipt),
// plain with the receipt verified, end-to-end encrypted, and encrypted as a signed caller.
// Issue 18's targets: verified ≤ 1 ms and encrypted ≤ 1.5 ms p50, printed beside plain.
//
//   node --import tsx bench/sdk-latency.ts [requests=300]
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { up } from "../src/network/up.ts";
import { VeilClient } from "../src/sdk/client.ts";

const requests = Number(process.argv[2] ?? 300);
const work = mkdtempSync(join(tmpdir(), "veil-bench-sdk-"));
const net = await up({
  dir: join(work, ".veil"),
  workers: 1,
  gateway: "worker",
  basePort: 0,
  host: "127.0.0.1",
  onProgress: () => {},
  gatewayRateLimit: 1_000_000_000,
});
const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
const client = new VeilClient(net.network, { privateKey: user.privateKey });
const agentDir = join(work, "hello");
mkdirSync(join(agentDir, "src"), { recursive: true });
writeFileSync(
  join(agentDir, "src", "index.ts"),
  `export default { fetch() { return new Response("Hello, world!"); } };`,
);
await client.deploy(agentDir, "hello");

async function latency(label: string, request: Parameters<typeof client.invoke>[1]) {
  for (let i = 0; i < 30; i++) await client.invoke("hello", request);
  const xs: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    await client.invoke("hello", request);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { label, p50: xs[Math.floor(requests / 2)]!, p99: xs[Math.floor(requests * 0.99)]! };
}
// Taking turns, twice, and keeping each mode's better round: the machine's load drifts.
const modes = [
  ["plain", { verify: false }],
  ["plain, receipt verified", { verify: true }],
  ["encrypted, receipt verified", { encrypt: true }],
  ["encrypted as a signed caller", { encrypt: true, as: user.privateKey }],
] as const;
const best = new Map<string, { label: string; p50: number; p99: number }>();
for (let round = 0; round < 2; round++)
  for (const [label, request] of modes) {
    const r = await latency(label, request);
    const prev = best.get(label);
    if (!prev || r.p50 < prev.p50) best.set(label, r);
  }
await net.stop();
const plain = best.get("plain")!.p50;
console.log(
  `SDK invoke through the gateway, sequential (${requests} requests)   p50 ms   p99 ms   over plain   target`,
);
const targets: Record<string, string> = {
  "plain, receipt verified": "≤ 1 ms",
  "encrypted, receipt verified": "≤ 1.5 ms",
};
for (const { label, p50, p99 } of best.values())
  console.log(
    `${label.padEnd(52)} ${p50.toFixed(2).padStart(6)}  ${p99.toFixed(2).padStart(6)}  ${(p50 - plain).toFixed(2).padStart(10)}   ${targets[label] ?? ""}`,
  );
