// Veil across hosts, in figures (issue 17): the namespaced network of test/e2e/hosts.test.ts and
// bench/soak.ts (Linux network namespaces on a bridge, PostgreSQL state), built with the same
// helpers (test/helpers/hosts.ts), and three measurements on it:
//
//   host 1 (this namespace): PostgreSQL, `veil up --state postgres://…` (chain, gatekeeper, one
//     worker, the gateway in its own process)
//   hosts 2, 3: workers that join with `veil worker --join GATEWAY_URL`
//   host 4: the deployer and client (this script again, with --driver)
//
// 1. deploy → first answer from host 4: `VeilClient.deploy` (build, upload to the gateway,
//    register on chain, wait until served) then the first successful invoke; p50 over --deploys.
// 2. the gateway's overhead per request: one hello-world GET through the gateway (pinned to host
//    2's worker with x-veil-prefer-worker) beside the same GET straight to that worker, one
//    connection each, taking turns request by request; p50/p99 in µs and the difference.
// 3. rejoin: host 2's link cut (link down) under a light load through the gateway, for --cut
//    seconds, then back up: time from the link coming up to host 2's first answer through the
//    gateway; each of --rejoins rounds and their p50.
//
// State read/write p50 on SQLite and PostgreSQL: `npm run bench:state` (bench/state-stores.ts).
//
//   npm run bench:hosts -- [--deploys 5] [--requests 2000] [--rejoins 3] [--cut 3]
//
// Needs root, iproute2 (ip netns) and PostgreSQL installed. Prints figures, asserts nothing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { type PostgresServer, startPostgres } from "../scripts/postgres-cluster.mjs";
import type { NetworkFile } from "../src/network/config.ts";
import { VeilClient } from "../src/sdk/client.ts";
import { repoRoot, startNetwork, stopNetwork } from "../test/helpers/cli.ts";
import {
  canNamespace,
  firstConnect,
  type Hosts,
  joinWorker,
  makeHosts,
  withoutNetwork,
} from "../test/helpers/hosts.ts";

const HELLO = (i: number) => `export default { fetch: () => new Response("hello ${i}") };\n`;

type DriverConfig = {
  networkFile: string;
  agentDirs: string[];
  userKey: Hex;
  /** The worker on host 2: the gateway is pinned to it, and it is asked straight. */
  worker: { url: string; address: string };
  requests: number;
};
type DriverResult = {
  deploys: { deploy: number; firstAnswer: number; total: number }[];
  gateway: number[];
  direct: number[];
  refused: Record<string, number>;
};

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]! : Number.NaN;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");

// ---------------------------------------------------------------------------------------------
// Host 4: deploys, then the overhead's requests.

/** One GET on a kept-alive connection: its status and the time to the answer's end, in µs. */
function get(agent: Agent, url: string, headers: Record<string, string>): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = request(url, { agent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve([res.statusCode ?? 0, Number(process.hrtime.bigint() - t) / 1000]));
    });
    req.on("error", reject);
    req.end();
  });
}

