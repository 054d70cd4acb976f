// Streams conformance in the sandbox, written after WPT's streams/ coverage (readable-streams,
// readable-byte-streams, writable-streams, transform-streams, piping, queuing-strategies): no npm
// package publishes those as data. Each case is a function run in the sandbox and its answer.
import { conformance, written } from "./harness.ts";

const all = async <T>(s: ReadableStream<T>) => {
  const out: T[] = [];
  const r = s.getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) return out;
    out.push(value);
  }
};

const { fns, cases } = written({
  "readable: start, pull and cancel are called with the controller, in order": [
    async () => {
      const log: string[] = [];
      let n = 0;
      const s = new ReadableStream(
        {
          start(c) {
            log.push(`start ${typeof c.enqueue}`);
          },
          pull(c) {
            log.push("pull");
            c.enqueue(++n);
          },
          cancel(reason) {
            log.push(`cancel ${reason}`);
          },
        },
        { highWaterMark: 0 },
      );
      const r = s.getReader();
      const first = await r.read();
      await r.cancel("enough");
      return { log, first };
    },
    { log: ["start function", "pull", "cancel enough"], first: { value: 1, done: false } },
  ],
  "readable: desiredSize follows the queue and the high water mark": [
    () => {
      let ctl!: ReadableStreamDefaultController<string>;
      new ReadableStream(
        {
          start(c) {
            ctl = c;
          },
        },
        { highWaterMark: 3 },
      );
      const sizes = [ctl.desiredSize];
      ctl.enqueue("a");
      ctl.enqueue("b");
      sizes.push(ctl.desiredSize);
      ctl.close();
      return sizes;
    },
    [3, 1],
  ],
  "readable: a size function counts chunks by their length": [
    () => {
      let ctl!: ReadableStreamDefaultController<string>;
      new ReadableStream(
        {
          start(c) {
            ctl = c;
          },
        },
        { highWaterMark: 10, size: (c: string) => c.length },
      );
      ctl.enqueue("abcd");
      return ctl.desiredSize;
    },
    6,
  ],
  "readable: error() rejects pending and later reads with the reason": [
    async () => {
      let ctl!: ReadableStreamDefaultController;
      const r = new ReadableStream({
        start(c) {
          ctl = c;
        },
      }).getReader();
      const pending = r.read().catch((e) => `rejected ${e}`);
      ctl.error("boom");
      return [
        await pending,
        await r.read().catch((e) => `rejected ${e}`),
        await r.closed.catch((e) => `closed ${e}`),
      ];
    },
    ["rejected boom", "rejected boom", "closed boom"],
  ],
  "readable: a throwing start throws from the constructor; a rejecting one errors the stream": [
    async () => {
      let thrown = "";
      try {
        new ReadableStream({
          start() {
            throw new TypeError("bad start");
          },
        });
      } catch (e) {
        thrown = `${(e as Error).name}: ${(e as Error).message}`;
      }
      const s = new ReadableStream({ start: () => Promise.reject(new RangeError("late")) });
      const read = await s
        .getReader()
        .read()
        .then(
          () => "read",
          (e) => `${e.name}: ${e.message}`,
        );
      return [thrown, read];
    },
    ["TypeError: bad start", "RangeError: late"],
  ],
  "readable: locked, one reader at a time, releaseLock frees it": [
    () => {
      const s = new ReadableStream();
      const r = s.getReader();
      let second = "";
      try {
        s.getReader();
      } catch (e) {
        second = (e as Error).name;
      }
      const locked = s.locked;
      r.releaseLock();
      return [locked, second, s.locked];
    },
    [true, "TypeError", false],
  ],
  "readable: releaseLock rejects a pending read": [
    async () => {
      const r = new ReadableStream().getReader();
      const pending = r.read().then(
        () => "resolved",
        (e) => e.name,
      );
      r.releaseLock();
      return pending;
    },
    "TypeError",
  ],
  "readable: enqueue after close throws a TypeError": [
    () => {
      let ctl!: ReadableStreamDefaultController;
      new ReadableStream({
        start(c) {
          ctl = c;
        },
      });
      ctl.close();
      try {
        ctl.enqueue("x");
        return "enqueued";
      } catch (e) {
        return (e as Error).name;
      }
    },
    "TypeError",
  ],
  "readable: async iteration, and return() cancels the stream": [
    async () => {
      let cancelled = "";
      const s = new ReadableStream({
        pull(c) {
          c.enqueue(1);
        },
        cancel() {
          cancelled = "yes";
        },
      });
      const got: number[] = [];
      for await (const x of s) {
        got.push(x);
        if (got.length === 3) break;
      }
      return { got, cancelled, locked: s.locked };
    },
    { got: [1, 1, 1], cancelled: "yes", locked: false },
  ],
  "readable: values({ preventCancel: true }) leaves the stream open": [
    async () => {
      const s = ReadableStream.from([1, 2, 3]);
      for await (const x of s.values({ preventCancel: true })) if (x === 1) break;
      return all(s);
    },
    [2, 3],
  ],
  "readable: ReadableStream.from takes arrays, iterables and async generators": [
    async () => {
      async function* gen() {
        yield "a";
        yield "b";
      }
      return [
        await all(ReadableStream.from([1, 2])),
        await all(ReadableStream.from(new Set(["x"]))),
        await all(ReadableStream.from(gen())),
      ];
    },
    [[1, 2], ["x"], ["a", "b"]],
  ],
  "readable: tee gives both branches every chunk; cancelling both cancels the source with both reasons": [
    async () => {
      let reason: unknown;
      const s = new ReadableStream({
        start(c) {
          c.enqueue("a");
        },
        cancel(r) {
          reason = r;
        },
      });
      const [a, b] = s.tee();
      const ra = a.getReader();
      const rb = b.getReader();
      const got = [(await ra.read()).value, (await rb.read()).value];
      await Promise.all([ra.cancel("x"), rb.cancel("y")]);
      return { got, reason };
    },
    { got: ["a", "a"], reason: ["x", "y"] },
  ],
  "byte streams: BYOB reads fill the caller's view; autoAllocateChunkSize": [
    async () => {
      const s = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 4,
        pull(c) {
          const v = c.byobRequest!.view! as Uint8Array;
          v.set([9, 8, 7, 6].slice(0, v.byteLength));
          c.byobRequest!.respond(Math.min(4, v.byteLength));
          c.close();
        },
      });
      const r = s.getReader();
      const { value } = await r.read();
      return [...(value as Uint8Array)];
    },
    [9, 8, 7, 6],
  ],
  "byte streams: a BYOB read of a Uint16Array waits for whole elements": [
    async () => {
      const s = new ReadableStream({
        type: "bytes",
        start(c) {
          c.enqueue(new Uint8Array([1, 0, 2]));
          c.enqueue(new Uint8Array([0]));
          c.close();
        },
      });
      const r = s.getReader({ mode: "byob" });
      const { value } = await r.read(new Uint16Array(4));
      return [value!.constructor.name, [...value!]];
    },
    ["Uint16Array", [1, 2]],
  ],
  "byte streams: the BYOB reader's buffer is transferred (detached)": [
    async () => {
      const s = new ReadableStream({
        type: "bytes",
        start(c) {
          c.enqueue(new Uint8Array([5]));
        },
      });
      const buf = new Uint8Array(4);
      const { value } = await s.getReader({ mode: "byob" }).read(buf);
      return [buf.byteLength, value!.buffer.byteLength, value![0]];
    },
    [0, 4, 5],
  ],
  "byte streams: getReader({ mode: 'byob' }) on a default stream is a TypeError": [
    () => {
      try {
        new ReadableStream().getReader({ mode: "byob" });
        return "got one";
      } catch (e) {
        return (e as Error).name;
      }
    },
    "TypeError",
  ],
  "writable: write, close and abort reach the sink in order": [
    async () => {
      const log: string[] = [];
      const w = new WritableStream({
        start() {
          log.push("start");
        },
        write(chunk) {
          log.push(`write ${chunk}`);
        },
        close() {
          log.push("close");
        },
      });
      const writer = w.getWriter();
      await writer.write("a");
      await writer.write("b");
      await writer.close();
      const aborted: string[] = [];
      const w2 = new WritableStream({
        abort(reason) {
          aborted.push(`abort ${reason}`);
        },
      });
      await w2.getWriter().abort("stop");
      return [log, aborted];
    },
    [["start", "write a", "write b", "close"], ["abort stop"]],
  ],
  "writable: a write that rejects errors the stream": [
    async () => {
      const w = new WritableStream({
        write() {
          throw new RangeError("no room");
        },
      });
      const writer = w.getWriter();
      const first = await writer.write("x").catch((e) => e.name);
      const second = await writer.write("y").catch((e) => e.name);
      return [first, second, await writer.closed.catch((e) => e.message)];
    },
    ["RangeError", "RangeError", "no room"],
  ],
  "writable: writes wait for the previous write to settle": [
    async () => {
      const log: string[] = [];
      const w = new WritableStream({
        async write(chunk) {
          log.push(`begin ${chunk}`);
          await new Promise((r) => setTimeout(r, 1));
          log.push(`end ${chunk}`);
        },
      });
      const writer = w.getWriter();
      writer.write(1);
      writer.write(2);
      await writer.close();
      return log;
    },
    ["begin 1", "end 1", "begin 2", "end 2"],
  ],
  "writable: ready resolves when desiredSize goes back above zero": [
    async () => {
      let release!: () => void;
      const w = new WritableStream(
        {
          write: () =>
            new Promise<void>((r) => {
              release = r;
            }),
        },
        { highWaterMark: 1 },
      );
      const writer = w.getWriter();
      writer.write("a");
      const sizes = [writer.desiredSize];
      let ready = false;
      writer.ready.then(() => {
        ready = true;
      });
      await Promise.resolve();
      const before = ready;
      release();
      await writer.ready;
      return [sizes, before, writer.desiredSize];
    },
    [[0], false, 1],
  ],
  "writable: close on a closed writer rejects with a TypeError": [
    async () => {
      const writer = new WritableStream().getWriter();
      await writer.close();
      return writer.close().then(
        () => "closed twice",
        (e) => e.name,
      );
    },
    "TypeError",
  ],
  "transform: transform and flush, enqueue many per chunk": [
    async () => {
      const t = new TransformStream<string, string>({
        transform(chunk, c) {
          for (const ch of chunk) c.enqueue(ch);
        },
        flush(c) {
          c.enqueue("end");
        },
      });
      return all(ReadableStream.from(["ab", "c"]).pipeThrough(t));
    },
    ["a", "b", "c", "end"],
  ],
  "transform: with no transformer it is an identity": [
    async () => all(ReadableStream.from([1, 2]).pipeThrough(new TransformStream())),
    [1, 2],
  ],
  "transform: an error in transform errors both sides": [
    async () => {
      const t = new TransformStream({
        transform() {
          throw new Error("bad chunk");
        },
      });
      const read = t.readable
        .getReader()
        .read()
        .catch((e) => e.message);
      const write = await t.writable
        .getWriter()
        .write("x")
        .catch((e) => e.message);
      return [write, await read];
    },
    ["bad chunk", "bad chunk"],
  ],
  "transform: terminate() closes the readable side and errors the writable": [
    async () => {
      const t = new TransformStream({
        start(c) {
          c.enqueue("only");
          c.terminate();
        },
      });
      const got = await all(t.readable);
      const write = await t.writable
        .getWriter()
        .write("x")
        .then(
          () => "written",
          (e) => e.name,
        );
      return [got, write];
    },
    [["only"], "TypeError"],
  ],
  "transform: backpressure: the writable waits until the readable is read": [
    async () => {
      const t = new TransformStream({}, undefined, { highWaterMark: 0 });
      const w = t.writable.getWriter();
      let written = false;
      w.write("x").then(() => {
        written = true;
      });
      await new Promise((r) => setTimeout(r, 5));
      const before = written;
      await t.readable.getReader().read();
      await new Promise((r) => setTimeout(r, 0));
      return [before, written];
    },
    [false, true],
  ],
  "piping: pipeTo closes the destination, preventClose leaves it open": [
    async () => {
      const log: string[] = [];
      const sink = (name: string) =>
        new WritableStream({
          write(c) {
            log.push(`${name} ${c}`);
          },
          close() {
            log.push(`${name} closed`);
          },
        });
      await ReadableStream.from(["a"]).pipeTo(sink("one"));
      await ReadableStream.from(["b"]).pipeTo(sink("two"), { preventClose: true });
      return log;
    },
    ["one a", "one closed", "two b"],
  ],
  "piping: a source error aborts the destination; preventAbort does not": [
    async () => {
      const log: string[] = [];
      const failing = () =>
        new ReadableStream({
          start(c) {
            c.error("src failed");
          },
        });
      const sink = (name: string) =>
        new WritableStream({
          abort(r) {
            log.push(`${name} aborted ${r}`);
          },
        });
      const a = await failing()
        .pipeTo(sink("one"))
        .catch((e) => e);
      const b = await failing()
        .pipeTo(sink("two"), { preventAbort: true })
        .catch((e) => e);
      return [log, a, b];
    },
    [["one aborted src failed"], "src failed", "src failed"],
  ],
  "piping: a destination error cancels the source; preventCancel does not": [
    async () => {
      const log: string[] = [];
      const source = (name: string) =>
        new ReadableStream({
          pull(c) {
            c.enqueue(1);
          },
          cancel(r) {
            log.push(`${name} cancelled ${r}`);
          },
        });
      const bad = () =>
        new WritableStream({
          write() {
            throw "dest failed";
          },
        });
      await source("one")
        .pipeTo(bad())
        .catch(() => {});
      await source("two")
        .pipeTo(bad(), { preventCancel: true })
        .catch(() => {});
      return log;
    },
    ["one cancelled dest failed"],
  ],
  "piping: both ends are locked while piping": [
    async () => {
      const r = ReadableStream.from([1]);
      const w = new WritableStream();
      const p = r.pipeTo(w);
      const locked = [r.locked, w.locked];
      await p;
      return locked;
    },
    [true, true],
  ],
  "piping: pipeTo a locked destination rejects with a TypeError": [
    async () => {
      const w = new WritableStream();
      w.getWriter();
      return ReadableStream.from([1])
        .pipeTo(w)
        .then(
          () => "piped",
          (e) => e.name,
        );
    },
    "TypeError",
  ],
  "piping: an aborted signal stops the pipe with its reason": [
    async () => {
      const c = new AbortController();
      c.abort(new RangeError("stop now"));
      const r = await new ReadableStream()
        .pipeTo(new WritableStream(), { signal: c.signal })
        .catch((e) => `${e.name}: ${e.message}`);
      return r;
    },
    "RangeError: stop now",
  ],
  "queuing strategies: CountQueuingStrategy and ByteLengthQueuingStrategy": [
    () => {
      const count = new CountQueuingStrategy({ highWaterMark: 4 });
      const bytes = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
      return [
        count.highWaterMark,
        (count.size as () => number)(),
        bytes.highWaterMark,
        bytes.size(new Uint8Array(7)),
      ];
    },
    [4, 1, 16, 7],
  ],
  "queuing strategies: a negative or NaN high water mark is a RangeError": [
    () => {
      const out: string[] = [];
      for (const hwm of [-1, Number.NaN])
        try {
          new ReadableStream({}, { highWaterMark: hwm });
          out.push("made");
        } catch (e) {
          out.push((e as Error).name);
        }
      return out;
    },
    ["RangeError", "RangeError"],
  ],
  "classes: toStringTag and constructors that refuse to be called bare": [
    () => {
      const names = ["ReadableStream", "WritableStream", "TransformStream", "ReadableStreamDefaultReader"];
      const g = globalThis as unknown as Record<string, () => unknown>;
      return names.map((n) => {
        try {
          g[n]!();
          return `${n} called`;
        } catch (e) {
          return (e as Error).name;
        }
      });
    },
    ["TypeError", "TypeError", "TypeError", "TypeError"],
  ],
  "classes: a reader and controller cannot be made by hand": [
    () => {
      const out: string[] = [];
      const g = globalThis as unknown as Record<string, new (...a: unknown[]) => unknown>;
      for (const n of [
        "ReadableStreamDefaultController",
        "WritableStreamDefaultController",
        "ReadableByteStreamController",
      ])
        try {
          new g[n]!();
          out.push("made");
        } catch (e) {
          out.push((e as Error).name);
        }
      return out;
    },
    ["TypeError", "TypeError", "TypeError"],
  ],
});

// `all` is used inside the functions, which cross alone: it crosses as a helper.
conformance("streams", fns, () => cases, { all });
