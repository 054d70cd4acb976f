import { lookup as dnsLookup } from "node:dns/promises";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { type Readable, Transform } from "node:stream";

/** Where an agent may send requests. */
export type EgressPolicy = {
  /**
   * Hosts the agent may reach: "*" for any public host, "example.com", "*.example.com", or an
   * exact host:port. Loopback, private and link-local addresses are refused unless their host is
   * listed explicitly (never through "*"), and, where `privateAllowed` is set, the operator
   * allows them too.
   */
  allowHosts: string[];
  /**
   * The private, loopback and link-local destinations the worker's operator lets agents reach
   * ("host" or "host:port"; `veil worker --allow-private-egress`). An agent owner alone never
   * can: listing `127.0.0.1:PORT` reached the gatekeeper's and other workers' APIs, and would reach
   * cloud metadata. A worker always sets it (empty: none); unset (`veil dev`, tests of the
   * sandbox alone), an agent's explicit entry is enough.
   */
  privateAllowed?: string[];
  maxRequestBytes: number;
  maxResponseBytes: number;
  timeoutMs: number;
  /** Outbound requests in flight at once, per agent. */
  maxConcurrent: number;
  /** Outbound requests one invocation may start (counted per caller's realm; see the sandbox). */
  maxFetchesPerRequest: number;
};

export const DEFAULT_EGRESS: EgressPolicy = {
  allowHosts: ["*"],
  maxRequestBytes: 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
  timeoutMs: 10_000,
  maxConcurrent: 16,
  maxFetchesPerRequest: 50,
};

export type EgressRequest = {
  url: string;
  method: string;
  headers: [string, string][];
  body: ArrayBuffer | null;
  /**
   * A body sent as it is produced (chunked), instead of `body`: the next chunk, or null at its
   * end. Counted against maxRequestBytes as it goes.
   */
  bodyStream?: () => Promise<Uint8Array | null>;
};
export type EgressRefusal = { ok: false; code: string; message: string };

/** Addresses no agent reaches unless the operator lists the host by name. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv6");
}

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1]!, "ipv4");
  const family = isIP(address);
  if (family === 0) return true;
  return PRIVATE.check(address, family === 4 ? "ipv4" : "ipv6");
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "te",
  "trailer",
  "proxy-authorization",
]);

function matchHost(pattern: string, host: string, hostPort: string): "explicit" | "wildcard" | false {
  const p = pattern.toLowerCase();
  if (p === "*") return "wildcard";
  if (p === host || p === hostPort) return "explicit";
  if (p.startsWith("*.") && host.endsWith(p.slice(1))) return "wildcard";
  return false;
}

const refuse = (code: string, message: string): EgressRefusal => ({
  ok: false,
  code,
  message,
});

/** A response whose body is still arriving (see Egress.open). */
export type EgressStream = {
  ok: true;
  status: number;
  statusText: string;
  headers: [string, string][];
  /** The URL answered (the request's: redirects are not followed). */
  url: string;
  body: Readable;
  /** Stops the request (a time-out, or the agent no longer wants it). */
  abort(): void;
};

function pinnedLookup(address: string, family: number): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ]);
    } else callback(null, address, family);
  };
}

function outboundHeaders(from: [string, string][], body: Buffer | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of from) if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
  if (body) headers["content-length"] = String(body.length);
  return headers;
}

/**
 * Makes one outbound HTTP request for an agent, within its policy. The host name is resolved
 * here and the connection pinned to the checked address, so DNS cannot swap in a private
 * address after the check (rebinding).
 */
export class Egress {
  #inFlight = 0;
  /** Bytes sent and received so far (bodies), for metering. */
  bytes = 0;

  constructor(readonly policy: EgressPolicy) {}

