import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readBody, sendError, sendJson } from "../daemon/http.ts";
import { VeilError } from "../errors/index.ts";
import type { AgentTable } from "./agents.ts";

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
};

/**
 * The worker's HTTP face. `/v1/agents/:idOrName/invoke/<path>` runs the agent with a
 * web-standard Request for `<path>`; `/v1/agents/:idOrName` and `/v1/health` report status.
 */
export function createWorkerServer(options: WorkerServerOptions): Server {
  return createServer((req, res) => {
    handle(req, res, options).catch((err) => sendError(res, err));
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: WorkerServerOptions,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://worker.invalid");
  const parts = url.pathname.split("/");
  if (url.pathname === "/v1/health") {
    sendJson(res, 200, { ready: options.isReady(), ...options.info(), agents: options.agents.list() });
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
  if (parts[4] !== "invoke")
    throw new VeilError("NOT_FOUND", `No route ${req.method} ${url.pathname}`, { status: 404 });
  if (!options.isReady()) {
    throw new VeilError("WORKER_NOT_READY", "This worker has no keys yet", { status: 503, retryable: true });
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

  const path = `/${parts.slice(5).join("/")}`;
  const headers: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !name.startsWith("x-veil-internal"))
      headers.push([name, req.rawHeaders[i + 1]!]);
  }
  const method = (req.method ?? "GET").toUpperCase();
  const body = method === "GET" || method === "HEAD" ? null : await readBody(req, options.maxRequestBytes);
  const response = await state.sandbox.invoke({
    method,
    url: `https://${state.record.name}.agents.veil${path}${url.search}`,
    headers,
    body,
  });
  const out: Record<string, string> = {};
  for (const [k, v] of response.headers) if (!HOP_BY_HOP.has(k)) out[k] = out[k] ? `${out[k]}, ${v}` : v;
  out["x-veil-agent-id"] = state.record.id.toString();
  out["x-veil-code-hash"] = state.record.codeHash;
  out["content-length"] = String(response.body.byteLength);
  res.writeHead(response.status, out);
  res.end(method === "HEAD" ? undefined : response.body);
}

function notServed(idOrName: string): VeilError {
  return new VeilError("AGENT_NOT_FOUND", `Agent ${idOrName} is not served by this worker`, {
    status: 404,
    hint: "Check the name with `veil inspect`, or deploy it with `veil deploy`.",
  });
}
