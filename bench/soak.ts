// A soak: mixed load for a while over a network of hosts (Linux network namespaces on a bridge,
// as test/e2e/hosts.test.ts builds them), with a joined worker killed (-9) and restarted every
// few minutes (issue 17).
//
//   host 1 (this namespace): PostgreSQL on the bridge, `veil up --state postgres://…` (chain,
//     gatekeeper, one worker, the gateway in its own process)
//   hosts 2…W+1: workers that join with `veil worker --join GATEWAY_URL`, killed in turn
//   host W+2: deploys the agents (counters on ctx.state.transaction, echo, a streamer, a planner
//     that calls echo with ctx.agents.call, a priced echo)
//   host W+3: the client (this script again, with --driver): open-loop load through the gateway
//
// At the end: per kind of call, requests sent / answered / failed by error code, p50/p99; each
// kill and how long until the worker answered again (the x-veil-worker header); and the state
// check: each counter's final value against its acknowledged increments. Exits 1 if that fails.
//
//   npm run bench:soak -- [--minutes 30] [--kill-every 180] [--rate 40] [--seed N] [--workers 2 (at most 3)] [--down 5]
//
// Needs root and iproute2 (ip netns), and PostgreSQL installed. Ctrl-C stops it and cleans up.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { type PostgresServer, startPostgres } from "../scripts/postgres-cluster.mjs";
import { VeilError } from "../src/errors/index.ts";
import type { NetworkFile } from "../src/network/config.ts";
import { VeilClient } from "../src/sdk/client.ts";
import { repoRoot, startNetwork, stopNetwork, writeTransactionalCounterAgent } from "../test/helpers/cli.ts";
import {
  canNamespace,
  type Hosts,
  type JoinedWorker,
  joinWorker,
  makeHosts,
  withoutNetwork,
} from "../test/helpers/hosts.ts";

const KINDS = ["plain", "signed", "encrypted", "paid", "streamed", "agent-call", "counter"] as const;
type Kind = (typeof KINDS)[number];
/** How often each kind is drawn, out of the sum. */
const WEIGHTS: Record<Kind, number> = {
  plain: 3,
  signed: 1,
  encrypted: 1,
  paid: 1,
  streamed: 1,
  "agent-call": 1,
  counter: 2,
};
const COUNTERS = ["counter-a", "counter-b"];
const STREAM_CHUNKS = 8;
const STREAM_BODY = Array.from({ length: STREAM_CHUNKS }, (_, i) => `chunk ${i}\n`).join("");
const PRICE = "0.001";
/** Dev accounts that pay for paid calls (operator-1, -5… run workers; operator-4 signs). */
const PAYERS = ["operator-3", "operator-8"];
const REQUEST_TIMEOUT_MS = 30_000;
/** Failures of an increment that are refused before any agent code runs (so it did not apply). */
const NEVER_RAN = new Set(["NO_WORKER_AVAILABLE", "AGENT_NOT_FOUND", "RATE_LIMITED", "NOT_SENT"]);

const AGENTS: Record<string, string> = {
  echo: `export default { async fetch(request: Request) {
  const u = new URL(request.url);
  const body = request.method === "POST" ? await request.text() : "";
  return Response.json({ path: u.pathname, method: request.method, bytes: body.length });
} };
`,
  paid: `export default { async fetch(request: Request) {
  return Response.json({ paid: true, path: new URL(request.url).pathname });
} };
`,
  streamer: `export default { async fetch() {
  let i = 0;
  return new Response(new ReadableStream({
    async pull(c) {
      if (i === ${STREAM_CHUNKS}) { c.close(); return; }
      await new Promise((r) => setTimeout(r, 5));
      c.enqueue(new TextEncoder().encode("chunk " + i++ + "\\n"));
    },
  }), { headers: { "content-type": "text/plain" } });
} };
`,
  planner: `export default { async fetch(_request: Request, _env: unknown, ctx: any) {
  try {
    const r = await ctx.agents.call("echo", "/from-planner");
    return Response.json({ via: "planner", echo: await r.json() }, { status: r.ok ? 200 : 502 });
  } catch (e: any) { return Response.json({ code: e.code ?? "AGENT_CALL_THREW", message: e.message }, { status: 502 }); }
} };
`,
};

