import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as sha256Hash } from "@noble/hashes/sha2.js";
import { concatBytes, toHex, utf8 } from "./bytes.ts";
import { open, seal, unwrap, wrap } from "./envelope.ts";
import { openSecretEpoch, sealSecretEpoch } from "./epoch.ts";

// The envelopes around an agent's root and secrets, with their labels and associated data in
// one place, so that the worker that opens them and the client or worker that makes them cannot
// drift apart. The associated data binds each envelope to its agent (and epoch or name): an
// envelope copied to another agent, epoch or secret name does not open.

const rootAad = (agentId: bigint, epoch: bigint) => utf8(`agent-root|${agentId}|${epoch}`);
const secretAad = (agentId: bigint, name: string) => utf8(`secret|${agentId}|${name}`);
const STATE_LABEL = "veil/v1/state/value";

export function wrapAgentRoot(
  clusterKey: Uint8Array,
  root: Uint8Array,
  agentId: bigint,
  epoch: bigint,
): Uint8Array {
  return wrap(clusterKey, root, { label: "agent-root", aad: rootAad(agentId, epoch) });
}

export function unwrapAgentRoot(
  clusterKey: Uint8Array,
  wrapped: Uint8Array,
  agentId: bigint,
  epoch: bigint,
): Uint8Array {
  return unwrap(clusterKey, wrapped, { label: "agent-root", aad: rootAad(agentId, epoch) });
}

export function sealSecret(
  agentEncryptionKey: Uint8Array,
  agentId: bigint,
  name: string,
  value: string,
): Uint8Array {
  return seal(agentEncryptionKey, utf8(value), { label: "secret", aad: secretAad(agentId, name) });
}

export function openSecret(
  agentEncryptionPrivateKey: Uint8Array,
  agentId: bigint,
  name: string,
  ciphertext: Uint8Array,
): string {
  return new TextDecoder("utf-8", { fatal: true }).decode(
    open(agentEncryptionPrivateKey, ciphertext, { label: "secret", aad: secretAad(agentId, name) }),
  );
}

/**
 * A secret as the owner's client stores it on chain (ADR 0013): sealed to the agent's stable
 * X25519 key (only the agent root opens it), then to the epoch's cluster signing key (only that
 * epoch's cluster opens it). A rotation re-seals the outer layer; the inner one never changes.
 */
export function sealAgentSecret(
  keys: { agentEncryptionKey: Uint8Array; clusterSigningPublicKey: Uint8Array; epoch: bigint },
  agentId: bigint,
  name: string,
  value: string,
): Uint8Array {
  return sealSecretEpoch(
    keys.clusterSigningPublicKey,
    keys.epoch,
    agentId,
    name,
    sealSecret(keys.agentEncryptionKey, agentId, name, value),
  );
}

/** Opens both layers of a secret: the epoch's cluster signing key, then the agent's key. */
export function openAgentSecret(
  keys: { agentEncryptionPrivateKey: Uint8Array; clusterSigningKey: Uint8Array },
  agentId: bigint,
  name: string,
  ciphertext: Uint8Array,
): string {
  return openSecret(
    keys.agentEncryptionPrivateKey,
    agentId,
    name,
    openSecretEpoch(keys.clusterSigningKey, agentId, name, ciphertext),
  );
}

/**
 * Where a state entry lives: HMAC of its name under the agent's state key, so that the
 * storage sees neither the names an agent uses nor which entries two agents share.
 */
export function stateRowKey(stateKey: Uint8Array, name: string): string {
  return toHex(hmac(sha256Hash, stateKey, concatBytes(utf8("veil/v1/state/row/"), utf8(name))));
}

/** A state entry sealed under the agent's state key, bound to the agent and its row. */
export function sealStateValue(
  stateKey: Uint8Array,
  agentId: bigint,
  rowKey: string,
  plaintext: Uint8Array,
  options: { random?: (n: number) => Uint8Array } = {},
): Uint8Array {
  return wrap(stateKey, plaintext, {
    label: STATE_LABEL,
    aad: utf8(`state|${agentId}|${rowKey}`),
    ...(options.random ? { random: options.random } : {}),
  });
}

export function openStateValue(
  stateKey: Uint8Array,
  agentId: bigint,
  rowKey: string,
  sealed: Uint8Array,
): Uint8Array {
  return unwrap(stateKey, sealed, { label: STATE_LABEL, aad: utf8(`state|${agentId}|${rowKey}`) });
}

const LOGS_LABEL = "veil/v1/logs";
const logsAad = (agentId: bigint) => utf8(`logs|${agentId}`);

/** A batch of an agent's log lines, sealed to its owner's log key: only the owner opens it. */
export function sealLogBatch(ownerLogKey: Uint8Array, agentId: bigint, plaintext: Uint8Array): Uint8Array {
  return seal(ownerLogKey, plaintext, { label: LOGS_LABEL, aad: logsAad(agentId) });
}

export function openLogBatch(
  ownerLogPrivateKey: Uint8Array,
  agentId: bigint,
  sealed: Uint8Array,
): Uint8Array {
  return open(ownerLogPrivateKey, sealed, { label: LOGS_LABEL, aad: logsAad(agentId) });
}
