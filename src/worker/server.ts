import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Hex } from "viem";
import { llmReceiptsHash, type Receipt, receiptDigest } from "../chain/certificates.ts";
import {
  openRequest,
  requestHash,
  responseHash,
  type SealedRequestBody,
  SealedStreamWriter,
  sealResponse,
} from "../crypto/index.ts";
import {
  answerClientErrors,
  type DaemonListener,
  type DaemonRequest,
  type DaemonResponse,
  drained,
  MAX_HEADER_BYTES,
  readBody,
  sendError,
  sendJson,
  splitTarget,
} from "../daemon/http.ts";
import { LinkAuthenticator } from "../daemon/link-auth.ts";
import { serveLinks } from "../daemon/link-server.ts";
import { VeilError } from "../errors/index.ts";
import type { LlmReceipt } from "../sandbox/host-llm.ts";
import type { InvocationUsage, SandboxStream, SandboxStreamEnd } from "../sandbox/types.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { LogStore } from "../storage/log-store.ts";
import type { Evidence } from "../tee/index.ts";
import { type AgentCalls, CALL_HEADER } from "./agent-calls.ts";
import type { AgentState, AgentTable } from "./agents.ts";
import { decodeVoucher, FeeQuoteError, type FeeStats, QUOTE_HEADER, VOUCHER_HEADER } from "./fees.ts";
import type { QuotaHomes } from "./quota-home.ts";
import type { UsageMeter } from "./usage.ts";

/** Headers that describe one hop, not the message; they are not passed to or from agents. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

export type WorkerServerOptions = {
  agents: AgentTable;
  isReady: () => boolean;
  info: () => Record<string, unknown>;
  maxRequestBytes: number;
  /** What receipts name besides the agent: the chain, the registry, and this worker. */
  receipts?: { chainId: number; agentRegistry: Hex; worker: Hex };
  /** Agents' sealed log batches (only their owners can open them; anyone may fetch them). */
  logs?: LogStore;
  /** The bundles this worker holds, served to peers at GET /v1/bundles/HASH. */
  bundles?: BlobStore;
  /** This worker's current attestation evidence, for callers who verify it (`veil verify`). */
  attestation?: () => Evidence | undefined;
  /** Verifies calls from other agents (ctx.agents.call; see agent-calls.ts). */
  calls?: AgentCalls;
  /** Quota counts this worker holds as the home of (agent, caller) pairs (POST /v1/quota). */
  quotas?: QuotaHomes;
  /** Gateways that may open the link to this worker (their link-key addresses; docs/adr/0018). */
  linkPeers?: readonly string[];
  /** This worker's fees: pending and claimed (GET /v1/fees, for `veil worker status`). */
  fees?: () => Promise<FeeStats & { lastSettlement?: Record<string, unknown> }>;
  /** Each agent's admitted calls and fees over time (GET /v1/agents/:id/usage, for the console). */
  usage?: UsageMeter;
};

/**
 * The worker's HTTP face. `/v1/agents/:idOrName/invoke/<path>` runs the agent with a
 * web-standard Request for `<path>`; `/v1/agents/:idOrName` and `/v1/health` report status.
 */
export function createWorkerServer(
  options: WorkerServerOptions,
  listener: DaemonListener = workerListener(options),
): Server {
  const server = answerClientErrors(createServer({ maxHeaderSize: MAX_HEADER_BYTES }, listener));
  // The gateway's requests come over its link (docs/adr/0015), to the same handler.
  serveLinks(server, listener, {
    maxRequestBytes: options.maxRequestBytes + 4096,
    authenticator: new LinkAuthenticator(options.receipts?.worker ?? "", options.linkPeers ?? []),
  });
  return server;
}

/**
 * The worker's request handler, the one its HTTP server and links call; a gateway in the
 * worker's process calls it directly (docs/adr/0016).
 */
