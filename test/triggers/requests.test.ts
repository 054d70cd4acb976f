import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeAbiParameters, encodeAbiParameters, type Hex, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { priceFeedConsumerAbi } from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";
import { VeilChain } from "../../src/chain/index.ts";
import { RequestStatus, TriggersClient } from "../../src/chain/triggers-client.ts";
import { VeilError } from "../../src/errors/index.ts";
import { AgentGas, ChainRequestWatcher } from "../../src/worker/chain-requests.ts";
import { rotaRank } from "../../src/worker/trigger-rota.ts";
import { agentCertifier } from "../helpers/agent-signer.ts";
import { hash32, startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
let agentId: bigint;
let consumer: Hex;
const agentKey: Hex = `0x${"a1".repeat(32)}`;
const agent = privateKeyToAccount(agentKey);
let asAgent: TriggersClient;
let asOwner: TriggersClient;
let asStranger: TriggersClient;

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

const mine = (n: number) =>
  fetch(t.embedded.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "hardhat_mine", params: [`0x${n.toString(16)}`] }),
  });

const priceResponse = (value: bigint, at: bigint): Hex =>
  encodeAbiParameters([{ type: "uint256" }, { type: "uint64" }], [value, at]);

/** Asks the consumer contract for a price, as a user would; returns the request id. */
async function requestPrice(symbol: string, blocks: number, fee: bigint): Promise<bigint> {
  const user = t.as(2);
  const hash = await user.wallet!.writeContract({
    address: consumer,
    abi: priceFeedConsumerAbi,
    functionName: "requestPrice",
    args: [symbol, BigInt(blocks)],
    value: fee,
  });
  await user.public.waitForTransactionReceipt({ hash });
  return asOwner.chain.public.readContract({
    address: t.config.contracts.agentTriggers!,
    abi: (await import("../../src/chain/abi.ts")).agentTriggersAbi,
    functionName: "requestCount",
  });
}

before(async () => {
  t = await startTestChain();
  const certify = await agentCertifier(t);
  agentId = (await t.as(1).registerAgent("oracle", hash32(1))).id;
  await certify(agentId, agentKey);
  const deployer = t.as(0);
  const { abi, bytecode } = compileContracts().PriceFeedConsumer!;
  const hash = await deployer.wallet!.deployContract({
    abi,
    bytecode,
    args: [t.config.contracts.agentTriggers, agentId],
  });
  consumer = (await deployer.public.waitForTransactionReceipt({ hash })).contractAddress!;
  // The agent's address needs gas for its answers; the operator (dev account 3) tops it up.
  await new AgentGas(t.as(3)).fund(agent.address);
  asAgent = new TriggersClient(new VeilChain(t.config, { account: agentKey, pollingIntervalMs: 50 }));
  asOwner = new TriggersClient(t.as(1));
  asStranger = new TriggersClient(t.as(4));
});
after(async () => {
  await t?.close();
});

