import { readFile } from "node:fs/promises";
import type { Server } from "node:net";
import { extname, join } from "node:path";
import type { Hex } from "viem";
import { drained, MAX_HEADER_BYTES, readBody, sendError, sendJson, splitTarget } from "../daemon/http.ts";
import { createHttp1Server, type Http1Request, type Http1Response } from "../daemon/http1-server.ts";
import { VeilError } from "../errors/index.ts";
import { type BlobStore, contentHash, MAX_BLOB_BYTES } from "../storage/blob-store.ts";
import { type CallerLimiter, type RateLimit, RateLimiter } from "./rate-limit.ts";
import { KEEP_RECEIPT_HEADER, ReceiptPickup } from "./receipt-pickup.ts";
import type { Router, WorkerEndpoint } from "./routing.ts";
import {
  type Attempt,
  type LinkedStream,
  LinkLostError,
  type LocalWorker,
  WorkerLinks,
} from "./worker-link.ts";

export type GatewayOptions = {
  router: Router;
  maxRequestBytes: number;
  workerTimeoutMs: number;
  /** Per caller (client address); off when absent or perSecond is 0. */
  rateLimit?: RateLimit;
  /** The network's shared buckets (every gateway takes from them) instead of this gateway's own. */
  sharedLimiter?: CallerLimiter;
  /**
   * Take the caller's address from the first `x-forwarded-for` entry: only behind a proxy that
   * sets it, since anyone else can write any address there.
   */
  trustForwardedFor?: boolean;
  /** A worker in this process, reached by calls instead of a connection (docs/adr/0016). */
  localWorker?: LocalWorker;
  /** Signs the links this gateway opens to workers (docs/adr/0018). */
  linkKey?: Hex;
  /**
   * Agents' bundles, uploaded here by `veil deploy` from anywhere and fetched by workers by
   * hash: accepted only for a code hash that is one of the agent's versions on chain.
   */
  bundles?: {
    store: BlobStore;
    isVersionOf(nameOrId: string, codeHash: Hex): Promise<boolean>;
  };
  /**
   * What a node joining from another host needs to know of the network (`veil worker --join`):
   * its chain, contracts, TEE and limits; never the development accounts' keys.
   */
  networkForJoiners?: () => unknown;
  /**
   * The web console's built files (`veil up` builds them into `console/` beside the network
   * file), served at `/console/`: the console then calls this gateway on its own origin.
   */
  consoleDir?: string;
};

/** What a running gateway server holds besides its options. */
type GatewayContext = GatewayOptions & {
  limiter: CallerLimiter | undefined;
  links: WorkerLinks;
  /** Streamed answers' trailers kept for callers that cannot read trailers (browsers). */
  receipts: ReceiptPickup;
};

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "te",
  "trailer",
]);

/**
 * The public entry. `/agents/:nameOrId/<path>` invokes an agent on a worker that serves it,
 * trying the next worker when one is down or not ready; `/v1/agents/:nameOrId` describes it.
 */
export function createGatewayServer(options: GatewayOptions): Server {
  const context: GatewayContext = {
    ...options,
    limiter: options.sharedLimiter ?? (options.rateLimit ? new RateLimiter(options.rateLimit) : undefined),
    // A worker linked again after it was unreachable is routed to at once, not after the
    // router's memory of its failure runs out.
    links: new WorkerLinks(options.workerTimeoutMs, options.localWorker, options.linkKey, {
      onLinked: (worker) => options.router.markUp(worker),
    }),
    receipts: new ReceiptPickup(),
  };
  // Not node:http: its per-request stream machinery cost more than the gateway's own work
  // (docs/adr/0017). The parser is the same llhttp.
  const server = createHttp1Server(
    (req, res) => {
      handle(req, res, context).catch((err) => sendError(res, err));
    },
    { maxHeaderBytes: MAX_HEADER_BYTES },
  );
  server.on("close", () => context.links.close());
  return server;
}

const HASH = /^0x[0-9a-f]{64}$/;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

function bundleStore(options: GatewayContext): NonNullable<GatewayOptions["bundles"]> {
  if (!options.bundles)
    throw new VeilError("BUNDLES_UNAVAILABLE", "This gateway keeps no bundles", { status: 404 });
  return options.bundles;
}

/** GET /v1/bundles/HASH: a bundle this gateway holds (public: agents' code is verifiable). */
async function sendBundle(hash: string, res: Http1Response, options: GatewayContext): Promise<void> {
  const { store } = bundleStore(options);
  if (!HASH.test(hash) || !(await store.has(hash as Hex))) {
    throw new VeilError("BLOB_NOT_FOUND", `No bundle ${hash} at this gateway`, { status: 404 });
  }
  const bytes = await store.get(hash as Hex);
  res.writeHead(200, {
    "content-type": "application/javascript",
    "content-length": String(bytes.byteLength),
  });
  res.end(bytes);
}