export function workerListener(options: WorkerServerOptions): DaemonListener {
  return (req, res) => {
    handle(req, res, options).catch((err) => {
      // A payer asked for a voucher gets the exact one to sign (fees.ts).
      if (err instanceof FeeQuoteError && !res.headersSent)
        res.setHeader(QUOTE_HEADER, Buffer.from(JSON.stringify(err.quote)).toString("base64"));
      sendError(res, err);
    });
  };
}

async function handle(req: DaemonRequest, res: DaemonResponse, options: WorkerServerOptions): Promise<void> {
  const url = splitTarget(req.url ?? "/");
  const parts = url.pathname.split("/");
  // Public facts anyone may check, readable from any origin: `verifyAgent` runs in browsers too
  // (the web console, served by the gateway, asks each worker directly; docs/adr/0025).
  if (
    req.method === "GET" &&
    (url.pathname === "/v1/health" ||
      url.pathname === "/v1/attestation" ||
      (parts[1] === "v1" && parts[2] === "agents" && parts.length === 4) ||
      // An agent's logs are sealed to its owner (anyone may fetch the ciphertext); its call
      // counts are public on chain anyway once settled (FeesClaimed). The owner's page reads both.
      (parts[1] === "v1" &&
        parts[2] === "agents" &&
        parts.length === 5 &&
        (parts[4] === "logs" || parts[4] === "usage")))
  )
    res.setHeader("access-control-allow-origin", "*");
  if (url.pathname === "/v1/health") {
    sendJson(res, 200, { ready: options.isReady(), ...options.info(), agents: options.agents.list() });
    return;
  }
  if (url.pathname === "/v1/attestation" && req.method === "GET") {
    const evidence = options.attestation?.();
    if (!evidence) {
      throw new VeilError("WORKER_NOT_ATTESTED", "This worker has not attested yet", {
        status: 503,
        retryable: true,
      });
    }
    sendJson(res, 200, {
      ...options.info(),
      evidence: { tee: evidence.tee, bytes: Buffer.from(evidence.bytes).toString("base64") },
    });
    return;
  }
  if (url.pathname === "/v1/quota" && req.method === "POST" && options.quotas) {
    const raw = await readBody(req, 4096);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(raw).toString("utf8"));
    } catch {
      throw new VeilError("BAD_REQUEST", "The quota request is not JSON", { status: 400 });
    }
    sendJson(res, 200, await options.quotas.handle(body));
    return;
  }
  if (url.pathname === "/v1/fees" && req.method === "GET" && options.fees) {
    sendJson(res, 200, await options.fees());
    return;
  }
  if (
    parts[1] === "v1" &&
    parts[2] === "bundles" &&
    parts.length === 4 &&
    req.method === "GET" &&
    options.bundles
  ) {
    // The bundles this worker holds, for peers that lack one (by hash; checked by the fetcher).
    const hash = parts[3] ?? "";
    if (!/^0x[0-9a-f]{64}$/.test(hash) || !(await options.bundles.has(hash as Hex))) {
      throw new VeilError("BLOB_NOT_FOUND", `No bundle ${hash} on this worker`, { status: 404 });
    }
    const bytes = await options.bundles.get(hash as Hex);
    res.writeHead(200, {
      "content-type": "application/javascript",
      "content-length": String(bytes.byteLength),
    });
    res.end(bytes);
    return;
  }
  if (parts[1] !== "v1" || parts[2] !== "agents" || !parts[3]) {
    throw new VeilError("NOT_FOUND", `No route ${req.method} ${url.pathname}`, { status: 404 });
  }
  const idOrName = decodeURIComponent(parts[3]);
  const state = options.agents.get(idOrName);
  if (parts.length === 4 && req.method === "GET") {
    if (!state) throw notServed(idOrName);
    sendJson(res, 200, {
      id: state.record.id.toString(),
      name: state.record.name,
      codeHash: state.record.codeHash,
      status: state.status,
      ...(state.status === "failed" ? { error: state.error.toJSON() } : {}),
    });
    return;
  }
  if (parts[4] === "logs" && parts.length === 5 && req.method === "GET") {
    if (!state) throw notServed(idOrName);
    const query = new URLSearchParams(url.search);
    const after = Number(query.get("after") ?? "0");
    const limit = Number(query.get("limit") ?? "500");
    if (
      !Number.isSafeInteger(after) ||
      after < 0 ||
      !Number.isSafeInteger(limit) ||
      limit < 1 ||
      limit > 1000
    ) {
      throw new VeilError("BAD_REQUEST", "after must be a sequence number, limit 1–1000", { status: 400 });
    }
    const entries = (await options.logs?.after(state.record.id.toString(), after, limit)) ?? [];
    sendJson(res, 200, {
      entries: entries.map((e) => ({ ...e, sealed: Buffer.from(e.sealed).toString("base64") })),
    });
    return;
  }
  if (parts[4] === "usage" && parts.length === 5 && req.method === "GET") {
    if (!state) throw notServed(idOrName);
    sendJson(
      res,
      200,
      options.usage?.report(state.record.id) ?? {
        agent: state.record.id.toString(),
        bucketMs: 0,
        total: { requests: 0, fees: "0", since: 0 },
        buckets: [],
      },
    );
    return;
  }
  const encrypted = parts[4] === "encrypted" && parts.length === 5 && req.method === "POST";
  if (parts[4] !== "invoke" && !encrypted) {
    throw new VeilError("NOT_FOUND", `No route ${req.method} ${url.pathname}`, { status: 404 });
  }
  if (!options.isReady()) {
    throw new VeilError("WORKER_NOT_READY", "This worker is still starting (its keys, the agents on chain)", {
      status: 503,
      retryable: true,
    });
  }
  if (!state) throw notServed(idOrName);
  if (state.status === "loading") {
    throw new VeilError("AGENT_NOT_READY", `Agent ${idOrName} is still loading on this worker`, {
      status: 503,
      retryable: true,
      hint: "Retry in a moment.",
    });
  }
  if (state.status === "failed") throw state.error;
  if (encrypted) {
    await handleEncrypted(req, res, state, options);
    return;
  }

  const pathAndQuery = `/${parts.slice(5).join("/")}${url.search}`;
  const headers: [string, string][] = [];
  let nonce: Hex | undefined;
  const signed: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (name === "x-veil-nonce" && /^0x[0-9a-fA-F]{64}$/.test(req.rawHeaders[i + 1]!))
      nonce = req.rawHeaders[i + 1] as Hex;
    if (name.startsWith("x-veil-caller") || name === VOUCHER_HEADER) signed[name] = req.rawHeaders[i + 1]!;
    if (!HOP_BY_HOP.has(name) && !name.startsWith("x-veil-")) headers.push([name, req.rawHeaders[i + 1]!]);
  }
  const method = (req.method ?? "GET").toUpperCase();
  const body =
    method === "GET" || method === "HEAD"
      ? null
      : await readBody(req, Math.min(options.maxRequestBytes, state.limits.maxRequestBytes));
  // The caller's signature and the receipts are both over this hash: made once, when needed.
  let hashed: Hex | undefined;
  const hashOfRequest = () => {
    hashed ??= requestHash(method, pathAndQuery, body);
    return hashed;
  };
  // Who calls (signed over this request), then the agent's policy on chain: before any code runs.
  const caller =
    signed["x-veil-caller"] !== undefined
      ? await options.agents.policies.verifyCaller(state.record.id, hashOfRequest(), nonce, {
          address: signed["x-veil-caller"] as Hex,
          signature: (signed["x-veil-caller-signature"] ?? "") as Hex,
          timestamp: Number(signed["x-veil-caller-time"]),
        })
      : undefined;
  const admitted = await options.agents.policies.admit(state.record, caller, {
    ...(signed[VOUCHER_HEADER] ? { voucher: decodeVoucher(signed[VOUCHER_HEADER]) } : {}),
    ...(state.identity ? { agentKey: state.identity.account } : {}),
  });
  options.usage?.record(state.record.id, admitted.price);
  const response = await state.sandbox.invoke({
    method,
    url: `https://${state.record.name}.agents.veil${pathAndQuery}`,
    headers,
    body,
    // A signed caller keeps module state of its own; unsigned callers are the public (ADR 0009).
    ...(caller ? { caller: `signer:${caller.address.toLowerCase()}` } : {}),
    acceptStream: method !== "HEAD",
  });
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of response.headers) {
    if (HOP_BY_HOP.has(k)) continue;
    const prev = out[k];
    // Set-Cookie lines cannot be joined with commas (RFC 6265): each goes out on its own.
    if (k === "set-cookie") out[k] = [...(prev === undefined ? [] : [prev].flat()), v];
    else out[k] = prev === undefined ? v : `${prev}, ${v}`;
  }
  out["x-veil-agent-id"] = state.record.id.toString();
  out["x-veil-code-hash"] = state.record.codeHash;
  // Hashes are for receipts, made only when the caller sent a nonce (endHeaders).
  const inputHash = nonce ? hashOfRequest() : UNHASHED;
  if (response.stream) {
    await sendStreamed(res, response.stream, out, response.status, (end, outputHash) =>
      endHeaders(state, options, { inputHash, nonce, status: response.status, outputHash, ...end }),
    );
    return;
  }
  Object.assign(
    out,
    await endHeaders(state, options, {
      inputHash,
      nonce,
      status: response.status,
      outputHash: nonce ? responseHash(response.body) : UNHASHED,
      usage: response.usage,
      llmReceipts: response.llmReceipts ?? [],
    }),
  );
  out["content-length"] = String(response.body.byteLength);
  res.writeHead(response.status, out);
  res.end(method === "HEAD" ? undefined : response.body);
}

