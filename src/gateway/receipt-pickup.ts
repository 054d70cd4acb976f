// Receipts of streamed answers, kept a minute for callers that cannot read HTTP trailers
// (browsers: `fetch` does not expose them). docs/adr/0025, "Receipts in the browser".

/** What a caller sends to have its streamed answer's trailers kept: its request's nonce. */
export const KEEP_RECEIPT_HEADER = "x-veil-keep-receipt";

const NONCE = /^0x[0-9a-f]{64}$/;

/**
 * The trailers (receipts, LLM receipts, a cut's error) of streamed answers whose caller asked
 * to have them kept, by the request's nonce: at most `max`, each for `ttlMs`. Nothing here is
 * trusted: the receipt is the agent's signature over the request's nonce and the body's hash,
 * which the caller checks against what it sent and read; the nonce (32 random bytes, known to
 * the caller, this gateway and the worker) is what lets only the caller find it.
 */
export class ReceiptPickup {
  readonly #kept = new Map<string, { trailers: Record<string, string>; until: number }>();
  readonly #max: number;
  readonly #ttlMs: number;

  constructor(options: { max?: number; ttlMs?: number } = {}) {
    this.#max = options.max ?? 4096;
    this.#ttlMs = options.ttlMs ?? 60_000;
  }

  /** Whether `nonce` can key a kept receipt (0x and 64 lower-case hex digits). */
  static isNonce(nonce: string | undefined): nonce is string {
    return nonce !== undefined && NONCE.test(nonce);
  }

  keep(nonce: string, trailers: Record<string, string>, now = Date.now()): void {
    this.#kept.delete(nonce);
    // The oldest first out: insertion order is expiry order.
    for (const [k, v] of this.#kept) {
      if (this.#kept.size < this.#max && v.until > now) break;
      this.#kept.delete(k);
    }
    this.#kept.set(nonce, { trailers, until: now + this.#ttlMs });
  }

  get(nonce: string, now = Date.now()): Record<string, string> | undefined {
    const entry = this.#kept.get(nonce);
    if (!entry || entry.until <= now) return undefined;
    return entry.trailers;
  }
}
