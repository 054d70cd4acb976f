import { VeilError } from "../errors/index.ts";

/* The types of DCAP verification, shared by Veil's verifier and the dcap-qvl reference; no Node
 * built-ins here (this is part of the browser build of verifyAgent). */

/** TCB statuses as Intel's collateral names them. */
export type TcbStatus =
  | "UpToDate"
  | "SWHardeningNeeded"
  | "ConfigurationNeeded"
  | "ConfigurationAndSWHardeningNeeded"
  | "OutOfDate"
  | "OutOfDateConfigurationNeeded"
  | "Revoked"
  | "Unknown";

/** The collateral a quote is verified against, as PCCS serves it (and the fixtures hold it). */
export type DcapCollateral = {
  pck_crl_issuer_chain: string;
  root_ca_crl: string | number[];
  pck_crl: string | number[];
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string | number[];
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string | number[];
  /**
   * The PCK certificate chain, when the collateral's source attached it (dcap-qvl's
   * get_collateral does). Veil verifies only quotes that carry their own chain (certification
   * type 5); a collateral chain must then be that same chain (docs/adr/0020).
   */
  pck_certificate_chain?: string | null;
};

/** A collateral whose attached PCK chain is not the quote's own: the same refusal from both verifiers. */
export function pckChainMismatch(): VeilError {
  return new VeilError(
    "ATTESTATION_COLLATERAL_INVALID",
    "The collateral's pck_certificate_chain is not the PCK certificate chain the quote carries",
    {
      status: 400,
      hint: "Leave pck_certificate_chain out (the quote's own chain is used), or attach exactly the quote's chain.",
    },
  );
}

export type SgxMeasurements = { mrEnclave: string; mrSigner: string; isvProdId: number; isvSvn: number };
export type TdxMeasurements = {
  mrTd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  mrSeam: string;
};

export type DcapVerified =
  | {
      tee: "sgx";
      quoteVersion: number;
      tcbStatus: TcbStatus;
      advisoryIds: string[];
      reportData: Uint8Array;
      measurements: SgxMeasurements;
    }
  | {
      tee: "tdx";
      quoteVersion: number;
      tcbStatus: TcbStatus;
      advisoryIds: string[];
      reportData: Uint8Array;
      measurements: TdxMeasurements;
    };

const COLLATERAL_STRING_FIELDS = [
  "pck_crl_issuer_chain",
  "tcb_info_issuer_chain",
  "tcb_info",
  "qe_identity_issuer_chain",
  "qe_identity",
] as const;
const COLLATERAL_BYTES_FIELDS = [
  "root_ca_crl",
  "pck_crl",
  "tcb_info_signature",
  "qe_identity_signature",
] as const;

/** Checks the collateral's shape; its content is checked by the verification itself. */
export function parseCollateral(input: unknown): DcapCollateral {
  const bad = (what: string) =>
    new VeilError("ATTESTATION_COLLATERAL_INVALID", `The collateral is malformed: ${what}`, {
      status: 400,
      hint: "Pass the collateral JSON as a PCCS serves it (pck_crl, tcb_info, qe_identity, … with their chains).",
    });
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw bad("not a JSON object");
  const c = input as Record<string, unknown>;
  for (const f of COLLATERAL_STRING_FIELDS) if (typeof c[f] !== "string") throw bad(`${f} must be a string`);
  for (const f of COLLATERAL_BYTES_FIELDS) {
    const v = c[f];
    const ok =
      // One case throughout: a single letter changed in case is a changed file, and is refused.
      (typeof v === "string" && (/^[0-9a-f]*$/.test(v) || /^[0-9A-F]*$/.test(v))) ||
      (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255));
    if (!ok) throw bad(`${f} must be hex or a byte array`);
  }
  const chain = c.pck_certificate_chain;
  if (chain !== undefined && chain !== null && typeof chain !== "string")
    throw bad("pck_certificate_chain must be a PEM string");
  return c as DcapCollateral;
}

/**
 * Phala's confidence levels, which rewards use: 1 UpToDate; 2 SWHardeningNeeded;
 * 3 ConfigurationNeeded (or with SW hardening) whose advisories are all allowed by policy;
 * 4 the same with other advisories; 5 OutOfDate. Revoked platforms never get a level.
 */
export function confidenceLevel(
  status: TcbStatus,
  advisoryIds: readonly string[],
  allowedAdvisories: readonly string[],
): 1 | 2 | 3 | 4 | 5 {
  switch (status) {
    case "UpToDate":
      return 1;
    case "SWHardeningNeeded":
      return 2;
    case "ConfigurationNeeded":
    case "ConfigurationAndSWHardeningNeeded":
      return advisoryIds.every((id) => allowedAdvisories.includes(id)) ? 3 : 4;
    case "OutOfDate":
    case "OutOfDateConfigurationNeeded":
      return 5;
    default:
      throw new VeilError("ATTESTATION_REVOKED", `TCB status ${status} has no confidence level`, {
        status: 403,
      });
  }
}
