// URL and URLSearchParams (WHATWG URL standard). URL parsing and its setters are the host's
// parser's (Node's, through bridge.ts `urlParse`/`urlSet`; ADR 0023): a parser of our own got
// IPv4 number forms, IDNA and percent-encoding sets wrong. URLSearchParams is the standard's
// application/x-www-form-urlencoded, small enough to keep here.

import type { UrlField, UrlParts } from "../bridge.ts";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import type { Host } from "./host.ts";

let hostParse: Host["urlParse"];
let hostSet: Host["urlSet"];
/** index.ts hands over the host's parser before any agent code runs. */
export function useHostUrlParser(host: Host): void {
  hostParse = host.urlParse;
  hostSet = host.urlSet;
}

/** A String as a USVString: lone surrogates become U+FFFD, as WebIDL converts them. */
function usv(v: unknown): string {
  const s = String(v);
  if (!/[\uD800-\uDFFF]/.test(s)) return s;
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** application/x-www-form-urlencoded serializing: only ASCII alphanumerics and *-._ stay. */
function encodeQueryComponent(s: string): string {
  let out = "";
  for (const b of encoder.encode(s)) {
    if (b === 0x20) out += "+";
    else if (
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      b === 0x2a ||
      b === 0x2d ||
      b === 0x2e ||
      b === 0x5f
    )
      out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const hex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Percent-decodes the bytes (a bad escape stays as it is), then UTF-8 without failure. */
function decodeQueryComponent(s: string): string {
  const bytes = encoder.encode(s.replace(/\+/g, " "));
  if (!bytes.includes(0x25)) return decoder.decode(bytes);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length + 0 && hex(bytes[i + 1]!) && hex(bytes[i + 2]!)) {
      out[n++] = Number.parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16);
      i += 2;
    } else out[n++] = b;
  }
  return decoder.decode(out.subarray(0, n));
}

let linkParams: (params: URLSearchParams, query: string, onChange: () => void) => void;
let reparseParams: (params: URLSearchParams, query: string) => void;

export class URLSearchParams {
  #list: [string, string][] = [];
  #onChange: (() => void) | undefined;

  constructor(init?: string | URLSearchParams | [string, string][] | Record<string, string>) {
    if (init === undefined || init === null) return;
    if (typeof init === "string") this.#parse(usv(init));
    else if (init instanceof URLSearchParams)
      this.#list = [...init.#list.map((p) => [p[0], p[1]] as [string, string])];
    else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<unknown>) {
        const p = Array.from(pair as Iterable<string>);
        if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have two items");
        this.#list.push([usv(p[0]), usv(p[1])]);
      }
    } else if (typeof init === "object" || typeof init === "function")
      for (const k of Object.keys(init)) this.#list.push([usv(k), usv((init as Record<string, string>)[k])]);
    else this.#parse(usv(init));
  }

  #parse(query: string): void {
    this.#list = [];
    const q = query.startsWith("?") ? query.slice(1) : query;
    for (const part of q.split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const k = eq < 0 ? part : part.slice(0, eq);
      const v = eq < 0 ? "" : part.slice(eq + 1);
      this.#list.push([decodeQueryComponent(k), decodeQueryComponent(v)]);
    }
  }

  static {
    // A URL keeps its search in step with its searchParams (and the other way round).
    linkParams = (params, query, onChange) => {
      params.#parse(query);
      params.#onChange = onChange;
    };
    reparseParams = (params, query) => params.#parse(query);
  }

  #changed(): void {
    this.#onChange?.();
  }

  get size(): number {
    return this.#list.length;
  }
  append(name: string, value: string): void {
    this.#list.push([usv(name), usv(value)]);
    this.#changed();
  }
  delete(name: string, value?: string): void {
    this.#list = this.#list.filter(
      ([k, v]) => !(k === usv(name) && (value === undefined || v === usv(value))),
    );
    this.#changed();
  }
  get(name: string): string | null {
    const n = usv(name);
    return this.#list.find(([k]) => k === n)?.[1] ?? null;
  }
  getAll(name: string): string[] {
    const n = usv(name);
    return this.#list.filter(([k]) => k === n).map(([, v]) => v);
  }
  has(name: string, value?: string): boolean {
    const n = usv(name);
    return this.#list.some(([k, v]) => k === n && (value === undefined || v === usv(value)));
  }
  set(name: string, value: string): void {
    const n = usv(name);
    const i = this.#list.findIndex(([k]) => k === n);
    if (i < 0) this.#list.push([n, usv(value)]);
    else {
      this.#list[i] = [n, usv(value)];
      this.#list = this.#list.filter(([k], j) => k !== n || j === i);
    }
    this.#changed();
  }
  sort(): void {
    // Stable, by UTF-16 code units, as the standard says.
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#changed();
  }
  forEach(cb: (value: string, name: string, params: URLSearchParams) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#list) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string]> {
    for (const [k, v] of this.#list) yield [k, v];
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.#list) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.#list) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  toString(): string {
    return this.#list.map(([k, v]) => `${encodeQueryComponent(k)}=${encodeQueryComponent(v)}`).join("&");
  }
}

