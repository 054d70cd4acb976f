import type { SandboxRequest } from "../../src/sandbox/types.ts";

/** Requests to an agent at `host`, a JSON body given as text. */
export function requestsTo(host: string) {
  return (method: string, path: string, body?: string, headers: [string, string][] = []): SandboxRequest => ({
    method,
    url: `https://${host}${path}`,
    headers: body ? [["content-type", "application/json"], ...headers] : headers,
    body: body ? new TextEncoder().encode(body) : null,
  });
}
