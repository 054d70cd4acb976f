// Blob and File (W3C File API): immutable bytes with a type, sliced, read as text, bytes or a
// stream. Held to Node's own Blob and File by test/sandbox/form-data.test.ts.
import type { ReadableStream } from "web-streams-polyfill";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import { streams } from "./streams.ts";

export type BlobPart = string | ArrayBuffer | ArrayBufferView | Blob;

const BYTES = new WeakMap<Blob, Uint8Array>();

/** The bytes of a blob (shared, never handed to agent code uncopied). */
export const blobBytes = (b: Blob): Uint8Array => BYTES.get(b) ?? new Uint8Array(0);

/** A type is kept only if it is printable ASCII, and lowercased (File API, "type"). */
function normalizeType(type: unknown): string {
  const t = type === undefined ? "" : String(type);
  return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : "";
}

function partBytes(part: BlobPart): Uint8Array {
  if (part instanceof Blob) return blobBytes(part);
  if (part instanceof ArrayBuffer) return new Uint8Array(part.slice(0));
  if (ArrayBuffer.isView(part))
    return new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
  return new TextEncoder().encode(String(part));
}

export class Blob {
  readonly #type: string;

  constructor(parts: Iterable<BlobPart> = [], options: { type?: string; endings?: string } = {}) {
    if (parts === null || typeof (parts as Iterable<BlobPart>)[Symbol.iterator] !== "function")
      throw new TypeError("Blob: the parts must be a sequence");
    const list = Array.from(parts, partBytes);
    const out = new Uint8Array(list.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of list) {
      out.set(p, at);
      at += p.byteLength;
    }
    BYTES.set(this, out);
    this.#type = normalizeType(options?.type);
  }

  get size(): number {
    return blobBytes(this).byteLength;
  }
  get type(): string {
    return this.#type;
  }

  /** Relative indexes from the end when negative, clamped to the blob (File API, slice). */
  slice(start?: number, end?: number, contentType?: string): Blob {
    const size = this.size;
    const clamp = (v: number | undefined, fallback: number) => {
      if (v === undefined) return fallback;
      const n = Math.trunc(Number(v)) || 0;
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = clamp(start, 0);
    const to = clamp(end, size);
    return new Blob([blobBytes(this).subarray(from, Math.max(from, to))], { type: contentType });
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return blobBytes(this).slice().buffer;
  }
  async bytes(): Promise<Uint8Array> {
    return blobBytes(this).slice();
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(blobBytes(this));
  }
  stream(): ReadableStream<Uint8Array> {
    const bytes = blobBytes(this);
    return new (streams().ReadableStream)<Uint8Array>({
      start(c) {
        if (bytes.byteLength > 0) c.enqueue(bytes.slice());
        c.close();
      },
    });
  }
  get [Symbol.toStringTag](): string {
    return "Blob";
  }
}

export class File extends Blob {
  readonly #name: string;
  readonly #lastModified: number;

  constructor(
    parts: Iterable<BlobPart>,
    name: string,
    options: { type?: string; lastModified?: number } = {},
  ) {
    if (name === undefined) throw new TypeError("File: a name is required");
    super(parts, options);
    this.#name = String(name);
    this.#lastModified =
      options?.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
  }
  get name(): string {
    return this.#name;
  }
  get lastModified(): number {
    return this.#lastModified;
  }
  override get [Symbol.toStringTag](): string {
    return "File";
  }
}
