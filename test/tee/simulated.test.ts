import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { buildMeasurement, evidenceHash, SimulatedEnclave, verifyEvidence } from "../../src/tee/index.ts";

const root = mkdtempSync(join(tmpdir(), "veil-tee-"));
const dir = () => mkdtempSync(join(root, "e-"));
after(() => rmSync(root, { recursive: true, force: true }));
const reportData = new Uint8Array(32).fill(7);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VeilError, String(err));
    return err.code;
  }
  assert.fail("expected a refusal");
}

test("simulated evidence verifies, carries the build measurement and the report data", async () => {
  const enclave = new SimulatedEnclave({ dataDir: dir(), component: "test" });
  const evidence = await enclave.attest(reportData);
  const verified = verifyEvidence(evidence, { expectedReportData: reportData, maxAgeSeconds: 60 });
  assert.equal(verified.tee, "simulated");
  assert.equal(verified.insecure, true);
  assert.equal(verified.measurement, buildMeasurement());
  assert.deepEqual([...verified.reportData.subarray(0, 32)], [...reportData]);
  assert.match(evidenceHash(evidence), /^0x[0-9a-f]{64}$/);
});

test("evidence with any byte changed is refused", async () => {
  const enclave = new SimulatedEnclave({ dataDir: dir(), component: "test" });
  const evidence = await enclave.attest(reportData);
  const text = new TextDecoder().decode(evidence.bytes);
  // Change one hex digit inside each field that matters: measurement, report data, time, signature.
  for (const field of ["measurement", "reportData", "issuedAt", "signature"]) {
    const at = text.indexOf(`"${field}":`) + field.length + 6;
    const ch = text[at]!;
    const swapped = ch === "1" ? "2" : "1";
    const altered = new TextEncoder().encode(text.slice(0, at) + swapped + text.slice(at + 1));
    assert.equal(
      codeOf(() => verifyEvidence({ tee: "simulated", bytes: altered }, { expectedReportData: reportData })),
      "ATTESTATION_INVALID",
      `altering ${field}`,
    );
  }
  const truncated = evidence.bytes.subarray(0, evidence.bytes.length - 3);
  assert.equal(
    codeOf(() => verifyEvidence({ tee: "simulated", bytes: truncated }, { expectedReportData: reportData })),
    "ATTESTATION_INVALID",
  );
});

test("evidence bound to other keys, too old, or of an unsupported TEE is refused", async () => {
  const enclave = new SimulatedEnclave({ dataDir: dir(), component: "test" });
  const evidence = await enclave.attest(reportData);
  assert.equal(
    codeOf(() => verifyEvidence(evidence, { expectedReportData: new Uint8Array(32).fill(8) })),
    "ATTESTATION_REPORT_DATA_MISMATCH",
  );
  assert.equal(
    codeOf(() =>
      verifyEvidence(evidence, {
        expectedReportData: reportData,
        maxAgeSeconds: 60,
        now: Math.floor(Date.now() / 1000) + 3600,
      }),
    ),
    "ATTESTATION_EXPIRED",
  );
  assert.equal(
    codeOf(() => verifyEvidence({ tee: "tdx", bytes: evidence.bytes }, { expectedReportData: reportData })),
    "ATTESTATION_INVALID",
    "simulated evidence passed off as TDX is refused",
  );
  assert.equal(
    codeOf(() =>
      verifyEvidence({ tee: "sev" as "tdx", bytes: evidence.bytes }, { expectedReportData: reportData }),
    ),
    "ATTESTATION_UNSUPPORTED",
  );
});

test("sealed data opens only in the same enclave and under the same label", async () => {
  const d = dir();
  const a = new SimulatedEnclave({ dataDir: d, component: "test" });
  const sealed = await a.seal(new TextEncoder().encode("secret"), "label-1");
  assert.equal(
    new TextDecoder().decode(
      await new SimulatedEnclave({ dataDir: d, component: "test" }).unseal(sealed, "label-1"),
    ),
    "secret",
  );
  await assert.rejects(
    a.unseal(sealed, "label-2"),
    (e: unknown) => e instanceof VeilError && e.code === "UNSEAL_FAILED",
  );
  const other = new SimulatedEnclave({ dataDir: dir(), component: "test" });
  await assert.rejects(
    other.unseal(sealed, "label-1"),
    (e: unknown) => e instanceof VeilError && e.code === "UNSEAL_FAILED",
  );
});

test("simulated evidence is refused by a policy that does not allow it, even for an allowed measurement", async () => {
  const { evaluateEvidence } = await import("../../src/tee/index.ts");
  const enclave = new SimulatedEnclave({ dataDir: dir(), component: "test" });
  const evidence = await enclave.attest(reportData);
  const policy = (simulatedAllowed: boolean) => ({
    isSimulatedAllowed: async () => simulatedAllowed,
    isMeasurementAllowed: async () => true,
    isAdvisoryAllowed: async () => false,
    policyParameters: async () => ({ maxEvidenceAge: 60, reattestPeriod: 30, minConfidence: 5 }),
  });
  await assert.rejects(
    evaluateEvidence(evidence, policy(false), { expectedReportData: reportData }),
    (err: unknown) => err instanceof VeilError && err.code === "ATTESTATION_SIMULATED_NOT_ALLOWED",
  );
  const verdict = await evaluateEvidence(evidence, policy(true), { expectedReportData: reportData });
  assert.equal(verdict.measurement, buildMeasurement());
});
