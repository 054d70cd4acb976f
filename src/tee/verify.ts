import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { VeilError } from "../errors/index.ts";
import { decodeDcapEvidence, policyMeasurements } from "./dcap-evidence.ts";
import { confidenceLevel, type DcapVerified, type TcbStatus } from "./dcap-types.ts";
import { verifyQuoteWithVeil as verifyDcapQuote } from "./dcap-verifier.ts";
import type { Evidence, TeeKind } from "./enclave.ts";
import {
  SIMULATED_EVIDENCE_FORMAT,
  SIMULATED_PLATFORM_PUBLIC_KEY,
  type SimulatedEvidenceBody,
  signingPayload,
} from "./simulated-key.ts";
import { bytesEqual, fromHex, toHex } from "./x509.ts";

export type VerifiedEvidence = {
  tee: TeeKind;
  /** The measurements a policy may name for this evidence, most specific first. */
  measurements: `0x${string}`[];
  /** The most specific one: the build hash, MRENCLAVE, or the TDX measurement hash. */
  measurement: `0x${string}`;
  reportData: Uint8Array;
  /** When the evidence was made (simulated), or undefined (a quote carries no time). */
  issuedAt: number | undefined;
  tcbStatus: TcbStatus | "Simulated";
  advisoryIds: string[];
  /** Phala's confidence level, 1 (best) … 5; simulated evidence rates 1 and is INSECURE. */
  confidence: 1 | 2 | 3 | 4 | 5;
  insecure: boolean;
  /** The full DCAP verification result, for hardware evidence. */
  dcap?: DcapVerified;
};

export type VerifyOptions = {
  /** The report data the evidence must carry (zero-padded to 64 bytes). */
  expectedReportData: Uint8Array;
  /** Seconds since the epoch; defaults to now. */
  now?: number;
  /** Evidence older than this is refused. */
  maxAgeSeconds?: number;
  /** Advisory ids that still rate confidence level 3 (the on-chain policy's list). */
  allowedAdvisories?: readonly string[];
};

export function evidenceHash(evidence: Evidence): `0x${string}` {
  return `0x${toHex(sha256(evidence.bytes))}`;
}

function invalid(message: string, hint: string, cause?: unknown): VeilError {
  return new VeilError("ATTESTATION_INVALID", message, { hint, status: 403, cause });
}

/**
 * Checks evidence and returns what it proves. Hostile input: every field is checked, and any
 * failure is a VeilError with an ATTESTATION_* code. SGX and TDX evidence is a DCAP quote with
 * its collateral, verified offline; simulated evidence is signed by the (public, INSECURE)
 * simulated platform key.
 */
export function verifyEvidence(evidence: Evidence, options: VerifyOptions): VerifiedEvidence {
  if (evidence.tee === "sgx" || evidence.tee === "tdx") return verifyHardwareEvidence(evidence, options);
  if (evidence.tee !== "simulated") {
    throw new VeilError(
      "ATTESTATION_UNSUPPORTED",
      `Evidence of TEE type "${String(evidence.tee)}" is unknown`,
      {
        status: 400,
        hint: "Veil understands simulated, sgx and tdx evidence.",
      },
    );
  }
  let parsed: SimulatedEvidenceBody & { signature: string };
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(evidence.bytes));
  } catch (err) {
    throw invalid(
      "The attestation evidence is not well-formed",
      "Send the evidence the enclave produced.",
      err,
    );
  }
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    parsed.format !== SIMULATED_EVIDENCE_FORMAT ||
    parsed.tee !== "simulated" ||
    typeof parsed.measurement !== "string" ||
    !/^0x[0-9a-f]{64}$/.test(parsed.measurement) ||
    typeof parsed.reportData !== "string" ||
    !/^[0-9a-f]{128}$/.test(parsed.reportData) ||
    !Number.isSafeInteger(parsed.issuedAt) ||
    typeof parsed.signature !== "string" ||
    !/^[0-9a-f]{128}$/.test(parsed.signature)
  ) {
    throw invalid("The attestation evidence is missing fields or has malformed ones", "Re-attest the node.");
  }
  const ok = ed25519.verify(fromHex(parsed.signature), signingPayload(parsed), SIMULATED_PLATFORM_PUBLIC_KEY);
  if (!ok) throw invalid("The attestation evidence's signature does not verify", "The evidence was altered.");

  const expected = new Uint8Array(64);
  expected.set(options.expectedReportData.subarray(0, 64));
  const reportData = fromHex(parsed.reportData);
  if (!bytesEqual(reportData, expected)) {
    throw new VeilError(
      "ATTESTATION_REPORT_DATA_MISMATCH",
      "The attestation evidence is not bound to this node's identity keys",
      { status: 403, hint: "The evidence belongs to another key; the node must attest its own identity." },
    );
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (options.maxAgeSeconds !== undefined && now - parsed.issuedAt > options.maxAgeSeconds) {
    throw new VeilError("ATTESTATION_EXPIRED", "The attestation evidence is too old", {
      status: 403,
      context: [
        `issued at ${new Date(parsed.issuedAt * 1000).toISOString()}, max age ${options.maxAgeSeconds}s`,
      ],
      hint: "The node must re-attest.",
    });
  }
  if (parsed.issuedAt > now + 300) {
    throw invalid("The attestation evidence is dated in the future", "Check the node's clock.");
  }
  return {
    tee: "simulated",
    measurements: [parsed.measurement],
    measurement: parsed.measurement,
    reportData,
    issuedAt: parsed.issuedAt,
    tcbStatus: "Simulated",
    advisoryIds: [],
    confidence: 1,
    insecure: true,
  };
}

function verifyHardwareEvidence(evidence: Evidence, options: VerifyOptions): VerifiedEvidence {
  const { quote, collateral } = decodeDcapEvidence(evidence);
  const dcap = verifyDcapQuote(quote, collateral, {
    expectedReportData: options.expectedReportData,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  if (dcap.tee !== evidence.tee) {
    throw invalid(`The quote is a ${dcap.tee} quote, not ${evidence.tee}`, "Send the evidence unaltered.");
  }
  const measurements = policyMeasurements(dcap);
  return {
    tee: dcap.tee,
    measurements,
    measurement: measurements[0] as `0x${string}`,
    reportData: dcap.reportData,
    issuedAt: undefined,
    tcbStatus: dcap.tcbStatus,
    advisoryIds: dcap.advisoryIds,
    confidence: confidenceLevel(dcap.tcbStatus, dcap.advisoryIds, options.allowedAdvisories ?? []),
    insecure: false,
    dcap,
  };
}
