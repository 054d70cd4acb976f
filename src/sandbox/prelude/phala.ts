// Agents written for Phala's AI Agent Contract runtime run unchanged. Their main function (a
// module's default export, or what a Phala-built script hands its input to: ADR 0023) is
// called in one of two styles, told apart by what it does:
//  (a) wapo/Hono (`export default handle(app)` from @phala/wapo-env/guest): reads
//      JSON {url, method, headers, body} from globalThis.scriptArgs[0] and writes
//      {status, headers, body} to globalThis.scriptOutput (MessagePack, or JSON text);
//  (b) router (`export default async function main(request)`): takes JSON
//      {method, path, queries: {k: [v]}, headers, body, secret} and returns JSON text
//      {status, body, headers}.
// Both get the one request Phala's gateway passes (both shapes in one object), as its argument
// and as scriptArgs[0]; whichever output the agent produces is the response.
//
// Such agents, and only they, also get the wapo runtime's guest globals: `process.env.secret`
// (the agent's secrets as JSON text, as Phala's gateway sets it), `Wapo` (`deriveSecret` on the
// agent's own key, `concatU8a`, `version`) and `Buffer` (the `buffer` package, on first use).

import { nodeBuffer } from "./buffer.ts";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import type { Host } from "./host.ts";
import { decodeMsgpack } from "./msgpack.ts";
import { Response } from "./response.ts";
import { URL } from "./url.ts";

/** The agent's secrets as the wapo runtime gives them: one JSON text in `process.env.secret`. */
const phalaEnv: { secret: string } = { secret: "{}" };

/**
 * Installs the wapo runtime's guest globals in this realm (once): `process` (only `env.secret`
 * and `nextTick`; no Node behind it), `Wapo` and `Buffer`.
 */
export function installPhalaGlobals(
  deriveSecret: Host["deriveSecret"],
  secrets: Record<string, string>,
): void {
  phalaEnv.secret = JSON.stringify(secrets);
  const scope = globalThis as unknown as Record<string, unknown>;
  if (scope.Wapo !== undefined) return;
  const define = (name: string, value: unknown) =>
    Object.defineProperty(scope, name, { value, writable: true, configurable: true, enumerable: false });
  define(
    "process",
    Object.freeze({
      env: Object.freeze(
        Object.defineProperty({}, "secret", { get: () => phalaEnv.secret, enumerable: true }) as object,
      ),
      nextTick: (fn: (...args: unknown[]) => void, ...args: unknown[]) => {
        Promise.resolve().then(() => fn(...args));
      },
    }),
  );
  define(
    "Wapo",
    Object.freeze({
      version: "veil",
      /** 64 bytes from the agent's own key and `salt`: the same for the same agent and salt. */
      deriveSecret(salt: Uint8Array | string): Uint8Array {
        const bytes =
          typeof salt === "string"
            ? new TextEncoder().encode(salt)
            : ArrayBuffer.isView(salt)
              ? new Uint8Array(salt.buffer, salt.byteOffset, salt.byteLength)
              : undefined;
        if (!bytes) throw new TypeError("Wapo.deriveSecret: the salt must be a string or a Uint8Array");
        const out = deriveSecret?.(bytes.slice().buffer as ArrayBuffer);
        if (!out) {
          throw new Error(
            "Wapo.deriveSecret: this host holds no key for the agent (it derives secrets on a Veil worker, from the agent's own key)",
          );
        }
        return new Uint8Array(out);
      },
      concatU8a(arrays: Uint8Array[]): Uint8Array {
        const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
        let at = 0;
        for (const a of arrays) {
          out.set(a, at);
          at += a.length;
        }
        return out;
      },
    }),
  );
  Object.defineProperty(scope, "Buffer", {
    configurable: true,
    enumerable: false,
    get() {
      const value = nodeBuffer();
      define("Buffer", value);
      return value;
    },
    set: (value: unknown) => define("Buffer", value),
  });
}

type PhalaOutput = { status?: unknown; headers?: unknown; body?: unknown };

export async function callPhalaAgent(
  main: (input: string) => unknown,
  request: { method: string; url: string; headers: [string, string][]; body: ArrayBuffer | null },
  secrets: Record<string, string>,
): Promise<Response> {
  const url = new URL(request.url);
  const queries: Record<string, string[]> = {};
  url.searchParams.forEach((v, k) => {
    if (!queries[k]) queries[k] = [];
    queries[k].push(v);
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of request.headers) headers[k] = headers[k] ? `${headers[k]}, ${v}` : v;
  const body = request.body ? new TextDecoder().decode(request.body) : undefined;
  const scope = globalThis as unknown as { scriptArgs?: string[]; scriptOutput?: unknown };
  // What Phala's gateway passes: both styles' fields in one request.
  const input = JSON.stringify({
    method: request.method,
    url: request.url,
    path: url.pathname,
    queries,
    headers,
    body,
    secret: secrets,
  });
  scope.scriptArgs = [input];
  scope.scriptOutput = undefined;
  let returned: unknown;
  try {
    returned = await main(input);
  } finally {
    delete scope.scriptArgs;
  }
  const written = scope.scriptOutput;
  delete scope.scriptOutput;
  let output: PhalaOutput;
  if (written !== undefined && written !== null) output = parseOutput(written);
  else if (returned !== undefined && returned !== null) output = parseOutput(returned);
  else throw new TypeError("the Phala-style agent neither returned a result nor set globalThis.scriptOutput");
  const status = Number.isInteger(output.status) ? (output.status as number) : 200;
  const outHeaders: [string, string][] = [];
  if (output.headers && typeof output.headers === "object") {
    for (const [k, v] of Object.entries(output.headers as Record<string, unknown>))
      outHeaders.push([k, String(v)]);
  }
  const outBody =
    output.body === undefined || output.body === null
      ? null
      : typeof output.body === "string" || output.body instanceof Uint8Array
        ? output.body
        : JSON.stringify(output.body);
  return new Response(outBody, { status, headers: outHeaders });
}

function parseOutput(v: unknown): PhalaOutput {
  let parsed: unknown = v;
  if (typeof v === "string") parsed = JSON.parse(v);
  else if (v instanceof Uint8Array) parsed = decodeMsgpack(v);
  else if (v instanceof ArrayBuffer) parsed = decodeMsgpack(new Uint8Array(v));
  if (!parsed || typeof parsed !== "object")
    throw new TypeError("the Phala-style agent's result is not an object");
  return parsed as PhalaOutput;
}