async function driver(config: DriverConfig): Promise<void> {
  const network = JSON.parse(readFileSync(config.networkFile, "utf8")) as NetworkFile;
  const client = new VeilClient(network, { privateKey: config.userKey });
  const deploys: DriverResult["deploys"] = [];
  for (const [i, dir] of config.agentDirs.entries()) {
    const name = `hello-${i}`;
    const start = performance.now();
    await client.deploy(dir, name);
    const deployed = performance.now();
    // The first successful answer: a worker that has not loaded the bundle yet refuses retryably.
    for (let tries = 0; ; tries++) {
      try {
        const r = await client.invoke(name, { path: "/", verify: false });
        if (r.status === 200) break;
      } catch (err) {
        if (tries > 200) throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = performance.now();
    deploys.push({ deploy: deployed - start, firstAnswer: done - deployed, total: done - start });
    process.stderr.write(`  host 4: ${name} deployed and answered in ${(done - start).toFixed(0)} ms\n`);
  }

  // One connection per target, the targets taking turns request by request, so that both see
  // the same machine at the same moment.
  const targets: { url: string; headers: Record<string, string>; agent: Agent; times: number[] }[] = [
    {
      url: `${network.gateway!.url}/agents/hello-0/`,
      headers: { "x-veil-prefer-worker": config.worker.address },
      agent: new Agent({ keepAlive: true, maxSockets: 1 }),
      times: [],
    },
    {
      url: `${config.worker.url}/v1/agents/hello-0/invoke/`,
      headers: {},
      agent: new Agent({ keepAlive: true, maxSockets: 1 }),
      times: [],
    },
  ];
  const refused: Record<string, number> = {};
  const warm = Math.min(200, config.requests);
  for (let i = 0; i < warm + config.requests; i++) {
    for (const [k, t] of targets.entries()) {
      const [status, us] = await get(t.agent, t.url, t.headers);
      if (status !== 200) {
        const key = `${k ? "direct" : "gateway"} ${status}`;
        refused[key] = (refused[key] ?? 0) + 1;
      } else if (i >= warm) t.times.push(us);
    }
  }
  for (const t of targets) t.agent.destroy();
  const result: DriverResult = { deploys, gateway: targets[0]!.times, direct: targets[1]!.times, refused };
  process.stdout.write(`HOSTS ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Host 1: the network, the driver, and the cuts.

/** Runs the driver on `host` to its end; its result. */
function runDriver(hosts: Hosts, host: number, config: DriverConfig): Promise<DriverResult> {
  const child = hosts.spawnOn(
    host,
    [process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), "--driver"],
    { cwd: repoRoot, env: { ...withoutNetwork(), VEIL_HOSTS_DRIVER: JSON.stringify(config) } },
  );
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => process.stderr.write(c));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("HOSTS "));
      if (line) resolve(JSON.parse(line.slice(6)) as DriverResult);
      else reject(new Error(`the driver on host ${host} exited (${code}) without a result:\n${out}`));
    });
  });
}

/**
 * Cuts `host`'s link for `cutMs` under four loops of GETs through the gateway, and resolves
 * with the time from the link coming back up to the first answer from `address` (to a request
 * sent after it came up), or undefined if none came within a minute; and the time until a bare
 * TCP connection from here reached the worker again.
 */
async function rejoin(
  hosts: Hosts,
  host: number,
  gateway: string,
  worker: { address: string; url: string },
  cutMs: number,
): Promise<{ back?: number; tcp?: number }> {
  const address = worker.address;
  const mine = address.toLowerCase();
  let stop = false;
  let upAt = Number.POSITIVE_INFINITY;
  let back: number | undefined;
  const loop = async () => {
    while (!stop) {
      const at = Date.now();
      try {
        const res = await fetch(`${gateway}/agents/hello-0/`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        const worker = res.headers.get("x-veil-worker")?.toLowerCase();
        if (res.status === 200 && worker === mine) {
          if (at >= upAt && back === undefined) back = Date.now() - upAt;
        }
      } catch {}
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  await new Promise((r) => setTimeout(r, 1_000));
  hosts.sh(["link", "set", hosts.hostSide(host), "down"]);
  await new Promise((r) => setTimeout(r, cutMs));
  hosts.sh(["link", "set", hosts.hostSide(host), "up"]);
  upAt = Date.now();
  const tcp = firstConnect(worker.url);
  const deadline = upAt + 60_000;
  while (back === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop = true;
  await Promise.all(loops);
  return { back, tcp: await tcp };
}

async function orchestrate(o: { deploys: number; requests: number; rejoins: number; cutMs: number }) {
  if (!canNamespace) {
    console.error("bench:hosts needs root and iproute2 (ip netns)");
    return 2;
  }
  const t0 = Date.now();
  const log = (line: string) =>
    console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  const work = mkdtempSync(join(tmpdir(), "veil-bench-hosts-"));
  const dir = join(work, ".veil");
  let hosts: Hosts | undefined;
  let postgres: PostgresServer | undefined;
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () => {
    cleaned ??= (async () => {
      hosts?.killAll();
      if (network) await stopNetwork(network.child);
      await postgres?.stop();
      hosts?.teardown();
      rmSync(work, { recursive: true, force: true });
    })();
    return cleaned;
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  // Whatever happens, no namespace, bridge or daemon outlives the script.
  process.once("exit", () => {
    hosts?.teardown();
    if (network && network.child.exitCode === null) network.child.kill("SIGTERM");
  });

  try {
    const loadBefore = load();
    hosts = makeHosts({ count: 4, cwd: work });
    const ip = hosts.ip;
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
    log(`veil up on ${ip(1)}: gateway ${file.gateway!.url}, state ${postgres.url}`);
    const workers = [];
    for (const host of [2, 3]) {
      const w = await joinWorker(hosts, host, {
        gatewayUrl: file.gateway!.url,
        rpcUrl: file.chain.rpcUrl,
        dataDir: join(work, `host-${host}`),
        operatorKey: key(`operator-${host + 3}`),
        stateUrl: postgres.url,
      });
      workers.push(w);
      log(`host ${host}: worker ${w.address} joined at ${w.url}`);
    }

    // Host 4 has the network file and the agents' source, nothing else.
    const host4 = join(work, "host-4");
    mkdirSync(host4, { recursive: true });
    writeFileSync(join(host4, "network.json"), readFileSync(join(dir, "network.json")));
    const agentDirs = Array.from({ length: o.deploys }, (_, i) => {
      const d = join(host4, `hello-${i}`);
      mkdirSync(join(d, "src"), { recursive: true });
      writeFileSync(join(d, "src", "index.ts"), HELLO(i));
      return d;
    });
    const result = await runDriver(hosts, 4, {
      networkFile: join(host4, "network.json"),
      agentDirs,
      userKey: key("user") as Hex,
      worker: { url: workers[0]!.url, address: workers[0]!.address },
      requests: o.requests,
    });
    const loadAfterDriver = load();

    const rejoins: { back?: number; tcp?: number }[] = [];
    for (let i = 0; i < o.rejoins; i++) {
      const r = await rejoin(hosts, 2, file.gateway!.url, workers[0]!, o.cutMs);
      rejoins.push(r);
      log(
        `rejoin ${i + 1}: host 2 cut for ${o.cutMs} ms, answered through the gateway again ${r.back === undefined ? "never (1 min)" : `${r.back} ms`} after its link came up (a bare TCP connection from host 1 got through after ${r.tcp ?? "-"} ms)`,
      );
    }
    const loadAfter = load();

    const ms = (x: number) => `${x.toFixed(0)} ms`;
    const us = (x: number) => `${x.toFixed(0)} µs`;
    const d = result.deploys;
    const out = [
      "",
      `bench:hosts — 4 hosts (namespaces on a bridge), PostgreSQL state, gateway in its own process; load average ${loadBefore} before, ${loadAfterDriver} after the driver, ${loadAfter} at the end`,
      "",
      `deploy → first answer from host 4 (p50 of ${d.length}): ${ms(
        pct(
          d.map((x) => x.total),
          50,
        ),
      )}` +
        ` (deploy → served ${ms(
          pct(
            d.map((x) => x.deploy),
            50,
          ),
        )}, served → first answer ${ms(
          pct(
            d.map((x) => x.firstAnswer),
            50,
          ),
        )}; each: ${d.map((x) => ms(x.total)).join(", ")})`,
      "",
      `hello world from host 4, one connection, ${result.gateway.length} requests each, taking turns:`,
      `  through the gateway (to host 2's worker)  p50 ${us(pct(result.gateway, 50))}  p99 ${us(pct(result.gateway, 99))}`,
      `  straight to host 2's worker              p50 ${us(pct(result.direct, 50))}  p99 ${us(pct(result.direct, 99))}`,
      `  the gateway's overhead per request        p50 ${us(pct(result.gateway, 50) - pct(result.direct, 50))}  p99 ${us(pct(result.gateway, 99) - pct(result.direct, 99))}`,
      ...(Object.keys(result.refused).length
        ? [
            `  not 200 (left out): ${Object.entries(result.refused)
              .map(([k, n]) => `${k} ×${n}`)
              .join(", ")}`,
          ]
        : []),
      "",
      `rejoin: host 2 cut for ${o.cutMs} ms under load, link up → its first answer through the gateway: p50 ${
        rejoins.some((r) => r.back !== undefined)
          ? ms(
              pct(
                rejoins.flatMap((r) => (r.back === undefined ? [] : [r.back])),
                50,
              ),
            )
          : "-"
      } (each: ${rejoins.map((r) => (r.back === undefined ? "never" : ms(r.back))).join(", ")}); the link itself, link up → a bare TCP connection from host 1 through: ${rejoins.map((r) => (r.tcp === undefined ? "never" : ms(r.tcp))).join(", ")}`,
      "",
      "state read/write p50 on SQLite and PostgreSQL: npm run bench:state (bench/state-stores.ts)",
    ];
    console.log(out.join("\n"));
    return 0;
  } catch (err) {
    console.error(`bench:hosts failed: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await cleanup();
  }
}

if (process.argv.includes("--driver")) {
  await driver(JSON.parse(process.env.VEIL_HOSTS_DRIVER!) as DriverConfig);
  process.exit(0);
} else {
  const { values } = parseArgs({
    options: {
      deploys: { type: "string", default: "5" },
      requests: { type: "string", default: "2000" },
      rejoins: { type: "string", default: "3" },
      cut: { type: "string", default: "3" },
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
    deploys: num("deploys", values.deploys, 1),
    requests: num("requests", values.requests, 1),
    rejoins: num("rejoins", values.rejoins, 0),
    cutMs: num("cut", values.cut, 0.5) * 1000,
  });
  process.exit(code);
}
