import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bytesToHex, createWalletClient, type Hex, hexToBytes, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { RotationClient, RotationState, TeeType, VeilChain } from "../../src/chain/index.ts";
import {
  deriveClusterKey,
  randomBytes,
  sealContribution,
  sealSecret,
  unwrapAgentRoot,
  utf8,
} from "../../src/crypto/index.ts";
import { NodeIdentity } from "../../src/daemon/identity.ts";
import { VeilError } from "../../src/errors/index.ts";
import { requestClusterKey } from "../../src/gatekeeper/client.ts";
import {
  type ClusterKeyGrant,
  GatekeeperService,
  MasterKeyStore,
  masterPublicKeyHex,
  masterSigningAccount,
  signProvisionRequest,
  takePartInRotation,
} from "../../src/gatekeeper/index.ts";
import { createGatekeeperServer } from "../../src/gatekeeper/server.ts";
import { EncryptedAgentState } from "../../src/storage/agent-state.ts";
import { SqliteStateStore } from "../../src/storage/state-store.ts";
import { evidenceHash, SimulatedEnclave } from "../../src/tee/index.ts";
import { AgentKeyring } from "../../src/worker/keyring.ts";
import { hash32, startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
const root = mkdtempSync(join(tmpdir(), "veil-rot-"));
const tmp = () => mkdtempSync(join(root, "n-"));

type Gk = {
  identity: NodeIdentity;
  enclave: SimulatedEnclave;
  chain: VeilChain;
  rotation: RotationClient;
  store: MasterKeyStore;
  service: GatekeeperService;
};

const isCode = (code: string) => (err: unknown) => {
  assert.ok(err instanceof VeilError, String(err));
  assert.equal(err.code, code, err.message);
  return true;
};

const rpc = (method: string, params: unknown[] = []) =>
  fetch(t.config.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  }).then((r) => r.json());

async function fund(address: Hex): Promise<void> {
  const wallet = createWalletClient({
    transport: http(t.config.rpcUrl),
    account: privateKeyToAccount(t.accounts[0]!.privateKey),
  });
  const hash = await wallet.sendTransaction({ to: address, value: parseEther("1"), chain: null });
  await t.reader.public.waitForTransactionReceipt({ hash });
}

async function makeGatekeeper(): Promise<Gk> {
  const enclave = new SimulatedEnclave({ dataDir: tmp(), component: "test" });
  const identity = await NodeIdentity.loadOrCreate(enclave, tmp());
  await fund(identity.address);
  await t.as(0).addGatekeeper(identity.address, identity.encryptionKeyHex, "http://placeholder");
  const chain = new VeilChain(t.config, { account: identity.account, pollingIntervalMs: 50 });
  const service = new GatekeeperService({ chain, identity, clusterId: "default" });
  return {
    identity,
    enclave,
    chain,
    rotation: new RotationClient(chain),
    store: new MasterKeyStore(enclave, tmp()),
    service,
  };
}

let a: Gk;
let b: Gk;
let c: Gk;
let master1: Uint8Array;
let worker: { identity: NodeIdentity; evidence: Awaited<ReturnType<SimulatedEnclave["attest"]>> };
let grant1: ClusterKeyGrant;
let oldClusterKey: Uint8Array;
let agentId: bigint;
let agentAddress: Hex;
let usedRequest: unknown;
let keyring: AgentKeyring;
const stateStore = new SqliteStateStore(":memory:");

before(async () => {
  t = await startTestChain();
  a = await makeGatekeeper();
  b = await makeGatekeeper();
  c = await makeGatekeeper();
  await t.as(0).allowMeasurement(TeeType.simulated, await a.enclave.measurement());
  master1 = await a.store.create(1n);
  await a.chain.publishMasterPublicKey(masterPublicKeyHex(master1), masterSigningAccount(master1).address);
  a.service.setMasterKey(1n, master1, masterPublicKeyHex(master1));

  // A worker, provisioned for epoch 1, serving an agent with a secret and some state.
  const enclave = new SimulatedEnclave({ dataDir: tmp(), component: "test" });
  const identity = await NodeIdentity.loadOrCreate(enclave, tmp());
  const evidence = await enclave.attest(identity.reportData());
  const reg = {
    worker: identity.address,
    encryptionKey: identity.encryptionKeyHex,
    teeType: TeeType.simulated,
    measurement: await enclave.measurement(),
    evidenceHash: evidenceHash(evidence),
    confidence: 1,
    endpoint: "http://127.0.0.1:1",
  };
  const digest = await t.reader.workerRegistrationDigest({ operator: t.as(2).account, ...reg });
  await t
    .as(2)
    .registerWorker({ ...reg, signature: await identity.account.signMessage({ message: { raw: digest } }) });
  worker = { identity, evidence };
  const server = createGatekeeperServer(a.service, () => ({}));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  grant1 = await requestClusterKey({ url, chain: t.reader, identity, evidence });
  server.close();
  oldClusterKey = new Uint8Array(grant1.clusterKey);
  usedRequest = await signProvisionRequest(t.reader, identity, evidence);
  await a.service.provision(usedRequest);

  agentId = (await t.as(1).registerAgent("rotating", hash32(7))).id;
  keyring = new AgentKeyring({ chain: t.reader, operator: t.as(2), grant: grant1 });
  const me = await keyring.identity(agentId);
  agentAddress = me.address;
  await t
    .as(1)
    .setSecret(
      agentId,
      "API_KEY",
      bytesToHex(sealSecret(me.keys.encryption.publicKey, agentId, "API_KEY", "s3cret")),
    );
  await new EncryptedAgentState(stateStore, agentId, me.keys.stateKey).put("counter", utf8("41"));
});

