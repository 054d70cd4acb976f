import { sha256 } from "@noble/hashes/sha2.js";
import { VeilError } from "../errors/index.ts";
import type { DcapCollateral, DcapVerified, TdxMeasurements } from "./dcap-types.ts";
import type { Evidence } from "./enclave.ts";
import { fromHex, toHex } from "./x509.ts";

// No Node built-ins here: this is part of the browser build of verifyAgent.

/**
 * Evidence from a hardware backend is the DCAP quote together with the collateral it was
 * verified against when made, so that anyone (a gatekeeper, a caller's `veil verify`) can
 * check it offline without reaching Intel's PCS or a PCCS.
 */
export const DCAP_EVIDENCE_FORMAT = "veil-dcap-evidence/v1";

/** Where a node finds collateral for its own quotes (a PCCS, or a cache of one). */
export type CollateralSource = (quote: Uint8Array) => Promise<DcapCollateral>;

export function encodeDcapEvidence(
  tee: "sgx" | "tdx",
  quote: Uint8Array,
  collateral: DcapCollateral,
): Evidence {
  const body = { format: DCAP_EVIDENCE_FORMAT, tee, quote: toHex(quote), collateral };
  return { tee, bytes: new TextEncoder().encode(JSON.stringify(body)) };
}

/** Splits evidence bytes into the quote and the collateral; their content is checked later. */
export function decodeDcapEvidence(evidence: Evidence): { quote: Uint8Array; collateral: unknown } {
  const bad = (what: string, cause?: unknown) =>
    new VeilError("ATTESTATION_INVALID", `The attestation evidence is malformed: ${what}`, {
      status: 400,
      cause,
      hint: "Send the evidence the node's TEE backend produced.",
    });
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(evidence.bytes));
  } catch (err) {
    throw bad("not JSON", err);
  }
  if (typeof body !== "object" || body === null) throw bad("not an object");
  const b = body as Record<string, unknown>;
  if (b.format !== DCAP_EVIDENCE_FORMAT) throw bad(`format is not ${DCAP_EVIDENCE_FORMAT}`);
  if (b.tee !== evidence.tee) throw bad("its TEE type differs from the one claimed");
  if (typeof b.quote !== "string" || !/^([0-9a-f]{2})+$/.test(b.quote))
    throw bad("quote must be lowercase hex");
  return { quote: fromHex(b.quote), collateral: b.collateral };
}

/**
 * The bytes32 a TDX policy names: sha256(MRTD || RTMR0 || RTMR1 || RTMR2 || RTMR3), the
 * measured firmware, kernel, command line and application. (Each is 48 bytes, too long for
 * one word, and any change to one of them must change the measurement.)
 */
export function tdxMeasurement(m: TdxMeasurements): `0x${string}` {
  const h = sha256.create();
  for (const v of [m.mrTd, m.rtmr0, m.rtmr1, m.rtmr2, m.rtmr3]) h.update(fromHex(v.slice(2)));
  return `0x${toHex(h.digest())}`;
}

/**
 * The measurements a policy may allow for a verified quote, most specific first: for SGX
 * MRENCLAVE (this exact build) then MRSIGNER (any build by this signer); for TDX the hash above.
 */
export function policyMeasurements(v: DcapVerified): `0x${string}`[] {
  if (v.tee === "sgx")
    return [v.measurements.mrEnclave as `0x${string}`, v.measurements.mrSigner as `0x${string}`];
  return [tdxMeasurement(v.measurements)];
}
