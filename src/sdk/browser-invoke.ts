import { sha256 } from "@noble/hashes/sha2.js";
import type { Hex } from "viem";
import type { LlmCallReceipt, Receipt } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import { fromHex, randomBytes, toHex } from "../crypto/bytes.ts";
import { openResponse, sealRequest } from "../crypto/invocation.ts";
import { SealedStreamReader } from "../crypto/sealed-stream.ts";
import { generateX25519 } from "../crypto/sign.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import { type VerifiedAgentIdentity, verifyAgentIdentity } from "./identity.ts";
import type { ConnectedNetwork } from "./network-view.ts";
import { parseReceiptHeader, type ReceiptCheck, verifyLlmReceipts, verifyReceipt } from "./receipts.ts";

// Invoking an agent from a browser (the web console's playground): `fetch` and web streams
// only, no Node built-in. Node programs use VeilClient (client.ts, over node:http, which reads
// trailers); this is the same protocol for a platform that cannot read trailers (docs/adr/0025,
// "Receipts in the browser"):
//  - encrypted: the receipt travels sealed with the answer (the one envelope of a whole answer,
//    the sealed end frame of a streamed one), as for every caller;
//  - plain, whole answer: the receipt is a header (`x-veil-receipt`);
//  - plain, streamed answer: the receipt is a trailer, which a browser cannot read; the request
//    asks the gateway to keep it (`x-veil-keep-receipt: 1`) and the page picks it up by its
//    nonce (`GET /v1/receipts/NONCE`) once the body has ended.

export type BrowserInvokeRequest = {
  method?: string;
  /** The path and query the agent sees (default "/"). */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Seal the request to the agent's certified key here, and have the answer sealed to a one-time key of this page's. */
  encrypt?: boolean;
};

/** Where the receipt came from: sealed with the answer, a header, or the gateway's pickup. */
export type ReceiptCarrier = "sealed" | "header" | "pickup";

/** A receipt checked, and what it says: the worker, the code, what the call used. */
export type CheckedReceipt = ReceiptCheck & {
  carrier: ReceiptCarrier;
  /** The agent's certified key that signed it, and the chain of certificates it was checked up to. */
  identity: VerifiedAgentIdentity;
  llmReceipts: LlmCallReceipt[];
};

/** An answer whose body is read as it arrives; `done()` then checks its receipt. */
export type BrowserInvocation = {
  status: number;
  headers: Record<string, string>;
  /** The agent answered with a stream. */
  streamed: boolean;
  encrypted: boolean;
  /** The request's nonce, which the receipt must name. */
  nonce: Hex;
  /** The body's chunks as they arrive (opened here when encrypted); throws the typed error a cut body ended with. */
  body: AsyncGenerator<Uint8Array>;
  /** Reads what is left of the body, then checks the receipt up to the master key on chain. */
  done(): Promise<CheckedReceipt>;
};

type Fetch = typeof fetch;

/**
 * Invokes an agent through the gateway from a browser, plain or end-to-end encrypted, and hands
 * the body on as it arrives; `done()` checks the agent's signed receipt against what was sent
 * and read (the request's hash and nonce, the body's hash and status), the agent's certified
 * key (up to the master key on chain), a code hash the chain lists, and the serving worker's
 * standing on chain.
 *
 * @example
 * ```ts
 * const connected = await connectNetwork(location.origin);
 * const answer = await invokeAgent(connected, "hello", { path: "/greet", body: '{"name":"Ada"}', encrypt: true });
 * for await (const chunk of answer.body) console.log(new TextDecoder().decode(chunk));
 * const receipt = await answer.done();
 * console.log(receipt.worker, receipt.usage.cpuUs);
 * ```
 */
