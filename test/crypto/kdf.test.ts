import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import {
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveMasterPublicKey,
  deriveMasterSigningKey,
  fromHex,
  hkdf,
  LABELS,
  randomBytes,
  toHex,
  utf8,
  x25519PublicKey,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

const isCode = (code: string) => (err: unknown) => err instanceof VeilError && err.code === code;
const master = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

describe("labels", () => {
  test("every label is distinct, versioned and under veil/v1/", () => {
    const labels = Object.values(LABELS);
    assert.equal(new Set(labels).size, labels.length);
    for (const label of labels) assert.match(label, /^veil\/v1\//);
  });

  test("the labels named in the specification", () => {
    assert.equal(LABELS.clusterKey, "veil/v1/cluster-key");
    assert.equal(LABELS.agentEncryption, "veil/v1/agent/encryption");
    assert.equal(LABELS.agentSigning, "veil/v1/agent/signing");
    assert.equal(LABELS.agentState, "veil/v1/agent/state");
    assert.equal(LABELS.agentSecrets, "veil/v1/agent/secrets");
    assert.equal(LABELS.masterSigning, "veil/v1/master/signing");
    assert.equal(LABELS.envelopePrefix, "veil/v1/envelope/");
  });

  test("different labels give different keys from the same input", () => {
    const ikm = randomBytes(32);
    const keys = Object.values(LABELS).map((label) => toHex(hkdf(ikm, undefined, utf8(label), 32)));
    assert.equal(new Set(keys).size, keys.length);
  });
});

describe("deriveClusterKey", () => {
  test("is deterministic and 32 bytes", () => {
    const a = deriveClusterKey(master, "cluster-1", 3n);
    assert.equal(a.length, 32);
    assert.deepEqual(deriveClusterKey(master, "cluster-1", 3n), a);
    assert.deepEqual(deriveClusterKey(master, "cluster-1", 3), a, "number and bigint epochs agree");
  });

  test("differs per epoch, per cluster and per master key", () => {
    const keys = new Set<string>();
    for (const m of [master, randomBytes(32)])
      for (const cluster of ["cluster-1", "cluster-2", "cluster-10", ""])
        for (const epoch of [0n, 1n, 2n, 256n, 2n ** 64n - 1n])
          keys.add(toHex(deriveClusterKey(m, cluster, epoch)));
    assert.equal(keys.size, 2 * 4 * 5);
  });

  test("the length prefix keeps cluster ids and epochs from running into each other", () => {
    // Without a length prefix "a" + epoch 0x62… and "ab" + … could share an info string.
    assert.notDeepEqual(deriveClusterKey(master, "a", 0n), deriveClusterKey(master, "a\u0000", 0n));
    assert.notDeepEqual(deriveClusterKey(master, "a", 0n), deriveClusterKey(master, "", 0n));
  });

  test("is not any other derivation of the same master key", () => {
    const cluster = toHex(deriveClusterKey(master, "cluster-1", 0n));
    assert.notEqual(cluster, toHex(deriveMasterSigningKey(master)));
    assert.notEqual(cluster, toHex(hkdf(master, undefined, utf8(LABELS.clusterKey), 32)));
  });

  test("refuses epochs outside [0, 2^64) and keys that are not 32 bytes", () => {
    for (const epoch of [-1n, 2n ** 64n, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      assert.throws(() => deriveClusterKey(master, "c", epoch), isCode("BAD_ARGUMENT"), String(epoch));
    }
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      assert.throws(() => deriveClusterKey(bad, "c", 0n), isCode("KEY_INVALID"));
    }
  });
});

describe("signing keys from the master and cluster keys", () => {
  test("the master public key is the public half of the master signing key", () => {
    const priv = deriveMasterSigningKey(master);
    assert.ok(secp256k1.utils.isValidSecretKey(priv));
    const pub = deriveMasterPublicKey(master);
    assert.equal(pub.length, 33);
    assert.ok(pub[0] === 0x02 || pub[0] === 0x03, "compressed");
    assert.deepEqual(pub, secp256k1.getPublicKey(priv, true));
  });

  test("master, cluster and agent signing keys are all different", () => {
    const cluster = deriveClusterKey(master, "cluster-1", 0n);
    const keys = [
      deriveMasterSigningKey(master),
      deriveClusterSigningKey(cluster),
      deriveClusterSigningKey(deriveClusterKey(master, "cluster-1", 1n)),
      deriveAgentKeys(master).signing.privateKey,
    ].map(toHex);
    assert.equal(new Set(keys).size, keys.length);
  });

  test("the master signing key differs per epoch's master key", () => {
    assert.notDeepEqual(deriveMasterPublicKey(master), deriveMasterPublicKey(randomBytes(32)));
  });
});

describe("deriveAgentKeys", () => {
  test("derives valid, distinct keys of the right sizes", () => {
    for (let i = 0; i < 50; i++) {
      const k = deriveAgentKeys(randomBytes(32));
      assert.equal(k.encryption.privateKey.length, 32);
      assert.deepEqual(k.encryption.publicKey, x25519PublicKey(k.encryption.privateKey));
      assert.ok(secp256k1.utils.isValidSecretKey(k.signing.privateKey));
      assert.deepEqual(k.signing.publicKey, secp256k1.getPublicKey(k.signing.privateKey, true));
      assert.equal(k.stateKey.length, 32);
      assert.equal(k.secretsKey.length, 32);
      const secrets = [k.encryption.privateKey, k.signing.privateKey, k.stateKey, k.secretsKey].map(toHex);
      assert.equal(new Set(secrets).size, 4);
    }
  });

  test("is deterministic in the root, and different roots give different keys", () => {
    const root = randomBytes(32);
    assert.deepEqual(deriveAgentKeys(root), deriveAgentKeys(root));
    const other = deriveAgentKeys(randomBytes(32));
    assert.notDeepEqual(deriveAgentKeys(root).stateKey, other.stateKey);
  });

  test("each key is HKDF(root) under its own label", () => {
    const root = randomBytes(32);
    const k = deriveAgentKeys(root);
    const expand = (label: string) => hkdf(root, undefined, utf8(label), 32);
    assert.deepEqual(k.encryption.privateKey, expand("veil/v1/agent/encryption"));
    assert.deepEqual(k.stateKey, expand("veil/v1/agent/state"));
    assert.deepEqual(k.secretsKey, expand("veil/v1/agent/secrets"));
  });

  test("refuses a root that is not 32 bytes", () => {
    assert.throws(() => deriveAgentKeys(new Uint8Array(16)), isCode("KEY_INVALID"));
  });
});
