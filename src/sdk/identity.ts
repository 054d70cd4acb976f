import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, type Hex, hashMessage, hexToBytes, recoverMessageAddress, recoverPublicKey } from "viem";
import { publicKeyToAddress } from "viem/accounts";
import { agentCertDigest, clusterCertDigest } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";

export type VerifiedAgentIdentity = {
  id: bigint;
  epoch: bigint;
  /** X25519 public key: what secrets and encrypted requests are sealed to. */
  encryptionKey: Hex;
  /** The agent's EVM address. */
  address: Hex;
  clusterSigner: Hex;
  /**
   * The cluster signer's public key (uncompressed secp256k1), recovered from the agent
   * certificate and checked against the certified address: secrets are sealed to it (ADR 0013).
   */
  clusterSigningPublicKey: Hex;
  masterSigner: Hex;
  checks: string[];
};

const broken = (why: string) =>
  new VeilError("AGENT_CERT_INVALID", `The agent's key certificate does not verify: ${why}`, {
    hint: "Do not send it secrets. The chain or the network file may be wrong; check with `veil inspect`.",
  });

/**
 * Reads an agent's public keys from the chain and checks their chain of signatures up to the
 * epoch's master key recorded on chain: master public key ↔ master signer address, master →
 * cluster signer (cluster certificate), cluster signer → agent keys (agent certificate).
 * Nothing here trusts a worker, a gateway, or the record's own claims.
 */
export async function verifyAgentIdentity(chain: VeilChain, id: bigint): Promise<VerifiedAgentIdentity> {
  const record = await chain.getAgentKeys(id);
  if (record.epoch === 0n) {
    throw new VeilError("AGENT_KEYS_MISSING", `Agent ${id} has no keys yet`, {
      hint: "Keys are made when a worker first serves the agent; `veil deploy` waits for that.",
    });
  }
  const checks: string[] = [];
  const masterPublicKey = await chain.masterPublicKey(record.epoch);
  const masterSigner = await chain.masterSigner(record.epoch);
  if (masterPublicKey === "0x" || publicKeyToAddress(decompress(masterPublicKey)) !== masterSigner) {
    throw broken(`the master key of epoch ${record.epoch} on chain is inconsistent`);
  }
  checks.push(`master key of epoch ${record.epoch} on chain (${masterSigner})`);
  const clusterBy = await recover(
    clusterCertDigest({
      chainId: chain.config.chainId,
      gatekeeperRegistry: chain.config.contracts.gatekeeperRegistry,
      epoch: record.epoch,
      clusterId: "default",
      clusterSigner: record.clusterSigner,
    }),
    record.clusterCert,
  );
  if (clusterBy !== masterSigner) throw broken("the cluster certificate is not signed by the master key");
  checks.push(`cluster key ${record.clusterSigner} certified by the master key`);
  const agentDigest = agentCertDigest({
    chainId: chain.config.chainId,
    agentRegistry: chain.config.contracts.agentRegistry,
    id,
    epoch: record.epoch,
    encryptionKey: record.encryptionKey,
    signingAddress: record.signingAddress,
  });
  const agentBy = await recover(agentDigest, record.agentCert);
  if (agentBy !== record.clusterSigner)
    throw broken("the agent certificate is not signed by the cluster key");
  const clusterSigningPublicKey = await recoverPublicKey({
    hash: hashMessage({ raw: agentDigest }),
    signature: record.agentCert,
  });
  if (publicKeyToAddress(clusterSigningPublicKey) !== record.clusterSigner)
    throw broken("the cluster signing key does not match the certified cluster signer");
  checks.push(`agent keys certified by the cluster key`);
  return {
    id,
    epoch: record.epoch,
    encryptionKey: record.encryptionKey,
    address: record.signingAddress,
    clusterSigner: record.clusterSigner,
    clusterSigningPublicKey,
    masterSigner,
    checks,
  };
}

async function recover(digest: Hex, signature: Hex): Promise<Hex | undefined> {
  try {
    return await recoverMessageAddress({ message: { raw: digest }, signature });
  } catch {
    return undefined;
  }
}

/** A compressed secp256k1 public key, uncompressed (viem's address helper wants that form). */
function decompress(compressed: Hex): Hex {
  // viem's bytesToHex, not Buffer: verifyAgent runs in browsers (the web console).
  return bytesToHex(secp256k1.Point.fromBytes(hexToBytes(compressed)).toBytes(false));
}

/**
 * The agent's id: a decimal id as it is, a name as the chain lists it (`AGENT_NOT_FOUND` if
 * it lists none).
 *
 * @example
 * const id = await resolveAgentId(chain, "hello"); // 7n
 */
export async function resolveAgentId(chain: VeilChain, nameOrId: string): Promise<bigint> {
  if (/^\d{1,30}$/.test(nameOrId)) return BigInt(nameOrId);
  const id = await chain.agentIdOf(nameOrId);
  if (id === 0n) {
    throw new VeilError("AGENT_NOT_FOUND", `There is no agent "${nameOrId}"`, {
      hint: "Check the name, or deploy it with `veil deploy ./dir --name NAME`.",
    });
  }
  return id;
}
