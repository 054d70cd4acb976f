import { createRequire } from "node:module";
import { VeilError } from "../errors/index.ts";
import { parsePemChain, verifyCollateralCrls } from "./collateral-crl.ts";
import {
  type DcapCollateral,
  type DcapVerified,
  parseCollateral,
  pckChainMismatch,
  type TcbStatus,
} from "./dcap-types.ts";
import { verifyQuoteWithVeil } from "./dcap-verifier.ts";
import { checkQuoteStructure } from "./quote-structure.ts";
import { sameCertificateChain } from "./x509.ts";

export {
  confidenceLevel,
  type DcapCollateral,
  type DcapVerified,
  parseCollateral,
  type SgxMeasurements,
  type TcbStatus,
  type TdxMeasurements,
} from "./dcap-types.ts";

const require = createRequire(import.meta.url);

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
 * The reference verifier: an SGX (v3) or TDX (v4) DCAP quote verified fully offline against its
 * collateral with @phala/dcap-qvl: the PCK certificate chain to Intel's root, the CRLs, the QE identity and its
 * report, the quote's signature, the TCB level and its advisories, and the debug bit. With
 * `expectedReportData` the quote must carry exactly those bytes (zero-padded to 64), which binds
 * it to the node's keys.
 */
export function verifyDcapQuoteWithQvl(
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
  // dcap-qvl prefers a chain attached to the collateral over the quote's; Veil takes only the
  // quote's own, so an attached chain must be that one (as verifyQuoteWithVeil checks).
  if (
    collateral.pck_certificate_chain &&
    !sameCertificateChain(collateral.pck_certificate_chain, pckChainPem)
  )
    throw pckChainMismatch();
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
 * Verifies an SGX (v3) or TDX (v4) DCAP quote offline against its collateral: Veil's own
 * verifier (dcap-verifier.ts), which gives dcap-qvl's verdicts in a fraction of its time and
 * runs in a browser; dcap-qvl stays as the reference the tests hold it to. See ADR 0008.
 */
export const verifyDcapQuote = verifyQuoteWithVeil;
