// The host's side of an agent's outbound fetch (bridge.ts `fetch`, `fetchRead`, `fetchCancel`):
// the request goes out through the agent's Egress (policy, pinned address, byte limits), and the
// answer's body is handed over as it arrives. A body that had all arrived by the turn after its
// head goes back whole with it (most JSON answers: one crossing, no stream in the realm); any
// other is read by the agent chunk by chunk. The host holds at most HIGH_WATER bytes of each
// answer: past that the socket is paused until the agent reads, so an agent that never reads
// holds no more of the host's memory than that, and the upstream waits (TCP backpressure).
import type { Readable } from "node:stream";
import type { FetchAnswer, FetchChunk } from "./bridge.ts";
import type { Egress, EgressRequest } from "./egress.ts";

/** Bytes of one answer the host keeps before it pauses the socket. */
const HIGH_WATER = 64 * 1024;

/** Bytes of answers the host holds for one agent, now and at most. */
class Held {
  now = 0;
  peak = 0;
  add(n: number): void {
    this.now += n;
    if (this.now > this.peak) this.peak = this.now;
  }
}

/** One answer's body as it arrives: queued up to HIGH_WATER, then the socket waits. */
class ArrivingBody {
  #queue: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #error: { code: string; message: string } | undefined;
  #wake: (() => void) | undefined;

  constructor(
    private readonly body: Readable,
    readonly abort: () => void,
    private readonly held: Held,
  ) {
    body.on("data", (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      held.add(chunk.length);
      if (this.#queued >= HIGH_WATER) body.pause();
      this.#signal();
    });
    body.on("end", () => {
      this.#ended = true;
      this.#signal();
    });
    body.on("error", (err: Error & { code?: string }) => {
      this.#failed(err);
      this.#signal();
    });
    body.on("close", () => {
      if (!this.#ended && !this.#error)
        this.#error = { code: "EGRESS_FAILED", message: "fetch: the response was cut off" };
      this.#signal();
    });
    // It may have failed before anyone listened (egress.ts keeps the error in `errored`).
    if (body.errored) this.#failed(body.errored as Error & { code?: string });
    else if (body.destroyed)
      this.#error = { code: "EGRESS_FAILED", message: "fetch: the response was cut off" };
  }

  #failed(err: Error & { code?: string }): void {
    this.#error ??=
      err.code === "EGRESS_RESPONSE_TOO_LARGE"
        ? { code: err.code, message: `fetch: ${err.message}` }
        : { code: "EGRESS_FAILED", message: "fetch: the response was cut off" };
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Stops the request and lets go of what it queued. */
  drop(): void {
    this.abort();
    this.#queue = [];
    this.held.add(-this.#queued);
    this.#queued = 0;
  }

  /** Everything, if it has all arrived (and nothing failed); else undefined. */
  whole(): Buffer | undefined {
    if (!this.#ended || this.#error) return undefined;
    const all = Buffer.concat(this.#queue);
    this.#queue = [];
    this.held.add(-this.#queued);
    this.#queued = 0;
    return all;
  }

  /** The bytes queued now (all of them, as one chunk), or what ended the body. */
  async read(): Promise<FetchChunk> {
    while (this.#queue.length === 0 && !this.#ended && !this.#error) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#queue.length > 0) {
      const chunk = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue);
      this.#queue = [];
      this.held.add(-this.#queued);
      this.#queued = 0;
      if (!this.#ended && !this.#error) this.body.resume();
      return {
        ok: true,
        done: false,
        chunk: chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer,
      };
    }
    if (this.#error) return { ok: false, ...this.#error };
    return { ok: true, done: true };
  }
}

/** An agent's streamed answers, by id; closed with the sandbox (or when the agent cancels). */
export class OutboundFetches {
  #open = new Map<number, ArrivingBody>();
  #next = 1;
  readonly #held = new Held();

  constructor(private readonly egress: Egress) {}

  /** The most bytes of answers the host has held for the agent at once (for tests and metrics). */
  get peakHeldBytes(): number {
    return this.#held.peak;
  }

  async fetch(req: EgressRequest): Promise<FetchAnswer> {
    const opened = await this.egress.open(req);
    if (!opened.ok) return opened;
    const body = new ArrivingBody(opened.body, opened.abort, this.#held);
    const head = {
      ok: true as const,
      status: opened.status,
      statusText: opened.statusText,
      headers: opened.headers,
      url: opened.url,
    };
    // The turn after the head: a small answer has arrived whole by then.
    await new Promise((resolve) => setImmediate(resolve));
    const whole = body.whole();
    if (whole) {
      return {
        ...head,
        body: whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength) as ArrayBuffer,
      };
    }
    const id = this.#next++;
    this.#open.set(id, body);
    return { ...head, stream: id };
  }

  async read(id: unknown): Promise<FetchChunk> {
    const body = typeof id === "number" ? this.#open.get(id) : undefined;
    if (!body)
      return { ok: false, code: "EGRESS_FAILED", message: "fetch: no such response body (already read?)" };
    const r = await body.read();
    if (!r.ok || r.done) this.#open.delete(id as number);
    return r;
  }

  cancel(id: unknown): void {
    const body = typeof id === "number" ? this.#open.get(id) : undefined;
    if (!body) return;
    this.#open.delete(id as number);
    body.drop();
  }

  /** Stops every answer still being read (the sandbox is going away). */
  closeAll(): void {
    for (const body of this.#open.values()) body.drop();
    this.#open.clear();
  }
}
