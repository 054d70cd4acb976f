import { VeilError } from "../errors/index.ts";

/**
 * What an agent's answer must be before any transport sees it: the agent is hostile, and its
 * Response may be a subclass whose getters say anything. A status outside 200–599 went out raw
 * as `HTTP/1.1 999` (or `101 Switching Protocols` with a body) and, on the gateway's link, threw
 * and dropped every agent's requests on the worker; so each answer is checked here, once, and a
 * bad one fails that caller alone with AGENT_BAD_RESPONSE.
 */
export const RESPONSE_HEADER_LIMITS = {
  /** Headers in one answer. */
  count: 256,
  /** Bytes of names and values together (Node's and undici's clients stop at 16 KiB by default). */
  bytes: 64 * 1024,
} as const;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, space, tab and obs-text (Latin-1), never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function bad(message: string): VeilError {
  return new VeilError("AGENT_BAD_RESPONSE", `The agent's response is not a valid HTTP answer: ${message}`, {
    status: 502,
    hint: "Return a Response with a status from 200 to 599 and headers a browser would accept.",
  });
}

/**
 * The status and headers an agent answered, checked; headers in the platform's `x-veil-` space
 * are dropped (the worker sets those: receipts, usage, the serving worker), as are those the
 * transport owns (its framing).
 */
export function checkedAnswer(
  status: unknown,
  headers: unknown,
): { status: number; headers: [string, string][] } {
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw bad(`status ${typeof status === "number" ? status : typeof status} is outside 200–599`);
  }
  if (!Array.isArray(headers)) throw bad("its headers are not a list");
  if (headers.length > RESPONSE_HEADER_LIMITS.count) {
    throw bad(`${headers.length} headers, over ${RESPONSE_HEADER_LIMITS.count}`);
  }
  const out: [string, string][] = [];
  let bytes = 0;
  for (const h of headers) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== "string" || typeof h[1] !== "string") {
      throw bad("a header is not a name and a value");
    }
    const [name, value] = h as [string, string];
    if (!TOKEN.test(name)) throw bad(`header name ${JSON.stringify(name.slice(0, 64))} is not a token`);
    if (!FIELD_VALUE.test(value))
      throw bad(`header ${name} has a control or non-Latin-1 character in its value`);
    bytes += name.length + value.length;
    if (bytes > RESPONSE_HEADER_LIMITS.bytes) {
      throw bad(`its headers are over ${RESPONSE_HEADER_LIMITS.bytes / 1024} KiB`);
    }
    const lower = name.toLowerCase();
    if (lower.startsWith("x-veil-") || FRAMING.has(lower)) continue;
    out.push([lower, value]);
  }
  return { status, headers: out };
}

/** Headers the transport sets from the body it actually sends. */
const FRAMING = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "trailer",
]);
