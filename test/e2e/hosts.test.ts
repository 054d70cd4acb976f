import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type PostgresServer, startPostgres } from "../../scripts/postgres-cluster.mjs";
import { startNetwork, stopNetwork, writeTransactionalCounterAgent } from "../helpers/cli.ts";
import { canNamespace, type Hosts, joinWorker as joinHost, makeHosts } from "../helpers/hosts.ts";

// Veil across hosts, each host a Linux network namespace on a bridge (as CI runs: root, iproute2):
// host 1 (the root namespace) runs the chain, a gatekeeper, a worker, the gateway and PostgreSQL;
// hosts 2 and 3 run workers that join with the gateway's URL alone; host 4 deploys. Then host 2's
// link is cut under load: the gateway fails over, no answered increment is lost or run twice,
// and host 2 serves again once its link is back.
describe("many hosts", {
  skip: canNamespace ? false : "needs root and iproute2 (ip netns)",
  timeout: 600_000,
}, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-hosts-"));
  const dir = join(work, ".veil");
  let hosts: Hosts | undefined;
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let postgres: PostgresServer | undefined;
  let stateUrl = "";
  const ip = (host: number) => hosts!.ip(host);

  before(async () => {
    hosts = makeHosts({ count: 4, cwd: work });
    postgres = await startPostgres({ host: ip(1), trustNetwork: `${hosts.net}.0/24` });
    stateUrl = postgres.url;
  });

  after(async () => {
    hosts?.killAll();
    if (network) await stopNetwork(network.child);
    await postgres?.stop();
    hosts?.teardown();
    rmSync(work, { recursive: true, force: true });
  });

  /** `veil ARGS` run on `host` (in its namespace). */
  const veilOn = (host: number, args: string[], env: Record<string, string> = {}) =>
    hosts!.veilOn(host, args, env);
  const networkFile = () =>
    JSON.parse(readFileSync(join(dir, "network.json"), "utf8")) as {
      gateway: { url: string };
      chain: { rpcUrl: string };
      devAccounts: { accounts: { role: string; privateKey: string }[] };
    };
  const key = (role: string) => networkFile().devAccounts.accounts.find((a) => a.role === role)!.privateKey;

  /** Starts a worker on `host` that joins through the gateway; resolves with its URL. */
  async function joinWorker(host: number, operator: string): Promise<string> {
    const n = networkFile();
    const worker = await joinHost(hosts!, host, {
      gatewayUrl: n.gateway.url,
      rpcUrl: n.chain.rpcUrl,
      dataDir: join(work, `host-${host}`),
      operatorKey: key(operator),
      stateUrl,
    });
    return worker.url;
  }

  const count = async (workerUrl: string): Promise<number | undefined> => {
    try {
      const res = await fetch(`${workerUrl}/v1/agents/counter/invoke/count`, {
        method: "POST",
        signal: AbortSignal.timeout(3000),
      });
      return res.status === 200 ? ((await res.json()) as { n: number }).n : undefined;
    } catch {
      return undefined;
    }
  };
  const until = async <T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  const workers: string[] = [];

  test("workers on hosts 2 and 3 join with the gateway's URL; host 4 deploys; every host serves one state", async () => {
    network = await startNetwork(dir, [
      "--host",
      ip(1),
      "--workers",
      "1",
      "--gateway",
      "process",
      "--state",
      stateUrl,
    ]);
    workers.push(await joinWorker(2, "operator-5"), await joinWorker(3, "operator-6"));
    assert.deepEqual(
      workers.map((u) => new URL(u).hostname),
      [ip(2), ip(3)],
    );
    // Host 4 has the agent's source and the chain and gateway URLs in a network file, nothing else.
    const agent = join(work, "counter");
    writeTransactionalCounterAgent(agent);
    const host4 = join(work, "host-4");
    mkdirSync(host4, { recursive: true });
    const n = networkFile();
    writeFileSync(join(host4, "network.json"), readFileSync(join(dir, "network.json")));
    const deployed = await veilOn(4, [
      "deploy",
      agent,
      "--name",
      "counter",
      "--network",
      join(host4, "network.json"),
      "--private-key",
      key("user"),
    ]);
    assert.equal(deployed.code, 0, deployed.out);
    const invoked = await veilOn(4, [
      "invoke",
      "counter",
      "-X",
      "POST",
      "--network",
      join(host4, "network.json"),
      "--json",
    ]);
    assert.equal(invoked.code, 0, invoked.out);
    assert.ok(n.gateway.url.includes(ip(1)));
    // Each joined worker fetched the bundle and reads the one state.
    for (const w of workers) assert.equal(await until(`${w} serves the counter`, () => count(w)), 1);
  });

  test("host 2 cut off under load: the gateway fails over, no answered increment is lost or run twice; back, it serves again", async () => {
    const gateway = networkFile().gateway.url;
    const before = await until("the count", () => count(workers[1]!));
    type Outcome = { at: number; n?: number; status: number; code?: string };
    const outcomes: Outcome[] = [];
    let stop = false;
    const load = async () => {
      while (!stop) {
        const at = Date.now();
        try {
          const res = await fetch(`${gateway}/agents/counter/`, {
            method: "POST",
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { n?: number; error?: { code: string } };
          outcomes.push({
            at,
            status: res.status,
            ...(body.n ? { n: body.n } : {}),
            ...(body.error ? { code: body.error.code } : {}),
          });
        } catch {
          outcomes.push({ at, status: 0 });
        }
      }
    };
    // Reads, which may run twice without harm: the gateway sends one cut in flight on to another worker.
    const reads: number[] = [];
    const read = async () => {
      while (!stop) {
        try {
          const res = await fetch(`${gateway}/agents/counter/count`, { signal: AbortSignal.timeout(10_000) });
          reads.push(res.status);
          await res.arrayBuffer();
        } catch {
          reads.push(0);
        }
      }
    };
    const loads = [...Array.from({ length: 4 }, load), read(), read()];
    await new Promise((r) => setTimeout(r, 2_000));
    const cutAt = Date.now();
    hosts!.sh(["link", "set", hosts!.hostSide(2), "down"]);
    await new Promise((r) => setTimeout(r, 6_000));
    stop = true;
    await Promise.all(loads);

    assert.ok(reads.length > 20, `only ${reads.length} reads`);
    assert.deepEqual(
      reads.filter((status) => status !== 200),
      [],
      "a read (GET) failed: it should have gone on to another worker",
    );
    const answered = outcomes.filter((o) => o.status === 200).map((o) => o.n!);
    assert.equal(new Set(answered).size, answered.length, "an increment was answered twice with one count");
    const failed = outcomes.filter((o) => o.status !== 200);
    // What failed was cut in flight on host 2's link: a retryable typed error, never a silent loss.
    for (const f of failed) assert.equal(f.code, "WORKER_FAILED", JSON.stringify(f));
    // Failover: requests made once the cut was found went through.
    const firstOkAfter = outcomes
      .filter((o) => o.at > cutAt && o.status === 200)
      .sort((a, b) => a.at - b.at)[0];
    assert.ok(firstOkAfter, "nothing went through after the cut");
    const lateFailures = failed.filter((o) => o.at > cutAt + 3_000);
    assert.deepEqual(lateFailures, [], "requests still failed 3 s after the cut");
    // Every answered increment is in the count; a cut one may have run (its answer lost), none twice.
    const total = await until("the count", () => count(workers[1]!));
    assert.ok(
      total >= before + answered.length,
      `count ${total}, ${answered.length} answered since ${before}`,
    );
    assert.ok(total <= before + answered.length + failed.length, `count ${total} is more than was sent`);
    const lastFailure = Math.max(cutAt, ...failed.map((f) => f.at));
    console.error(
      `cut: ${answered.length} answered, ${failed.length} WORKER_FAILED (cut in flight, last sent at +${lastFailure - cutAt} ms), first answer after the cut at +${firstOkAfter.at - cutAt} ms`,
    );

    hosts!.sh(["link", "set", hosts!.hostSide(2), "up"]);
    assert.ok((await until("host 2 serves again", () => count(workers[0]!))) >= total);
  });
});
