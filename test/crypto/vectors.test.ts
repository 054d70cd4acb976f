import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { type Hex, recoverAddress } from "viem";
import { sign as viemSign } from "viem/accounts";
import {
  concatBytes,
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveMasterPublicKey,
  deriveMasterSigningKey,
  ethAddressFromPublicKey,
  fromHex,
  hkdf,
  LABELS,
  open,
  seal,
  signDigest,
  toHex,
  unwrap,
  utf8,
  verifyDigest,
  wrap,
  x25519PublicKey,
} from "../../src/crypto/index.ts";

type Vectors = {
  labels: Record<string, string>;
  external: {
    hkdfSha256: { source: string; ikm: string; salt: string; info: string; length: number; okm: string }[];
    x25519: { source: string; scalar: string; u: string; output: string }[];
    x25519DiffieHellman: {
      source: string;
      alicePrivate: string;
      alicePublic: string;
      bobPrivate: string;
      bobPublic: string;
      shared: string;
    }[];
    xchacha20poly1305: {
      source: string;
      key: string;
      nonce: string;
      aad: string;
      plaintext: string;
      ciphertextAndTag: string;
    }[];
  };
  clusterKey: { masterKey: string; clusterId: string; epoch: string; info: string; clusterKey: string }[];
  masterSigning: { masterKey: string; privateKey: string; publicKey: string; address: string }[];
  clusterSigning: { clusterKey: string; privateKey: string; publicKey: string; address: string }[];
  agentKeys: {
    agentRoot: string;
    encryption: { privateKey: string; publicKey: string };
    signing: { privateKey: string; publicKey: string; address: string };
    stateKey: string;
    secretsKey: string;
  }[];
  seal: {
    recipientPrivateKey: string;
    recipientPublicKey: string;
    label: string;
    aad: string | null;
    plaintext: string;
    ephemeralPrivateKey: string;
    nonce: string;
    ephemeralPublicKey: string;
    sharedSecret: string;
    hkdfSalt: string;
    hkdfInfo: string;
    key: string;
    envelope: string;
  }[];
  wrap: {
    key: string;
    label: string;
    aad: string | null;
    plaintext: string;
    nonce: string;
    hkdfInfo: string;
    derivedKey: string;
    wrapped: string;
  }[];
  signDigest: { privateKey: string; digest: string; signature: string; publicKey: string; address: string }[];
};

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8")) as Vectors;

const h = fromHex;
const aadOf = (aad: string | null) => (aad === null ? {} : { aad: h(aad) });
/** The test-only randomness hook, handing out the vector's ephemeral key and nonce in order. */
const scripted = (...chunks: Uint8Array[]) => {
  return (n: number) => {
    const next = chunks.shift();
    assert.ok(next && next.length === n);
    return next;
  };
};

// node:crypto (OpenSSL) is an implementation independent of @noble, so agreeing with it anchors
// the envelope's key agreement and key derivation outside this code.
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
function opensslX25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const priv = createPrivateKey({
    key: { kty: "OKP", crv: "X25519", d: b64url(privateKey), x: b64url(x25519PublicKey(privateKey)) },
    format: "jwk",
  });
  const pub = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: b64url(publicKey) }, format: "jwk" });
  return new Uint8Array(diffieHellman({ privateKey: priv, publicKey: pub }));
}
const opensslHkdf = (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, n: number) =>
  new Uint8Array(hkdfSync("sha256", ikm, salt, info, n));

