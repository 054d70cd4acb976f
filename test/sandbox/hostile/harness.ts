// The hostile-agent suite's harness: an attacker agent and a bystander agent in one process (as
// on a worker), the bystander under steady load while the attack runs. Each test asserts what the
// bystander got (every answer right), the attacker's typed error, and that the process's memory
// and CPU stayed inside bounds.
import assert from "node:assert/strict";
import { VeilError } from "../../../src/errors/index.ts";
import { IsolateSandbox } from "../../../src/sandbox/isolate.ts";
import type { SandboxLimits, SandboxRequest } from "../../../src/sandbox/types.ts";

export const text = (b: Uint8Array) => new TextDecoder().decode(b);

export function req(path: string, extra: Partial<SandboxRequest> = {}): SandboxRequest {
  return { method: "GET", url: `https://attacker.agents.veil${path}`, headers: [], body: null, ...extra };
}

export type Attacker = { sandbox: IsolateSandbox; logs: string[] };

/** An agent from a stranger, with its own (small) limits; what it prints is kept. */
export async function attacker(code: string, limits: Partial<SandboxLimits> = {}): Promise<Attacker> {
  const logs: string[] = [];
  const sandbox = await IsolateSandbox.create({
    meta: { id: "66", name: "attacker", codeHash: `0x${"66".repeat(32)}` },
    code,
    limits: { memoryMb: 64, cpuTimeMs: 300, wallTimeMs: 2_000, ...limits },
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  return { sandbox, logs };
}

/** The typed error a promise fails with (a test failure if it succeeds or fails untyped). */
export async function codeOf(promise: Promise<unknown>): Promise<VeilError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    return err;
  }
  assert.fail("expected a typed error");
}

export type BystanderFigures = {
  answered: number;
  failed: unknown[];
  wrong: string[];
  p50Ms: number;
  p99Ms: number;
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/**
 * A bystander agent that counts its requests, served by `connections` loops while `during`
 * runs. Each answer must be the count that request should see (nothing lost, nothing mixed up).
 */
export async function withBystander<T>(
  during: () => Promise<T>,
  connections = 4,
): Promise<{ result: T; bystander: BystanderFigures }> {
  const sandbox = await IsolateSandbox.create({
    meta: { id: "7", name: "bystander", codeHash: `0x${"07".repeat(32)}` },
    code: `export default { async fetch(request) {
      const n = Number(new URL(request.url).searchParams.get("n"));
      const body = await request.text();
      return Response.json({ n: n + 1, body });
    } };`,
  });
  let stop = false;
  const latencies: number[] = [];
  const failed: unknown[] = [];
  const wrong: string[] = [];
  let seq = 0;
  const load = async () => {
    while (!stop) {
      const n = seq++;
      const started = performance.now();
      try {
        const res = await sandbox.invoke({
          method: "POST",
          url: `https://bystander.agents.veil/?n=${n}`,
          headers: [["content-type", "text/plain"]],
          body: new TextEncoder().encode(`hello ${n}`),
        });
        latencies.push(performance.now() - started);
        const got = text(res.body);
        if (res.status !== 200 || got !== JSON.stringify({ n: n + 1, body: `hello ${n}` })) wrong.push(got);
      } catch (err) {
        failed.push(err);
      }
      // Steady load, not a spin: the figure is latency, not how fast a loop can go.
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const loaders = Array.from({ length: connections }, load);
  // The bystander is warm before the attack begins.
  await new Promise((r) => setTimeout(r, 100));
  let result: T;
  try {
    result = await during();
  } finally {
    stop = true;
    await Promise.all(loaders);
    sandbox.dispose();
  }
  latencies.sort((a, b) => a - b);
  return {
    result,
    bystander: {
      answered: latencies.length,
      failed,
      wrong,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    },
  };
}

/**
 * What every hostile test asserts of the bystander: it answered, every answer right, none failed,
 * and no answer took long (a generous bound: the figure to watch is in bench/noisy-neighbour.ts).
 */
export function assertBystanderUnharmed(b: BystanderFigures, maxP99Ms = 400): void {
  assert.deepEqual(b.failed, [], "the bystander failed no request");
  assert.deepEqual(b.wrong, [], "every bystander answer is right");
  assert.ok(b.answered > 20, `the bystander answered ${b.answered} requests during the attack`);
  assert.ok(b.p99Ms < maxP99Ms, `bystander p99 ${b.p99Ms.toFixed(1)} ms (p50 ${b.p50Ms.toFixed(1)} ms)`);
}

/** The process's resident memory now, in MiB, after a collection where one can be asked for. */
export function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 1024 / 1024;
}

/** CPU this process (every isolate's thread included) used over `ms`, as a share of one core. */
export async function cpuShare(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / (performance.now() - t);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
