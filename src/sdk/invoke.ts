import type { Hex } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import type { LlmCallReceipt, ReceiptUsage } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import type { SignedCaller } from "../crypto/caller.ts";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import { type FeePayments, type FeeQuote, type Payment, type VoucherHeader, withQuote } from "./fees.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";
import type { InvocationRequest, SentRequest } from "./invoke-core.ts";
import { once } from "./lazy.ts";
import type { ReceiptCheck } from "./receipts.ts";

// VeilClient's invocations, in Node: the request signed (`as`) and, with `encrypt`, sealed to the
// agent's key; sent over node:http (stream.ts), which reads a streamed answer's trailers; its
// receipts checked up to the master key on chain; sent again when a repeat is harmless. The
// protocol itself (sealing, opening, checking) is invoke-core.ts, which the browser shares.

const coreModule = once(() => import("./invoke-core.ts"));
const receiptsModule = once(() => import("./receipts.ts"));
const streamModule = once(() => import("./stream.ts"));
const callerModule = once(() => import("../crypto/caller.ts"));
const invocationModule = once(() => import("../crypto/invocation.ts"));
const feeVouchersModule = once(() => import("../chain/fee-vouchers.ts"));
const accountsModule = once(() => import("viem/accounts"));

export type InvokeResult = {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  worker?: string;
  /** Set when the receipt was checked (`verify`, and always with `encrypt`). */
  verified?: ReceiptCheck;
  /** What the invocation used on the worker that served it, as its receipt signs it (checked with `verify`). */
  usage?: ReceiptUsage;
  /** The signed receipts of the LLM calls the agent made for it (checked with `verify`). */
  llmReceipts?: LlmCallReceipt[];
};

/** What is known once a streamed answer has ended (see VeilClient.invokeStream). */
export type InvokeEnd = {
  verified?: ReceiptCheck;
  usage?: ReceiptUsage;
  llmReceipts: LlmCallReceipt[];
  /** Headers sent after the body (the receipts of a streamed answer). */
  trailers: Record<string, string>;
};

/** An answer whose body is read as the agent produces it. */
export type InvokeStream = {
  status: number;
  headers: Record<string, string>;
  worker?: string;
  /** The agent answered with a stream: its body arrives as it is produced. */
  streamed: boolean;
  /**
   * The body's chunks as they arrive. If a limit or the agent cut the body, the iteration
   * throws the typed error (e.g. LIMIT_RESPONSE_TOO_LARGE, LIMIT_WALL_TIME_EXCEEDED, AGENT_THREW).
   */
  body: AsyncIterable<Uint8Array>;
  /** Reads what is left of the body, then checks its receipts (unless `verify: false`). */
  done(): Promise<InvokeEnd>;
};

/** A request from VeilClient: what a browser sends (`InvocationRequest`), and more. */
export type InvokeRequest = InvocationRequest & {
  /** Check the response's signed receipt up to the master key on chain (default: true). */
  verify?: boolean;
  /**
   * Sign the request as this caller (a secp256k1 private key): agents with an allowlist, a token
   * gate, a quota or a price need to know who calls (see crypto/caller.ts).
   */
  as?: Hex;
  /**
   * Signs the fee voucher a priced agent's worker quotes (ADR 0006). Default with `as`: the
   * caller's key signs for itself. Return undefined to decline paying.
   */
  pay?: (quote: FeeQuote) => Promise<VoucherHeader | undefined>;
  /** Whose fee channel this is, when `pay` is given (the SDK remembers one per agent and payer). */
  payerTag?: string;
  /**
   * The most this call may cost, in VeilToken base units: a worker's quote above it is refused
   * with `PRICE_ABOVE_MAXIMUM` before any voucher is signed (ADR 0020). Unset: the price the
   * chain shows now, whatever it is.
   */
  maxPrice?: bigint;
  /**
   * Whether the request may run twice without harm. Such a request (by default GET, HEAD and
   * OPTIONS) is sent again, with a fresh nonce, when the gateway answers that the worker that had
   * it went away (`WORKER_FAILED`) or that none could take it (`NO_WORKER_AVAILABLE`): the gateway
   * cannot send a signed request on itself, its nonce being spent. Any other gets the error, with
   * its hint. Paid calls are never sent again by the SDK.
   */
  idempotent?: boolean;
};

/** What invoking needs of the client. */
export type InvokeContext = {
  network: NetworkFile;
  gatewayUrl(): string;
  chain(): Promise<VeilChain>;
  /** The agent's certified keys (cached: see AgentIdentities). */
  identity(nameOrId: string): Promise<VerifiedAgentIdentity>;
  /** Code hashes already read from chain, by agent id. */
  versions: Map<string, Set<string>>;
  account(privateKey: Hex): Promise<PrivateKeyAccount>;
  fees: FeePayments;
};

/** Gateway answers after which an idempotent request is sent again, and the waits before each try. */
const RETRY_CODES = new Set(["WORKER_FAILED", "NO_WORKER_AVAILABLE"]);
const RETRY_WAITS_MS = [50, 250];