/** Stands for a hash no receipt will carry (an invocation without a nonce gets none). */
const UNHASHED: Hex = "0x";

/** What is known once the body has ended; a streamed response sends it as HTTP trailers. */
const END_HEADERS = ["x-veil-receipt", "x-veil-usage", "x-veil-llm-receipts", "x-veil-error"];

/**
 * The receipt (the agent's signature over request, response, this worker and what the
 * invocation used here; chain/certificates.ts) and the LLM calls' receipts, as headers.
 */
async function endHeaders(
  state: ReadyState,
  options: WorkerServerOptions,
  end: {
    inputHash: Hex;
    nonce: Hex | undefined;
    status: number;
    outputHash: Hex;
    usage: InvocationUsage;
    llmReceipts: LlmReceipt[];
  },
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { nonce } = end;
  // A receipt costs a secp256k1 signature (~0.4 ms of this core), so it is made when the caller
  // asks for one by sending a nonce, as the SDK and CLI do by default (docs/adr/0005).
  const receipt = nonce
    ? await signReceipt(state, options, {
        inputHash: end.inputHash,
        outputHash: end.outputHash,
        status: end.status,
        nonce,
        usage: end.usage,
        llmReceipts: end.llmReceipts,
      })
    : undefined;
  if (receipt) out["x-veil-receipt"] = Buffer.from(JSON.stringify(receipt)).toString("base64");
  out["x-veil-usage"] = JSON.stringify(end.usage);
  if (end.llmReceipts.length) {
    // Each LLM call the agent made, signed by this worker (provider, model, request/response hashes).
    out["x-veil-llm-receipts"] = Buffer.from(JSON.stringify(end.llmReceipts)).toString("base64");
  }
  return out;
}

