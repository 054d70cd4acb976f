import type { Hex } from "viem";
import {
  type LlmCallReceipt,
  llmReceiptDigest,
  llmReceiptsHash,
  type Receipt,
  type ReceiptUsage,
  receiptDigest,
} from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import { toHex } from "../crypto/bytes.ts";
import { sha256 } from "../crypto/hash.ts";
import { requestHash, responseHash } from "../crypto/invocation.ts";
import { isSignatureHex as isSignature, signedBy } from "../crypto/known-signers.ts";
import { VeilError } from "../errors/index.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";

export type ReceiptCheck = {
  receipt: Receipt;
  codeHash: Hex;
  /** The worker that served the call and metered it (it has standing on chain). */
  worker: Hex;
  /** What the invocation used there, as the receipt signs it. */
  usage: ReceiptUsage;
};

const invalid = (why: string) =>
  new VeilError("RECEIPT_INVALID", `The response's receipt does not verify: ${why}`, {
    hint: "Do not trust this response; it did not come from the agent's code as the chain lists it.",
  });

/** Parses the x-veil-receipt header (base64 JSON). */
export function parseReceiptHeader(value: string | undefined): Receipt | undefined {
  if (!value) return undefined;
  try {
    return JSON.parse(fromBase64Text(value)) as Receipt;
  } catch {
    throw invalid("the receipt header is not readable");
  }
}

const USAGE_COUNTS = [
  "cpuUs",
  "wallUs",
  "heapBytes",
  "egressBytes",
  "stateBytes",
  "llmPromptTokens",
  "llmCompletionTokens",
] as const;

/**
 * Checks that a response is what the agent's code answered to exactly this request, on a worker
 * in standing, and what it used there: the receipt names this request (hash and nonce) and this
 * response (hash and status), a code hash the chain lists for the agent, the serving worker, the
 * resources used and exactly the LLM call receipts that came with the answer; it is one EIP-712
 * signature by the agent's key, itself certified up to the master key on chain (`identity`).
 */
