import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bytesToHex, type Hex, hexToBytes } from "viem";
import { TeeType, VeilChain, WorkerStatus } from "../../src/chain/index.ts";
import { deriveClusterKey, open } from "../../src/crypto/index.ts";
import { NodeIdentity } from "../../src/daemon/identity.ts";
import { VeilError } from "../../src/errors/index.ts";
import {
  CLUSTER_KEY_LABEL,
  clusterKeyAad,
  createGatekeeperServer,
  GatekeeperService,
  MASTER_KEY_LABEL,
  MasterKeyStore,
  masterKeyAad,
  masterPublicKeyHex,
  masterSigningAccount,
  recordLapsedWorkers,
  requestClusterKey,
  requestMasterKey,
  requestVerification,
  signJoinRequest,
  signProvisionRequest,
} from "../../src/gatekeeper/index.ts";
import { type Evidence, evidenceHash, SimulatedEnclave } from "../../src/tee/index.ts";
import { startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
let service: GatekeeperService;
let gatekeeperUrl: string;
let closeServer: () => void;
let master: Uint8Array;
const root = mkdtempSync(join(tmpdir(), "veil-gk-"));
const tmp = () => mkdtempSync(join(root, "n-"));

type Node = { identity: NodeIdentity; enclave: SimulatedEnclave; evidence: Evidence };

async function makeNode(measurement?: Hex): Promise<Node> {
  const enclave = new SimulatedEnclave({
    dataDir: tmp(),
    component: "test",
    ...(measurement ? { measurement } : {}),
  });
  const identity = await NodeIdentity.loadOrCreate(enclave, tmp());
  return { identity, enclave, evidence: await enclave.attest(identity.reportData()) };
}

async function register(
  node: Node,
  operator: VeilChain,
  evidence: Evidence = node.evidence,
  confidence = 1,
): Promise<void> {
  const reg = {
    worker: node.identity.address,
    encryptionKey: node.identity.encryptionKeyHex,
    teeType: TeeType.simulated,
    measurement: await node.enclave.measurement(),
    evidenceHash: evidenceHash(evidence),
    confidence,
    endpoint: "http://127.0.0.1:1",
  };
  const digest = await t.reader.workerRegistrationDigest({ operator: operator.account, ...reg });
  await operator.registerWorker({
    ...reg,
    signature: await node.identity.account.sign({ hash: digest }),
  });
}

async function refused(input: unknown, code: string): Promise<void> {
  await assert.rejects(service.provision(input), (err: unknown) => {
    assert.ok(err instanceof VeilError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Sends a node 1 ETH for gas (gatekeepers send transactions from their identity). */
let fund: (to: Hex) => Promise<void>;

before(async () => {
  t = await startTestChain();
  const governance = t.as(0);
  const gkNode = await makeNode();
  await governance.allowMeasurement(TeeType.simulated, await gkNode.enclave.measurement());
  // The gatekeeper sends transactions from its own identity; fund it from the deployer.
  const { createWalletClient, http, parseEther } = await import("viem");
  const { privateKeyToAccount } = await import("viem/accounts");
  const wallet = createWalletClient({
    transport: http(t.config.rpcUrl),
    account: privateKeyToAccount(t.accounts[0]!.privateKey),
  });
  const fundTx = await wallet.sendTransaction({
    to: gkNode.identity.address,
    value: parseEther("1"),
    chain: null,
  });
  await t.reader.public.waitForTransactionReceipt({ hash: fundTx });
  fund = async (to) => {
    const hash = await wallet.sendTransaction({ to, value: parseEther("1"), chain: null });
    await t.reader.public.waitForTransactionReceipt({ hash });
  };
  await governance.addGatekeeper(
    gkNode.identity.address,
    gkNode.identity.encryptionKeyHex,
    "http://placeholder",
  );
  const gkChain = new VeilChain(t.config, {
    account: gkNode.identity.account,
  });
  master = await new MasterKeyStore(gkNode.enclave, tmp()).create(1n);
  await gkChain.publishMasterPublicKey(masterPublicKeyHex(master), masterSigningAccount(master).address);
  service = new GatekeeperService({
    chain: gkChain,
    identity: gkNode.identity,
    clusterId: "default",
  });
  service.setMasterKey(1n, master, masterPublicKeyHex(master));
  const server = createGatekeeperServer(service, () => ({}));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  gatekeeperUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeServer = () => server.close();
});

after(async () => {
  closeServer?.();
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("provisioning a worker with the cluster key", () => {
  test("a registered, attested worker gets the cluster key, sealed to its identity key", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    const grant = await requestClusterKey({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: node.evidence,
    });
    assert.equal(grant.epoch, 1n);
    assert.deepEqual(grant.clusterKey, deriveClusterKey(master, "default", 1n));
  });

  test("standing on chain comes from the gatekeeper's verification, not the operator's registration", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    assert.equal(await t.reader.isWorkerAttested(node.identity.address), false, "a claim only");
    await requestClusterKey({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: node.evidence,
    });
    const verified = await t.reader.getWorker(node.identity.address);
    assert.equal(verified?.verifiedEvidenceHash, evidenceHash(node.evidence));
    assert.equal(verified?.verifiedBy, (await t.reader.listGatekeepers())[0]?.address);
    assert.equal(await t.reader.isWorkerAttested(node.identity.address), true);

    // Re-attestation: fresh evidence keeps the standing of the last verification until it ages
    // out; /v1/attest verifies the new evidence (no key handed out) and renews it from then.
    await t.increaseTime(3_600);
    const fresh = await node.enclave.attest(node.identity.reportData());
    await register(node, t.as(2), fresh);
    assert.equal(await t.reader.isWorkerAttested(node.identity.address), true);
    const answer = await requestVerification({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: fresh,
    });
    assert.equal(answer.recorded, true);
    const renewed = await t.reader.getWorker(node.identity.address);
    assert.equal(renewed?.verifiedAt, renewed?.attestedAt);
    assert.ok((renewed?.verifiedAt ?? 0n) > (verified?.verifiedAt ?? 0n));
    // Asking again for the same evidence records nothing more.
    const again = await requestVerification({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: fresh,
    });
    assert.equal(again.recorded, false);
  });

  test("a worker with made-up evidence gets no standing from /v1/attest either (attack)", async () => {
    const liar = await makeNode();
    const other = await liar.enclave.attest(new Uint8Array(32).fill(7)); // not bound to its keys
    await register(liar, t.as(2), other);
    await assert.rejects(
      requestVerification({ url: gatekeeperUrl, chain: t.reader, identity: liar.identity, evidence: other }),
      (err: unknown) => err instanceof VeilError && err.code === "ATTESTATION_REPORT_DATA_MISMATCH",
    );
    assert.equal(await t.reader.isWorkerAttested(liar.identity.address), false);
    assert.equal((await t.reader.getWorker(liar.identity.address))?.verifiedAt, 0n);
  });

  test("two workers provisioned at once both get their verification recorded (one account, two sends)", async () => {
    const nodes = [await makeNode(), await makeNode()];
    for (const n of nodes) await register(n, t.as(2));
    await Promise.all(
      nodes.map((n) =>
        requestClusterKey({
          url: gatekeeperUrl,
          chain: t.reader,
          identity: n.identity,
          evidence: n.evidence,
        }),
      ),
    );
    for (const n of nodes) assert.equal(await t.reader.isWorkerAttested(n.identity.address), true);
  });

  test("a party without the worker's key cannot open the grant", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    const response = await service.provision(
      await signProvisionRequest(t.reader, node.identity, node.evidence),
    );
    const sealed = Buffer.from(response.sealedClusterKey, "base64");
    const stranger = await makeNode();
    assert.throws(
      () =>
        open(stranger.identity.encryptionPrivateKey(), sealed, {
          label: CLUSTER_KEY_LABEL,
          aad: clusterKeyAad(node.identity.address, "default", 1n),
        }),
      (e: unknown) => e instanceof VeilError,
    );
  });

  test("an unregistered worker is refused with a clear error", async () => {
    const node = await makeNode();
    await assert.rejects(
      requestClusterKey({
        url: gatekeeperUrl,
        chain: t.reader,
        identity: node.identity,
        evidence: node.evidence,
      }),
      (err: unknown) =>
        err instanceof VeilError &&
        err.code === "WORKER_NOT_REGISTERED" &&
        /Register the worker/.test(err.hint ?? ""),
    );
  });

  test("evidence other than the registered one, or not bound to the worker's keys, is refused", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    const other = await node.enclave.attest(new Uint8Array(32).fill(1)); // valid evidence, wrong report data
    await refused(await signProvisionRequest(t.reader, node.identity, other), "ATTESTATION_MISMATCH");

    const liar = await makeNode();
    await register(liar, t.as(2), other); // registers evidence that is not bound to its keys
    await refused(
      await signProvisionRequest(t.reader, liar.identity, other),
      "ATTESTATION_REPORT_DATA_MISMATCH",
    );
  });

  test("a worker whose measurement was revoked is refused", async () => {
    const rogueMeasurement: Hex = `0x${"5a".repeat(32)}`;
    await t.as(0).allowMeasurement(TeeType.simulated, rogueMeasurement);
    const node = await makeNode(rogueMeasurement);
    await register(node, t.as(2));
    const { attestationPolicyAbi } = await import("../../src/chain/abi.ts");
    await t.as(0).write("revoke", {
      address: t.config.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "revokeMeasurement",
      args: [TeeType.simulated, rogueMeasurement],
    });
    await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "ATTESTATION_LAPSED");
  });

  test("a stopped worker is refused", async () => {
    const node = await makeNode();
    await register(node, t.as(3));
    await t.as(3).stopWorker(node.identity.address);
    await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "WORKER_NOT_ACTIVE");
  });

  test("a replayed request is refused, and so is a stale one", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    const request = await signProvisionRequest(t.reader, node.identity, node.evidence);
    await service.provision(request);
    await refused(request, "PROVISION_REPLAYED");

    const stale = await signProvisionRequest(t.reader, node.identity, node.evidence);
    for (let i = 0; i < 22; i++)
      await t.reader.public.request({ method: "evm_mine" as never, params: [] as never });
    await refused(stale, "PROVISION_STALE");
  });

  test("a request signed by another key, or malformed, is refused", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    const impostor = await makeNode();
    const signedByImpostor = await signProvisionRequest(t.reader, impostor.identity, node.evidence);
    await refused({ ...signedByImpostor, worker: node.identity.address }, "PROVISION_SIGNATURE_INVALID");
    await refused({ worker: "nope" }, "PROVISION_REQUEST_INVALID");
    await refused(null, "PROVISION_REQUEST_INVALID");
    const good = await signProvisionRequest(t.reader, node.identity, node.evidence);
    await refused(
      { ...good, nonce: bytesToHex(hexToBytes(good.nonce).map((b) => b ^ 1)) },
      "PROVISION_SIGNATURE_INVALID",
    );
  });
});

