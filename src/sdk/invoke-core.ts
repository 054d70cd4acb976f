import { sha256 } from "@noble/hashes/sha2.js";
import type { Hex } from "viem";
import type { LlmCallReceipt, Receipt } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import { concatBytes, fromHex, randomBytes, toHex } from "../crypto/bytes.ts";
import type { SignedCaller } from "../crypto/caller.ts";
import { openResponse, responseHash, sealRequest } from "../crypto/invocation.ts";
import { NodeBuffer, nodeCrypto } from "../crypto/platform.ts";
import { SealedStreamReader } from "../crypto/sealed-stream.ts";
import { generateX25519 } from "../crypto/sign.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import { gatewayErrorOfBytes } from "./gateway.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";
import { type ReceiptCheck, verifyLlmReceipts, verifyReceipt } from "./receipts.ts";

// The invocation protocol without its transport, shared by VeilClient (invoke.ts, over
// node:http) and the browser's invokeAgent (browser-invoke.ts, over fetch): what a request is
// as its receipt hashes it, sealing it to the agent's key, opening a sealed answer (one
// envelope, or a sealed stream piece by piece) and checking an answer's receipts. Web APIs,
// viem and @noble only (node:crypto when it runs in Node, through crypto/platform.ts).

/** A request as its receipt covers it: method, path and query as they travel, body, nonce. */
export type SentRequest = { method: string; pathAndQuery: string; body: Uint8Array | null; nonce: Hex };

/** A request to an agent as its caller gives it, in Node (InvokeRequest) and in a browser alike. */
export type InvocationRequest = {
  /** Default: GET without a body, POST with one. */
  method?: string;
  /** The path and query the agent sees (default "/"). */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Seal the request to the agent's certified key, and have the answer sealed to a one-time key of the caller's. */
  encrypt?: boolean;
};

/** The fields of a request that `sentRequest` reads. */
type RequestShape = Pick<InvocationRequest, "method" | "path" | "body">;

/**
 * The request's method: as given, else GET without a body and POST with one.
 *
 * @example
 * requestMethod({ body: "{}" }); // "POST"
 */
export function requestMethod(request: RequestShape): string {
  return (request.method ?? (request.body === undefined ? "GET" : "POST")).toUpperCase();
}

/**
 * The path and query as they travel (percent-encoded), which is what receipts hash.
 *
 * @example
 * normalizePath("/a b?x=1"); // "/a%20b?x=1"
 */
export function normalizePath(path: string | undefined): string {
  const url = new URL(path ?? "/", "http://veil.invalid");
  return `${url.pathname}${url.search}`;
}

/**
 * A body as bytes (a string as UTF-8); null without one.
 *
 * @example
 * toBytes("hi"); // Uint8Array [104, 105]
 */