  /**
   * Sends a request under the policy and hands back the response body as it arrives (agents'
   * fetch, host-fetch.ts; an LLM's server-sent events, host-llm.ts). Bytes are counted as they
   * pass and the body is cut at maxResponseBytes; the caller must consume or abort it.
   */
  async open(req: EgressRequest): Promise<EgressStream | EgressRefusal> {
    const admitted = await this.#admit(req);
    if ("ok" in admitted) return admitted;
    const { url, address, family } = admitted;
    this.#inFlight++;
    this.bytes += req.body?.byteLength ?? 0;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.#inFlight--;
      }
    };
    const body = req.body ? Buffer.from(req.body) : undefined;
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const request = send(
        url,
        {
          method: req.method,
          headers: outboundHeaders(req.headers, body),
          lookup: pinnedLookup(address, family),
          timeout: this.policy.timeoutMs,
        },
        (res: IncomingMessage) => {
          let size = 0;
          const max = this.policy.maxResponseBytes;
          // Counts and caps the body as the reader pulls it (a listener on res itself would
          // start the flow before anyone reads).
          const counted = new Transform({
            transform: (chunk: Buffer, _enc, callback) => {
              size += chunk.length;
              this.bytes += chunk.length;
              if (size > max) {
                request.destroy();
                callback(
                  Object.assign(new Error(`the response is over ${max} bytes`), {
                    code: "EGRESS_RESPONSE_TOO_LARGE",
                  }),
                );
              } else callback(null, chunk);
            },
          });
          res.on("error", (err) => counted.destroy(err));
          // The reader may come after an error (the cap, a reset): it finds it in `errored`,
          // and the error must not go unhandled meanwhile.
          counted.on("error", () => {});
          res.pipe(counted);
          res.on("close", release);
          const headers: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            headers.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          resolve({
            ok: true,
            status: res.statusCode ?? 502,
            statusText: res.statusMessage ?? "",
            headers,
            url: url.href,
            body: counted,
            abort: () => {
              request.destroy();
              counted.destroy();
            },
          });
        },
      );
      request.on("timeout", () => {
        request.destroy();
        release();
        resolve(refuse("EGRESS_TIMEOUT", `fetch: no answer within ${this.policy.timeoutMs} ms`) as never);
      });
      request.on("error", (err) => {
        release();
        resolve(refuse("EGRESS_FAILED", `fetch: ${err.message}`) as never);
      });
      if (req.bodyStream) this.#pump(request, req.bodyStream, (r) => resolve(r as never));
      else request.end(body);
    });
  }

  /** Writes a streamed request body as it comes, within maxRequestBytes; a failure stops the request. */
  async #pump(
    request: ClientRequest,
    next: () => Promise<Uint8Array | null>,
    refused: (r: EgressRefusal) => void,
  ): Promise<void> {
    let sent = 0;
    try {
      for (;;) {
        const chunk = await next();
        if (request.destroyed) return;
        if (chunk === null) break;
        sent += chunk.byteLength;
        this.bytes += chunk.byteLength;
        if (sent > this.policy.maxRequestBytes) {
          request.destroy();
          return refused(
            refuse(
              "EGRESS_REQUEST_TOO_LARGE",
              `fetch: the request body is over ${this.policy.maxRequestBytes} bytes`,
            ),
          );
        }
        if (!request.write(chunk)) await new Promise((r) => request.once("drain", r));
      }
      request.end();
    } catch (err) {
      request.destroy();
      refused(refuse("EGRESS_FAILED", `fetch: the request body failed: ${(err as Error).message}`));
    }
  }

  /** The policy's checks; a refusal, or where to connect (resolved and pinned). */
  async #admit(req: EgressRequest): Promise<EgressRefusal | { url: URL; address: string; family: number }> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return refuse("EGRESS_BAD_URL", `fetch: "${req.url}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return refuse("EGRESS_BAD_URL", `fetch: only http and https are allowed, not ${url.protocol}`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const hostPort = `${host}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
    const matches = this.policy.allowHosts.map((p) => matchHost(p, host, hostPort));
    const explicit = matches.includes("explicit");
    if (!explicit && !matches.includes("wildcard")) {
      return refuse("EGRESS_HOST_NOT_ALLOWED", `fetch: ${host} is not in this agent's egress allowlist`);
    }
    if (req.body && req.body.byteLength > this.policy.maxRequestBytes) {
      return refuse(
        "EGRESS_REQUEST_TOO_LARGE",
        `fetch: the request body is over ${this.policy.maxRequestBytes} bytes`,
      );
    }
    let address: string;
    let family: number;
    try {
      if (isIP(host)) {
        address = host;
        family = isIP(host);
      } else {
        const all = await dnsLookup(host, { all: true });
        const inside = all.find((a) => isPrivateAddress(a.address));
        if (inside && !this.#privateOk(explicit, host, hostPort, inside.address, url)) {
          return this.#privateRefusal(host, hostPort, explicit, "resolves to a private or loopback address");
        }
        address = all[0]!.address;
        family = all[0]!.family;
      }
    } catch {
      return refuse("EGRESS_DNS_FAILED", `fetch: ${host} could not be resolved`);
    }
    if (isPrivateAddress(address) && !this.#privateOk(explicit, host, hostPort, address, url)) {
      return this.#privateRefusal(host, hostPort, explicit, "is a private or loopback address");
    }
    if (this.#inFlight >= this.policy.maxConcurrent) {
      return refuse("EGRESS_TOO_MANY", `fetch: more than ${this.policy.maxConcurrent} requests in flight`);
    }
    return { url, address, family };
  }

  /** A private destination needs the agent's explicit entry and, on a worker, its operator's. */
  #privateOk(explicit: boolean, host: string, hostPort: string, address: string, url: URL): boolean {
    if (!explicit) return false;
    const allowed = this.policy.privateAllowed;
    if (allowed === undefined) return true;
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    return allowed.some((a) => {
      const entry = a
        .trim()
        .toLowerCase()
        .replace(/^\[|\](?=:|$)/g, "");
      return entry === host || entry === hostPort || entry === address || entry === `${address}:${port}`;
    });
  }

  #privateRefusal(host: string, hostPort: string, explicit: boolean, what: string): EgressRefusal {
    return refuse(
      "EGRESS_PRIVATE_ADDRESS",
      explicit
        ? `fetch: ${host} ${what}; only this worker's operator can allow it (veil worker --allow-private-egress ${hostPort})`
        : `fetch: ${host} ${what}`,
    );
  }
}
