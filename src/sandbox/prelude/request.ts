import { Body, type BodyInit, extractBody, markBodyTaken, type StreamBody } from "./body.ts";
import { Headers, type HeadersInit } from "./headers.ts";
import { URL } from "./url.ts";

export type RequestInit = {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  redirect?: string;
  signal?: unknown;
  /** "half" for a body that is a stream (Fetch standard); accepted, as the only value. */
  duplex?: string;
};

/** Set while clone() makes its copy: a clone does not take the body from its original. */
let cloning = false;
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
// Only these are upper-cased (Fetch standard): "patch" stays as written.
const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

export class Request extends Body {
  readonly #url: string;
  readonly #method: string;
  readonly #headers: Headers;
  readonly #redirect: string;
  readonly #signal: unknown;

  constructor(input: string | URL | Request, init: RequestInit = {}) {
    const from = input instanceof Request ? input : null;
    let method = init.method ?? from?.method ?? "GET";
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method) || FORBIDDEN_METHODS.has(method.toUpperCase())) {
      throw new TypeError(`Request: invalid method "${method}"`);
    }
    if (NORMALIZED.has(method.toUpperCase())) method = method.toUpperCase();
    const hasInitBody = init.body !== undefined && init.body !== null;
    if (hasInitBody && (method === "GET" || method === "HEAD")) {
      throw new TypeError("Request with GET/HEAD method cannot have body");
    }
    const { bytes, type } = hasInitBody
      ? extractBody(init.body)
      : { bytes: from ? from.cloneBytesForRequest() : null, type: null };
    super(bytes);
    if (from) this.#url = from.url;
    else {
      const url = new URL(String(input));
      if (url.username || url.password)
        throw new TypeError(`Request: ${url.href} has credentials in it; put them in a header`);
      this.#url = url.href;
    }
    // A request made from another takes its body: the other's is used up (Fetch standard).
    if (from && !hasInitBody && !cloning) markBodyTaken(from);
    this.#method = method;
    this.#headers = new Headers(init.headers ?? from?.headers);
    if (type && !this.#headers.has("content-type")) this.#headers.set("content-type", type);
    this.#redirect = init.redirect ?? from?.redirect ?? "follow";
    this.#signal = init.signal ?? from?.signal ?? null;
  }

  /** Internal: the body of a Request used as another's input (a stream is teed). */
  cloneBytesForRequest(): Uint8Array | StreamBody | null {
    return this.cloneBody();
  }

  get url(): string {
    return this.#url;
  }
  get method(): string {
    return this.#method;
  }
  get headers(): Headers {
    return this.#headers;
  }
  get redirect(): string {
    return this.#redirect;
  }
  get signal(): unknown {
    return this.#signal;
  }
  clone(): Request {
    // A clone tees the body and leaves this one readable.
    cloning = true;
    try {
      return new Request(this);
    } finally {
      cloning = false;
    }
  }
  get [Symbol.toStringTag](): string {
    return "Request";
  }
}
