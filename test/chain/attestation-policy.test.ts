import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { TeeType, WorkerStatus } from "../../src/chain/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import {
  hash32,
  recordVerified,
  signedWorkerRegistration,
  startTestChain,
  type TestChain,
} from "../helpers/chain.ts";

let t: TestChain;
const measurement = hash32(0x4d);
before(async () => {
  t = await startTestChain();
  await t.as(0).allowMeasurement(TeeType.simulated, measurement);
});
after(async () => {
  await t?.close();
});

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

let nextKey = 0x10;
/** Registers a fresh worker as operator 2 and returns its address. */
async function freshWorker(confidence = 1): Promise<Hex> {
  const workerKey: Hex = `0x${(nextKey++).toString(16).padStart(2, "0").repeat(32)}`;
  await t
    .as(2)
    .registerWorker(await signedWorkerRegistration(t, { operator: 2, workerKey, measurement, confidence }));
  const worker = privateKeyToAccount(workerKey).address;
  await recordVerified(t, worker);
  return worker;
}

/** `reg` with other fields, signed again by the worker key (as a worker with new keys would). */
async function resigned(
  workerKey: Hex,
  reg: Awaited<ReturnType<typeof signedWorkerRegistration>>,
): Promise<{ encryptionKey: Hex; signature: Hex }> {
  const digest = await t.reader.workerRegistrationDigest({ operator: t.accounts[2]!.address, ...reg });
  const signature = await privateKeyToAccount(workerKey).sign({ hash: digest });
  return { encryptionKey: reg.encryptionKey, signature };
}

const status = async (worker: Hex) => (await t.reader.getWorker(worker))?.status;

describe("AttestationPolicy parameters", () => {
  test("defaults: one day of evidence, hourly re-attestation, any confidence level", async () => {
    assert.deepEqual(await t.reader.policyParameters(), {
      maxEvidenceAge: 86_400,
      reattestPeriod: 3_600,
      minConfidence: 5,
    });
  });

  test("only governance sets them, and nonsense is refused without a change", async () => {
    const before = await t.reader.policyParameters();
    await rejectsWith(t.as(1).setPolicyParameters({ ...before, minConfidence: 2 }), "NOT_OWNER");
    const bad = [
      { maxEvidenceAge: 0, reattestPeriod: 0, minConfidence: 1 },
      { maxEvidenceAge: 100, reattestPeriod: 100, minConfidence: 1 },
      { maxEvidenceAge: 100, reattestPeriod: 10, minConfidence: 0 },
      { maxEvidenceAge: 100, reattestPeriod: 10, minConfidence: 6 },
    ];
    for (const p of bad) await rejectsWith(t.as(0).setPolicyParameters(p), "POLICY_PARAMETERS_INVALID");
    assert.deepEqual(await t.reader.policyParameters(), before);
  });

  test("advisories are allowed and disallowed by governance only", async () => {
    await rejectsWith(t.as(1).setAdvisoryAllowed("INTEL-SA-00289", true), "NOT_OWNER");
    assert.equal(await t.reader.isAdvisoryAllowed("INTEL-SA-00289"), false);
    await t.as(0).setAdvisoryAllowed("INTEL-SA-00289", true);
    assert.equal(await t.reader.isAdvisoryAllowed("INTEL-SA-00289"), true);
    await t.as(0).setAdvisoryAllowed("INTEL-SA-00289", false);
    assert.equal(await t.reader.isAdvisoryAllowed("INTEL-SA-00289"), false);
  });
});

describe("simulated evidence (ADR 0020)", () => {
  test("counts only while governance allows it; a chain deployed fresh does not (attack)", async () => {
    // A fresh deployment, as on an --rpc chain: nothing simulated is accepted or can be allowed.
    const { deployContracts } = await import("../../src/chain/deploy.ts");
    const { VeilChain } = await import("../../src/chain/index.ts");
    const contracts = await deployContracts({
      rpcUrl: t.config.rpcUrl,
      chainId: t.config.chainId,
      deployerKey: t.accounts[0]!.privateKey,
    });
    const fresh = new VeilChain({ ...t.config, contracts }, { account: t.accounts[0]!.privateKey });
    assert.equal(await fresh.isSimulatedAllowed(), false);
    await rejectsWith(
      fresh.allowMeasurement(TeeType.simulated, measurement),
      "ATTESTATION_SIMULATED_NOT_ALLOWED",
    );
    const stranger = new VeilChain({ ...t.config, contracts }, { account: t.accounts[3]!.privateKey });
    await rejectsWith(stranger.setSimulatedAllowed(true), "NOT_OWNER");

    // Where it was allowed, turning it off takes every simulated measurement's standing at once.
    await fresh.setSimulatedAllowed(true);
    await fresh.allowMeasurement(TeeType.simulated, measurement);
    assert.equal(await fresh.isMeasurementAllowed(TeeType.simulated, measurement), true);
    await fresh.setSimulatedAllowed(false);
    assert.equal(await fresh.isMeasurementAllowed(TeeType.simulated, measurement), false);
  });
});

