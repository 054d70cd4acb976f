import {
  bytesToHex,
  type Hex,
  hexToBytes,
  isAddress,
  isHex,
  recoverAddress,
  recoverMessageAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { clusterCertDigest } from "../chain/certificates.ts";
import {
  RotationClient,
  type VeilChain,
  type WorkerRecord,
  WorkerStatus,
  workerStatusName,
} from "../chain/index.ts";
import { deriveClusterKey, deriveClusterSigningKey, seal } from "../crypto/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { identityReportData } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import { evaluateEvidence, TEE_TYPE_IDS, type TeeKind } from "../tee/index.ts";
import { masterSigningAccount } from "./keys.ts";
import {
  type AttestResponse,
  CLUSTER_KEY_LABEL,
  clusterKeyAad,
  evidenceDigest,
  type JoinRequest,
  type JoinResponse,
  joinDigest,
  joinResponseDigest,
  MASTER_KEY_LABEL,
  masterKeyAad,
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

  readonly #rotation: RotationClient;

  constructor(options: GatekeeperOptions) {
    this.#chain = options.chain;
    this.#rotation = new RotationClient(options.chain);
    this.#identity = options.identity;
    this.#clusterId = options.clusterId;
  }

  setMasterKey(epoch: bigint, key: Uint8Array, publicKey: Hex): void {
    const previous = this.#master;
    this.#master = { epoch, key, publicKey };
    // The ended epoch's key is wiped in memory, not merely dropped (ADR 0010).
    if (previous && previous.key !== key) previous.key.fill(0);
  }

  get epoch(): bigint | undefined {
    return this.#master?.epoch;
  }

  /**
   * Key traffic to workers pauses while a rotation is open and until RESUME_CONFIRMATIONS
   * blocks after its last confirmation (read from the chain, so every gatekeeper agrees); a
   * gatekeeper still on an older epoch than the chain's hands out nothing either.
   */
  async #requireKeyTraffic(master: { epoch: bigint }): Promise<void> {
    const [open, epoch] = await Promise.all([this.#rotation.keyTrafficOpen(), this.#chain.epoch()]);
    if (!open) {
      throw new VeilError(
        "ROTATION_IN_PROGRESS",
        "A key rotation is in progress; gatekeepers hand out no keys",
        {
          status: 503,
          retryable: true,
          hint: "Retry in a few seconds: key traffic resumes two blocks after the last gatekeeper confirms (`veil keys status`).",
        },
      );
    }
    if (epoch !== master.epoch) {
      throw new VeilError(
        "GATEKEEPER_NOT_READY",
        `This gatekeeper holds epoch ${master.epoch}, the chain is at ${epoch}`,
        { status: 503, retryable: true, hint: "Retry in a moment, or ask another gatekeeper." },
      );
    }
  }

  get ready(): boolean {
    return this.#master !== undefined;
  }

  /**
   * 1. A request must come from the key it names, and 2. be fresh and used once. Returns the
   * nonce's key, to remember once every other check has passed too.
   */
  async #checkSigned(
    digest: Hex,
    signature: Hex,
    claimed: Hex,
    blockNumber: bigint,
    nonce: Hex,
    /** EIP-712 typed data (provisioning) is signed as it is; a join request as a personal message. */
    typed: boolean,
  ): Promise<{ nonceKey: string; head: bigint }> {
    let signer: Hex;
    try {
      signer = typed
        ? await recoverAddress({ hash: digest, signature })
        : await recoverMessageAddress({ message: { raw: digest }, signature });
    } catch {
      throw refuse(
        "PROVISION_SIGNATURE_INVALID",
        "The request's signature is malformed",
        "Sign with the node's identity key.",
        401,
      );
    }
    if (signer.toLowerCase() !== claimed.toLowerCase()) {
      throw refuse(
        "PROVISION_SIGNATURE_INVALID",
        "The request is not signed by the node it names",
        "Sign with the node's identity key.",
        401,
      );
    }
    const head = await this.#chain.blockNumber();
    if (blockNumber > head || head - blockNumber > PROVISION_MAX_BLOCK_AGE) {
      throw refuse(
        "PROVISION_STALE",
        `The request names block ${blockNumber}, the chain is at ${head}`,
        `Sign a new request naming a block from the last ${PROVISION_MAX_BLOCK_AGE}.`,
        400,
      );
    }
    const nonceKey = `${claimed.toLowerCase()}:${nonce.toLowerCase()}`;
    if (this.#seenNonces.has(nonceKey)) {
      throw refuse(
        "PROVISION_REPLAYED",
        "This request was already used",
        "Sign a new request with a fresh nonce.",
        409,
      );
    }
    return { nonceKey, head };
  }

  /** Remembers a used nonce, and forgets the ones too old to be replayed anyway. */
  #remember(nonceKey: string, blockNumber: bigint, head: bigint): void {
    this.#seenNonces.set(nonceKey, blockNumber);
    for (const [k, b] of this.#seenNonces) if (head - b > PROVISION_MAX_BLOCK_AGE) this.#seenNonces.delete(k);
  }

  /**
   * Hands the epoch's master key to a joining gatekeeper: one the chain lists in the set, whose
   * evidence verifies within the attestation policy and is bound to the identity keys the chain
   * holds for it. The key travels sealed to that attested key; the answer is signed.
   */
  async join(input: unknown): Promise<JoinResponse> {
    const master = this.#requireMaster();
    const request = parseJoin(input);
    const evidenceBytes = Buffer.from(request.evidence.bytes, "base64");
    const blockNumber = BigInt(request.blockNumber);
    const digest = joinDigest({
      chainId: this.#chain.config.chainId,
      registry: this.#chain.config.contracts.gatekeeperRegistry,
      gatekeeper: request.gatekeeper,
      evidenceHash: evidenceDigest(evidenceBytes),
      blockNumber,
      nonce: request.nonce,
    });
    const { nonceKey, head } = await this.#checkSigned(
      digest,
      request.signature,
      request.gatekeeper,
      blockNumber,
      request.nonce,
      false,
    );
    const record = (await this.#chain.listGatekeepers()).find(
      (g) => g.active && g.address.toLowerCase() === request.gatekeeper.toLowerCase(),
    );
    if (!record) {
      throw refuse(
        "GATEKEEPER_NOT_REGISTERED",
        `${request.gatekeeper} is not a gatekeeper on chain`,
        "Governance must add it to the GatekeeperRegistry (with its attested encryption key) before it can join.",
      );
    }
    await evaluateEvidence({ tee: request.evidence.tee, bytes: evidenceBytes }, this.#chain, {
      expectedReportData: identityReportData(request.gatekeeper, hexToBytes(record.encryptionKey)),
    });
    this.#remember(nonceKey, blockNumber, head);
    const sealed = seal(hexToBytes(record.encryptionKey), master.key, {
      label: MASTER_KEY_LABEL,
      aad: masterKeyAad(request.gatekeeper, master.epoch),
    });
    const signature = await this.#identity.account.signMessage({
      message: {
        raw: joinResponseDigest({
          chainId: this.#chain.config.chainId,
          gatekeeper: request.gatekeeper,
          requestNonce: request.nonce,
          epoch: master.epoch,
          sealedMasterKey: sealed,
          masterPublicKey: master.publicKey,
        }),
      },
    });
    return {
      from: this.#identity.address,
      epoch: master.epoch.toString(),
      sealedMasterKey: Buffer.from(sealed).toString("base64"),
      masterPublicKey: master.publicKey,
      signature,
    };
  }

  #requireMaster(): { epoch: bigint; key: Uint8Array; publicKey: Hex } {
    if (!this.#master) {
      throw new VeilError("GATEKEEPER_NOT_READY", "This gatekeeper has no master key yet", {
        status: 503,
        retryable: true,
        hint: "Retry in a moment; the gatekeeper is joining the network.",
      });
    }
    return this.#master;
  }

  /**
   * Verifies a worker's evidence and records that on chain, which gives the worker standing
   * (routable, a quota home, eligible for rewards; docs/adr/0020). Workers ask after each
   * re-attestation; no key is handed out, so this goes on while a rotation is open.
   */
  async attest(input: unknown): Promise<AttestResponse> {
    const request = parseRequest(input);
    const { worker, recorded } = await this.#verifyWorker(request);
    return {
      worker: request.worker,
      evidenceHash: worker.evidenceHash,
      verifiedBy: this.#identity.address,
      recorded,
    };
  }

  /**
   * Every check a worker's request must pass, in order: signed by the worker key it names, fresh
   * and used once; registered, active, with this evidence on chain and within the policy on its
   * claims; and the evidence itself verified, bound to the registered keys, proving the
   * registered measurement and confidence. Then the verification is recorded on chain (once per
   * evidence) and the nonce remembered.
   */
  async #verifyWorker(request: ProvisionRequest): Promise<{ worker: WorkerRecord; recorded: boolean }> {
    const evidenceBytes = Buffer.from(request.evidence.bytes, "base64");
    const evidenceHash = evidenceDigest(evidenceBytes);
    const blockNumber = BigInt(request.blockNumber);

    // 1–2. The request must come from the worker key it names, be fresh, and be used once.
    const digest = provisionDigest({
      chainId: this.#chain.config.chainId,
      registry: this.#chain.config.contracts.gatekeeperRegistry,
      worker: request.worker,
      evidenceHash,
      blockNumber,
      nonce: request.nonce,
    });
    const { nonceKey, head } = await this.#checkSigned(
      digest,
      request.signature,
      request.worker,
      blockNumber,
      request.nonce,
      true,
    );

    // 3. The worker must be registered, active, and have registered this evidence.
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
    // On chain, on the operator's claims: evidence younger than the policy's maximum age,
    // measurement and confidence within policy (governance may have tightened it since).
    if (!(await this.#chain.isWorkerRegisteredWithinPolicy(request.worker))) {
      throw refuse(
        "ATTESTATION_LAPSED",
        `Worker ${request.worker} is no longer within the attestation policy`,
        "Its evidence expired or the policy changed; the worker must re-attest (it does so every re-attestation period).",
      );
    }
    // 4. The evidence itself: what the claims above are worth.
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
    this.#remember(nonceKey, blockNumber, head);

    // 5. On chain: this evidence, as submitted at `attestedAt`, is verified. Once per submission;
    // a worker asking again for keys with the same evidence (after a restart) needs no second
    // transaction.
    let recorded = false;
    if (
      worker.verifiedEvidenceHash.toLowerCase() !== evidenceHash.toLowerCase() ||
      worker.verifiedAt < worker.attestedAt
    ) {
      await this.#chain.recordWorkerVerification(request.worker, evidenceHash);
      recorded = true;
    }
    return { worker, recorded };
  }

  async provision(input: unknown): Promise<ProvisionResponse> {
    const master = this.#requireMaster();
    const request = parseRequest(input);
    await this.#requireKeyTraffic(master);
    const { worker } = await this.#verifyWorker(request);

    const clusterKey = deriveClusterKey(master.key, this.#clusterId, master.epoch);
    const sealed = seal(hexToBytes(worker.encryptionKey), clusterKey, {
      label: CLUSTER_KEY_LABEL,
      aad: clusterKeyAad(request.worker, this.#clusterId, master.epoch),
    });
    const signature = await this.#identity.account.sign({
      hash: responseDigest({
        chainId: this.#chain.config.chainId,
        registry: this.#chain.config.contracts.gatekeeperRegistry,
        worker: request.worker,
        requestNonce: request.nonce,
        epoch: master.epoch,
        clusterId: this.#clusterId,
        sealedClusterKey: sealed,
        masterPublicKey: master.publicKey,
      }),
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
  const r = parseSigned(input, "worker", "PROVISION_REQUEST_INVALID");
  return { ...r, worker: r.node };
}

function parseJoin(input: unknown): JoinRequest {
  const r = parseSigned(input, "gatekeeper", "JOIN_REQUEST_INVALID");
  return { ...r, gatekeeper: r.node };
}

function parseSigned(
  input: unknown,
  field: "worker" | "gatekeeper",
  code: string,
): Omit<ProvisionRequest, "worker"> & { node: Hex } {
  const bad = (what: string) => new VeilError(code, `Malformed request: ${what}`, { status: 400 });
  if (typeof input !== "object" || input === null) throw bad("not an object");
  const r = input as Record<string, unknown>;
  const node = r[field];
  if (typeof node !== "string" || !isAddress(node)) throw bad(`${field} must be an address`);
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
    node: node as Hex,
    evidence: { tee: ev.tee as TeeKind, bytes: ev.bytes },
    blockNumber: r.blockNumber,
    nonce: r.nonce as Hex,
    signature: r.signature as Hex,
  };
}
