import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";

// No Node built-ins here: verifying simulated evidence is part of the browser build of verifyAgent.

/**
 * The simulated platform's signing key. It is public by construction (derived from a fixed
 * string), so anyone can forge simulated evidence: it exists to exercise the same code paths
 * as a real quote, and production policy must reject TEE type `simulated`.
 */
export const PLATFORM_SECRET = sha256(new TextEncoder().encode("veil/simulated-tee/platform-key/INSECURE"));
export const SIMULATED_PLATFORM_PUBLIC_KEY = ed25519.getPublicKey(PLATFORM_SECRET);
export const SIMULATED_EVIDENCE_FORMAT = "veil-simulated-evidence/v1";

export type SimulatedEvidenceBody = {
  format: typeof SIMULATED_EVIDENCE_FORMAT;
  tee: "simulated";
  insecure: true;
  measurement: `0x${string}`;
  reportData: string; // hex, 64 bytes
  issuedAt: number; // unix seconds
};

export function signingPayload(body: SimulatedEvidenceBody): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify([body.format, body.tee, body.insecure, body.measurement, body.reportData, body.issuedAt]),
  );
}