/**
 * Passes a body on as the agent produces it (chunked), then sends what is known only at its
 * end as trailers: the receipts over the whole body and, if a limit or the agent cut it, the
 * error (`x-veil-error`, base64 JSON of the Veil error). A caller that goes away stops the agent.
 */
async function sendStreamed(
  res: DaemonResponse,
  stream: SandboxStream,
  headers: Record<string, string | string[]>,
  status: number,
  end: (
    e: { usage: InvocationUsage; llmReceipts: LlmReceipt[] },
    outputHash: Hex,
  ) => Promise<Record<string, string>>,
): Promise<void> {
  res.writeHead(status, { ...headers, "x-veil-streamed": "1", trailer: END_HEADERS.join(", ") });
  res.flushHeaders();
  const pumped = await pump(res, stream, (chunk) => chunk);
  if (!pumped) return;
  const trailers = await end(pumped.finished, pumped.outputHash);
  const error = streamError(pumped.finished);
  if (error) trailers["x-veil-error"] = Buffer.from(JSON.stringify(error.toJSON())).toString("base64");
  res.addTrailers(trailers);
  res.end();
}

/**
 * Writes the agent's chunks as they come (each through `frame`), waiting for a slow reader, and
 * hashes the plain body for the receipts. A caller that goes away cancels the agent's stream;
 * then there is nothing more to send (undefined).
 */
