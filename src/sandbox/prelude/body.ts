// The Body mixin of Request and Response: the body is read once, as text, JSON or bytes.

import type { ReadableStream } from "web-streams-polyfill";
import { Blob, blobBytes } from "./blob.ts";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import { encodeMultipart, FormData, parseFormData } from "./form-data.ts";
import type { Headers } from "./headers.ts";
import { isReadableStream, streams } from "./streams.ts";
import { URLSearchParams } from "./url.ts";

export type BodyInit =
  | string
  | ArrayBuffer
  | ArrayBufferView
  | URLSearchParams
  | Blob
  | FormData
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
  if (isReadableStream(body)) {
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
  if (body instanceof Blob) return { bytes: blobBytes(body).slice(), type: body.type || null };
  if (body instanceof FormData) return encodeMultipart(body);
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body.slice(0)), type: null };
  if (ArrayBuffer.isView(body)) {
    return {
      bytes: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)),
      type: null,
    };
  }
  return { bytes: new TextEncoder().encode(String(body)), type: "text/plain;charset=UTF-8" };
}

let streamOf: (b: Body) => ReadableStream | null = () => null;
let takenBy: (b: Body) => void = () => {};

/** The body was taken by another object (a Request made from this one): it reads as used. */
export const markBodyTaken = (b: Body): void => takenBy(b);

/**
 * The stream a body was made from (a Response the agent made from a ReadableStream), or null for
 * a body of bytes, even one whose `body` stream was looked at: the dispatcher sends the former
 * as it is produced and the latter whole.
 */
export const sourceStream = (b: Body): ReadableStream | null => streamOf(b);

export abstract class Body {
  #bytes: Uint8Array | null;
  /** The stream the body was made from, or one made on demand over #bytes (see `body`). */
  #stream: ReadableStream | null;
  /** #stream was made over #bytes: the body is still whole bytes until the stream is read. */
  #overBytes = false;
  #used = false;

  static {
    streamOf = (b) => (b.#overBytes ? null : b.#stream);
    takenBy = (b) => {
      if (b.#bytes === null && b.#stream === null) return;
      b.#used = true;
    };
  }

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
   * The body as a ReadableStream (null without a body). A body of bytes gets one on first use,
   * so `new Response(other.body)` passes another body on, as on the web.
   */
  get body(): ReadableStream | null {
    if (this.#stream) return this.#stream;
    if (this.#bytes === null) return null;
    const bytes = this.#used ? new Uint8Array(0) : this.#bytes;
    this.#stream = new (streams().ReadableStream)({
      start(c) {
        if (bytes.byteLength > 0) c.enqueue(bytes.slice());
        c.close();
      },
    });
    this.#overBytes = true;
    return this.#stream;
  }

  /** A copy of the body for clone(): bytes are copied, a stream is teed (one branch stays here). */
  protected cloneBody(): Uint8Array | StreamBody | null {
    if (this.bodyUsed) throw new TypeError("Body has already been used");
    if (this.#stream && !this.#overBytes) {
      const [mine, theirs] = this.#stream.tee();
      this.#stream = mine;
      return { stream: theirs };
    }
    return this.#bytes === null ? null : this.#bytes.slice();
  }

  async #take(): Promise<Uint8Array> {
    if (this.bodyUsed) throw new TypeError("Body has already been used");
    this.#used = true;
    if (this.#stream && !this.#overBytes) {
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
  /** A multipart/form-data or application/x-www-form-urlencoded body, by its Content-Type. */
  async formData(): Promise<FormData> {
    return parseFormData(await this.#take(), this.headers.get("content-type"));
  }
  async blob(): Promise<Blob> {
    return new Blob([await this.#take()], { type: this.headers.get("content-type") ?? "" });
  }
}