/**
 * PUT /v1/agents/NAME/bundles/HASH: stores an agent's bundle once its version is on chain, so
 * nobody can use the gateway to keep bytes that are no agent's code.
 */
async function receiveBundle(
  req: Http1Request,
  res: Http1Response,
  nameOrId: string,
  hash: string,
  options: GatewayContext,
): Promise<void> {
  const bundles = bundleStore(options);
  if (!HASH.test(hash)) {
    throw new VeilError(
      "BLOB_HASH_INVALID",
      `"${hash}" is not a sha256 content hash (0x and 64 hex digits)`,
      {
        status: 400,
      },
    );
  }
  if (!(await bundles.isVersionOf(nameOrId, hash as Hex))) {
    throw new VeilError("BUNDLE_NOT_REGISTERED", `${hash} is not a version of agent ${nameOrId} on chain`, {
      status: 409,
      hint: "Register the version first (veil deploy does, then uploads).",
    });
  }
  const bytes = await readBody(req, MAX_BLOB_BYTES);
  if (contentHash(bytes) !== hash) {
    throw new VeilError("BUNDLE_HASH_MISMATCH", `The bytes sent do not hash to ${hash}`, { status: 400 });
  }
  await bundles.store.put(bytes);
  sendJson(res, 201, { hash });
}

async function handle(req: Http1Request, res: Http1Response, options: GatewayContext): Promise<void> {
  const url = splitTarget(req.url);
  const parts = url.pathname.split("/");
  if (url.pathname === "/v1/health") {
    sendJson(res, 200, { ok: true, workers: await options.router.workers() });
    return;
  }
  // Everything past health costs a worker or a chain read: each caller within its budget.
  await admit(req, res, options);
  if (parts[1] === "v1" && parts[2] === "agents" && parts[3] && parts.length === 4 && req.method === "GET") {
    await describe(decodeURIComponent(parts[3]), res, options);
    return;
  }
  if (url.pathname === "/console" || url.pathname.startsWith("/console/")) {
    await sendConsoleFile(req, res, url, options);
    return;
  }
  if (parts[1] === "v1" && parts[2] === "receipts" && parts.length === 4 && req.method === "GET") {
    const nonce = parts[3];
    const trailers = ReceiptPickup.isNonce(nonce) ? options.receipts.get(nonce) : undefined;
    if (!trailers) {
      throw new VeilError("RECEIPT_NOT_FOUND", `This gateway keeps no receipt for nonce ${nonce}`, {
        status: 404,
        hint: `Send the invocation with \`x-veil-nonce\` and \`${KEEP_RECEIPT_HEADER}: 1\` to this gateway, read its streamed body to the end, and ask within a minute.`,
      });
    }
    sendJson(res, 200, { trailers });
    return;
  }
  if (url.pathname === "/v1/network" && req.method === "GET" && options.networkForJoiners) {
    sendJson(res, 200, options.networkForJoiners());
    return;
  }
  if (parts[1] === "v1" && parts[2] === "bundles" && parts[3] && parts.length === 4 && req.method === "GET") {
    await sendBundle(parts[3], res, options);
    return;
  }
  if (
    parts[1] === "v1" &&
    parts[2] === "agents" &&
    parts[3] &&
    parts[4] === "bundles" &&
    parts[5] &&
    parts.length === 6 &&
    req.method === "PUT"
  ) {
    await receiveBundle(req, res, decodeURIComponent(parts[3]), parts[5], options);
    return;
  }
  if (
    parts[1] === "v1" &&
    parts[2] === "agents" &&
    parts[3] &&
    parts[4] === "encrypted" &&
    parts.length === 5
  ) {
    // Opaque to the gateway: sealed to the agent's key, answered sealed to the caller's.
    await invoke(req, res, decodeURIComponent(parts[3]), "", options, "encrypted");
    return;
  }
  if (parts[1] === "agents" && parts[2]) {
    await invoke(
      req,
      res,
      decodeURIComponent(parts[2]),
      `/${parts.slice(3).join("/")}${url.search}`,
      options,
    );
    return;
  }
  throw new VeilError("NOT_FOUND", `No route ${req.method} ${url.pathname}`, {
    status: 404,
    hint: "Invoke agents at /agents/NAME/PATH.",
  });
}

