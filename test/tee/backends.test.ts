import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { decodeDcapEvidence, tdxMeasurement } from "../../src/tee/dcap-evidence.ts";
import { DstackEnclave } from "../../src/tee/dstack.ts";
import { type DcapCollateral, verifyDcapQuote, verifyEvidence } from "../../src/tee/index.ts";
import { TdxEnclave } from "../../src/tee/tdx.ts";
import { repoRoot } from "../helpers/cli.ts";
import { fakeConfigfsTsm, fakeDstackAgent } from "../helpers/fake-tee.ts";

// The hardware is not here: the real TDX quote of ../shared/fixtures stands in for what the
// kernel or the dstack agent would return, so report data cannot be ours (the quote's own is).
const fixtures = join(repoRoot, "..", "shared", "fixtures", "attestation");
const haveFixtures = existsSync(fixtures);
const inWindow = Date.parse("2025-07-01T00:00:00Z") / 1000;
const quote = haveFixtures ? new Uint8Array(readFileSync(join(fixtures, "tdx_quote"))) : new Uint8Array();
const collateral = haveFixtures
  ? (JSON.parse(readFileSync(join(fixtures, "tdx_quote_collateral.json"), "utf8")) as DcapCollateral)
  : ({} as DcapCollateral);
const collateralSource = async () => collateral;
const root = mkdtempSync(join(tmpdir(), "veil-tee-"));
const ourReportData = new Uint8Array(32).fill(7);

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<VeilError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    return err;
  }
  assert.fail("expected a refusal");
}

