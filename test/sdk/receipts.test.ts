import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { llmReceiptsHash, type Receipt, receiptDigest } from "../../src/chain/certificates.ts";
import type { VeilChain } from "../../src/chain/index.ts";
import { requestHash, responseHash } from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import type { VerifiedAgentIdentity } from "../../src/sdk/identity.ts";
import { verifyReceipt } from "../../src/sdk/receipts.ts";

const agent = privateKeyToAccount(`0x${"31".repeat(32)}`);
const codeHash: Hex = `0x${"c0".repeat(32)}`;
const servingWorker: Hex = `0x${"bb".repeat(20)}`;
const chain = {
  config: { chainId: 31337, contracts: { agentRegistry: `0x${"aa".repeat(20)}` } },
  public: { readContract: async () => [codeHash] },
  // Only the serving worker has standing (a gatekeeper verified it; ADR 0020).
  isWorkerAttested: async (a: Hex) => a.toLowerCase() === servingWorker,
} as unknown as VeilChain;
const identity = { id: 9n, epoch: 1n, address: agent.address } as VerifiedAgentIdentity;
const nonce: Hex = `0x${"11".repeat(32)}`;
const sent = { method: "POST", pathAndQuery: "/pay?to=bob", body: new TextEncoder().encode("100"), nonce };
const body = new TextEncoder().encode('{"ok":true}');

async function receipt(
  overrides: Partial<Omit<Receipt, "signature">> = {},
  signer = agent,
): Promise<Receipt> {
  const unsigned = {
    agentId: "9",
    codeHash,
    inputHash: requestHash(sent.method, sent.pathAndQuery, sent.body),
    outputHash: responseHash(body),
    status: 200,
    worker: servingWorker,
    epoch: "1",
    nonce,
    cpuUs: 1200,
    wallUs: 3400,
    heapBytes: 1_000_000,
    egressBytes: 0,
    stateBytes: 64,
    llmPromptTokens: 0,
    llmCompletionTokens: 0,
    llmReceipts: llmReceiptsHash([]),
    ...overrides,
  };
  // EIP-712 typed data, signed as it is (what a wallet's signTypedData produces).
  const signature = await signer.sign({
    hash: receiptDigest({ chainId: 31337, agentRegistry: `0x${"aa".repeat(20)}`, ...unsigned }),
  });
  return { ...unsigned, signature };
}

async function refused(
  r: Receipt | undefined,
  received: Parameters<typeof verifyReceipt>[4] = { status: 200, body },
  request = sent,
): Promise<string> {
  try {
    await verifyReceipt(chain, identity, r, request, received);
  } catch (err) {
    assert.ok(err instanceof VeilError && err.code === "RECEIPT_INVALID", String(err));
    return err.shortMessage;
  }
  assert.fail("the receipt was accepted");
}

test("a receipt signed by the agent for this request and response verifies", async () => {
  const check = await verifyReceipt(chain, identity, await receipt(), sent, { status: 200, body });
  assert.equal(check.codeHash, codeHash);
});

test("a changed body, status, request, nonce, signer, agent or code is refused", async () => {
  const good = await receipt();
  assert.match(await refused(good, { status: 200, body: new TextEncoder().encode('{"ok":false}') }), /body/);
  assert.match(await refused(good, { status: 500, body }), /status/);
  assert.match(await refused(good, { status: 200, body }, { ...sent, pathAndQuery: "/pay?to=eve" }), /input/);
  assert.match(
    await refused(good, { status: 200, body }, { ...sent, nonce: `0x${"22".repeat(32)}` }),
    /nonce/,
  );
  assert.match(
    await refused(await receipt({}, privateKeyToAccount(`0x${"32".repeat(32)}`))),
    /not signed by the agent/,
  );
  assert.match(await refused({ ...good, agentId: "10" }), /another agent/);
  assert.match(await refused(await receipt({ codeHash: `0x${"c1".repeat(32)}` })), /not a version/);
  assert.match(await refused({ ...good, worker: `0x${"cc".repeat(20)}` }), /not signed by the agent/);
  assert.match(await refused(undefined), /no receipt/);
});

test("the receipt carries what the call used on the worker that served it, in the one signature", async () => {
  const check = await verifyReceipt(chain, identity, await receipt(), sent, { status: 200, body });
  assert.equal(check.worker, servingWorker);
  assert.deepEqual(
    { cpu: check.usage.cpuUs, wall: check.usage.wallUs, state: check.usage.stateBytes },
    { cpu: 1200, wall: 3400, state: 64 },
  );
  const good = await receipt();
  // A worker (or anyone on the path) that bills more than was used changes a signed field.
  assert.match(await refused({ ...good, cpuUs: 120_000 }), /not signed by the agent/);
  assert.match(await refused({ ...good, cpuUs: -1 }), /cpuUs is not a count/);
  // A receipt naming a worker without standing is refused, even signed by the agent's key.
  const stranger: Hex = `0x${"cd".repeat(20)}`;
  assert.match(await refused(await receipt({ worker: stranger })), /not a worker in standing/);
});

test("the LLM call receipts that came with the answer must be exactly the ones the receipt names", async () => {
  const sig = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(64)}1b` as Hex;
  const theirs = [{ signature: sig(1) }];
  const withLlm = await receipt({ llmReceipts: llmReceiptsHash(theirs) });
  const ok = await verifyReceipt(chain, identity, withLlm, sent, { status: 200, body, llmReceipts: theirs });
  assert.equal(ok.usage.llmReceipts, llmReceiptsHash(theirs));
  for (const [what, attached] of [
    ["an earlier call's receipt in their place", [{ signature: sig(2) }]],
    ["one more receipt", [...theirs, { signature: sig(2) }]],
    ["none at all", []],
  ] as const) {
    assert.match(
      await refused(withLlm, { status: 200, body, llmReceipts: [...attached] }),
      /not the ones this invocation made/,
      what,
    );
  }
});

test("a streamed body is checked by its hash: the right one verifies, another is refused", async () => {
  const good = await receipt();
  const check = await verifyReceipt(chain, identity, good, sent, {
    status: 200,
    bodyHash: responseHash(body),
  });
  assert.equal(check.codeHash, codeHash);
  await assert.rejects(
    verifyReceipt(chain, identity, good, sent, { status: 200, bodyHash: responseHash(new Uint8Array([1])) }),
    (e: unknown) => e instanceof VeilError && e.code === "RECEIPT_INVALID" && /body/.test(e.shortMessage),
  );
});
