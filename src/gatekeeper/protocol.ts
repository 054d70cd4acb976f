import { createHash } from "node:crypto";
import { encodeAbiParameters, type Hex, keccak256, toBytes } from "viem";
import { typedDataDigestHex } from "../crypto/typed-data.ts";
import type { TeeKind } from "../tee/index.ts";

/**
 * The provisioning protocol between a worker and a gatekeeper, shared by both sides.
 *
 * The worker signs (EIP-712 typed data `ProvisionRequest`, with its identity key, under the
 * gatekeeper registry's domain) its own address, the hash of its evidence, a recent block number
 * and a random nonce. The block number bounds how long a request stays valid; the nonce makes each one
 * single-use; the chain id and registry address stop a request for one network being replayed
 * on another.
 */
/** How many blocks old a provisioning request may be. */
export const PROVISION_MAX_BLOCK_AGE = 20n;

export type ProvisionRequest = {
  worker: Hex;
  evidence: { tee: TeeKind; bytes: string /* base64 */ };
  blockNumber: string; // decimal
  nonce: Hex; // 16 random bytes
  signature: Hex;
};

export type ProvisionResponse = {
  gatekeeper: Hex;
  epoch: string; // decimal
  clusterId: string;
  /** The cluster key, sealed to the worker's X25519 identity key. */
  sealedClusterKey: string; // base64
  masterPublicKey: Hex;
  /** The cluster's signing address and the master key's certificate of it (see AgentKeys.sol). */
  clusterSigner: Hex;
  clusterCert: Hex;
  signature: Hex; // the gatekeeper's EIP-712 signature over responseDigest
};

/**
 * The answer to `POST /v1/attest` (the same signed request as provisioning): the evidence the
 * gatekeeper verified, and whether this call recorded it on chain (false: it already was).
 * Nothing in it is trusted: the worker's standing is what the chain says.
 */
export type AttestResponse = {
  worker: Hex;
  evidenceHash: Hex;
  verifiedBy: Hex;
  recorded: boolean;
};

export function evidenceDigest(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The EIP-712 digest of a `ProvisionRequest` under the GatekeeperRegistry's domain. */
export function provisionDigest(args: {
  chainId: number;
  registry: Hex;
  worker: Hex;
  evidenceHash: Hex;
  blockNumber: bigint;
  nonce: Hex;
}): Hex {
  return typedDataDigestHex({ chainId: args.chainId, verifyingContract: args.registry }, "ProvisionRequest", {
    worker: args.worker,
    evidenceHash: args.evidenceHash,
    blockNumber: args.blockNumber,
    nonce: args.nonce,
  });
}

/**
 * The EIP-712 digest of a `ProvisionResponse`: binds the answer to the request it answers (by the
 * request's nonce) and to the sealed key.
 */
export function responseDigest(args: {
  chainId: number;
  registry: Hex;
  worker: Hex;
  requestNonce: Hex;
  epoch: bigint;
  clusterId: string;
  sealedClusterKey: Uint8Array;
  masterPublicKey: Hex;
}): Hex {
  return typedDataDigestHex(
    { chainId: args.chainId, verifyingContract: args.registry },
    "ProvisionResponse",
    {
      worker: args.worker,
      requestNonce: args.requestNonce,
      epoch: args.epoch,
      clusterId: args.clusterId,
      sealedClusterKeyHash: keccak256(args.sealedClusterKey),
      masterPublicKey: args.masterPublicKey,
    },
  );
}

/** The associated data of the sealed cluster key: who it is for, and which cluster and epoch. */
export function clusterKeyAad(worker: Hex, clusterId: string, epoch: bigint): Uint8Array {
  return new TextEncoder().encode(`${worker.toLowerCase()}|${clusterId}|${epoch}`);
}

export const CLUSTER_KEY_LABEL = "cluster-key";

/**
 * A gatekeeper joining the set asks a sitting one for the epoch's master key with the same
 * kind of request a worker makes for the cluster key (signed by its identity key, naming a
 * recent block and a fresh nonce), under its own domain so that neither can stand for the other.
 */
export const JOIN_DOMAIN = "veil.join.v1";
export const JOIN_RESPONSE_DOMAIN = "veil.join.response.v1";
export const MASTER_KEY_LABEL = "master-key";

export type JoinRequest = {
  gatekeeper: Hex;
  evidence: { tee: TeeKind; bytes: string /* base64 */ };
  blockNumber: string;
  nonce: Hex;
  signature: Hex;
};

export type JoinResponse = {
  from: Hex;
  epoch: string;
  /** The master key, sealed to the joining gatekeeper's attested X25519 key. */
  sealedMasterKey: string; // base64
  masterPublicKey: Hex;
  signature: Hex;
};

export function joinDigest(args: {
  chainId: number;
  registry: Hex;
  gatekeeper: Hex;
  evidenceHash: Hex;
  blockNumber: bigint;
  nonce: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "address" },
        { type: "bytes32" },
        { type: "uint256" },
        { type: "bytes16" },
      ],
      [
        JOIN_DOMAIN,
        BigInt(args.chainId),
        args.registry,
        args.gatekeeper,
        args.evidenceHash,
        args.blockNumber,
        args.nonce,
      ],
    ),
  );
}

export function joinResponseDigest(args: {
  chainId: number;
  gatekeeper: Hex;
  requestNonce: Hex;
  epoch: bigint;
  sealedMasterKey: Uint8Array;
  masterPublicKey: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "bytes16" },
        { type: "uint64" },
        { type: "bytes32" },
        { type: "bytes" },
      ],
      [
        JOIN_RESPONSE_DOMAIN,
        BigInt(args.chainId),
        args.gatekeeper,
        args.requestNonce,
        args.epoch,
        keccak256(args.sealedMasterKey),
        args.masterPublicKey,
      ],
    ),
  );
}

export function masterKeyAad(gatekeeper: Hex, epoch: bigint): Uint8Array {
  return new TextEncoder().encode(`${gatekeeper.toLowerCase()}|${epoch}`);
}

// ── workers' state counters, anchored at the gatekeepers (anchors.ts, worker/anchoring.ts) ──

/** Owner (an agent's state, a fee ledger) → its highest head counter, in decimal. */
export type AnchorCounters = Record<string, string>;

/** How far a signed anchor message's time may be from the gatekeeper's clock (seconds). */
export const ANCHOR_WINDOW_S = 60;

/** What a worker signs to anchor its counters, and a gatekeeper to vouch for the ones it holds. */
export function anchorDigest(args: {
  chainId: number;
  kind: "put" | "get" | "held";
  worker: Hex;
  counters: AnchorCounters;
  at: number;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "string" },
        { type: "address" },
        { type: "bytes32" },
        { type: "uint64" },
      ],
      [
        "veil.state-anchor.v1",
        BigInt(args.chainId),
        args.kind,
        args.worker,
        keccak256(toBytes(canonicalCounters(args.counters))),
        BigInt(args.at),
      ],
    ),
  );
}

export const canonicalCounters = (counters: AnchorCounters): string =>
  JSON.stringify(Object.entries(counters).sort(([a], [b]) => (a < b ? -1 : 1)));

export type AnchorMessage = { worker: Hex; counters: AnchorCounters; at: number; signature: Hex };
export type HeldAnchor = {
  worker: Hex;
  counters: AnchorCounters;
  at: number;
  gatekeeper: Hex;
  signature: Hex;
};
