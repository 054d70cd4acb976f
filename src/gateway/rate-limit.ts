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

/** What the gateway asks before it serves a caller: one gateway's buckets, or the network's. */
export interface CallerLimiter {
  readonly enabled: boolean;
  take(key: string, now?: number): RateDecision | Promise<RateDecision>;
}

/** Takes tokens from the network's shared buckets (storage/rate-buckets.ts). */
export type SharedBuckets = {
  take(key: string, want: number, limit: RateLimit, nowMs: number): Promise<number>;
};

/**
 * A caller's budget shared by every gateway of the network (`--state postgres://…`). Tokens come
 * from the shared bucket in leases of an eighth of the burst, kept here for at most a second, so
 * the database sees one call per lease; the gateways together admit no more than the one bucket
 * holds (a lease left unused is budget lost, never budget doubled). When the database cannot be
 * reached, this gateway's own buckets decide meanwhile, and it says so once.
 */
export class SharedRateLimiter implements CallerLimiter {
  readonly #limit: RateLimit;
  readonly #buckets: SharedBuckets;
  readonly #fallback: RateLimiter;
  readonly #leaseSize: number;
  readonly #leaseMs: number;
  readonly #leases = new Map<string, { tokens: number; at: number }>();
  readonly #log: (message: string) => void;
  #warned = false;

  constructor(
    limit: RateLimit,
    buckets: SharedBuckets,
    options: { leaseMs?: number; log?: (message: string) => void } = {},
  ) {
    this.#limit = limit;
    this.#buckets = buckets;
    this.#fallback = new RateLimiter(limit);
    this.#leaseSize = Math.max(1, Math.floor(limit.burst / 8));
    this.#leaseMs = options.leaseMs ?? 1000;
    this.#log = options.log ?? ((m) => console.error(m));
  }

  get enabled(): boolean {
    return this.#limit.perSecond > 0;
  }

  async take(key: string, now = Date.now()): Promise<RateDecision> {
    if (!this.enabled) return { ok: true };
    const lease = this.#leases.get(key);
    if (lease && now - lease.at <= this.#leaseMs && lease.tokens >= 1) {
      lease.tokens -= 1;
      return { ok: true };
    }
    let granted: number;
    try {
      granted = await this.#buckets.take(key, this.#leaseSize, this.#limit, now);
    } catch (err) {
      if (!this.#warned) {
        this.#warned = true;
        this.#log(
          `gateway: the shared rate limit store failed (${(err as Error).message}); this gateway's own limits apply until it answers again`,
        );
      }
      return this.#fallback.take(key, now);
    }
    this.#warned = false;
    if (granted < 1) {
      this.#leases.delete(key);
      return { ok: false, retryAfterMs: Math.ceil(1000 / this.#limit.perSecond) };
    }
    this.#leases.delete(key);
    if (this.#leases.size >= MAX_KEYS) {
      const oldest = this.#leases.keys().next().value;
      if (oldest !== undefined) this.#leases.delete(oldest);
    }
    this.#leases.set(key, { tokens: granted - 1, at: now });
    return { ok: true };
  }
}
