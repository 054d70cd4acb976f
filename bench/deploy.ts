// Time from `deploy` to the first successful invoke, on a fresh one-machine network.
// Starts the network (as separate processes, like `npm start`), deploys K new agents through
// the SDK (build, load check, store, register, wait until served) and invokes each once.
//
//   node --import tsx bench/deploy.ts [K=5]
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { up } from "../src/network/up.ts";
import { VeilClient } from "../src/sdk/client.ts";

const K = Number(process.argv[2] ?? 5);
const work = mkdtempSync(join(tmpdir(), "veil-bench-deploy-"));
const t0 = performance.now();
const net = await up({
  dir: join(work, ".veil"),
  workers: 2,
  basePort: 0,
  host: "127.0.0.1",
  onProgress: () => {},
});
const upMs = performance.now() - t0;
const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
const client = new VeilClient(net.network, { privateKey: user.privateKey });

const rows: { deploy: number; firstInvoke: number; total: number }[] = [];
for (let i = 0; i < K; i++) {
  const dir = join(work, `agent-${i}`);
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "src", "index.ts"),
    `export default { fetch: () => Response.json({ agent: ${i} }) };\n`,
  );
  const start = performance.now();
  await client.deploy(dir, `bench-${i}`);
  const deployed = performance.now();
  const res = await client.invoke(`bench-${i}`, { path: "/" });
  if (res.status !== 200) throw new Error(`invoke answered ${res.status}`);
  const done = performance.now();
  rows.push({ deploy: deployed - start, firstInvoke: done - deployed, total: done - start });
}
await net.stop();

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`network up (chain, contracts, gatekeeper, 2 workers, gateway): ${(upMs / 1000).toFixed(1)} s`);
console.log(`deploy → served (median of ${K}):           ${med(rows.map((r) => r.deploy)).toFixed(0)} ms`);
console.log(
  `served → first invoke answered (median):   ${med(rows.map((r) => r.firstInvoke)).toFixed(1)} ms`,
);
console.log(`deploy → first successful invoke (median): ${med(rows.map((r) => r.total)).toFixed(0)} ms`);
process.exit(0);