/** Parses recently seen absolute URLs once: agents parse `request.url` and the like again and again. */
const recent = new Map<string, UrlParts>();
const RECENT = 64;

/**
 * The common case, parsed here: an absolute http(s)/ws(s) URL in lower-case scheme with an ASCII
 * domain (no IPv4 number form, no xn-- label), an optional port, and a path, query and fragment
 * made only of characters the standard leaves as they are, with no "." or ".." segment. For
 * these the standard's parser only lower-cases the host, drops a default port and puts "/" for
 * an empty path, so the answer is Node's (held to it by test/sandbox/url.test.ts); anything
 * else goes to the host's parser. A host call costs a request ~20 µs on a loaded machine
 * (isolated-vm hands a sync call from the isolate's thread to Node's), so this is worth having.
 */
// Printable ASCII only: each part's class is what its percent-encode set leaves as it is.
const PATH_CHARS = "[!$%&'()*+,\\-./0-9:;=@A-Z[\\]^_a-z|~]";
const QUERY_CHARS = "[!$%&()*+,\\-./0-9:;=?@A-Z[\\\\\\]^_`a-z{|}~]";
const FRAGMENT_CHARS = "[!#$%&'()*+,\\-./0-9:;=?@A-Z[\\\\\\]^_a-z{|}~]";
const SIMPLE = new RegExp(
  `^(https?|wss?)://([A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.?)(?::([0-9]{1,5}))?(/${PATH_CHARS}*)?(?:\\?(${QUERY_CHARS}*))?(?:#(${FRAGMENT_CHARS}*))?$`,
);
const DEFAULT_PORT: Record<string, string> = { http: "80", https: "443", ws: "80", wss: "443" };

function simpleParse(input: string): UrlParts | null {
  const m = SIMPLE.exec(input);
  if (!m) return null;
  const [, scheme, rawHost, rawPort, rawPath, query, fragment] = m as unknown as [
    string,
    string,
    string,
    string | undefined,
    string | undefined,
    string | undefined,
    string | undefined,
  ];
  const hostname = rawHost.toLowerCase();
  const labels = hostname.split(".");
  const last = labels[labels.length - 1] === "" ? labels[labels.length - 2]! : labels[labels.length - 1]!;
  // A number in the last label makes the host an IPv4 address; xn-- labels need IDNA's checks.
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(last) || labels.some((l) => l.startsWith("xn--"))) return null;
  const path = rawPath ?? "/";
  if (/%2e/i.test(path) || path.split("/").some((seg) => seg === "." || seg === "..")) return null;
  let port = "";
  if (rawPort !== undefined) {
    const n = Number(rawPort);
    if (n > 65535) return null;
    port = String(n) === DEFAULT_PORT[scheme] ? "" : String(n);
  }
  const host = port ? `${hostname}:${port}` : hostname;
  const origin = `${scheme}://${host}`;
  const href = `${origin}${path}${query === undefined ? "" : `?${query}`}${fragment === undefined ? "" : `#${fragment}`}`;
  return [
    href,
    origin,
    `${scheme}:`,
    "",
    "",
    host,
    hostname,
    port,
    path,
    query ? `?${query}` : "",
    fragment ? `#${fragment}` : "",
  ];
}

