import { EventEmitter } from "node:events";
import { type IncomingHttpHeaders, STATUS_CODES } from "node:http";
import { createRequire } from "node:module";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { VeilError } from "../errors/index.ts";
import {
  type DaemonRequest,
  type DaemonResponse,
  type HeaderValue,
  headersFromRaw,
  parseRefusal,
} from "./http.ts";

/**
 * A lean HTTP/1.1 server for the gateway's public face (docs/adr/0017). Requests are parsed by
 * llhttp, the parser node:http itself runs, with the same strictness (no lenient flags): request
 * smuggling shapes (Content-Length with Transfer-Encoding, duplicate lengths), bad framing and
 * oversized headers are its refusals. What this module leaves out is node:http's stream layers
 * (an IncomingMessage and a ServerResponse per request, each a stream with its own ticks), which
 * cost more per request than the gateway's own work.
 */

/** node:http's binding to llhttp, as node:http uses it (`_http_common` is Node's own module). */
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParseError;
  close(): void;
  [callback: number]: unknown;
}
interface LlhttpParserClass {
  new (): LlhttpParser;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
type ParseError = Error & { code?: string };

const { HTTPParser } = createRequire(import.meta.url)("_http_common") as { HTTPParser: LlhttpParserClass };
const ON_MESSAGE_BEGIN = HTTPParser.kOnMessageBegin | 0;
const ON_HEADERS = HTTPParser.kOnHeaders | 0;
const ON_HEADERS_COMPLETE = HTTPParser.kOnHeadersComplete | 0;
const ON_BODY = HTTPParser.kOnBody | 0;
const ON_MESSAGE_COMPLETE = HTTPParser.kOnMessageComplete | 0;

/** llhttp's method numbers (its `HTTP_METHOD_MAP`); the RTSP ones and PRI are not served. */
const METHODS: Record<number, string> = {
  0: "DELETE",
  1: "GET",
  2: "HEAD",
  3: "POST",
  4: "PUT",
  5: "CONNECT",
  6: "OPTIONS",
  7: "TRACE",
  8: "COPY",
  9: "LOCK",
  10: "MKCOL",
  11: "MOVE",
  12: "PROPFIND",
  13: "PROPPATCH",
  14: "SEARCH",
  15: "UNLOCK",
  16: "BIND",
  17: "REBIND",
  18: "UNBIND",
  19: "ACL",
  20: "REPORT",
  21: "MKACTIVITY",
  22: "CHECKOUT",
  23: "MERGE",
  24: "M-SEARCH",
  25: "NOTIFY",
  26: "SUBSCRIBE",
  27: "UNSUBSCRIBE",
  28: "PATCH",
  29: "PURGE",
  30: "MKCALENDAR",
  31: "LINK",
  32: "UNLINK",
  33: "SOURCE",
  46: "QUERY",
};

export type Http1Options = {
  /** Request line and headers past this size are refused (431). */
  maxHeaderBytes: number;
  /** From a request's first byte to its last header (slow senders hold no connection for long). */
  headersTimeoutMs?: number;
  /** From a request's first byte to its last body byte. */
  requestTimeoutMs?: number;
  /** How long a connection may sit with nothing asked before it is closed. */
  keepAliveTimeoutMs?: number;
  /** Requests one connection may have unanswered; past it the connection reads no more. */
  maxPipelined?: number;
};

/** What the server's handler is given: a `DaemonRequest` that knows its connection's peer. */
export type Http1Handler = (req: Http1Request, res: Http1Response) => void;

const HEADERS_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 300_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_PIPELINED = 32;
/** Body bytes held for a handler that has not read them yet before the connection stops reading. */
const BODY_BUFFER_BYTES = 256 * 1024;
const SWEEP_MS = 1_000;

/**
 * Serves `handler` over HTTP/1.1 on a net.Server (listen on it as on node:http's). Parse errors
 * are answered with the Veil error a client can act on (400 REQUEST_MALFORMED, 431
 * REQUEST_HEADERS_TOO_LARGE) and close that connection only.
 */
export function createHttp1Server(handler: Http1Handler, options: Http1Options): NetServer {
  const limits: Required<Http1Options> = {
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    maxPipelined: MAX_PIPELINED,
    ...options,
  };
  const connections = new Set<Connection>();
  let sweep: NodeJS.Timeout | undefined;
  // Half-open, so that a client's FIN is this module's to act on (Connection), not net.Socket's.
  const server = createNetServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    const connection = new Connection(socket, handler, limits);
    connections.add(connection);
    socket.once("close", () => {
      connections.delete(connection);
      connection.closed();
    });
    // Timeouts are deadlines on each connection, checked by one sweep: no timer per request.
    sweep ??= setInterval(() => {
      const now = Date.now();
      for (const c of connections) c.checkDeadline(now);
    }, SWEEP_MS).unref();
  });
  server.once("close", () => {
    clearInterval(sweep);
    sweep = undefined;
  });
  return server;
}

