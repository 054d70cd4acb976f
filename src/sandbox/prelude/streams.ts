// A small ReadableStream: enough for agents to answer with a body they produce as they go
// (`new Response(stream)`, e.g. server-sent events relaying ctx.llm deltas) and to read one.
// Default (non-byte) streams only, no tee, no pipeTo; the host pulls the chunks of a streamed
// response one by one (see dispatcher.ts), so a slow caller holds the agent back.

export type UnderlyingSource = {
  start?(controller: ReadableStreamDefaultController): unknown;
  pull?(controller: ReadableStreamDefaultController): unknown;
  cancel?(reason: unknown): unknown;
};

type ReadResult = { done: true; value: undefined } | { done: false; value: unknown };
type Waiter = { resolve(r: ReadResult): void; reject(e: unknown): void };

export class ReadableStreamDefaultController {
  readonly #stream: ReadableStream;
  constructor(stream: ReadableStream, key: symbol) {
    if (key !== CONTROLLER_KEY) throw new TypeError("Illegal constructor");
    this.#stream = stream;
  }
  get desiredSize(): number | null {
    return internals(this.#stream).desiredSize();
  }
  enqueue(chunk: unknown): void {
    internals(this.#stream).enqueue(chunk);
  }
  close(): void {
    internals(this.#stream).close();
  }
  error(e?: unknown): void {
    internals(this.#stream).error(e);
  }
}

const CONTROLLER_KEY = Symbol("controller");
const INTERNALS = new WeakMap<ReadableStream, Internals>();
const internals = (s: ReadableStream): Internals => {
  const i = INTERNALS.get(s);
  if (!i) throw new TypeError("not a ReadableStream");
  return i;
};

/** The state of one stream, kept off the object so agent code cannot reach into it. */
class Internals {
  state: "readable" | "closed" | "errored" = "readable";
  error_: unknown;
  readonly queue: unknown[] = [];
  readonly waiters: Waiter[] = [];
  locked = false;
  pulling = false;
  started = false;
  closeRequested = false;
  readonly highWaterMark: number;
  source: UnderlyingSource;
  controller!: ReadableStreamDefaultController;
  readonly closed: Promise<void>;
  #settle!: { resolve(): void; reject(e: unknown): void };

  constructor(source: UnderlyingSource, highWaterMark: number) {
    this.source = source;
    this.highWaterMark = highWaterMark;
    this.closed = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.closed.catch(() => {});
  }

  desiredSize(): number | null {
    if (this.state === "errored") return null;
    if (this.state === "closed") return 0;
    return this.highWaterMark - this.queue.length;
  }

  enqueue(chunk: unknown): void {
    if (this.state !== "readable" || this.closeRequested)
      throw new TypeError("ReadableStream: cannot enqueue after close or error");
    const w = this.waiters.shift();
    if (w) w.resolve({ done: false, value: chunk });
    else this.queue.push(chunk);
    this.pullIfNeeded();
  }

  close(): void {
    if (this.state !== "readable" || this.closeRequested)
      throw new TypeError("ReadableStream: already closed");
    this.closeRequested = true;
    if (this.queue.length === 0) this.finish();
  }

  finish(): void {
    this.state = "closed";
    this.#settle.resolve();
    for (const w of this.waiters.splice(0)) w.resolve({ done: true, value: undefined });
  }

  error(e: unknown): void {
    if (this.state !== "readable") return;
    this.state = "errored";
    this.error_ = e;
    this.queue.length = 0;
    this.#settle.reject(e);
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  pullIfNeeded(): void {
    if (!this.started || this.pulling || this.state !== "readable" || this.closeRequested) return;
    if (!this.source.pull) return;
    if (this.waiters.length === 0 && this.queue.length >= this.highWaterMark) return;
    this.pulling = true;
    Promise.resolve()
      .then(() => this.source.pull?.(this.controller))
      .then(
        () => {
          this.pulling = false;
          if (this.waiters.length > 0 || this.queue.length < this.highWaterMark) this.pullIfNeeded();
        },
        (e) => this.error(e),
      );
  }

  read(): Promise<ReadResult> {
    if (this.queue.length > 0) {
      const value = this.queue.shift();
      if (this.closeRequested && this.queue.length === 0) this.finish();
      else this.pullIfNeeded();
      return Promise.resolve({ done: false, value });
    }
    if (this.state === "closed") return Promise.resolve({ done: true, value: undefined });
    if (this.state === "errored") return Promise.reject(this.error_);
    return new Promise<ReadResult>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.pullIfNeeded();
    });
  }

  async cancel(reason: unknown): Promise<void> {
    if (this.state === "closed") return;
    if (this.state === "errored") throw this.error_;
    this.queue.length = 0;
    this.finish();
    await this.source.cancel?.(reason);
  }
}

export class ReadableStreamDefaultReader {
  #stream: ReadableStream | undefined;
  constructor(stream: ReadableStream) {
    const i = internals(stream);
    if (i.locked) throw new TypeError("ReadableStream is locked to a reader");
    i.locked = true;
    this.#stream = stream;
  }
  read(): Promise<ReadResult> {
    if (!this.#stream) return Promise.reject(new TypeError("the reader has been released"));
    return internals(this.#stream).read();
  }
  releaseLock(): void {
    if (this.#stream) internals(this.#stream).locked = false;
    this.#stream = undefined;
  }
  cancel(reason?: unknown): Promise<void> {
    if (!this.#stream) return Promise.reject(new TypeError("the reader has been released"));
    return internals(this.#stream).cancel(reason);
  }
  get closed(): Promise<void> {
    if (!this.#stream) return Promise.reject(new TypeError("the reader has been released"));
    return internals(this.#stream).closed;
  }
}

export class ReadableStream {
  constructor(source: UnderlyingSource = {}, strategy: { highWaterMark?: number } = {}) {
    if (source === null || typeof source !== "object")
      throw new TypeError("ReadableStream: the source must be an object");
    const hwm = strategy.highWaterMark ?? 1;
    const i = new Internals(source, Number.isFinite(hwm) && hwm >= 0 ? hwm : 1);
    INTERNALS.set(this, i);
    i.controller = new ReadableStreamDefaultController(this, CONTROLLER_KEY);
    Promise.resolve()
      .then(() => source.start?.(i.controller))
      .then(
        () => {
          i.started = true;
          i.pullIfNeeded();
        },
        (e) => i.error(e),
      );
  }

  /** A stream of what an (async) iterable yields. */
  static from(iterable: Iterable<unknown> | AsyncIterable<unknown>): ReadableStream {
    const it =
      Symbol.asyncIterator in Object(iterable)
        ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (iterable as Iterable<unknown>)[Symbol.iterator]();
    return new ReadableStream(
      {
        async pull(c) {
          const r = await it.next();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
        async cancel(reason) {
          await it.return?.(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  get locked(): boolean {
    return internals(this).locked;
  }

  getReader(options?: { mode?: string }): ReadableStreamDefaultReader {
    if (options?.mode !== undefined)
      throw new TypeError("ReadableStream: only default readers are supported");
    return new ReadableStreamDefaultReader(this);
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.locked) return Promise.reject(new TypeError("ReadableStream is locked"));
    return internals(this).cancel(reason);
  }

  async *values(options: { preventCancel?: boolean } = {}): AsyncGenerator<unknown> {
    const reader = this.getReader();
    let finished = false;
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          finished = true;
          return;
        }
        yield r.value;
      }
    } finally {
      if (!finished && !options.preventCancel) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<unknown> {
    return this.values();
  }

  get [Symbol.toStringTag](): string {
    return "ReadableStream";
  }
}