const CONSOLE_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};
/** One file of the console's flat directory: no dots first, no slashes, no `..`. */
const CONSOLE_FILE = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9]+)+$/;
/**
 * The page may load only its own files and read only its gateway (its own origin) and the
 * chain's JSON-RPC, whose URL only the network file knows: any http(s) or ws(s) origin.
 */
const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** GET /console/…: the web console's built files (index.html at /console/). */
async function sendConsoleFile(
  req: Http1Request,
  res: Http1Response,
  url: { pathname: string; search: string },
  options: GatewayContext,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    throw new VeilError("METHOD_NOT_ALLOWED", `${req.method} ${url.pathname}: the console is read-only`, {
      status: 405,
    });
  }
  if (url.pathname === "/console") {
    // Its files are named relative to /console/.
    res.writeHead(308, { location: `/console/${url.search}`, "content-length": "0" });
    res.end();
    return;
  }
  if (!options.consoleDir) {
    throw new VeilError("CONSOLE_NOT_BUILT", "This gateway serves no console", {
      status: 404,
      hint: "`veil up` builds the console into console/ beside the network file and its gateway serves it.",
    });
  }
  const name = url.pathname.slice("/console/".length) || "index.html";
  const type = CONSOLE_TYPES[extname(name)];
  if (!CONSOLE_FILE.test(name) || !type) {
    throw new VeilError("NOT_FOUND", `No console file ${url.pathname}`, { status: 404 });
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(options.consoleDir, name));
  } catch {
    throw new VeilError(
      name === "index.html" ? "CONSOLE_NOT_BUILT" : "NOT_FOUND",
      name === "index.html"
        ? `The console is not built in ${options.consoleDir}`
        : `No console file ${url.pathname}`,
      {
        status: 404,
        ...(name === "index.html"
          ? { hint: "`veil up` builds it at every start: start the network again." }
          : {}),
      },
    );
  }
  res.writeHead(200, {
    "content-type": type,
    "content-length": String(bytes.byteLength),
    // Rebuilt at every `veil up`: always asked again, answered from the cache if unchanged.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...(name.endsWith(".html") ? { "content-security-policy": CONSOLE_CSP } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : bytes);
}

async function describe(nameOrId: string, res: Http1Response, options: GatewayOptions): Promise<void> {
  const agent = await options.router.resolve(nameOrId);
  const workers = await options.router.workers();
  const served = await Promise.all(
    workers.map(async (w) => {
      try {
        const r = await fetch(`${w.url}/v1/agents/${agent.id}`, { signal: AbortSignal.timeout(1_000) });
        const body = (await r.json()) as { status?: string; codeHash?: string };
        return { address: w.address, url: w.url, status: body.status ?? "unknown", codeHash: body.codeHash };
      } catch {
        return { address: w.address, url: w.url, status: "unreachable" };
      }
    }),
  );
  sendJson(res, 200, {
    id: agent.id.toString(),
    name: agent.name,
    owner: agent.owner,
    codeHash: agent.codeHash,
    currentVersion: agent.currentVersion,
    versionCount: agent.versionCount,
    workers: served,
  });
}

async function invoke(
  req: Http1Request,
  res: Http1Response,
  nameOrId: string,
  rest: string,
  options: GatewayContext,
  route: "invoke" | "encrypted" = "invoke",
): Promise<void> {
  const agentId = await options.router.resolveId(nameOrId);
  const method = (req.method ?? "GET").toUpperCase();
  // Buffered so that the request can be sent again to another worker.
  const body =
    method === "GET" || method === "HEAD" ? undefined : await readBody(req, options.maxRequestBytes);
  const rawHeaders: string[] = [];
  let prefer: string | undefined;
  let nonce: string | undefined;
  let keepReceipt = false;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    if (name === KEEP_RECEIPT_HEADER) {
      keepReceipt = req.rawHeaders[i + 1] === "1";
      continue;
    }
    rawHeaders.push(name, req.rawHeaders[i + 1]!);
    if (name === "x-veil-prefer-worker") prefer = req.rawHeaders[i + 1]!.toLowerCase();
    else if (name === "x-veil-nonce") nonce = req.rawHeaders[i + 1]!.toLowerCase();
  }
  const listed = await options.router.workers();
  if (listed.length === 0) throw noWorker(nameOrId, []);
  // A fee voucher names one worker (ADR 0006): the caller asks for it first, the rest follow.
  const workers = prefer
    ? [
        ...listed.filter((w) => w.address.toLowerCase() === prefer),
        ...listed.filter((w) => w.address.toLowerCase() !== prefer),
      ]
    : listed;
  const tried: string[] = [];
  const path = `/v1/agents/${agentId}/${route}${rest}`;
  // A request that may run twice without harm (RFC 9110's idempotent methods, unsigned: a signed
  // one's nonce is spent by the worker that took it) goes to the next worker when its worker's
  // link dies under it; any other fails WORKER_FAILED, retryable, since it may have run.
  const repeatable =
    IDEMPOTENT.has(method) && !rawHeaders.some((h, i) => i % 2 === 0 && h === "x-veil-nonce");
  for (const worker of workers) {
    let attempt: Attempt;
    try {
      attempt = await options.links.send(worker, { method, path, rawHeaders, body });
    } catch (err) {
      if (!(err instanceof VeilError) || err.code !== "WORKER_FAILED") throw err;
      // The link went under it: other requests avoid this worker until it is linked again.
      if (repeatable || err instanceof LinkLostError) options.router.markDown(worker);
      if (!repeatable) throw err;
      tried.push(`${worker.url}: WORKER_FAILED (link lost; sent on)`);
      continue;
    }
    if (attempt.kind === "unreachable") {
      options.router.markDown(worker);
      tried.push(`${worker.url}: unreachable (${attempt.why})`);
      continue;
    }
    options.router.markUp(worker);
    if (attempt.kind === "retry") {
      tried.push(`${worker.url}: ${attempt.code}`);
      continue;
    }
    if (attempt.kind === "stream") {
      const keep =
        keepReceipt && ReceiptPickup.isNonce(nonce)
          ? (trailers: Record<string, string>) => options.receipts.keep(nonce as string, trailers)
          : undefined;
      await relay(res, attempt.upstream, worker, keep);
      return;
    }
    const headers = attempt.headers;
    for (const k in headers) if (!HOP_BY_HOP.has(k)) res.setHeader(k, headers[k]!);
    res.setHeader("x-veil-worker", worker.address);
    res.setHeader("content-length", attempt.body.length);
    res.writeHead(attempt.status);
    res.end(method === "HEAD" ? undefined : attempt.body);
    return;
  }
  throw noWorker(nameOrId, tried);
}