describe("external vectors", () => {
  test("HKDF-SHA256 reproduces RFC 5869 (test cases 1 and 3), as does OpenSSL", () => {
    for (const v of vectors.external.hkdfSha256) {
      assert.equal(toHex(hkdf(h(v.ikm), h(v.salt), h(v.info), v.length)), v.okm, v.source);
      assert.equal(toHex(opensslHkdf(h(v.ikm), h(v.salt), h(v.info), v.length)), v.okm, v.source);
    }
    // Veil passes no salt; RFC 5869 defines that as a zero-length salt.
    const noSalt = vectors.external.hkdfSha256[1]!;
    assert.equal(toHex(hkdf(h(noSalt.ikm), undefined, new Uint8Array(0), noSalt.length)), noSalt.okm);
  });

  test("X25519 reproduces RFC 7748 (5.2 and 6.1), as does OpenSSL", () => {
    for (const v of vectors.external.x25519) {
      assert.equal(toHex(x25519.scalarMult(h(v.scalar), h(v.u))), v.output, v.source);
    }
    for (const v of vectors.external.x25519DiffieHellman) {
      assert.equal(toHex(x25519PublicKey(h(v.alicePrivate))), v.alicePublic);
      assert.equal(toHex(x25519PublicKey(h(v.bobPrivate))), v.bobPublic);
      assert.equal(toHex(x25519.getSharedSecret(h(v.alicePrivate), h(v.bobPublic))), v.shared);
      assert.equal(toHex(x25519.getSharedSecret(h(v.bobPrivate), h(v.alicePublic))), v.shared);
      assert.equal(toHex(opensslX25519(h(v.alicePrivate), h(v.bobPublic))), v.shared);
    }
  });

  test("XChaCha20-Poly1305 reproduces draft-irtf-cfrg-xchacha-03 A.3.1", () => {
    for (const v of vectors.external.xchacha20poly1305) {
      const cipher = () => xchacha20poly1305(h(v.key), h(v.nonce), h(v.aad));
      assert.equal(toHex(cipher().encrypt(h(v.plaintext))), v.ciphertextAndTag, v.source);
      assert.equal(toHex(cipher().decrypt(h(v.ciphertextAndTag))), v.plaintext);
    }
  });
});

