import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readBody, sendError, sendJson } from "../daemon/http.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { Router, WorkerEndpoint } from "./routing.ts";

export type GatewayOptions = { router: Router; maxRequestBytes: number; workerTimeoutMs: number };

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
  return createServer((req, res) => {
    handle(req, res, options).catch((err) => sendError(res, err));
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, options: GatewayOptions): Promise<void> {
  const url = new URL(req.url ?? "/", "http://gateway.invalid");
  const parts = url.pathname.split("/");
  if (url.pathname === "/v1/health") {
    sendJson(res, 200, { ok: true, workers: await options.router.workers() });
    return;
  }
  if (parts[1] === "v1" && parts[2] === "agents" && parts[3] && parts.length === 4 && req.method === "GET") {
    await describe(decodeURIComponent(parts[3]), res, options);
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

async function describe(nameOrId: string, res: ServerResponse, options: GatewayOptions): Promise<void> {
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
  req: IncomingMessage,
  res: ServerResponse,
  nameOrId: string,
  rest: string,
  options: GatewayOptions,
): Promise<void> {
  const agent = await options.router.resolve(nameOrId);
  const method = (req.method ?? "GET").toUpperCase();
  // Buffered so that the request can be sent again to another worker.
  const body =
    method === "GET" || method === "HEAD" ? undefined : await readBody(req, options.maxRequestBytes);
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name))
      headers[name] = headers[name] ? `${headers[name]}, ${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1]!;
  }
  const workers = await options.router.workers();
  if (workers.length === 0) throw noWorker(agent.name, []);
  const tried: string[] = [];
  for (const worker of workers) {
    const attempt = await forward(
      worker,
      `/v1/agents/${agent.id}/invoke${rest}`,
      method,
      headers,
      body,
      options,
    );
    if (attempt.kind === "unreachable") {
      options.router.markDown(worker);
      tried.push(`${worker.url}: unreachable`);
      continue;
    }
    options.router.markUp(worker);
    if (attempt.kind === "retry") {
      tried.push(`${worker.url}: ${attempt.code}`);
      continue;
    }
    const out: Record<string, string> = {};
    attempt.response.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k) && k !== "content-encoding") out[k] = v;
    });
    out["x-veil-worker"] = worker.address;
    const bytes = Buffer.from(await attempt.response.arrayBuffer());
    out["content-length"] = String(bytes.length);
    res.writeHead(attempt.response.status, out);
    res.end(method === "HEAD" ? undefined : bytes);
    return;
  }
  throw noWorker(agent.name, tried);
}

type Attempt =
  | { kind: "unreachable" }
  | { kind: "retry"; code: string }
  | { kind: "done"; response: Response };

async function forward(
  worker: WorkerEndpoint,
  path: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  options: GatewayOptions,
): Promise<Attempt> {
  let response: Response;
  try {
    response = await fetch(`${worker.url}${path}`, {
      method,
      headers,
      ...(body ? { body } : {}),
      redirect: "manual",
      signal: AbortSignal.timeout(options.workerTimeoutMs),
    });
  } catch (err) {
    // Only a failure to connect is safe to retry elsewhere: the request never reached an agent.
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (
      code === "ECONNREFUSED" ||
      code === "ECONNRESET" ||
      code === "UND_ERR_SOCKET" ||
      code === "EHOSTUNREACH"
    ) {
      return { kind: "unreachable" };
    }
    throw new VeilError("WORKER_TIMEOUT", "The worker did not answer in time", {
      status: 504,
      cause: err,
      retryable: true,
    });
  }
  if (response.status === 503 && response.headers.get("content-type")?.includes("application/json")) {
    const clone = response.clone();
    const parsed = (await clone.json().catch(() => undefined)) as { error?: unknown } | undefined;
    if (isVeilErrorJSON(parsed?.error) && parsed.error.retryable)
      return { kind: "retry", code: parsed.error.code };
  }
  return { kind: "done", response };
}

function noWorker(name: string, tried: string[]): VeilError {
  return new VeilError("NO_WORKER_AVAILABLE", `No worker could serve agent "${name}" right now`, {
    status: 503,
    retryable: true,
    context: tried,
    hint: "Check `veil inspect NAME` and that workers are running; retry in a moment.",
  });
}
