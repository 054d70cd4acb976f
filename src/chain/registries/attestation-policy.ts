import type { Hex } from "viem";
import { attestationPolicyAbi } from "../abi.ts";
import { RegistryClient } from "./base.ts";
import type { PolicyParameters } from "./records.ts";

/**
 * The attestation policy (AttestationPolicy): allowed measurements, simulated TEEs, advisories, evidence ages.
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * const { maxEvidenceAge } = await chain.attestationPolicy.policyParameters(); // or chain.policyParameters(…), the shorthand
 */
export class AttestationPolicyClient extends RegistryClient {
  /**
   * Whether simulated evidence counts on this network at all (ADR 0020): only a local dev network
   * turns it on, since the simulated platform's key is public.
   */
  async isSimulatedAllowed(): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "simulatedAllowed",
      }),
    );
  }

  async setSimulatedAllowed(allowed: boolean): Promise<Hex> {
    const { hash } = await this.write(allowed ? "allow simulated evidence" : "refuse simulated evidence", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setSimulatedAllowed",
      args: [allowed],
    });
    return hash;
  }

  async allowMeasurement(teeType: number, measurement: Hex): Promise<Hex> {
    const { hash } = await this.write("allow a measurement", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "allowMeasurement",
      args: [teeType, measurement],
    });
    return hash;
  }

  async isMeasurementAllowed(teeType: number, measurement: Hex): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "isAllowed",
        args: [teeType, measurement],
      }),
    );
  }

  async revokeMeasurement(teeType: number, measurement: Hex): Promise<Hex> {
    const { hash } = await this.write("revoke a measurement", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "revokeMeasurement",
      args: [teeType, measurement],
    });
    return hash;
  }

  async policyParameters(): Promise<PolicyParameters> {
    const address = this.config.contracts.attestationPolicy;
    const abi = attestationPolicyAbi;
    return this.read("read the attestation policy", async () => {
      const [maxEvidenceAge, reattestPeriod, minConfidence] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "maxEvidenceAge" }),
        this.public.readContract({ address, abi, functionName: "reattestPeriod" }),
        this.public.readContract({ address, abi, functionName: "minConfidence" }),
      ]);
      return {
        maxEvidenceAge: Number(maxEvidenceAge),
        reattestPeriod: Number(reattestPeriod),
        minConfidence,
      };
    });
  }

  async setPolicyParameters(p: PolicyParameters): Promise<Hex> {
    const { hash } = await this.write("set the attestation policy's parameters", {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setParameters",
      args: [BigInt(p.maxEvidenceAge), BigInt(p.reattestPeriod), p.minConfidence],
    });
    return hash;
  }

  async setAdvisoryAllowed(advisoryId: string, allowed: boolean): Promise<Hex> {
    const { hash } = await this.write(`${allowed ? "allow" : "disallow"} advisory ${advisoryId}`, {
      address: this.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "setAdvisoryAllowed",
      args: [advisoryId, allowed],
    });
    return hash;
  }

  async isAdvisoryAllowed(advisoryId: string): Promise<boolean> {
    return this.read("read the attestation policy", () =>
      this.public.readContract({
        address: this.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName: "isAdvisoryAllowed",
        args: [advisoryId],
      }),
    );
  }
}
