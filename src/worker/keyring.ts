import { bytesToHex, type Hex, hexToBytes } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { agentCertDigest } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import {
  type AgentKeys,
  deriveAgentKeys,
  openSecret,
  randomBytes,
  unwrapAgentRoot,
  wrapAgentRoot,
} from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { ClusterKeyGrant } from "../gatekeeper/client.ts";

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
  readonly #cache = new Map<string, AgentIdentity>();
  /** Transactions from the operator's account go one at a time, so their nonces never collide. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(options: { chain: VeilChain; operator: VeilChain; grant: ClusterKeyGrant }) {
    this.#chain = options.chain;
    this.#operator = options.operator;
    this.#grant = options.grant;
  }

  async identity(id: bigint): Promise<AgentIdentity> {
    const cached = this.#cache.get(id.toString());
    if (cached) return cached;
    let record = await this.#chain.getAgentKeys(id);
    if (record.epoch === 0n) {
      try {
        const create = this.#writes.then(() => this.#create(id));
        this.#writes = create.catch(() => {});
        await create;
      } catch (err) {
        // Another worker recorded the agent's keys first: use theirs.
        if (!(err instanceof VeilError) || err.code !== "AGENT_KEYS_ALREADY_SET") throw err;
      }
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
   * After a rotation (ADR 0010): re-wraps the root of every agent `ids` names that is still
   * wrapped under this worker's (ended) cluster key, under the new epoch's cluster key, with
   * its public keys certified by the new cluster signing key. The root, and so every key,
   * address, secret and state entry of the agent, stays the same. Records another worker
   * re-wrapped first are left as they are. Then the ended epoch's cluster keys are wiped.
   */
  async rotate(next: ClusterKeyGrant, ids: readonly bigint[]): Promise<{ rewrapped: number }> {
    const old = this.#grant;
    if (next.epoch <= old.epoch) {
      throw new VeilError("ROTATION_WRONG_EPOCH", `Cannot rotate from epoch ${old.epoch} to ${next.epoch}`, {
        hint: "A worker only moves to a later epoch.",
      });
    }
    let rewrapped = 0;
    for (const id of ids) {
      const record = await this.#chain.getAgentKeys(id);
      if (record.epoch !== old.epoch) continue; // no keys yet, or already re-wrapped
      const root = unwrapAgentRoot(old.clusterKey, hexToBytes(record.wrappedRoot), id, old.epoch);
      const keys = deriveAgentKeys(root);
      const signingAddress = privateKeyToAccount(bytesToHex(keys.signing.privateKey)).address;
      if (
        bytesToHex(keys.encryption.publicKey) !== record.encryptionKey ||
        signingAddress !== record.signingAddress
      ) {
        throw new VeilError(
          "AGENT_KEYS_CORRUPT",
          `Agent ${id}'s recorded public keys do not match its root`,
          {
            status: 502,
          },
        );
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
        rewrapped++;
      } catch (err) {
        if (!(err instanceof VeilError) || err.code !== "AGENT_KEYS_ALREADY_SET") throw err;
      } finally {
        root.fill(0);
      }
    }
    this.#grant = next;
    this.#cache.clear();
    old.clusterKey.fill(0);
    old.clusterSigningKey.fill(0);
    return { rewrapped };
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
    await this.#operator.setAgentKeys(id, clusterId, {
      epoch,
      encryptionKey,
      signingAddress,
      clusterSigner: this.#grant.clusterSigner,
      clusterCert: this.#grant.clusterCert,
      agentCert,
      wrappedRoot: bytesToHex(wrapAgentRoot(clusterKey, root, id, epoch)),
    });
  }

  /** The agent's secrets, decrypted; a secret that does not open is reported, not passed on. */
  async secrets(id: bigint, onError: (name: string, err: unknown) => void): Promise<Record<string, string>> {
    const { keys } = await this.identity(id);
    const out: Record<string, string> = {};
    for (const name of await this.#chain.secretNames(id)) {
      try {
        out[name] = openSecret(
          keys.encryption.privateKey,
          id,
          name,
          hexToBytes(await this.#chain.getSecret(id, name)),
        );
      } catch (err) {
        onError(name, err);
      }
    }
    return out;
  }
}
