// Latency of a request from a contract to the agent's answer landing on chain, on the embedded
// chain: a PriceFeedConsumer asks, a worker's ChainRequestWatcher runs the agent (the real
// sandbox, price from a local server) and answers from the agent's key. Prints blocks and ms.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { bytesToHex, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { priceFeedConsumerAbi } from "../src/chain/abi.ts";
import { compileContracts } from "../src/chain/compile.ts";
import { RequestStatus, TriggersClient } from "../src/chain/triggers-client.ts";
import { DEFAULT_EGRESS } from "../src/sandbox/egress.ts";
import { IsolateSandbox } from "../src/sandbox/isolate.ts";
import { buildAgent } from "../src/sdk/build.ts";
import { AgentGas, ChainRequestWatcher } from "../src/worker/chain-requests.ts";
import { agentCertifier } from "../test/helpers/agent-signer.ts";
import { startTestChain } from "../test/helpers/chain.ts";

const N = Number(process.env.N ?? 20);
const POLL_MS = Number(process.env.POLL_MS ?? 50);

const server = createServer((_req, res) => res.end(JSON.stringify({ data: { amount: "100.5" } })));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const priceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const t = await startTestChain();
try {
  const built = await buildAgent("examples/price-oracle");
  const agentKey: Hex = `0x${"e1".repeat(32)}`;
  const agent = privateKeyToAccount(agentKey);
  const certify = await agentCertifier(t);
  const agentId = (await t.as(1).registerAgent("bench-oracle", built.hash)).id;
  await certify(agentId, agentKey);
  const sandbox = await IsolateSandbox.create({
    code: built.code,
    meta: {
      id: agentId.toString(),
      name: "bench-oracle",
      codeHash: built.hash,
      secrets: { PRICE_API_URL: priceUrl },
    },
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(priceUrl).host] } },
  });
  const { abi, bytecode } = compileContracts().PriceFeedConsumer!;
  const dh = await t
    .as(0)
    .wallet!.deployContract({ abi, bytecode, args: [t.config.contracts.agentTriggers, agentId] });
  const consumer = (await t.reader.public.waitForTransactionReceipt({ hash: dh })).contractAddress!;
  const self = t.accounts[6]!.address;
  const watcher = new ChainRequestWatcher({
    chain: t.reader,
    self,
    workers: async () => [self],
    serves: (id) => id === agentId,
    account: async () => agent,
    fund: (a) => new AgentGas(t.as(3), { target: parseEther("1") }).fund(a),
    run: async (_id, request) =>
      bytesToHex(
        (
          await sandbox.invoke(
            { method: "POST", url: "http://veil.internal/trigger", headers: [], body: null },
            { kind: "onChainRequest", event: request },
          )
        ).body,
      ),
    pollMs: POLL_MS,
  });
  await watcher.start();
  const triggers = new TriggersClient(t.reader);
  const user = t.as(2);
  const ms: number[] = [];
  const blocks: bigint[] = [];
  for (let i = 0; i < N; i++) {
    const startedAt = performance.now();
    const hash = await user.wallet!.writeContract({
      address: consumer,
      abi: priceFeedConsumerAbi,
      functionName: "requestPrice",
      args: ["ETH", 50n],
      value: parseEther("0.001"),
    });
    const receipt = await user.public.waitForTransactionReceipt({ hash, pollingInterval: 10 });
    const id = BigInt(i + 1);
    while ((await triggers.getRequest(id)).status === RequestStatus.Pending)
      await new Promise((r) => setTimeout(r, 5));
    ms.push(performance.now() - startedAt);
    const [answered] = await t.reader.public.getContractEvents({
      address: t.config.contracts.agentTriggers!,
      abi: (await import("../src/chain/abi.ts")).agentTriggersAbi,
      eventName: "AgentResponded",
      args: { requestId: id },
      fromBlock: receipt.blockNumber,
    });
    blocks.push(answered!.blockNumber - receipt.blockNumber);
  }
  await watcher.stop();
  sandbox.dispose();
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(1);
  const blockCounts = blocks.map(Number);
  console.log(
    `request → answer on chain, ${N} requests, one worker polling every ${POLL_MS} ms (embedded chain, automine)`,
  );
  console.log(`  ms:     p50 ${q(0.5)}  p90 ${q(0.9)}  max ${q(1)}`);
  console.log(
    `  blocks: min ${Math.min(...blockCounts)}  max ${Math.max(...blockCounts)}  mean ${(blockCounts.reduce((a, b) => a + b, 0) / N).toFixed(2)}`,
  );
  console.log("  (blocks include the gas top-up of the agent's address, when it was needed)");
} finally {
  server.close();
  await t.close();
}