async function pump(
  res: DaemonResponse,
  stream: SandboxStream,
  frame: (chunk: Uint8Array) => Uint8Array,
): Promise<{ finished: SandboxStreamEnd; outputHash: Hex } | undefined> {
  let gone = false;
  res.once("close", () => {
    if (!res.writableFinished) {
      gone = true;
      stream.cancel();
    }
  });
  const hash = createHash("sha256");
  try {
    for await (const chunk of stream.chunks) {
      // The caller may have gone before the close listener was set.
      if (gone || res.destroyed) {
        gone = true;
        stream.cancel();
        break;
      }
      hash.update(chunk);
      if (!res.write(frame(chunk))) await drained(res);
    }
  } catch {
    // The same error comes with `finished`, sent at the end by the caller.
  }
  const finished = await stream.finished;
  if (gone) return undefined;
  return { finished, outputHash: `0x${hash.digest("hex")}` };
}

/** Why a stream ended early, as the Veil error the caller is told. */
function streamError(finished: SandboxStreamEnd): VeilError | undefined {
  if (finished.error === undefined) return undefined;
  return finished.error instanceof VeilError
    ? finished.error
    : new VeilError("AGENT_CRASHED", "The agent's stream failed", { status: 502 });
}

type ReadyState = Extract<AgentState, { status: "ready" }>;

/**
 * The agent signs what it did, where, and what it used there (one EIP-712 `Receipt`; ADR 0021);
 * without keys (no keyring yet) there is no receipt.
 */
async function signReceipt(
  state: ReadyState,
  options: WorkerServerOptions,
  fields: Pick<Receipt, "inputHash" | "outputHash" | "status" | "nonce"> & {
    usage: InvocationUsage;
    llmReceipts: readonly LlmReceipt[] | undefined;
  },
): Promise<Receipt | undefined> {
  const identity = state.identity;
  if (!identity || !options.receipts) return undefined;
  const { usage, llmReceipts, ...invocation } = fields;
  const unsigned = {
    agentId: state.record.id.toString(),
    codeHash: state.record.codeHash,
    worker: options.receipts.worker,
    epoch: identity.epoch.toString(),
    ...invocation,
    cpuUs: usage.cpuUs,
    wallUs: usage.wallUs,
    heapBytes: usage.heapBytes,
    egressBytes: usage.egressBytes,
    stateBytes: usage.stateBytes,
    llmPromptTokens: usage.llmPromptTokens,
    llmCompletionTokens: usage.llmCompletionTokens,
    // The invocation's LLM receipts are named here, so they cannot be swapped for another call's.
    llmReceipts: llmReceiptsHash(llmReceipts ?? []),
  };
  const signature = await identity.account.sign({
    hash: receiptDigest({
      chainId: options.receipts.chainId,
      agentRegistry: options.receipts.agentRegistry,
      ...unsigned,
    }),
  });
  return { ...unsigned, signature };
}

