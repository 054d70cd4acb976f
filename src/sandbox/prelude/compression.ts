// CompressionStream and DecompressionStream (Compression standard): TransformStreams whose work
// is the host's zlib (bridge.ts `zlib*`, src/sandbox/host-zlib.ts; ADR 0023). Each chunk is one
// host call; what it produced comes back with it.
import type * as Polyfill from "web-streams-polyfill";
import type { ZlibFormat } from "../bridge.ts";
import type { Host } from "./host.ts";
import { streams } from "./streams.ts";

const FORMATS = new Set(["gzip", "deflate", "deflate-raw"]);

function bytesOf(chunk: unknown): ArrayBuffer {
  if (chunk instanceof ArrayBuffer) return chunk.slice(0);
  if (ArrayBuffer.isView(chunk))
    return chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer;
  throw new TypeError("a compression stream's chunks must be an ArrayBuffer or an ArrayBufferView");
}

export function makeCompression(host: Host) {
  const { zlibOpen, zlibWrite, zlibClose } = host;

  const transform = (format: unknown, mode: "compress" | "decompress") => {
    const f = String(format);
    if (!FORMATS.has(f)) throw new TypeError(`Unsupported compression format: "${f}"`);
    if (!zlibOpen || !zlibWrite) throw new TypeError("compression is not available here");
    const id = zlibOpen(f as ZlibFormat, mode);
    if (typeof id !== "number") throw new TypeError(id.message);
    const run = async (
      chunk: ArrayBuffer | null,
      c: Polyfill.TransformStreamDefaultController<Uint8Array>,
    ) => {
      const r = await zlibWrite(id, chunk);
      if (!r.ok) throw new TypeError(r.message);
      if (r.out.byteLength > 0) c.enqueue(new Uint8Array(r.out));
    };
    return new (streams().TransformStream)<unknown, Uint8Array>({
      transform: (chunk, c) => run(bytesOf(chunk), c),
      flush: (c) => run(null, c),
      cancel: () => zlibClose?.(id),
    } as Polyfill.Transformer<unknown, Uint8Array>);
  };

  class CompressionStream {
    readonly #t: Polyfill.TransformStream<unknown, Uint8Array>;
    constructor(format: string) {
      this.#t = transform(format, "compress");
    }
    get readable(): Polyfill.ReadableStream<Uint8Array> {
      return this.#t.readable;
    }
    get writable(): Polyfill.WritableStream<unknown> {
      return this.#t.writable;
    }
  }
  class DecompressionStream {
    readonly #t: Polyfill.TransformStream<unknown, Uint8Array>;
    constructor(format: string) {
      this.#t = transform(format, "decompress");
    }
    get readable(): Polyfill.ReadableStream<Uint8Array> {
      return this.#t.readable;
    }
    get writable(): Polyfill.WritableStream<unknown> {
      return this.#t.writable;
    }
  }
  return { CompressionStream, DecompressionStream };
}