type Deadline = "idle" | "headers" | "request" | "none";

/** One client connection: its parser, and its answers in the order the requests came. */
class Connection {
  readonly socket: Socket;
  readonly #handler: Http1Handler;
  readonly #limits: Required<Http1Options>;
  readonly #parser: LlhttpParser;
  /** Answers not yet fully written; only the first one writes to the socket. */
  readonly #answers: Http1Response[] = [];
  /** The request whose body is being parsed, if any. */
  #reading: Http1Request | undefined;
  #partialHeaders: string[] = [];
  #partialUrl = "";
  #headersDone = false;
  #deadline = 0;
  #deadlineKind: Deadline = "none";
  #messageStart = 0;
  /** No more requests are read: the client asked to close, or the connection broke. */
  #closing = false;
  #gone = false;
  #paused = false;

  constructor(socket: Socket, handler: Http1Handler, limits: Required<Http1Options>) {
    this.socket = socket;
    this.#handler = handler;
    this.#limits = limits;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, limits.maxHeaderBytes, 0);
    parser[ON_MESSAGE_BEGIN] = () => this.#begin();
    parser[ON_HEADERS] = (headers: string[], url: string) => this.#headersPart(headers, url);
    parser[ON_HEADERS_COMPLETE] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => this.#headersComplete(major, minor, headers, method, url, upgrade, keepAlive);
    parser[ON_BODY] = (chunk: Buffer) => this.#reading?.push(chunk);
    parser[ON_MESSAGE_COMPLETE] = () => this.#complete();
    this.#parser = parser;
    this.#setDeadline("idle", Date.now() + limits.keepAliveTimeoutMs);
    socket.on("data", (data: Buffer) => this.#read(data));
    socket.on("error", () => {});
    socket.on("drain", () => this.#answers[0]?.emit("drain"));
    // A client that closed its side is taken as gone (as node:http does): what is still being
    // answered is abandoned, so a stream's source stops.
    socket.on("end", () => {
      socket.end();
      this.closed();
    });
  }

  #read(data: Buffer): void {
    if (this.#closing) return;
    const result = this.#parser.execute(data);
    if (typeof result !== "number") this.#parseFailed(result);
  }

  #begin(): void {
    this.#headersDone = false;
    this.#messageStart = Date.now();
    this.#setDeadline("headers", this.#messageStart + this.#limits.headersTimeoutMs);
  }

  #headersPart(headers: string[], url: string): void {
    // After the headers, llhttp reports a chunked body's trailers this way: not kept.
    if (this.#headersDone) return;
    for (const h of headers) this.#partialHeaders.push(h);
    this.#partialUrl += url;
  }

  #headersComplete(
    major: number,
    minor: number,
    headers: string[] | undefined,
    methodIndex: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    this.#headersDone = true;
    if (this.#closing) {
      // Past the pipelining bound, in the rest of the same read: not served, not kept.
      this.#partialHeaders = [];
      this.#partialUrl = "";
      this.#reading = undefined;
      return 0;
    }
    const rawHeaders = headers ?? this.#partialHeaders;
    const target = url ?? this.#partialUrl;
    this.#partialHeaders = [];
    this.#partialUrl = "";
    this.#setDeadline("request", this.#messageStart + this.#limits.requestTimeoutMs);
    const method = METHODS[methodIndex];
    const request = new Http1Request(
      this,
      method ?? "UNKNOWN",
      target,
      rawHeaders,
      major === 1 && minor === 0,
    );
    const response = new Http1Response(this, request, keepAlive && !upgrade);
    this.#reading = request;
    this.#answers.push(response);
    // Upgrades are not served: the request is answered as a plain one and the connection closes.
    if (!keepAlive || upgrade) this.#closing = true;
    if (this.#answers.length >= this.#limits.maxPipelined) this.#closing = true;
    if (method === undefined || method === "CONNECT") {
      request.end();
      response.refuse(
        new VeilError("METHOD_NOT_SUPPORTED", `${request.method} is not served here`, { status: 501 }),
      );
      return 0;
    }
    const expect = request.headers.expect;
    if (expect !== undefined) {
      if (expect.toLowerCase() !== "100-continue") {
        request.end();
        response.refuse(
          new VeilError("EXPECTATION_FAILED", `The expectation "${expect}" is not supported`, {
            status: 417,
            hint: "Send the request without an Expect header, or with Expect: 100-continue.",
          }),
        );
        return 0;
      }
      if (!request.http10 && this.#answers.length === 1) this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    this.#handler(request, response);
    return 0;
  }

  #complete(): void {
    this.#reading?.end();
    this.#reading = undefined;
    // Waiting on the handler is not the client's slowness: no deadline until the answers are out.
    if (this.#answers.length > 0) this.#setDeadline("none", 0);
    else this.#setDeadline("idle", Date.now() + this.#limits.keepAliveTimeoutMs);
  }

  #parseFailed(error: ParseError): void {
    this.#reading?.fail();
    this.#reading = undefined;
    // Bytes after a message that closes the connection are not an error worth an answer.
    if (this.#closing || error.code === "HPE_CLOSED_CONNECTION") {
      this.#closing = true;
      if (this.#answers.length === 0) this.socket.end();
      return;
    }
    this.#refuse(parseRefusal(error.code, this.#limits.maxHeaderBytes));
  }

  /** The server's own answer to what it could not take as a request; the connection then closes. */
  #refuse(error: VeilError): void {
    this.#closing = true;
    const response = new Http1Response(this, undefined, false);
    this.#answers.push(response);
    response.refuse(error);
  }

  /** Writes for `answer` if it is the one whose turn it is; says whether it was. */
  isCurrent(answer: Http1Response): boolean {
    return this.#answers[0] === answer;
  }

  /** `answer` has written its last byte: the next one in line may write. */
  answered(answer: Http1Response): void {
    if (this.#answers[0] !== answer) return;
    this.#answers.shift();
    if (!answer.keepAlive) this.#closing = true;
    const request = answer.request;
    if (request && !request.complete) {
      // Answered before its body was all read (a handler answers a GET as its headers arrive):
      // the rest is dropped as the parser reads it. Whatever of it is not in by the end of this
      // read is still on the wire ahead of any next request, so the connection closes.
      request.discard();
      queueMicrotask(() => {
        if (request.complete || this.#closing) return;
        this.#closing = true;
        if (this.#answers.length === 0) this.socket.end();
      });
    }
    if (this.#answers.length === 0) {
      if (this.#closing) {
        this.socket.end();
        return;
      }
      if (this.#reading === undefined)
        this.#setDeadline("idle", Date.now() + this.#limits.keepAliveTimeoutMs);
      return;
    }
    this.#answers[0]!.takeTurn();
  }

  /** The handler holds this much unread body: stop reading past a bound, go on once it is read. */
  buffered(bytes: number): void {
    const pause = bytes > BODY_BUFFER_BYTES;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  #setDeadline(kind: Deadline, at: number): void {
    this.#deadlineKind = kind;
    this.#deadline = at;
  }

  checkDeadline(now: number): void {
    if (this.#deadlineKind === "none" || now < this.#deadline) return;
    const kind = this.#deadlineKind;
    this.#setDeadline("none", 0);
    if (kind === "idle" || this.#answers.length > 0) {
      this.socket.destroy();
      return;
    }
    this.#reading?.fail();
    this.#reading = undefined;
    this.#refuse(
      new VeilError("REQUEST_TIMEOUT", "The request did not arrive within its time", {
        status: 408,
        hint: "Send the whole request promptly.",
      }),
    );
  }

  /** The socket is gone: every answer still owed is abandoned, a body being read fails. */
  closed(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#closing = true;
    this.#reading?.fail();
    this.#reading = undefined;
    for (const answer of this.#answers.splice(0)) answer.abandon();
    this.#parser.close();
  }
}

/** A request as the handler sees it; its body is read with `for await`. */
export class Http1Request implements DaemonRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly http10: boolean;
  readonly #connection: Connection;
  #headers: IncomingHttpHeaders | undefined;
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  #state: "open" | "ended" | "failed" = "open";
  #discarding = false;
  #wake: (() => void) | undefined;

  constructor(connection: Connection, method: string, url: string, rawHeaders: string[], http10: boolean) {
    this.#connection = connection;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.http10 = http10;
  }

  /** The connection's peer, as node:http's `req.socket.remoteAddress`. */
  get socket(): { readonly remoteAddress?: string | undefined } {
    return this.#connection.socket;
  }

  /** Lower-case names; repeated headers joined with ", " (llhttp refuses repeated lengths). */
  get headers(): IncomingHttpHeaders {
    this.#headers ??= headersFromRaw(this.rawHeaders);
    return this.#headers;
  }

  /** Whether the whole body has arrived. */
  get complete(): boolean {
    return this.#state === "ended";
  }

  /** The handler is done with this request: body bytes still to come are dropped. */
  discard(): void {
    this.#discarding = true;
    this.#chunks = [];
    this.#bufferedBytes = 0;
    this.#connection.buffered(0);
  }

  push(chunk: Buffer): void {
    if (this.#state !== "open" || this.#discarding) return;
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;
    this.#connection.buffered(this.#bufferedBytes);
    this.#wake?.();
  }

  end(): void {
    if (this.#state === "open") this.#state = "ended";
    this.#wake?.();
  }

  fail(): void {
    if (this.#state === "open") this.#state = "failed";
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) {
        this.#bufferedBytes -= chunk.length;
        this.#connection.buffered(this.#bufferedBytes);
        yield chunk;
        continue;
      }
      if (this.#state === "ended") return;
      if (this.#state === "failed") {
        throw new VeilError("REQUEST_INCOMPLETE", "The client went away before its request body ended", {
          status: 400,
        });
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;
/** Framing is this module's to write; a handler's own say on it is dropped. */
const FRAMING = new Set(["connection", "transfer-encoding", "keep-alive", "date"]);

let dateSecond = -1;
let dateValue = "";
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/**
 * An answer. Until something is written it is one whole message with a Content-Length; a
 * handler that flushes or writes first streams it chunked (HTTP/1.1, trailers at the end) or,
 * to an HTTP/1.0 client, until the connection closes.
 */
export class Http1Response extends EventEmitter implements DaemonResponse {
  readonly #connection: Connection;
  /** What this answers; none for the server's own refusals of what it could not parse. */
  readonly request: Http1Request | undefined;
  readonly #head: boolean;
  readonly #http10: boolean;
  #keepAlive: boolean;
  #status = 200;
  /** A streamed body's declared length, and what was written of it. */
  #declared: number | undefined;
  #sent = 0;
  readonly #headers: Record<string, string | string[]> = {};
  #trailers: Record<string, string> | undefined;
  #chunked = false;
  /** What was written before this answer's turn came. */
  #pending: (string | Uint8Array)[] | undefined;
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;

  constructor(connection: Connection, request: Http1Request | undefined, keepAlive: boolean) {
    super();
    this.#connection = connection;
    this.request = request;
    this.#head = request?.method === "HEAD";
    this.#http10 = request?.http10 ?? false;
    this.#keepAlive = keepAlive;
  }

  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  setHeader(name: string, value: HeaderValue): this {
    const v = Array.isArray(value) ? value.map(String) : String(value);
    for (const one of [v].flat()) checkHeader(name, one);
    this.#headers[name.toLowerCase()] = v;
    return this;
  }

  writeHead(status: number, headers?: Record<string, HeaderValue>): this {
    if (!Number.isInteger(status) || status < 200 || status > 999) {
      throw new TypeError(`Invalid status code ${status}`);
    }
    this.#status = status;
    if (headers) for (const k in headers) this.setHeader(k, headers[k]!);
    return this;
  }

  flushHeaders(): void {
    if (this.headersSent || this.destroyed) return;
    this.#out(this.#startStream());
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.destroyed || this.writableEnded) return false;
    if (!this.headersSent) this.#out(this.#startStream());
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (bytes.byteLength === 0 || this.#noBody()) return true;
    if (this.#chunked) return this.#out(`${bytes.byteLength.toString(16)}\r\n`, bytes, "\r\n");
    this.#sent += bytes.byteLength;
    if (this.#declared !== undefined && this.#sent > this.#declared) {
      // More than the head said: sent on, it would be read as the start of a next answer.
      this.destroy();
      return false;
    }
    return this.#out(bytes);
  }

  addTrailers(trailers: Record<string, string>): void {
    for (const [k, v] of Object.entries(trailers)) checkHeader(k, v);
    this.#trailers = { ...this.#trailers, ...trailers };
  }

  end(chunk?: Uint8Array | string): this {
    if (this.destroyed || this.writableEnded) return this;
    const bytes = chunk === undefined ? undefined : typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) {
      // One whole message: head and body in one write. The length is what is sent; a HEAD
      // answer keeps the one its handler gave, if any.
      if (this.#bodiless()) delete this.#headers["content-length"];
      else if (!this.#head || bytes !== undefined || this.#headers["content-length"] === undefined)
        this.#headers["content-length"] = String(bytes?.byteLength ?? 0);
      this.headersSent = true;
      const head = this.#headText();
      this.writableEnded = true;
      if (bytes && bytes.byteLength > 0 && !this.#noBody()) this.#out(head, bytes);
      else this.#out(head);
    } else {
      if (bytes?.byteLength) this.write(bytes);
      if (this.destroyed) return this;
      this.writableEnded = true;
      if (this.#chunked && !this.#noBody()) {
        let last = "0\r\n";
        if (this.#trailers) for (const k in this.#trailers) last += `${k}: ${this.#trailers[k]}\r\n`;
        this.#out(`${last}\r\n`);
      }
      if (!this.#chunked && !this.#noBody()) {
        // Without chunks, only the connection's end marks the body's end; a body short of its
        // declared length must not leave the client reading the next answer as its rest.
        if (this.#declared === undefined) this.#keepAlive = false;
        else if (this.#sent !== this.#declared) {
          this.destroy();
          return this;
        }
      }
    }
    this.#finish();
    return this;
  }

  /** Breaks the answer off: the connection closes, so the client sees it was cut. */
  destroy(): this {
    if (this.destroyed) return this;
    this.#connection.socket.destroy();
    this.abandon();
    return this;
  }

  /** The connection went away before this answer was done. */
  abandon(): void {
    if (this.destroyed || this.writableFinished) return;
    this.destroyed = true;
    this.emit("close");
  }

  /** Answers with a Veil error that the server itself gave (before or instead of the handler). */
  refuse(error: VeilError): void {
    this.#keepAlive = false;
    const body = JSON.stringify({ error: error.toJSON() });
    this.writeHead(error.status, { "content-type": "application/json" }).end(body);
  }

  /** The earlier answers on the connection are done: what was written meanwhile goes now. */
  takeTurn(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) this.#write(pending);
    if (this.writableEnded) this.#finish();
    else this.emit("drain");
  }

  /** 204 and 304 answers have no body and no length. */
  #bodiless(): boolean {
    return this.#status === 204 || this.#status === 304;
  }

  /** HEAD answers have no body either, whatever the handler writes (but keep a length). */
  #noBody(): boolean {
    return this.#head || this.#bodiless();
  }

  #startStream(): string {
    this.headersSent = true;
    const declared = this.#headers["content-length"];
    if (declared !== undefined) {
      this.#declared = Number(declared);
      if (!Number.isSafeInteger(this.#declared) || this.#declared < 0) {
        throw new TypeError(`Invalid content-length ${JSON.stringify(declared)}`);
      }
    } else if (!this.#bodiless()) {
      if (this.#http10) this.#keepAlive = false;
      else {
        this.#chunked = true;
        this.#headers["transfer-encoding"] = "chunked";
      }
    }
    return this.#headText();
  }

  #headText(): string {
    let head = `HTTP/1.1 ${this.#status} ${STATUS_CODES[this.#status] ?? "Unknown"}\r\ndate: ${this.#headers.date ?? httpDate()}\r\n`;
    if (!this.#keepAlive) head += "connection: close\r\n";
    else if (this.#http10) head += "connection: keep-alive\r\n";
    for (const k in this.#headers) {
      if (FRAMING.has(k) && !(k === "transfer-encoding" && this.#chunked)) continue;
      // A list goes out as one line each (Set-Cookie).
      for (const v of [this.#headers[k]!].flat()) head += `${k}: ${v}\r\n`;
    }
    return `${head}\r\n`;
  }

  /** Writes now if it is this answer's turn, else keeps it for then; false asks the writer to wait. */
  #out(...parts: (string | Uint8Array)[]): boolean {
    if (this.#connection.isCurrent(this)) return this.#write(parts);
    this.#pending ??= [];
    for (const p of parts) this.#pending.push(p);
    return false;
  }

  #write(parts: (string | Uint8Array)[]): boolean {
    const socket = this.#connection.socket;
    if (parts.length === 1) return socket.write(parts[0]!, "latin1");
    socket.cork();
    let ok = true;
    for (const p of parts) ok = socket.write(p, "latin1");
    socket.uncork();
    return ok;
  }

  #finish(): void {
    if (!this.#connection.isCurrent(this)) return;
    this.writableFinished = true;
    this.#connection.answered(this);
    this.emit("finish");
    this.emit("close");
  }
}

function checkHeader(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
  if (FIELD_VALUE_BAD.test(value)) throw new TypeError(`Invalid character in header "${name}"`);
}
