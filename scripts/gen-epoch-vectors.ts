/**
 * Writes the "epoch" section of test/crypto/vectors.json: the epoch-bound data keys and
 * envelopes of ADR 0013 (src/crypto/epoch.ts). Other sections are left as they are.
 *
 *   node --import tsx scripts/gen-epoch-vectors.ts           # (re)write the section
 *   node --import tsx scripts/gen-epoch-vectors.ts --check   # exit 1 if the section is stale
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import {
  deriveAgentEpochKey,
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveEpochStateKey,
  sealEpochState,
  sealSecretEpoch,
  sha256,
  toHex,
  utf8,
} from "../src/crypto/index.ts";

const OUT = fileURLToPath(new URL("../test/crypto/vectors.json", import.meta.url));
const input = (name: string, n = 32) => sha256(utf8(`veil test vector: ${name}`)).slice(0, n);
function scripted(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  return (n) => {
    const next = chunks.shift();
    assert.ok(next && next.length === n, `scripted randomness: wanted ${n} bytes`);
    return next;
  };
}

const master = input("epoch master");
const cases = [
  { agentId: 7n, epoch: 1n },
  { agentId: 7n, epoch: 2n },
  { agentId: 123456789n, epoch: 2n },
];
const keys = cases.map((c, i) => {
  const clusterKey = deriveClusterKey(master, "default", c.epoch);
  const root = input(`epoch agent root ${c.agentId}`);
  const stateKey = deriveAgentKeys(root).stateKey;
  const agentEpochKey = deriveAgentEpochKey(clusterKey, c.agentId, c.epoch);
  const epochStateKey = deriveEpochStateKey(stateKey, agentEpochKey, c.agentId, c.epoch);
  const row = toHex(input(`epoch row ${i}`));
  const plaintext = utf8(`state entry ${i}`);
  const nonce = input(`epoch state nonce ${i}`, 24);
  const clusterSigningKey = deriveClusterSigningKey(clusterKey);
  const inner = input(`epoch secret inner ${i}`, 48);
  const ephemeral = input(`epoch secret ephemeral ${i}`);
  const secretNonce = input(`epoch secret nonce ${i}`, 24);
  const name = `SECRET_${i}`;
  return {
    agentId: c.agentId.toString(),
    epoch: c.epoch.toString(),
    clusterKey: toHex(clusterKey),
    stateKey: toHex(stateKey),
    agentEpochKey: toHex(agentEpochKey),
    epochStateKey: toHex(epochStateKey),
    state: {
      row,
      plaintext: toHex(plaintext),
      nonce: toHex(nonce),
      sealed: toHex(
        sealEpochState(epochStateKey, c.epoch, c.agentId, row, plaintext, { random: scripted(nonce) }),
      ),
    },
    secret: {
      name,
      clusterSigningKey: toHex(clusterSigningKey),
      clusterSigningPublicKey: toHex(secp256k1.getPublicKey(clusterSigningKey, true)),
      inner: toHex(inner),
      ephemeralPrivateKey: toHex(ephemeral),
      nonce: toHex(secretNonce),
      sealed: toHex(
        sealSecretEpoch(secp256k1.getPublicKey(clusterSigningKey, true), c.epoch, c.agentId, name, inner, {
          random: scripted(ephemeral, secretNonce),
        }),
      ),
    },
  };
});

const section = {
  description:
    "ADR 0013. agentEpochKey = HKDF(ikm = clusterKey, info = 'veil/v1/agent/epoch' ‖ len-prefixed agent id ‖ u64be epoch); epochStateKey = HKDF(ikm = stateKey ‖ agentEpochKey, info = 'veil/v1/agent/epoch-state' ‖ len-prefixed agent id ‖ u64be epoch). Inputs: master = sha256('veil test vector: epoch master'), root = sha256('veil test vector: epoch agent root <id>'); clusterKey is the 'default' cluster key of the epoch.",
  master: toHex(master),
  cases: keys,
};

const all = JSON.parse(readFileSync(OUT, "utf8")) as Record<string, unknown>;
if (process.argv.includes("--check")) {
  try {
    assert.deepEqual(all.epoch, section);
  } catch {
    console.error(`${OUT}: the "epoch" section is stale`);
    process.exit(1);
  }
  console.log(`${OUT}: the "epoch" section is current.`);
} else {
  all.epoch = section;
  writeFileSync(OUT, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`wrote the "epoch" section of ${OUT}`);
}
