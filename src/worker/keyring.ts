import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, type Hex, hexToBytes, keccak256 } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { agentCertDigest, secretResealDigest } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import {
  type AgentKeys,
  deriveAgentEpochKey,
  deriveAgentKeys,
  deriveEpochStateKey,
  epochOfValue,
  openAgentSecret,
  openSecretEpoch,
  randomBytes,
  sealSecretEpoch,
  unwrapAgentRoot,
  wrapAgentRoot,
} from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { ClusterKeyGrant } from "../gatekeeper/client.ts";
import { reencryptAgentState, type StateKeys } from "../storage/agent-state.ts";
import type { StateStore } from "../storage/state-store.ts";

export type AgentIdentity = {
  keys: AgentKeys;
  address: Hex;
  epoch: bigint;
  /** Signs as the agent (receipts, and later its own transactions). */
  account: ReturnType<typeof privateKeyToAccount>;
};

/**
 * An agent's keys on this worker. The agent root is random and made once, by the first worker
 * that serves the agent, which records it on chain wrapped under the cluster key, with the
 * agent's public keys certified by the cluster signing key (AgentKeys.sol checks both
 * certificates). Every other worker of the cluster unwraps the same root, so the agent's keys
 * and EVM address are the same everywhere and do not change when its code does.
 */
