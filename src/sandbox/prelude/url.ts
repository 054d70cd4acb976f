// A compact WHATWG-style URL and URLSearchParams for special schemes (http, https, ws, wss, file)
// and opaque ones (mailto:, data:). Enough for agents routing on pathname and query.

const DEFAULT_PORTS: Record<string, string> = {
  "http:": "80",
  "https:": "443",
  "ws:": "80",
  "wss:": "443",
  "ftp:": "21",
};

function encodeQueryComponent(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, "+")
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeQueryComponent(s: string): string {
  const plus = s.replace(/\+/g, " ");
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
}

export class URLSearchParams {
  #list: [string, string][] = [];
  #onChange: (() => void) | undefined;

  constructor(init?: string | URLSearchParams | [string, string][] | Record<string, string>) {
    if (init === undefined || init === null) return;
    if (typeof init === "string") this.#parse(init);
    else if (init instanceof URLSearchParams)
      this.#list = [...init.#list.map((p) => [p[0], p[1]] as [string, string])];
    else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<unknown>) {
        const p = Array.from(pair as Iterable<string>);
        if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have two items");
        this.#list.push([String(p[0]), String(p[1])]);
      }
    } else
      for (const k of Object.keys(init)) this.#list.push([k, String((init as Record<string, string>)[k])]);
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

  /** Internal: keeps a URL's search in step with its searchParams. */
  static _link(params: URLSearchParams, query: string, onChange: () => void): void {
    params.#parse(query);
    params.#onChange = onChange;
  }
  static _reparse(params: URLSearchParams, query: string): void {
    params.#parse(query);
  }

  #changed(): void {
    this.#onChange?.();
  }

  get size(): number {
    return this.#list.length;
  }
  append(name: string, value: string): void {
    this.#list.push([String(name), String(value)]);
    this.#changed();
  }
  delete(name: string, value?: string): void {
    this.#list = this.#list.filter(
      ([k, v]) => !(k === String(name) && (value === undefined || v === String(value))),
    );
    this.#changed();
  }
  get(name: string): string | null {
    return this.#list.find(([k]) => k === String(name))?.[1] ?? null;
  }
  getAll(name: string): string[] {
    return this.#list.filter(([k]) => k === String(name)).map(([, v]) => v);
  }
  has(name: string, value?: string): boolean {
    return this.#list.some(([k, v]) => k === String(name) && (value === undefined || v === String(value)));
  }
  set(name: string, value: string): void {
    const n = String(name);
    const i = this.#list.findIndex(([k]) => k === n);
    if (i < 0) this.#list.push([n, String(value)]);
    else {
      this.#list[i] = [n, String(value)];
      this.#list = this.#list.filter(([k], j) => k !== n || j === i);
    }
    this.#changed();
  }
  sort(): void {
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

function normalizePath(path: string): string {
  const out: string[] = [];
  const segments = path.split("/");
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === "." || s.toLowerCase() === "%2e") {
      if (last) out.push("");
    } else if (s === ".." || /^(\.|%2e){2}$/i.test(s)) {
      if (out.length > 1) out.pop();
      if (last) out.push("");
    } else out.push(s);
  }
  let joined = out.join("/");
  if (!joined.startsWith("/")) joined = `/${joined}`;
  return joined.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g, (c) => encodeURIComponent(c));
}

