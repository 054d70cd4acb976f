import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { x25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { agentCertDigest, clusterCertDigest } from "../../src/chain/certificates.ts";
import type { AgentKeyRecord } from "../../src/chain/index.ts";
import {
  deriveClusterKey,
  deriveClusterSigningKey,
  openSecret,
  randomBytes,
  sealSecret,
  sealSecretEpoch,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import { masterPublicKeyHex, masterSigningAccount } from "../../src/gatekeeper/keys.ts";
import { verifyAgentIdentity } from "../../src/sdk/identity.ts";
import { hash32, startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
const master = randomBytes(32);
const clusterKey = deriveClusterKey(master, "default", 1n);
const clusterAccount = privateKeyToAccount(bytesToHex(deriveClusterSigningKey(clusterKey)));
let agentId: bigint;

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** A key record for `id`, certified by `clusterSigner` (a cluster key) under `masterSigner`. */
async function record(
  id: bigint,
  opts: {
    cluster?: ReturnType<typeof privateKeyToAccount>;
    masterAccount?: ReturnType<typeof privateKeyToAccount>;
    encryptionKey?: Hex;
  } = {},
): Promise<AgentKeyRecord> {
  const cluster = opts.cluster ?? clusterAccount;
  const masterAccount = opts.masterAccount ?? masterSigningAccount(master);
  const encryptionKey = opts.encryptionKey ?? hash32(0x42);
  const signingAddress = privateKeyToAccount(`0x${"77".repeat(32)}`).address;
  const clusterCert = await masterAccount.signMessage({
    message: {
      raw: clusterCertDigest({
        chainId: t.config.chainId,
        gatekeeperRegistry: t.config.contracts.gatekeeperRegistry,
        epoch: 1n,
        clusterId: "default",
        clusterSigner: cluster.address,
      }),
    },
  });
  const agentCert = await cluster.signMessage({
    message: {
      raw: agentCertDigest({
        chainId: t.config.chainId,
        agentRegistry: t.config.contracts.agentRegistry,
        id,
        epoch: 1n,
        encryptionKey,
        signingAddress,
      }),
    },
  });
  return {
    epoch: 1n,
    encryptionKey,
    signingAddress,
    clusterSigner: cluster.address,
    clusterCert,
    agentCert,
    wrappedRoot: "0x01",
  };
}

before(async () => {
  t = await startTestChain();
  await t.as(0).addGatekeeper(t.accounts[5]!.address, hash32(0x11), "http://127.0.0.1:2");
  await t.as(5).publishMasterPublicKey(masterPublicKeyHex(master), masterSigningAccount(master).address);
  agentId = (await t.as(1).registerAgent("keyed", hash32(1))).id;
});
after(async () => {
  await t?.close();
});

describe("AgentKeys", () => {
  test("keys certified by a key that is not the cluster's, or a cluster not certified by the master, are refused", async () => {
    const stranger = privateKeyToAccount(`0x${"99".repeat(32)}`);
    await rejectsWith(
      t
        .as(2)
        .setAgentKeys(
          agentId,
          "default",
          await record(agentId, { cluster: stranger, masterAccount: stranger }),
        ),
      "AGENT_CERT_INVALID",
    );
    const forgedAgentCert = {
      ...(await record(agentId)),
      agentCert: (await record(agentId, { cluster: stranger })).agentCert,
    };
    await rejectsWith(t.as(2).setAgentKeys(agentId, "default", forgedAgentCert), "AGENT_CERT_INVALID");
    assert.equal((await t.reader.getAgentKeys(agentId)).epoch, 0n, "nothing was recorded");
  });

  test("a certified record is accepted once, from anyone, and verifies up to the master key", async () => {
    await t.as(2).setAgentKeys(agentId, "default", await record(agentId));
    await rejectsWith(
      t.as(3).setAgentKeys(agentId, "default", await record(agentId)),
      "AGENT_KEYS_ALREADY_SET",
    );
    const identity = await verifyAgentIdentity(t.reader, agentId);
    assert.equal(identity.encryptionKey, hash32(0x42));
    assert.equal(identity.masterSigner, masterSigningAccount(master).address);
    assert.equal(identity.checks.length, 3);
  });

  test("only the owner sets or unsets secrets, with valid names and sizes", async () => {
    const clusterPublic = secp256k1.getPublicKey(deriveClusterSigningKey(clusterKey), true);
    const sealedFor = (epoch: bigint) =>
      bytesToHex(sealSecretEpoch(clusterPublic, epoch, agentId, "API_KEY", randomBytes(80)));
    const ct = sealedFor(1n);
    // A secret must name the current epoch (ADR 0013): not another, and not no epoch at all.
    await rejectsWith(t.as(1).setSecret(agentId, "API_KEY", sealedFor(2n)), "SECRET_EPOCH_STALE");
    await rejectsWith(
      t.as(1).setSecret(agentId, "API_KEY", bytesToHex(randomBytes(80))),
      "SECRET_EPOCH_STALE",
    );
    assert.deepEqual(await t.reader.secretNames(agentId), []);
    await rejectsWith(t.as(2).setSecret(agentId, "API_KEY", ct), "NOT_AGENT_OWNER");
    await rejectsWith(t.as(1).setSecret(agentId, "bad name", ct), "SECRET_NAME_INVALID");
    await rejectsWith(t.as(1).setSecret(agentId, "1ST", ct), "SECRET_NAME_INVALID");
    await rejectsWith(t.as(1).setSecret(agentId, "BIG", bytesToHex(randomBytes(5000))), "SECRET_TOO_LARGE");
    await t.as(1).setSecret(agentId, "API_KEY", ct);
    assert.deepEqual(await t.reader.secretNames(agentId), ["API_KEY"]);
    await rejectsWith(t.as(2).unsetSecret(agentId, "API_KEY"), "NOT_AGENT_OWNER");
    await rejectsWith(t.as(1).unsetSecret(agentId, "NOPE"), "SECRET_NOT_FOUND");
    await t.as(1).unsetSecret(agentId, "API_KEY");
    assert.deepEqual(await t.reader.secretNames(agentId), []);
  });

  test("a secret of an agent without keys is refused", async () => {
    const { id } = await t.as(1).registerAgent("keyless", hash32(2));
    await rejectsWith(t.as(1).setSecret(id, "X", "0x01"), "AGENT_KEYS_MISSING");
  });
});

test("a sealed secret opens only with the agent's key, for that agent and that name", () => {
  const agentPriv = randomBytes(32);
  const pub = x25519.getPublicKey(agentPriv);
  const ct = sealSecret(pub, 7n, "TOKEN", "value");
  assert.equal(openSecret(agentPriv, 7n, "TOKEN", ct), "value");
  assert.throws(
    () => openSecret(randomBytes(32), 7n, "TOKEN", ct),
    (e: unknown) => e instanceof VeilError,
  );
  assert.throws(
    () => openSecret(agentPriv, 8n, "TOKEN", ct),
    (e: unknown) => e instanceof VeilError,
  );
  assert.throws(
    () => openSecret(agentPriv, 7n, "OTHER", ct),
    (e: unknown) => e instanceof VeilError,
  );
});
