// Overhead of an agent-to-agent call (ctx.agents.call) over a direct invoke, on a fresh
// one-machine network (chain, gatekeeper, 2 workers, gateway, as `npm start` runs them).
// Three agents: `tool` answers at once; `planner` answers at once on /noop and, on /call, calls
// `tool` once and answers what it said. Each is invoked N times through the gateway with the
// SDK (receipts checked), after a warm-up; p50/p99 side by side:
//   direct        the client invokes `tool`
//   planner noop  the client invokes `planner`, which calls nobody (the outer request's cost)
//   planner→tool  the client invokes `planner`, which calls `tool` (sealed end to end, through
//                 the gateway, caller identity signed and checked, as every agent call is)
// overhead of the call = (planner→tool) − (planner noop), shown beside a direct invoke; also
// for --encrypt outer requests.
//
//   npm run bench:agent-calls            N=200 npm run bench:agent-calls
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { up } from "../src/network/up.ts";
import { VeilClient } from "../src/sdk/client.ts";

const N = Number(process.env.N ?? 100);
const WARMUP = 10;
const AGENTS = {
  tool: `export default { fetch: () => Response.json({ sum: 42 }) };\n`,
  planner: `export default { async fetch(request, env, ctx) {
  if (new URL(request.url).pathname === "/noop") return Response.json({ tool: null });
  const r = await ctx.agents.call("tool", "/add");
  return Response.json({ tool: await r.json() });
} };\n`,
};

const work = mkdtempSync(join(tmpdir(), "veil-bench-calls-"));
const net = await up({
  dir: join(work, ".veil"),
  workers: 2,
  basePort: 0,
  host: "127.0.0.1",
  onProgress: () => {},
});
try {
  const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
  const client = new VeilClient(net.network, { privateKey: user.privateKey });
  for (const [name, code] of Object.entries(AGENTS)) {
    const dir = join(work, name);
    mkdirSync(join(dir, "src"), { recursive: true });
    writeFileSync(join(dir, "src", "index.ts"), code);
    await client.deploy(dir, name);
  }

  const sample = async (agent: string, path: string, encrypt: boolean): Promise<number[]> => {
    const once = async () => {
      const t = performance.now();
      const r = await client.invoke(agent, { path, encrypt });
      if (r.status !== 200)
        throw new Error(`${agent}${path} answered ${r.status}: ${new TextDecoder().decode(r.body)}`);
      return performance.now() - t;
    };
    for (let i = 0; i < WARMUP; i++) await once();
    const out: number[] = [];
    for (let i = 0; i < N; i++) out.push(await once());
    return out.sort((a, b) => a - b);
  };
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  const fmt = (ms: number) => `${ms.toFixed(2).padStart(8)} ms`;

  console.log(
    `agent-to-agent calls, ${N} invocations each after ${WARMUP} warm-up (2 workers, receipts checked)\n`,
  );
  console.log(`${"outer request".padEnd(16)}${"case".padEnd(16)}${"p50".padStart(11)}${"p99".padStart(11)}`);
  for (const encrypt of [false, true]) {
    const label = encrypt ? "--encrypt" : "plain";
    const direct = await sample("tool", "/add", encrypt);
    const noop = await sample("planner", "/noop", encrypt);
    const call = await sample("planner", "/call", encrypt);
    for (const [name, xs] of [
      ["direct", direct],
      ["planner noop", noop],
      ["planner→tool", call],
    ] as const) {
      console.log(`${label.padEnd(16)}${name.padEnd(16)}${fmt(pct(xs, 50))} ${fmt(pct(xs, 99))}`);
    }
    const over50 = pct(call, 50) - pct(noop, 50);
    const over99 = pct(call, 99) - pct(noop, 99);
    console.log(
      `${label.padEnd(16)}${"call overhead".padEnd(16)}${fmt(over50)} ${fmt(over99)}   = ${(over50 / pct(direct, 50)).toFixed(2)}× a direct invoke at p50\n`,
    );
  }
} finally {
  await net.stop();
  rmSync(work, { recursive: true, force: true });
}