/**
 * Accounts of the keys callers sign with (`as`), by key: deriving one is a secp256k1
 * multiplication (~0.8 ms here), which a signed call would otherwise pay several times.
 *
 * @example
 * const accounts = new CallerAccounts();
 * const { address } = await accounts.get(callerKey);
 */
export class CallerAccounts {
  readonly #accounts = new Map<Hex, PrivateKeyAccount>();

  /** The key's account, derived once (64 kept at most). */
  async get(privateKey: Hex): Promise<PrivateKeyAccount> {
    let account = this.#accounts.get(privateKey);
    if (!account) {
      account = (await accountsModule()).privateKeyToAccount(privateKey);
      if (this.#accounts.size >= 64) this.#accounts.clear();
      this.#accounts.set(privateKey, account);
    }
    return account;
  }
}

/**
 * Invokes the agent and hands its body on as it arrives; a priced agent is paid (fees.ts), a
 * request that may run twice is sent again when its worker went away (`retrying`).
 *
 * @example
 * const answer = await invokeStreaming(context, "llm-relay", { path: "/chat", body: "{}" });
 * for await (const chunk of answer.body) process.stdout.write(chunk);
 * const { verified } = await answer.done();
 */
export async function invokeStreaming(
  context: InvokeContext,
  nameOrId: string,
  request: InvokeRequest,
): Promise<InvokeStream> {
  const pay = await context.fees.payerFor(request);
  if (!pay) return retrying(request, () => invokeOnce(context, nameOrId, request, undefined));
  return context.fees.paying(nameOrId, request, pay, (fee) => invokeOnce(context, nameOrId, request, fee));
}

/**
 * Reads an answer's whole body, then its end (receipts checked), into one result.
 *
 * @example
 * const { status, body, verified } = await readWhole(await invokeStreaming(context, "hello", {}));
 */
export async function readWhole(answer: InvokeStream): Promise<InvokeResult> {
  const parts: Uint8Array[] = [];
  for await (const chunk of answer.body) parts.push(chunk);
  const end = await answer.done();
  return {
    status: answer.status,
    headers: { ...answer.headers, ...end.trailers },
    body: new Uint8Array(Buffer.concat(parts)),
    ...(answer.worker || end.verified ? { worker: answer.worker ?? end.verified?.worker } : {}),
    ...(end.verified ? { verified: end.verified } : {}),
    ...(end.usage ? { usage: end.usage } : {}),
    ...(end.llmReceipts.length ? { llmReceipts: end.llmReceipts } : {}),
  };
}

/**
 * `send` tried again, after a short wait (50, then 250 ms), while it fails in a way a repeat may
 * get past (`WORKER_FAILED`, `NO_WORKER_AVAILABLE`), if the request may run twice (`idempotent`;
 * by default GET, HEAD and OPTIONS).
 *
 * @example
 * const answer = await retrying({ method: "GET" }, () => invokeOnce(context, "hello", { method: "GET" }, undefined));
 */
export async function retrying<T>(request: InvokeRequest, send: () => Promise<T>): Promise<T> {
  const method = (await coreModule()).requestMethod(request);
  const repeatable = request.idempotent ?? (method === "GET" || method === "HEAD" || method === "OPTIONS");
  for (let attempt = 0; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const wait = RETRY_WAITS_MS[attempt];
      if (!repeatable || wait === undefined || !(err instanceof VeilError) || !RETRY_CODES.has(err.code))
        throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Sends the request once (with `fee`'s voucher when given), plain or sealed (`encrypt`).
 *
 * @example
 * const answer = await invokeOnce(context, "hello", { path: "/greet", encrypt: true }, undefined);
 */
export async function invokeOnce(
  context: InvokeContext,
  nameOrId: string,
  request: InvokeRequest,
  fee: Payment | undefined,
): Promise<InvokeStream> {
  if (request.encrypt) return invokeSealed(context, nameOrId, request, fee);
  const core = await coreModule();
  const nonce = request.verify === false && !request.as ? undefined : core.newNonce();
  const sent = core.sentRequest(request, nonce);
  const callerHeaders: Record<string, string> = {};
  if (request.as && nonce) {
    const caller = await signCallerFor(context, request.as, nameOrId, sent);
    callerHeaders["x-veil-caller"] = caller.address;
    callerHeaders["x-veil-caller-signature"] = caller.signature;
    callerHeaders["x-veil-caller-time"] = String(caller.timestamp);
  }
  if (fee) {
    callerHeaders["x-veil-fee-voucher"] = (await feeVouchersModule()).encodeVoucher(fee.voucher);
    callerHeaders["x-veil-prefer-worker"] = fee.quote.worker;
  }
  const { requestStreaming } = await streamModule();
  const res = await requestStreaming(
    `${context.gatewayUrl()}/agents/${encodeURIComponent(nameOrId)}${sent.pathAndQuery}`,
    {
      method: sent.method,
      headers: {
        ...(request.headers ?? {}),
        ...(nonce ? { "x-veil-nonce": nonce } : {}),
        ...callerHeaders,
      },
      ...(request.body === undefined ? {} : { body: request.body }),
    },
  );
  const headers = res.headers;
  // Errors of Veil itself (not of the agent) carry a JSON body with a code; the agent's own
  // responses, whatever their status, come back as they are.
  if (
    (res.status < 200 || res.status > 299) &&
    !headers["x-veil-code-hash"] &&
    headers["content-type"]?.includes("application/json")
  ) {
    const parts: Uint8Array[] = [];
    for await (const c of res.chunks) parts.push(c);
    const { gatewayErrorOfBytes } = await import("./gateway.ts");
    throw withQuote(gatewayErrorOfBytes(new Uint8Array(Buffer.concat(parts)), res.status), headers);
  }
  const done = async (): Promise<InvokeEnd> => {
    const { trailers, bodyHash } = await res.ended();
    const all = { ...headers, ...trailers };
    if (!nonce || request.verify === false) return { llmReceipts: [], trailers };
    const { parseReceiptHeader } = await receiptsModule();
    const { verified, llmReceipts } = await core.checkAnswer(
      await context.chain(),
      await context.identity(nameOrId),
      parseReceiptHeader(all["x-veil-receipt"]),
      sent,
      { status: res.status, bodyHash, llmReceipts: all["x-veil-llm-receipts"] },
      context.versions,
    );
    return { verified, usage: verified.usage, llmReceipts, trailers };
  };
  return {
    status: res.status,
    headers,
    ...(headers["x-veil-worker"] ? { worker: headers["x-veil-worker"] } : {}),
    streamed: headers["x-veil-streamed"] === "1",
    body: res.chunks,
    done,
  };
}

/**
 * An end-to-end encrypted invocation: the gateway and worker hosts see only ciphertext. A
 * streamed answer comes sealed piece by piece (crypto/sealed-stream.ts), its receipts in the
 * sealed end frame; any other answer is one sealed envelope. Its receipts are checked whatever
 * the caller asked.
 */
async function invokeSealed(
  context: InvokeContext,
  nameOrId: string,
  request: InvokeRequest,
  fee: Payment | undefined,
): Promise<InvokeStream> {
  const identity = await context.identity(nameOrId);
  const chain = await context.chain();
  const core = await coreModule();
  const { requestStreaming } = await streamModule();
  const sent = core.sentRequest(request);
  // The voucher travels sealed: only the worker learns who pays.
  const voucher: [string, string][] = fee
    ? [["x-veil-fee-voucher", (await feeVouchersModule()).encodeVoucher(fee.voucher)]]
    : [];
  const { envelope, replyKey } = core.sealInvocation(identity, sent, {
    headers: [...Object.entries(request.headers ?? {}), ...voucher],
    ...(request.as ? { caller: await signCallerFor(context, request.as, identity.id.toString(), sent) } : {}),
  });
  const res = await requestStreaming(`${context.gatewayUrl()}/v1/agents/${identity.id}/encrypted`, {
    method: "POST",
    headers: {
      "content-type": "application/octet-stream",
      ...(fee ? { "x-veil-prefer-worker": fee.quote.worker } : {}),
    },
    body: envelope,
  });
  const answer = await core.openSealedAnswer(
    replyKey,
    identity.id,
    sent.nonce,
    { status: res.status, contentType: res.headers["content-type"], chunks: res.chunks },
    (err) => withQuote(err, res.headers),
  );
  return {
    status: answer.status,
    headers: answer.headers,
    streamed: answer.streamed,
    body: answer.body,
    done: async () => {
      const end = await answer.ended();
      const { verified, llmReceipts } = await core.checkAnswer(
        chain,
        identity,
        end.receipt,
        sent,
        { status: end.status, bodyHash: end.bodyHash, llmReceipts: end.llmReceipts },
        context.versions,
      );
      return { verified, usage: verified.usage, llmReceipts, trailers: {} };
    },
  };
}

/** Signs who calls over this exact request (see crypto/caller.ts). */
async function signCallerFor(
  context: InvokeContext,
  privateKey: Hex,
  nameOrId: string,
  sent: SentRequest,
): Promise<SignedCaller> {
  const { signCaller } = await callerModule();
  const { requestHash } = await invocationModule();
  const { address } = await context.account(privateKey);
  const agentId = /^\d+$/.test(nameOrId)
    ? BigInt(nameOrId)
    : await (await context.chain()).agentIdOf(nameOrId);
  return signCaller(
    privateKey,
    {
      chainId: context.network.chain.chainId,
      agentRegistry: context.network.chain.contracts.agentRegistry,
      agentId,
      requestHash: requestHash(sent.method, sent.pathAndQuery, sent.body),
      nonce: sent.nonce,
      timestamp: Math.floor(Date.now() / 1000),
    },
    address,
  );
}
