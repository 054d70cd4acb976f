// fetch for agents: the request is copied to the host, which sends it within the agent's egress
// policy (see src/sandbox/egress.ts) and copies the response back.
import type { AbortSignal } from "./abort.ts";
import { callHost, type HostReference } from "./host.ts";
import { Request, type RequestInit } from "./request.ts";
import { Response } from "./response.ts";
import type { URL } from "./url.ts";

type HostAnswer =
  | {
      ok: true;
      status: number;
      statusText: string;
      headers: [string, string][];
      body: ArrayBuffer;
      url: string;
    }
  | { ok: false; code: string; message: string };

const NULL_BODY = new Set([101, 204, 205, 304]);

export function makeFetch(hostFetch: HostReference | undefined) {
  return async function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (!hostFetch) throw new TypeError("fetch is not available to this agent");
    const request = new Request(input, init);
    const headers: [string, string][] = [];
    request.headers.forEach((v, k) => {
      headers.push([k, v]);
    });
    const signal = request.signal as AbortSignal | undefined | null;
    signal?.throwIfAborted();
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const body = hasBody ? await request.arrayBuffer() : null;
    const call = callHost(hostFetch, [{ url: request.url, method: request.method, headers, body }]);
    // An abort rejects at once; the host's request runs out under its own time limit.
    const answer = (await (signal
      ? Promise.race([
          call,
          new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
          ),
        ])
      : call)) as HostAnswer;
    if (!answer.ok) {
      const err = new TypeError(answer.message);
      (err as TypeError & { code?: string }).code = answer.code;
      throw err;
    }
    // Status codes the Response constructor refuses (1xx, 3xx without body rules) are still real answers.
    const status = answer.status < 200 || answer.status > 599 ? 502 : answer.status;
    return new Response(NULL_BODY.has(status) ? null : answer.body, {
      status,
      statusText: answer.statusText,
      headers: answer.headers,
    });
  };
}
