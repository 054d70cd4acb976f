import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { TeeType, WorkerStatus } from "../../src/chain/index.ts";
import { typedDataDigestHex } from "../../src/crypto/typed-data.ts";
import { VeilError } from "../../src/errors/index.ts";
import { hash32, startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
before(async () => {
  t = await startTestChain();
});
after(async () => {
  await t?.close();
});

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe("AgentRegistry", () => {
  test("registers an agent with a stable id, its owner, name and first version", async () => {
    const user = t.as(1);
    const { id } = await user.registerAgent("alpha", hash32(1));
    const agent = await t.reader.getAgent(id);
    assert.equal(agent.name, "alpha");
    assert.equal(agent.owner, t.accounts[1]!.address);
    assert.equal(agent.codeHash, hash32(1));
    assert.equal(agent.versionCount, 1);
    assert.equal(await t.reader.agentIdOf("alpha"), id);
  });

  test("a new activated version changes the code hash, not the id", async () => {
    const user = t.as(1);
    const { id } = await user.registerAgent("beta", hash32(2));
    await user.addAgentVersion(id, hash32(3), true);
    const agent = await t.reader.getAgent(id);
    assert.equal(agent.id, id);
    assert.equal(agent.codeHash, hash32(3));
    assert.equal(agent.currentVersion, 1);
    assert.equal(agent.versionCount, 2);
  });

  test("refuses a taken name, an invalid name, an empty hash, and a non-owner's version", async () => {
    const before = await t.reader.agentCount();
    await rejectsWith(t.as(2).registerAgent("alpha", hash32(9)), "AGENT_NAME_TAKEN");
    await rejectsWith(t.as(1).registerAgent("Bad Name", hash32(9)), "AGENT_NAME_INVALID");
    await rejectsWith(t.as(1).registerAgent("-dash-first", hash32(9)), "AGENT_NAME_INVALID");
    await rejectsWith(t.as(1).registerAgent("x".repeat(65), hash32(9)), "AGENT_NAME_INVALID");
    await rejectsWith(t.as(1).registerAgent("gamma", `0x${"00".repeat(32)}`), "BUNDLE_HASH_EMPTY");
    const alpha = await t.reader.agentIdOf("alpha");
    await rejectsWith(t.as(2).addAgentVersion(alpha, hash32(7), true), "NOT_AGENT_OWNER");
    assert.equal(await t.reader.agentCount(), before, "no refused call registered anything");
    assert.equal((await t.reader.getAgent(alpha)).codeHash, hash32(1));
  });

  test("only the owner sets an agent's limits; they read back, and a change is an event", async () => {
    const id = await t.reader.agentIdOf("alpha");
    const limits = {
      memoryMb: 64,
      cpuTimeMs: 500,
      wallTimeMs: 0,
      maxRequestBytes: 0,
      maxResponseBytes: 0,
      maxConcurrent: 4,
      maxStateBytes: 0,
      egressHosts: "api.example.com",
    };
    const from = await t.reader.blockNumber();
    await rejectsWith(t.as(2).setAgentLimits(id, limits), "NOT_AGENT_OWNER");
    await rejectsWith(
      t.as(1).setAgentLimits(id, { ...limits, egressHosts: "x".repeat(1025) }),
      "EGRESS_LIST_TOO_LONG",
    );
    assert.equal((await t.reader.getAgentLimits(id)).memoryMb, 0, "refused calls changed nothing");
    await t.as(1).setAgentLimits(id, limits);
    assert.deepEqual(await t.reader.getAgentLimits(id), limits);
    const events = await t.reader.agentEvents(from + 1n, await t.reader.blockNumber());
    assert.ok(events.some((e) => e.kind === "limits" && e.id === id));
    await rejectsWith(t.reader.getAgentLimits(999n), "AGENT_NOT_FOUND");
  });

  test("an unknown id is AGENT_NOT_FOUND and an unknown name is id 0", async () => {
    await rejectsWith(t.reader.getAgent(999n), "AGENT_NOT_FOUND");
    assert.equal(await t.reader.agentIdOf("nobody"), 0n);
  });

  test("emits events that a follower can replay", async () => {
    const events = await t.reader.agentEvents(0n, await t.reader.blockNumber());
    const names = events
      .filter((e) => e.kind === "registered")
      .map((e) => (e.kind === "registered" ? e.name : ""));
    assert.ok(names.includes("alpha") && names.includes("beta"));
    assert.ok(events.some((e) => e.kind === "activated" && e.codeHash === hash32(3)));
  });
});

describe("WorkerRegistry", () => {
  const workerKey: Hex = `0x${"ab".repeat(32)}`;
  const worker = privateKeyToAccount(workerKey);
  const measurement = hash32(0x4d);

  async function registration(operator: number, overrides: Partial<{ measurement: Hex; signer: Hex }> = {}) {
    const reg = {
      worker: worker.address,
      encryptionKey: hash32(0xee),
      teeType: TeeType.simulated,
      measurement: overrides.measurement ?? measurement,
      evidenceHash: hash32(0xe1),
      confidence: 1,
      endpoint: "http://127.0.0.1:1",
    };
    const digest = await t.reader.workerRegistrationDigest({
      operator: t.accounts[operator]!.address,
      ...reg,
    });
    const signature = await privateKeyToAccount(overrides.signer ?? workerKey).sign({ hash: digest });
    return { ...reg, signature };
  }

  test("the registration digest is the EIP-712 WorkerRegistration the TypeScript side defines", async () => {
    const reg = {
      operator: t.accounts[2]!.address,
      worker: worker.address,
      encryptionKey: hash32(0xee),
      teeType: TeeType.simulated,
      measurement,
      evidenceHash: hash32(0xe1),
      confidence: 1,
      endpoint: "http://127.0.0.1:1/ünïcødé",
    };
    assert.equal(
      await t.reader.workerRegistrationDigest(reg),
      typedDataDigestHex(
        { chainId: t.config.chainId, verifyingContract: t.config.contracts.workerRegistry },
        "WorkerRegistration",
        reg,
      ),
    );
  });

  test("refuses a measurement the policy does not allow", async () => {
    await rejectsWith(t.as(2).registerWorker(await registration(2)), "ATTESTATION_MEASUREMENT_NOT_ALLOWED");
    assert.equal(await t.reader.getWorker(worker.address), undefined);
  });

  test("only governance can change the policy", async () => {
    await assert.rejects(t.as(2).allowMeasurement(TeeType.simulated, measurement), VeilError);
    await t.as(0).allowMeasurement(TeeType.simulated, measurement);
    assert.equal(await t.reader.isMeasurementAllowed(TeeType.simulated, measurement), true);
  });

  test("refuses a registration the worker key did not sign", async () => {
    await rejectsWith(
      t.as(2).registerWorker(await registration(2, { signer: `0x${"cd".repeat(32)}` })),
      "WORKER_SIGNATURE_INVALID",
    );
  });

  test("registers a worker signed by its key, and only its operator may update or stop it", async () => {
    await t.as(2).registerWorker(await registration(2));
    const w = await t.reader.getWorker(worker.address);
    assert.equal(w?.operator, t.accounts[2]!.address);
    assert.equal(w?.status, WorkerStatus.Active);
    // Another operator replaying the worker's consent for itself fails the signature check;
    // signing anew for itself fails the operator check.
    await rejectsWith(t.as(3).registerWorker(await registration(3)), "NOT_WORKER_OPERATOR");
    await rejectsWith(t.as(3).stopWorker(worker.address), "NOT_WORKER_OPERATOR");
    await t.as(2).stopWorker(worker.address);
    assert.equal((await t.reader.getWorker(worker.address))?.status, WorkerStatus.Stopped);
  });
});

describe("GatekeeperRegistry", () => {
  test("only governance adds gatekeepers; only a gatekeeper publishes the master key, once", async () => {
    const gk = t.accounts[5]!;
    await assert.rejects(t.as(1).addGatekeeper(gk.address, hash32(0x11), "http://127.0.0.1:2"), VeilError);
    const pub: Hex = `0x02${"33".repeat(32)}`;
    await rejectsWith(t.as(5).publishMasterPublicKey(pub, gk.address), "NOT_GATEKEEPER");
    await t.as(0).addGatekeeper(gk.address, hash32(0x11), "http://127.0.0.1:2");
    assert.equal(await t.reader.isGatekeeper(gk.address), true);
    await t.as(5).publishMasterPublicKey(pub, gk.address);
    assert.equal(await t.reader.masterSigner(1n), gk.address);
    assert.equal(await t.reader.masterPublicKey(await t.reader.epoch()), pub);
    await rejectsWith(
      t.as(5).publishMasterPublicKey(`0x03${"44".repeat(32)}`, gk.address),
      "MASTER_KEY_ALREADY_PUBLISHED",
    );
    assert.equal(await t.reader.masterPublicKey(1n), pub);
  });
});
