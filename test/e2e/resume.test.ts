import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// A network that keeps what it holds (issue 20): stopped with Ctrl-C, or every process killed
// with SIGKILL in the middle of load, `veil up` on the same directory resumes the same network,
// and everything a client saw succeed is still there.
describe("veil up resumes the network in its directory", { timeout: 420_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-resume-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;

  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const ok = async (args: string[]) => {
    const r = await veil(args, { env });
    assert.equal(r.code, 0, `veil ${args.join(" ")}\n${r.stderr}`);
    return r.stdout;
  };
  const inspect = async (agent: string) =>
    JSON.parse(await ok(["inspect", agent, "--json"])) as { id: string; keys: { address: string } };
  const gateway = () => readNetwork(dir).gateway.url;
  /** One plain call of the counter through the gateway: its new count, or the HTTP status. */
  const increment = async (): Promise<number | { status: number }> => {
    try {
      const res = await fetch(`${gateway()}/agents/counter/`, {
        method: "POST",
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) return { status: res.status };
      return ((await res.json()) as { n: number }).n;
    } catch {
      return { status: 0 };
    }
  };
  const countUntilServed = async (): Promise<number> => {
    for (let i = 0; i < 200; i++) {
      const n = await increment();
      if (typeof n === "number") return n;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error("the counter agent was never served");
  };
  const stopWith = async (child: ChildProcess, signal: NodeJS.Signals) => {
    child.kill(signal);
    await new Promise((r) => child.once("exit", r));
  };

  let before: {
    counter: Awaited<ReturnType<typeof inspect>>;
    contracts: unknown;
    stake: string;
    count: number;
  };

  test("after Ctrl-C: the same chain, contracts, agents, secrets, state and stake", async () => {
    network = await startNetwork(dir, ["--workers", "1"]);
    const counter = join(work, "counter");
    mkdirSync(join(counter, "src"), { recursive: true });
    writeFileSync(
      join(counter, "src", "index.ts"),
      "export default { async fetch(_r: Request, env: Record<string, string>, ctx: { state: { get(k: string): Promise<unknown>; put(k: string, v: unknown): Promise<void> } }) { const n = ((await ctx.state.get('n')) as number | undefined ?? 0) + 1; await ctx.state.put('n', n); return Response.json({ n, token: env.TOKEN ?? null }); } };\n",
    );
    await ok(["deploy", counter, "--name", "counter"]);
    await ok(["secrets", "set", "counter", "TOKEN=kept"]);
    await ok(["pool", "create", "--commission", "10", "--from", "operator-1"]);
    await ok(["pool", "contribute", "1", "250"]);
    const stake = (await ok(["pool", "info", "1"])).match(/you .*/)?.[0] ?? "";
    assert.match(stake, /250/);
    let count = await countUntilServed();
    for (let i = 0; i < 5; i++) count = (await increment()) as number;
    before = {
      counter: await inspect("counter"),
      contracts: JSON.parse(readFileSync(env.VEIL_NETWORK, "utf8")).chain.contracts,
      stake,
      count,
    };

    await stopWith(network.child, "SIGINT");
    assert.equal(existsSync(join(dir, "veil-up.pid")), false, "Ctrl-C releases the directory");
    network = await startNetwork(dir, ["--workers", "1"]);
    assert.match(network.output(), /resuming network veil-dev from .*, block \d+/);
    assert.deepEqual(JSON.parse(readFileSync(env.VEIL_NETWORK, "utf8")).chain.contracts, before.contracts);
    const again = await inspect("counter");
    assert.equal(again.id, before.counter.id);
    assert.equal(again.keys.address, before.counter.keys.address, "the agent keeps its identity");
    assert.equal((await ok(["pool", "info", "1"])).match(/you .*/)?.[0], before.stake);
    const res = await fetch(`${gateway()}/agents/counter/`, { method: "POST" });
    assert.deepEqual(await res.json(), { n: before.count + 1, token: "kept" });
    before.count++;
  });

  test("after kill -9 of every process mid-load: the count equals the 2xx answers", async () => {
    assert.ok(network);
    let acknowledged = before.count;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const n = await increment();
        if (typeof n === "number") {
          // Each acknowledged call adds exactly one.
          assert.equal(n, acknowledged + 1);
          acknowledged = n;
        }
      }
    })();
    while (acknowledged < before.count + 20) await new Promise((r) => setTimeout(r, 50));
    // Everything at once: the supervisor and each daemon (chain, gatekeeper, worker).
    const pids = [network.child.pid!, ...pidsOfDaemons()];
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    stop = true;
    await load;
    await new Promise((r) => setTimeout(r, 300));
    network = await startNetwork(dir, ["--workers", "1"]);
    assert.match(network.output(), /resuming network/);
    const next = await countUntilServed();
    // The load is sequential, so at most one call was in flight at the kill: it may have been
    // written without its answer arriving. Every acknowledged one is there, and none twice.
    assert.ok(
      next === acknowledged + 1 || next === acknowledged + 2,
      `count ${next - 1} after restart, ${acknowledged} acknowledged`,
    );
  });

  test("the chain killed alone is restarted by veil up and the network goes on from its block", async () => {
    assert.ok(network);
    const chainPid = () => Number.parseInt(readFileSync(join(dir, "chain", "chain.pid"), "utf8"), 10);
    const victim = chainPid();
    const count = await countUntilServed();
    process.kill(victim, "SIGKILL");
    const currentPid = () => {
      try {
        return chainPid();
      } catch {
        return victim; // between the old file's removal and the new one
      }
    };
    for (let i = 0; i < 120 && (currentPid() === victim || !/chain is back/.test(network.output())); i++) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(network.output(), /restarting chain/);
    assert.match(network.output(), /chain is back/);
    let next: number | { status: number } = { status: 0 };
    for (let i = 0; i < 120 && typeof next !== "number"; i++) {
      next = await increment();
      if (typeof next !== "number") await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(next, count + 1, "the agent's state went on from where it was");
    // A transaction after the restart lands, and the daemons follow it (a new agent is served).
    await ok(["secrets", "set", "counter", "TOKEN=after-chain-restart"]);
    let body = { token: "" };
    for (let i = 0; i < 100 && body.token !== "after-chain-restart"; i++) {
      const res = await fetch(`${gateway()}/agents/counter/`, { method: "POST" });
      if (res.status === 200) body = (await res.json()) as typeof body;
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(body.token, "after-chain-restart");
  });

  test("veil down stops it from another shell; --fresh without --yes refuses", async () => {
    assert.ok(network);
    const down = await veil(["down", "--dir", dir], { env });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /Stopped the network/);
    if (network.child.exitCode === null) await new Promise((r) => network!.child.once("exit", r));
    const again = await veil(["down", "--dir", dir], { env });
    assert.match(again.stdout, /No network is running/);
    const fresh = await veil(["up", "--dir", dir, "--base-port", "0", "--fresh"], { env });
    assert.equal(fresh.code, 1);
    assert.match(fresh.stderr, /--yes/);
    assert.ok(existsSync(join(dir, "chain")), "nothing was deleted");
    network = undefined;
  });

  test("a network deployed from other contract sources is not resumed: a clear error, nothing deleted", async () => {
    const path = join(dir, "network.json");
    const original = readFileSync(path, "utf8");
    const file = JSON.parse(original) as { chain: { contractsBuild?: string } };
    writeFileSync(
      path,
      JSON.stringify({ ...file, chain: { ...file.chain, contractsBuild: "0123456789abcdef" } }),
    );
    try {
      const up = await veil(["up", "--dir", dir, "--base-port", "0"], { env });
      assert.equal(up.code, 1);
      assert.match(up.stderr, /NETWORK_CONTRACTS_CHANGED/);
      assert.match(up.stderr, /0123456789abcdef/);
      assert.match(up.stderr, /--fresh/);
      assert.ok(existsSync(join(dir, "chain")), "nothing was deleted");
    } finally {
      writeFileSync(path, original);
    }
  });

  function pidsOfDaemons(): number[] {
    const n = readNetwork(dir) as ReturnType<typeof readNetwork> & { gatekeepers: { pid?: number }[] };
    const chainPid = Number.parseInt(readFileSync(join(dir, "chain", "chain.pid"), "utf8"), 10);
    return [chainPid, ...n.workers.map((w) => w.pid), ...n.gatekeepers.map((g) => g.pid ?? 0)].filter(
      (p) => p > 0,
    );
  }
});