describe("eviction: a worker that falls out of the policy gets no keys, and the chain says why", () => {
  const statusOf = async (node: Node) => (await t.reader.getWorker(node.identity.address))?.status;

  test("a revoked measurement: recorded as MeasurementRevoked, refused keys", async () => {
    const m: Hex = `0x${"5b".repeat(32)}`;
    await t.as(0).allowMeasurement(TeeType.simulated, m);
    const node = await makeNode(m);
    await register(node, t.as(2));
    await t.as(0).revokeMeasurement(TeeType.simulated, m);
    const recorded = await recordLapsedWorkers(t.as(4));
    assert.ok(
      recorded.some(
        (r) => r.worker === node.identity.address && r.status === WorkerStatus.MeasurementRevoked,
      ),
    );
    assert.equal(await statusOf(node), WorkerStatus.MeasurementRevoked);
    await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "WORKER_NOT_ACTIVE");
    assert.deepEqual(await recordLapsedWorkers(t.as(4)), [], "recorded once");
  });

  test("a raised TCB minimum: recorded as TcbBelowMinimum, refused keys", async () => {
    const node = await makeNode();
    await register(node, t.as(2), node.evidence, 3);
    await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 2 });
    try {
      await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "ATTESTATION_LAPSED");
      const recorded = await recordLapsedWorkers(t.as(4));
      assert.ok(
        recorded.some((r) => r.worker === node.identity.address && r.status === WorkerStatus.TcbBelowMinimum),
      );
      assert.equal(await statusOf(node), WorkerStatus.TcbBelowMinimum);
      await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "WORKER_NOT_ACTIVE");
    } finally {
      await t.as(0).setPolicyParameters({ maxEvidenceAge: 86_400, reattestPeriod: 3_600, minConfidence: 5 });
    }
  });

  test("a claimed confidence level the evidence does not prove is refused", async () => {
    const node = await makeNode();
    await register(node, t.as(2), node.evidence, 2); // simulated evidence proves level 1
    await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "ATTESTATION_MISMATCH");
  });

  test("expired evidence: refused at once, then recorded as Expired; re-attesting restores the worker", async () => {
    const node = await makeNode();
    await register(node, t.as(2));
    await t.increaseTime(86_400 + 60);
    await refused(await signProvisionRequest(t.reader, node.identity, node.evidence), "ATTESTATION_LAPSED");
    const recorded = await recordLapsedWorkers(t.as(4));
    assert.ok(recorded.some((r) => r.worker === node.identity.address && r.status === WorkerStatus.Expired));
    assert.equal(await statusOf(node), WorkerStatus.Expired);
    // The simulated platform dates its evidence by the wall clock; the chain's clock is now a
    // day ahead, so fresh evidence is made "in the future" of nothing: register and provision.
    const fresh = await node.enclave.attest(node.identity.reportData());
    await register(node, t.as(2), fresh);
    assert.equal(await statusOf(node), WorkerStatus.Active);
    const grant = await requestClusterKey({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: fresh,
    });
    assert.equal(grant.epoch, 1n);
  });
});

