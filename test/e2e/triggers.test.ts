import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseEther } from "viem";
import { priceFeedConsumerAbi } from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";
import { VeilChain } from "../../src/chain/index.ts";
import { RequestStatus, TriggersClient } from "../../src/chain/triggers-client.ts";
import { loadNetwork } from "../../src/network/config.ts";
import { readNetwork, repoRoot, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// Triggers on a real network (`veil up`, worker processes): a contract's request answered by the
// example price oracle, once, even with a worker killed; a cron schedule run once per tick.
const TICKER = `export default {
  async scheduled(event: { scheduledTime: string; cron: string }, env: { HOOK_URL: string }) {
    await fetch(env.HOOK_URL + "/tick?at=" + encodeURIComponent(event.scheduledTime));
  },
  fetch() { return new Response("ticker"); },
};
`;

describe("triggers on a live network", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-triggers-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let server: Server;
  let hook = "";
  const seen: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? "");
      res.setHeader("content-type", "application/json");
      const m = /^\/([A-Z]+)-USD\/spot$/.exec(req.url ?? "");
      res.end(m ? JSON.stringify({ data: { base: m[1], currency: "USD", amount: "2500.125" } }) : "{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The price server is on loopback: the workers' operator must allow it (docs/adr/0018).
    network = await startNetwork(dir, ["--allow-private-egress", new URL(hook).host]);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  async function untilAnswered(triggers: TriggersClient, id: bigint): Promise<number> {
    const started = Date.now();
    for (;;) {
      const { status } = await triggers.getRequest(id);
      if (status !== RequestStatus.Pending) return status;
      assert.ok(Date.now() - started < 60_000, `request ${id} was not answered within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test("a contract's request is answered on chain by the agent's key, once, and again with a worker killed", async () => {
    const host = new URL(hook).host;
    const d = await veil(
      ["deploy", join(repoRoot, "examples/price-oracle"), "--name", "oracle", "--egress", host],
      {
        env,
      },
    );
    assert.equal(d.code, 0, d.stderr);
    const s = await veil(["secrets", "set", "oracle", `PRICE_API_URL=${hook}`], { env });
    assert.equal(s.code, 0, s.stderr);
    // The secret has reached the workers once the agent's HTTP answer comes from our server.
    for (let i = 0; i < 100; i++) {
      const r = await veil(["invoke", "oracle", "--path", "/?symbol=BTC"], { env });
      if (r.code === 0 && r.stdout.includes("2500.125")) break;
      assert.ok(i < 99, `the oracle never used the secret: ${r.stdout} ${r.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const n = loadNetwork(join(dir, "network.json"));
    const user = n.devAccounts!.accounts.find((a) => a.role === "user")!;
    const chain = new VeilChain(n.chain, { account: user.privateKey, pollingIntervalMs: 100 });
    const agentId = await chain.agentIdOf("oracle");
    const { abi, bytecode } = compileContracts().PriceFeedConsumer!;
    const deployHash = await chain.wallet!.deployContract({
      abi,
      bytecode,
      args: [n.chain.contracts.agentTriggers!, agentId],
    });
    const consumer = (await chain.public.waitForTransactionReceipt({ hash: deployHash })).contractAddress!;
    const triggers = new TriggersClient(chain);
    const request = async (symbol: string): Promise<bigint> => {
      const hash = await chain.wallet!.writeContract({
        address: consumer,
        abi: priceFeedConsumerAbi,
        functionName: "requestPrice",
        args: [symbol, 60n],
        value: parseEther("0.001"),
        account: chain.wallet!.account!,
        chain: chain.wallet!.chain,
      });
      const receipt = await chain.public.waitForTransactionReceipt({ hash });
      assert.equal(receipt.status, "success");
      const events = await triggers.requestEvents(receipt.blockNumber, receipt.blockNumber);
      const mine = events.find((e) => e.consumer.toLowerCase() === consumer.toLowerCase());
      assert.ok(mine, "the request event names the consumer");
      return mine.id;
    };
    const price = async (symbol: string) =>
      (
        await chain.public.readContract({
          address: consumer,
          abi: priceFeedConsumerAbi,
          functionName: "prices",
          args: [symbol],
        })
      )[0];

    seen.length = 0;
    const first = await request("ETH");
    assert.equal(await untilAnswered(triggers, first), RequestStatus.Fulfilled);
    assert.equal(await price("ETH"), 250_012_500_000n);
    await new Promise((r) => setTimeout(r, 3_000)); // long enough for a fallback worker to step in
    assert.deepEqual(seen, ["/ETH-USD/spot"], "one worker answered; the other did not run it again");

    // One worker dies without leaving the registry: its share of requests must still be answered.
    const victim = readNetwork(dir).workers[0]!;
    process.kill(victim.pid, "SIGKILL");
    for (const symbol of ["SOL", "DOT", "ADA"]) {
      const id = await request(symbol);
      assert.equal(await untilAnswered(triggers, id), RequestStatus.Fulfilled, symbol);
      assert.equal(await price(symbol), 250_012_500_000n);
    }
  });

  test("a cron schedule runs the agent's scheduled handler once per tick", async () => {
    mkdirSync(join(work, "ticker", "src"), { recursive: true });
    writeFileSync(join(work, "ticker", "src", "index.ts"), TICKER);
    const host = new URL(hook).host;
    const d = await veil(["deploy", join(work, "ticker"), "--name", "ticker", "--egress", host], { env });
    assert.equal(d.code, 0, d.stderr);
    assert.equal((await veil(["secrets", "set", "ticker", `HOOK_URL=${hook}`], { env })).code, 0);
    // Code without scheduled() would fail every tick: refused before anything is sent (issue 21).
    const oracle = await veil(["triggers", "schedule", "oracle", "* * * * *"], { env });
    assert.equal(oracle.code, 1);
    assert.match(
      oracle.stderr,
      /AGENT_NOT_SCHEDULABLE.*no scheduled\(event, env, ctx\) handler \(it has fetch, onChainRequest\)/,
    );
    seen.length = 0;
    const s = await veil(["triggers", "schedule", "ticker", "* * * * *"], { env });
    assert.equal(s.code, 0, s.stderr);
    const ticks = () => seen.filter((u) => u.startsWith("/tick"));
    const started = Date.now();
    while (ticks().length === 0) {
      assert.ok(Date.now() - started < 90_000, "the schedule never ran");
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 4_000)); // a fallback would have run by now
    const at = ticks().map((u) => decodeURIComponent(u.split("at=")[1] ?? ""));
    assert.equal(new Set(at).size, at.length, `a tick ran twice: ${at.join(", ")}`);
    for (const t of at) assert.equal(new Date(t).getUTCSeconds(), 0, "ticks fall on the minute");
  });
});