describe("tdx backend (configfs-tsm)", { skip: !haveFixtures && "../shared/fixtures is missing" }, () => {
  const fakes: { close(): void }[] = [];
  after(() => {
    for (const f of fakes) f.close();
  });
  const configfs = (opts: { provider?: string; generationBump?: number } = {}) => {
    const dir = mkdtempSync(join(root, "tsm-"));
    const fake = fakeConfigfsTsm(dir, { quote, ...opts });
    fakes.push(fake);
    return { dir, fake };
  };

  test("writes the report data to inblob, returns outblob's quote with collateral, and removes the entry", async () => {
    const { dir, fake } = configfs();
    const enclave = new TdxEnclave({ configfsRoot: dir, collateral: collateralSource });
    const evidence = await enclave.attest(ourReportData);
    assert.equal(evidence.tee, "tdx");
    const padded = new Uint8Array(64);
    padded.set(ourReportData);
    assert.deepEqual(fake.inblobs, [padded]);
    const decoded = decodeDcapEvidence(evidence);
    assert.deepEqual(new Uint8Array(decoded.quote), quote);
    assert.deepEqual(decoded.collateral, collateral);
    // (configfs removes an entry with its attributes on rmdir; a plain directory cannot, so the
    // removal is not checked here.)
    assert.equal(readdirSync(dir).length, 1, "one entry per request");
    assert.equal(enclave.insecure, false);
  });

  test("its evidence verifies offline with the quote's measurements, and is bound to the quote's report data", async () => {
    const { dir } = configfs();
    const enclave = new TdxEnclave({ configfsRoot: dir, collateral: collateralSource });
    const evidence = await enclave.attest(ourReportData);
    const dcap = verifyDcapQuote(quote, collateral, { now: inWindow });
    const v = verifyEvidence(evidence, { expectedReportData: dcap.reportData, now: inWindow });
    assert.equal(v.tee, "tdx");
    assert.equal(v.insecure, false);
    assert.ok(dcap.tee === "tdx");
    assert.equal(v.measurement, tdxMeasurement(dcap.measurements));
    assert.equal(v.tcbStatus, dcap.tcbStatus);
    // The fake kernel cannot sign our report data into a real quote: binding must refuse it.
    const e = await refusal(() =>
      verifyEvidence(evidence, { expectedReportData: ourReportData, now: inWindow }),
    );
    assert.equal(e.code, "ATTESTATION_REPORT_DATA_MISMATCH");
    // And today the collateral has expired.
    const expired = await refusal(() => verifyEvidence(evidence, { expectedReportData: dcap.reportData }));
    assert.equal(expired.code, "ATTESTATION_EXPIRED");
  });

  test("the measurement is taken from the machine's own quote", async () => {
    const { dir } = configfs();
    const enclave = new TdxEnclave({ configfsRoot: dir, collateral: collateralSource });
    const dcap = verifyDcapQuote(quote, collateral, { now: inWindow });
    assert.ok(dcap.tee === "tdx");
    assert.equal(await enclave.measurement(), tdxMeasurement(dcap.measurements));
  });

  test("another writer racing on the entry (generation moved by more than our write) is refused", async () => {
    const { dir } = configfs({ generationBump: 2 });
    const e = await refusal(
      new TdxEnclave({ configfsRoot: dir, collateral: collateralSource }).attest(ourReportData),
    );
    assert.equal(e.code, "TEE_REPORT_RACED");
    assert.equal(e.retryable, true);
  });

  test("a provider other than tdx_guest, a missing configfs and oversized report data are refused clearly", async () => {
    const { dir } = configfs({ provider: "sev_guest" });
    const sev = await refusal(
      new TdxEnclave({ configfsRoot: dir, collateral: collateralSource }).attest(ourReportData),
    );
    assert.equal(sev.code, "TEE_UNAVAILABLE");
    assert.match(sev.message, /sev_guest/);
    const missing = await refusal(
      new TdxEnclave({ configfsRoot: join(root, "nope"), collateral: collateralSource }).attest(
        ourReportData,
      ),
    );
    assert.equal(missing.code, "TEE_UNAVAILABLE");
    assert.match(missing.hint ?? "", /TDX guest/);
    const long = await refusal(
      new TdxEnclave({ configfsRoot: dir, collateral: collateralSource }).attest(new Uint8Array(65)),
    );
    assert.equal(long.code, "ATTESTATION_REPORT_DATA_TOO_LONG");
  });

  test("sealing opens in the same process only (a plain TDX guest has no sealing key)", async () => {
    const a = new TdxEnclave({ configfsRoot: root, collateral: collateralSource });
    const b = new TdxEnclave({ configfsRoot: root, collateral: collateralSource });
    const sealed = await a.seal(new TextEncoder().encode("secret"), "x");
    assert.equal(new TextDecoder().decode(await a.unseal(sealed, "x")), "secret");
    assert.equal((await refusal(b.unseal(sealed, "x"))).code, "UNSEAL_FAILED");
    assert.equal(a.persistentSealing, false);
  });
});