describe("a joining gatekeeper receives the master key from a sitting one", () => {
  test("one the chain does not list is refused", async () => {
    const node = await makeNode();
    await refusedJoin(
      await signJoinRequest(t.reader, node.identity, node.evidence),
      "GATEKEEPER_NOT_REGISTERED",
    );
  });

  test("a listed one with good evidence gets the master key, and can then provision workers itself", async () => {
    const node = await makeNode();
    await t.as(0).addGatekeeper(node.identity.address, node.identity.encryptionKeyHex, "http://127.0.0.1:3");
    const got = await requestMasterKey({
      url: gatekeeperUrl,
      chain: t.reader,
      identity: node.identity,
      evidence: node.evidence,
    });
    assert.equal(got.epoch, 1n);
    assert.deepEqual(got.masterKey, master);
    // The second gatekeeper serves a worker: same cluster key as the first would give.
    await fund(node.identity.address);
    const second = new GatekeeperService({
      chain: new VeilChain(t.config, { account: node.identity.account }),
      identity: node.identity,
      clusterId: "default",
    });
    second.setMasterKey(got.epoch, got.masterKey, masterPublicKeyHex(got.masterKey));
    const worker = await makeNode();
    await register(worker, t.as(2));
    const response = await second.provision(
      await signProvisionRequest(t.reader, worker.identity, worker.evidence),
    );
    const clusterKey = open(
      worker.identity.encryptionPrivateKey(),
      Buffer.from(response.sealedClusterKey, "base64"),
      {
        label: CLUSTER_KEY_LABEL,
        aad: clusterKeyAad(worker.identity.address, "default", 1n),
      },
    );
    assert.deepEqual(clusterKey, deriveClusterKey(master, "default", 1n));
  });

  test("a party without the joining gatekeeper's key cannot open the master key", async () => {
    const node = await makeNode();
    await t.as(0).addGatekeeper(node.identity.address, node.identity.encryptionKeyHex, "http://127.0.0.1:4");
    const answer = await service.join(await signJoinRequest(t.reader, node.identity, node.evidence));
    const stranger = await makeNode();
    assert.throws(
      () =>
        open(stranger.identity.encryptionPrivateKey(), Buffer.from(answer.sealedMasterKey, "base64"), {
          label: MASTER_KEY_LABEL,
          aad: masterKeyAad(node.identity.address, 1n),
        }),
      (e: unknown) => e instanceof VeilError,
    );
  });

  test("a replayed join request, evidence bound to other keys, or a forged signature is refused", async () => {
    const node = await makeNode();
    await t.as(0).addGatekeeper(node.identity.address, node.identity.encryptionKeyHex, "http://127.0.0.1:5");
    const request = await signJoinRequest(t.reader, node.identity, node.evidence);
    await service.join(request);
    await refusedJoin(request, "PROVISION_REPLAYED");
    const other = await node.enclave.attest(new Uint8Array(32).fill(3));
    await refusedJoin(
      await signJoinRequest(t.reader, node.identity, other),
      "ATTESTATION_REPORT_DATA_MISMATCH",
    );
    const forger = await makeNode();
    const forged = {
      ...(await signJoinRequest(t.reader, forger.identity, node.evidence)),
      gatekeeper: node.identity.address,
    };
    await refusedJoin(forged, "PROVISION_SIGNATURE_INVALID");
    await refusedJoin({ gatekeeper: "nope" }, "JOIN_REQUEST_INVALID");
  });
});

async function refusedJoin(input: unknown, code: string): Promise<void> {
  await assert.rejects(service.join(input), (err: unknown) => {
    assert.ok(err instanceof VeilError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}