export function toBytes(body: string | Uint8Array | undefined): Uint8Array | null {
  if (body === undefined) return null;
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

/**
 * A fresh 32-byte nonce, which the answer's receipt must name.
 *
 * @example
 * const nonce = newNonce(); // "0x5f…"
 */
export function newNonce(): Hex {
  return `0x${toHex(randomBytes(32))}`;
}

/**
 * The request as its receipt will cover it, with a fresh nonce (GET and HEAD carry no body).
 *
 * @example
 * const sent = sentRequest({ path: "/greet", body: '{"name":"Ada"}' });
 * // { method: "POST", pathAndQuery: "/greet", body: Uint8Array, nonce: "0x…" }
 */
export function sentRequest(request: RequestShape, nonce: Hex = newNonce()): SentRequest {
  const method = requestMethod(request);
  return {
    method,
    pathAndQuery: normalizePath(request.path),
    body: method === "GET" || method === "HEAD" ? null : toBytes(request.body),
    nonce,
  };
}

/**
 * Seals a request to the agent's certified key, asking for the answer sealed (as a sealed
 * stream when streamed) to a one-time X25519 key, whose private half is `replyKey`.
 *
 * @example
 * const sent = sentRequest({ path: "/greet" });
 * const { envelope, replyKey } = sealInvocation(identity, sent, { headers: [] });
 * await fetch(`${gatewayUrl}/v1/agents/${identity.id}/encrypted`, { method: "POST", body: envelope });
 */
export function sealInvocation(
  identity: Pick<VerifiedAgentIdentity, "id" | "encryptionKey">,
  sent: SentRequest,
  options: { headers: [string, string][]; caller?: SignedCaller },
): { envelope: Uint8Array; replyKey: Uint8Array } {
  const reply = generateX25519();
  const envelope = sealRequest(fromHex(identity.encryptionKey), identity.id, {
    method: sent.method,
    path: sent.pathAndQuery,
    headers: options.headers,
    body: toBase64(sent.body ?? new Uint8Array(0)),
    replyTo: toHex(reply.publicKey),
    nonce: sent.nonce,
    timestamp: Math.floor(Date.now() / 1000),
    stream: true,
    ...(options.caller ? { caller: options.caller } : {}),
  });
  return { envelope, replyKey: reply.privateKey };
}

/** What a sealed answer ends with: its receipts, and the hash of the body as read. */
export type SealedEnd = {
  status: number;
  receipt: Receipt | undefined;
  llmReceipts?: unknown[];
  bodyHash: Hex;
};

/** A sealed answer being opened: head known, body opened as it arrives. */
export type OpenedAnswer = {
  status: number;
  headers: Record<string, string>;
  streamed: boolean;
  /** The opened body's chunks; throws the typed error a cut body ended with. */
  body: AsyncGenerator<Uint8Array>;
  /** Reads what is left of the body, then gives its end (`STREAM_ABANDONED` if it was left unread). */
  ended(): Promise<SealedEnd>;
};

type EndFrame = { status: number; receipt: Receipt | undefined; llmReceipts?: unknown[]; error?: unknown };

/**
 * Opens the gateway's answer to a sealed request: one sealed envelope (a whole answer), or a
 * sealed stream (`application/vnd.veil.sealed-stream`: head, chunks as the agent writes them,
 * sealed end). Any other answer is the gateway's error, passed through `refine` (which may add
 * what the transport's headers carry) before it is thrown.
 *
 * @example
 * const answer = await openSealedAnswer(replyKey, identity.id, sent.nonce, {
 *   status: res.status,
 *   contentType: res.headers.get("content-type") ?? undefined,
 *   chunks: chunksOf(res),
 * });
 * for await (const chunk of answer.body) console.log(chunk.length);
 * const { receipt, bodyHash } = await answer.ended();
 */
export async function openSealedAnswer(
  replyKey: Uint8Array,
  agentId: bigint,
  nonce: Hex,
  res: { status: number; contentType: string | undefined; chunks: AsyncGenerator<Uint8Array> },
  refine: (err: VeilError) => VeilError = (err) => err,
): Promise<OpenedAnswer> {
  const upstream = res.chunks;
  if (res.contentType !== "application/vnd.veil.sealed-stream") {
    const parts: Uint8Array[] = [];
    for await (const c of upstream) parts.push(c);
    const bytes = concatBytes(...parts);
    if (res.status !== 200) throw refine(gatewayErrorOfBytes(bytes, res.status));
    const answer = openResponse(replyKey, agentId, nonce, bytes) as EndFrame & {
      headers: [string, string][];
      body: string;
    };
    const body = fromBase64(answer.body);
    return {
      status: answer.status,
      headers: Object.fromEntries(answer.headers),
      streamed: false,
      body: (async function* () {
        yield body;
      })(),
      ended: async () => ({
        status: answer.status,
        receipt: answer.receipt,
        ...(answer.llmReceipts ? { llmReceipts: answer.llmReceipts } : {}),
        bodyHash: responseHash(body),
      }),
    };
  }
  // A sealed stream: its head (status and headers) first, then chunks as the agent writes them.
  const reader = new SealedStreamReader(replyKey, agentId, nonce);
  const queue: ReturnType<typeof reader.push> = [];
  while (queue.length === 0) {
    const next = await upstream.next();
    if (next.done) reader.finish();
    else queue.push(...reader.push(next.value));
  }
  const head = queue.shift();
  if (head?.kind !== "head")
    throw new VeilError("SEALED_STREAM_INVALID", "The sealed answer has no head", {});
  const hash = sha256Stream();
  let end: EndFrame | undefined;
  let failure: unknown;
  let finished = false;
  const chunks = (async function* () {
    try {
      for (;;) {
        for (let e = queue.shift(); e; e = queue.shift()) {
          if (e.kind === "chunk") {
            hash.update(e.bytes);
            if (e.bytes.length > 0) yield e.bytes;
          } else if (e.kind === "end") end = e.value as EndFrame;
        }
        const next = await upstream.next();
        if (next.done) break;
        queue.push(...reader.push(next.value));
      }
      reader.finish();
      if (end?.error !== undefined)
        throw isVeilErrorJSON(end.error) ? VeilError.fromJSON(end.error, 502) : streamCut();
      finished = true;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      if (!finished && !failure) await upstream.return(undefined);
    }
  })();
  return {
    status: head.status,
    headers: Object.fromEntries(head.headers),
    streamed: true,
    body: chunks,
    ended: async () => {
      if (!finished && !failure) {
        for await (const _ of chunks) {
        }
      }
      if (failure) throw failure;
      if (!finished || !end) throw streamAbandoned();
      return {
        status: head.status,
        receipt: end.receipt,
        ...(end.llmReceipts ? { llmReceipts: end.llmReceipts } : {}),
        bodyHash: hash.digest(),
      };
    },
  };
}

/** An answer's receipts as checked: the agent's, and those of the LLM calls it made. */
export type CheckedAnswer = { verified: ReceiptCheck; llmReceipts: LlmCallReceipt[] };

/**
 * Checks an answer's receipt against what was sent and read (`verifyReceipt`: the agent's
 * certified key, a code hash the chain lists, the serving worker's standing), then its LLM
 * receipts, each of which must be that worker's (`verifyLlmReceipts`, ADR 0020).
 *
 * @example
 * const { verified, llmReceipts } = await checkAnswer(chain, identity, receipt, sent, {
 *   status: 200,
 *   bodyHash,
 *   llmReceipts: headers["x-veil-llm-receipts"],
 * });
 */
export async function checkAnswer(
  chain: VeilChain,
  identity: VerifiedAgentIdentity,
  receipt: Receipt | undefined,
  sent: SentRequest,
  received: { status: number; bodyHash: Hex; llmReceipts?: string | unknown[] | undefined },
  versionsCache?: Map<string, Set<string>>,
): Promise<CheckedAnswer> {
  const verified = await verifyReceipt(chain, identity, receipt, sent, received, versionsCache);
  const llmReceipts = await verifyLlmReceipts(chain, received.llmReceipts, {
    agentId: identity.id,
    worker: verified.worker,
  });
  return { verified, llmReceipts };
}

/**
 * A sha256 fed as bytes arrive (node:crypto in Node, @noble elsewhere).
 *
 * @example
 * const hash = sha256Stream();
 * hash.update(new Uint8Array([1, 2]));
 * const hex = hash.digest(); // "0x…"
 */
export function sha256Stream(): { update(bytes: Uint8Array): void; digest(): Hex } {
  if (nodeCrypto) {
    const hash = nodeCrypto.createHash("sha256");
    return { update: (bytes) => void hash.update(bytes), digest: () => `0x${hash.digest("hex")}` };
  }
  const hash = sha256.create();
  return { update: (bytes) => void hash.update(bytes), digest: () => `0x${toHex(hash.digest())}` };
}

/**
 * The error of an answer cut off before its end (retryable).
 *
 * @example
 * throw streamCut(err);
 */
export function streamCut(cause?: unknown): VeilError {
  return new VeilError("STREAM_CUT", "The answer was cut off before its end", {
    ...(cause ? { cause } : {}),
    retryable: true,
    hint: "The worker or the connection went away; send the request again.",
  });
}

function streamAbandoned(): VeilError {
  return new VeilError("STREAM_ABANDONED", "The body was not read to its end", {
    hint: "Read the body to its end before asking for its receipts.",
  });
}

/**
 * Bytes as base64 (Buffer in Node, `btoa` elsewhere).
 *
 * @example
 * toBase64(new Uint8Array([1, 2, 3])); // "AQID"
 */
export function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Base64 as bytes (Buffer in Node, `atob` elsewhere).
 *
 * @example
 * fromBase64("AQID"); // Uint8Array [1, 2, 3]
 */
export function fromBase64(text: string): Uint8Array {
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(text, "base64"));
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
