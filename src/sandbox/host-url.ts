// The host's side of an agent's URL (bridge.ts `urlParse`, `urlSet`): Node's WHATWG URL parser
// (Ada), which passes the web-platform-tests' URL suite, instead of a parser of our own in the
// prelude (ADR 0023). A parse costs the agent one synchronous host call.
import type { UrlField, UrlParts } from "./bridge.ts";

/** Inputs longer than this are refused: the host's CPU is outside the agent's limits. */
const MAX_URL_CHARS = 1 << 21;
const FIELDS = new Set<string>([
  "href",
  "protocol",
  "username",
  "password",
  "host",
  "hostname",
  "port",
  "pathname",
  "search",
  "hash",
]);

function parts(u: URL): UrlParts {
  return [
    u.href,
    u.origin,
    u.protocol,
    u.username,
    u.password,
    u.host,
    u.hostname,
    u.port,
    u.pathname,
    u.search,
    u.hash,
  ];
}

function text(v: unknown): string {
  const s = String(v);
  if (s.length > MAX_URL_CHARS) throw new RangeError(`a URL is at most ${MAX_URL_CHARS} characters`);
  return s;
}

export function urlParse(input: unknown, base: unknown): UrlParts | null {
  const i = text(input);
  const b = base === undefined ? undefined : text(base);
  let u: URL;
  try {
    u = b === undefined ? new URL(i) : new URL(i, b);
  } catch {
    return null;
  }
  return parts(u);
}

export function urlSet(href: unknown, field: unknown, value: unknown): UrlParts | null {
  const f = String(field);
  if (!FIELDS.has(f)) throw new TypeError(`no URL setter ${f}`);
  let u: URL;
  try {
    u = new URL(text(href));
  } catch {
    return null;
  }
  try {
    (u as unknown as Record<UrlField, string>)[f as UrlField] = text(value);
  } catch {
    return null;
  }
  return parts(u);
}
