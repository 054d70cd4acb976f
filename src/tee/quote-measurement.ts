import { createRequire } from "node:module";
import { VeilError } from "../errors/index.ts";
import { tdxMeasurement } from "./dcap-evidence.ts";

const require = createRequire(import.meta.url);

type ParsedTdReport = {
  mrTd: Uint8Array;
  rtMr0: Uint8Array;
  rtMr1: Uint8Array;
  rtMr2: Uint8Array;
  rtMr3: Uint8Array;
};
type QuoteParser = {
  Quote: { parse(q: Uint8Array): { report: { type: string; data: unknown } } };
};

const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;

/** The policy measurement of a TDX quote this node made itself (no verification needed). */
export function measurementOfOwnTdxQuote(quote: Uint8Array): `0x${string}` {
  const { Quote } = require("@phala/dcap-qvl") as QuoteParser;
  let report: { type: string; data: unknown };
  try {
    report = Quote.parse(quote).report;
  } catch (err) {
    throw new VeilError("ATTESTATION_INVALID", "The TEE returned a quote that cannot be parsed", {
      cause: err,
    });
  }
  if (report.type !== "td10" && report.type !== "td15") {
    throw new VeilError("ATTESTATION_INVALID", `The TEE returned a ${report.type} quote, not a TDX one`, {});
  }
  const d = (
    report.type === "td15" ? (report.data as { base: ParsedTdReport }).base : report.data
  ) as ParsedTdReport;
  return tdxMeasurement({
    mrTd: hex(d.mrTd),
    rtmr0: hex(d.rtMr0),
    rtmr1: hex(d.rtMr1),
    rtmr2: hex(d.rtMr2),
    rtmr3: hex(d.rtMr3),
    mrConfigId: "",
    mrOwner: "",
    mrOwnerConfig: "",
    mrSeam: "",
  });
}