describe("dstack backend (guest agent)", { skip: !haveFixtures && "../shared/fixtures is missing" }, () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });
  const agent = async (opts: { failWith?: string; key?: number } = {}) => {
    mkdirSync(root, { recursive: true });
    const socketPath = join(mkdtempSync(join(root, "ds-")), "dstack.sock");
    const fake = await fakeDstackAgent(socketPath, {
      quote,
      key: new Uint8Array(32).fill(opts.key ?? 1),
      ...(opts.failWith ? { failWith: opts.failWith } : {}),
    });
    closers.push(fake.close);
    return { socketPath, fake };
  };

  test("asks the agent for a quote over our report data and returns it with collateral", async () => {
    const { socketPath, fake } = await agent();
    const enclave = new DstackEnclave({ endpoint: socketPath, collateral: collateralSource });
    const evidence = await enclave.attest(ourReportData);
    assert.equal(evidence.tee, "tdx");
    assert.deepEqual(new Uint8Array(decodeDcapEvidence(evidence).quote), quote);
    assert.deepEqual(fake.requests[0], {
      path: "/GetQuote",
      body: { report_data: Buffer.from(ourReportData).toString("hex") },
    });
    const dcap = verifyDcapQuote(quote, collateral, { now: inWindow });
    assert.equal(verifyEvidence(evidence, { expectedReportData: dcap.reportData, now: inWindow }).tee, "tdx");
  });

  test("seals with a key from the agent, which a restarted node gets again and another app does not", async () => {
    const { socketPath } = await agent({ key: 1 });
    const sealed = await new DstackEnclave({ endpoint: socketPath, collateral: collateralSource }).seal(
      new TextEncoder().encode("identity"),
      "node-identity",
    );
    const restarted = new DstackEnclave({ endpoint: socketPath, collateral: collateralSource });
    assert.equal(new TextDecoder().decode(await restarted.unseal(sealed, "node-identity")), "identity");
    const other = await agent({ key: 2 });
    const e = await refusal(
      new DstackEnclave({ endpoint: other.socketPath, collateral: collateralSource }).unseal(
        sealed,
        "node-identity",
      ),
    );
    assert.equal(e.code, "UNSEAL_FAILED");
  });

  test("an agent error, or no agent at all, is a clear TEE_UNAVAILABLE", async () => {
    const { socketPath } = await agent({ failWith: "quote service down" });
    const e = await refusal(
      new DstackEnclave({ endpoint: socketPath, collateral: collateralSource }).attest(ourReportData),
    );
    assert.equal(e.code, "TEE_UNAVAILABLE");
    assert.match(e.message, /quote service down/);
    const none = await refusal(
      new DstackEnclave({ endpoint: join(root, "absent.sock"), collateral: collateralSource }).attest(
        ourReportData,
      ),
    );
    assert.equal(none.code, "TEE_UNAVAILABLE");
    assert.match(none.hint ?? "", /dstack/);
  });
});

describe("hardware evidence is hostile input", {
  skip: !haveFixtures && "../shared/fixtures is missing",
}, () => {
  const dcap = haveFixtures ? verifyDcapQuote(quote, collateral, { now: inWindow }) : undefined;
  const evidenceOf = (body: unknown, tee: "sgx" | "tdx" = "tdx") => ({
    tee,
    bytes: new TextEncoder().encode(JSON.stringify(body)),
  });
  const good = {
    format: "veil-dcap-evidence/v1",
    tee: "tdx",
    quote: Buffer.from(quote).toString("hex"),
    collateral,
  };

  test("a TDX quote claimed as SGX, a changed quote byte, or junk are refused", async () => {
    const opts = { expectedReportData: dcap?.reportData ?? new Uint8Array(), now: inWindow };
    const claimed = await refusal(() => verifyEvidence(evidenceOf({ ...good, tee: "sgx" }, "sgx"), opts));
    assert.equal(claimed.code, "ATTESTATION_INVALID");
    const flipped = Buffer.from(quote);
    flipped[flipped.length - 100] = (flipped[flipped.length - 100] ?? 0) ^ 1;
    const altered = await refusal(() =>
      verifyEvidence(evidenceOf({ ...good, quote: flipped.toString("hex") }), opts),
    );
    assert.equal(altered.code, "ATTESTATION_INVALID");
    for (const junk of [{}, { ...good, format: "other" }, { ...good, quote: "zz" }, "not json"]) {
      const e = await refusal(() =>
        verifyEvidence(
          typeof junk === "string" ? { tee: "tdx", bytes: new TextEncoder().encode(junk) } : evidenceOf(junk),
          opts,
        ),
      );
      assert.equal(e.code, "ATTESTATION_INVALID");
    }
  });

  test("the confidence level follows the TCB status and the allowed advisories", () => {
    const opts = { expectedReportData: dcap?.reportData ?? new Uint8Array(), now: inWindow };
    const v = verifyEvidence(evidenceOf(good), opts);
    assert.equal(v.tcbStatus, dcap?.tcbStatus);
    assert.ok(v.confidence >= 1 && v.confidence <= 5);
    if (v.tcbStatus === "UpToDate") assert.equal(v.confidence, 1);
  });
});