describe("requests from contracts (AgentTriggers + AgentConsumer)", () => {
  test("an answer from any address but the agent's registered one is refused and changes nothing", async () => {
    const id = await requestPrice("ETH", 20, parseEther("0.01"));
    await rejectsWith(asStranger.fulfill(id, priceResponse(1n, 1n)), "TRIGGER_NOT_AGENT_SIGNER");
    // The agent's owner is not the agent either.
    await rejectsWith(asOwner.fulfill(id, priceResponse(1n, 1n)), "TRIGGER_NOT_AGENT_SIGNER");
    assert.equal((await asOwner.getRequest(id)).status, RequestStatus.Pending);
    // Nor may anyone call the consumer's callback directly.
    await assert.rejects(
      t.as(4).public.simulateContract({
        account: t.accounts[4]!.address,
        address: consumer,
        abi: priceFeedConsumerAbi,
        functionName: "handleAgentResponse",
        args: [id, agentId, agent.address, priceResponse(1n, 1n)],
      }),
      /NotAgentTriggers/,
    );
  });

  test("the agent answers once: the consumer gets the price, the agent the fee; a second answer is refused", async () => {
    const fee = parseEther("0.01");
    const id = await requestPrice("BTC", 20, fee);
    const before = await t.reader.public.getBalance({ address: agent.address });
    await asAgent.fulfill(id, priceResponse(6_500_000_000_000n, 1_700_000_000n));
    const [value, at, requestId] = await t.reader.public.readContract({
      address: consumer,
      abi: priceFeedConsumerAbi,
      functionName: "prices",
      args: ["BTC"],
    });
    assert.equal(value, 6_500_000_000_000n);
    assert.equal(at, 1_700_000_000n);
    assert.equal(requestId, id);
    assert.equal((await asOwner.getRequest(id)).status, RequestStatus.Fulfilled);
    assert.ok(
      (await t.reader.public.getBalance({ address: agent.address })) > before,
      "the fee outweighs the gas",
    );
    await rejectsWith(asAgent.fulfill(id, priceResponse(1n, 1n)), "TRIGGER_REQUEST_SETTLED");
    const [again] = await t.reader.public.readContract({
      address: consumer,
      abi: priceFeedConsumerAbi,
      functionName: "prices",
      args: ["BTC"],
    });
    assert.equal(again, 6_500_000_000_000n, "the second answer changed nothing");
  });

  test("refund is refused before the deadline; after it the fee returns to the consumer and answers are refused", async () => {
    const fee = parseEther("0.02");
    const id = await requestPrice("SOL", 5, fee);
    await rejectsWith(asStranger.refund(id), "TRIGGER_DEADLINE_NOT_REACHED");
    await mine(6);
    await rejectsWith(asAgent.fulfill(id, priceResponse(1n, 1n)), "TRIGGER_DEADLINE_PASSED");
    const before = await t.reader.public.getBalance({ address: consumer });
    await asStranger.refund(id); // anyone may trigger it; the money goes to the requester
    assert.equal(await t.reader.public.getBalance({ address: consumer }), before + fee);
    assert.equal((await asOwner.getRequest(id)).status, RequestStatus.Refunded);
    await rejectsWith(asStranger.refund(id), "TRIGGER_REQUEST_SETTLED");
  });

  test("a request that does not pay for its answer's gas is refused; governance sets the floor (attack)", async () => {
    // Issue 18: ten requests with fee 0 were all answered; the operators paid 0.02 ETH of gas.
    const head = await t.reader.blockNumber();
    const required = await asStranger.requiredFee();
    assert.ok(required >= 650_000n * 1_000_000_000n, `${required} wei covers a 650k-gas answer at 1 gwei`);
    const count = await asOwner.requestCount();
    await rejectsWith(asStranger.request(agentId, "0x", head + 10n), "TRIGGER_FEE_TOO_LOW");
    await rejectsWith(asStranger.request(agentId, "0x", head + 10n, required - 1n), "TRIGGER_FEE_TOO_LOW");
    assert.equal(await asOwner.requestCount(), count, "nothing was filed");
    await asStranger.request(agentId, "0x", head + 10n, required);
    // Only governance moves the floor.
    await rejectsWith(asStranger.setMinRequestFee(0n), "NOT_OWNER");
    await new TriggersClient(t.as(0)).setMinRequestFee(required * 2n);
    assert.equal(await asStranger.requiredFee(), required * 2n);
    await new TriggersClient(t.as(0)).setMinRequestFee(required);
  });

  test("bad requests are refused: unknown agent, past deadline, unknown request", async () => {
    const head = await t.reader.blockNumber();
    await rejectsWith(asStranger.request(999n, "0x", head + 10n), "AGENT_NOT_FOUND");
    await rejectsWith(asStranger.request(agentId, "0x", head), "TRIGGER_DEADLINE_INVALID");
    await rejectsWith(asOwner.getRequest(12345n), "TRIGGER_REQUEST_NOT_FOUND");
  });
});

describe("workers answering requests", () => {
  const workers: Hex[] = [
    privateKeyToAccount(`0x${"b1".repeat(32)}`).address,
    privateKeyToAccount(`0x${"b2".repeat(32)}`).address,
  ];

  function watcher(self: Hex, runs: string[]) {
    return new ChainRequestWatcher({
      chain: t.reader,
      self,
      workers: async () => workers,
      serves: (id) => id === agentId,
      account: async () => agent,
      run: async (_id, request) => {
        runs.push(`${self}:${request.id}`);
        const [symbol] = decodeAbiParameters([{ type: "string" }], request.payload);
        assert.equal(symbol, "DOT");
        return priceResponse(700_000_000n, 1n);
      },
      fund: (address) => new AgentGas(t.as(3)).fund(address),
      stepBlocks: 1000,
      stepMs: 800,
      pollMs: 50,
    });
  }

  test("when the preferred worker is down, the fallback answers after its delay, once", async () => {
    const runs: string[] = [];
    const nextId =
      (await asOwner.chain.public.readContract({
        address: t.config.contracts.agentTriggers!,
        abi: (await import("../../src/chain/abi.ts")).agentTriggersAbi,
        functionName: "requestCount",
      })) + 1n;
    const preferred = workers.find((w) => rotaRank(workers, w, `request:${nextId}`) === 0)!;
    const fallback = workers.find((w) => w !== preferred)!;
    const w = watcher(fallback, runs);
    await w.start();
    const startedAt = Date.now();
    const id = await requestPrice("DOT", 50, parseEther("0.001"));
    assert.equal(id, nextId);
    while ((await asOwner.getRequest(id)).status === RequestStatus.Pending) {
      assert.ok(Date.now() - startedAt < 15_000, "the fallback did not answer");
      await new Promise((r) => setTimeout(r, 50));
    }
    const waited = Date.now() - startedAt;
    await w.stop();
    assert.ok(waited >= 700, `the fallback waited its turn (${waited} ms)`);
    assert.deepEqual(runs, [`${fallback}:${id}`]);
  });

  test("with both workers up, only the preferred one runs the agent", async () => {
    const runs: string[] = [];
    const ws = workers.map((w) => watcher(w, runs));
    for (const w of ws) await w.start();
    const id = await requestPrice("DOT", 50, parseEther("0.001"));
    const startedAt = Date.now();
    while ((await asOwner.getRequest(id)).status === RequestStatus.Pending) {
      assert.ok(Date.now() - startedAt < 15_000, "nobody answered");
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1200)); // past the fallback's turn
    for (const w of ws) await w.stop();
    const preferred = workers.find((w) => rotaRank(workers, w, `request:${id}`) === 0)!;
    assert.deepEqual(runs, [`${preferred}:${id}`]);
  });
});
