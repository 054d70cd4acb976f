// Requests and fees per agent over time, as this worker admitted them: the figures the web
// console plots on an agent's page (GET /v1/agents/:id/usage). Counted when a call is admitted
// (its fee is then owed: a voucher accepted, or the sponsor's cap taken), in memory, in fixed
// buckets, the last hour kept. Fees settle on chain much later and in batches (settlement.ts:
// FeeEscrow's FeesClaimed), so the chain alone cannot draw calls as they happen.

/** One bucket of an agent's calls on this worker. */
export type UsageBucket = { at: number; requests: number; fees: bigint };

/** What `GET /v1/agents/:id/usage` answers (fees as decimal strings of base units). */
export type UsageReport = {
  agent: string;
  bucketMs: number;
  /** Since this worker started, beyond the buckets kept. */
  total: { requests: number; fees: string; since: number };
  buckets: { at: number; requests: number; fees: string }[];
};

export type UsageMeterOptions = {
  /** Width of a bucket (default 10 s). */
  bucketMs?: number;
  /** Buckets kept per agent (default 360: an hour of 10 s buckets). */
  keep?: number;
  now?: () => number;
};

/**
 * Counts each agent's admitted calls and their fees per time bucket.
 *
 * @example
 * const meter = new UsageMeter();
 * meter.record(7n, 10n ** 16n);
 * meter.report(7n).total.requests; // 1
 */
export class UsageMeter {
  readonly bucketMs: number;
  readonly #keep: number;
  readonly #now: () => number;
  readonly #since: number;
  readonly #agents = new Map<string, { buckets: UsageBucket[]; requests: number; fees: bigint }>();

  constructor(options: UsageMeterOptions = {}) {
    this.bucketMs = options.bucketMs ?? 10_000;
    this.#keep = options.keep ?? 360;
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
  }

  /** One admitted call of agent `id`, owing `fee` base units (0 for a free agent). */
  record(id: bigint, fee: bigint): void {
    const key = id.toString();
    let a = this.#agents.get(key);
    if (!a) {
      a = { buckets: [], requests: 0, fees: 0n };
      this.#agents.set(key, a);
    }
    a.requests += 1;
    a.fees += fee;
    const at = Math.floor(this.#now() / this.bucketMs) * this.bucketMs;
    const last = a.buckets.at(-1);
    if (last && last.at === at) {
      last.requests += 1;
      last.fees += fee;
    } else {
      a.buckets.push({ at, requests: 1, fees: fee });
      if (a.buckets.length > this.#keep) a.buckets.shift();
    }
  }

  /** Agent `id`'s buckets (oldest first, empty ones left out) and totals. */
  report(id: bigint): UsageReport {
    const a = this.#agents.get(id.toString());
    return {
      agent: id.toString(),
      bucketMs: this.bucketMs,
      total: { requests: a?.requests ?? 0, fees: (a?.fees ?? 0n).toString(), since: this.#since },
      buckets: (a?.buckets ?? []).map((b) => ({ at: b.at, requests: b.requests, fees: b.fees.toString() })),
    };
  }
}
