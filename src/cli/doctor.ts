import { existsSync } from "node:fs";
import { createServer } from "node:net";
import type { Command } from "commander";
import type { Hex } from "viem";
import { loadNetwork, type NetworkFile, networkPath } from "../network/config.ts";
import { fail, progress } from "./output.ts";

// `veil doctor`: is this machine able to run Veil, and is the network in network.json healthy?
// Each check says what it found and, when something is wrong, what to do — in the user's terms.

export type DoctorCheck = { name: string; ok: boolean; warn?: boolean; detail: string; fix?: string };

const check = (name: string, ok: boolean, detail: string, fix?: string): DoctorCheck =>
  ok || fix === undefined ? { name, ok, detail } : { name, ok, detail, fix };

const warn = (name: string, detail: string, fix?: string): DoctorCheck => ({
  name,
  ok: true,
  warn: true,
  detail,
  ...(fix ? { fix } : {}),
});

async function machine(): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  out.push(
    check(
      "Node.js",
      major > 20 || (major === 20 && minor >= 6),
      `${process.versions.node} (Veil needs 20.6 or later)`,
      "Install Node 20.6+.",
    ),
  );
  try {
    const { default: ivm } = await import("isolated-vm");
    const isolate = new ivm.Isolate({ memoryLimit: 16 });
    const two = isolate.compileScriptSync("1 + 1").runSync(isolate.createContextSync());
    isolate.dispose();
    out.push(check("isolated-vm (agent sandboxes)", two === 2, "loads and runs code"));
  } catch (err) {
    out.push(
      check(
        "isolated-vm (agent sandboxes)",
        false,
        (err as Error).message.split("\n")[0] ?? "does not load",
        "Reinstall with `npm ci` (it builds from source: needs python3, make and a C++ compiler).",
      ),
    );
  }
  try {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(":memory:");
    const row = db.prepare("SELECT 41 + 1 AS n").get() as { n: number };
    db.close();
    out.push(check("better-sqlite3 (state, logs, fees)", row.n === 42, "opens a database"));
  } catch (err) {
    out.push(
      check(
        "better-sqlite3 (state, logs, fees)",
        false,
        (err as Error).message.split("\n")[0] ?? "does not load",
        "Reinstall with `npm ci` (it builds from source: needs python3, make and a C++ compiler).",
      ),
    );
  }
  return out;
}

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function health(url: string): Promise<{ ok: boolean; body?: Record<string, unknown>; why?: string }> {
  try {
    const res = await fetch(`${url.replace(/\/$/, "")}/v1/health`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return { ok: false, why: `answered ${res.status}` };
    return { ok: true, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    return { ok: false, why: (err as Error).cause ? String((err as Error).cause) : (err as Error).message };
  }
}

async function network(file: NetworkFile): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const { VeilChain, workerStatusName } = await import("../sdk/contracts/registries.ts");
  const chain = new VeilChain(file.chain);
  let block: { number: bigint; timestamp: bigint };
  try {
    const [chainId, latest] = await Promise.all([
      chain.public.getChainId(),
      chain.public.getBlock({ blockTag: "latest" }),
    ]);
    block = latest;
    out.push(
      check(
        "chain",
        chainId === file.chain.chainId,
        `${file.chain.rpcUrl}: chain ${chainId}, block ${latest.number}${chainId === file.chain.chainId ? "" : ` (network.json says chain ${file.chain.chainId})`}`,
        "network.json points at another chain: start this network again (`npm start`) or use the network.json its operators publish.",
      ),
    );
  } catch {
    out.push(
      check(
        "chain",
        false,
        `${file.chain.rpcUrl} does not answer`,
        "Start the network (`npm start`), or check the RPC URL in network.json.",
      ),
    );
    return out;
  }
  const age = Math.floor(Date.now() / 1000) - Number(block.timestamp);
  if (age > 120)
    out.push(
      warn("chain time", `the latest block is ${age} s old`, "A dev chain mines every second: is it stuck?"),
    );
  const code = await chain.public
    .getCode({ address: file.chain.contracts.agentRegistry })
    .catch(() => undefined);
  out.push(
    check(
      "contracts",
      code !== undefined && code !== "0x",
      `AgentRegistry at ${file.chain.contracts.agentRegistry}${code && code !== "0x" ? "" : " has no code"}`,
      "The chain was reset under this network.json: `npx veil up --fresh --yes` makes a new one.",
    ),
  );
  const onChainGatekeepers = await chain.listGatekeepers().catch(() => []);
  for (const g of file.gatekeepers) {
    const h = await health(g.url);
    const listed = onChainGatekeepers.find((r) => r.address.toLowerCase() === g.address.toLowerCase());
    out.push(
      check(
        `gatekeeper ${g.address.slice(0, 10)}…`,
        h.ok && listed?.active === true,
        `${g.url}: ${h.ok ? "answers" : `down (${h.why})`}; ${listed?.active ? "active on chain" : "not active on chain"}`,
        h.ok
          ? "Governance must list it (GatekeeperRegistry) before it hands out keys."
          : "Start it (`npm start` restarts what it started), and see .veil/logs/gatekeeper-*.log.",
      ),
    );
  }
  for (const w of file.workers) {
    const h = await health(w.url);
    const record = await chain.getWorker(w.address as Hex).catch(() => undefined);
    const attested = await chain.isWorkerAttested(w.address as Hex).catch(() => false);
    const ready = h.body?.ready === true;
    const status = record ? workerStatusName(record.status) : "not registered";
    out.push(
      check(
        `worker ${w.address.slice(0, 10)}…`,
        h.ok && ready && attested,
        `${w.url}: ${h.ok ? (ready ? "ready" : "up, waiting for its keys") : `down (${h.why})`}; on chain ${status}${attested ? ", attested (verified by a gatekeeper)" : ", not attested"}${file.tee.backend === "simulated" ? " — INSECURE: simulated TEE" : ""}`,
        !h.ok
          ? "Start it (`npm start` restarts what it started), and see .veil/logs/worker-*.log."
          : attested
            ? "It waits for a gatekeeper's key: see .veil/logs/worker-*.log."
            : "Its evidence has no gatekeeper verification on chain: it re-attests on its own; `veil verify AGENT` shows why a quote fails.",
      ),
    );
  }
  if (file.gateway) {
    const h = await health(file.gateway.url);
    const routable = Array.isArray(h.body?.workers) ? (h.body.workers as unknown[]).length : 0;
    out.push(
      check(
        "gateway",
        h.ok && routable > 0,
        `${file.gateway.url}: ${h.ok ? `answers, ${routable} worker(s) to route to` : `down (${h.why})`}`,
        h.ok
          ? "No attested worker to route to: see the workers above."
          : "Start it (`npm start`), and see .veil/logs/gateway.log.",
      ),
    );
  }
  return out;
}

/** `veil doctor [--network FILE] [--json]`. Exit 1 when a check fails. */
export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check this machine and the network in network.json, and say what to do about each problem")
    .option("--network <file>", "network.json to check (default: $VEIL_NETWORK, then ./.veil/network.json)")
    .option("--base-port <port>", "with no network running: check the ports `veil up` would take", "8545")
    .option("--json", "the checks as JSON")
    .action(async (opts: { network?: string; basePort: string; json?: boolean }) => {
      try {
        const checks = await machine();
        const path = networkPath(opts.network);
        if (existsSync(path)) {
          if (!opts.json) progress(`checking the network in ${path}…`);
          checks.push(...(await network(loadNetwork(opts.network))));
        } else {
          const base = Number(opts.basePort);
          const busy: number[] = [];
          for (const port of [base, base + 1, base + 2, base + 3, base + 10, base + 11])
            if (!(await portFree(port, "127.0.0.1"))) busy.push(port);
          checks.push(
            warn("network", `no network.json at ${path}`, "Start one with `npm start`, or pass --network."),
            check(
              "ports for `veil up`",
              busy.length === 0,
              busy.length
                ? `in use: ${busy.join(", ")}`
                : `${base}, ${base + 1}, ${base + 2}, ${base + 10}… are free`,
              `Stop what holds them (\`ss -ltnp | grep -E ':(${busy.join("|")})'\` shows it), or start with \`npx veil up --base-port ${base + 100}\`.`,
            ),
          );
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
        else
          for (const c of checks)
            process.stdout.write(
              `${c.ok ? (c.warn ? "!" : "✔") : "✘"} ${c.name}: ${c.detail}${c.fix && (!c.ok || c.warn) ? `\n    → ${c.fix}` : ""}\n`,
            );
        if (checks.some((c) => !c.ok)) process.exitCode = 1;
      } catch (err) {
        fail(err);
      }
    });
}
