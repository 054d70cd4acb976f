import type { Hex } from "viem";
import { feeEscrowAbi } from "../chain/abi.ts";
import { chainError, type VeilChain, WorkerStatus } from "../chain/index.ts";

// An agent's requests and fees over time, summed over the workers that serve it: each worker
// counts the calls it admitted and the fees they owe (src/worker/usage.ts) and answers
// `GET /v1/agents/:id/usage` to any origin. Workers are found on chain, as for logs and
// `verifyAgent`, so the gateway is not the one to trust for the figures. Browser-safe.

/** One time bucket of an agent's calls, over all the workers that answered. */
export type AgentUsageBucket = { at: number; requests: number; fees: bigint };

export type AgentUsage = {
  agent: bigint;
  /** Width of a bucket, ms. */
  bucketMs: number;
  /** Oldest first; buckets without calls are left out. */
  buckets: AgentUsageBucket[];
  /** Every call the answering workers admitted since they started, and the fees they owe. */
  total: { requests: number; fees: bigint };
  /** The active workers on chain that answered, and those that did not (down, or not serving it). */
  workers: { answered: Hex[]; silent: Hex[] };
};

type WorkerReport = {
  bucketMs: number;
  total: { requests: number; fees: string };
  buckets: { at: number; requests: number; fees: string }[];
};

function isReport(body: unknown): body is WorkerReport {
  if (typeof body !== "object" || body === null) return false;
  const r = body as Partial<WorkerReport>;
  return typeof r.bucketMs === "number" && Array.isArray(r.buckets) && typeof r.total === "object";
}

const toBigInt = (text: string): bigint => (/^\d{1,78}$/.test(text) ? BigInt(text) : 0n);

/**
 * Agent `id`'s requests and fees over time, summed over every active worker on chain.
 *
 * @example
 * ```ts
 * const usage = await readAgentUsage(connected.chain, 7n);
 * console.log(usage.total.requests, formatVeil(usage.total.fees));
 * for (const b of usage.buckets) console.log(new Date(b.at), b.requests);
 * ```
 */
export async function readAgentUsage(chain: VeilChain, id: bigint): Promise<AgentUsage> {
  const workers = (await chain.listWorkers()).filter((w) => w.status === WorkerStatus.Active);
  const answered: Hex[] = [];
  const silent: Hex[] = [];
  const byAt = new Map<number, AgentUsageBucket>();
  const total = { requests: 0, fees: 0n };
  let bucketMs = 0;
  await Promise.all(
    workers.map(async (w) => {
      let body: unknown;
      try {
        const res = await fetch(`${w.endpoint.replace(/\/$/, "")}/v1/agents/${id}/usage`, {
          signal: AbortSignal.timeout(3_000),
        });
        body = res.ok ? await res.json() : undefined;
      } catch {
        body = undefined;
      }
      if (!isReport(body)) {
        silent.push(w.address);
        return;
      }
      answered.push(w.address);
      bucketMs = Math.max(bucketMs, body.bucketMs);
      total.requests += body.total.requests;
      total.fees += toBigInt(body.total.fees);
      for (const b of body.buckets) {
        const into = byAt.get(b.at) ?? { at: b.at, requests: 0, fees: 0n };
        into.requests += b.requests;
        into.fees += toBigInt(b.fees);
        byAt.set(b.at, into);
      }
    }),
  );
  return {
    agent: id,
    bucketMs,
    buckets: [...byAt.values()].sort((a, b) => a.at - b.at),
    total,
    workers: { answered, silent },
  };
}

/** What FeeEscrow has paid out for an agent's calls: settled, as workers claimed their vouchers. */
export type SettledFees = { calls: bigint; paid: bigint; claims: number };

/**
 * What FeeEscrow has paid for agent `id`'s calls, from its `FeesClaimed` events: the chain's own
 * record, which trails `readAgentUsage` by a settlement round (workers claim in batches).
 *
 * @example
 * ```ts
 * const settled = await readSettledFees(connected.chain, connected.network.chain.economy.feeEscrow, 7n);
 * console.log(settled.calls, formatVeil(settled.paid));
 * ```
 */
export async function readSettledFees(chain: VeilChain, feeEscrow: Hex, id: bigint): Promise<SettledFees> {
  try {
    const events = await chain.public.getContractEvents({
      address: feeEscrow,
      abi: feeEscrowAbi,
      eventName: "FeesClaimed",
      args: { agentId: id },
      fromBlock: 0n,
    });
    const settled: SettledFees = { calls: 0n, paid: 0n, claims: 0 };
    // An event's `calls` is its channel's (payer, worker, agent) count so far, not the claim's:
    // each channel counts once, at its latest; `paid` is what that claim paid.
    const channels = new Map<string, bigint>();
    for (const { args } of events) {
      const channel = `${args.payer}:${args.worker}`;
      const calls = args.calls ?? 0n;
      if (calls > (channels.get(channel) ?? 0n)) channels.set(channel, calls);
      settled.paid += args.paid ?? 0n;
      settled.claims += 1;
    }
    for (const calls of channels.values()) settled.calls += calls;
    return settled;
  } catch (err) {
    throw chainError(err, `read the fees settled for agent ${id}`, chain.config.rpcUrl);
  }
}
