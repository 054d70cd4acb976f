import { bytesToHex, type Hex, hexToBytes, isAddress, isHex, recoverMessageAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { clusterCertDigest } from "../chain/certificates.ts";
import { type VeilChain, WorkerStatus, workerStatusName } from "../chain/index.ts";
import { deriveClusterKey, deriveClusterSigningKey, seal } from "../crypto/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { identityReportData } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import { evaluateEvidence, TEE_TYPE_IDS, type TeeKind } from "../tee/index.ts";
import { masterSigningAccount } from "./keys.ts";
import {
  CLUSTER_KEY_LABEL,
  clusterKeyAad,
  evidenceDigest,
  PROVISION_MAX_BLOCK_AGE,
  type ProvisionRequest,
  type ProvisionResponse,
  provisionDigest,
  responseDigest,
} from "./protocol.ts";

export type GatekeeperOptions = {
  chain: VeilChain;
  identity: NodeIdentity;
  clusterId: string;
};

const refuse = (code: string, message: string, hint: string, status = 403) =>
  new VeilError(code, message, { hint, status });

/**
 * The key-management logic of a gatekeeper: it decides, against the chain, whether a worker
 * may have the cluster key, and hands it over sealed to the worker's attested identity key.
 */
export class GatekeeperService {
  readonly #chain: VeilChain;
  readonly #identity: NodeIdentity;
  readonly #clusterId: string;
  #master: { epoch: bigint; key: Uint8Array; publicKey: Hex } | undefined;
  /** Nonces seen, by the block number their request carried; pruned once too old to matter. */
  readonly #seenNonces = new Map<string, bigint>();

  constructor(options: GatekeeperOptions) {
    this.#chain = options.chain;
    this.#identity = options.identity;
    this.#clusterId = options.clusterId;
  }

  setMasterKey(epoch: bigint, key: Uint8Array, publicKey: Hex): void {
    this.#master = { epoch, key, publicKey };
  }

  get ready(): boolean {
    return this.#master !== undefined;
  }

  async provision(input: unknown): Promise<ProvisionResponse> {
    const master = this.#master;
    if (!master) {
      throw new VeilError("GATEKEEPER_NOT_READY", "This gatekeeper has no master key yet", {
        status: 503,
        retryable: true,
        hint: "Retry in a moment; the gatekeeper is joining the network.",
      });
    }
    const request = parseRequest(input);
    const evidenceBytes = Buffer.from(request.evidence.bytes, "base64");
    const evidenceHash = evidenceDigest(evidenceBytes);
    const blockNumber = BigInt(request.blockNumber);

    // 1. The request must come from the worker key it names.
    const digest = provisionDigest({
      chainId: this.#chain.config.chainId,
      registry: this.#chain.config.contracts.gatekeeperRegistry,
      worker: request.worker,
      evidenceHash,
      blockNumber,
      nonce: request.nonce,
    });
    let signer: Hex;
    try {
      signer = await recoverMessageAddress({ message: { raw: digest }, signature: request.signature });
    } catch {
      throw refuse(
        "PROVISION_SIGNATURE_INVALID",
        "The provisioning request's signature is malformed",
        "Sign with the worker's identity key.",
        401,
      );
    }
    if (signer.toLowerCase() !== request.worker.toLowerCase()) {
      throw refuse(
        "PROVISION_SIGNATURE_INVALID",
        "The provisioning request is not signed by the worker it names",
        "Sign with the worker's identity key.",
        401,
      );
    }

    // 2. It must be fresh and used once.
    const head = await this.#chain.blockNumber();
    if (blockNumber > head || head - blockNumber > PROVISION_MAX_BLOCK_AGE) {
      throw refuse(
        "PROVISION_STALE",
        `The provisioning request names block ${blockNumber}, the chain is at ${head}`,
        `Sign a new request naming a block from the last ${PROVISION_MAX_BLOCK_AGE}.`,
        400,
      );
    }
    const nonceKey = `${request.worker.toLowerCase()}:${request.nonce.toLowerCase()}`;
    if (this.#seenNonces.has(nonceKey)) {
      throw refuse(
        "PROVISION_REPLAYED",
        "This provisioning request was already used",
        "Sign a new request with a fresh nonce.",
        409,
      );
    }

    // 3. The worker must be registered, active, and attested by the evidence on chain.
    const worker = await this.#chain.getWorker(request.worker);
    if (!worker) {
      throw refuse(
        "WORKER_NOT_REGISTERED",
        `Worker ${request.worker} is not registered on chain`,
        "Register the worker in the WorkerRegistry (its operator runs `veil worker start`) before asking for keys.",
      );
    }
    if (worker.status !== WorkerStatus.Active) {
      throw refuse(
        "WORKER_NOT_ACTIVE",
        `Worker ${request.worker} is ${workerStatusName(worker.status)} on chain`,
        worker.status === WorkerStatus.Evicted
          ? "An evicted worker never gets keys again; start a new one."
          : "Only active workers get keys; re-attesting within the policy makes it active again.",
      );
    }
    if (worker.evidenceHash.toLowerCase() !== evidenceHash.toLowerCase()) {
      throw refuse(
        "ATTESTATION_MISMATCH",
        "The evidence sent is not the evidence registered on chain",
        "Re-register the worker with its current evidence.",
      );
    }
    if (TEE_TYPE_IDS[request.evidence.tee] !== worker.teeType) {
      throw refuse(
        "ATTESTATION_MISMATCH",
        "The evidence's TEE type is not the one registered",
        "Re-register the worker.",
      );
    }
    // On chain: active, evidence younger than the policy's maximum age, measurement and
    // confidence still within policy (governance may have tightened it since registration).
    if (!(await this.#chain.isWorkerAttested(request.worker))) {
      throw refuse(
        "ATTESTATION_LAPSED",
        `Worker ${request.worker} is no longer within the attestation policy`,
        "Its evidence expired or the policy changed; the worker must re-attest (it does so every re-attestation period).",
      );
    }
    const verdict = await evaluateEvidence({ tee: request.evidence.tee, bytes: evidenceBytes }, this.#chain, {
      expectedReportData: identityReportData(request.worker, hexToBytes(worker.encryptionKey)),
    });
    if (verdict.measurement.toLowerCase() !== worker.measurement.toLowerCase()) {
      throw refuse(
        "ATTESTATION_MISMATCH",
        "The evidence's measurement is not the one registered",
        "Re-register the worker.",
      );
    }
    if (verdict.confidence !== worker.confidence) {
      throw refuse(
        "ATTESTATION_MISMATCH",
        `The evidence rates confidence level ${verdict.confidence}; the worker registered ${worker.confidence}`,
        "Re-register the worker with the confidence level its evidence proves.",
      );
    }

    // Remember the nonce only once everything checked out, and forget the ones too old to replay.
    this.#seenNonces.set(nonceKey, blockNumber);
    for (const [k, b] of this.#seenNonces) if (head - b > PROVISION_MAX_BLOCK_AGE) this.#seenNonces.delete(k);

    const clusterKey = deriveClusterKey(master.key, this.#clusterId, master.epoch);
    const sealed = seal(hexToBytes(worker.encryptionKey), clusterKey, {
      label: CLUSTER_KEY_LABEL,
      aad: clusterKeyAad(request.worker, this.#clusterId, master.epoch),
    });
    const signature = await this.#identity.account.signMessage({
      message: {
        raw: responseDigest({
          chainId: this.#chain.config.chainId,
          worker: request.worker,
          requestNonce: request.nonce,
          epoch: master.epoch,
          clusterId: this.#clusterId,
          sealedClusterKey: sealed,
          masterPublicKey: master.publicKey,
        }),
      },
    });
    const clusterSigner = privateKeyToAccount(bytesToHex(deriveClusterSigningKey(clusterKey))).address;
    const clusterCert = await masterSigningAccount(master.key).signMessage({
      message: {
        raw: clusterCertDigest({
          chainId: this.#chain.config.chainId,
          gatekeeperRegistry: this.#chain.config.contracts.gatekeeperRegistry,
          epoch: master.epoch,
          clusterId: this.#clusterId,
          clusterSigner,
        }),
      },
    });
    return {
      gatekeeper: this.#identity.address,
      clusterSigner,
      clusterCert,
      epoch: master.epoch.toString(),
      clusterId: this.#clusterId,
      sealedClusterKey: Buffer.from(sealed).toString("base64"),
      masterPublicKey: master.publicKey,
      signature,
    };
  }
}

const TEE_KINDS: readonly TeeKind[] = ["simulated", "sgx", "tdx"];

/** Checks the shape of a request from the network; nothing about it is trusted yet. */
function parseRequest(input: unknown): ProvisionRequest {
  const bad = (what: string) =>
    new VeilError("PROVISION_REQUEST_INVALID", `Malformed provisioning request: ${what}`, { status: 400 });
  if (typeof input !== "object" || input === null) throw bad("not an object");
  const r = input as Record<string, unknown>;
  if (typeof r.worker !== "string" || !isAddress(r.worker)) throw bad("worker must be an address");
  const ev = r.evidence as Record<string, unknown> | undefined;
  if (!ev || typeof ev.tee !== "string" || !TEE_KINDS.includes(ev.tee as TeeKind)) throw bad("evidence.tee");
  if (typeof ev.bytes !== "string" || ev.bytes.length === 0 || ev.bytes.length > 64_000)
    throw bad("evidence.bytes");
  if (typeof r.blockNumber !== "string" || !/^\d{1,20}$/.test(r.blockNumber)) throw bad("blockNumber");
  if (typeof r.nonce !== "string" || !isHex(r.nonce) || r.nonce.length !== 34)
    throw bad("nonce must be 16 bytes");
  if (typeof r.signature !== "string" || !isHex(r.signature) || r.signature.length !== 132)
    throw bad("signature");
  return {
    worker: r.worker,
    evidence: { tee: ev.tee as TeeKind, bytes: ev.bytes },
    blockNumber: r.blockNumber,
    nonce: r.nonce as Hex,
    signature: r.signature as Hex,
  };
}
