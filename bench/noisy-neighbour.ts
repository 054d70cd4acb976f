// The noisy-neighbour figure (issue 15): a bystander agent's latency under steady load, alone and
// while attacker agents in the same process (as on one worker) run each attack of the hostile
// suite without pause. Prints p50/p99 side by side with the ratio to the bystander alone, the
// process's peak RSS against its bound (agents × their memory limit + the process before any
// agent), and the CPU the process used.
//
//   npm run bench:noisy-neighbour                 # 4 s a scenario, 3 attackers
//   npm run bench:noisy-neighbour -- 8 3          # seconds, attackers
//   ONLY=loop npm run bench:noisy-neighbour -- 20 # the attacks whose name has "loop"
//   WARM=0 npm run bench:noisy-neighbour          # figures from the first moment (default: after 6 s)
//
// Each scenario runs three times, printed side by side: all agents in one process with nothing
// done about neighbours; with the hot-thread watch (src/sandbox/hot-threads.ts); and with the
// watch and agents placed as a worker places them (src/sandbox/placement.ts: heavy or hostile
// ones moved to the sandbox process). The bystander alone is measured with neither.

import { readFileSync } from "node:fs";
import { watchHotThreads } from "../src/sandbox/hot-threads.ts";
import { IsolateSandbox, type IsolateSandboxOptions } from "../src/sandbox/isolate.ts";
import { AgentPlacement, PlacedSandbox } from "../src/sandbox/placement.ts";
import type { Sandbox, SandboxLimits } from "../src/sandbox/types.ts";

const seconds = Number(process.argv[2] ?? 4);
/**
 * Seconds of each scenario before the figures are taken: an attacker's first stop by a limit
 * (which moves it out) comes when it has used its whole CPU limit, 2 s by default, which three
 * attackers sharing two cores with the bystander reach after 4-5 s. The bystander's p99 over
 * that first stretch is printed too ("first").
 */
const WARM_S = Number(process.env.WARM ?? 6);
const attackers = Number(process.argv[3] ?? 3);
const CONNECTIONS = 4;
const MEMORY_MB = 128;

const wasmGrow = `const kept = []; export default { async fetch() {
  const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); kept.push(m); m.grow(4095);
  new Uint8Array(m.buffer).fill(1); return new Response("grew"); } };`;

/** Each attack: an agent's code and the path its requests take. */
const ATTACKS: Record<string, string> = {
  "wasm memory grown past the limit": wasmGrow,
  "a loop in a timer after the answer": `export default { fetch() { setTimeout(() => { for (;;) {} }, 50); return new Response("ok"); } };`,
  "timer churn (30,000 set and clear)": `export default { fetch() { for (let i = 0; i < 30000; i++) clearTimeout(setTimeout(() => {}, 86400000)); return new Response("ok"); } };`,
  "a status of 999": `class R extends Response { get status() { return 999; } } export default { fetch() { return new R("x"); } };`,
  "a synchronous loop in the handler": `export default { fetch() { for (;;) {} } };`,
  "memory grown without end": `export default { fetch() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); } };`,
  "a fork of promises": `export default { async fetch() { const s = () => { Promise.resolve().then(s); Promise.resolve().then(s); }; s(); await new Promise(() => {}); } };`,
  "host calls never awaited": `export default { async fetch(r, env, ctx) { for (let i = 0; i < 100000; i++) ctx.state.get("k").catch(() => {}); return new Response("ok"); } };`,
  "an endless streamed body": `export default { fetch() { return new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(65536)); } })); } };`,
};

const state = {
  async get() {
    await new Promise((r) => setTimeout(r, 50));
    return undefined;
  },
  async put() {},
  async delete() {
    return false;
  },
  async list() {
    return [];
  },
};

/** Resident bytes of the sandbox process (0 when there is none). */
function childRss(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * 4096;
  } catch {
    return 0;
  }
}

