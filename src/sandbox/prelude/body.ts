// The Body mixin of Request and Response: the body is read once, as text, JSON or bytes.
import { TextDecoder, TextEncoder } from "./encoding.ts";
import type { Headers } from "./headers.ts";
import { URLSearchParams } from "./url.ts";

export type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams | null | undefined;

/** Turns a body init into bytes and the content type it implies. */
export function extractBody(body: BodyInit): { bytes: Uint8Array | null; type: string | null } {
  if (body === null || body === undefined) return { bytes: null, type: null };
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
  #used = false;

  protected constructor(bytes: Uint8Array | null) {
    this.#bytes = bytes;
  }

  abstract get headers(): Headers;

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** Web streams are not provided; `body` is null or a marker that there is one. */
  get body(): null | { locked: boolean } {
    return this.#bytes === null ? null : { locked: this.#used };
  }

  protected cloneBytes(): Uint8Array | null {
    if (this.#used) throw new TypeError("Body has already been used");
    return this.#bytes === null ? null : this.#bytes.slice();
  }

  #take(): Uint8Array {
    if (this.#used) throw new TypeError("Body has already been used");
    this.#used = true;
    return this.#bytes ?? new Uint8Array(0);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  async bytes(): Promise<Uint8Array> {
    return this.#take().slice();
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(this.#take());
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async formData(): Promise<never> {
    throw new TypeError("formData() is not supported in Veil agents; parse the body with text() or json()");
  }
}