after(async () => {
  stateStore.close?.();
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("key rotation", () => {
  test("only governance opens a rotation, and only with active gatekeepers", async () => {
    await assert.rejects(new RotationClient(t.as(1)).open([a.identity.address]), isCode("NOT_OWNER"));
    await assert.rejects(
      new RotationClient(t.as(0)).open([a.identity.address, a.identity.address]),
      isCode("ROTATION_ELECTION_INVALID"),
    );
    await new RotationClient(t.as(0)).open([a.identity.address, b.identity.address]);
    const r = await a.rotation.current();
    assert.equal(r.epoch, 2n);
    assert.equal(r.state, RotationState.Open);
    assert.equal(await t.reader.epoch(), 1n, "the epoch moves only when the rotation is confirmed");
    await assert.rejects(
      new RotationClient(t.as(0)).open([c.identity.address]),
      isCode("ROTATION_IN_PROGRESS"),
    );
  });

  test("while the rotation is open, workers get a retryable error and no key", async () => {
    const request = await signProvisionRequest(t.reader, worker.identity, worker.evidence);
    await assert.rejects(a.service.provision(request), (err: unknown) => {
      isCode("ROTATION_IN_PROGRESS")(err);
      assert.equal((err as VeilError).retryable, true);
      return true;
    });
  });

  test("a gatekeeper not elected can neither contribute nor confirm", async () => {
    const recipients = [a, b].map((g) => ({
      address: g.identity.address,
      encryptionKey: g.identity.encryptionPublicKey,
    }));
    const contribution = bytesToHex(sealContribution(randomBytes(32), 2n, c.identity.address, recipients));
    await assert.rejects(c.rotation.contribute(2n, contribution), isCode("GATEKEEPER_NOT_ELECTED"));
    await assert.rejects(
      c.rotation.confirm(2n, hash32(1), masterPublicKeyHex(randomBytes(32)), c.identity.address),
      isCode("GATEKEEPER_NOT_ELECTED"),
    );
  });

  test("elected gatekeepers make the same master key, none chooses it; replayed messages are refused", async () => {
    // A contributes and confirms step by step (then "crashes"); B takes part in one go; A resumes.
    const recipients = [a, b].map((g) => ({
      address: g.identity.address,
      encryptionKey: g.identity.encryptionPublicKey,
    }));
    const contribution = bytesToHex(sealContribution(randomBytes(32), 2n, a.identity.address, recipients));
    await a.rotation.contribute(2n, contribution);
    await assert.rejects(a.rotation.contribute(2n, contribution), isCode("ROTATION_ALREADY_CONTRIBUTED"));
    await assert.rejects(
      a.rotation.confirm(2n, hash32(1), masterPublicKeyHex(randomBytes(32)), a.identity.address),
      isCode("ROTATION_CONTRIBUTIONS_MISSING"),
    );
    // Blocks keep coming on a live chain; here a miner stands in for them.
    const miner = setInterval(() => void rpc("evm_mine"), 100);
    try {
      const bDone = takePartInRotation({
        chain: b.chain,
        identity: b.identity,
        store: b.store,
        service: b.service,
        pollMs: 50,
      });
      for (;;) {
        if ((await a.rotation.current()).contributions === 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // A confirms by hand: a second, identical confirmation is a replay.
      const aDone = takePartInRotation({
        chain: a.chain,
        identity: a.identity,
        store: a.store,
        service: a.service,
        pollMs: 50,
      });
      const [ea, eb] = await Promise.all([aDone, bDone]);
      assert.equal(ea, 2n);
      assert.equal(eb, 2n);
    } finally {
      clearInterval(miner);
    }
    const r = await a.rotation.current();
    assert.equal(r.state, RotationState.Completed);
    assert.equal(await t.reader.epoch(), 2n);
    const master2a = await a.store.load(2n);
    const master2b = await b.store.load(2n);
    assert.ok(master2a && master2b);
    assert.deepEqual(master2a, master2b, "both elected gatekeepers derived the same key");
    assert.notDeepEqual(master2a, master1);
    assert.equal(
      (await t.reader.masterPublicKey(2n)).toLowerCase(),
      masterPublicKeyHex(master2a).toLowerCase(),
    );
    assert.equal(await a.store.load(1n), undefined, "the ended epoch's master key is destroyed");
    assert.ok(
      master1.every((x) => x === 0),
      "and wiped in memory",
    );

    // Replays of a confirmation: into the finished rotation, and into a later one.
    const transcript = await a.rotation.transcript(2n);
    const mpk = masterPublicKeyHex(master2a);
    const signer = masterSigningAccount(master2a).address;
    await assert.rejects(a.rotation.confirm(2n, transcript, mpk, signer), isCode("NO_ROTATION_OPEN"));
    await new RotationClient(t.as(0)).open([a.identity.address, b.identity.address]);
    await assert.rejects(a.rotation.confirm(2n, transcript, mpk, signer), isCode("ROTATION_WRONG_EPOCH"));
    const c3 = bytesToHex(
      sealContribution(
        randomBytes(32),
        3n,
        a.identity.address,
        [a, b].map((g) => ({ address: g.identity.address, encryptionKey: g.identity.encryptionPublicKey })),
      ),
    );
    await a.rotation.contribute(3n, c3);
    await b.rotation.contribute(
      3n,
      bytesToHex(
        sealContribution(
          randomBytes(32),
          3n,
          b.identity.address,
          [a, b].map((g) => ({ address: g.identity.address, encryptionKey: g.identity.encryptionPublicKey })),
        ),
      ),
    );
    const t3 = await a.rotation.transcript(3n);
    await a.rotation.confirm(3n, t3, mpk, signer);
    await assert.rejects(a.rotation.confirm(3n, t3, mpk, signer), isCode("ROTATION_ALREADY_CONFIRMED"));
    await assert.rejects(
      b.rotation.confirm(3n, hash32(9), mpk, signer),
      isCode("ROTATION_TRANSCRIPT_MISMATCH"),
    );
    // Governance aborts epoch 3: epoch 2 stays in force.
    await assert.rejects(new RotationClient(t.as(1)).abort(), isCode("NOT_OWNER"));
    await new RotationClient(t.as(0)).abort();
    assert.equal(await t.reader.epoch(), 2n);
    assert.equal(await a.rotation.keyTrafficOpen(), true);
  });

  test("a provisioning request of the ended epoch is refused when replayed", async () => {
    await assert.rejects(a.service.provision(usedRequest), (err: unknown) => {
      assert.ok(err instanceof VeilError);
      assert.ok(["PROVISION_REPLAYED", "PROVISION_STALE"].includes(err.code), err.code);
      return true;
    });
  });

  test("workers re-wrap agent roots; addresses, secrets and state read back; the ended key opens nothing new", async () => {
    const response = await a.service.provision(
      await signProvisionRequest(t.reader, worker.identity, worker.evidence),
    );
    assert.equal(response.epoch, "2");
    const server = createGatekeeperServer(a.service, () => ({}));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const grant2 = await requestClusterKey({
      url,
      chain: t.reader,
      identity: worker.identity,
      evidence: worker.evidence,
    });
    server.close();
    assert.equal(grant2.epoch, 2n);

    const before = await t.reader.getAgentKeys(agentId);
    const { rewrapped } = await keyring.rotate(grant2, [agentId]);
    assert.equal(rewrapped, 1);
    assert.ok(
      grant1.clusterKey.every((x) => x === 0),
      "the worker wiped the ended cluster key",
    );
    const after = await t.reader.getAgentKeys(agentId);
    assert.equal(after.epoch, 2n);
    assert.equal(after.encryptionKey, before.encryptionKey);
    assert.equal(after.signingAddress, before.signingAddress);
    assert.notEqual(after.wrappedRoot, before.wrappedRoot);

    const me = await keyring.identity(agentId);
    assert.equal(me.address, agentAddress, "the agent's EVM address did not change");
    assert.equal(me.epoch, 2n);
    const secrets = await keyring.secrets(agentId, (name, err) => assert.fail(`${name}: ${err}`));
    assert.deepEqual(secrets, { API_KEY: "s3cret" });
    const state = new EncryptedAgentState(stateStore, agentId, me.keys.stateKey);
    assert.equal(new TextDecoder().decode(await state.get("counter")), "41");

    // The ended epoch's cluster key opens neither the new wrapped root nor derives the new key.
    for (const epoch of [1n, 2n]) {
      assert.throws(
        () => unwrapAgentRoot(oldClusterKey, hexToBytes(after.wrappedRoot), agentId, epoch),
        isCode("ENVELOPE_OPEN_FAILED"),
      );
    }
    assert.notDeepEqual(grant2.clusterKey, oldClusterKey);
    assert.notDeepEqual(deriveClusterKey(oldClusterKey, "default", 2n), grant2.clusterKey);
    // A worker still on epoch 1 could not use the re-wrapped record: it gets a retryable error.
    const stale = new AgentKeyring({
      chain: t.reader,
      operator: t.as(2),
      grant: { ...grant1, clusterKey: oldClusterKey },
    });
    await assert.rejects(stale.identity(agentId), (err: unknown) => {
      isCode("AGENT_KEYS_WRONG_EPOCH")(err);
      assert.equal((err as VeilError).retryable, true);
      return true;
    });
  });
});
