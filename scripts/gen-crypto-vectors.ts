/**
 * Generates test/crypto/vectors.json, the published test vectors of src/crypto.
 *
 *   node --import tsx scripts/gen-crypto-vectors.ts           # (re)write the file
 *   node --import tsx scripts/gen-crypto-vectors.ts --check   # exit 1 if the file is stale
 *
 * The vectors are a compatibility promise: once published they change only with a new label
 * version. The script first checks the primitives against their external vectors (RFC 5869,
 * RFC 7748, draft-irtf-cfrg-xchacha-03) and refuses to write if any disagrees, so the Veil
 * vectors rest on external truth and not only on this code.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { lengthPrefixed, u64be } from "../src/crypto/bytes.ts";
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
  keccak256,
  LABELS,
  seal,
  sha256,
  signDigest,
  toHex,
  utf8,
  wrap,
  x25519PublicKey,
} from "../src/crypto/index.ts";

const OUT = fileURLToPath(new URL("../test/crypto/vectors.json", import.meta.url));

/** A fixed, random-looking input: sha256("veil test vector: " + name), truncated to n bytes. */
const input = (name: string, n = 32) => sha256(utf8(`veil test vector: ${name}`)).slice(0, n);

/** The test-only randomness hook: hands out exactly the given chunks, in order. */
function scripted(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  return (n) => {
    const next = chunks.shift();
    assert.ok(next && next.length === n, `scripted randomness: wanted ${n} bytes`);
    return next;
  };
}

// ---------------------------------------------------------------------------------------------
// External vectors, copied from their documents; the primitives must reproduce them.