const encodeFragment = (s: string) => s.replace(/[ "<>`]/g, (c) => encodeURIComponent(c));
const encodeQuery = (s: string) => s.replace(/[ "<>#']/g, (c) => encodeURIComponent(c));

export class URL {
  #protocol = "";
  #username = "";
  #password = "";
  #hostname = "";
  #port = "";
  #pathname = "";
  #search = "";
  #hash = "";
  #special = true;
  readonly #params = new URLSearchParams();

  constructor(url: string | URL, base?: string | URL) {
    const input = String(url)
      .replace(/^[\0- ]+|[\0- ]+$/g, "")
      .replace(/[\t\n\r]/g, "");
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(input);
    if (scheme) this.#parseAbsolute(input);
    else {
      if (base === undefined) throw new TypeError(`Invalid URL: ${input}`);
      const b = base instanceof URL ? base : new URL(String(base));
      this.#resolve(input, b);
    }
    URLSearchParams._link(this.#params, this.#search, () => {
      const s = this.#params.toString();
      this.#search = s ? `?${s}` : "";
    });
  }

  static canParse(url: string, base?: string): boolean {
    try {
      new URL(url, base);
      return true;
    } catch {
      return false;
    }
  }

  #parseAbsolute(input: string): void {
    const m = /^([A-Za-z][A-Za-z0-9+.-]*:)(.*)$/.exec(input)!;
    this.#protocol = m[1]!.toLowerCase();
    let rest = m[2]!;
    this.#special = this.#protocol in DEFAULT_PORTS || this.#protocol === "file:";
    const hashAt = rest.indexOf("#");
    if (hashAt >= 0) {
      this.#hash = hashAt === rest.length - 1 ? "" : `#${encodeFragment(rest.slice(hashAt + 1))}`;
      rest = rest.slice(0, hashAt);
    }
    if (this.#special) {
      rest = rest.replace(/\\/g, "/");
      if (!rest.startsWith("//") && this.#protocol !== "file:") rest = `//${rest.replace(/^\/*/, "")}`;
    }
    const queryAt = rest.indexOf("?");
    if (queryAt >= 0) {
      const q = rest.slice(queryAt + 1);
      this.#search = q ? `?${encodeQuery(q)}` : "";
      rest = rest.slice(0, queryAt);
    }
    if (rest.startsWith("//")) {
      rest = rest.slice(2);
      const slash = rest.indexOf("/");
      const authority = slash < 0 ? rest : rest.slice(0, slash);
      this.#parseAuthority(authority);
      rest = slash < 0 ? "/" : rest.slice(slash);
      this.#pathname = normalizePath(rest);
    } else {
      if (this.#special) throw new TypeError(`Invalid URL: ${input}`);
      this.#pathname = rest;
    }
  }

  #parseAuthority(authority: string): void {
    let hostPort = authority;
    const at = authority.lastIndexOf("@");
    if (at >= 0) {
      const cred = authority.slice(0, at);
      hostPort = authority.slice(at + 1);
      const colon = cred.indexOf(":");
      this.#username = colon < 0 ? cred : cred.slice(0, colon);
      this.#password = colon < 0 ? "" : cred.slice(colon + 1);
    }
    let host = hostPort;
    let port = "";
    const ipv6 = /^(\[[0-9A-Fa-f:.]+\])(?::(\d*))?$/.exec(hostPort);
    if (ipv6) {
      host = ipv6[1]!.toLowerCase();
      port = ipv6[2] ?? "";
    } else {
      const colon = hostPort.lastIndexOf(":");
      if (colon >= 0) {
        host = hostPort.slice(0, colon);
        port = hostPort.slice(colon + 1);
      }
    }
    if (port !== "" && !/^\d+$/.test(port)) throw new TypeError(`Invalid URL: bad port "${port}"`);
    if (port !== "" && Number(port) > 65535) throw new TypeError(`Invalid URL: port out of range`);
    if (port !== "") port = String(Number(port));
    if (this.#special && this.#protocol !== "file:" && host === "")
      throw new TypeError("Invalid URL: empty host");
    if (/[\0\t\n\r #/<>?@[\\\]^|]/.test(host) && !ipv6)
      throw new TypeError(`Invalid URL: bad host "${host}"`);
    this.#hostname = ipv6 ? host : host.toLowerCase();
    this.#port = DEFAULT_PORTS[this.#protocol] === port ? "" : port;
  }

  #resolve(input: string, base: URL): void {
    this.#protocol = base.#protocol;
    this.#special = base.#special;
    const s = this.#special ? input.replace(/\\/g, "/") : input;
    if (s.startsWith("//")) {
      this.#parseAbsolute(`${this.#protocol}${s}`);
      return;
    }
    this.#username = base.#username;
    this.#password = base.#password;
    this.#hostname = base.#hostname;
    this.#port = base.#port;
    let rest = s;
    const hashAt = rest.indexOf("#");
    if (hashAt >= 0) {
      this.#hash = hashAt === rest.length - 1 ? "" : `#${encodeFragment(rest.slice(hashAt + 1))}`;
      rest = rest.slice(0, hashAt);
    }
    const queryAt = rest.indexOf("?");
    let hasQuery = false;
    if (queryAt >= 0) {
      const q = rest.slice(queryAt + 1);
      this.#search = q ? `?${encodeQuery(q)}` : "";
      rest = rest.slice(0, queryAt);
      hasQuery = true;
    }
    if (rest === "") {
      this.#pathname = base.#pathname;
      if (!hasQuery) this.#search = base.#search;
    } else if (rest.startsWith("/")) this.#pathname = normalizePath(rest);
    else this.#pathname = normalizePath(base.#pathname.replace(/[^/]*$/, "") + rest);
  }

  get protocol(): string {
    return this.#protocol;
  }
  get username(): string {
    return this.#username;
  }
  get password(): string {
    return this.#password;
  }
  get hostname(): string {
    return this.#hostname;
  }
  get port(): string {
    return this.#port;
  }
  get host(): string {
    return this.#port ? `${this.#hostname}:${this.#port}` : this.#hostname;
  }
  get origin(): string {
    return this.#special && this.#protocol !== "file:" ? `${this.#protocol}//${this.host}` : "null";
  }
  get pathname(): string {
    return this.#pathname;
  }
  set pathname(value: string) {
    this.#pathname = normalizePath(String(value));
  }
  get search(): string {
    return this.#search.length > 1 ? this.#search : "";
  }
  set search(value: string) {
    const v = String(value);
    const q = v.startsWith("?") ? v.slice(1) : v;
    this.#search = q ? `?${encodeQuery(q)}` : "";
    URLSearchParams._reparse(this.#params, this.#search);
  }
  get searchParams(): URLSearchParams {
    return this.#params;
  }
  get hash(): string {
    return this.#hash.length > 1 ? this.#hash : "";
  }
  set hash(value: string) {
    const v = String(value);
    const h = v.startsWith("#") ? v.slice(1) : v;
    this.#hash = h ? `#${encodeFragment(h)}` : "";
  }
  get href(): string {
    const auth =
      this.#username || this.#password
        ? `${this.#username}${this.#password ? `:${this.#password}` : ""}@`
        : "";
    const slashes = this.#special || this.#hostname ? "//" : "";
    return `${this.#protocol}${slashes}${auth}${this.host}${this.#pathname}${this.search}${this.hash}`;
  }
  toString(): string {
    return this.href;
  }
  toJSON(): string {
    return this.href;
  }
}