/** Nonces of encrypted requests seen lately: a replayed request is refused. */

/**
 * An end-to-end encrypted invocation: the body is a request sealed to the agent's key; the
 * answer is sealed to the caller's one-time key. What crosses the gateway and this host's
 * network stack is ciphertext.
 */
async function handleEncrypted(
  req: DaemonRequest,
  res: DaemonResponse,
  state: ReadyState,
  options: WorkerServerOptions,
): Promise<void> {
  const identity = state.identity;
  if (!identity)
    throw new VeilError("AGENT_KEYS_MISSING", "This agent has no keys on this worker yet", {
      status: 503,
      retryable: true,
    });
  const envelope = await readBody(
    req,
    Math.min(options.maxRequestBytes, state.limits.maxRequestBytes) + 4096,
  );
  let sealed: SealedRequestBody;
  try {
    sealed = openRequest(identity.keys.encryption.privateKey, state.record.id, envelope);
  } catch (err) {
    if (err instanceof VeilError) throw err;
    throw new VeilError("ENVELOPE_MALFORMED", "The encrypted request is not a request", { status: 400 });
  }
  if (
    typeof sealed?.method !== "string" ||
    typeof sealed.path !== "string" ||
    !sealed.path.startsWith("/") ||
    typeof sealed.body !== "string" ||
    typeof sealed.replyTo !== "string" ||
    !/^[0-9a-f]{64}$/.test(sealed.replyTo) ||
    typeof sealed.nonce !== "string" ||
    !/^0x[0-9a-f]{64}$/.test(sealed.nonce) ||
    !Array.isArray(sealed.headers)
  ) {
    throw new VeilError("ENVELOPE_MALFORMED", "The encrypted request is missing fields", { status: 400 });
  }
  // The time and nonce are inside the envelope: only this agent's workers read them, and a
  // request any of them answered runs nowhere again (ADR 0020).
  await options.agents.policies.replay.admit(
    `sealed:${state.record.id}`,
    sealed.nonce,
    sealed.timestamp,
    "encrypted request",
  );
  const method = sealed.method.toUpperCase();
  const body = method === "GET" || method === "HEAD" ? null : Buffer.from(sealed.body, "base64");
  const sent = sealed.headers.filter(
    (h): h is [string, string] => Array.isArray(h) && typeof h[0] === "string" && typeof h[1] === "string",
  );
  // Only a verified call assertion makes a caller; x-veil-* headers never reach the agent as sent.
  const assertion = sent.find(([k]) => k.toLowerCase() === CALL_HEADER)?.[1];
  const call =
    assertion && options.calls
      ? await options.calls.verify(state.record.id, assertion, { method, path: sealed.path, body })
      : undefined;
  const headers = sent.filter(
    ([k]) => !HOP_BY_HOP.has(k.toLowerCase()) && !k.toLowerCase().startsWith("x-veil-"),
  );
  if (call?.caller) {
    headers.push(["x-veil-caller-id", call.caller.agentId], ["x-veil-caller-address", call.caller.address]);
  }
  const signer = sealed.caller
    ? await options.agents.policies.verifyCaller(
        state.record.id,
        requestHash(method, sealed.path, body),
        sealed.nonce,
        sealed.caller,
      )
    : undefined;
  // A calling agent is admitted by its certified address, as a signed caller would be.
  const caller = signer ?? (call?.caller ? { address: call.caller.address as Hex } : undefined);
  // The fee voucher travels sealed too, so the gateway does not learn who pays.
  const voucher = sent.find(([k]) => k.toLowerCase() === VOUCHER_HEADER)?.[1];
  const admitted = await options.agents.policies.admit(state.record, caller, {
    ...(voucher ? { voucher: decodeVoucher(voucher) } : {}),
    agentKey: identity.account,
    ...(!signer && call?.caller ? { callerAgent: BigInt(call.caller.agentId) } : {}),
  });
  options.usage?.record(state.record.id, admitted.price);
  const response = await state.sandbox.invoke({
    method,
    url: `https://${state.record.name}.agents.veil${sealed.path}`,
    headers,
    body,
    ...(call ? { call } : {}),
    // An anonymous encrypted request is its own caller, so its plaintext never meets another's in
    // module state; a caller with an identity (a signature, or a verified calling agent) is one
    // caller across its calls, sealed or not, and needs no realm of its own each time.
    caller: signer
      ? `signer:${signer.address.toLowerCase()}`
      : call?.caller
        ? `agent:${call.caller.agentId}`
        : null,
    // A caller that reads sealed streams gets a streamed body piece by piece (ADR 0012).
    acceptStream: sealed.stream === true && method !== "HEAD",
  });
  const inputHash = requestHash(method, sealed.path, body);
  if (response.stream) {
    await sendSealedStream(res, response.stream, {
      writer: new SealedStreamWriter(state.record.id, sealed.nonce),
      replyTo: Buffer.from(sealed.replyTo, "hex"),
      status: response.status,
      headers: response.headers,
      agentId: state.record.id.toString(),
      end: async (end, outputHash) => ({
        receipt: await signReceipt(state, options, {
          inputHash,
          outputHash,
          status: response.status,
          nonce: sealed.nonce,
          usage: end.usage,
          llmReceipts: end.llmReceipts,
        }),
        usage: end.usage,
        ...(end.llmReceipts.length ? { llmReceipts: end.llmReceipts } : {}),
      }),
    });
    return;
  }
  const receipt = await signReceipt(state, options, {
    inputHash,
    outputHash: responseHash(response.body),
    status: response.status,
    nonce: sealed.nonce,
    usage: response.usage,
    llmReceipts: response.llmReceipts,
  });
  const answer = sealResponse(Buffer.from(sealed.replyTo, "hex"), state.record.id, sealed.nonce, {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(response.body).toString("base64"),
    receipt,
    usage: response.usage,
    ...(response.llmReceipts?.length ? { llmReceipts: response.llmReceipts } : {}),
  });
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(answer.byteLength),
    "x-veil-agent-id": state.record.id.toString(),
  });
  res.end(answer);
}

