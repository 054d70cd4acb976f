import { EventEmitter } from "node:events";
import { chmodSync, rmSync } from "node:fs";
import type { IncomingHttpHeaders, IncomingMessage, Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { VeilError } from "../errors/index.ts";
import {
  type DaemonListener,
  type DaemonRequest,
  type DaemonResponse,
  type HeaderValue,
  headersFromRaw,
} from "./http.ts";
import type { LinkAuthenticator } from "./link-auth.ts";
import {
  encodeFrame,
  encodeHeadFrame,
  FRAME,
  type Frame,
  FrameReader,
  FrameWriter,
  LINK_PROTOCOL,
  LinkProtocolError,
  splitHead,
} from "./link-frames.ts";

/** How much of a streamed answer may be on its way before the gateway says its reader took it. */
export const LINK_STREAM_WINDOW = 256 * 1024;
/**
 * Requests one link may have open at once; more are answered 503 (retryable, so the gateway
 * tries another worker). With LINK_BUFFER_BYTES, this bounds what a link's peer can make the
 * worker hold: the answers of this many requests, plus that buffer.
 */
export const LINK_MAX_STREAMS = 256;
/** A request's head as JSON: far above the 16 KiB of raw headers the gateway accepts. */
const MAX_HEAD_BYTES = 128 * 1024;

/** The 101 answer's header naming a Unix socket that reaches the same daemon on this machine. */
export const LINK_SOCKET_HEADER = "x-veil-link-socket";
const localSockets = new WeakMap<Server, string>();

/** Links one gateway may have open to a worker at once (a gateway opens one; it reopens after a drop). */
export const LINK_MAX_PER_PEER = 8;
/** Answer bytes a link may have waiting for its gateway to read before the worker stops reading requests. */
export const LINK_BUFFER_BYTES = 16 * 1024 * 1024;

export type LinkOptions = {
  /** Largest request body a link frame may carry. */
  maxRequestBytes: number;
  /** Who may open a link: the gateways this worker takes links from (link-auth.ts). */
  authenticator: LinkAuthenticator;
};

/**
 * Where the pieces of a linked answer go: frames on a link's socket (`LinkConnection`), or
 * straight to a gateway in the same process (src/gateway/worker-link.ts).
 */
export interface AnswerSink {
  /** The whole answer at once: nothing was flushed or written before `end`. */
  whole(
    stream: number,
    status: number,
    headers: Record<string, string | string[]>,
    body: Uint8Array | undefined,
  ): void;
  head(stream: number, status: number, headers: Record<string, string | string[]>): void;
  data(stream: number, bytes: Uint8Array): void;
  end(stream: number, trailers: Record<string, string>): void;
  /** The answer broke off. */
  reset(stream: number): void;
  /** The stream is over, whichever way: the sink forgets it. */
  done(stream: number): void;
}

/**
 * Lets a daemon's HTTP server also serve the gateway's link (docs/adr/0015): a gateway that asks
 * for `Upgrade: veil-link/1`, signed with a link key the worker takes links from (docs/adr/0018),
 * gets the connection switched to multiplexed frames, and each request on it goes to `listener`,
 * the same handler the server's HTTP requests go to. Anyone else is refused (401) and may call
 * the worker over plain HTTP; a frame that breaks the framing closes that connection only.
 */
export function serveLinks(server: Server, listener: DaemonListener, options: LinkOptions): void {
  const open = new Map<string, number>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    if (String(req.headers.upgrade).toLowerCase() !== LINK_PROTOCOL) {
      socket.end(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nOnly ${LINK_PROTOCOL} upgrades are served here.\n`,
      );
      return;
    }
    void options.authenticator.check(req.headers).then((who) => {
      if (socket.destroyed) return;
      if (who instanceof VeilError) {
        refuseUpgrade(socket, who);
        return;
      }
      const count = open.get(who.gateway) ?? 0;
      if (count >= LINK_MAX_PER_PEER) {
        refuseUpgrade(
          socket,
          new VeilError(
            "LINK_TOO_MANY",
            `Gateway ${who.gateway} already has ${count} links open to this worker`,
            {
              status: 429,
              retryable: true,
              hint: "A gateway needs one link per worker; close the others.",
            },
          ),
        );
        return;
      }
      open.set(who.gateway, count + 1);
      socket.once("close", () => {
        const left = (open.get(who.gateway) ?? 1) - 1;
        if (left > 0) open.set(who.gateway, left);
        else open.delete(who.gateway);
      });
      const local = localSockets.get(server);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${LINK_PROTOCOL}\r\n${local ? `${LINK_SOCKET_HEADER}: ${local}\r\n` : ""}\r\n`,
      );
      new LinkConnection(socket as Socket, listener, options).start(head);
    });
  });
}

