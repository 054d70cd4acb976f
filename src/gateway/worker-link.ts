import { statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import {
  encodeFrame,
  encodeHeadFrame,
  FRAME,
  FrameReader,
  FrameWriter,
  LINK_PROTOCOL,
  LinkProtocolError,
  StreamIds,
  splitHead,
} from "../daemon/link-frames.ts";
import { LINK_SOCKET_HEADER } from "../daemon/link-server.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { WorkerEndpoint } from "./routing.ts";

/** What the gateway sends a worker: the request as its caller sent it, minus hop-by-hop headers. */
export type LinkedRequest = { method: string; path: string; rawHeaders: string[]; body: Buffer | undefined };

/** How one try at one worker went. */
export type Attempt =
  | { kind: "unreachable"; why: string }
  | { kind: "retry"; code: string }
  | { kind: "done"; status: number; headers: Record<string, string>; body: Buffer }
  | { kind: "stream"; upstream: LinkedStream };

/** The largest answer head or frame a worker may send; bodies over it come as a stream. */
const MAX_ANSWER_FRAME = 64 * 1024 * 1024;
const MAX_HEAD_BYTES = 1024 * 1024;

/**
 * The gateway's links to its workers (docs/adr/0015): one connection to each, opened on first
 * use by an HTTP upgrade on the worker's own endpoint and opened again after it drops, every
 * request in flight a stream on it.
 */
export class WorkerLinks {
  readonly #links = new Map<string, WorkerLink>();
  readonly #timeoutMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    // One timer for every request in flight instead of one each: a worker silent on a request
    // for the timeout (no answer, or no piece of a streamed one) is given up on.
    this.#sweep = setInterval(
      () => {
        const now = Date.now();
        for (const link of this.#links.values()) link.expire(now);
      },
      Math.max(50, Math.min(1_000, timeoutMs / 4)),
    );
    this.#sweep.unref();
  }

  send(worker: WorkerEndpoint, request: LinkedRequest): Promise<Attempt> {
    let link = this.#links.get(worker.url);
    if (!link || link.closed) {
      link = new WorkerLink(worker.url, this.#timeoutMs);
      this.#links.set(worker.url, link);
    }
    return link.send(request);
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
  }
}

type Pending = {
  deadline: number;
  resolve: (attempt: Attempt) => void;
  reject: (err: Error) => void;
  /** Set once the worker started a streamed answer. */
  stream?: LinkedStream;
};

/** Ends a request that will get no (more) answer: its stream breaks off, or its attempt fails. */
function failPending(p: Pending, err: Error): void {
  if (p.stream) p.stream.fail(err);
  else p.reject(err);
}

class WorkerLink {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #ids = new StreamIds();
  readonly #reader = new FrameReader(MAX_ANSWER_FRAME);
  #connecting: Promise<FrameWriter | Error>;
  #socket: Socket | undefined;
  #writer: FrameWriter | undefined;
  closed = false;

  constructor(url: string, timeoutMs: number) {
    this.#url = url;
    this.#timeoutMs = timeoutMs;
    this.#connecting = this.#connect();
  }

  async send(request: LinkedRequest): Promise<Attempt> {
    const writer = await this.#connecting;
    if (writer instanceof Error) return { kind: "unreachable", why: writer.message };
    if (this.closed) return { kind: "unreachable", why: "link closed" };
    const id = this.#ids.next((n) => this.#pending.has(n));
    return new Promise<Attempt>((resolve, reject) => {
      this.#pending.set(id, { deadline: Date.now() + this.#timeoutMs, resolve, reject });
      writer.send(
        encodeHeadFrame(
          FRAME.request,
          id,
          { m: request.method, u: request.path, h: request.rawHeaders },
          request.body,
        ),
      );
    });
  }

  /** Gives up on requests the worker has been silent on for the timeout. */
  expire(now: number): void {
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(id);
      this.#write(encodeFrame(FRAME.reset, id));
      const timeout = new VeilError("WORKER_TIMEOUT", "The worker did not answer in time", {
        status: 504,
        retryable: true,
      });
      failPending(p, timeout);
    }
  }

  close(): void {
    this.closed = true;
    this.#socket?.destroy();
  }

  #write(frame: Buffer): void {
    this.#writer?.send(frame);
  }

  async #connect(): Promise<FrameWriter | Error> {
    const tcp = await upgrade({ url: this.#url }, this.#timeoutMs);
    if (tcp instanceof Error) {
      this.closed = true;
      return tcp;
    }
    let { socket, head } = tcp;
    // A worker on this machine offers a Unix socket: the same link without the TCP stack.
    const local = localSocketOf(this.#url, tcp.response);
    if (local) {
      const moved = await upgrade({ url: "http://localhost", socketPath: local }, this.#timeoutMs);
      if (!(moved instanceof Error)) {
        socket.destroy();
        ({ socket, head } = moved);
      }
    }
    socket.setNoDelay?.(true);
    socket.setTimeout(0);
    // Requests in flight keep the process alive through their callers' connections; an idle
    // link by itself does not.
    socket.unref();
    this.#socket = socket;
    this.#writer = new FrameWriter(socket);
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    socket.on("error", () => {});
    socket.on("end", () => socket.destroy());
    socket.on("close", () => this.#lost());
    if (head.length) this.#read(head);
    return this.#writer;
  }

  /** The connection dropped: nothing more will come for any request on it. */
  #lost(): void {
    this.closed = true;
    const dropped = new VeilError("WORKER_FAILED", "The worker dropped the request", {
      status: 502,
      retryable: true,
    });
    for (const p of this.#pending.values()) {
      failPending(p, dropped);
    }
    this.#pending.clear();
  }

  #read(chunk: Buffer): void {
    try {
      for (const frame of this.#reader.push(chunk)) this.#frame(frame.type, frame.stream, frame.payload);
    } catch (err) {
      if (!(err instanceof LinkProtocolError)) console.error(err);
      this.#socket?.destroy();
    }
  }

  #frame(type: number, id: number, payload: Buffer): void {
    const p = this.#pending.get(id);
    // Frames for a stream given up on (timed out, or its caller left) are dropped.
    if (!p) return;
    p.deadline = Date.now() + this.#timeoutMs;
    if (type === FRAME.response) {
      this.#pending.delete(id);
      const { head, body } = splitHead(payload, MAX_HEAD_BYTES);
      const { status, headers } = answerHead(head);
      p.resolve(retryableRefusal(status, headers, body) ?? { kind: "done", status, headers, body });
    } else if (type === FRAME.head && !p.stream) {
      const { status, headers } = answerHead(splitHead(payload, MAX_HEAD_BYTES).head);
      p.stream = new LinkedStream(status, headers, {
        ack: (bytes) => {
          // A reader taking the answer is progress too: the worker may be waiting for it.
          p.deadline = Date.now() + this.#timeoutMs;
          this.#write(encodeWindow(id, bytes));
        },
        cancel: () => {
          if (this.#pending.delete(id)) this.#write(encodeFrame(FRAME.reset, id));
        },
      });
      p.resolve({ kind: "stream", upstream: p.stream });
    } else if (type === FRAME.data && p.stream) {
      p.stream.push(payload);
    } else if (type === FRAME.end && p.stream) {
      this.#pending.delete(id);
      p.stream.finish(stringRecord(splitHead(payload, MAX_HEAD_BYTES).head));
    } else if (type === FRAME.reset) {
      this.#pending.delete(id);
      const broken = new VeilError("WORKER_FAILED", "The worker broke off its answer", {
        status: 502,
        retryable: true,
      });
      failPending(p, broken);
    } else {
      throw new LinkProtocolError(`Frame type ${type} out of order on stream ${id}`);
    }
  }
}

/** Opens a connection and asks it to switch to the link. */
function upgrade(
  target: { url: string; socketPath?: string },
  timeoutMs: number,
): Promise<{ socket: Socket; head: Buffer; response: IncomingMessage } | Error> {
  return new Promise((resolve) => {
    const req = httpRequest(`${target.url}/v1/link`, {
      headers: { connection: "Upgrade", upgrade: LINK_PROTOCOL },
      timeout: timeoutMs,
      ...(target.socketPath ? { socketPath: target.socketPath } : {}),
    });
    req.on("upgrade", (response, socket: Socket, head: Buffer) => resolve({ socket, head, response }));
    req.on("response", (res) => {
      res.resume();
      resolve(new Error(`does not serve ${LINK_PROTOCOL} (HTTP ${res.statusCode})`));
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(new Error("connecting timed out"));
    });
    req.on("error", (err: NodeJS.ErrnoException) => resolve(new Error(err.code ?? err.message)));
    req.end();
  });
}

/** The Unix socket a worker named, if it is on this machine (a loopback URL) and the socket is there. */
function localSocketOf(url: string, response: IncomingMessage): string | undefined {
  const path = response.headers[LINK_SOCKET_HEADER];
  if (typeof path !== "string" || !path.startsWith("/")) return undefined;
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") return undefined;
  try {
    return statSync(path).isSocket() ? path : undefined;
  } catch {
    return undefined;
  }
}

function encodeWindow(id: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return encodeFrame(FRAME.window, id, payload);
}

function answerHead(head: unknown): { status: number; headers: Record<string, string> } {
  const { s, h } = (head ?? {}) as { s?: unknown; h?: unknown };
  if (typeof s !== "number" || !Number.isInteger(s) || s < 100 || s > 599)
    throw new LinkProtocolError("An answer without a status");
  return { status: s, headers: stringRecord(h) };
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new LinkProtocolError("Headers that are not a map of strings");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new LinkProtocolError("Headers that are not a map of strings");
    out[k] = v;
  }
  return out;
}

/** A worker's retryable refusal (not ready, no keys yet, …): the gateway tries the next worker. */
function retryableRefusal(
  status: number,
  headers: Record<string, string>,
  body: Buffer,
): Attempt | undefined {
  if (status !== 503 || !String(headers["content-type"]).includes("application/json")) return undefined;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { error?: unknown };
    if (isVeilErrorJSON(parsed.error) && parsed.error.retryable)
      return { kind: "retry", code: parsed.error.code };
  } catch {
    // not a Veil error: passed on as it is
  }
  return undefined;
}

/**
 * A streamed answer arriving over the link, read piece by piece. The reader says how much it
 * has passed on (`ack`), which lets the worker send more; `cancel` stops the agent.
 */
export class LinkedStream {
  readonly status: number;
  readonly headers: Record<string, string>;
  trailers: Record<string, string> = {};
  /** True once the worker ended the answer in order (not cut off). */
  complete = false;
  readonly #control: { ack: (bytes: number) => void; cancel: () => void };
  #queue: Buffer[] = [];
  #error: Error | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(
    status: number,
    headers: Record<string, string>,
    control: { ack: (bytes: number) => void; cancel: () => void },
  ) {
    this.status = status;
    this.headers = headers;
    this.#control = control;
  }

  ack(bytes: number): void {
    this.#control.ack(bytes);
  }

  cancel(): void {
    this.#control.cancel();
  }

  push(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#wakeReader();
  }

  finish(trailers: Record<string, string>): void {
    this.trailers = trailers;
    this.complete = true;
    this.#ended = true;
    this.#wakeReader();
  }

  fail(error: Error): void {
    this.#error = error;
    this.#ended = true;
    this.#wakeReader();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk) {
        yield chunk;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}