export async function verifyReceipt(
  chain: VeilChain,
  identity: VerifiedAgentIdentity,
  receipt: Receipt | undefined,
  sent: { method: string; pathAndQuery: string; body: Uint8Array | null; nonce: Hex },
  /** The response as received: its body, or (for a streamed body) the sha256 of its bytes. */
  received: {
    status: number;
    /** The LLM call receipts that came with the answer (as `verifyLlmReceipts` takes them). */
    llmReceipts?: string | unknown[] | undefined;
  } & ({ body: Uint8Array } | { bodyHash: Hex }),
  /** Code hashes already read from chain, by agent id; re-read when a receipt names a new one. */
  versionsCache?: Map<string, Set<string>>,
): Promise<ReceiptCheck> {
  if (!receipt || typeof receipt !== "object") throw invalid("the response carries no receipt");
  if (receipt.agentId !== identity.id.toString()) throw invalid("it names another agent");
  if (receipt.nonce !== sent.nonce) throw invalid("it answers another request (nonce)");
  if (receipt.inputHash !== requestHash(sent.method, sent.pathAndQuery, sent.body))
    throw invalid("it names another input");
  const outputHash = "bodyHash" in received ? received.bodyHash : responseHash(received.body);
  if (receipt.outputHash !== outputHash) throw invalid("the body is not the one the agent signed");
  if (receipt.status !== received.status) throw invalid("the status is not the one the agent signed");
  // The agent's signing key is the same in every epoch (ADR 0010); during a rotation a worker
  // may still sign under the epoch just ended while the record already names the new one.
  const epochs = [identity.epoch.toString(), (identity.epoch - 1n).toString()];
  if (!epochs.includes(receipt.epoch)) throw invalid(`it is from key epoch ${receipt.epoch}`);
  for (const k of USAGE_COUNTS)
    if (!Number.isSafeInteger(receipt[k]) || receipt[k] < 0) throw invalid(`${k} is not a count`);
  if (typeof receipt.worker !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(receipt.worker))
    throw invalid("it names no worker");
  if (typeof receipt.llmReceipts !== "string" || !/^0x[0-9a-f]{64}$/.test(receipt.llmReceipts))
    throw invalid("it names no LLM receipts");
  if (!isSignature(receipt.signature)) throw invalid("its signature is malformed");
  let digest: Hex;
  try {
    digest = receiptDigest({
      chainId: chain.config.chainId,
      agentRegistry: chain.config.contracts.agentRegistry,
      ...receipt,
    });
  } catch {
    throw invalid("its fields are not of their types");
  }
  if (!signedBy(identity.address, digest, receipt.signature))
    throw invalid("it is not signed by the agent's certified key");
  const attached = parseLlmReceiptList(received.llmReceipts);
  const signatures = attached.map((item) => (item as { signature?: unknown } | null)?.signature);
  if (!signatures.every((sig): sig is Hex => typeof sig === "string" && isSignature(sig as Hex)))
    throw invalid("the LLM call receipts that came with the answer are malformed");
  if (llmReceiptsHash(signatures.map((signature) => ({ signature }))) !== receipt.llmReceipts)
    throw invalid("the LLM call receipts that came with the answer are not the ones this invocation made");
  const key = identity.id.toString();
  const codeHash = receipt.codeHash.toLowerCase();
  if (!versionsCache?.get(key)?.has(codeHash)) {
    const versions = await chain.public.readContract({
      address: chain.config.contracts.agentRegistry,
      abi: (await import("../chain/abi.ts")).agentRegistryAbi,
      functionName: "versions",
      args: [identity.id],
    });
    versionsCache?.set(key, new Set(versions.map((v) => v.toLowerCase())));
    if (!versions.some((v) => v.toLowerCase() === codeHash)) {
      throw invalid(`code ${receipt.codeHash} is not a version of the agent on chain`);
    }
  }
  // The agent's key lives only on attested workers, but the one it names must still have
  // standing now: a worker that lost it serves nothing a caller should trust (ADR 0020).
  await requireStanding(chain, receipt.worker, invalid);
  const { cpuUs, wallUs, heapBytes, egressBytes, stateBytes, llmPromptTokens, llmCompletionTokens } = receipt;
  return {
    receipt,
    codeHash: receipt.codeHash,
    worker: receipt.worker,
    usage: {
      worker: receipt.worker,
      cpuUs,
      wallUs,
      heapBytes,
      egressBytes,
      stateBytes,
      llmPromptTokens,
      llmCompletionTokens,
      llmReceipts: receipt.llmReceipts,
    },
  };
}

/**
 * Workers whose standing was already read (when), so that checking receipts costs no chain read
 * for a minute.
 */
const workersInStanding = new Map<string, number>();

/**
 * The worker a receipt names must have standing on chain (ADR 0020): active and its evidence
 * verified by a gatekeeper, not merely registered by its operator.
 */
async function requireStanding(
  chain: VeilChain,
  worker: Hex,
  refuse: (why: string) => VeilError,
): Promise<void> {
  const key = worker.toLowerCase();
  if ((workersInStanding.get(key) ?? 0) >= Date.now() - 60_000) return;
  if (!(await chain.isWorkerAttested(worker))) throw refuse(`${worker} is not a worker in standing on chain`);
  workersInStanding.set(key, Date.now());
}

const llmInvalid = (why: string) =>
  new VeilError("LLM_RECEIPT_INVALID", `The LLM call's receipt does not verify: ${why}`, {
    hint: "Do not trust that this LLM call happened as the receipt says.",
  });

/** What a caller may check an LLM receipt against, besides its signature. */
export type LlmReceiptExpectations = {
  /** The agent that made the call. */
  agentId?: bigint | string;
  provider?: string;
  baseUrl?: string;
  model?: string;
  /** The exact request body sent to the provider, or its sha256. */
  request?: Uint8Array | string;
  /** The exact response body the provider sent (the whole event stream when streamed), or its sha256. */
  response?: Uint8Array | string;
  /** The worker that must have signed it. */
  worker?: Hex;
};

const sha256Of = (v: Uint8Array | string): Hex =>
  typeof v === "string" && /^0x[0-9a-f]{64}$/i.test(v)
    ? (v.toLowerCase() as Hex)
    : `0x${toHex(sha256(typeof v === "string" ? new TextEncoder().encode(v) : v))}`;

