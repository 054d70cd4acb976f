import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";

// The gateway as the SDK's modules reach it over `fetch`: its URL from the network file, and its
// errors (a JSON body `{ error: { code, message, hint } }`) as `VeilError`s. No Node built-in:
// the browser entry uses it too.

/**
 * The network's gateway URL, without a trailing slash.
 *
 * @example
 * const url = gatewayUrlOf(network); // "http://127.0.0.1:8787"
 */
export function gatewayUrlOf(network: NetworkFile): string {
  if (!network.gateway) {
    throw new VeilError("GATEWAY_NOT_CONFIGURED", "The network file names no gateway", {
      hint: "Start the network with `npm start`, or add gateway.url to network.json.",
    });
  }
  return network.gateway.url.replace(/\/$/, "");
}

/**
 * The error a gateway's JSON answer carries, or `GATEWAY_ERROR` when it carries none.
 *
 * @example
 * if (!res.ok) throw gatewayError(await res.json().catch(() => undefined), res.status);
 */
export function gatewayError(body: unknown, status: number): VeilError {
  const error = (body as { error?: unknown } | undefined)?.error;
  if (isVeilErrorJSON(error)) return VeilError.fromJSON(error, status);
  return new VeilError("GATEWAY_ERROR", `The gateway answered ${status}`, { status });
}

/**
 * `gatewayError` of an answer's raw bytes (JSON or not).
 *
 * @example
 * if (res.status !== 200) throw gatewayErrorOfBytes(new Uint8Array(await res.arrayBuffer()), res.status);
 */
export function gatewayErrorOfBytes(bytes: Uint8Array, status: number): VeilError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    parsed = undefined;
  }
  return gatewayError(parsed, status);
}

/**
 * `fetch` of a gateway path, a minute at most; an unreachable gateway is `GATEWAY_UNREACHABLE`.
 *
 * @example
 * const res = await gatewayFetch("http://127.0.0.1:8787", "/v1/agents/hello", { method: "GET" });
 */
export async function gatewayFetch(gatewayUrl: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(`${gatewayUrl}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    throw new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${gatewayUrl} is not reachable`, {
      cause: err,
      retryable: true,
      hint: "Start the network with `npm start`, or check VEIL_NETWORK.",
    });
  }
}
