import { existsSync, readFileSync } from "node:fs";
import { VeilError } from "../errors/index.ts";
import { confidenceLevel, type DcapVerified, verifyDcapQuote } from "../sdk/quotes.ts";

export type VerificationOutcome = {
  pass: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
  result?: Omit<DcapVerified, "reportData"> & { reportData: string; confidenceLevel: number };
  lines: string[];
};

/** A quote file: raw bytes, or hex text (as some tools write quotes). */
export function readQuoteFile(path: string): Uint8Array {
  if (!existsSync(path))
    throw new VeilError("FILE_NOT_FOUND", `No file ${path}`, { hint: "Check the --quote path." });
  const raw = readFileSync(path);
  const text = raw.toString("latin1").trim();
  if (/^(0x)?[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0)
    return Buffer.from(text.replace(/^0x/, ""), "hex");
  return raw;
}

export function parseTime(at: string): number {
  if (/^\d+$/.test(at)) return Number(at);
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) {
    throw new VeilError("BAD_ARGUMENT", `"${at}" is not a time`, {
      hint: "Use ISO 8601 (2025-07-01T00:00:00Z) or unix seconds.",
    });
  }
  return Math.floor(ms / 1000);
}

/** Verifies a bare quote and reports each check with its reason, as `veil verify --quote` prints it. */
export function runQuoteVerification(input: {
  quote: Uint8Array;
  collateralText: string;
  at?: string;
  reportData?: string;
}): VerificationOutcome {
  const now = input.at ? parseTime(input.at) : Math.floor(Date.now() / 1000);
  const checks: VerificationOutcome["checks"] = [];
  let collateral: unknown;
  try {
    collateral = JSON.parse(input.collateralText);
  } catch {
    throw new VeilError("ATTESTATION_COLLATERAL_INVALID", "The collateral file is not JSON", {
      hint: "Pass the collateral JSON as a PCCS serves it.",
    });
  }
  let verified: DcapVerified | undefined;
  try {
    verified = verifyDcapQuote(input.quote, collateral, {
      now,
      ...(input.reportData
        ? { expectedReportData: Buffer.from(input.reportData.replace(/^0x/, ""), "hex") }
        : {}),
    });
    checks.push({
      name: "quote and collateral",
      ok: true,
      detail: `signature, certificate chain to Intel's root, CRLs, QE identity and TCB level check out as of ${new Date(now * 1000).toISOString()}`,
    });
    if (input.reportData) checks.push({ name: "report data", ok: true, detail: "matches --report-data" });
  } catch (err) {
    if (!(err instanceof VeilError) || err.code === "ATTESTATION_COLLATERAL_INVALID") throw err;
    checks.push({
      name: err.code === "ATTESTATION_REPORT_DATA_MISMATCH" ? "report data" : "quote and collateral",
      ok: false,
      detail: `${err.code}: ${err.shortMessage}`,
    });
  }
  const lines: string[] = [];
  let result: VerificationOutcome["result"];
  if (verified) {
    const level = confidenceLevel(verified.tcbStatus, verified.advisoryIds, []);
    result = {
      ...verified,
      reportData: `0x${Buffer.from(verified.reportData).toString("hex")}`,
      confidenceLevel: level,
    };
    lines.push(`TEE            ${verified.tee.toUpperCase()} (quote v${verified.quoteVersion})`);
    lines.push(
      `TCB status     ${verified.tcbStatus}${verified.advisoryIds.length ? ` (${verified.advisoryIds.join(", ")})` : ""}`,
    );
    lines.push(`confidence     level ${level} of 5 (1 is best)`);
    for (const [k, v] of Object.entries(verified.measurements)) lines.push(`${k.padEnd(14)} ${v}`);
    lines.push(`report data    ${result.reportData}`);
    lines.push("");
  }
  for (const c of checks) lines.push(`${c.ok ? "✔" : "✘"} ${c.name}: ${c.detail}`);
  const pass = checks.length > 0 && checks.every((c) => c.ok);
  lines.push(pass ? "PASS" : "FAIL");
  return { pass, checks, ...(result ? { result } : {}), lines };
}