const external = {
  hkdfSha256: [
    {
      source: "RFC 5869, A.1 (test case 1)",
      ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      salt: "000102030405060708090a0b0c",
      info: "f0f1f2f3f4f5f6f7f8f9",
      length: 42,
      okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    {
      // Veil's derivations pass no salt, which RFC 5869 defines as this case.
      source: "RFC 5869, A.3 (test case 3: no salt, no info)",
      ikm: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      salt: "",
      info: "",
      length: 42,
      okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    },
  ],
  x25519: [
    {
      source: "RFC 7748, 5.2 (first vector)",
      scalar: "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
      u: "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
      output: "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    },
  ],
  x25519DiffieHellman: [
    {
      source: "RFC 7748, 6.1",
      alicePrivate: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
      alicePublic: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
      bobPrivate: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
      bobPublic: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
      shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    },
  ],
  xchacha20poly1305: [
    {
      source: "draft-irtf-cfrg-xchacha-03, A.3.1",
      key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
      nonce: "404142434445464748494a4b4c4d4e4f5051525354555657",
      aad: "50515253c0c1c2c3c4c5c6c7",
      plaintext: toHex(
        utf8(
          "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
        ),
      ),
      ciphertextAndTag:
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
        "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
        "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
        "21f9664c97637da9768812f615c68b13b52e" +
        "c0875924c1c7987947deafd8780acf49",
    },
  ],
};

for (const v of external.hkdfSha256) {
  assert.equal(toHex(hkdf(fromHex(v.ikm), fromHex(v.salt), fromHex(v.info), v.length)), v.okm, v.source);
}
for (const v of external.x25519) {
  assert.equal(toHex(x25519.scalarMult(fromHex(v.scalar), fromHex(v.u))), v.output, v.source);
}
for (const v of external.x25519DiffieHellman) {
  assert.equal(toHex(x25519PublicKey(fromHex(v.alicePrivate))), v.alicePublic, v.source);
  assert.equal(toHex(x25519PublicKey(fromHex(v.bobPrivate))), v.bobPublic, v.source);
  assert.equal(toHex(x25519.getSharedSecret(fromHex(v.alicePrivate), fromHex(v.bobPublic))), v.shared);
}
for (const v of external.xchacha20poly1305) {
  const cipher = xchacha20poly1305(fromHex(v.key), fromHex(v.nonce), fromHex(v.aad));
  assert.equal(toHex(cipher.encrypt(fromHex(v.plaintext))), v.ciphertextAndTag, v.source);
}

// ---------------------------------------------------------------------------------------------
// Veil's derivations.

const masterA = input("master key A");
const masterB = input("master key B");

const clusterCases: Array<{ masterKey: Uint8Array; clusterId: string; epoch: bigint }> = [
  { masterKey: masterA, clusterId: "cluster-1", epoch: 0n },
  { masterKey: masterA, clusterId: "cluster-1", epoch: 1n },
  { masterKey: masterA, clusterId: "cluster-2", epoch: 0n },
  { masterKey: masterB, clusterId: "cluster-1", epoch: 0n },
  { masterKey: masterA, clusterId: "", epoch: 2n ** 64n - 1n },
  { masterKey: masterA, clusterId: "grüße/✓", epoch: 42n },
];
const clusterKey = clusterCases.map((c) => ({
  masterKey: toHex(c.masterKey),
  clusterId: c.clusterId,
  epoch: c.epoch.toString(),
  info: toHex(concatBytes(utf8(LABELS.clusterKey), lengthPrefixed(c.clusterId), u64be(c.epoch))),
  clusterKey: toHex(deriveClusterKey(c.masterKey, c.clusterId, c.epoch)),
}));

const masterSigning = [masterA, masterB].map((masterKey) => {
  const publicKey = deriveMasterPublicKey(masterKey);
  return {
    masterKey: toHex(masterKey),
    privateKey: toHex(deriveMasterSigningKey(masterKey)),
    publicKey: toHex(publicKey),
    address: ethAddressFromPublicKey(publicKey),
  };
});

const clusterSigning = [clusterKey[0]!, clusterKey[1]!].map((c) => {
  const privateKey = deriveClusterSigningKey(fromHex(c.clusterKey));
  const publicKey = secp256k1.getPublicKey(privateKey, true);
  return {
    clusterKey: c.clusterKey,
    privateKey: toHex(privateKey),
    publicKey: toHex(publicKey),
    address: ethAddressFromPublicKey(publicKey),
  };
});

const agentRoots = [input("agent root A"), input("agent root B")];
const agentKeys = agentRoots.map((agentRoot) => {
  const k = deriveAgentKeys(agentRoot);
  return {
    agentRoot: toHex(agentRoot),
    encryption: { privateKey: toHex(k.encryption.privateKey), publicKey: toHex(k.encryption.publicKey) },
    signing: {
      privateKey: toHex(k.signing.privateKey),
      publicKey: toHex(k.signing.publicKey),
      address: ethAddressFromPublicKey(k.signing.publicKey),
    },
    stateKey: toHex(k.stateKey),
    secretsKey: toHex(k.secretsKey),
  };
});

// ---------------------------------------------------------------------------------------------
// Envelopes.

const agentA = deriveAgentKeys(agentRoots[0]!);
const sealCases: Array<{
  recipientPrivateKey: Uint8Array;
  label: string;
  aad?: Uint8Array;
  plaintext: Uint8Array;
}> = [
  {
    // The recipient is RFC 7748's Bob, so the X25519 step can be followed in the RFC.
    recipientPrivateKey: fromHex(external.x25519DiffieHellman[0]!.bobPrivate),
    label: "cluster-key",
    plaintext: fromHex(clusterKey[0]!.clusterKey),
  },
  {
    recipientPrivateKey: agentA.encryption.privateKey,
    label: "secret",
    aad: utf8("secret|7|OPENAI_API_KEY"),
    plaintext: utf8("sk-test-not-a-real-key"),
  },
  { recipientPrivateKey: agentA.encryption.privateKey, label: "empty", plaintext: new Uint8Array(0) },
  {
    recipientPrivateKey: input("worker identity key"),
    label: "cluster-key",
    aad: utf8("cluster-1|0"),
    plaintext: Uint8Array.from({ length: 100 }, (_, i) => i),
  },
];
const sealVectors = sealCases.map((c, i) => {
  const recipientPublicKey = x25519PublicKey(c.recipientPrivateKey);
  const ephemeralPrivateKey = input(`seal ${i} ephemeral key`);
  const nonce = input(`seal ${i} nonce`, 24);
  const ephemeralPublicKey = x25519PublicKey(ephemeralPrivateKey);
  const sharedSecret = x25519.getSharedSecret(ephemeralPrivateKey, recipientPublicKey);
  const salt = concatBytes(ephemeralPublicKey, recipientPublicKey);
  const info = utf8(LABELS.envelopePrefix + c.label);
  const envelope = seal(recipientPublicKey, c.plaintext, {
    label: c.label,
    ...(c.aad ? { aad: c.aad } : {}),
    random: scripted(ephemeralPrivateKey, nonce),
  });
  return {
    recipientPrivateKey: toHex(c.recipientPrivateKey),
    recipientPublicKey: toHex(recipientPublicKey),
    label: c.label,
    aad: c.aad ? toHex(c.aad) : null,
    plaintext: toHex(c.plaintext),
    ephemeralPrivateKey: toHex(ephemeralPrivateKey),
    nonce: toHex(nonce),
    ephemeralPublicKey: toHex(ephemeralPublicKey),
    sharedSecret: toHex(sharedSecret),
    hkdfSalt: toHex(salt),
    hkdfInfo: toHex(info),
    key: toHex(hkdf(sharedSecret, salt, info, 32)),
    envelope: toHex(envelope),
  };
});

const wrapCases: Array<{ key: Uint8Array; label: string; aad?: Uint8Array; plaintext: Uint8Array }> = [
  {
    key: fromHex(clusterKey[0]!.clusterKey),
    label: "agent-root",
    aad: utf8("agent-root|7|0"),
    plaintext: agentRoots[0]!,
  },
  { key: agentA.stateKey, label: "state", plaintext: utf8('{"counter":1}') },
  { key: agentA.stateKey, label: "empty", plaintext: new Uint8Array(0) },
];
const wrapVectors = wrapCases.map((c, i) => {
  const nonce = input(`wrap ${i} nonce`, 24);
  const info = utf8(LABELS.wrapPrefix + c.label);
  return {
    key: toHex(c.key),
    label: c.label,
    aad: c.aad ? toHex(c.aad) : null,
    plaintext: toHex(c.plaintext),
    nonce: toHex(nonce),
    hkdfInfo: toHex(info),
    derivedKey: toHex(hkdf(c.key, undefined, info, 32)),
    wrapped: toHex(
      wrap(c.key, c.plaintext, {
        label: c.label,
        ...(c.aad ? { aad: c.aad } : {}),
        random: scripted(nonce),
      }),
    ),
  };
});

// ---------------------------------------------------------------------------------------------
// Signatures (r ‖ s ‖ v, v = 27/28).

const signCases = [
  { privateKey: deriveMasterSigningKey(masterA), digest: keccak256(utf8("veil")) },
  { privateKey: agentA.signing.privateKey, digest: keccak256(utf8("agent 7 certifies this")) },
  // The well-known private key 1, whose address anyone can check.
  { privateKey: fromHex(`${"00".repeat(31)}01`), digest: sha256(utf8("veil")) },
  { privateKey: deriveAgentKeys(agentRoots[1]!).signing.privateKey, digest: keccak256(utf8("v = 28")) },
];
const signVectors = signCases.map((c) => {
  const signature = signDigest(c.privateKey, c.digest);
  const publicKey = recoverCompressed(signature, c.digest);
  return {
    privateKey: toHex(c.privateKey),
    digest: toHex(c.digest),
    signature: toHex(signature),
    publicKey: toHex(publicKey),
    address: ethAddressFromPublicKey(publicKey),
  };
});

/** The signer's compressed key, recovered the way ecrecover does (v - 27 is the recovery bit). */
// Both recovery ids must be covered, since v is where Ethereum encodings most often go wrong.
assert.deepEqual(new Set(signVectors.map((v) => v.signature.slice(-2))), new Set(["1b", "1c"]));

function recoverCompressed(signature: Uint8Array, digest: Uint8Array): Uint8Array {
  const recovered = concatBytes(Uint8Array.of(signature[64]! - 27), signature.subarray(0, 64));
  return secp256k1.recoverPublicKey(recovered, digest, { prehash: false });
}

// ---------------------------------------------------------------------------------------------

const vectors = {
  description:
    "Published test vectors of Veil's crypto component (src/crypto). All byte strings are lower-case hex without 0x; epochs are decimal strings. Inputs are sha256('veil test vector: <name>') unless stated. Regenerate with: node --import tsx scripts/gen-crypto-vectors.ts",
  labels: LABELS,
  external,
  clusterKey,
  masterSigning,
  clusterSigning,
  agentKeys,
  seal: sealVectors,
  wrap: wrapVectors,
  signDigest: signVectors,
};

const text = `${JSON.stringify(vectors, null, 2)}\n`;
if (process.argv.includes("--check")) {
  const current = JSON.parse(readFileSync(OUT, "utf8")) as unknown;
  try {
    assert.deepEqual(current, JSON.parse(text));
  } catch {
    console.error(`${OUT} is stale: the code no longer produces the published vectors.`);
    process.exit(1);
  }
  console.log(`${OUT} is current.`);
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}`);
}
