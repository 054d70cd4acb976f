import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkQuoteStructure, verifyDcapQuote, verifyDcapQuoteWithQvl } from "../../sdk/quotes.ts";
import { type AuditCheck, broken, cannotRun, codeOf, describeError, held } from "./types.ts";

// ADR 0020, "the DCAP verifier agrees with dcap-qvl on every collateral field": dcap-qvl takes a
// `pck_certificate_chain` attached to the collateral in place of the quote's own chain, which
// Veil's verifier ignored. Offline: a real quote with another platform's chain attached.

// Up to the directory with package.json: this file runs from src/cli/audit/ and, bundled, from dist/cli/.
let repoRoot = dirname(fileURLToPath(import.meta.url));
while (!existsSync(join(repoRoot, "package.json")) && dirname(repoRoot) !== repoRoot)
  repoRoot = dirname(repoRoot);

/** Where the real quotes are: $VEIL_ATTESTATION_FIXTURES, else ../shared beside the repository. */
function fixturesDir(): string {
  return process.env.VEIL_ATTESTATION_FIXTURES ?? join(repoRoot, "..", "shared", "fixtures", "attestation");
}

type Fixture = { quote: Uint8Array; collateral: Record<string, unknown>; now: number };

function load(dir: string, kind: "sgx" | "tdx"): Fixture {
  const quote = new Uint8Array(readFileSync(join(dir, `${kind}_quote`)));
  const collateral = JSON.parse(readFileSync(join(dir, `${kind}_quote_collateral.json`), "utf8")) as Record<
    string,
    unknown
  >;
  // Collateral is valid only within its TCB info's window: verify in the middle of it, so that
  // the only thing wrong is what the check changes.
  const tcb = JSON.parse(String(collateral.tcb_info)) as { issueDate: string; nextUpdate: string };
  const now = Math.floor((Date.parse(tcb.issueDate) + Date.parse(tcb.nextUpdate)) / 2000);
  return { quote, collateral, now };
}

const VERIFIERS = [
  ["Veil's verifier (what gatekeepers run)", verifyDcapQuote],
  ["dcap-qvl", verifyDcapQuoteWithQvl],
] as const;

export const dcapCollateral: AuditCheck = {
  id: "dcap-collateral",
  title: "a DCAP quote with another platform's PCK chain attached to its collateral",
  async run() {
    const dir = fixturesDir();
    const files = ["sgx_quote", "sgx_quote_collateral.json", "tdx_quote", "tdx_quote_collateral.json"];
    if (!files.every((f) => existsSync(join(dir, f)))) {
      throw cannotRun(
        `no DCAP fixtures (${files.join(", ")}) in ${dir}`,
        "Set VEIL_ATTESTATION_FIXTURES to a folder holding a real SGX and TDX quote with their collateral.",
      );
    }
    for (const [kind, other] of [
      ["sgx", "tdx"],
      ["tdx", "sgx"],
    ] as const) {
      const { quote, collateral, now } = load(dir, kind);
      const foreign = checkQuoteStructure(load(dir, other).quote).pckChainPem.replace(/\0+$/, "");
      for (const [who, verify] of VERIFIERS) {
        // Unaltered, the quote passes: else a refusal below would prove nothing.
        try {
          verify(quote, collateral, { now });
        } catch (err) {
          throw new Error(`${who} refuses the ${kind} fixture even unaltered: ${describeError(err)}`);
        }
        try {
          verify(quote, { ...collateral, pck_certificate_chain: foreign }, { now });
          return broken(
            `${who} accepted the ${kind.toUpperCase()} quote with the ${other.toUpperCase()} platform's PCK chain attached to its collateral`,
          );
        } catch (err) {
          if (codeOf(err) !== "ATTESTATION_COLLATERAL_INVALID") {
            return broken(
              `${who} refused the ${kind.toUpperCase()} quote with a foreign PCK chain only later, as ${describeError(err)}, not as ATTESTATION_COLLATERAL_INVALID before anything else`,
            );
          }
        }
      }
    }
    return held(
      `a real SGX and a real TDX quote (${dir}), each with the other platform's pck_certificate_chain in its collateral: both refused ATTESTATION_COLLATERAL_INVALID by Veil's verifier (what gatekeepers run) and by dcap-qvl; unaltered, both pass`,
    );
  },
};
