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
  /**
   * Has a gatekeeper verify the evidence just registered and record that on chain: until then
   * the registration is the operator's claim and gives no standing (docs/adr/0020).
   */
  verify?: (evidence: Evidence) => Promise<void>;
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
  #attestedAt = 0;
  /** Set when the evidence on chain is not yet verified by a gatekeeper (retried every tick). */
  #unverified = false;

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
    const signature = await identity.account.sign({ hash: digest });
    await operatorChain.registerWorker({ ...registration, signature });
    this.#current = evidence;
    this.#attestedAt = Date.now();
    this.#unverified = this.#o.verify !== undefined;
    return evidence;
  }

  /** A gatekeeper verified `evidence` another way (provisioning does): no need to ask again. */
  markVerified(evidence: Evidence): void {
    if (evidence === this.#current) this.#unverified = false;
  }

  /**
   * Re-attests every policy period until stop(). The policy is re-read every few seconds, so
   * that a period governance shortens takes effect at once; a failed round is retried then.
   */
  start(pollMs = 5_000): void {
    const tick = async () => {
      if (this.#stopped) return;
      let wait = pollMs;
      try {
        const { reattestPeriod } = await this.#o.chain.policyParameters();
        const periodMs = Math.max(1, reattestPeriod) * 1000;
        if (Date.now() - this.#attestedAt >= periodMs) {
          await this.attestAndRegister();
          this.#o.log("re-attested and refreshed the evidence on chain");
        }
        const evidence = this.#current;
        if (this.#unverified && evidence && this.#o.verify) {
          await this.#o.verify(evidence);
          this.#unverified = false;
          this.#o.log("a gatekeeper verified the new evidence on chain");
        }
        wait = Math.min(pollMs, periodMs);
      } catch (err) {
        this.#o.log(`re-attestation failed (retrying): ${(err as Error).message}`);
      }
      if (!this.#stopped) this.#timer = setTimeout(tick, wait);
    };
    this.#timer = setTimeout(tick, pollMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
