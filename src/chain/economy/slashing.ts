import type { Hex, LocalAccount } from "viem";
import { slashingAbi } from "../abi.ts";
import { signTyped } from "../typed-signing.ts";
import { asLocalAccount, EconomyContractClient } from "./base.ts";

/** A receipt a worker's own key signs for a response (the evidence of equivocation). */
export type WorkerReceipt = {
  agentId: bigint;
  requestId: Hex;
  inputHash: Hex;
  outputHash: Hex;
  signature: Hex;
};

/**
 * Slashing (Slashing.sol): reports of a worker's equivocation or unattested heartbeat.
 *
 * @example
 * await economy.slashing.reportEquivocation(worker, receiptA, receiptB);
 */
export class SlashingClient extends EconomyContractClient {
  /**
   * Signs a receipt with a worker's key, as workers do for each response.
   *
   * @example
   * const receipt = await economy.slashing.signWorkerReceipt(workerKey, { agentId, requestId, inputHash, outputHash });
   */
  async signWorkerReceipt(
    workerKey: LocalAccount | Hex,
    receipt: Omit<WorkerReceipt, "signature">,
  ): Promise<WorkerReceipt> {
    const worker = asLocalAccount(workerKey);
    const signature = await signTyped(
      worker,
      { chainId: this.connection.config.chainId, verifyingContract: this.addresses.slashing },
      "WorkerReceipt",
      { worker: worker.address, ...receipt },
    );
    return { ...receipt, signature };
  }

  /**
   * Two receipts of `worker` for the same request with different answers: the worker is slashed.
   *
   * @example
   * await economy.slashing.reportEquivocation(worker, receiptA, receiptB);
   */
  async reportEquivocation(worker: Hex, a: WorkerReceipt, b: WorkerReceipt): Promise<Hex> {
    const { hash } = await this.send(
      `report equivocation by ${worker}`,
      this.addresses.slashing,
      slashingAbi,
      "reportEquivocation",
      [worker, a, b],
    );
    return hash;
  }

  /**
   * A heartbeat the worker signed while its attestation had lapsed.
   *
   * @example
   * await economy.slashing.reportUnattestedHeartbeat({ worker, session, challengeBlock, performance, signature });
   */
  async reportUnattestedHeartbeat(args: {
    worker: Hex;
    session: bigint;
    challengeBlock: bigint;
    performance: bigint;
    signature: Hex;
  }): Promise<Hex> {
    const { hash } = await this.send(
      `report an unattested heartbeat of ${args.worker}`,
      this.addresses.slashing,
      slashingAbi,
      "reportUnattestedHeartbeat",
      [args.worker, args.session, args.challengeBlock, args.performance, args.signature],
    );
    return hash;
  }
}
