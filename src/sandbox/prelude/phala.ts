// Agents written for Phala's AI Agent Contract runtime run unchanged. Their default export is
// a function, called in one of two styles, told apart by what it does:
//  (a) wapo/Hono (`export default handle(app)` from @phala/wapo-env/guest): reads
//      JSON {url, method, headers, body} from globalThis.scriptArgs[0] and writes
//      {status, headers, body} to globalThis.scriptOutput (MessagePack, or JSON text);
//  (b) router (`export default async function main(request)`): takes JSON
//      {method, path, queries: {k: [v]}, headers, body, secret} and returns JSON text
//      {status, body, headers}.
// Both inputs are prepared; whichever output the agent produces is the response.
import { TextDecoder } from "./encoding.ts";
import { decodeMsgpack } from "./msgpack.ts";
import { Response } from "./response.ts";
import { URL } from "./url.ts";

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
  scope.scriptArgs = [JSON.stringify({ url: request.url, method: request.method, headers, body })];
  scope.scriptOutput = undefined;
  let returned: unknown;
  try {
    returned = await main(
      JSON.stringify({ method: request.method, path: url.pathname, queries, headers, body, secret: secrets }),
    );
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