/** CPU the sandbox process used since it started (µs); it starts within the scenario. */
function childCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
  } catch {
    return 0;
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

const limits: Partial<SandboxLimits> = { memoryMb: MEMORY_MB };

/** off: all in one process, no watch; watch: the hot-thread watch on; moved: agents placed as a worker places them (heavy ones moved to the sandbox process), the watch on. */
type Mode = "off" | "watch" | "moved";

async function scenario(name: string, code: string | undefined, mode: Mode) {
  const hot = mode !== "off";
  const watch = hot ? watchHotThreads() : undefined;
  if (hot && !watch?.enabled) throw new Error(`the hot-thread watch cannot run here: ${watch?.why}`);
  const placement = mode === "moved" ? new AgentPlacement() : undefined;
  await placement?.start();
  const create = (options: IsolateSandboxOptions): Promise<Sandbox> =>
    placement ? placement.create(options) : IsolateSandbox.create(options);
  const bystander = await create({
    meta: { id: "1", name: "bystander", codeHash: `0x${"01".repeat(32)}` },
    code: `export default { async fetch(request) { const b = await request.text(); return Response.json({ n: b.length }); } };`,
    limits,
  });
  const noisy = code
    ? await Promise.all(
        Array.from({ length: attackers }, (_, i) =>
          create({
            meta: { id: String(100 + i), name: `attacker-${i}`, codeHash: `0x${"66".repeat(32)}` },
            code,
            limits,
            state,
          }),
        ),
      )
    : [];
  let stop = false;
  const latencies: number[] = [];
  const early: number[] = [];
  let measuring = false;
  let failed = 0;
  let attackErrors = 0;
  let peakRss = process.memoryUsage().rss;
  // Agents moved out hold their memory in the sandbox process: the two count together.
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss + childRss(placement?.processPid));
  }, 20);
  const load = async () => {
    while (!stop) {
      const t = performance.now();
      try {
        await bystander.invoke({
          method: "POST",
          url: "https://bystander.agents.veil/",
          headers: [],
          body: new TextEncoder().encode("hello"),
        });
        (measuring ? latencies : early).push(performance.now() - t);
      } catch {
        failed++;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const attack = async (sb: Sandbox) => {
    while (!stop) {
      try {
        const r = await sb.invoke({
          method: "GET",
          url: "https://attacker.agents.veil/",
          headers: [],
          body: null,
          acceptStream: true,
        });
        if (r.stream) for await (const _ of r.stream.chunks) if (stop) break;
      } catch {
        attackErrors++;
        // A refused caller comes back after a round trip, as one over the network would.
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  };
  const running = [...Array.from({ length: CONNECTIONS }, load), ...noisy.map(attack)];
  await new Promise((r) => setTimeout(r, WARM_S * 1000));
  measuring = true;
  const cpu = process.cpuUsage();
  const childCpuBefore = childCpu(placement?.processPid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(running);
  clearInterval(sampler);
  const used = process.cpuUsage(cpu);
  const childCpuUs = childCpu(placement?.processPid) - childCpuBefore;
  const slowed = watch?.stats().slowed ?? 0;
  watch?.stop();
  const moved = noisy.filter((s) => s instanceof PlacedSandbox && s.where === "sandbox process").length;
  for (const s of [bystander, ...noisy]) s.dispose();
  placement?.close();
  latencies.sort((a, b) => a - b);
  early.sort((a, b) => a - b);
  return {
    name,
    answered: latencies.length,
    failed,
    attackErrors,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    firstP99: pct(early, 99),
    peakRssMb: peakRss / 1048576,
    cpuShare: (used.user + used.system + childCpuUs) / 1000 / (seconds * 1000),
    slowed,
    moved,
  };
}

type Row = Awaited<ReturnType<typeof scenario>>;
const before = process.memoryUsage().rss / 1048576;
// The sandbox process a worker starts at boot is part of its fixed overhead.
const probe = new AgentPlacement();
await probe.start();
await new Promise((r) => setTimeout(r, 500));
const sandboxProcessMb = childRss(probe.processPid) / 1048576;
probe.close();
console.log(
  `noisy neighbour: bystander at ${CONNECTIONS} connections, ${attackers} attacker agents of ${MEMORY_MB} MiB each, ${seconds} s a scenario, hot-thread watch off | on`,
);
const alone = await scenario("alone", undefined, "off");
const rows: [Row, Row, Row][] = [];
const only = process.env.ONLY;
for (const [name, code] of Object.entries(ATTACKS)) {
  if (only && !name.includes(only)) continue;
  rows.push([
    await scenario(name, code, "off"),
    await scenario(name, code, "watch"),
    await scenario(name, code, "moved"),
  ]);
}
const cell = (r: Row) =>
  `${r.p50.toFixed(2).padStart(6)} ${r.p99.toFixed(2).padStart(6)} ${(r.p99 / alone.p99).toFixed(2).padStart(5)} ${`${r.peakRssMb.toFixed(0)}`.padStart(5)} ${`${(r.cpuShare * 100).toFixed(0)}%`.padStart(5)}`;
const head = `${"p50".padStart(6)} ${"p99".padStart(6)} ${"p99×".padStart(5)} ${"RSS".padStart(5)} ${"cpu".padStart(5)}`;
console.log(
  `${"".padEnd(45)} ${"one process".padEnd(32)} | ${"hot-thread watch".padEnd(32)} | watch + heavy agents moved out`,
);
console.log(
  `${"scenario (ms, MB)".padEnd(38)} ${"failed".padStart(6)} ${head} | ${head} | ${head} ${"moved".padStart(5)}`,
);
console.log(`${"alone".padEnd(38)} ${String(alone.failed).padStart(6)} ${cell(alone)} |`);
for (const [off, on, moved] of rows) {
  console.log(
    `${off.name.padEnd(38)} ${String(off.failed + on.failed + moved.failed).padStart(6)} ${cell(off)} | ${cell(on)} | ${cell(moved)} ${`${moved.moved}/${attackers}`.padStart(5)} ${moved.firstP99.toFixed(2).padStart(6)}`,
  );
}
const all = [alone, ...rows.flat()];
const bound = before + sandboxProcessMb + (attackers + 1) * MEMORY_MB;
console.log(
  `RSS bound: ${before.toFixed(0)} MB before any agent + the idle sandbox process's ${sandboxProcessMb.toFixed(0)} MB + ${attackers + 1} agents × ${MEMORY_MB} MiB = ${bound.toFixed(0)} MB; worst peak ${Math.max(...all.map((r) => r.peakRssMb)).toFixed(0)} MB (the sandbox process's counted in)`,
);