/** The caller's address, for its rate limit. */
function callerKey(req: Http1Request, options: GatewayOptions): string {
  if (options.trustForwardedFor) {
    const forwarded = req.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? "unknown";
}

/** Refuses a caller over its rate before anything is read or sent to a worker. */
async function admit(req: Http1Request, res: Http1Response, options: GatewayContext): Promise<void> {
  const limiter = options.limiter;
  if (!limiter?.enabled) return;
  const decision = await limiter.take(callerKey(req, options));
  if (decision.ok) return;
  const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  res.setHeader("retry-after", String(seconds));
  throw new VeilError(
    "RATE_LIMITED",
    `Too many requests from this caller (over ${options.rateLimit?.perSecond}/s)`,
    {
      status: 429,
      retryable: true,
      hint: `Slow down; retry after ${seconds} s.`,
    },
  );
}

/**
 * Passes a streamed answer on chunk by chunk as the worker sends it, then its trailers (the
 * receipts, known only at the end), also kept for `GET /v1/receipts/NONCE` when the caller asked
 * (`keep`: browsers cannot read trailers). A caller that goes away closes the worker's stream, which
 * stops the agent.
 */
async function relay(
  res: Http1Response,
  upstream: LinkedStream,
  worker: WorkerEndpoint,
  keep?: (trailers: Record<string, string>) => void,
): Promise<void> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(upstream.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  out["x-veil-worker"] = worker.address;
  if (upstream.headers.trailer) out.trailer = upstream.headers.trailer;
  res.writeHead(upstream.status, out);
  res.flushHeaders();
  res.once("close", () => {
    if (!res.writableFinished) upstream.cancel();
  });
  try {
    for await (const chunk of upstream) {
      if (!res.write(chunk)) await drained(res);
      if (res.destroyed) return;
      upstream.ack(chunk.length);
    }
  } catch {
    // The worker went away mid-answer: so does this one, so the caller sees it was cut.
    res.destroy();
    return;
  }
  if (!upstream.complete) {
    res.destroy();
    return;
  }
  // Kept before the end goes out, so a caller that asks as soon as it has read the body finds it.
  keep?.(upstream.trailers);
  res.addTrailers(upstream.trailers);
  res.end();
}

function noWorker(name: string, tried: string[]): VeilError {
  return new VeilError("NO_WORKER_AVAILABLE", `No worker could serve agent "${name}" right now`, {
    status: 503,
    retryable: true,
    context: tried,
    hint: "Check `veil inspect NAME` and that workers are running; retry in a moment.",
  });
}
