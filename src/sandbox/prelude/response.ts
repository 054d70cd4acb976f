import { Body, type BodyInit, extractBody } from "./body.ts";
import { Headers, type HeadersInit, makeImmutable } from "./headers.ts";
import { URL } from "./url.ts";

export type ResponseInit = { status?: number; statusText?: string; headers?: HeadersInit };

/** The URL a response was fetched from (fetch.ts); a response the agent made has none. */
const fetchedFrom = new WeakMap<Response, string>();
export function setResponseUrl(response: Response, url: string): Response {
  fetchedFrom.set(response, url);
  return response;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

export class Response extends Body {
  #status: number;
  readonly #statusText: string;
  readonly #headers: Headers;
  #type: string;

  constructor(body: BodyInit = null, init: ResponseInit = {}) {
    const status = init.status ?? 200;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`Response: status ${status} is outside 200–599`);
    }
    const statusText = init.statusText === undefined ? "" : String(init.statusText);
    // A reason-phrase: tabs, spaces, visible ASCII and obs-text, nothing else (Fetch standard).
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText))
      throw new TypeError(`Response: statusText ${JSON.stringify(statusText)} is not a reason phrase`);
    const { bytes, type } = extractBody(body);
    if (bytes !== null && NULL_BODY_STATUS.has(status))
      throw new TypeError(`Response with status ${status} cannot have a body`);
    super(bytes);
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = new Headers(init.headers);
    if (type && !this.#headers.has("content-type")) this.#headers.set("content-type", type);
    this.#type = "default";
  }

  static json(data: unknown, init: ResponseInit = {}): Response {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Response.json: value is not JSON-serializable");
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(text, { ...init, headers });
  }

  static redirect(url: string | URL, status = 302): Response {
    if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Response.redirect: invalid status ${status}`);
    return new Response(null, { status, headers: { location: new URL(String(url)).href } });
  }

  /** A network error: type "error", status 0, headers that cannot change (Fetch standard). */
  static error(): Response {
    const r = new Response(null, { status: 200 });
    r.#status = 0;
    r.#type = "error";
    makeImmutable(r.#headers);
    return r;
  }

  get status(): number {
    return this.#status;
  }
  get statusText(): string {
    return this.#statusText;
  }
  get ok(): boolean {
    return this.#status >= 200 && this.#status < 300;
  }
  get headers(): Headers {
    return this.#headers;
  }
  get type(): string {
    return this.#type;
  }
  get redirected(): boolean {
    return false;
  }
  get url(): string {
    return fetchedFrom.get(this) ?? "";
  }
  clone(): Response {
    if (this.#type === "error") return Response.error();
    const body = this.cloneBody();
    const copy = new Response(body instanceof Uint8Array || body === null ? body : body.stream, {
      status: this.#status,
      statusText: this.#statusText,
      headers: this.#headers,
    });
    const url = fetchedFrom.get(this);
    if (url !== undefined) fetchedFrom.set(copy, url);
    return copy;
  }
  get [Symbol.toStringTag](): string {
    return "Response";
  }
}
