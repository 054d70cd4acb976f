import type { Hex } from "viem";
import { workerRegistryAbi } from "../abi.ts";
import { chainError } from "../errors.ts";
import { RegistryClient } from "./base.ts";
import type { WorkerRecord } from "./records.ts";

/**
 * Workers (WorkerRegistry): registration, standing, verifications and what ends them.
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * const worker = await chain.workers.getWorker(workerAddress); // or chain.getWorker(…), the shorthand
 */
export class WorkersClient extends RegistryClient {
  async workerRegistrationDigest(args: {
    operator: Hex;
    worker: Hex;
    encryptionKey: Hex;
    teeType: number;
    measurement: Hex;
    evidenceHash: Hex;
    confidence: number;
    endpoint: string;
  }): Promise<Hex> {
    return this.read("compute the worker registration digest", () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "registrationDigest",
        args: [
          args.operator,
          args.worker,
          args.encryptionKey,
          args.teeType,
          args.measurement,
          args.evidenceHash,
          args.confidence,
          args.endpoint,
        ],
      }),
    );
  }

  async registerWorker(args: {
    worker: Hex;
    encryptionKey: Hex;
    teeType: number;
    measurement: Hex;
    evidenceHash: Hex;
    confidence: number;
    endpoint: string;
    signature: Hex;
  }): Promise<Hex> {
    const { hash } = await this.write(`register worker ${args.worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "register",
      args: [
        args.worker,
        args.encryptionKey,
        args.teeType,
        args.measurement,
        args.evidenceHash,
        args.confidence,
        args.endpoint,
        args.signature,
      ],
    });
    return hash;
  }

  async stopWorker(worker: Hex): Promise<Hex> {
    const { hash } = await this.write(`stop worker ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "stop",
      args: [worker],
    });
    return hash;
  }

  /** Records on chain that a worker's evidence is older than the policy allows (anyone may). */
  async expireWorker(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "expire", "mark worker expired");
  }

  /** Records that the policy no longer allows a worker's measurement (anyone may). */
  async markMeasurementRevoked(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "markMeasurementRevoked", "mark worker's measurement revoked");
  }

  /** Records that a worker's TCB confidence is worse than the policy's minimum (anyone may). */
  async markTcbBelowMinimum(worker: Hex): Promise<Hex> {
    return this.#markWorker(worker, "markTcbBelowMinimum", "mark worker's TCB below minimum");
  }

  async #markWorker(
    worker: Hex,
    functionName: "expire" | "markMeasurementRevoked" | "markTcbBelowMinimum",
    action: string,
  ): Promise<Hex> {
    const { hash } = await this.write(`${action} ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName,
      args: [worker],
    });
    return hash;
  }

  /**
   * Records that this client's account, a gatekeeper, verified the worker's current evidence
   * (docs/adr/0020): from then on the worker has standing, until the verification ages out.
   */
  async recordWorkerVerification(worker: Hex, evidenceHash: Hex): Promise<Hex> {
    const { hash } = await this.write(`record the verification of worker ${worker}`, {
      address: this.config.contracts.workerRegistry,
      abi: workerRegistryAbi,
      functionName: "recordVerification",
      args: [worker, evidenceHash],
    });
    return hash;
  }

  /**
   * Whether the worker is active and within the policy on its operator's word alone (before a
   * gatekeeper verified it): what a gatekeeper requires before it verifies the evidence.
   */
  async isWorkerRegisteredWithinPolicy(worker: Hex): Promise<boolean> {
    return this.read(`read the registration of ${worker}`, () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "isRegisteredWithinPolicy",
        args: [worker],
      }),
    );
  }

  /**
   * Whether the worker has standing as of the head block: active, verified by a gatekeeper within
   * the policy's maximum evidence age, and within every other part of the current policy.
   */
  async isWorkerAttested(worker: Hex): Promise<boolean> {
    return this.read(`read the attestation standing of ${worker}`, () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "isAttested",
        args: [worker],
      }),
    );
  }

  /** The worker's record, or undefined when it was never registered. */
  async getWorker(worker: Hex): Promise<WorkerRecord | undefined> {
    try {
      const w = await this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "getWorker",
        args: [worker],
      });
      return { address: worker, ...w };
    } catch (err) {
      const e = chainError(err, `read worker ${worker}`, this.config.rpcUrl);
      if (e.code === "WORKER_NOT_FOUND") return undefined;
      throw e;
    }
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const addresses = await this.read("list workers", () =>
      this.public.readContract({
        address: this.config.contracts.workerRegistry,
        abi: workerRegistryAbi,
        functionName: "workers",
      }),
    );
    const records = await Promise.all(addresses.map((a) => this.getWorker(a)));
    return records.filter((r): r is WorkerRecord => r !== undefined);
  }
}
