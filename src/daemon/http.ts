import type { IncomingHttpHeaders, Server } from "node:http";
import type { Duplex } from "node:stream";
import { VeilError } from "../errors/index.ts";

/**
 * What a daemon's handlers read of a request: node:http's IncomingMessage is one, a request
 * that came over the gateway's link (link-server.ts) is another.
 */
export interface DaemonRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  [Symbol.asyncIterator](): AsyncIterator<unknown>;
}

/** A header's value; a list goes out as one line each (Set-Cookie lines cannot be joined). */
export type HeaderValue = string | number | string[];

/** What a daemon's handlers do with an answer: node:http's ServerResponse, or a linked one. */
export interface DaemonResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  setHeader(name: string, value: HeaderValue): unknown;
  writeHead(status: number, headers?: Record<string, HeaderValue>): unknown;
  flushHeaders(): void;
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): unknown;
  addTrailers(trailers: Record<string, string>): void;
  destroy(): unknown;
  once(event: "close" | "drain" | "finish", listener: () => void): unknown;
  off(event: "close" | "drain" | "finish", listener: () => void): unknown;
}

/** A daemon's request handler, whichever way the request came: HTTP, a link, or a call in-process. */
export type DaemonListener = (req: DaemonRequest, res: DaemonResponse) => void;

/**
 * Targets the WHATWG URL parser would leave as they are: not scheme-relative (`//host`), no dot
 * segments (nor any segment starting with a dot), no percent escapes in the path, nothing it
 * would percent-encode.
 */
const PLAIN_TARGET =
  /^\/(?!\/)(?!.*\/\.)[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*)?$/;

/**
 * A request target's path and query (`?…`, or "" for none), as `new URL(target, base)` gives
 * them; plain targets skip building a URL, which costs more than a request's routing.
 */
export function splitTarget(target: string): { pathname: string; search: string } {
  if (PLAIN_TARGET.test(target)) {
    const q = target.indexOf("?");
    if (q < 0) return { pathname: target, search: "" };
    return { pathname: target.slice(0, q), search: q === target.length - 1 ? "" : target.slice(q) };
  }
  const url = new URL(target, "http://target.invalid");
  return { pathname: url.pathname, search: url.search };
}

/** `rawHeaders` (name, value, …) by lower-case name, repeated ones joined with ", ". */
export function headersFromRaw(rawHeaders: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/** Reads a request body, refusing more than `limit` bytes with BODY_TOO_LARGE (413). */
export async function readBody(req: DaemonRequest, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw bodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function bodyTooLarge(limit: number): VeilError {
  return new VeilError("BODY_TOO_LARGE", `The request body is larger than ${limit} bytes`, {
    status: 413,
    hint: "Send a smaller body.",
  });
}

/** Parses a JSON body; malformed JSON is a 400 with BAD_JSON. */
export async function readJson(req: DaemonRequest, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new VeilError("BAD_JSON", "The request body is not valid JSON", { status: 400 });
  }
}

export function sendJson(res: DaemonResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Sends any error as `{ error: { code, message, hint } }`; unknown errors say nothing internal. */
export function sendError(res: DaemonResponse, err: unknown): void {
  const e =
    err instanceof VeilError
      ? err
      : new VeilError("INTERNAL", "Internal error", { status: 500, hint: "See the node's log.", cause: err });
  if (!(err instanceof VeilError)) console.error(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error: e.toJSON() });
}

/** The message every daemon prints on stdout once it serves, for `veil up` to read. */
export const READY_PREFIX = "VEIL_READY ";

// `veil <daemon> --json` asks for the bare JSON object (scripts); `veil up` reads the prefixed line.
let bareReadyLine = false;

/** `veil <daemon> --json`: announce readiness as one bare JSON object. */
export function announceReadyAsJson(): void {
  bareReadyLine = true;
}

export function announceReady(info: Record<string, unknown>): void {
  process.stdout.write(`${bareReadyLine ? "" : READY_PREFIX}${JSON.stringify(info)}\n`);
}

/** Request headers past this size are refused before any handler runs (Node's default, made explicit). */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * What a client is told when llhttp refuses its bytes (`code` is the parser's, e.g.
 * HPE_HEADER_OVERFLOW): 431 REQUEST_HEADERS_TOO_LARGE for oversized headers, else 400
 * REQUEST_MALFORMED.
 */
export function parseRefusal(code: string | undefined, maxHeaderBytes: number): VeilError {
  if (code === "HPE_HEADER_OVERFLOW") {
    return new VeilError(
      "REQUEST_HEADERS_TOO_LARGE",
      `The request headers are larger than ${maxHeaderBytes} bytes`,
      { status: 431, hint: "Send fewer or smaller headers; put large data in the body." },
    );
  }
  return new VeilError("REQUEST_MALFORMED", "The request is not valid HTTP/1.1", {
    status: 400,
    hint: "Check the request line, header syntax and body framing.",
  });
}

/**
 * Answers requests Node's HTTP parser refuses with a typed Veil error instead of a bare status
 * line, so a client learns what to fix: oversized headers are 431 REQUEST_HEADERS_TOO_LARGE,
 * anything else unparseable 400 REQUEST_MALFORMED. The connection is closed after the answer.
 */
export function answerClientErrors(server: Server): Server {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const e = parseRefusal(err.code, MAX_HEADER_BYTES);
    const body = JSON.stringify({ error: e.toJSON() });
    const reason = e.status === 431 ? "Request Header Fields Too Large" : "Bad Request";
    socket.end(
      `HTTP/1.1 ${e.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}

/** Waits until the reader has taken what was written (or has gone away). */
export function drained(res: DaemonResponse): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
