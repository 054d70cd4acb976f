/** Per-caller request budget of the gateway: a token bucket per key. */
export type RateLimit = {
  /** Requests per second a caller may sustain; 0 turns limiting off. */
  perSecond: number;
  /** Requests a caller may make at once after being idle. */
  burst: number;
};

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

/** Buckets kept at most; past this the least recently seen callers are forgotten (they start full). */
const MAX_KEYS = 100_000;

/**
 * Token buckets by caller. A bucket holds up to `burst` tokens, refills at `perSecond`, and each
 * request takes one. Buckets are kept in a Map in least-recently-used order, so that a flood of
 * distinct callers costs bounded memory: a forgotten caller comes back with a full bucket,
 * which is no more than a new caller gets.
 */
export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit, maxKeys = MAX_KEYS) {
    if (!(limit.perSecond >= 0) || !(limit.burst >= 1) || !Number.isFinite(limit.perSecond)) {
      throw new RangeError("a rate limit needs perSecond ≥ 0 and burst ≥ 1");
    }
    this.#limit = limit;
    this.#maxKeys = maxKeys;
  }

  get enabled(): boolean {
    return this.#limit.perSecond > 0;
  }

  take(key: string, now = Date.now()): RateDecision {
    if (!this.enabled) return { ok: true };
    const { perSecond, burst } = this.#limit;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
      bucket.at = now;
    } else {
      bucket = { tokens: burst, at: now };
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / perSecond) * 1000) };
  }

  /** Callers currently remembered (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }
}
