import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { bytesToHex, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { priceFeedConsumerAbi } from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";
import { RequestStatus, TriggersClient } from "../../src/chain/triggers-client.ts";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { buildAgent } from "../../src/sdk/build.ts";
import { AgentGas, ChainRequestWatcher } from "../../src/worker/chain-requests.ts";
import { agentCertifier } from "../helpers/agent-signer.ts";
import { startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
let server: Server;
let priceUrl: string;
const seen: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? "");
    const m = /^\/([A-Z]+)-USD\/spot$/.exec(req.url ?? "");
    res.setHeader("content-type", "application/json");
    if (!m) {
      res.statusCode = 404;
      res.end("{}");
      return;
    }
    res.end(JSON.stringify({ data: { base: m[1], currency: "USD", amount: "3120.45" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  priceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await startTestChain();
});
after(async () => {
  server?.close();
  await t?.close();
});

describe("examples/price-oracle", () => {
  test("a contract asks for a price; the agent fetches it through egress and the answer lands on chain", async () => {
    const built = await buildAgent("examples/price-oracle");
    const agentKey: Hex = `0x${"d1".repeat(32)}`;
    const agent = privateKeyToAccount(agentKey);
    const certify = await agentCertifier(t);
    const agentId = (await t.as(1).registerAgent("price-oracle", built.hash)).id;
    await certify(agentId, agentKey);
    const sandbox = await IsolateSandbox.create({
      code: built.code,
      meta: {
        id: agentId.toString(),
        name: "price-oracle",
        codeHash: built.hash,
        address: agent.address,
        secrets: { PRICE_API_URL: priceUrl },
      },
      limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(priceUrl).host] } },
    });
    const { abi, bytecode } = compileContracts().PriceFeedConsumer!;
    const deployer = t.as(0);
    const dh = await deployer.wallet!.deployContract({
      abi,
      bytecode,
      args: [t.config.contracts.agentTriggers, agentId],
    });
    const consumer = (await deployer.public.waitForTransactionReceipt({ hash: dh })).contractAddress!;

    const self = t.accounts[6]!.address;
    const watcher = new ChainRequestWatcher({
      chain: t.reader,
      self,
      workers: async () => [self],
      serves: (id) => id === agentId,
      account: async () => agent,
      fund: (a) => new AgentGas(t.as(3)).fund(a),
      run: async (_id, request) =>
        bytesToHex(
          (
            await sandbox.invoke(
              { method: "POST", url: "http://veil.internal/trigger", headers: [], body: null },
              { kind: "onChainRequest", event: request },
            )
          ).body,
        ),
      pollMs: 50,
    });
    await watcher.start();
    const user = t.as(2);
    const rh = await user.wallet!.writeContract({
      address: consumer,
      abi: priceFeedConsumerAbi,
      functionName: "requestPrice",
      args: ["ETH", 20n],
      value: parseEther("0.001"),
    });
    await user.public.waitForTransactionReceipt({ hash: rh });
    const triggers = new TriggersClient(t.reader);
    const started = Date.now();
    while ((await triggers.getRequest(1n)).status === RequestStatus.Pending) {
      assert.ok(Date.now() - started < 15_000, "the oracle did not answer");
      await new Promise((r) => setTimeout(r, 50));
    }
    await watcher.stop();
    sandbox.dispose();
    const [value, at] = await t.reader.public.readContract({
      address: consumer,
      abi: priceFeedConsumerAbi,
      functionName: "prices",
      args: ["ETH"],
    });
    assert.equal(value, 312_045_000_000n);
    assert.ok(Math.abs(Number(at) - Date.now() / 1000) < 60);
    assert.deepEqual(seen, ["/ETH-USD/spot"]);
  });
});
