import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, createWalletClient, type Hex, hexToBytes, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { RotationClient, RotationState, TeeType, VeilChain } from "../../src/chain/index.ts";
import {
  deriveAgentEpochKey,
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveEpochStateKey,
  epochOfValue,
  openAgentSecret,
  openEpochState,
  randomBytes,
  sealAgentSecret,
  sealContribution,
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
import { verifyAgentIdentity } from "../../src/sdk/identity.ts";
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
  storeDir: string;
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
  const storeDir = tmp();
  return {
    identity,
    enclave,
    chain,
    rotation: new RotationClient(chain),
    store: new MasterKeyStore(enclave, storeDir),
    storeDir,
    service,
  };
}

/** A gatekeeper process that crashed and started again: nothing in memory, its disk as it was. */
function restarted(g: Gk): Gk {
  const chain = new VeilChain(t.config, { account: g.identity.account, pollingIntervalMs: 50 });
  return {
    ...g,
    chain,
    rotation: new RotationClient(chain),
    store: new MasterKeyStore(g.enclave, g.storeDir),
    service: new GatekeeperService({ chain, identity: g.identity, clusterId: "default" }),
  };
}

/** The worker asks `g` for the cluster key of the current epoch. */
async function provisionFrom(g: Gk): Promise<ClusterKeyGrant> {
  const server = createGatekeeperServer(g.service, () => ({}));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return await requestClusterKey({
      url,
      chain: t.reader,
      identity: worker.identity,
      evidence: worker.evidence,
    });
  } finally {
    server.close();
  }
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
/** A copy of the epoch-2 grant, for a second worker that lags behind in the next rotation. */
let grant2Copy: ClusterKeyGrant;
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
  await t.as(2).registerWorker({ ...reg, signature: await identity.account.sign({ hash: digest }) });
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
  keyring = new AgentKeyring({ chain: t.reader, operator: t.as(2), grant: grant1, stateStore });
  const me = await keyring.identity(agentId);
  agentAddress = me.address;
  await setSecretAsOwner("API_KEY", "s3cret");
  await new EncryptedAgentState(stateStore, agentId, keyring.stateKeys(agentId, me)).put(
    "counter",
    utf8("41"),
  );
});

/** What `veil secrets set` does: check the agent's certificate chain, seal on the client. */
async function setSecretAsOwner(name: string, value: string): Promise<void> {
  const who = await verifyAgentIdentity(t.reader, agentId);
  const sealed = sealAgentSecret(
    {
      agentEncryptionKey: hexToBytes(who.encryptionKey),
      clusterSigningPublicKey: hexToBytes(who.clusterSigningPublicKey),
      epoch: who.epoch,
    },
    agentId,
    name,
    value,
  );
  await t.as(1).setSecret(agentId, name, bytesToHex(sealed));
}