function refuseUpgrade(socket: Duplex, error: VeilError): void {
  const body = JSON.stringify({ error: error.toJSON() });
  socket.end(
    `HTTP/1.1 ${error.status} ${error.status === 429 ? "Too Many Requests" : "Unauthorized"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Also serves `server` on a Unix socket at `path` (owner-only), and names it in link upgrades:
 * a gateway on the same machine moves its link there, which skips the loopback TCP stack (a
 * write over it costs several times what it does over a Unix socket; docs/adr/0015).
 */
export async function listenLocalLinks(server: Server, path: string): Promise<NetServer> {
  rmSync(path, { force: true });
  // Connections are handed to the HTTP server as if it had accepted them itself.
  const local = createNetServer((socket) => server.emit("connection", socket));
  await new Promise<void>((resolve, reject) => {
    local.once("error", reject);
    local.listen(path, resolve);
  });
  chmodSync(path, 0o600);
  localSockets.set(server, path);
  server.once("close", () => local.close());
  return local;
}

/** The worker's end of one link: requests in, answers out as frames. */
class LinkConnection implements AnswerSink {
  readonly #socket: Socket;
  readonly #listener: DaemonListener;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #open = new Map<number, LinkResponse>();
  /** Not reading requests until the gateway takes the answers waiting for it. */
  #paused = false;
  /** Frames read, handled up to `#next`: the rest came in the same chunk as a pause. */
  #backlog: Frame[] = [];
  #next = 0;

  constructor(socket: Socket, listener: DaemonListener, options: LinkOptions) {
    this.#socket = socket;
    this.#listener = listener;
    // A request frame is its head and body; nothing else the gateway sends is larger.
    this.#reader = new FrameReader(options.maxRequestBytes + MAX_HEAD_BYTES + 4);
    this.#writer = new FrameWriter(socket);
  }

  start(head: Buffer): void {
    this.#socket.setNoDelay(true);
    this.#socket.on("data", (chunk: Buffer) => this.#read(chunk));
    this.#socket.on("error", () => {});
    // HTTP servers keep sockets half-open; a link whose gateway hung up is over.
    this.#socket.on("end", () => this.#socket.destroy());
    this.#socket.on("close", () => {
      for (const res of this.#open.values()) res.abandon();
      this.#open.clear();
    });
    if (head.length) this.#read(head);
  }

  whole(
    stream: number,
    status: number,
    headers: Record<string, string | string[]>,
    body: Uint8Array | undefined,
  ): void {
    this.#send(encodeHeadFrame(FRAME.response, stream, { s: status, h: headers }, body));
  }

  head(stream: number, status: number, headers: Record<string, string | string[]>): void {
    this.#send(encodeHeadFrame(FRAME.head, stream, { s: status, h: headers }));
  }

  data(stream: number, bytes: Uint8Array): void {
    this.#send(encodeFrame(FRAME.data, stream, bytes));
  }

  end(stream: number, trailers: Record<string, string>): void {
    this.#send(encodeHeadFrame(FRAME.end, stream, trailers));
  }

  reset(stream: number): void {
    this.#send(encodeFrame(FRAME.reset, stream));
  }

  /**
   * Sends a frame; past LINK_BUFFER_BYTES of answers the gateway has not taken, no more requests
   * are read from it until its socket drains. A peer that sends and never reads holds at most
   * that, plus the answers of requests already running, never an unbounded queue.
   */
  #send(frame: Buffer): void {
    this.#writer.send(frame);
    if (this.#paused || this.#writer.buffered <= LINK_BUFFER_BYTES) return;
    this.#paused = true;
    this.#socket.pause();
    const resume = () => {
      if (this.#writer.buffered > LINK_BUFFER_BYTES && !this.#socket.destroyed) {
        this.#socket.once("drain", resume);
        return;
      }
      this.#paused = false;
      this.#handleBacklog();
    };
    // The frames go out at the end of this turn; the socket says when the peer took them.
    setImmediate(() => this.#socket.once("drain", resume));
  }

  done(stream: number): void {
    this.#open.delete(stream);
  }

  #read(chunk: Buffer): void {
    try {
      const frames = this.#reader.push(chunk);
      // Nothing waits, as whenever the link is not paused: the chunk's frames are the backlog.
      this.#backlog =
        this.#next === this.#backlog.length ? frames : this.#backlog.slice(this.#next).concat(frames);
      this.#next = 0;
    } catch (err) {
      this.#broken(err);
      return;
    }
    this.#handleBacklog();
  }

  /**
   * Handles what was read, until the link is paused (its peer is behind on answers): the rest
   * waits, unread, and so does the socket.
   */
  #handleBacklog(): void {
    try {
      while (this.#next < this.#backlog.length && !this.#paused) {
        const frame = this.#backlog[this.#next++]!;
        if (frame.type === FRAME.request) this.#request(frame.stream, frame.payload);
        else if (frame.type === FRAME.window) {
          if (frame.payload.length !== 4) throw new LinkProtocolError("A window frame carries 4 bytes");
          this.#open.get(frame.stream)?.acknowledge(frame.payload.readUInt32BE(0));
        } else if (frame.type === FRAME.reset) this.#open.get(frame.stream)?.abandon();
        else if (frame.type === FRAME.ping) this.#send(encodeFrame(FRAME.pong, 0));
        else throw new LinkProtocolError(`A worker is not sent frames of type ${frame.type}`);
      }
    } catch (err) {
      this.#broken(err);
      return;
    }
    if (this.#next < this.#backlog.length) this.#socket.pause();
    else if (!this.#paused && this.#socket.isPaused()) this.#socket.resume();
  }

  #broken(err: unknown): void {
    // Past a framing error nothing lines up: this connection ends, no other is touched.
    if (!(err instanceof LinkProtocolError)) console.error(err);
    this.#backlog = [];
    this.#next = 0;
    this.#socket.destroy();
  }

  #request(stream: number, payload: Buffer): void {
    if (this.#open.has(stream)) throw new LinkProtocolError(`Stream ${stream} is already open`);
    const { head, body } = splitHead(payload, MAX_HEAD_BYTES);
    const res = new LinkResponse(this, stream);
    this.#open.set(stream, res);
    const request = parseRequestHead(head);
    if (request instanceof VeilError) {
      res.fail(request);
      return;
    }
    if (this.#open.size > LINK_MAX_STREAMS) {
      res.fail(
        new VeilError("WORKER_BUSY", `This link has over ${LINK_MAX_STREAMS} requests open`, {
          status: 503,
          retryable: true,
        }),
      );
      return;
    }
    this.#listener(new LinkRequest(request.method, request.url, request.rawHeaders, body), res);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const FIELD_VALUE = /^[^\r\n\0]*$/;

/** A request head as the gateway sends it, checked as an HTTP parser would check the same. */
function parseRequestHead(head: unknown): { method: string; url: string; rawHeaders: string[] } | VeilError {
  const bad = (why: string) =>
    new VeilError("REQUEST_MALFORMED", `The linked request is malformed: ${why}`, { status: 400 });
  if (typeof head !== "object" || head === null) return bad("no head");
  const { m, u, h } = head as { m?: unknown; u?: unknown; h?: unknown };
  if (typeof m !== "string" || !TOKEN.test(m)) return bad("method");
  if (typeof u !== "string" || !u.startsWith("/") || u.length > 16_384 || !FIELD_VALUE.test(u))
    return bad("path");
  if (!Array.isArray(h) || h.length % 2 !== 0 || h.length > 2000) return bad("headers");
  for (let i = 0; i < h.length; i += 2) {
    if (typeof h[i] !== "string" || !TOKEN.test(h[i])) return bad("header name");
    if (typeof h[i + 1] !== "string" || !FIELD_VALUE.test(h[i + 1])) return bad("header value");
  }
  return { method: m, url: u, rawHeaders: h as string[] };
}

/** A request that came over a link, shaped as much like node:http's as the handlers need. */
export class LinkRequest implements DaemonRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly #body: Buffer;
  #headers: IncomingHttpHeaders | undefined;

  constructor(method: string, url: string, rawHeaders: string[], body: Buffer) {
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.#body = body;
  }

  get headers(): IncomingHttpHeaders {
    if (!this.#headers) {
      const headers = headersFromRaw(this.rawHeaders);
      // The body came whole: its length is what it is, whatever a header says.
      headers["content-length"] = String(this.#body.length);
      this.#headers = headers;
    }
    return this.#headers;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#body.length) yield this.#body;
  }
}

/**
 * An answer going back over a link. Until something is written it is one whole answer (head and
 * body together); a handler that flushes or writes before ending streams it as a head, data and
 * an end with the trailers, never more than the window ahead of the gateway's reader.
 */
export class LinkResponse extends EventEmitter implements DaemonResponse {
  readonly #sink: AnswerSink;
  readonly #stream: number;
  #status = 200;
  readonly #headers: Record<string, string | string[]> = {};
  #trailers: Record<string, string> = {};
  #unacknowledged = 0;
  #waiting = false;
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;

  constructor(sink: AnswerSink, stream: number) {
    super();
    this.#sink = sink;
    this.#stream = stream;
  }

  setHeader(name: string, value: HeaderValue): this {
    this.#headers[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
    return this;
  }

  writeHead(status: number, headers?: Record<string, HeaderValue>): this {
    this.#status = status;
    if (headers) for (const k in headers) this.setHeader(k, headers[k]!);
    return this;
  }

  flushHeaders(): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    this.#sink.head(this.#stream, this.#status, this.#headers);
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.destroyed || this.writableEnded) return false;
    this.flushHeaders();
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (bytes.byteLength === 0) return true;
    this.#sink.data(this.#stream, bytes);
    this.#unacknowledged += bytes.byteLength;
    if (this.#unacknowledged < LINK_STREAM_WINDOW) return true;
    this.#waiting = true;
    return false;
  }

  addTrailers(trailers: Record<string, string>): void {
    this.#trailers = { ...this.#trailers, ...trailers };
  }

  end(chunk?: Uint8Array | string): this {
    if (this.destroyed || this.writableEnded) return this;
    const bytes = chunk === undefined ? undefined : typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    // Ended before the sink hears of it: a sink that answers synchronously sees a finished stream.
    this.writableEnded = true;
    this.writableFinished = true;
    this.#sink.done(this.#stream);
    if (!this.headersSent) {
      this.headersSent = true;
      this.#sink.whole(this.#stream, this.#status, this.#headers, bytes);
    } else {
      if (bytes?.byteLength) this.#sink.data(this.#stream, bytes);
      this.#sink.end(this.#stream, this.#trailers);
    }
    this.emit("finish");
    this.emit("close");
    return this;
  }

  /** Breaks the answer off: the gateway cuts its caller's response, so it is not taken as whole. */
  destroy(): this {
    if (this.destroyed || this.writableEnded) return this;
    this.#sink.reset(this.#stream);
    this.abandon();
    return this;
  }

  /** The gateway's reader took `bytes` more of the streamed answer. */
  acknowledge(bytes: number): void {
    this.#unacknowledged = Math.max(0, this.#unacknowledged - bytes);
    if (this.#waiting && this.#unacknowledged < LINK_STREAM_WINDOW) {
      this.#waiting = false;
      this.emit("drain");
    }
  }

  /** The caller went away (or the link did): whatever was running for it may stop. */
  abandon(): void {
    if (this.destroyed || this.writableEnded) return;
    this.destroyed = true;
    this.#sink.done(this.#stream);
    this.emit("close");
  }

  /** Answers with a Veil error before any handler ran. */
  fail(error: VeilError): void {
    const body = JSON.stringify({ error: error.toJSON() });
    this.writeHead(error.status, { "content-type": "application/json" }).end(body);
  }
}