export async function invokeAgent(
  connected: Pick<ConnectedNetwork, "chain" | "gatewayUrl">,
  nameOrId: string,
  request: BrowserInvokeRequest,
  options: { fetch?: Fetch } = {},
): Promise<BrowserInvocation> {
  const { chain, gatewayUrl } = connected;
  const doFetch = options.fetch ?? fetch;
  const method = (request.method ?? (request.body === undefined ? "GET" : "POST")).toUpperCase();
  const pathAndQuery = normalizePath(request.path);
  const body = method === "GET" || method === "HEAD" ? null : toBytes(request.body);
  const id = await agentId(chain, nameOrId);
  const identity = await verifyAgentIdentity(chain, id);
  const nonce: Hex = `0x${toHex(randomBytes(32))}`;
  const sent = { method, pathAndQuery, body, nonce };
  const check = async (
    receipt: Receipt | undefined,
    received: { status: number; bodyHash: Hex; llmReceipts?: string | unknown[] | undefined },
    carrier: ReceiptCarrier,
  ): Promise<CheckedReceipt> => {
    const checked = await verifyReceipt(chain, identity, receipt, sent, received);
    const llmReceipts = await verifyLlmReceipts(chain, received.llmReceipts, {
      agentId: identity.id,
      worker: checked.worker,
    });
    return { ...checked, carrier, identity, llmReceipts };
  };
  const send = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, init);
    } catch (err) {
      throw new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${gatewayUrl} is not reachable`, {
        cause: err,
        retryable: true,
        hint: "Check that the network is running and that this page is served by its gateway.",
      });
    }
  };

  if (request.encrypt) {
    const reply = generateX25519();
    const envelope = sealRequest(fromHex(identity.encryptionKey), id, {
      method,
      path: pathAndQuery,
      headers: Object.entries(request.headers ?? {}),
      body: toBase64(body ?? new Uint8Array(0)),
      replyTo: toHex(reply.publicKey),
      nonce,
      timestamp: Math.floor(Date.now() / 1000),
      stream: true,
    });
    const res = await send(`${gatewayUrl}/v1/agents/${id}/encrypted`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: envelope as Uint8Array<ArrayBuffer>,
    });
    type End = { status: number; receipt: Receipt; llmReceipts?: unknown[]; error?: unknown };
    if (res.headers.get("content-type") !== "application/vnd.veil.sealed-stream") {
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) throw errorFrom(bytes, res.status);
      const answer = openResponse(reply.privateKey, id, nonce, bytes) as End & {
        headers: [string, string][];
        body: string;
      };
      const answerBody = fromBase64(answer.body);
      return {
        status: answer.status,
        headers: Object.fromEntries(answer.headers),
        streamed: false,
        encrypted: true,
        nonce,
        body: (async function* () {
          yield answerBody;
        })(),
        done: () =>
          check(
            answer.receipt,
            {
              status: answer.status,
              bodyHash: `0x${toHex(sha256(answerBody))}`,
              llmReceipts: answer.llmReceipts,
            },
            "sealed",
          ),
      };
    }
    // A sealed stream: its head (status and headers), chunks as the agent writes them, a sealed end.
    const reader = new SealedStreamReader(reply.privateKey, id, nonce);
    const upstream = chunksOf(res);
    const queue: ReturnType<typeof reader.push> = [];
    while (queue.length === 0) {
      const next = await upstream.next();
      if (next.done) reader.finish();
      else queue.push(...reader.push(next.value));
    }
    const head = queue.shift();
    if (head?.kind !== "head")
      throw new VeilError("SEALED_STREAM_INVALID", "The sealed answer has no head", {});
    const hash = sha256.create();
    let end: End | undefined;
    const chunks = (async function* () {
      for (;;) {
        for (let e = queue.shift(); e; e = queue.shift()) {
          if (e.kind === "chunk") {
            hash.update(e.bytes);
            if (e.bytes.length > 0) yield e.bytes;
          } else if (e.kind === "end") end = e.value as End;
        }
        const next = await upstream.next();
        if (next.done) break;
        queue.push(...reader.push(next.value));
      }
      reader.finish();
      if (end?.error !== undefined)
        throw isVeilErrorJSON(end.error) ? VeilError.fromJSON(end.error, 502) : cut();
    })();
    const ended = readToEnd(chunks);
    return {
      status: head.status,
      headers: Object.fromEntries(head.headers),
      streamed: true,
      encrypted: true,
      nonce,
      body: chunks,
      done: async () => {
        await ended();
        if (!end) throw cut();
        return check(
          end.receipt,
          { status: head.status, bodyHash: `0x${toHex(hash.digest())}`, llmReceipts: end.llmReceipts },
          "sealed",
        );
      },
    };
  }

  const res = await send(`${gatewayUrl}/agents/${encodeURIComponent(nameOrId)}${pathAndQuery}`, {
    method,
    headers: { ...(request.headers ?? {}), "x-veil-nonce": nonce, "x-veil-keep-receipt": "1" },
    ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
  });
  const headers = Object.fromEntries(res.headers.entries());
  // Errors of Veil itself (not of the agent) are JSON with a code; the agent's own answers,
  // whatever their status, come back as they are.
  if (
    (res.status < 200 || res.status > 299) &&
    !headers["x-veil-code-hash"] &&
    headers["content-type"]?.includes("application/json")
  ) {
    throw errorFrom(new Uint8Array(await res.arrayBuffer()), res.status);
  }
  const streamed = headers["x-veil-streamed"] === "1";
  const hash = sha256.create();
  const chunks = (async function* () {
    for await (const chunk of chunksOf(res)) {
      hash.update(chunk);
      yield chunk;
    }
  })();
  const ended = readToEnd(chunks);
  return {
    status: res.status,
    headers,
    streamed,
    encrypted: false,
    nonce,
    body: chunks,
    done: async () => {
      await ended();
      const bodyHash: Hex = `0x${toHex(hash.digest())}`;
      if (!streamed) {
        return check(
          parseReceiptHeader(headers["x-veil-receipt"]),
          { status: res.status, bodyHash, llmReceipts: headers["x-veil-llm-receipts"] },
          "header",
        );
      }
      const kept = await send(`${gatewayUrl}/v1/receipts/${nonce}`, {});
      if (!kept.ok) throw errorFrom(new Uint8Array(await kept.arrayBuffer()), kept.status);
      const { trailers } = (await kept.json()) as { trailers: Record<string, string> };
      const error = trailers["x-veil-error"];
      if (error) {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(fromBase64(error)));
        } catch {
          json = undefined;
        }
        throw isVeilErrorJSON(json) ? VeilError.fromJSON(json, 502) : cut();
      }
      return check(
        parseReceiptHeader(trailers["x-veil-receipt"]),
        { status: res.status, bodyHash, llmReceipts: trailers["x-veil-llm-receipts"] },
        "pickup",
      );
    },
  };
}

async function agentId(chain: VeilChain, nameOrId: string): Promise<bigint> {
  const id = /^\d{1,30}$/.test(nameOrId) ? BigInt(nameOrId) : await chain.agentIdOf(nameOrId);
  if (id === 0n) {
    throw new VeilError("AGENT_NOT_FOUND", `There is no agent "${nameOrId}"`, {
      hint: "Check the name, or deploy it with `veil deploy`.",
    });
  }
  return id;
}

/** The response body's chunks; a connection cut mid-body is `STREAM_CUT`. */
async function* chunksOf(res: Response): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        throw cut(err);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * `done()` may be called before, during or after the caller's own loop over the body: it reads
 * whatever is left, once, and fails as the body did.
 */
function readToEnd(chunks: AsyncGenerator<Uint8Array>): () => Promise<void> {
  let failure: unknown;
  let finished = false;
  const next = chunks.next.bind(chunks);
  chunks.next = async (...args) => {
    try {
      const r = await next(...args);
      if (r.done) finished = true;
      return r;
    } catch (err) {
      failure ??= err;
      throw err;
    }
  };
  return async () => {
    while (!finished && failure === undefined) await chunks.next();
    if (failure !== undefined) throw failure;
  };
}

const cut = (cause?: unknown) =>
  new VeilError("STREAM_CUT", "The answer was cut off before its end", {
    ...(cause ? { cause } : {}),
    retryable: true,
    hint: "The worker or the connection went away; send the request again.",
  });

function errorFrom(bytes: Uint8Array, status: number): VeilError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (isVeilErrorJSON(error)) return VeilError.fromJSON(error, status);
  return new VeilError("GATEWAY_ERROR", `The gateway answered ${status}`, { status });
}

/** The path and query as they travel (percent-encoded), which is what receipts hash. */
function normalizePath(path: string | undefined): string {
  const url = new URL(path ?? "/", "http://veil.invalid");
  return `${url.pathname}${url.search}`;
}

function toBytes(body: string | Uint8Array | undefined): Uint8Array | null {
  if (body === undefined) return null;
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