function parse(input: string, base?: string): UrlParts | null {
  if (!hostParse) throw new TypeError("URL parsing is not available here");
  if (base !== undefined) {
    // "/path?query#hash" against a simple base is that base's origin followed by it.
    const second = input.charCodeAt(1);
    if (input.charCodeAt(0) === 0x2f && second !== 0x2f && second !== 0x5c) {
      const b = recent.get(base) ?? simpleParse(base);
      const got = b && simpleParse(b[1] + input);
      if (got) return got;
    }
    return hostParse(input, base);
  }
  const hit = recent.get(input);
  if (hit) return hit;
  const got = simpleParse(input) ?? hostParse(input);
  if (got) {
    if (recent.size >= RECENT) recent.delete(recent.keys().next().value as string);
    recent.set(input, got);
  }
  return got;
}

export class URL {
  #parts: UrlParts;
  readonly #params = new URLSearchParams();

  constructor(url: string | URL, base?: string | URL) {
    const input = usv(url);
    const parts = parse(input, base === undefined ? undefined : usv(base));
    if (!parts) throw new TypeError(`Invalid URL: ${input}`);
    this.#parts = parts;
    linkParams(this.#params, parts[9], () => {
      const s = this.#params.toString();
      this.#set("search", s);
      // An empty query leaves no "?" (the standard's "update steps").
      if (s === "" && this.#parts[9] === "")
        this.#parts = parse(this.#parts[0].replace(/\?(?=#|$)/, "")) ?? this.#parts;
    });
  }

  static canParse(url: string, base?: string): boolean {
    return parse(usv(url), base === undefined ? undefined : usv(base)) !== null;
  }

  static parse(url: string, base?: string): URL | null {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  }

  #set(field: UrlField, value: unknown): void {
    const next = hostSet!(this.#parts[0], field, usv(value));
    if (next) this.#parts = next;
    else if (field === "href") throw new TypeError(`Invalid URL: ${usv(value)}`);
    if (field === "href" || field === "search") reparseParams(this.#params, this.#parts[9]);
  }

  get href(): string {
    return this.#parts[0];
  }
  set href(v: string) {
    this.#set("href", v);
  }
  get origin(): string {
    return this.#parts[1];
  }
  get protocol(): string {
    return this.#parts[2];
  }
  set protocol(v: string) {
    this.#set("protocol", v);
  }
  get username(): string {
    return this.#parts[3];
  }
  set username(v: string) {
    this.#set("username", v);
  }
  get password(): string {
    return this.#parts[4];
  }
  set password(v: string) {
    this.#set("password", v);
  }
  get host(): string {
    return this.#parts[5];
  }
  set host(v: string) {
    this.#set("host", v);
  }
  get hostname(): string {
    return this.#parts[6];
  }
  set hostname(v: string) {
    this.#set("hostname", v);
  }
  get port(): string {
    return this.#parts[7];
  }
  set port(v: string) {
    this.#set("port", v);
  }
  get pathname(): string {
    return this.#parts[8];
  }
  set pathname(v: string) {
    this.#set("pathname", v);
  }
  get search(): string {
    return this.#parts[9];
  }
  set search(v: string) {
    this.#set("search", v);
  }
  get searchParams(): URLSearchParams {
    return this.#params;
  }
  get hash(): string {
    return this.#parts[10];
  }
  set hash(v: string) {
    this.#set("hash", v);
  }
  toString(): string {
    return this.#parts[0];
  }
  toJSON(): string {
    return this.#parts[0];
  }
  get [Symbol.toStringTag](): string {
    return "URL";
  }
}
