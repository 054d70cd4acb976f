import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { NetworkFile } from "../../src/network/config.ts";
import { startNetwork, stopNetwork, veil, writeCounterAgent } from "../helpers/cli.ts";

// Each daemon killed alone with SIGKILL under load (issue 20): veil up's supervisor starts it
// again, it picks up from its data directory, and nothing a client was answered 2xx for is lost.
// Two workers, so the gateway is a process of its own and the load has somewhere to go.
describe("daemons killed alone under load come back", { timeout: 420_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-restarts-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  after(async () => {
    stopLoad = true;
    await load;
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const file = () => JSON.parse(readFileSync(env.VEIL_NETWORK, "utf8")) as NetworkFile;
  const increment = async (): Promise<number | undefined> => {
    try {
      const res = await fetch(`${file().gateway!.url}/agents/counter/`, {
        method: "POST",
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) return undefined;
      return ((await res.json()) as { n: number }).n;
    } catch {
      return undefined;
    }
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  // The load: one call at a time, so at most one is in flight when a daemon dies (it may be
  // written and never answered). `acks` are the counts of the calls answered 200, in order.
  const acks: number[] = [];
  let stopLoad = false;
  let load: Promise<void> = Promise.resolve();
  let kills = 0;
  const startLoad = () => {
    load = (async () => {
      while (!stopLoad) {
        const n = await increment();
        if (n !== undefined) acks.push(n);
        else await sleep(50);
      }
    })();
  };
  const acksSince = (i: number) => acks.length - i;
  const waitFor = async (what: RegExp, from: number, ms = 90_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (what.test(network!.output().slice(from))) return;
      await sleep(200);
    }
    throw new Error(`never saw ${what} in veil up's output:\n${network!.output().slice(from)}`);
  };
  /** Kills one daemon, waits until the supervisor says it is back and the load is answered again. */
  const killAlone = async (name: string, pid: number | undefined) => {
    assert.ok(pid, `${name} has a process id in network.json`);
    const from = network!.output().length;
    const acked = acks.length;
    process.kill(pid, "SIGKILL");
    kills++;
    await waitFor(new RegExp(`${name} is back`), from);
    const backAt = acks.length;
    for (let i = 0; i < 300 && acks.length < backAt + 5; i++) await sleep(100);
    assert.ok(acks.length >= backAt + 5, `the load is answered again after ${name} came back`);
    return acksSince(acked);
  };

  test("gatekeeper, worker and gateway each killed alone: the counter loses no answered call", async () => {
    network = await startNetwork(dir, ["--workers", "2"]);
    const counter = join(work, "counter");
    writeCounterAgent(counter);
    const deployed = await veil(["deploy", counter, "--name", "counter"], { env });
    assert.equal(deployed.code, 0, deployed.stderr);
    // An agent with no state, watched straight at the restarted worker below.
    const echo = join(work, "echo");
    mkdirSync(join(echo, "src"), { recursive: true });
    writeFileSync(join(echo, "src", "index.ts"), 'export default { fetch: () => new Response("here") };\n');
    const echoed = await veil(["deploy", echo, "--name", "echo"], { env });
    assert.equal(echoed.code, 0, echoed.stderr);
    for (let i = 0; i < 200 && (await increment()) === undefined; i++) await sleep(250);
    startLoad();
    while (acks.length < 10) await sleep(50);

    // The gatekeeper is not on the request path: calls go on while it is down.
    const duringGatekeeper = await killAlone("gatekeeper-1", file().gatekeepers[0]?.pid);
    assert.ok(duringGatekeeper > 0);
    // A worker killed after that must get its keys from the restarted gatekeeper to serve again.
    // Until it has them and has read the agents on chain it says it is starting (503, retryable,
    // so the gateway sends the request on), never that an agent it has not loaded yet does not
    // exist (404, which the gateway passed on as final: seen by the soak bench).
    const workerUrl = file().workers[0]!.url;
    const statuses = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        try {
          const r = await fetch(`${workerUrl}/v1/agents/echo/invoke/`, { method: "POST" });
          await r.arrayBuffer();
          statuses.add(r.status);
        } catch {
          statuses.add(0);
        }
        await sleep(10);
      }
    })();
    await killAlone("worker-1", file().workers[0]?.pid);
    watching = false;
    await watcher;
    assert.ok(statuses.has(200), `the restarted worker served the agent again (${[...statuses]})`);
    assert.ok(!statuses.has(404), `the restarting worker answered 404 for an agent it had not loaded yet`);
    const workerBack = acks.length;
    await killAlone("gateway", file().gateway?.pid);
    assert.ok(acks.length > workerBack);

    stopLoad = true;
    await load;
    for (let i = 1; i < acks.length; i++) {
      assert.ok(acks[i]! > acks[i - 1]!, `answered counts only go up (${acks[i - 1]} then ${acks[i]})`);
    }
    const last = acks[acks.length - 1]!;
    const next = await increment();
    assert.ok(next !== undefined);
    // Every answered call is counted; a call in flight at each kill may be counted unanswered.
    assert.ok(
      next > last && next <= last + 1 + kills,
      `count ${next - 1} after ${acks.length} answers ending at ${last}, ${kills} kills`,
    );
    const skipped = acks.reduce((gaps, n, i) => gaps + (i > 0 ? n - acks[i - 1]! - 1 : 0), 0);
    assert.ok(skipped <= kills, `${skipped} counts without an answer, at most one per kill (${kills})`);
    assert.equal(
      Object.keys(file().workers).length,
      2,
      "the network file still lists both workers, with their new process ids",
    );
  });
});
