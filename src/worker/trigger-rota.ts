import { type Hex, hexToBigInt, keccak256, toHex } from "viem";

/**
 * Which worker acts first on a trigger (a request id, or an agent's tick), and when the others
 * step in. Every worker computes the same order from the same inputs — the active workers'
 * addresses and the trigger's key — so no coordination is needed off chain; the chain refuses
 * a second answer or claim, which makes a late fallback harmless (docs/adr/0011-triggers.md).
 *
 * Returns this worker's rank: 0 is the preferred worker, 1 the first fallback, and so on;
 * undefined when `self` is not among `workers`.
 */
export function rotaRank(workers: readonly Hex[], self: Hex, key: string): number | undefined {
  const sorted = [...new Set(workers.map((w) => w.toLowerCase()))].sort();
  const mine = sorted.indexOf(self.toLowerCase());
  if (mine < 0) return undefined;
  const preferred = Number(hexToBigInt(keccak256(toHex(key))) % BigInt(sorted.length));
  return (mine - preferred + sorted.length) % sorted.length;
}

/**
 * Whether a worker of rank `rank` should act now: the preferred one at once, the k-th fallback
 * after k × `stepBlocks` blocks or k × `stepMs` milliseconds, whichever comes first — blocks on
 * a busy chain, time on the embedded chain, which mines only when there are transactions.
 */
export function isDue(
  rank: number,
  since: { blocks: bigint; ms: number },
  step: { blocks: number; ms: number },
): boolean {
  if (rank === 0) return true;
  return since.blocks >= BigInt(rank * step.blocks) || since.ms >= rank * step.ms;
}
