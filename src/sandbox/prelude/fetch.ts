// fetch for agents: the request is copied to the host, which sends it within the agent's egress
// policy (see src/sandbox/egress.ts). The answer's body comes whole when it had all arrived with
// its head, else as a ReadableStream the host feeds as the bytes arrive: each read of it is one
// host call, so an agent that stops reading stops the download (backpressure), and one that
// relays a provider's server-sent events passes each on as it comes.
import type { FetchAnswer } from "../bridge.ts";
import type { AbortSignal } from "./abort.ts";
import { sourceStream } from "./body.ts";
import { offerStream } from "./body-streams.ts";
import type { Host } from "./host.ts";
import { Request, type RequestInit } from "./request.ts";
import { Response, setResponseUrl } from "./response.ts";
import { streams } from "./streams.ts";
import type { URL } from "./url.ts";

const NULL_BODY = new Set([101, 204, 205, 304]);

function failed(code: string, message: string): TypeError {
  const err = new TypeError(message);
  (err as TypeError & { code?: string }).code = code;
  return err;
}

/** Rejects when the signal aborts (with its reason); never settles otherwise. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
  );
}

export function makeFetch(host: Host) {
  const { fetch: hostFetch, fetchRead, fetchCancel } = host;

  /** A streamed answer's body: each pull is one read on the host. */
  const bodyStream = (id: number, signal: AbortSignal | null) => {
    let done = false;
    const cancel = () => {
      if (!done) {
        done = true;
        fetchCancel?.(id);
      }
    };
    signal?.addEventListener("abort", cancel, { once: true });
    return new (streams().ReadableStream)<Uint8Array>({
      async pull(controller) {
        const read = fetchRead!(id);
        const r = await (signal ? Promise.race([read, aborted(signal)]) : read);
        if (!r.ok) {
          done = true;
          controller.error(failed(r.code, r.message));
        } else if (r.done) {
          done = true;
          controller.close();
        } else controller.enqueue(new Uint8Array(r.chunk));
      },
      cancel,
    });
  };

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
    // A body made from a stream goes out as the agent produces it (chunked); bytes go whole.
    const source = hasBody ? sourceStream(request) : null;
    const body = source ? { stream: offerStream(source) } : hasBody ? await request.arrayBuffer() : null;
    const call = hostFetch({ url: request.url, method: request.method, headers, body });
    // An abort rejects at once; a streamed answer the host opened meanwhile is cancelled there.
    let answer: FetchAnswer;
    if (signal) {
      call.then((a) => {
        if (a.ok && "stream" in a && signal.aborted) fetchCancel?.(a.stream);
      });
      answer = await Promise.race([call, aborted(signal)]);
    } else answer = await call;
    if (!answer.ok) throw failed(answer.code, answer.message);
    // Status codes the Response constructor refuses (1xx, 3xx without body rules) are still real answers.
    const status = answer.status < 200 || answer.status > 599 ? 502 : answer.status;
    const init2 = { status, statusText: answer.statusText, headers: answer.headers };
    if (NULL_BODY.has(status)) {
      if ("stream" in answer) fetchCancel?.(answer.stream);
      return setResponseUrl(new Response(null, init2), answer.url);
    }
    const got = "stream" in answer ? bodyStream(answer.stream, signal ?? null) : answer.body;
    return setResponseUrl(new Response(got, init2), answer.url);
  };
}