after(async () => {
  stateStore.close?.();
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("key rotation", () => {
  test("workers that load a new agent at once agree on its keys: the second write is not an error", async () => {
    // Both see no keys, both make a root; the transaction mined second reverts. Each worker
    // must end up with the keys on chain, not fail the agent's load.
    const id = (await t.as(1).registerAgent("raced", hash32(8))).id;
    const a = new AgentKeyring({ chain: t.reader, operator: t.as(2), grant: grant1 });
    const b = new AgentKeyring({ chain: t.reader, operator: t.as(3), grant: grant1 });
    const [ka, kb] = await Promise.all([a.identity(id), b.identity(id)]);
    assert.equal(ka.address, kb.address);
    assert.equal((await t.reader.getAgentKeys(id)).signingAddress, ka.address);
  });

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

    grant2Copy = {
      ...grant2,
      clusterKey: new Uint8Array(grant2.clusterKey),
      clusterSigningKey: new Uint8Array(grant2.clusterSigningKey),
    };
    const before = await t.reader.getAgentKeys(agentId);
    // While still on epoch 1, an owner's secret sealed to the ended epoch is refused by the chain
    // once the chain is on epoch 2 (the agent's record lags until a worker re-wraps it).
    await assert.rejects(setSecretAsOwner("LATE", "x"), isCode("SECRET_EPOCH_STALE"));
    const result = await keyring.rotate(grant2, [agentId]);
    assert.equal(result.rewrapped, 1);
    assert.equal(result.resealed, 1, "the secret's epoch layer is re-sealed to epoch 2");
    assert.equal(result.reencrypted, 1, "the state entry is re-encrypted to epoch 2");
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
    assert.equal(epochOfValue(hexToBytes(await t.reader.getSecret(agentId, "API_KEY"))), 2n);
    const secrets = await keyring.secrets(agentId, (name, err) => assert.fail(`${name}: ${err}`));
    assert.deepEqual(secrets, { API_KEY: "s3cret" }, "a secret written before the rotation reads back");
    const state = new EncryptedAgentState(stateStore, agentId, keyring.stateKeys(agentId, me));
    assert.equal(new TextDecoder().decode(await state.get("counter")), "41", "and so does state");

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

  test("a key of an ended epoch cannot open anything written after the rotation", async () => {
    // Written in epoch 2: a new state entry by the agent, a new secret by its owner.
    const me = await keyring.identity(agentId);
    const state = new EncryptedAgentState(stateStore, agentId, keyring.stateKeys(agentId, me));
    await state.put("fresh", utf8("written in epoch 2"));
    await setSecretAsOwner("NEW_TOKEN", "epoch-2-secret");
    assert.deepEqual(await keyring.secrets(agentId, (name, err) => assert.fail(`${name}: ${err}`)), {
      API_KEY: "s3cret",
      NEW_TOKEN: "epoch-2-secret",
    });
    assert.equal(new TextDecoder().decode(await state.get("fresh")), "written in epoch 2");

    // Whoever kept epoch 1's cluster key and read epoch 1's wrapped root (public on chain) holds
    // the agent root, and with it every root-derived key: the threat is real.
    const epoch1Record = await t.reader.public.getContractEvents({
      address: t.config.contracts.agentKeys,
      abi: (await import("../../src/chain/abi.ts")).agentKeysAbi,
      eventName: "AgentKeysSet",
      args: { id: agentId },
      fromBlock: 0n,
    });
    assert.ok(epoch1Record.length >= 2, "the chain's history holds the epoch-1 record");
    const tx = await t.reader.public.getTransaction({ hash: epoch1Record[0]!.transactionHash });
    const { decodeFunctionData } = await import("viem");
    const { args } = decodeFunctionData({
      abi: (await import("../../src/chain/abi.ts")).agentKeysAbi,
      data: tx.input,
    });
    const oldWrapped = (args as unknown as [bigint, string, { wrappedRoot: Hex; epoch: bigint }])[2];
    assert.equal(oldWrapped.epoch, 1n);
    const stolenRoot = unwrapAgentRoot(oldClusterKey, hexToBytes(oldWrapped.wrappedRoot), agentId, 1n);
    const stolen = deriveAgentKeys(stolenRoot);
    assert.equal(
      bytesToHex(stolen.encryption.publicKey),
      me.keys.encryption.publicKey.reduce((h, b) => h + b.toString(16).padStart(2, "0"), "0x"),
    );

    // Every state entry now on the worker (the re-encrypted one and the new one) is refused,
    // whichever epoch the thief tries to derive with the ended cluster key.
    const { rows } = await stateStore.rows(agentId.toString());
    assert.equal(rows.length, 2);
    for (const { row, value } of rows) {
      assert.equal(epochOfValue(value), 2n);
      for (const epoch of [1n, 2n]) {
        const key = deriveEpochStateKey(
          stolen.stateKey,
          deriveAgentEpochKey(oldClusterKey, agentId, epoch),
          agentId,
          epoch,
        );
        assert.throws(() => openEpochState(key, agentId, row, value), isCode("ENVELOPE_OPEN_FAILED"));
      }
    }
    // Every secret on chain (the re-sealed one and the new one) is refused too.
    const oldSigning = deriveClusterSigningKey(oldClusterKey);
    for (const name of ["API_KEY", "NEW_TOKEN"]) {
      const sealed = hexToBytes(await t.reader.getSecret(agentId, name));
      assert.throws(
        () =>
          openAgentSecret(
            { agentEncryptionPrivateKey: stolen.encryption.privateKey, clusterSigningKey: oldSigning },
            agentId,
            name,
            sealed,
          ),
        isCode("ENVELOPE_OPEN_FAILED"),
      );
    }
    // A re-seal signed by anyone but the current cluster signer is refused, and so is one that
    // names a ciphertext the owner has since replaced; neither changes the secret.
    const current = await t.reader.getSecret(agentId, "API_KEY");
    const forged = bytesToHex(
      sealAgentSecret(
        {
          agentEncryptionKey: me.keys.encryption.publicKey,
          clusterSigningPublicKey: secp256k1.getPublicKey(oldSigning, true),
          epoch: 2n,
        },
        agentId,
        "API_KEY",
        "attacker",
      ),
    );
    const { keccak256 } = await import("viem");
    const oldSigner = privateKeyToAccount(bytesToHex(oldSigning));
    const { secretResealDigest } = await import("../../src/chain/certificates.ts");
    const digest = (previousHash: Hex) =>
      secretResealDigest({
        chainId: t.config.chainId,
        agentKeys: t.config.contracts.agentKeys,
        id: agentId,
        name: "API_KEY",
        previousHash,
        ciphertext: forged,
      });
    await assert.rejects(
      t
        .as(3)
        .resealSecret(
          agentId,
          "API_KEY",
          keccak256(current),
          forged,
          await oldSigner.signMessage({ message: { raw: digest(keccak256(current)) } }),
        ),
      isCode("SECRET_RESEAL_UNAUTHORIZED"),
    );
    await assert.rejects(
      t
        .as(3)
        .resealSecret(
          agentId,
          "API_KEY",
          hash32(5),
          forged,
          await oldSigner.signMessage({ message: { raw: digest(hash32(5)) } }),
        ),
      isCode("SECRET_CHANGED"),
    );
    assert.equal(await t.reader.getSecret(agentId, "API_KEY"), current);
  });

  test("a gatekeeper crash in the middle of a rotation leaves the network able to finish or abort it cleanly", async () => {
    const miner = setInterval(() => void rpc("evm_mine"), 100);
    try {
      // Finish: A contributes to epoch 3, then crashes before deriving or confirming anything.
      await new RotationClient(t.as(0)).open([a.identity.address, b.identity.address]);
      const recipients = [a, b].map((g) => ({
        address: g.identity.address,
        encryptionKey: g.identity.encryptionPublicKey,
      }));
      await a.rotation.contribute(
        3n,
        bytesToHex(sealContribution(randomBytes(32), 3n, a.identity.address, recipients)),
      );
      const bDone = takePartInRotation({
        chain: b.chain,
        identity: b.identity,
        store: b.store,
        service: b.service,
        pollMs: 50,
      });
      // While A is down the rotation cannot complete, and workers get a retryable refusal.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await a.rotation.current()).state, RotationState.Open);
      await assert.rejects(provisionFrom(b), (err: unknown) => err instanceof VeilError && err.retryable);
      // A starts again with only its disk: it recovers its share from the chain and finishes.
      const a2 = restarted(a);
      const [ea, eb] = await Promise.all([
        takePartInRotation({
          chain: a2.chain,
          identity: a2.identity,
          store: a2.store,
          service: a2.service,
          pollMs: 50,
        }),
        bDone,
      ]);
      assert.equal(ea, 3n);
      assert.equal(eb, 3n);
      assert.equal((await a2.rotation.current()).state, RotationState.Completed);
      assert.deepEqual(await a2.store.load(3n), await b.store.load(3n), "both hold the same epoch-3 key");
      assert.equal(await a2.store.load(2n), undefined, "the restarted gatekeeper destroyed epoch 2's key");

      // Workers move on, with their agents' secrets and state intact.
      const grant3 = await provisionFrom(a2);
      assert.equal(grant3.epoch, 3n);
      // A second worker still on epoch 2, which knew the agent before, does not load it without
      // its secrets once they are re-sealed for epoch 3: it gets a retryable error instead.
      const lagging = new AgentKeyring({ chain: t.reader, operator: t.as(3), grant: grant2Copy });
      await lagging.identity(agentId);
      const moved = await keyring.rotate(grant3, [agentId]);
      await assert.rejects(
        lagging.secrets(agentId, (n, e) => assert.fail(`${n}: ${e}`)),
        (err: unknown) => isCode("AGENT_KEYS_WRONG_EPOCH")(err) && (err as VeilError).retryable,
      );
      assert.deepEqual([moved.rewrapped, moved.resealed, moved.reencrypted], [1, 2, 2]);
      const me = await keyring.identity(agentId);
      assert.equal(me.address, agentAddress);
      const state = new EncryptedAgentState(stateStore, agentId, keyring.stateKeys(agentId, me));
      assert.equal(new TextDecoder().decode(await state.get("counter")), "41");
      assert.deepEqual(await keyring.secrets(agentId, (n, e) => assert.fail(`${n}: ${e}`)), {
        API_KEY: "s3cret",
        NEW_TOKEN: "epoch-2-secret",
      });

      // Abort: C is elected for epoch 4 and crashes for good before contributing.
      await new RotationClient(t.as(0)).open([a.identity.address, c.identity.address]);
      const aWaiting = takePartInRotation({
        chain: a2.chain,
        identity: a2.identity,
        store: a2.store,
        service: a2.service,
        pollMs: 50,
      });
      for (;;) {
        if ((await a2.rotation.current()).contributions === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await assert.rejects(provisionFrom(a2), (err: unknown) => err instanceof VeilError && err.retryable);
      await new RotationClient(t.as(0)).abort();
      assert.equal(await aWaiting, undefined, "the waiting gatekeeper sees the abort and stops");
      assert.equal(await t.reader.epoch(), 3n, "epoch 3 stays in force");
      assert.equal(await a2.rotation.keyTrafficOpen(), true);
      const again = await provisionFrom(a2);
      assert.equal(again.epoch, 3n, "workers are provisioned again, on epoch 3");
      assert.equal((await keyring.identity(agentId)).epoch, 3n);
    } finally {
      clearInterval(miner);
    }
  });
});
