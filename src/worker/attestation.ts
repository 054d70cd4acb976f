import type { Hex } from "viem";
import { TeeType, type VeilChain } from "../chain/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { type Enclave, type Evidence, evaluateEvidence, evidenceHash } from "../tee/index.ts";

export type WorkerAttestationOptions = {
  enclave: Enclave;
  identity: NodeIdentity;
  /** Reads the chain (the policy). */
  chain: VeilChain;
  /** Sends the registration: the operator pays for it, the worker key consents to it. */
  operatorChain: VeilChain;
  endpoint: string;
  log: (message: string) => void;
};

/**
 * Attests the worker and records the evidence on chain, then again every re-attestation
 * period the policy sets, so that its evidence never ages past the policy's maximum. Each
 * round judges the fresh evidence against the on-chain policy first, to register the
 * confidence level it proves (gatekeepers check that claim against the evidence).
 */
export class WorkerAttestation {
  readonly #o: WorkerAttestationOptions;
  #current: Evidence | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: WorkerAttestationOptions) {
    this.#o = options;
  }

  /** The evidence now on chain (undefined before the first registration). */
  current(): Evidence | undefined {
    return this.#current;
  }

  async attestAndRegister(): Promise<Evidence> {
    const { enclave, identity, chain, operatorChain } = this.#o;
    const evidence = await enclave.attest(identity.reportData());
    const verdict = await evaluateEvidence(evidence, chain, { expectedReportData: identity.reportData() });
    const registration = {
      worker: identity.address,
      encryptionKey: identity.encryptionKeyHex,
      teeType: TeeType[evidence.tee],
      measurement: verdict.measurement,
      evidenceHash: evidenceHash(evidence),
      confidence: verdict.confidence,
      endpoint: this.#o.endpoint,
    };
    const digest = await chain.workerRegistrationDigest({
      operator: operatorChain.account as Hex,
      ...registration,
    });
    const signature = await identity.account.signMessage({ message: { raw: digest } });
    await operatorChain.registerWorker({ ...registration, signature });
    this.#current = evidence;
    return evidence;
  }

  /** Re-attests every policy period until stop(); a failed round is retried sooner. */
  start(): void {
    const schedule = async () => {
      if (this.#stopped) return;
      let delayMs = 30_000;
      try {
        const { reattestPeriod } = await this.#o.chain.policyParameters();
        delayMs = Math.max(1, reattestPeriod) * 1000;
      } catch (err) {
        this.#o.log(`cannot read the attestation policy: ${(err as Error).message}`);
      }
      this.#timer = setTimeout(async () => {
        try {
          await this.attestAndRegister();
          this.#o.log("re-attested and refreshed the evidence on chain");
        } catch (err) {
          this.#o.log(`re-attestation failed: ${(err as Error).message}`);
        }
        void schedule();
      }, delayMs);
      this.#timer.unref();
    };
    void schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
