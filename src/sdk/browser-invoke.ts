import type { Hex } from "viem";
import type { LlmCallReceipt, Receipt } from "../chain/certificates.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import { gatewayErrorOfBytes } from "./gateway.ts";
import { resolveAgentId, type VerifiedAgentIdentity, verifyAgentIdentity } from "./identity.ts";
import {
  checkAnswer,
  fromBase64,
  type InvocationRequest,
  openSealedAnswer,
  sealInvocation,
  sentRequest,
  sha256Stream,
  streamCut,
} from "./invoke-core.ts";
import type { ConnectedNetwork } from "./network-view.ts";
import { parseReceiptHeader, type ReceiptCheck } from "./receipts.ts";

// Invoking an agent from a browser (the web console's playground): `fetch` and web streams
// only, no Node built-in. Node programs use VeilClient (invoke.ts, over node:http, which reads
// trailers); both build, seal and open requests and check receipts with invoke-core.ts. This is
// the transport for a platform that cannot read trailers (docs/adr/0025, "Receipts in the browser"):
//  - encrypted: the receipt travels sealed with the answer (the one envelope of a whole answer,
//    the sealed end frame of a streamed one), as for every caller;
//  - plain, whole answer: the receipt is a header (`x-veil-receipt`);
//  - plain, streamed answer: the receipt is a trailer, which a browser cannot read; the request
//    asks the gateway to keep it (`x-veil-keep-receipt: 1`) and the page picks it up by its
//    nonce (`GET /v1/receipts/NONCE`) once the body has ended.

/** A request from a browser: method, path, headers, body, and whether to seal it (`encrypt`). */
export type BrowserInvokeRequest = InvocationRequest;

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
  const id = await resolveAgentId(chain, nameOrId);
  const identity = await verifyAgentIdentity(chain, id);
  const sent = sentRequest(request);
  const { nonce } = sent;
  const check = async (
    receipt: Receipt | undefined,
    received: { status: number; bodyHash: Hex; llmReceipts?: string | unknown[] | undefined },
    carrier: ReceiptCarrier,
  ): Promise<CheckedReceipt> => {
    const { verified, llmReceipts } = await checkAnswer(chain, identity, receipt, sent, received);
    return { ...verified, carrier, identity, llmReceipts };
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
    const { envelope, replyKey } = sealInvocation(identity, sent, {
      headers: Object.entries(request.headers ?? {}),
    });
    const res = await send(`${gatewayUrl}/v1/agents/${id}/encrypted`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: envelope as Uint8Array<ArrayBuffer>,
    });
    const answer = await openSealedAnswer(replyKey, id, nonce, {
      status: res.status,
      contentType: res.headers.get("content-type") ?? undefined,
      chunks: chunksOf(res),
    });
    return {
      status: answer.status,
      headers: answer.headers,
      streamed: answer.streamed,
      encrypted: true,
      nonce,
      body: answer.body,
      done: async () => {
        const end = await answer.ended();
        return check(
          end.receipt,
          { status: end.status, bodyHash: end.bodyHash, llmReceipts: end.llmReceipts },
          "sealed",
        );
      },
    };
  }

  const res = await send(`${gatewayUrl}/agents/${encodeURIComponent(nameOrId)}${sent.pathAndQuery}`, {
    method: sent.method,
    headers: { ...(request.headers ?? {}), "x-veil-nonce": nonce, "x-veil-keep-receipt": "1" },
    ...(sent.body ? { body: sent.body as Uint8Array<ArrayBuffer> } : {}),
  });
  const headers = Object.fromEntries(res.headers.entries());
  // Errors of Veil itself (not of the agent) are JSON with a code; the agent's own answers,
  // whatever their status, come back as they are.
  if (
    (res.status < 200 || res.status > 299) &&
    !headers["x-veil-code-hash"] &&
    headers["content-type"]?.includes("application/json")
  ) {
    throw gatewayErrorOfBytes(new Uint8Array(await res.arrayBuffer()), res.status);
  }
  const streamed = headers["x-veil-streamed"] === "1";
  const hash = sha256Stream();
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
      const bodyHash = hash.digest();
      if (!streamed) {
        return check(
          parseReceiptHeader(headers["x-veil-receipt"]),
          { status: res.status, bodyHash, llmReceipts: headers["x-veil-llm-receipts"] },
          "header",
        );
      }
      const kept = await send(`${gatewayUrl}/v1/receipts/${nonce}`, {});
      if (!kept.ok) throw gatewayErrorOfBytes(new Uint8Array(await kept.arrayBuffer()), kept.status);
      const { trailers } = (await kept.json()) as { trailers: Record<string, string> };
      const error = trailers["x-veil-error"];
      if (error) {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(fromBase64(error)));
        } catch {
          json = undefined;
        }
        throw isVeilErrorJSON(json) ? VeilError.fromJSON(json, 502) : streamCut();
      }
      return check(
        parseReceiptHeader(trailers["x-veil-receipt"]),
        { status: res.status, bodyHash, llmReceipts: trailers["x-veil-llm-receipts"] },
        "pickup",
      );
    },
  };
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
        throw streamCut(err);
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
