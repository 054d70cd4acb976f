// The Body mixin of Request and Response: the body is read once, as text, JSON or bytes.
import { TextDecoder, TextEncoder } from "./encoding.ts";
import type { Headers } from "./headers.ts";
import { ReadableStream } from "./streams.ts";
import { URLSearchParams } from "./url.ts";

export type BodyInit =
  | string
  | ArrayBuffer
  | ArrayBufferView
  | URLSearchParams
  | ReadableStream
  | null
  | undefined;

/** A body that is produced as it is read: a stream of byte chunks (strings are encoded). */
export type StreamBody = { stream: ReadableStream };

/** Turns a chunk of a streamed body into bytes. */
export function chunkBytes(chunk: unknown): Uint8Array {
  if (typeof chunk === "string") return new TextEncoder().encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk.slice(0));
  if (ArrayBuffer.isView(chunk))
    return new Uint8Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
  throw new TypeError("a streamed body's chunks must be Uint8Array, ArrayBuffer or string");
}

/** Turns a body init into bytes (or a stream) and the content type it implies. */
export function extractBody(body: BodyInit): {
  bytes: Uint8Array | StreamBody | null;
  type: string | null;
} {
  if (body === null || body === undefined) return { bytes: null, type: null };
  if (body instanceof ReadableStream) {
    if (body.locked) throw new TypeError("the body's ReadableStream is locked");
    return { bytes: { stream: body }, type: null };
  }
  if (typeof body === "string")
    return { bytes: new TextEncoder().encode(body), type: "text/plain;charset=UTF-8" };
  if (body instanceof URLSearchParams) {
    return {
      bytes: new TextEncoder().encode(body.toString()),
      type: "application/x-www-form-urlencoded;charset=UTF-8",
    };
  }
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body.slice(0)), type: null };
  if (ArrayBuffer.isView(body)) {
    return {
      bytes: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)),
      type: null,
    };
  }
  return { bytes: new TextEncoder().encode(String(body)), type: "text/plain;charset=UTF-8" };
}

export abstract class Body {
  #bytes: Uint8Array | null;
  #stream: ReadableStream | null;
  #used = false;

  protected constructor(bytes: Uint8Array | StreamBody | null) {
    if (bytes !== null && !(bytes instanceof Uint8Array)) {
      this.#stream = bytes.stream;
      this.#bytes = null;
    } else {
      this.#stream = null;
      this.#bytes = bytes;
    }
  }

  abstract get headers(): Headers;

  get bodyUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }

  /**
   * The body as a ReadableStream when it was made from one; otherwise null or a marker that
   * there is a body (bodies of bytes are read with text(), json() or bytes()).
   */
  get body(): null | ReadableStream | { locked: boolean } {
    if (this.#stream) return this.#stream;
    return this.#bytes === null ? null : { locked: this.#used };
  }

  protected cloneBytes(): Uint8Array | null {
    if (this.#used) throw new TypeError("Body has already been used");
    if (this.#stream) throw new TypeError("a streamed body cannot be cloned in Veil agents");
    return this.#bytes === null ? null : this.#bytes.slice();
  }

  async #take(): Promise<Uint8Array> {
    if (this.bodyUsed) throw new TypeError("Body has already been used");
    this.#used = true;
    if (this.#stream) {
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of this.#stream) {
        const b = chunkBytes(chunk);
        parts.push(b);
        size += b.byteLength;
      }
      const out = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.byteLength;
      }
      return out;
    }
    return this.#bytes ?? new Uint8Array(0);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  async bytes(): Promise<Uint8Array> {
    return (await this.#take()).slice();
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.#take());
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async formData(): Promise<never> {
    throw new TypeError("formData() is not supported in Veil agents; parse the body with text() or json()");
  }
}