type DriverConfig = {
  networkFile: string;
  durationMs: number;
  rate: number;
  seed: number;
  signerKey: Hex;
  /** One payer per lane of paid calls (each lane one call at a time). */
  payerKeys: Hex[];
  paid: boolean;
};

type KindStats = {
  sent: number;
  answered: number;
  skipped: number;
  failed: Record<string, number>;
  /** When each code was first and last seen, in ms since the load started. */
  seen: Record<string, [number, number]>;
  latencies: number[];
};
type CounterStats = {
  base?: number;
  acked: number[];
  uncertain: number;
  retryable: number;
  refused: number;
};
type DriverResult = {
  type: "result";
  startedAt: number;
  endedAt: number;
  disabled: Record<string, string>;
  kinds: Record<Kind, KindStats>;
  counters: Record<string, CounterStats & { final?: number }>;
  byWorker: Record<string, number>;
  rejoins: { address: string; killedAt: number; restartedAt: number; firstAnswerAt?: number }[];
};
type DriverMessage =
  | { type: "started"; at: number; disabled: Record<string, string> }
  | {
      type: "progress";
      elapsed: number;
      sent: number;
      answered: number;
      failed: number;
      inflight: number;
      rps: number;
    }
  | DriverResult;

// ---------------------------------------------------------------------------------------------
// The client, in its own namespace.

/** A small seeded PRNG (mulberry32), so that a run's mix of calls can be replayed with --seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The error code a failed call counts under. */
function codeOf(err: unknown): string {
  if (err instanceof VeilError) return err.code;
  const e = err as { code?: unknown; name?: string; message?: string };
  if (e?.name === "SoakTimeout") return "CLIENT_TIMEOUT";
  if (typeof e?.code === "string") return `NET_${e.code}`;
  return `CLIENT_${e?.name ?? "Error"}`;
}

class Failed extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      const e = new Error(`no answer in ${ms} ms`);
      e.name = "SoakTimeout";
      reject(e);
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The agent's own non-2xx answer as a failure code: its JSON `code` if any, else the status. */
function answerCode(status: number, body: Uint8Array): string {
  try {
    const j = JSON.parse(text(body)) as { code?: string; error?: { code?: string } };
    const code = j.code ?? j.error?.code;
    if (code) return `AGENT_${code}`;
  } catch {}
  return `HTTP_${status}`;
}

