// How long `veil up` takes to resume a network, with N agents deployed beside a network with
// none (the baseline), side by side in one run (issue 20's figure; docs/adr/0019):
//   time to "resumed" (the chain replayed, every daemon up), and until the last agent deployed
//   answers through the gateway.
//
//   node --import tsx bench/resume.ts [agents=1000]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { VeilChain } from "../src/chain/index.ts";
import { up } from "../src/network/up.ts";
import { VeilClient } from "../src/sdk/client.ts";

const agentCount = Number(process.argv[2] ?? 1000);
const work = mkdtempSync(join(tmpdir(), "veil-bench-resume-"));
const HANDLER = `export default { fetch() { return new Response("Hello, world!"); } };`;
const quiet = {
  onProgress: () => {},
  workers: 1,
  gateway: "worker" as const,
  basePort: 0,
  host: "127.0.0.1",
};

/** Until the agent answers 200 through the gateway; returns the ms it took. */
async function untilServed(gateway: string, name: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await fetch(`${gateway}/agents/${name}/`).catch(() => undefined);
    if (res?.status === 200) return performance.now() - started;
    await res?.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Makes a network in `dir` with `n` agents (one deployed, the rest registered with its code). */
async function prepare(dir: string, n: number): Promise<string> {
  const net = await up({ ...quiet, dir });
  const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
  const client = new VeilClient(net.network, { privateKey: user.privateKey });
  const agentDir = join(work, "hello");
  mkdirSync(join(agentDir, "src"), { recursive: true });
  writeFileSync(join(agentDir, "src", "index.ts"), HANDLER);
  let last = "none";
  if (n > 0) {
    const first = await client.deploy(agentDir, "a-0");
    const chain = new VeilChain(net.network.chain, { account: user.privateKey, pollingIntervalMs: 20 });
    const started = performance.now();
    for (let i = 1; i < n; i++) {
      await chain.registerAgent(`a-${i}`, first.codeHash);
      if (i % 200 === 0) process.stderr.write(`  registered ${i} of ${n} agents\n`);
    }
    last = `a-${n - 1}`;
    const served = await untilServed(net.network.gateway!.url, last);
    process.stderr.write(
      `  ${n} agents registered in ${((performance.now() - started) / 1000).toFixed(1)} s; the last served ${served.toFixed(0)} ms later\n`,
    );
  }
  await net.stop();
  return last;
}

async function resume(dir: string, last: string): Promise<{ upMs: number; servedMs: number | undefined }> {
  const started = performance.now();
  const net = await up({ ...quiet, dir });
  const upMs = performance.now() - started;
  const servedMs = last === "none" ? undefined : upMs + (await untilServed(net.network.gateway!.url, last));
  await net.stop();
  return { upMs, servedMs };
}

const baseDir = join(work, "none", ".veil");
const fullDir = join(work, "many", ".veil");
process.stderr.write("preparing a network with no agents…\n");
await prepare(baseDir, 0);
process.stderr.write(`preparing a network with ${agentCount} agents…\n`);
const last = await prepare(fullDir, agentCount);

const rows: { name: string; upMs: number; servedMs: number | undefined }[] = [];
for (let round = 0; round < 2; round++) {
  rows.push({ name: `no agents (baseline), round ${round + 1}`, ...(await resume(baseDir, "none")) });
  rows.push({ name: `${agentCount} agents, round ${round + 1}`, ...(await resume(fullDir, last)) });
}
const s = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`);
console.log(`\nveil up resuming a network (1 worker, gateway in its process), this machine:`);
console.log(`${"network".padEnd(34)} ${"to resumed".padStart(11)} ${"last agent answers".padStart(19)}`);
for (const r of rows)
  console.log(`${r.name.padEnd(34)} ${s(r.upMs).padStart(11)} ${s(r.servedMs).padStart(19)}`);
const base = rows.filter((r) => r.name.startsWith("no agents")).map((r) => r.upMs);
const many = rows.filter((r) => !r.name.startsWith("no agents")).map((r) => r.upMs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`ratio ${agentCount} agents / none (to resumed): ${(median(many) / median(base)).toFixed(2)}×`);
rmSync(work, { recursive: true, force: true });
process.exit(0);
