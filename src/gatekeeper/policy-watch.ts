import type { Hex } from "viem";
import { type VeilChain, WorkerStatus } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";

export type LapsedWorker = {
  worker: Hex;
  status: (typeof WorkerStatus)["Expired" | "MeasurementRevoked" | "TcbBelowMinimum"];
};

/**
 * Finds active workers that no longer meet the attestation policy and records why on chain
 * (anyone may; gatekeepers do it as part of their watch). Gatekeepers and the gateway already
 * refuse such workers from the chain's `isAttested`; this makes the status say so.
 */
export async function recordLapsedWorkers(chain: VeilChain): Promise<LapsedWorker[]> {
  const [workers, params] = await Promise.all([chain.listWorkers(), chain.policyParameters()]);
  const recorded: LapsedWorker[] = [];
  for (const w of workers) {
    if (w.status !== WorkerStatus.Active || (await chain.isWorkerAttested(w.address))) continue;
    try {
      if (!(await chain.isMeasurementAllowed(w.teeType, w.measurement))) {
        await chain.markMeasurementRevoked(w.address);
        recorded.push({ worker: w.address, status: WorkerStatus.MeasurementRevoked });
      } else if (w.confidence > params.minConfidence) {
        await chain.markTcbBelowMinimum(w.address);
        recorded.push({ worker: w.address, status: WorkerStatus.TcbBelowMinimum });
      } else {
        await chain.expireWorker(w.address);
        recorded.push({ worker: w.address, status: WorkerStatus.Expired });
      }
    } catch (err) {
      // Someone else recorded it first, or it re-attested in between: nothing to do.
      if (!(err instanceof VeilError && err.code === "WORKER_STILL_VALID")) throw err;
    }
  }
  return recorded;
}