async function driver(config: DriverConfig): Promise<void> {
  const send = (m: DriverMessage) => process.stdout.write(`SOAK ${JSON.stringify(m)}\n`);
  const network = JSON.parse(readFileSync(config.networkFile, "utf8")) as NetworkFile;
  const client = new VeilClient(network);
  const random = prng(config.seed);
  const kinds = Object.fromEntries(
    KINDS.map((k) => [
      k,
      { sent: 0, answered: 0, skipped: 0, failed: {}, seen: {}, latencies: [] } as KindStats,
    ]),
  ) as Record<Kind, KindStats>;
  const counters: Record<string, CounterStats & { final?: number }> = Object.fromEntries(
    COUNTERS.map((c) => [c, { acked: [], uncertain: 0, retryable: 0, refused: 0 }]),
  );
  const byWorker: Record<string, number> = {};
  const rejoins: DriverResult["rejoins"] = [];
  const disabled: Record<string, string> = {};
  if (!config.paid) disabled.paid = "not set up (see above)";

  let counterTurn = 0;
  /** One call of `kind`; resolves with the worker that answered, throws Failed or the SDK's error. */
  const call = async (kind: Kind, lane = 0): Promise<string | undefined> => {
    switch (kind) {
      case "plain": {
        const r = await client.invoke("echo", { path: "/plain", verify: false });
        if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
        if ((JSON.parse(text(r.body)) as { path: string }).path !== "/plain") throw new Failed("BAD_BODY");
        return r.worker;
      }
      case "signed": {
        const r = await client.invoke("echo", { path: "/signed", as: config.signerKey });
        if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
        if (!r.verified) throw new Failed("NOT_VERIFIED");
        return r.worker;
      }
      case "encrypted": {
        const body = JSON.stringify({ pad: "x".repeat(256) });
        const r = await client.invoke("echo", { path: "/sealed", method: "POST", body, encrypt: true });
        if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
        if ((JSON.parse(text(r.body)) as { bytes: number }).bytes !== body.length)
          throw new Failed("BAD_BODY");
        return r.worker;
      }
      case "paid": {
        const r = await client.invoke("paid", { path: "/paid", as: config.payerKeys[lane]! });
        if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
        return r.worker;
      }
      case "streamed": {
        const s = await client.invokeStream("streamer", { path: "/stream" });
        if (s.status !== 200) throw new Failed(`HTTP_${s.status}`);
        const parts: Uint8Array[] = [];
        for await (const c of s.body) parts.push(c);
        await s.done();
        if (text(new Uint8Array(Buffer.concat(parts))) !== STREAM_BODY) throw new Failed("BAD_BODY");
        if (!s.streamed) throw new Failed("NOT_STREAMED");
        return s.worker;
      }
      case "agent-call": {
        const r = await client.invoke("planner", { path: "/plan" });
        if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
        const j = JSON.parse(text(r.body)) as { echo?: { path?: string } };
        if (j.echo?.path !== "/from-planner") throw new Failed("BAD_BODY");
        return r.worker;
      }
      case "counter": {
        const name = COUNTERS[counterTurn++ % COUNTERS.length]!;
        const stats = counters[name]!;
        try {
          const r = await client.invoke(name, { method: "POST", path: "/" });
          if (r.status !== 200) throw new Failed(answerCode(r.status, r.body));
          stats.acked.push((JSON.parse(text(r.body)) as { n: number }).n);
          return r.worker;
        } catch (err) {
          const code = err instanceof Failed ? err.code : codeOf(err);
          if (NEVER_RAN.has(code)) stats.refused++;
          else {
            stats.uncertain++;
            if (err instanceof VeilError && err.retryable) stats.retryable++;
          }
          throw err;
        }
      }
    }
  };

  /** A counter's value (GET /count, which may run twice), retried for up to a minute. */
  const count = async (name: string): Promise<number | undefined> => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try {
        const r = await withTimeout(
          client.invoke(name, { path: "/count", verify: false }),
          REQUEST_TIMEOUT_MS,
        );
        if (r.status === 200) return (JSON.parse(text(r.body)) as { n: number }).n;
      } catch {}
      await new Promise((r) => setTimeout(r, 500));
    }
    return undefined;
  };

  const answered = (worker: string | undefined, sentAt: number) => {
    if (!worker) return;
    const w = worker.toLowerCase();
    byWorker[w] = (byWorker[w] ?? 0) + 1;
    const now = Date.now();
    // The first answer from a restarted worker to a call made after it was killed.
    for (const r of rejoins) {
      if (r.address === w && r.firstAnswerAt === undefined && sentAt >= r.killedAt) r.firstAnswerAt = now;
    }
  };

  process.stdin.setEncoding("utf8");
  let input = "";
  process.stdin.on("data", (c: string) => {
    input += c;
    for (let i = input.indexOf("\n"); i >= 0; i = input.indexOf("\n")) {
      const line = input.slice(0, i);
      input = input.slice(i + 1);
      const m = JSON.parse(line) as { type: string; address: string; killedAt: number; restartedAt: number };
      if (m.type === "restarted")
        rejoins.push({ address: m.address.toLowerCase(), killedAt: m.killedAt, restartedAt: m.restartedAt });
    }
  });

  // Warm-up: each kind answers once before the clock starts (not counted).
  for (const kind of KINDS) {
    if (disabled[kind]) continue;
    const deadline = Date.now() + 90_000;
    let last = "";
    for (;;) {
      try {
        await withTimeout(call(kind), REQUEST_TIMEOUT_MS);
        break;
      } catch (err) {
        last = err instanceof Failed ? err.code : `${codeOf(err)}: ${(err as Error).message}`;
      }
      if (Date.now() > deadline) {
        disabled[kind] = `never answered in warm-up (${last})`;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  for (const c of Object.values(counters))
    Object.assign(c, { acked: [], uncertain: 0, retryable: 0, refused: 0 });
  for (const k of Object.values(kinds))
    Object.assign(k, { sent: 0, answered: 0, skipped: 0, failed: {}, seen: {}, latencies: [] });
  for (const w of Object.keys(byWorker)) delete byWorker[w];

  // Each counter's value before the load (the warm-up incremented one).
  for (const name of COUNTERS) {
    const base = await count(name);
    if (base === undefined) throw new Error(`${name}: its count could not be read before the load`);
    counters[name]!.base = base;
  }

  const active = KINDS.filter((k) => !disabled[k]);
  const total = active.reduce((s, k) => s + WEIGHTS[k], 0);
  const pick = (): Kind => {
    let x = random() * total;
    for (const k of active) {
      x -= WEIGHTS[k];
      if (x < 0) return k;
    }
    return active[active.length - 1]!;
  };

  const startedAt = Date.now();
  send({ type: "started", at: startedAt, disabled });
  const maxInflight = Math.max(64, config.rate * 4);
  let inflight = 0;
  let launched = 0;
  // Paid calls go one at a time per payer (a lane): the SDK signs a channel's cumulative
  // vouchers in order, so calls of one payer at once would sign the same voucher twice.
  const lanes = config.payerKeys.map(() => ({ queue: Promise.resolve(), waiting: 0 }));
  const pending = new Set<Promise<void>>();

  const run = (kind: Kind) => {
    const stats = kinds[kind];
    const lane = lanes.reduce((best, l, i) => (l.waiting < lanes[best]!.waiting ? i : best), 0);
    const one = async () => {
      stats.sent++;
      const sentAt = Date.now();
      try {
        const worker = await withTimeout(call(kind, lane), REQUEST_TIMEOUT_MS);
        stats.answered++;
        stats.latencies.push(Date.now() - sentAt);
        answered(worker, sentAt);
      } catch (err) {
        const code = err instanceof Failed ? err.code : codeOf(err);
        stats.failed[code] = (stats.failed[code] ?? 0) + 1;
        const t = sentAt - startedAt;
        stats.seen[code] = [stats.seen[code]?.[0] ?? t, t];
      }
    };
    if (inflight >= maxInflight || (kind === "paid" && lanes[lane]!.waiting >= 8)) {
      stats.skipped++;
      return;
    }
    inflight++;
    let p: Promise<void>;
    if (kind === "paid") {
      const l = lanes[lane]!;
      l.waiting++;
      p = l.queue.then(async () => {
        l.waiting--;
        await one();
      });
      l.queue = p;
    } else p = one();
    const done = p.finally(() => {
      inflight--;
      pending.delete(done);
    });
    pending.add(done);
  };

  let lastProgress = { at: startedAt, answered: 0 };
  const sum = (f: (k: KindStats) => number) => Object.values(kinds).reduce((s, k) => s + f(k), 0);
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now();
      if (now - startedAt >= config.durationMs) {
        clearInterval(tick);
        resolve();
        return;
      }
      const target = Math.floor(((now - startedAt) / 1000) * config.rate);
      while (launched < target) {
        launched++;
        run(pick());
      }
      if (now - lastProgress.at >= 10_000) {
        const answeredNow = sum((k) => k.answered);
        const failed = sum((k) => Object.values(k.failed).reduce((a, b) => a + b, 0));
        send({
          type: "progress",
          elapsed: now - startedAt,
          sent: sum((k) => k.sent),
          answered: answeredNow,
          failed,
          inflight,
          rps: ((answeredNow - lastProgress.answered) * 1000) / (now - lastProgress.at),
        });
        lastProgress = { at: now, answered: answeredNow };
      }
    }, 20);
  });
  await Promise.all(pending);
  const endedAt = Date.now();

  // The state check: each counter's value, read once everything in flight has ended.
  for (const name of COUNTERS) {
    const final = await count(name);
    if (final !== undefined) counters[name]!.final = final;
  }
  send({ type: "result", startedAt, endedAt, disabled, kinds, counters, byWorker, rejoins });
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The orchestrator, on host 1.

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function orchestrate(o: {
  minutes: number;
  killEvery: number;
  rate: number;
  seed: number;
  workers: number;
  down: number;
}): Promise<number> {
  if (!canNamespace) {
    console.error("bench:soak needs root and iproute2 (ip netns): it builds hosts as network namespaces.");
    return 2;
  }
  const t0 = Date.now();
  const log = (line: string) => console.log(`[${secs(Date.now() - t0).padStart(8)}] ${line}`);
  const work = mkdtempSync(join(tmpdir(), "veil-soak-"));
  const dir = join(work, ".veil");
  const W = o.workers;
  const deployHost = W + 2;
  const clientHost = W + 3;
  let hosts: Hosts | undefined;
  let postgres: PostgresServer | undefined;
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let driverChild: ChildProcess | undefined;
  let stopping = false;

  let cleaned: Promise<void> | undefined;
  const cleanup = () => {
    cleaned ??= (async () => {
      stopping = true;
      driverChild?.kill("SIGKILL");
      hosts?.killAll();
      if (network) await stopNetwork(network.child);
      await postgres?.stop();
      hosts?.teardown();
      rmSync(work, { recursive: true, force: true });
    })();
    return cleaned;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping and cleaning up…`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // Whatever happens, no namespace, bridge or daemon outlives the script.
  process.once("exit", () => {
    hosts?.teardown();
    if (network && network.child.exitCode === null) network.child.kill("SIGTERM");
  });

  try {
    hosts = makeHosts({ count: W + 3, cwd: work });
    const ip = hosts.ip;
    log(
      `hosts on ${hosts.net}.0/24: ${ip(1)} chain+gateway+worker+postgres, ${Array.from({ length: W }, (_, i) => ip(i + 2)).join(", ")} joined workers, ${ip(deployHost)} deployer, ${ip(clientHost)} client`,
    );
    postgres = await startPostgres({ host: ip(1), trustNetwork: `${hosts.net}.0/24` });
    network = await startNetwork(dir, [
      "--host",
      ip(1),
      "--workers",
      "1",
      "--gateway",
      "process",
      "--state",
      postgres.url,
    ]);
    const file = JSON.parse(readFileSync(join(dir, "network.json"), "utf8")) as NetworkFile;
    const key = (role: string) => file.devAccounts!.accounts.find((a) => a.role === role)!.privateKey;
    log(`veil up: gateway ${file.gateway!.url}, state ${postgres.url}`);

    const joinOptions = (host: number) => ({
      gatewayUrl: file.gateway!.url,
      rpcUrl: file.chain.rpcUrl,
      dataDir: join(work, `host-${host}`),
      operatorKey: key(`operator-${host + 3}`),
      stateUrl: postgres!.url,
    });
    const workers = new Map<number, JoinedWorker>();
    for (let host = 2; host < 2 + W; host++) {
      workers.set(host, await joinWorker(hosts, host, joinOptions(host)));
      log(`host ${host}: worker ${workers.get(host)!.address} joined at ${workers.get(host)!.url}`);
    }

    // Host deployHost has the network file and the agents' source, nothing else.
    const deployDir = join(work, `host-${deployHost}`);
    mkdirSync(deployDir, { recursive: true });
    const networkCopy = join(deployDir, "network.json");
    writeFileSync(networkCopy, readFileSync(join(dir, "network.json")));
    const onDeployHost = async (args: string[]) => {
      const r = await hosts!.veilOn(deployHost, [...args, "--network", networkCopy]);
      if (r.code !== 0)
        throw new Error(`veil ${args.slice(0, 2).join(" ")} failed on host ${deployHost}:\n${r.out}`);
      return r.out;
    };
    for (const name of COUNTERS) writeTransactionalCounterAgent(join(deployDir, name));
    for (const [name, code] of Object.entries(AGENTS)) {
      mkdirSync(join(deployDir, name, "src"), { recursive: true });
      writeFileSync(join(deployDir, name, "src", "index.ts"), code);
    }
    for (const name of [...COUNTERS, ...Object.keys(AGENTS)]) {
      await onDeployHost(["deploy", join(deployDir, name), "--name", name, "--private-key", key("user")]);
      log(`host ${deployHost}: deployed ${name}`);
    }
    // Paid calls: a price on `paid`, and the payer's prepayment in FeeEscrow.
    let paid = false;
    try {
      await onDeployHost(["agent", "price", "paid", PRICE, "--private-key", key("user")]);
      for (const payer of PAYERS) await onDeployHost(["escrow", "deposit", "100", "--from", payer]);
      // A price increase waits 5 s on a dev network (ADR 0020).
      for (let i = 0; i < 60 && /rising/.test(await onDeployHost(["agent", "price", "paid"])); i++)
        await new Promise((r) => setTimeout(r, 250));
      paid = true;
      log(`paid: ${PRICE} VEIL per call, ${PAYERS.join(" and ")} prepaid 100 VEIL each`);
    } catch (err) {
      console.log(`NOTE: paid calls skipped, their setup failed: ${(err as Error).message}`);
    }

    // The client: this script again, in its namespace.
    const clientDir = join(work, `host-${clientHost}`);
    mkdirSync(clientDir, { recursive: true });
    const clientNetwork = join(clientDir, "network.json");
    writeFileSync(clientNetwork, readFileSync(join(dir, "network.json")));
    const config: DriverConfig = {
      networkFile: clientNetwork,
      durationMs: o.minutes * 60_000,
      rate: o.rate,
      seed: o.seed,
      signerKey: key("operator-4"),
      payerKeys: PAYERS.map(key),
      paid,
    };
    const driverProcess = hosts.spawnOn(
      clientHost,
      [process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), "--driver"],
      { cwd: repoRoot, env: { ...withoutNetwork(), VEIL_SOAK_DRIVER: JSON.stringify(config) } },
    );
    driverChild = driverProcess;
    driverProcess.stderr?.on("data", (c: Buffer) => process.stderr.write(c));
    let result: DriverResult | undefined;
    let started: number | undefined;
    let buffered = "";
    const driverExited = new Promise<number | null>((r) => driverProcess.once("exit", r));
    const startedPromise = new Promise<void>((resolveStarted) => {
      driverProcess.stdout?.on("data", (c: Buffer) => {
        buffered += c.toString();
        for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
          const line = buffered.slice(0, i);
          buffered = buffered.slice(i + 1);
          if (!line.startsWith("SOAK ")) {
            if (line.trim()) console.log(`  client: ${line}`);
            continue;
          }
          const m = JSON.parse(line.slice(5)) as DriverMessage;
          if (m.type === "started") {
            started = m.at;
            for (const [k, why] of Object.entries(m.disabled)) console.log(`NOTE: ${k} calls off: ${why}`);
            log(`load: ${o.rate} calls/s for ${o.minutes} min from ${ip(clientHost)}, seed ${o.seed}`);
            resolveStarted();
          } else if (m.type === "progress") {
            log(
              `t+${secs(m.elapsed)}: sent ${m.sent}, answered ${m.answered}, failed ${m.failed}, in flight ${m.inflight}, ${m.rps.toFixed(1)} answers/s`,
            );
          } else result = m;
        }
      });
    });
    await Promise.race([
      startedPromise,
      driverExited.then((code) => {
        throw new Error(`the client exited before the load started (${code})`);
      }),
    ]);

    // Kills: one joined worker every killEvery seconds, in turn; restarted after `down` seconds.
    type Kill = {
      host: number;
      address: string;
      killedAt: number;
      restartedAt?: number;
      readyAt?: number;
      error?: string;
    };
    const kills: Kill[] = [];
    let turn = 0;
    const killer = (async () => {
      const end = started! + o.minutes * 60_000;
      for (let at = started! + o.killEvery * 1000; at < end - 5_000; at += o.killEvery * 1000) {
        while (Date.now() < at && !stopping && driverProcess.exitCode === null)
          await new Promise((r) => setTimeout(r, 200));
        if (stopping || driverProcess.exitCode !== null) return;
        const host = 2 + (turn++ % W);
        const w = workers.get(host)!;
        const exited = new Promise((r) =>
          w.child.exitCode !== null ? r(undefined) : w.child.once("exit", r),
        );
        w.child.kill("SIGKILL");
        const kill: Kill = { host, address: w.address, killedAt: Date.now() };
        kills.push(kill);
        await exited;
        log(`kill -9 worker on host ${host} (${w.address}, pid ${w.child.pid})`);
        await new Promise((r) => setTimeout(r, o.down * 1000));
        if (stopping) return;
        kill.restartedAt = Date.now();
        try {
          const again = await joinWorker(hosts!, host, joinOptions(host));
          workers.set(host, again);
          kill.readyAt = Date.now();
          log(`host ${host}: worker restarted, ready after ${secs(kill.readyAt - kill.restartedAt)}`);
          driverProcess.stdin?.write(
            `${JSON.stringify({ type: "restarted", address: again.address, killedAt: kill.killedAt, restartedAt: kill.restartedAt })}\n`,
          );
        } catch (err) {
          kill.error = (err as Error).message.split("\n").slice(0, 6).join("\n");
          log(`host ${host}: the worker did not come back: ${kill.error}`);
        }
      }
    })();
    const code = await driverExited;
    stopping = true;
    await killer;
    if (!result) throw new Error(`the client exited (${code}) without a result`);
    return summary(result, kills, o);
  } catch (err) {
    if (!stopping) console.error(`soak failed: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    log("cleaning up");
    await cleanup();
    log("done");
  }
}

