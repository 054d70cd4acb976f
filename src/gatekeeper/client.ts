import { randomBytes } from "node:crypto";
import { bytesToHex, type Hex, recoverAddress, recoverMessageAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { clusterCertDigest } from "../chain/certificates.ts";
import type { VeilChain } from "../chain/index.ts";
import { deriveClusterSigningKey, open } from "../crypto/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { Evidence } from "../tee/index.ts";
import {
  type AttestResponse,
  CLUSTER_KEY_LABEL,
  clusterKeyAad,
  evidenceDigest,
  type ProvisionRequest,
  type ProvisionResponse,
  provisionDigest,
  responseDigest,
} from "./protocol.ts";

export type ClusterKeyGrant = {
  epoch: bigint;
  clusterId: string;
  clusterKey: Uint8Array;
  gatekeeper: Hex;
  masterPublicKey: Hex;
  /** The cluster's signing key (derived from the cluster key) and its certificate by the master key. */
  clusterSigningKey: Uint8Array;
  clusterSigner: Hex;
  clusterCert: Hex;
};

/** POSTs JSON to a gatekeeper; its refusals come back as the VeilErrors it sent. */
export async function callGatekeeper(url: string, path: string, request: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new VeilError("GATEKEEPER_UNREACHABLE", `The gatekeeper at ${url} is not reachable`, {
      cause: err,
      retryable: true,
      status: 503,
      hint: "Check that a gatekeeper is running and listed on chain.",
    });
  }
  const body = (await res.json().catch(() => undefined)) as { error?: unknown } | undefined;
  if (!res.ok) {
    if (isVeilErrorJSON(body?.error)) throw VeilError.fromJSON(body.error, res.status);
    throw new VeilError("GATEKEEPER_ERROR", `The gatekeeper answered ${res.status}`, {
      status: 502,
      retryable: true,
    });
  }
  return body;
}

/** Builds and signs a provisioning request naming the current block. */
export async function signProvisionRequest(
  chain: VeilChain,
  identity: NodeIdentity,
  evidence: Evidence,
): Promise<ProvisionRequest> {
  const blockNumber = await chain.blockNumber();
  const nonce = bytesToHex(randomBytes(16));
  const digest = provisionDigest({
    chainId: chain.config.chainId,
    registry: chain.config.contracts.gatekeeperRegistry,
    worker: identity.address,
    evidenceHash: evidenceDigest(evidence.bytes),
    blockNumber,
    nonce,
  });
  return {
    worker: identity.address,
    evidence: { tee: evidence.tee, bytes: Buffer.from(evidence.bytes).toString("base64") },
    blockNumber: blockNumber.toString(),
    nonce,
    signature: await identity.account.sign({ hash: digest }),
  };
}

/**
 * Asks the gatekeeper at `url` to verify this worker's evidence now on chain and record that it
 * did (docs/adr/0020). Nothing in the answer is trusted: the worker's standing is the chain's.
 */
export async function requestVerification(options: {
  url: string;
  chain: VeilChain;
  identity: NodeIdentity;
  evidence: Evidence;
}): Promise<AttestResponse> {
  const request = await signProvisionRequest(options.chain, options.identity, options.evidence);
  return (await callGatekeeper(options.url, "/v1/attest", request)) as AttestResponse;
}

/**
 * Asks the gatekeeper at `url` for the cluster key. The answer is trusted only if it is signed
 * by a gatekeeper the chain lists and opens with this worker's identity key.
 */
export async function requestClusterKey(options: {
  url: string;
  chain: VeilChain;
  identity: NodeIdentity;
  evidence: Evidence;
}): Promise<ClusterKeyGrant> {
  const { chain, identity } = options;
  const request = await signProvisionRequest(chain, identity, options.evidence);
  const body = await callGatekeeper(options.url, "/v1/provision", request);
  const grant = body as ProvisionResponse;
  const sealed = Buffer.from(grant.sealedClusterKey ?? "", "base64");
  const epoch = BigInt(grant.epoch);
  const signer = await recoverAddress({
    hash: responseDigest({
      chainId: chain.config.chainId,
      registry: chain.config.contracts.gatekeeperRegistry,
      worker: identity.address,
      requestNonce: request.nonce,
      epoch,
      clusterId: grant.clusterId,
      sealedClusterKey: sealed,
      masterPublicKey: grant.masterPublicKey,
    }),
    signature: grant.signature,
  });
  if (!(await chain.isGatekeeper(signer))) {
    throw new VeilError(
      "GATEKEEPER_NOT_TRUSTED",
      `The key grant is signed by ${signer}, not a gatekeeper on chain`,
      {
        status: 502,
        hint: "Provision from a gatekeeper listed in the GatekeeperRegistry.",
      },
    );
  }
  const onChainKey = await chain.masterPublicKey(epoch);
  if (onChainKey.toLowerCase() !== grant.masterPublicKey.toLowerCase()) {
    throw new VeilError(
      "GATEKEEPER_NOT_TRUSTED",
      `The key grant is for a master key the chain does not list for epoch ${epoch}`,
      {
        status: 502,
      },
    );
  }
  const clusterKey = open(identity.encryptionPrivateKey(), sealed, {
    label: CLUSTER_KEY_LABEL,
    aad: clusterKeyAad(identity.address, grant.clusterId, epoch),
  });
  const clusterSigningKey = deriveClusterSigningKey(clusterKey);
  const clusterSigner = privateKeyToAccount(bytesToHex(clusterSigningKey)).address;
  const certifiedBy = await recoverMessageAddress({
    message: {
      raw: clusterCertDigest({
        chainId: chain.config.chainId,
        gatekeeperRegistry: chain.config.contracts.gatekeeperRegistry,
        epoch,
        clusterId: grant.clusterId,
        clusterSigner,
      }),
    },
    signature: grant.clusterCert,
  }).catch(() => "0x");
  if (grant.clusterSigner !== clusterSigner || certifiedBy !== (await chain.masterSigner(epoch))) {
    throw new VeilError(
      "GATEKEEPER_NOT_TRUSTED",
      "The cluster certificate in the key grant does not verify",
      {
        status: 502,
      },
    );
  }
  return {
    epoch,
    clusterId: grant.clusterId,
    clusterKey,
    gatekeeper: signer,
    masterPublicKey: grant.masterPublicKey,
    clusterSigningKey,
    clusterSigner,
    clusterCert: grant.clusterCert,
  };
}
