import { createHash } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Hex } from "viem";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";

// The SDK's transport for invocations: node:http rather than fetch, because a streamed answer's
// receipts come as HTTP trailers (known only once the body has ended), which fetch does not expose.

/** An answer from the gateway whose body is read as it arrives. */
export type HttpAnswer = {
  status: number;
  headers: Record<string, string>;
  /** The body's chunks as they arrive; throws the typed error a streamed body ended with. */
  chunks: AsyncGenerator<Uint8Array>;
  /**
   * After the body has ended: the headers known only then (trailers, for a streamed answer;
   * the same headers otherwise) and the sha256 of the body's bytes.
   */
  ended(): Promise<{ trailers: Record<string, string>; bodyHash: Hex }>;
};

const IDLE_TIMEOUT_MS = 60_000;

function unreachable(url: string, cause: unknown): VeilError {
  return new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${url} is not reachable`, {
    cause,
    retryable: true,
    hint: "Start the network with `npm start`, or check VEIL_NETWORK.",
  });
}

const flat = (h: IncomingMessage["headers"] | NodeJS.Dict<string>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
};

/** Sends one request; resolves once the answer's status and headers are in. */
export function requestStreaming(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array | string },
): Promise<HttpAnswer> {
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: init.method,
        headers: { ...init.headers, ...(body ? { "content-length": String(body.length) } : {}) },
      },
      (res) => resolve(answer(res)),
    );
    req.setTimeout(IDLE_TIMEOUT_MS, () =>
      req.destroy(
        new VeilError("GATEWAY_TIMEOUT", `The gateway sent nothing for ${IDLE_TIMEOUT_MS / 1000}s`, {
          retryable: true,
        }),
      ),
    );
    req.on("error", (err) => reject(err instanceof VeilError ? err : unreachable(target.origin, err)));
    req.end(body);
  });
}

function answer(res: IncomingMessage): HttpAnswer {
  const hash = createHash("sha256");
  let finished: { trailers: Record<string, string>; bodyHash: Hex } | undefined;
  let failure: unknown;
  const chunks = (async function* () {
    try {
      for await (const chunk of res) {
        hash.update(chunk as Buffer);
        yield new Uint8Array(chunk as Buffer);
      }
    } catch (err) {
      failure =
        err instanceof VeilError
          ? err
          : new VeilError("STREAM_CUT", "The answer was cut off before its end", {
              cause: err,
              retryable: true,
              hint: "The worker or the connection went away; send the request again.",
            });
      throw failure;
    }
    if (!res.complete) {
      failure = new VeilError("STREAM_CUT", "The answer was cut off before its end", { retryable: true });
      throw failure;
    }
    const trailers = flat(res.trailers);
    finished = { trailers, bodyHash: `0x${hash.digest("hex")}` };
    const cut = trailers["x-veil-error"];
    if (cut) {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(cut, "base64").toString("utf8"));
      } catch {
        json = undefined;
      }
      failure = isVeilErrorJSON(json)
        ? VeilError.fromJSON(json, 502)
        : new VeilError("STREAM_CUT", "The agent's answer was cut off", {});
      throw failure;
    }
  })();
  // A reader that stops early closes the connection, which stops the agent.
  const close = chunks.return.bind(chunks);
  chunks.return = (value) => {
    if (!finished && !failure) res.destroy();
    return close(value);
  };
  return {
    status: res.statusCode ?? 502,
    headers: flat(res.headers),
    chunks,
    async ended() {
      if (!finished && !failure) {
        // Whatever of the body was not read yet is read (and hashed) now.
        for await (const _ of chunks) {
        }
      }
      if (failure) throw failure;
      if (!finished) {
        throw new VeilError("STREAM_ABANDONED", "The body was not read to its end", {
          hint: "Read the body to its end before asking for its receipts.",
        });
      }
      return finished;
    },
  };
}