/**
 * Checks one LLM call's receipt (see sandbox/host-llm.ts) without the chain: its fields are
 * well formed, match what the caller expects, and are signed by the worker it names under this
 * network's domain. `verifyLlmReceipt` also checks that the worker is registered.
 */
export async function checkLlmReceipt(
  receipt: unknown,
  domain: { chainId: number; workerRegistry: Hex },
  expected: LlmReceiptExpectations = {},
): Promise<LlmCallReceipt> {
  if (!receipt || typeof receipt !== "object") throw llmInvalid("there is no receipt");
  const r = receipt as LlmCallReceipt;
  for (const k of ["agentId", "provider", "baseUrl", "model"] as const)
    if (typeof r[k] !== "string") throw llmInvalid(`${k} is missing`);
  if (!/^\d{1,78}$/.test(r.agentId)) throw llmInvalid("agentId is not an id");
  for (const k of ["requestHash", "responseHash"] as const)
    if (typeof r[k] !== "string" || !/^0x[0-9a-f]{64}$/.test(r[k])) throw llmInvalid(`${k} is not a sha256`);
  for (const k of ["promptTokens", "completionTokens", "at"] as const)
    if (!Number.isSafeInteger(r[k]) || r[k] < 0) throw llmInvalid(`${k} is not a count`);
  if (typeof r.worker !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(r.worker))
    throw llmInvalid("worker is not an address");
  if (expected.agentId !== undefined && r.agentId !== expected.agentId.toString())
    throw llmInvalid("it names another agent");
  if (expected.provider !== undefined && r.provider !== expected.provider)
    throw llmInvalid(`it names provider ${r.provider}`);
  if (expected.baseUrl !== undefined && r.baseUrl !== expected.baseUrl.replace(/\/+$/, ""))
    throw llmInvalid(`it names base URL ${r.baseUrl}`);
  if (expected.model !== undefined && r.model !== expected.model)
    throw llmInvalid(`it names model ${r.model}`);
  if (expected.request !== undefined && r.requestHash !== sha256Of(expected.request))
    throw llmInvalid("it names another request");
  if (expected.response !== undefined && r.responseHash !== sha256Of(expected.response))
    throw llmInvalid("it names another response");
  if (expected.worker !== undefined && r.worker.toLowerCase() !== expected.worker.toLowerCase())
    throw llmInvalid("it names another worker");
  if (!isSignature(r.signature)) throw llmInvalid("its signature is malformed");
  let digest: Hex;
  try {
    digest = llmReceiptDigest({ ...domain, ...r });
  } catch {
    throw llmInvalid("its fields are not of their types");
  }
  if (!signedBy(r.worker, digest, r.signature)) throw llmInvalid("it is not signed by the worker it names");
  return r;
}

/**
 * Checks LLM call receipts as an invocation returned them (the `x-veil-llm-receipts` header,
 * base64 JSON, or the parsed array): each is signed by the worker it names, under this chain's
 * WorkerRegistry, and that worker is registered. Returns them; throws LLM_RECEIPT_INVALID.
 */
export async function verifyLlmReceipts(
  chain: VeilChain,
  receipts: string | unknown[] | undefined,
  expected: LlmReceiptExpectations = {},
): Promise<LlmCallReceipt[]> {
  const list = parseLlmReceiptList(receipts);
  const domain = { chainId: chain.config.chainId, workerRegistry: chain.config.contracts.workerRegistry };
  const out: LlmCallReceipt[] = [];
  for (const item of list) {
    const r = await checkLlmReceipt(item, domain, expected);
    await requireStanding(chain, r.worker as Hex, llmInvalid);
    out.push(r);
  }
  return out;
}

/** LLM call receipts as an answer carries them: base64 JSON of a list, or the list. */
function parseLlmReceiptList(receipts: string | unknown[] | undefined): unknown[] {
  if (receipts === undefined) return [];
  let list: unknown;
  if (typeof receipts === "string") {
    try {
      list = JSON.parse(fromBase64Text(receipts));
    } catch {
      throw llmInvalid("the receipts are not readable");
    }
  } else list = receipts;
  if (!Array.isArray(list)) throw llmInvalid("the receipts are not a list");
  return list;
}

/** Base64 of UTF-8 text, decoded with web APIs (receipts are checked in browsers too). */
function fromBase64Text(value: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
}