function summary(
  r: DriverResult,
  kills: {
    host: number;
    address: string;
    killedAt: number;
    restartedAt?: number;
    readyAt?: number;
    error?: string;
  }[],
  o: { minutes: number; killEvery: number; rate: number; seed: number },
): number {
  const out: string[] = [];
  const dur = (r.endedAt - r.startedAt) / 1000;
  out.push("");
  out.push(
    `soak: ${(dur / 60).toFixed(1)} min at ${o.rate} calls/s target, a joined worker killed every ${o.killEvery} s, seed ${o.seed}`,
  );
  out.push("");
  const head = ["kind", "sent", "answered", "failed", "not sent", "p50 ms", "p99 ms", "failures by code"];
  const rows: string[][] = [];
  const totals = { sent: 0, answered: 0, failed: 0, skipped: 0 };
  for (const kind of KINDS) {
    const k = r.kinds[kind];
    if (r.disabled[kind]) {
      rows.push([kind, "-", "-", "-", "-", "-", "-", `off: ${r.disabled[kind]}`]);
      continue;
    }
    const failed = Object.values(k.failed).reduce((a, b) => a + b, 0);
    totals.sent += k.sent;
    totals.answered += k.answered;
    totals.failed += failed;
    totals.skipped += k.skipped;
    rows.push([
      kind,
      String(k.sent),
      String(k.answered),
      String(failed),
      String(k.skipped),
      String(pct(k.latencies, 50)),
      String(pct(k.latencies, 99)),
      Object.entries(k.failed)
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${n}`)
        .join(", "),
    ]);
  }
  rows.push([
    "all",
    String(totals.sent),
    String(totals.answered),
    String(totals.failed),
    String(totals.skipped),
    "",
    "",
    `${(totals.answered / dur).toFixed(1)} answers/s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) =>
    row
      .map((c, i) => (i === 0 || i === row.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ");
  out.push(fmt(head));
  for (const row of rows) out.push(fmt(row));
  const times = KINDS.flatMap((kind) =>
    Object.entries(r.kinds[kind].seen).map(
      ([code, [first, last]]) =>
        `${kind} ${code} ${r.kinds[kind].failed[code]}× at t+${secs(first)}${last > first ? `…${secs(last)}` : ""}`,
    ),
  );
  if (times.length) out.push("", "when failures were sent:", ...times.map((t) => `  ${t}`));
  out.push("");
  out.push(
    `answers by worker: ${Object.entries(r.byWorker)
      .map(([w, n]) => `${w.slice(0, 10)}… ${n}`)
      .join(", ")}`,
  );
  out.push("");
  out.push(`worker kills: ${kills.length}`);
  for (const k of kills) {
    const rejoin = r.rejoins.find((j) => j.address === k.address.toLowerCase() && j.killedAt === k.killedAt);
    const at = secs(k.killedAt - r.startedAt);
    if (k.error || k.readyAt === undefined) {
      out.push(
        `  t+${at} host ${k.host} (${k.address.slice(0, 10)}…): not back${k.error ? `: ${k.error}` : ""}`,
      );
      continue;
    }
    out.push(
      `  t+${at} host ${k.host} (${k.address.slice(0, 10)}…): restarted after ${secs(k.restartedAt! - k.killedAt)} down, ready in ${secs(k.readyAt - k.restartedAt!)}, first answer ${rejoin?.firstAnswerAt ? `${secs(rejoin.firstAnswerAt - k.restartedAt!)} after the restart (${secs(rejoin.firstAnswerAt - k.killedAt)} after the kill)` : "not seen"}`,
    );
  }
  out.push("");
  out.push("state check (final − before ∈ [acked, acked + uncertain], no value acknowledged twice):");
  let ok = true;
  for (const [name, c] of Object.entries(r.counters)) {
    const acked = c.acked.length;
    const doubled = acked - new Set(c.acked).size;
    const base = c.base ?? 0;
    const max = acked ? Math.max(...c.acked) : base;
    // Increments since the load started: the value read before it is the base.
    const final = c.final === undefined ? undefined : c.final - base;
    const pass =
      final !== undefined &&
      doubled === 0 &&
      final >= acked &&
      final <= acked + c.uncertain &&
      max <= c.final! &&
      Math.min(...c.acked, Number.POSITIVE_INFINITY) > base;
    ok &&= pass;
    out.push(
      `  ${name}: ${c.final ?? "unread"} at the end, ${base} before: ${final ?? "?"} increments; acked ${acked}, uncertain ${c.uncertain} (retryable ${c.retryable}), refused before running ${c.refused}, acknowledged twice ${doubled}, highest acked ${max}: ${pass ? "OK" : "FAIL"}${final !== undefined && pass ? ` (${final - acked} of the uncertain applied)` : ""}`,
    );
  }
  out.push(ok ? "state check: OK" : "state check: FAILED");
  console.log(out.join("\n"));
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

if (process.argv.includes("--driver")) {
  await driver(JSON.parse(process.env.VEIL_SOAK_DRIVER!) as DriverConfig);
} else {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "30" },
      "kill-every": { type: "string", default: "180" },
      rate: { type: "string", default: "40" },
      seed: { type: "string" },
      workers: { type: "string", default: "2" },
      down: { type: "string", default: "5" },
    },
  });
  const num = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      console.error(`--${name} must be a number ≥ ${min} (got ${v})`);
      process.exit(2);
    }
    return n;
  };
  const code = await orchestrate({
    minutes: num("minutes", values.minutes, 0.1),
    killEvery: num("kill-every", values["kill-every"], 5),
    rate: num("rate", values.rate, 1),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : num("seed", values.seed, 0),
    workers: Math.min(num("workers", values.workers, 1), 3),
    down: num("down", values.down, 0),
  });
  process.exit(code);
}
