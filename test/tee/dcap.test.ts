import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { confidenceLevel, verifyDcapQuote } from "../../src/tee/index.ts";
import { repoRoot } from "../helpers/cli.ts";

// Real quotes from real SGX and TDX machines, with collateral valid 2025-06-19 … 2025-07-19.
const fixtures = join(repoRoot, "..", "shared", "fixtures", "attestation");
const inWindow = Date.parse("2025-07-01T00:00:00Z") / 1000;
const load = (kind: "sgx" | "tdx") => ({
  quote: readFileSync(join(fixtures, `${kind}_quote`)),
  collateral: JSON.parse(readFileSync(join(fixtures, `${kind}_quote_collateral.json`), "utf8")) as Record<
    string,
    unknown
  >,
});

function refusal(fn: () => unknown): VeilError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    return err;
  }
  assert.fail("expected the verification to refuse");
}

describe("DCAP quote verification", {
  skip: !existsSync(fixtures) && "../shared/fixtures is not beside the repository",
}, () => {
  test("the SGX quote verifies inside its collateral window, with its TCB status and measurements", () => {
    const { quote, collateral } = load("sgx");
    const v = verifyDcapQuote(quote, collateral, { now: inWindow });
    assert.equal(v.tee, "sgx");
    assert.equal(v.quoteVersion, 3);
    assert.equal(v.tcbStatus, "ConfigurationAndSWHardeningNeeded");
    assert.deepEqual(v.advisoryIds, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert.ok(v.tee === "sgx");
    assert.equal(
      v.measurements.mrEnclave,
      "0x33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
    );
    assert.equal(
      v.measurements.mrSigner,
      "0x815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6",
    );
    assert.equal(Buffer.from(v.reportData.subarray(0, 13)).toString(), "Hello, world!");
  });

  test("the TDX quote verifies inside its collateral window, with MRTD and RTMRs", () => {
    const { quote, collateral } = load("tdx");
    const v = verifyDcapQuote(quote, collateral, { now: inWindow });
    assert.equal(v.tee, "tdx");
    assert.equal(v.quoteVersion, 4);
    assert.equal(v.tcbStatus, "UpToDate");
    assert.deepEqual(v.advisoryIds, []);
    assert.ok(v.tee === "tdx");
    assert.match(v.measurements.mrTd, /^0x91eb2b44d141d4ece09f[0-9a-f]{76}$/);
    for (const r of ["rtmr0", "rtmr1", "rtmr2", "rtmr3"] as const)
      assert.match(v.measurements[r], /^0x[0-9a-f]{96}$/);
    assert.equal(v.measurements.rtmr3, `0x${"00".repeat(48)}`);
  });

  test("both are refused at today's date: the collateral has expired", () => {
    for (const kind of ["sgx", "tdx"] as const) {
      const { quote, collateral } = load(kind);
      assert.equal(refusal(() => verifyDcapQuote(quote, collateral)).code, "ATTESTATION_EXPIRED", kind);
    }
  });

  test("report data that does not match the node's keys is refused", () => {
    const { quote, collateral } = load("sgx");
    const err = refusal(() =>
      verifyDcapQuote(quote, collateral, { now: inWindow, expectedReportData: new Uint8Array(32).fill(1) }),
    );
    assert.equal(err.code, "ATTESTATION_REPORT_DATA_MISMATCH");
    const good = Buffer.from("Hello, world!");
    assert.equal(verifyDcapQuote(quote, collateral, { now: inWindow, expectedReportData: good }).tee, "sgx");
  });

  // Every byte of both quotes: signatures cover most of them; Veil's structure checks cover the
  // length fields and the PEM text of the certificate chain that the signatures leave out.
  for (const kind of ["sgx", "tdx"] as const) {
    test(`one byte changed anywhere in the ${kind.toUpperCase()} quote is refused`, () => {
      const { quote, collateral } = load(kind);
      const accepted: number[] = [];
      for (let i = 0; i < quote.length; i++) {
        const altered = Buffer.from(quote);
        altered[i] = altered[i]! ^ 0x01;
        try {
          verifyDcapQuote(altered, collateral, { now: inWindow });
          accepted.push(i);
        } catch (err) {
          assert.ok(err instanceof VeilError && err.code.startsWith("ATTESTATION_"), String(err));
        }
      }
      assert.deepEqual(accepted, [], "positions whose change went unnoticed");
    });
  }

  test("one byte changed in any field of the collateral is refused", () => {
    for (const kind of ["sgx", "tdx"] as const) {
      const { quote, collateral } = load(kind);
      for (const [field, value] of Object.entries(collateral)) {
        assert.equal(typeof value, "string");
        const text = value as string;
        const hex = /^[0-9a-f]+$/.test(text);
        const step = Math.max(1, Math.floor(text.length / 40));
        for (let i = 0; i < text.length; i += step) {
          const ch = text[i]!;
          const swapped = hex ? (ch === "0" ? "1" : "0") : String.fromCharCode(ch.charCodeAt(0) ^ 1);
          const altered = { ...collateral, [field]: text.slice(0, i) + swapped + text.slice(i + 1) };
          const err = refusal(() => verifyDcapQuote(quote, altered, { now: inWindow }));
          assert.ok(err.code.startsWith("ATTESTATION_"), `${kind} ${field}@${i}: ${err.code}`);
        }
      }
    }
  });

  test("malformed collateral and quotes are refused with a clear error", () => {
    const { quote, collateral } = load("sgx");
    assert.equal(
      refusal(() => verifyDcapQuote(quote, null, { now: inWindow })).code,
      "ATTESTATION_COLLATERAL_INVALID",
    );
    assert.equal(
      refusal(() => verifyDcapQuote(quote, { ...collateral, tcb_info: 5 }, { now: inWindow })).code,
      "ATTESTATION_COLLATERAL_INVALID",
    );
    assert.equal(
      refusal(() => verifyDcapQuote(quote.subarray(0, 100), collateral, { now: inWindow })).code,
      "ATTESTATION_INVALID",
    );
    assert.equal(
      refusal(() => verifyDcapQuote(new Uint8Array(0), collateral, { now: inWindow })).code,
      "ATTESTATION_INVALID",
    );
  });
});

test("confidence levels follow Phala's mapping", () => {
  assert.equal(confidenceLevel("UpToDate", [], []), 1);
  assert.equal(confidenceLevel("SWHardeningNeeded", ["INTEL-SA-00615"], []), 2);
  assert.equal(confidenceLevel("ConfigurationNeeded", ["INTEL-SA-00289"], ["INTEL-SA-00289"]), 3);
  assert.equal(
    confidenceLevel(
      "ConfigurationAndSWHardeningNeeded",
      ["INTEL-SA-00289", "INTEL-SA-00615"],
      ["INTEL-SA-00289"],
    ),
    4,
  );
  assert.equal(confidenceLevel("OutOfDate", [], []), 5);
  assert.throws(
    () => confidenceLevel("Revoked", [], []),
    (e: unknown) => e instanceof VeilError && e.code === "ATTESTATION_REVOKED",
  );
});
