// The WHATWG Streams agents get: readable (default and byte streams, tee, async iteration,
// ReadableStream.from), writable, transform, pipeTo/pipeThrough and the queuing strategies,
// from web-streams-polyfill, which implements the standard and runs the web-platform-tests'
// streams suite (ADR 0023: bundle a spec-complete polyfill rather than hand-write a subset).
// The text streams are TransformStreams over this prelude's TextEncoder/TextDecoder, as the
// Encoding standard defines them. The host pulls a streamed response's chunks one by one
// through a reader (dispatch.ts), so a slow caller holds the agent back.
import type * as Polyfill from "web-streams-polyfill";
import { TextDecoder, TextEncoder } from "./encoding.ts";

declare const require: (id: string) => unknown;

/**
 * The polyfill, evaluated on first use: most requests never touch a stream, and every realm
 * (a fresh one per end-to-end encrypted request) would otherwise pay for defining its classes
 * (~0.7 ms a realm measured). esbuild keeps a required CommonJS module as a function it runs on
 * the first `require`.
 */
let loaded: typeof Polyfill | undefined;
export function streams(): typeof Polyfill {
  if (!loaded) {
    loaded = require("web-streams-polyfill/dist/ponyfill.js") as typeof Polyfill;
    // Frozen prototypes, as every global's: one request cannot change how streams behave for the next.
    for (const name of STREAM_GLOBALS) Object.freeze((loaded[name] as { prototype: object }).prototype);
  }
  return loaded;
}

/** `value instanceof ReadableStream`, without loading the polyfill to learn that it is not one. */
export function isReadableStream(value: unknown): value is Polyfill.ReadableStream {
  return loaded !== undefined && value instanceof loaded.ReadableStream;
}

/** The names the polyfill gives agents, each installed as a global on first use (index.ts). */
export const STREAM_GLOBALS = [
  "ByteLengthQueuingStrategy",
  "CountQueuingStrategy",
  "ReadableByteStreamController",
  "ReadableStream",
  "ReadableStreamBYOBReader",
  "ReadableStreamBYOBRequest",
  "ReadableStreamDefaultController",
  "ReadableStreamDefaultReader",
  "TransformStream",
  "TransformStreamDefaultController",
  "WritableStream",
  "WritableStreamDefaultController",
  "WritableStreamDefaultWriter",
] as const;

/** Strings in, UTF-8 bytes out (Encoding standard, TextEncoderStream). */
export class TextEncoderStream {
  readonly #transform: Polyfill.TransformStream<string, Uint8Array>;
  constructor() {
    const { TransformStream } = streams();
    const encoder = new TextEncoder();
    // A lone high surrogate at the end of a chunk waits for the next one, as the standard says.
    let pending = "";
    this.#transform = new TransformStream<string, Uint8Array>({
      transform(chunk, controller) {
        let s = pending + String(chunk);
        pending = "";
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) {
          pending = s.slice(-1);
          s = s.slice(0, -1);
        }
        if (s.length > 0) controller.enqueue(encoder.encode(s));
      },
      flush(controller) {
        if (pending) controller.enqueue(encoder.encode(pending));
      },
    });
  }
  get encoding(): string {
    return "utf-8";
  }
  get readable(): Polyfill.ReadableStream<Uint8Array> {
    return this.#transform.readable;
  }
  get writable(): Polyfill.WritableStream<string> {
    return this.#transform.writable;
  }
}

/** Bytes in, strings out, a character split across chunks kept whole (TextDecoderStream). */
export class TextDecoderStream {
  readonly #transform: Polyfill.TransformStream<ArrayBuffer | ArrayBufferView, string>;
  readonly #decoder: TextDecoder;
  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const decoder = new TextDecoder(label, options);
    this.#decoder = decoder;
    const { TransformStream } = streams();
    this.#transform = new TransformStream<ArrayBuffer | ArrayBufferView, string>({
      transform(chunk, controller) {
        const text = decoder.decode(chunk, { stream: true });
        if (text) controller.enqueue(text);
      },
      flush(controller) {
        const text = decoder.decode();
        if (text) controller.enqueue(text);
      },
    });
  }
  get encoding(): string {
    return this.#decoder.encoding;
  }
  get fatal(): boolean {
    return this.#decoder.fatal;
  }
  get ignoreBOM(): boolean {
    return this.#decoder.ignoreBOM;
  }
  get readable(): Polyfill.ReadableStream<string> {
    return this.#transform.readable;
  }
  get writable(): Polyfill.WritableStream<ArrayBuffer | ArrayBufferView> {
    return this.#transform.writable;
  }
}