describe("worker standing under the policy", () => {
  test("a registration with a confidence level out of range or worse than the minimum is refused", async () => {
    const workerKey: Hex = `0x${"77".repeat(32)}`;
    const reg = (confidence: number) =>
      signedWorkerRegistration(t, { operator: 2, workerKey, measurement, confidence });
    await rejectsWith(t.as(2).registerWorker(await reg(0)), "ATTESTATION_CONFIDENCE_INVALID");
    await rejectsWith(t.as(2).registerWorker(await reg(6)), "ATTESTATION_CONFIDENCE_INVALID");
    await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 2 });
    try {
      await rejectsWith(t.as(2).registerWorker(await reg(3)), "ATTESTATION_TCB_BELOW_MINIMUM");
    } finally {
      await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 5 });
    }
    assert.equal(await t.reader.getWorker(privateKeyToAccount(workerKey).address), undefined);
  });

  test("evidence older than the maximum age: anyone may mark the worker expired, not before", async () => {
    const worker = await freshWorker();
    assert.equal(await t.reader.isWorkerAttested(worker), true);
    await rejectsWith(t.as(7).expireWorker(worker), "WORKER_STILL_VALID");
    await t.increaseTime(86_400 + 10);
    assert.equal(await t.reader.isWorkerAttested(worker), false, "standing lapses with the evidence");
    await t.as(7).expireWorker(worker);
    assert.equal(await status(worker), WorkerStatus.Expired);
    await rejectsWith(t.as(7).expireWorker(worker), "WORKER_STILL_VALID");
  });

  test("an expired worker that re-attests is active again", async () => {
    const workerKey: Hex = `0x${"78".repeat(32)}`;
    const reg = () => signedWorkerRegistration(t, { operator: 2, workerKey, measurement });
    await t.as(2).registerWorker(await reg());
    const worker = privateKeyToAccount(workerKey).address;
    await recordVerified(t, worker);
    await t.increaseTime(86_400 + 10);
    await t.as(7).expireWorker(worker);
    await t.as(2).registerWorker(await reg());
    assert.equal(await status(worker), WorkerStatus.Active);
    assert.equal(
      await t.reader.isWorkerAttested(worker),
      false,
      "the fresh evidence is a claim until verified",
    );
    await recordVerified(t, worker);
    assert.equal(await t.reader.isWorkerAttested(worker), true);
  });

  test("a revoked measurement: anyone may record it, and the worker loses its standing", async () => {
    const other = hash32(0x4e);
    await t.as(0).allowMeasurement(TeeType.simulated, other);
    const workerKey: Hex = `0x${"79".repeat(32)}`;
    await t
      .as(2)
      .registerWorker(await signedWorkerRegistration(t, { operator: 2, workerKey, measurement: other }));
    const worker = privateKeyToAccount(workerKey).address;
    await recordVerified(t, worker);
    await rejectsWith(t.as(7).markMeasurementRevoked(worker), "WORKER_STILL_VALID");
    await t.as(0).revokeMeasurement(TeeType.simulated, other);
    assert.equal(await t.reader.isWorkerAttested(worker), false);
    await t.as(7).markMeasurementRevoked(worker);
    assert.equal(await status(worker), WorkerStatus.MeasurementRevoked);
  });

  test("a raised TCB minimum: anyone may record a worker below it", async () => {
    const worker = await freshWorker(4);
    await rejectsWith(t.as(7).markTcbBelowMinimum(worker), "WORKER_STILL_VALID");
    await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 3 });
    try {
      assert.equal(await t.reader.isWorkerAttested(worker), false);
      await t.as(7).markTcbBelowMinimum(worker);
      assert.equal(await status(worker), WorkerStatus.TcbBelowMinimum);
      assert.equal((await t.reader.getWorker(worker))?.confidence, 4);
    } finally {
      await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 5 });
    }
  });

  test("an operator's registration alone gives no standing; only a gatekeeper's verification does (attack)", async () => {
    // The attack of issue 18: register a worker whose "evidence" is a hash of nothing.
    const workerKey: Hex = `0x${"7a".repeat(32)}`;
    const worker = privateKeyToAccount(workerKey).address;
    await t.as(2).registerWorker(await signedWorkerRegistration(t, { operator: 2, workerKey, measurement }));
    assert.equal(await status(worker), WorkerStatus.Active);
    assert.equal(await t.reader.isWorkerAttested(worker), false, "not routable, no quota home, no rewards");
    // Neither the operator nor anyone else outside the gatekeeper set can vouch for it.
    const evidence = (await t.reader.getWorker(worker))!.evidenceHash;
    await rejectsWith(t.as(2).recordWorkerVerification(worker, evidence), "NOT_GATEKEEPER");
    await rejectsWith(t.as(7).recordWorkerVerification(worker, evidence), "NOT_GATEKEEPER");
    assert.equal(await t.reader.isWorkerAttested(worker), false);
    // A gatekeeper vouches only for the evidence now on chain.
    await recordVerified(t, worker);
    await rejectsWith(t.as(0).recordWorkerVerification(worker, hash32(0x01)), "ATTESTATION_MISMATCH");
    const record = (await t.reader.getWorker(worker))!;
    assert.equal(record.verifiedBy, t.accounts[0]!.address);
    assert.equal(record.verifiedAt, record.attestedAt);
    assert.equal(await t.reader.isWorkerAttested(worker), true);
    // New keys are a new claim: the standing goes until a gatekeeper verifies again.
    const rekeyed = await signedWorkerRegistration(t, { operator: 2, workerKey, measurement });
    await t.as(2).registerWorker({
      ...rekeyed,
      ...(await resigned(workerKey, { ...rekeyed, encryptionKey: hash32(0xef) })),
    });
    assert.equal(await t.reader.isWorkerAttested(worker), false, "other keys, no standing");
  });

  test("an unknown worker is WORKER_NOT_FOUND for every mark", async () => {
    const nobody = privateKeyToAccount(`0x${"99".repeat(32)}`).address;
    await rejectsWith(t.as(7).expireWorker(nobody), "WORKER_NOT_FOUND");
    await rejectsWith(t.as(7).markMeasurementRevoked(nobody), "WORKER_NOT_FOUND");
    await rejectsWith(t.as(7).markTcbBelowMinimum(nobody), "WORKER_NOT_FOUND");
  });
});