/**
 * A streamed answer to an encrypted request: sealed piece by piece as the agent produces it
 * (crypto/sealed-stream.ts), the receipts and any error in the sealed end frame.
 */
async function sendSealedStream(
  res: DaemonResponse,
  stream: SandboxStream,
  o: {
    writer: SealedStreamWriter;
    replyTo: Uint8Array;
    status: number;
    headers: [string, string][];
    agentId: string;
    end: (e: { usage: InvocationUsage; llmReceipts: LlmReceipt[] }, outputHash: Hex) => Promise<object>;
  },
): Promise<void> {
  res.writeHead(200, {
    "content-type": "application/vnd.veil.sealed-stream",
    "x-veil-streamed": "1",
    "x-veil-agent-id": o.agentId,
  });
  res.write(o.writer.head(o.replyTo, { status: o.status, headers: o.headers }));
  const pumped = await pump(res, stream, (chunk) => o.writer.chunk(chunk));
  if (!pumped) return;
  const end = await o.end(pumped.finished, pumped.outputHash);
  const error = streamError(pumped.finished);
  res.end(o.writer.end({ ...end, ...(error ? { error: error.toJSON() } : {}) }));
}

function notServed(idOrName: string): VeilError {
  return new VeilError("AGENT_NOT_FOUND", `Agent ${idOrName} is not served by this worker`, {
    status: 404,
    hint: "Check the name with `veil inspect`, or deploy it with `veil deploy`.",
  });
}