describe("Veil vectors", () => {
  test("the labels are the published ones", () => {
    for (const [name, label] of Object.entries(vectors.labels)) {
      assert.equal((LABELS as Record<string, string>)[name], label, name);
    }
  });

  test("cluster keys", () => {
    assert.ok(vectors.clusterKey.length >= 6);
    for (const v of vectors.clusterKey) {
      const masterKey = h(v.masterKey);
      const epoch = BigInt(v.epoch);
      assert.equal(toHex(deriveClusterKey(masterKey, v.clusterId, epoch)), v.clusterKey);
      // The key is HKDF(master, no salt, info) with the published info bytes.
      assert.equal(toHex(opensslHkdf(masterKey, new Uint8Array(0), h(v.info), 32)), v.clusterKey);
      if (epoch <= BigInt(Number.MAX_SAFE_INTEGER)) {
        assert.equal(toHex(deriveClusterKey(masterKey, v.clusterId, Number(epoch))), v.clusterKey);
      }
    }
  });

  test("the cluster key's info is label ‖ u32be(len) ‖ clusterId ‖ u64be(epoch)", () => {
    const v = vectors.clusterKey.find((c) => c.clusterId === "cluster-1" && c.epoch === "1")!;
    const expected = concatBytes(
      utf8("veil/v1/cluster-key"),
      Uint8Array.of(0, 0, 0, 9),
      utf8("cluster-1"),
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1),
    );
    assert.equal(v.info, toHex(expected));
  });

  test("master and cluster signing keys", () => {
    for (const v of vectors.masterSigning) {
      assert.equal(toHex(deriveMasterSigningKey(h(v.masterKey))), v.privateKey);
      assert.equal(toHex(deriveMasterPublicKey(h(v.masterKey))), v.publicKey);
      assert.equal(ethAddressFromPublicKey(h(v.publicKey)), v.address);
    }
    for (const v of vectors.clusterSigning) {
      assert.equal(toHex(deriveClusterSigningKey(h(v.clusterKey))), v.privateKey);
      assert.equal(ethAddressFromPublicKey(h(v.publicKey)), v.address);
    }
  });

  test("agent keys", () => {
    for (const v of vectors.agentKeys) {
      const k = deriveAgentKeys(h(v.agentRoot));
      assert.equal(toHex(k.encryption.privateKey), v.encryption.privateKey);
      assert.equal(toHex(k.encryption.publicKey), v.encryption.publicKey);
      assert.equal(toHex(k.signing.privateKey), v.signing.privateKey);
      assert.equal(toHex(k.signing.publicKey), v.signing.publicKey);
      assert.equal(ethAddressFromPublicKey(k.signing.publicKey), v.signing.address);
      assert.equal(toHex(k.stateKey), v.stateKey);
      assert.equal(toHex(k.secretsKey), v.secretsKey);
    }
  });

  test("seal produces the published envelopes, and open opens them", () => {
    for (const v of vectors.seal) {
      const options = { label: v.label, ...aadOf(v.aad) };
      const envelope = seal(h(v.recipientPublicKey), h(v.plaintext), {
        ...options,
        random: scripted(h(v.ephemeralPrivateKey), h(v.nonce)),
      });
      assert.equal(toHex(envelope), v.envelope);
      assert.equal(toHex(open(h(v.recipientPrivateKey), h(v.envelope), options)), v.plaintext);
    }
  });

  test("the envelope follows its specification step by step (X25519 and HKDF via OpenSSL)", () => {
    for (const v of vectors.seal) {
      assert.equal(toHex(x25519PublicKey(h(v.ephemeralPrivateKey))), v.ephemeralPublicKey);
      const shared = opensslX25519(h(v.ephemeralPrivateKey), h(v.recipientPublicKey));
      assert.equal(toHex(shared), v.sharedSecret);
      assert.equal(toHex(opensslX25519(h(v.recipientPrivateKey), h(v.ephemeralPublicKey))), v.sharedSecret);
      assert.equal(v.hkdfSalt, v.ephemeralPublicKey + v.recipientPublicKey);
      assert.equal(v.hkdfInfo, toHex(utf8(`veil/v1/envelope/${v.label}`)));
      assert.equal(toHex(opensslHkdf(shared, h(v.hkdfSalt), h(v.hkdfInfo), 32)), v.key);
      const aad = v.aad === null ? undefined : h(v.aad);
      const ct = xchacha20poly1305(h(v.key), h(v.nonce), aad).encrypt(h(v.plaintext));
      assert.equal(v.envelope, `01${v.ephemeralPublicKey}${v.nonce}${toHex(ct)}`);
    }
  });

  test("wrap produces the published values, and unwrap opens them", () => {
    for (const v of vectors.wrap) {
      const options = { label: v.label, ...aadOf(v.aad) };
      const wrapped = wrap(h(v.key), h(v.plaintext), { ...options, random: scripted(h(v.nonce)) });
      assert.equal(toHex(wrapped), v.wrapped);
      assert.equal(toHex(unwrap(h(v.key), h(v.wrapped), options)), v.plaintext);
      // Step by step: key = HKDF(key, no salt, "veil/v1/wrap/" + label), then XChaCha20-Poly1305.
      assert.equal(v.hkdfInfo, toHex(utf8(`veil/v1/wrap/${v.label}`)));
      assert.equal(toHex(opensslHkdf(h(v.key), new Uint8Array(0), h(v.hkdfInfo), 32)), v.derivedKey);
      const aad = v.aad === null ? undefined : h(v.aad);
      const ct = xchacha20poly1305(h(v.derivedKey), h(v.nonce), aad).encrypt(h(v.plaintext));
      assert.equal(v.wrapped, `01${v.nonce}${toHex(ct)}`);
    }
  });

  test("signatures match the vectors, viem's sign() byte for byte, and ecrecover", async () => {
    const vs = new Set<string>();
    for (const v of vectors.signDigest) {
      const signature = signDigest(h(v.privateKey), h(v.digest));
      assert.equal(toHex(signature), v.signature);
      assert.ok(verifyDigest(h(v.publicKey), h(v.digest), signature));
      const fromViem = await viemSign({
        hash: `0x${v.digest}`,
        privateKey: `0x${v.privateKey}`,
        to: "hex",
      });
      assert.equal(fromViem, `0x${v.signature}`);
      const recovered = await recoverAddress({ hash: `0x${v.digest}`, signature: `0x${v.signature}` as Hex });
      assert.equal(recovered, v.address);
      vs.add(v.signature.slice(-2));
    }
    assert.deepEqual(vs, new Set(["1b", "1c"]));
    // The secp256k1 private key 1 has a well-known address.
    const one = vectors.signDigest.find((v) => v.privateKey.endsWith(`${"0".repeat(62)}01`))!;
    assert.equal(one.address, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
  });
});
