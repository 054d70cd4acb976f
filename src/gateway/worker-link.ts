import { statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { type Socket, connect as tcpConnect } from "node:net";
import type { Hex } from "viem";
import type { DaemonListener } from "../daemon/http.ts";
import { linkAuthHeaders } from "../daemon/link-auth.ts";
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
import { type AnswerSink, LINK_SOCKET_HEADER, LinkRequest, LinkResponse } from "../daemon/link-server.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { WorkerEndpoint } from "./routing.ts";
import { tcpState } from "./tcp-state.ts";

/** What the gateway sends a worker: the request as its caller sent it, minus hop-by-hop headers. */
export type LinkedRequest = { method: string; path: string; rawHeaders: string[]; body: Buffer | undefined };

/** How one try at one worker went. */
export type Attempt =
  | { kind: "unreachable"; why: string }
  | { kind: "retry"; code: string }
  | { kind: "done"; status: number; headers: Record<string, string | string[]>; body: Buffer }
  | { kind: "stream"; upstream: LinkedStream };

/** The largest answer head or frame a worker may send; bodies over it come as a stream. */
const MAX_ANSWER_FRAME = 64 * 1024 * 1024;
const MAX_HEAD_BYTES = 1024 * 1024;

/** The worker in the gateway's own process, when they share one (`veil worker --gateway-port`). */
export type LocalWorker = { address: string; listener: DaemonListener };

/**
 * The gateway's links to its workers (docs/adr/0015): one connection to each, opened on first
 * use by an HTTP upgrade on the worker's own endpoint and opened again after it drops, every
 * request in flight a stream on it. A worker in the gateway's own process is linked by calls
 * instead of frames (docs/adr/0016).
 */
/** How often a link that heard nothing asks its worker whether it is there. */
const LINK_PING_MS = 100;
/**
 * Silence after which a link is taken for dead if its worker's host acknowledges nothing either
 * (the kernel is retransmitting what the link wrote): a host cut off. A worker whose host
 * acknowledges but whose process is silent is busy, not gone: it has until `LINK_DEAD_MS`.
 */
const LINK_SUSPECT_MS = 200;
/**
 * How often a silent link asks the kernel about it at most: reading `/proc/net/tcp` costs
 * ~17 ms with 4,000 connections in the table, and a busy worker's link stays silent up to 2 s.
 */
const LINK_KERNEL_CHECK_MS = 150;
/** Silence after which a link is taken for dead whatever its host says (a worker stuck that long). */
const LINK_DEAD_MS = 2_000;
/** How long connecting to a worker may take before it counts as unreachable. */
const LINK_CONNECT_TIMEOUT_MS = 2_000;
/** How long an unreachable worker is passed over before a request dials it again itself. */
const LINK_COOL_DOWN_MS = 1_000;
/**
 * A worker found unreachable is tried again in the background (`WorkerLinks.#redial`): a TCP
 * connection at once, then again after each wait, the wait growing by half up to the most. A
 * new SYN each time: a connection still waiting on its lost SYN is retried by the kernel only
 * 1 s, then 3 s later, so a host whose link came back would wait for that.
 */
const REDIAL_FIRST_MS = 100;
const REDIAL_MOST_MS = 250;
/** After this long unreachable, the background stops trying; a request for it starts it again. */
const REDIAL_GIVE_UP_MS = 5 * 60_000;

export type WorkerLinksOptions = {
  /**
   * A worker found unreachable is linked again: the gateway's routing, which put it last
   * meanwhile, may send it requests again at once.
   */
  onLinked?: (worker: WorkerEndpoint) => void;
};

export class WorkerLinks {
  readonly #links = new Map<string, WorkerLink>();
  readonly #timeoutMs: number;
  readonly #sweep: NodeJS.Timeout;
  readonly #local: { address: string; link: LocalLink } | undefined;
  readonly #linkKey: Hex | undefined;
  readonly #onLinked: ((worker: WorkerEndpoint) => void) | undefined;
  /** The background redials under way, by worker URL: each one's stop. */
  readonly #redials = new Map<string, () => void>();
  #closed = false;

  /**
   * `linkKey` signs each link this gateway opens (docs/adr/0018): workers take links only from
   * the gateways they list. Without it, no worker takes a link from this gateway.
   */
  constructor(timeoutMs: number, local?: LocalWorker, linkKey?: Hex, options: WorkerLinksOptions = {}) {
    this.#timeoutMs = timeoutMs;
    this.#linkKey = linkKey;
    this.#onLinked = options.onLinked;
    if (local)
      this.#local = { address: local.address.toLowerCase(), link: new LocalLink(local.listener, timeoutMs) };
    // One timer for every request in flight instead of one each: a worker silent on a request
    // for the timeout (no answer, or no piece of a streamed one) is given up on.
    this.#sweep = setInterval(
      () => {
        const now = Date.now();
        for (const link of this.#links.values()) {
          link.expire(now);
          // Found unreachable (given up as silent, or could not connect): tried again from now.
          if (link.closed && link.unreachableUntil > 0 && !link.redialled) {
            link.redialled = true;
            this.#redial(link.worker);
          }
        }
        this.#local?.link.expire(now);
      },
      // Also the links' heartbeat (LINK_PING_MS): a cut host is found within LINK_SUSPECT_MS
      // and a retransmission time-out, a stuck worker within LINK_DEAD_MS.
      Math.max(50, Math.min(LINK_PING_MS, timeoutMs / 4)),
    );
    this.#sweep.unref();
  }

  send(worker: WorkerEndpoint, request: LinkedRequest): Promise<Attempt> {
    if (this.#local && worker.address.toLowerCase() === this.#local.address)
      return this.#local.link.send(request);
    let link = this.#links.get(worker.url);
    // A worker being dialled again in the background is not dialled for each request too:
    // they go to the next worker until it is linked.
    if (link?.closed && this.#redials.has(worker.url))
      return Promise.resolve({ kind: "unreachable", why: "dialling it again" });
    if (link?.closed && link.unreachableUntil > Date.now())
      return Promise.resolve({ kind: "unreachable", why: "unreachable a moment ago" });
    if (!link || link.closed) {
      // A worker found unreachable is dialled again in the background: requests go to the
      // next worker meanwhile rather than wait for a host that may still be cut off to answer.
      // (Here once the background gave up on it, and this request starts it again.)
      if (link !== undefined && link.unreachableUntil > 0) link = this.#relink(worker);
      else {
        link = new WorkerLink(worker, this.#timeoutMs, this.#linkKey);
        this.#links.set(worker.url, link);
      }
    }
    return link.send(request);
  }

  /**
   * Tries a TCP connection to a worker found unreachable, a new one after each wait (several may
   * be out at once, each for up to LINK_CONNECT_TIMEOUT_MS), until one connects: then the link
   * is made again and `onLinked` told. A bare connection, not the link's upgrade: it costs the
   * worker nothing (no signature to check), and of several that connect at once one link is made.
   */
  #redial(worker: WorkerEndpoint): void {
    if (this.#closed || this.#redials.has(worker.url)) return;
    const target = new URL(worker.url);
    const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(target.port || 80);
    const started = Date.now();
    const probes = new Set<Socket>();
    let wait = REDIAL_FIRST_MS;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(timer);
      for (const s of probes) s.destroy();
      this.#redials.delete(worker.url);
    };
    const probe = () => {
      if (Date.now() - started > REDIAL_GIVE_UP_MS) return stop();
      const socket = tcpConnect({ host, port });
      probes.add(socket);
      socket.unref();
      socket.setTimeout(LINK_CONNECT_TIMEOUT_MS, () => socket.destroy());
      socket.on("error", () => {});
      socket.once("close", () => probes.delete(socket));
      socket.once("connect", () => {
        stop();
        if (!this.#closed) this.#relink(worker);
      });
      timer = setTimeout(probe, wait);
      timer.unref();
      wait = Math.min(REDIAL_MOST_MS, wait * 1.5);
    };
    this.#redials.set(worker.url, stop);
    probe();
  }

  /** Dials the link to a worker that answers again; requests go to it once it is made. */
  #relink(worker: WorkerEndpoint): WorkerLink {
    const link = new WorkerLink(worker, this.#timeoutMs, this.#linkKey, true);
    this.#links.set(worker.url, link);
    void link.ready.then((ok) => {
      if (ok && !this.#closed && this.#links.get(worker.url) === link) this.#onLinked?.(worker);
    });
    return link;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const stop of [...this.#redials.values()]) stop();
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
    this.#local?.link.close();
  }
}

type Pending = {
  deadline: number;
  resolve: (attempt: Attempt) => void;
  reject: (err: Error) => void;
  /** Set once the worker started a streamed answer. */
  stream?: LinkedStream;
};

/** How a stream's reader talks back to the worker: it took bytes, or it left. */
type StreamControl = { ack: (id: number, bytes: number) => void; cancel: (id: number) => void };

/**
 * The gateway's side of the requests in flight on one link, whatever carries them: each gets
 * its answer whole, or as a stream, or an error when the worker breaks off, drops or is silent
 * past the time-out.
 */
class Answers {
  readonly #pending = new Map<number, Pending>();
  readonly #ids = new StreamIds();
  readonly #timeoutMs: number;
  readonly #control: StreamControl;

  constructor(timeoutMs: number, control: StreamControl) {
    this.#timeoutMs = timeoutMs;
    this.#control = control;
  }

  /** A new request's stream id and the promise of how it went. */
  open(): { id: number; attempt: Promise<Attempt> } {
    const id = this.#ids.next((n) => this.#pending.has(n));
    const attempt = new Promise<Attempt>((resolve, reject) => {
      this.#pending.set(id, { deadline: Date.now() + this.#timeoutMs, resolve, reject });
    });
    return { id, attempt };
  }

  /** The pending request `id`, its time-out pushed back: the worker is making progress. */
  #progress(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    // Pieces for a stream given up on (timed out, or its caller left) are dropped.
    if (p) p.deadline = Date.now() + this.#timeoutMs;
    return p;
  }

  /**
   * The pieces of an answer. Each returns false for a piece out of order (a whole answer or a
   * head for a request already streaming, data or an end for one that is not); pieces for a
   * request no longer pending are dropped.
   */
  whole(id: number, status: number, headers: Record<string, string | string[]>, body: Buffer): boolean {
    const p = this.#pending.get(id);
    if (!p) return true;
    if (p.stream) return false;
    this.#pending.delete(id);
    p.resolve(retryableRefusal(status, headers, body) ?? { kind: "done", status, headers, body });
    return true;
  }

  head(id: number, status: number, headers: Record<string, string | string[]>): boolean {
    const p = this.#progress(id);
    if (!p) return true;
    if (p.stream) return false;
    const stream = new LinkedStream(status, headers, {
      ack: (bytes) => {
        // A reader taking the answer is progress too: the worker may be waiting for it.
        p.deadline = Date.now() + this.#timeoutMs;
        this.#control.ack(id, bytes);
      },
      cancel: () => {
        if (this.#pending.delete(id)) this.#control.cancel(id);
      },
    });
    p.stream = stream;
    p.resolve({ kind: "stream", upstream: stream });
    return true;
  }

  data(id: number, bytes: Buffer): boolean {
    const p = this.#progress(id);
    if (!p) return true;
    if (!p.stream) return false;
    p.stream.push(bytes);
    return true;
  }

  end(id: number, trailers: Record<string, string>): boolean {
    const p = this.#pending.get(id);
    if (!p) return true;
    if (!p.stream) return false;
    this.#pending.delete(id);
    p.stream.finish(trailers);
    return true;
  }

  reset(id: number): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    failPending(
      p,
      new VeilError("WORKER_FAILED", "The worker broke off its answer", { status: 502, retryable: true }),
    );
  }

  /** Gives up on requests the worker has been silent on for the time-out; `cancel` tells the worker. */
  expire(now: number): void {
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(id);
      this.#control.cancel(id);
      failPending(
        p,
        new VeilError("WORKER_TIMEOUT", "The worker did not answer in time", {
          status: 504,
          retryable: true,
        }),
      );
    }
  }

  /** The link went away: nothing more will come for any request on it. */
  lost(): void {
    const dropped = new LinkLostError("WORKER_FAILED", "The worker dropped the request", {
      status: 502,
      retryable: true,
      hint: "It may have run before the worker went: send it again only if running it twice does no harm, or check its effect first. (Requests that may run twice, such as GET, the gateway sends on to another worker itself.)",
    });
    for (const p of this.#pending.values()) failPending(p, dropped);
    this.#pending.clear();
  }
}

/** A request's link went away under it (the worker's host cut off, or its process gone). */
export class LinkLostError extends VeilError {}

/** Ends a request that will get no (more) answer: its stream breaks off, or its attempt fails. */
function failPending(p: Pending, err: Error): void {
  if (p.stream) p.stream.fail(err);
  else p.reject(err);
}

/** A link over a connection: requests out as frames, answers in as frames. */
class WorkerLink {
  readonly #url: string;
  readonly #worker: string;
  readonly #linkKey: Hex | undefined;
  readonly #timeoutMs: number;
  readonly #answers: Answers;
  readonly #reader = new FrameReader(MAX_ANSWER_FRAME);
  #connecting: Promise<FrameWriter | Error>;
  #socket: Socket | undefined;
  #writer: FrameWriter | undefined;
  /** When anything last came from the worker, and when this link last asked (a ping). */
  #heardAt = Date.now();
  #pingedAt = 0;
  #checkedAt = 0;
  /** A link dialled again to a worker found unreachable: it takes requests once connected. */
  readonly #redial: boolean;
  #connected = false;
  closed = false;
  /** Until when a link that could not connect (or went silent) stands for an unreachable worker. */
  unreachableUntil = 0;
  /** Set once `WorkerLinks` started dialling the worker again after this link was found unreachable. */
  redialled = false;
  readonly worker: WorkerEndpoint;
  /** Whether the link was made (false: the worker could not be linked). */
  readonly ready: Promise<boolean>;

  constructor(worker: WorkerEndpoint, timeoutMs: number, linkKey: Hex | undefined, redial = false) {
    this.worker = worker;
    this.#redial = redial;
    this.#url = worker.url;
    this.#worker = worker.address;
    this.#linkKey = linkKey;
    this.#timeoutMs = timeoutMs;
    this.#answers = new Answers(timeoutMs, {
      ack: (id, bytes) => this.#write(encodeWindow(id, bytes)),
      cancel: (id) => this.#write(encodeFrame(FRAME.reset, id)),
    });
    this.#connecting = this.#connect();
    this.ready = this.#connecting.then(
      (writer) => !(writer instanceof Error),
      () => false,
    );
  }

  async send(request: LinkedRequest): Promise<Attempt> {
    if (this.#redial && !this.#connected) return { kind: "unreachable", why: "dialling it again" };
    const writer = await this.#connecting;
    if (writer instanceof Error) return { kind: "unreachable", why: writer.message };
    if (this.closed) return { kind: "unreachable", why: "link closed" };
    const { id, attempt } = this.#answers.open();
    writer.send(
      encodeHeadFrame(
        FRAME.request,
        id,
        { m: request.method, u: request.path, h: request.rawHeaders },
        request.body,
      ),
    );
    return attempt;
  }

  expire(now: number): void {
    this.#answers.expire(now);
    if (!this.#writer || this.closed) return;
    const silent = now - this.#heardAt;
    if (silent > LINK_DEAD_MS || (silent > LINK_SUSPECT_MS && this.#hostSilent(now))) {
      // The worker's host is gone or cut off: requests in flight fail now (retryable), instead
      // of at their time-out, and new ones go to other workers.
      this.closed = true;
      this.unreachableUntil = now + LINK_COOL_DOWN_MS;
      this.#socket?.destroy();
    } else if (silent >= LINK_PING_MS && now - this.#pingedAt >= LINK_PING_MS) {
      this.#pingedAt = now;
      this.#write(encodeFrame(FRAME.ping, 0));
    }
  }

  close(): void {
    this.closed = true;
    this.#socket?.destroy();
  }

  /**
   * Whether the worker's host has stopped acknowledging what this link writes: its kernel
   * retransmits (a link silent past LINK_PING_MS has a ping out). Unknown (not Linux, a Unix
   * socket): false, and LINK_DEAD_MS decides.
   */
  #hostSilent(now: number): boolean {
    const socket = this.#socket;
    if (!socket || now - this.#checkedAt < LINK_KERNEL_CHECK_MS) return false;
    this.#checkedAt = now;
    const state = tcpState(socket);
    return state !== undefined && state.retransmits > 0 && state.unacknowledged > 0;
  }

  #write(frame: Buffer): void {
    this.#writer?.send(frame);
  }

  /** A fresh signature for each upgrade: the worker takes each nonce once. */
  async #auth(): Promise<Record<string, string>> {
    return this.#linkKey ? linkAuthHeaders(this.#linkKey, this.#worker) : {};
  }

  async #connect(): Promise<FrameWriter | Error> {
    const tcp = await upgrade(
      { url: this.#url },
      Math.min(this.#timeoutMs, LINK_CONNECT_TIMEOUT_MS),
      await this.#auth(),
    );
    if (tcp instanceof Error) {
      this.closed = true;
      this.unreachableUntil = Date.now() + LINK_COOL_DOWN_MS;
      return tcp;
    }
    let { socket, head } = tcp;
    // A worker on this machine offers a Unix socket: the same link without the TCP stack.
    const local = localSocketOf(this.#url, tcp.response);
    if (local) {
      const moved = await upgrade(
        { url: "http://localhost", socketPath: local },
        this.#timeoutMs,
        await this.#auth(),
      );
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
    socket.on("close", () => {
      this.closed = true;
      this.#answers.lost();
    });
    if (head.length) this.#read(head);
    this.#heardAt = Date.now();
    this.#connected = true;
    return this.#writer;
  }

  #read(chunk: Buffer): void {
    this.#heardAt = Date.now();
    try {
      for (const frame of this.#reader.push(chunk)) this.#frame(frame.type, frame.stream, frame.payload);
    } catch (err) {
      if (!(err instanceof LinkProtocolError)) console.error(err);
      this.#socket?.destroy();
    }
  }

  #frame(type: number, id: number, payload: Buffer): void {
    const answers = this.#answers;
    if (type === FRAME.response) {
      const { head, body } = splitHead(payload, MAX_HEAD_BYTES);
      const { status, headers } = answerHead(head);
      if (!answers.whole(id, status, headers, body)) throw outOfOrder(type, id);
    } else if (type === FRAME.head) {
      const { status, headers } = answerHead(splitHead(payload, MAX_HEAD_BYTES).head);
      if (!answers.head(id, status, headers)) throw outOfOrder(type, id);
    } else if (type === FRAME.data) {
      if (!answers.data(id, payload)) throw outOfOrder(type, id);
    } else if (type === FRAME.end) {
      if (!answers.end(id, stringRecord(splitHead(payload, MAX_HEAD_BYTES).head))) throw outOfOrder(type, id);
    } else if (type === FRAME.reset) {
      answers.reset(id);
    } else if (type !== FRAME.pong) {
      throw outOfOrder(type, id);
    }
  }
}

function outOfOrder(type: number, id: number): LinkProtocolError {
  return new LinkProtocolError(`Frame type ${type} out of order on stream ${id}`);
}

/**
 * A link to the worker in the gateway's own process: each request goes to the worker's handler
 * as a call, and its answer comes back through the same `Answers` as a linked one's would, with
 * the same window, reset and time-out; no frames, no copies, no syscalls.
 */
class LocalLink implements AnswerSink {
  readonly #listener: DaemonListener;
  readonly #answers: Answers;
  readonly #open = new Map<number, LinkResponse>();

  constructor(listener: DaemonListener, timeoutMs: number) {
    this.#listener = listener;
    this.#answers = new Answers(timeoutMs, {
      ack: (id, bytes) => this.#open.get(id)?.acknowledge(bytes),
      cancel: (id) => this.#open.get(id)?.abandon(),
    });
  }

  send(request: LinkedRequest): Promise<Attempt> {
    const { id, attempt } = this.#answers.open();
    const res = new LinkResponse(this, id);
    this.#open.set(id, res);
    this.#listener(
      new LinkRequest(request.method, request.path, request.rawHeaders, request.body ?? EMPTY),
      res,
    );
    return attempt;
  }

  expire(now: number): void {
    this.#answers.expire(now);
  }

  close(): void {
    for (const res of this.#open.values()) res.abandon();
    this.#answers.lost();
  }

  whole(
    id: number,
    status: number,
    headers: Record<string, string | string[]>,
    body: Uint8Array | undefined,
  ): void {
    this.#answers.whole(id, status, headers, asBuffer(body));
  }

  head(id: number, status: number, headers: Record<string, string | string[]>): void {
    this.#answers.head(id, status, headers);
  }

  data(id: number, bytes: Uint8Array): void {
    this.#answers.data(id, asBuffer(bytes));
  }

  end(id: number, trailers: Record<string, string>): void {
    this.#answers.end(id, trailers);
  }

  reset(id: number): void {
    this.#answers.reset(id);
  }

  done(id: number): void {
    this.#open.delete(id);
  }
}

const EMPTY = Buffer.alloc(0);

function asBuffer(bytes: Uint8Array | undefined): Buffer {
  if (!bytes) return EMPTY;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Opens a connection and asks it to switch to the link. */
function upgrade(
  target: { url: string; socketPath?: string },
  timeoutMs: number,
  auth: Record<string, string>,
): Promise<{ socket: Socket; head: Buffer; response: IncomingMessage } | Error> {
  return new Promise((resolve) => {
    const req = httpRequest(`${target.url}/v1/link`, {
      headers: { ...auth, connection: "Upgrade", upgrade: LINK_PROTOCOL },
      timeout: timeoutMs,
      ...(target.socketPath ? { socketPath: target.socketPath } : {}),
    });
    req.on("upgrade", (response, socket: Socket, head: Buffer) => resolve({ socket, head, response }));
    req.on("response", (res) => {
      res.resume();
      resolve(
        new Error(
          res.statusCode === 401
            ? `does not take ${LINK_PROTOCOL} from this gateway (LINK_UNAUTHENTICATED: list the gateway's link address on the worker with --link-peer)`
            : `does not serve ${LINK_PROTOCOL} (HTTP ${res.statusCode})`,
        ),
      );
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

function answerHead(head: unknown): { status: number; headers: Record<string, string | string[]> } {
  const { s, h } = (head ?? {}) as { s?: unknown; h?: unknown };
  if (typeof s !== "number" || !Number.isInteger(s) || s < 100 || s > 599)
    throw new LinkProtocolError("An answer without a status");
  return { status: s, headers: headerRecord(h) };
}

/** An answer's headers: each a string, or a list of strings sent as one line each (Set-Cookie). */
function headerRecord(value: unknown): Record<string, string | string[]> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new LinkProtocolError("Headers that are not a map of strings");
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === "string")) out[k] = v as string[];
    else throw new LinkProtocolError("Headers that are not a map of strings");
  }
  return out;
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
  headers: Record<string, string | string[]>,
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
  readonly headers: Record<string, string | string[]>;
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
    headers: Record<string, string | string[]>,
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
