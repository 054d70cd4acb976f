import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type LlmCallReceipt, llmReceiptDigest } from "../../src/chain/certificates.ts";
import type { VeilChain } from "../../src/chain/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import type { LlmSigner } from "../../src/sandbox/host-llm.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";
import { checkLlmReceipt, verifyLlmReceipts } from "../../src/sdk/receipts.ts";
import { type OpenAIMock, startOpenAIMock } from "../helpers/openai-mock.ts";

// The receipt a worker signs for each ctx.llm call (provider, model, request and response
// hashes, tokens), checked on the caller's side.
const worker = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const domain = { chainId: 31337, workerRegistry: `0x${"11".repeat(20)}` as Hex };
const registered = new Set([worker.address.toLowerCase()]);
const chain = {
  config: { chainId: domain.chainId, contracts: { workerRegistry: domain.workerRegistry } },
  getWorker: async (a: Hex) => (registered.has(a.toLowerCase()) ? { address: a } : undefined),
  isWorkerAttested: async (a: Hex) => registered.has(a.toLowerCase()),
} as unknown as VeilChain;

const signWith =
  (account = worker, named = account.address): LlmSigner =>
  async (fields) => {
    const unsigned = { ...fields, worker: named };
    const signature = await account.sign({ hash: llmReceiptDigest({ ...domain, ...unsigned }) });
    return { ...unsigned, signature };
  };

const AGENT = `export default { async fetch(request, env, ctx) {
  const r = await ctx.llm.chat({ model: "m", messages: [{ role: "user", content: "hi there" }] });
  return Response.json({ receipt: r.receipt });
} };`;

let mock: OpenAIMock;
let real: LlmCallReceipt;
before(async () => {
  mock = await startOpenAIMock();
  const s = await IsolateSandbox.create({
    code: AGENT,
    meta: {
      id: "5",
      name: "asker",
      codeHash: `0x${"00".repeat(32)}`,
      secrets: { LLM_BASE_URL: mock.baseUrl },
    },
    limits: { egress: { ...DEFAULT_EGRESS, allowHosts: [new URL(mock.url).host] } },
    llmSigner: signWith(),
  });
  const res = await s.invoke({ method: "GET", url: "https://asker.agents.veil/", headers: [], body: null });
  s.dispose();
  real = JSON.parse(new TextDecoder().decode(res.body)).receipt;
});
after(() => mock.close());

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof VeilError && err.code === "LLM_RECEIPT_INVALID", String(err));
    return err.shortMessage;
  }
  assert.fail("the receipt was accepted");
}

describe("LLM call receipts", () => {
  test("a worker's receipt verifies, and names the exact request the agent's call sent", async () => {
    const request = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi there" }] });
    const r = await checkLlmReceipt(real, domain, {
      agentId: 5n,
      provider: "default",
      baseUrl: mock.baseUrl,
      model: "m",
      request,
      worker: worker.address,
    });
    assert.equal(r.completionTokens, 3);
    const listed = await verifyLlmReceipts(chain, Buffer.from(JSON.stringify([real])).toString("base64"), {
      agentId: "5",
    });
    assert.deepEqual(listed, [real]);
    assert.deepEqual(await verifyLlmReceipts(chain, undefined), []);
  });

  test("a tampered receipt is refused", async () => {
    assert.match(
      await refused(checkLlmReceipt({ ...real, model: "gpt-5" }, domain)),
      /not signed by the worker/,
    );
    assert.match(await refused(checkLlmReceipt({ ...real, provider: "other" }, domain)), /not signed/);
    assert.match(await refused(checkLlmReceipt({ ...real, completionTokens: 1 }, domain)), /not signed/);
    assert.match(
      await refused(checkLlmReceipt({ ...real, responseHash: `0x${"ab".repeat(32)}` }, domain)),
      /not signed/,
    );
    assert.match(await refused(checkLlmReceipt({ ...real, worker: stranger.address }, domain)), /not signed/);
    assert.match(await refused(checkLlmReceipt({ ...real, signature: "0x1234" }, domain)), /malformed/);
    assert.match(await refused(checkLlmReceipt({ ...real, promptTokens: -1 }, domain)), /promptTokens/);
    assert.match(await refused(checkLlmReceipt({ ...real, requestHash: "0x12" }, domain)), /requestHash/);
    assert.match(await refused(checkLlmReceipt(undefined, domain)), /no receipt/);
    // The same fields under another network's domain do not verify.
    assert.match(await refused(checkLlmReceipt(real, { ...domain, chainId: 1 })), /not signed/);
  });

  test("a receipt for another call, agent, model or worker, or from a worker without standing, is refused", async () => {
    assert.match(await refused(checkLlmReceipt(real, domain, { agentId: 6n })), /another agent/);
    assert.match(await refused(checkLlmReceipt(real, domain, { model: "m2" })), /model/);
    assert.match(await refused(checkLlmReceipt(real, domain, { request: "{}" })), /another request/);
    assert.match(await refused(checkLlmReceipt(real, domain, { response: "{}" })), /another response/);
    assert.match(
      await refused(checkLlmReceipt(real, domain, { worker: stranger.address })),
      /another worker/,
    );
    // Signed by a key that is not the worker it names.
    const forged = await signWith(stranger, worker.address)({ ...real });
    assert.match(await refused(checkLlmReceipt(forged, domain)), /not signed by the worker/);
    // Correctly signed, but by a worker without standing on chain (ADR 0020).
    const unlisted = await signWith(stranger)({ ...real });
    assert.equal((await checkLlmReceipt(unlisted, domain)).worker, stranger.address);
    assert.match(await refused(verifyLlmReceipts(chain, [unlisted])), /not a worker in standing/);
    // A genuine receipt from a worker in standing, but not the one that served this call.
    assert.match(
      await refused(verifyLlmReceipts(chain, [real], { worker: stranger.address })),
      /another worker/,
    );
    assert.match(await refused(verifyLlmReceipts(chain, "%%%")), /not readable/);
    assert.match(await refused(verifyLlmReceipts(chain, [{ ...real, at: 1 }])), /not signed/);
  });
});