export class AgentKeyring {
  readonly #chain: VeilChain;
  readonly #operator: VeilChain;
  #grant: ClusterKeyGrant;
  /** The ending epoch's grant, held only while a rotation re-encrypts (see rotate). */
  #previous: ClusterKeyGrant | undefined;
  readonly #cache = new Map<string, AgentIdentity>();
  /** Epoch state keys by `agent:epoch`, wiped with their epoch. */
  readonly #stateKeys = new Map<string, Uint8Array>();
  readonly #stateStore: StateStore | undefined;
  /** Transactions from the operator's account go one at a time, so their nonces never collide. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(options: {
    chain: VeilChain;
    operator: VeilChain;
    grant: ClusterKeyGrant;
    /** The agents' state on this worker, which a rotation re-encrypts to the new epoch. */
    stateStore?: StateStore;
  }) {
    this.#chain = options.chain;
    this.#operator = options.operator;
    this.#grant = options.grant;
    this.#stateStore = options.stateStore;
  }

  /**
   * The state keys of an agent (ADR 0013), following this keyring across rotations: new
   * entries go under the current epoch; entries of the ending epoch open until its key is wiped.
   */
  stateKeys(id: bigint, identity: AgentIdentity): StateKeys {
    const stateKey = identity.keys.stateKey;
    return {
      rowKey: stateKey,
      current: () => ({ epoch: this.#grant.epoch, key: this.#epochStateKey(id, stateKey, this.#grant) }),
      forEpoch: (epoch) => {
        const grant = [this.#grant, this.#previous].find((g) => g?.epoch === epoch);
        return grant ? this.#epochStateKey(id, stateKey, grant) : undefined;
      },
    };
  }

  #epochStateKey(id: bigint, stateKey: Uint8Array, grant: ClusterKeyGrant): Uint8Array {
    const at = `${id}:${grant.epoch}`;
    let key = this.#stateKeys.get(at);
    if (!key) {
      const agentEpochKey = deriveAgentEpochKey(grant.clusterKey, id, grant.epoch);
      key = deriveEpochStateKey(stateKey, agentEpochKey, id, grant.epoch);
      agentEpochKey.fill(0);
      this.#stateKeys.set(at, key);
    }
    return key;
  }

  async identity(id: bigint): Promise<AgentIdentity> {
    const cached = this.#cache.get(id.toString());
    if (cached) return cached;
    let record = await this.#chain.getAgentKeys(id);
    if (record.epoch === 0n) {
      const create = this.#writes.then(() => this.#create(id));
      this.#writes = create.catch(() => {});
      await create;
      record = await this.#chain.getAgentKeys(id);
    }
    if (record.epoch !== this.#grant.epoch) {
      throw new VeilError(
        "AGENT_KEYS_WRONG_EPOCH",
        `Agent ${id}'s keys are wrapped for epoch ${record.epoch}, this worker holds ${this.#grant.epoch}`,
        {
          status: 503,
          retryable: true,
          hint: "A key rotation is in progress; retry shortly.",
        },
      );
    }
    let keys: AgentKeys;
    try {
      keys = deriveAgentKeys(
        unwrapAgentRoot(this.#grant.clusterKey, hexToBytes(record.wrappedRoot), id, record.epoch),
      );
    } catch (err) {
      throw new VeilError("AGENT_KEYS_CORRUPT", `Agent ${id}'s root does not open with this cluster's key`, {
        status: 502,
        cause: err,
      });
    }
    const account = privateKeyToAccount(bytesToHex(keys.signing.privateKey));
    const address = account.address;
    if (bytesToHex(keys.encryption.publicKey) !== record.encryptionKey || address !== record.signingAddress) {
      throw new VeilError("AGENT_KEYS_CORRUPT", `Agent ${id}'s recorded public keys do not match its root`, {
        status: 502,
      });
    }
    const identity = { keys, address, epoch: record.epoch, account };
    this.#cache.set(id.toString(), identity);
    return identity;
  }

  get epoch(): bigint {
    return this.#grant.epoch;
  }

  /**
   * After a rotation (ADR 0010, 0013), for every agent `ids` names:
   * 1. re-wraps its root still under this worker's (ended) cluster key under the new epoch's,
   *    with its public keys certified by the new cluster signing key (first writer wins);
   * 2. re-seals the epoch layer of its secrets still under the ended epoch to the new cluster
   *    signing key, on chain (first writer wins; an owner's newer write is never overwritten);
   * 3. switches to the new epoch, then re-encrypts its state entries of the ended epoch, each
   *    agent in one transaction, while both keys are held;
   * and only then wipes the ended epoch's keys. The root, and so every key and address of the
   * agent, stays the same.
   */
  async rotate(
    next: ClusterKeyGrant,
    ids: readonly bigint[],
  ): Promise<{ rewrapped: number; resealed: number; reencrypted: number; stateBytes: number }> {
    const old = this.#grant;
    if (next.epoch <= old.epoch) {
      throw new VeilError("ROTATION_WRONG_EPOCH", `Cannot rotate from epoch ${old.epoch} to ${next.epoch}`, {
        hint: "A worker only moves to a later epoch.",
      });
    }
    let rewrapped = 0;
    let resealed = 0;
    const stateKeys = new Map<bigint, Uint8Array>();
    try {
      for (const id of ids) {
        const record = await this.#chain.getAgentKeys(id);
        if (record.epoch === 0n) continue; // no keys yet
        let root: Uint8Array;
        if (record.epoch === old.epoch) {
          root = unwrapAgentRoot(old.clusterKey, hexToBytes(record.wrappedRoot), id, old.epoch);
          if (await this.#rewrap(id, root, record, next)) rewrapped++;
        } else if (record.epoch === next.epoch) {
          root = unwrapAgentRoot(next.clusterKey, hexToBytes(record.wrappedRoot), id, next.epoch);
        } else {
          continue; // under an epoch this worker never held: nothing of it to carry over
        }
        const keys = deriveAgentKeys(root);
        root.fill(0);
        stateKeys.set(id, keys.stateKey);
        resealed += await this.#resealSecrets(id, old, next);
      }
    } catch (err) {
      // Nothing switched: the next attempt starts over (every step above is idempotent).
      for (const key of stateKeys.values()) key.fill(0);
      throw err;
    }
    // From here new state entries are sealed under the new epoch; one sealed under the old one
    // and still in flight either lands before the pass below (which re-encrypts it) or is
    // refused after it (the store's epoch moved) and sealed again under the new one.
    this.#previous = old;
    this.#grant = next;
    this.#cache.clear();
    let reencrypted = 0;
    let stateBytes = 0;
    try {
      if (this.#stateStore) {
        for (const [id, stateKey] of stateKeys) {
          const r = await reencryptAgentState(
            this.#stateStore,
            id,
            { epoch: old.epoch, key: this.#epochStateKey(id, stateKey, old) },
            { epoch: next.epoch, key: this.#epochStateKey(id, stateKey, next) },
          );
          reencrypted += r.rows;
          stateBytes += r.bytes;
        }
      }
    } finally {
      this.#previous = undefined;
      for (const [at, key] of this.#stateKeys) {
        if (at.endsWith(`:${old.epoch}`)) {
          key.fill(0);
          this.#stateKeys.delete(at);
        }
      }
      for (const key of stateKeys.values()) key.fill(0);
      old.clusterKey.fill(0);
      old.clusterSigningKey.fill(0);
    }
    return { rewrapped, resealed, reencrypted, stateBytes };
  }

  /** Step 1 of rotate: records the root wrapped for `next`; false if another worker did first. */
  async #rewrap(
    id: bigint,
    root: Uint8Array,
    record: { encryptionKey: Hex; signingAddress: Hex },
    next: ClusterKeyGrant,
  ): Promise<boolean> {
    const keys = deriveAgentKeys(root);
    const signingAddress = privateKeyToAccount(bytesToHex(keys.signing.privateKey)).address;
    if (
      bytesToHex(keys.encryption.publicKey) !== record.encryptionKey ||
      signingAddress !== record.signingAddress
    ) {
      throw new VeilError("AGENT_KEYS_CORRUPT", `Agent ${id}'s recorded public keys do not match its root`, {
        status: 502,
      });
    }
    const agentCert = await privateKeyToAccount(bytesToHex(next.clusterSigningKey)).signMessage({
      message: {
        raw: agentCertDigest({
          chainId: this.#chain.config.chainId,
          agentRegistry: this.#chain.config.contracts.agentRegistry,
          id,
          epoch: next.epoch,
          encryptionKey: record.encryptionKey,
          signingAddress,
        }),
      },
    });
    const write = this.#writes.then(() =>
      this.#operator.setAgentKeys(id, next.clusterId, {
        epoch: next.epoch,
        encryptionKey: record.encryptionKey,
        signingAddress,
        clusterSigner: next.clusterSigner,
        clusterCert: next.clusterCert,
        agentCert,
        wrappedRoot: bytesToHex(wrapAgentRoot(next.clusterKey, root, id, next.epoch)),
      }),
    );
    this.#writes = write.catch(() => {});
    try {
      await write;
      return true;
    } catch (err) {
      if (!(err instanceof VeilError) || err.code !== "AGENT_KEYS_ALREADY_SET") throw err;
      return false;
    }
  }

  /** Step 2 of rotate: the agent's secrets under `old` re-sealed to `next`; returns how many. */
  async #resealSecrets(id: bigint, old: ClusterKeyGrant, next: ClusterKeyGrant): Promise<number> {
    const nextPublic = secp256k1.getPublicKey(next.clusterSigningKey, true);
    const signer = privateKeyToAccount(bytesToHex(next.clusterSigningKey));
    let resealed = 0;
    for (const name of await this.#chain.secretNames(id)) {
      const previous = await this.#chain.getSecret(id, name);
      const sealed = hexToBytes(previous);
      if (epochOfValue(sealed) !== old.epoch) continue; // already re-sealed, or unreadable anyway
      const inner = openSecretEpoch(old.clusterSigningKey, id, name, sealed);
      const ciphertext = bytesToHex(sealSecretEpoch(nextPublic, next.epoch, id, name, inner));
      const previousHash = keccak256(previous);
      const signature = await signer.signMessage({
        message: {
          raw: secretResealDigest({
            chainId: this.#chain.config.chainId,
            agentKeys: this.#chain.config.contracts.agentKeys,
            id,
            name,
            previousHash,
            ciphertext,
          }),
        },
      });
      const write = this.#writes.then(() =>
        this.#operator.resealSecret(id, name, previousHash, ciphertext, signature),
      );
      this.#writes = write.catch(() => {});
      try {
        await write;
        resealed++;
      } catch (err) {
        // Another worker re-sealed it first, or the owner replaced it meanwhile: either way it
        // is no longer under the ended epoch.
        if (!(err instanceof VeilError) || err.code !== "SECRET_CHANGED") throw err;
      }
    }
    return resealed;
  }

  async #create(id: bigint): Promise<void> {
    const { epoch, clusterKey, clusterSigningKey, clusterId } = this.#grant;
    if ((await this.#chain.getAgentKeys(id)).epoch !== 0n) return;
    const root = randomBytes(32);
    const keys = deriveAgentKeys(root);
    const encryptionKey = bytesToHex(keys.encryption.publicKey);
    const signingAddress = privateKeyToAccount(bytesToHex(keys.signing.privateKey)).address;
    const agentCert = await privateKeyToAccount(bytesToHex(clusterSigningKey)).signMessage({
      message: {
        raw: agentCertDigest({
          chainId: this.#chain.config.chainId,
          agentRegistry: this.#chain.config.contracts.agentRegistry,
          id,
          epoch,
          encryptionKey,
          signingAddress,
        }),
      },
    });
    try {
      await this.#operator.setAgentKeys(id, clusterId, {
        epoch,
        encryptionKey,
        signingAddress,
        clusterSigner: this.#grant.clusterSigner,
        clusterCert: this.#grant.clusterCert,
        agentCert,
        wrappedRoot: bytesToHex(wrapAgentRoot(clusterKey, root, id, epoch)),
      });
    } catch (err) {
      // Workers that load a new agent at once each make keys; the second write is refused
      // (AGENT_KEYS_ALREADY_SET) or, when both were sent before either was mined, reverts. The
      // keys on chain are the agent's, whoever made them: this worker uses those.
      if ((await this.#chain.getAgentKeys(id)).epoch !== 0n) return;
      throw err;
    }
  }

  /** The agent's secrets, decrypted; a secret that does not open is reported, not passed on. */
  async secrets(id: bigint, onError: (name: string, err: unknown) => void): Promise<Record<string, string>> {
    const { keys } = await this.identity(id);
    const out: Record<string, string> = {};
    for (const name of await this.#chain.secretNames(id)) {
      try {
        const sealed = hexToBytes(await this.#chain.getSecret(id, name));
        const epoch = epochOfValue(sealed);
        const grant = [this.#grant, this.#previous].find((g) => g !== undefined && g.epoch === epoch);
        if (epoch !== undefined && epoch > this.#grant.epoch) {
          // Another worker already re-sealed it for the next epoch: loading the agent without it
          // would serve requests with a secret missing, so the load fails, retryably, until
          // this worker has moved to that epoch too.
          throw new VeilError(
            "AGENT_KEYS_WRONG_EPOCH",
            `Agent ${id}'s secret ${name} is sealed for epoch ${epoch}, this worker holds ${this.#grant.epoch}`,
            { status: 503, retryable: true, hint: "A key rotation is in progress; retry shortly." },
          );
        }
        if (!grant) {
          throw new VeilError(
            "SECRET_EPOCH_UNKNOWN",
            `Secret ${name} is sealed to epoch ${epoch}, not held here`,
            {
              hint: "Set it again with `veil secrets set`.",
            },
          );
        }
        out[name] = openAgentSecret(
          {
            agentEncryptionPrivateKey: keys.encryption.privateKey,
            clusterSigningKey: grant.clusterSigningKey,
          },
          id,
          name,
          sealed,
        );
      } catch (err) {
        if (err instanceof VeilError && err.code === "AGENT_KEYS_WRONG_EPOCH") throw err;
        onError(name, err);
      }
    }
    return out;
  }
}
