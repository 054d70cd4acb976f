import { existsSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { request as httpsRequest } from "node:https";
import { VeilError } from "../errors/index.ts";
import { type CollateralSource, encodeDcapEvidence } from "./dcap-evidence.ts";
import type { Enclave, Evidence } from "./enclave.ts";
import { measurementOfOwnTdxQuote } from "./quote-measurement.ts";
import { sealWithKey, unsealWithKey } from "./sealing.ts";

/** Where the dstack guest agent listens inside a CVM, in the order @phala/dstack-sdk tries. */
export const DSTACK_SOCKET_PATHS = [
  "/var/run/dstack.sock",
  "/run/dstack.sock",
  "/var/run/dstack/dstack.sock",
  "/run/dstack/dstack.sock",
];

export type DstackEnclaveOptions = {
  /** A unix socket path or an http(s) URL; defaults to the first socket that exists. */
  endpoint?: string;
  collateral: CollateralSource;
  timeoutMs?: number;
};

/**
 * A dstack CVM (Phala's TDX confidential VMs): quotes and sealing keys come from the dstack
 * guest agent. This speaks the agent's RPC exactly as @phala/dstack-sdk's DstackClient does
 * (`POST /GetQuote {report_data}`, `POST /GetKey {path, purpose}`): that package cannot be
 * loaded next to @noble/*@2, which Veil uses, so its two calls are reimplemented (ADR 0007).
 * Sealing keys derive from the app's identity in dstack's KMS, so they survive restarts.
 */
export class DstackEnclave implements Enclave {
  readonly backend = "dstack" as const;
  readonly insecure = false;
  readonly persistentSealing = true;
  readonly #endpoint: string;
  readonly #collateral: CollateralSource;
  readonly #timeoutMs: number;
  readonly #sealKeys = new Map<string, Uint8Array>();
  #measurement: `0x${string}` | undefined;

  constructor(options: DstackEnclaveOptions) {
    this.#endpoint =
      options.endpoint ??
      DSTACK_SOCKET_PATHS.find((p) => existsSync(p)) ??
      (DSTACK_SOCKET_PATHS[0] as string);
    this.#collateral = options.collateral;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async measurement(): Promise<`0x${string}`> {
    this.#measurement ??= measurementOfOwnTdxQuote(await this.quote(new Uint8Array(64)));
    return this.#measurement;
  }

  async attest(reportData: Uint8Array): Promise<Evidence> {
    const quote = await this.quote(reportData);
    return encodeDcapEvidence("tdx", quote, await this.#collateral(quote));
  }

  async quote(reportData: Uint8Array): Promise<Uint8Array> {
    if (reportData.length > 64) {
      throw new VeilError("ATTESTATION_REPORT_DATA_TOO_LONG", "Report data is at most 64 bytes", {
        context: [`got ${reportData.length} bytes`],
      });
    }
    const result = await this.#rpc("/GetQuote", { report_data: Buffer.from(reportData).toString("hex") });
    const quote = typeof result.quote === "string" ? result.quote.replace(/^0x/, "") : "";
    if (!/^([0-9a-fA-F]{2})+$/.test(quote)) throw this.#badReply("/GetQuote", "no quote in the reply");
    return new Uint8Array(Buffer.from(quote, "hex"));
  }

  async seal(plaintext: Uint8Array, label: string): Promise<Uint8Array> {
    return sealWithKey(await this.#sealKey(label), label, plaintext);
  }

  async unseal(sealed: Uint8Array, label: string): Promise<Uint8Array> {
    return unsealWithKey(await this.#sealKey(label), label, sealed);
  }

  async #sealKey(label: string): Promise<Uint8Array> {
    const cached = this.#sealKeys.get(label);
    if (cached) return cached;
    const result = await this.#rpc("/GetKey", { path: `veil/seal/${label}`, purpose: "seal" });
    const key = typeof result.key === "string" ? result.key.replace(/^0x/, "") : "";
    if (!/^([0-9a-fA-F]{2}){32,}$/.test(key)) throw this.#badReply("/GetKey", "no key of at least 32 bytes");
    const bytes = new Uint8Array(Buffer.from(key, "hex"));
    this.#sealKeys.set(label, bytes);
    return bytes;
  }

  #badReply(path: string, what: string): VeilError {
    return new VeilError("TEE_UNAVAILABLE", `The dstack guest agent's ${path} reply is malformed: ${what}`, {
      hint: "Check the dstack OS version; Veil speaks the guest agent API of dstack 0.5.",
    });
  }

  #rpc(path: string, payload: Record<string, string>): Promise<Record<string, unknown>> {
    const body = JSON.stringify(payload);
    const isHttp = /^https?:\/\//.test(this.#endpoint);
    const options = {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      timeout: this.#timeoutMs,
    };
    return new Promise((resolve, reject) => {
      const fail = (message: string, cause?: unknown) =>
        reject(
          new VeilError("TEE_UNAVAILABLE", `The dstack guest agent at ${this.#endpoint}: ${message}`, {
            cause,
            retryable: true,
            hint: "Run inside a dstack CVM with the guest agent socket mounted, or set --dstack-endpoint.",
          }),
        );
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > 1 << 20) req.destroy(new Error("reply over 1 MiB"));
          else chunks.push(c);
        });
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch (err) {
            return fail(`${path} replied with something other than JSON (HTTP ${res.statusCode})`, err);
          }
          if (typeof json !== "object" || json === null) return fail(`${path} replied with ${String(json)}`);
          const r = json as Record<string, unknown>;
          if ("error" in r) return fail(`${path} failed: ${String(r.error)}`);
          if ((res.statusCode ?? 500) >= 400) return fail(`${path} replied HTTP ${res.statusCode}`);
          resolve(r);
        });
      };
      const req = isHttp
        ? (this.#endpoint.startsWith("https:") ? httpsRequest : request)(
            new URL(path, this.#endpoint),
            options,
            onResponse,
          )
        : request({ ...options, socketPath: this.#endpoint, path, host: "localhost" }, onResponse);
      req.on("timeout", () => req.destroy(new Error(`no reply in ${this.#timeoutMs} ms`)));
      req.on("error", (err) => fail(err.message, err));
      req.end(body);
    });
  }
}
