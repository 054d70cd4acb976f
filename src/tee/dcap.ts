import { createRequire } from "node:module";
import { VeilError } from "../errors/index.ts";
import { parsePemChain, verifyCollateralCrls } from "./collateral-crl.ts";
import { checkQuoteStructure } from "./quote-structure.ts";

const require = createRequire(import.meta.url);

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
};

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

type Qvl = {
  verify(
    quote: Uint8Array,
    collateral: DcapCollateral,
    nowSecs: number,
  ): {
    status: TcbStatus;
    advisory_ids: string[];
    report: { type: "sgx" | "td10" | "td15"; data: Record<string, unknown> };
  };
  Quote: { parse(quote: Uint8Array): { header: { version: number; teeType: number } } };
};

let qvl: Qvl | undefined;
const loadQvl = (): Qvl => {
  qvl ??= require("@phala/dcap-qvl") as Qvl;
  return qvl;
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
  return c as DcapCollateral;
}

const hex = (v: unknown): string => `0x${Buffer.from(v as Uint8Array).toString("hex")}`;

/** Maps what the verifier says into Veil's attestation error codes. */
function classify(err: unknown): VeilError {
  const message = err instanceof Error ? err.message : String(err);
  if (/expired|not yet valid|is not valid at|nextUpdate/i.test(message)) {
    return new VeilError(
      "ATTESTATION_EXPIRED",
      `The quote's collateral is not valid at the time of verification: ${message}`,
      {
        status: 403,
        cause: err,
        hint: "Fetch fresh collateral from a PCCS, or verify at a time inside the collateral's window (--at).",
      },
    );
  }
  if (/revoked/i.test(message)) {
    return new VeilError("ATTESTATION_REVOKED", `The platform's TCB is revoked: ${message}`, {
      status: 403,
      cause: err,
    });
  }
  if (/debug/i.test(message)) {
    return new VeilError(
      "ATTESTATION_DEBUG_ENCLAVE",
      "The quote comes from a debug enclave, which offers no confidentiality",
      {
        status: 403,
        cause: err,
      },
    );
  }
  return new VeilError("ATTESTATION_INVALID", `The quote does not verify: ${message}`, {
    status: 403,
    cause: err,
    hint: "The quote or its collateral was altered, or they do not belong together.",
  });
}

/**
 * Verifies an SGX (v3) or TDX (v4) DCAP quote fully offline against its collateral, with
 * @phala/dcap-qvl: the PCK certificate chain to Intel's root, the CRLs, the QE identity and its
 * report, the quote's signature, the TCB level and its advisories, and the debug bit. With
 * `expectedReportData` the quote must carry exactly those bytes (zero-padded to 64), which binds
 * it to the node's keys.
 */
export function verifyDcapQuote(
  quote: Uint8Array,
  collateralInput: unknown,
  options: { now?: number; expectedReportData?: Uint8Array } = {},
): DcapVerified {
  const collateral = parseCollateral(collateralInput);
  const { verify, Quote } = loadQvl();
  let header: { version: number; teeType: number };
  try {
    header = Quote.parse(quote).header;
  } catch (err) {
    throw new VeilError("ATTESTATION_INVALID", `The quote cannot be parsed: ${(err as Error).message}`, {
      status: 400,
      cause: err,
    });
  }
  const { pckChainPem } = checkQuoteStructure(quote);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  let result: ReturnType<Qvl["verify"]>;
  try {
    result = verify(quote, collateral, now);
  } catch (err) {
    throw classify(err);
  }
  verifyCollateralCrls(collateral, parsePemChain(pckChainPem, "the quote's PCK chain"), now);
  if (result.status === "Revoked" || result.status === "Unknown") {
    throw new VeilError("ATTESTATION_REVOKED", `The platform's TCB status is ${result.status}`, {
      status: 403,
    });
  }
  const d = result.report.data;
  const base = (result.report.type === "td15" ? (d.base as Record<string, unknown>) : d) ?? {};
  const reportData = new Uint8Array(base.reportData as Uint8Array);
  if (options.expectedReportData) {
    const expected = new Uint8Array(64);
    expected.set(options.expectedReportData.subarray(0, 64));
    if (!Buffer.from(reportData).equals(Buffer.from(expected))) {
      throw new VeilError(
        "ATTESTATION_REPORT_DATA_MISMATCH",
        "The quote is not bound to this node's identity keys",
        {
          status: 403,
          hint: "The quote's report data must be the hash of the node's identity keys.",
        },
      );
    }
  }
  const common = {
    quoteVersion: header.version,
    tcbStatus: result.status,
    advisoryIds: [...result.advisory_ids],
    reportData,
  };
  if (result.report.type === "sgx") {
    return {
      tee: "sgx",
      ...common,
      measurements: {
        mrEnclave: hex(d.mrEnclave),
        mrSigner: hex(d.mrSigner),
        isvProdId: Number(d.isvProdId),
        isvSvn: Number(d.isvSvn),
      },
    };
  }
  return {
    tee: "tdx",
    ...common,
    measurements: {
      mrTd: hex(base.mrTd),
      rtmr0: hex(base.rtMr0),
      rtmr1: hex(base.rtMr1),
      rtmr2: hex(base.rtMr2),
      rtmr3: hex(base.rtMr3),
      mrConfigId: hex(base.mrConfigId),
      mrOwner: hex(base.mrOwner),
      mrOwnerConfig: hex(base.mrOwnerConfig),
      mrSeam: hex(base.mrSeam),
    },
  };
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
