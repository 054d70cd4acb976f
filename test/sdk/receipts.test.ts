import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type Receipt, receiptDigest } from "../../src/chain/certificates.ts";
import type { VeilChain } from "../../src/chain/index.ts";
import { requestHash, responseHash } from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import type { VerifiedAgentIdentity } from "../../src/sdk/identity.ts";
import { verifyReceipt } from "../../src/sdk/receipts.ts";

const agent = privateKeyToAccount(`0x${"31".repeat(32)}`);
const codeHash: Hex = `0x${"c0".repeat(32)}`;
const chain = {
  config: { chainId: 31337, contracts: { agentRegistry: `0x${"aa".repeat(20)}` } },
  public: { readContract: async () => [codeHash] },
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
    worker: `0x${"bb".repeat(20)}` as Hex,
    epoch: "1",
    nonce,
    ...overrides,
  };
  const signature = await signer.signMessage({
    message: { raw: receiptDigest({ chainId: 31337, agentRegistry: `0x${"aa".repeat(20)}`, ...unsigned }) },
  });
  return { ...unsigned, signature };
}

async function refused(
  r: Receipt | undefined,
  received = { status: 200, body },
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

test("a worker's usage receipt verifies for our request; altered, misattributed or unregistered ones are refused", async () => {
  const { llmReceiptsHash, usageReceiptDigest } = await import("../../src/chain/certificates.ts");
  const { verifyUsageReceipt } = await import("../../src/sdk/receipts.ts");
  const worker = privateKeyToAccount(`0x${"41".repeat(32)}`);
  const registry: Hex = `0x${"cc".repeat(20)}`;
  const usageChain = {
    config: { chainId: 31337, contracts: { workerRegistry: registry } },
    getWorker: async (a: Hex) => (a === worker.address ? { address: a } : undefined),
    isWorkerAttested: async (a: Hex) => a === worker.address,
  } as unknown as VeilChain;
  const inputHash = requestHash(sent.method, sent.pathAndQuery, sent.body);
  const make = async (overrides: Record<string, unknown> = {}, signer = worker) => {
    const unsigned = {
      agentId: "9",
      codeHash,
      inputHash,
      nonce,
      worker: worker.address,
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
    const signature = await signer.signMessage({
      message: { raw: usageReceiptDigest({ chainId: 31337, workerRegistry: registry, ...unsigned }) },
    });
    return Buffer.from(JSON.stringify({ ...unsigned, signature })).toString("base64");
  };
  const expected = { agentId: 9n, inputHash, nonce };
  assert.equal((await verifyUsageReceipt(usageChain, await make(), expected)).cpuUs, 1200);
  const refused = async (header: string | undefined, why: RegExp) =>
    assert.rejects(
      verifyUsageReceipt(usageChain, header, expected),
      (e: unknown) => e instanceof VeilError && e.code === "USAGE_RECEIPT_INVALID" && why.test(e.message),
    );
  await refused(undefined, /carries none/);
  const good = JSON.parse(Buffer.from(await make(), "base64").toString());
  await refused(
    Buffer.from(JSON.stringify({ ...good, cpuUs: 1 })).toString("base64"),
    /not signed by the worker/,
  );
  await refused(await make({ nonce: `0x${"22".repeat(32)}` }), /another request/);
  await refused(await make({ agentId: "10" }), /another agent/);
  const stranger = privateKeyToAccount(`0x${"42".repeat(32)}`);
  await refused(await make({ worker: stranger.address }, stranger), /not a worker in standing/);
  await refused(await make({}, stranger), /not signed by the worker/);

  // Issue 18: receipts bound to their invocation and serving worker (ADR 0020).
  await assert.rejects(
    verifyUsageReceipt(usageChain, await make(), { ...expected, worker: stranger.address }),
    (e: unknown) => e instanceof VeilError && /not .*which served the call/.test(e.message),
  );
  const sig = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(64)}1b` as Hex;
  const theirs = [{ signature: sig(1) }];
  const withLlm = await make({ llmReceipts: llmReceiptsHash(theirs) });
  assert.equal(
    (await verifyUsageReceipt(usageChain, withLlm, { ...expected, llmReceipts: theirs })).cpuUs,
    1200,
  );
  for (const [what, attached] of [
    ["an earlier call's receipt in their place", [{ signature: sig(2) }]],
    ["one more receipt", [...theirs, { signature: sig(2) }]],
    ["none at all", []],
  ] as const) {
    await assert.rejects(
      verifyUsageReceipt(usageChain, withLlm, { ...expected, llmReceipts: [...attached] }),
      (e: unknown) => e instanceof VeilError && /not the ones this invocation made/.test(e.message),
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
