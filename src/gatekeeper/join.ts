import { randomBytes } from "node:crypto";
import { bytesToHex, type Hex, recoverMessageAddress } from "viem";
import type { VeilChain } from "../chain/index.ts";
import { open } from "../crypto/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import type { Evidence } from "../tee/index.ts";
import { callGatekeeper } from "./client.ts";
import { masterPublicKeyHex } from "./keys.ts";
import {
  evidenceDigest,
  type JoinRequest,
  type JoinResponse,
  joinDigest,
  joinResponseDigest,
  MASTER_KEY_LABEL,
  masterKeyAad,
} from "./protocol.ts";

/** Builds and signs a join request naming the current block. */
export async function signJoinRequest(
  chain: VeilChain,
  identity: NodeIdentity,
  evidence: Evidence,
): Promise<JoinRequest> {
  const blockNumber = await chain.blockNumber();
  const nonce = bytesToHex(randomBytes(16));
  const digest = joinDigest({
    chainId: chain.config.chainId,
    registry: chain.config.contracts.gatekeeperRegistry,
    gatekeeper: identity.address,
    evidenceHash: evidenceDigest(evidence.bytes),
    blockNumber,
    nonce,
  });
  return {
    gatekeeper: identity.address,
    evidence: { tee: evidence.tee, bytes: Buffer.from(evidence.bytes).toString("base64") },
    blockNumber: blockNumber.toString(),
    nonce,
    signature: await identity.account.signMessage({ message: { raw: digest } }),
  };
}

const untrusted = (message: string) =>
  new VeilError("GATEKEEPER_NOT_TRUSTED", message, {
    status: 502,
    hint: "Join from a gatekeeper listed in the GatekeeperRegistry.",
  });

/**
 * Asks the sitting gatekeeper at `url` for the master key of the current epoch. The answer is
 * kept only if a gatekeeper on chain signed it, it opens with this gatekeeper's identity key,
 * and the key it holds is the one whose public key the chain lists for the epoch.
 */
export async function requestMasterKey(options: {
  url: string;
  chain: VeilChain;
  identity: NodeIdentity;
  evidence: Evidence;
}): Promise<{ epoch: bigint; masterKey: Uint8Array; from: Hex }> {
  const { chain, identity } = options;
  const request = await signJoinRequest(chain, identity, options.evidence);
  const answer = (await callGatekeeper(options.url, "/v1/join", request)) as JoinResponse;
  const sealed = Buffer.from(answer.sealedMasterKey ?? "", "base64");
  const epoch = BigInt(answer.epoch);
  const signer = await recoverMessageAddress({
    message: {
      raw: joinResponseDigest({
        chainId: chain.config.chainId,
        gatekeeper: identity.address,
        requestNonce: request.nonce,
        epoch,
        sealedMasterKey: sealed,
        masterPublicKey: answer.masterPublicKey,
      }),
    },
    signature: answer.signature,
  }).catch(() => "0x" as Hex);
  if (!(await chain.isGatekeeper(signer)))
    throw untrusted(`The master key is signed by ${signer}, not a gatekeeper on chain`);
  const masterKey = open(identity.encryptionPrivateKey(), sealed, {
    label: MASTER_KEY_LABEL,
    aad: masterKeyAad(identity.address, epoch),
  });
  if (masterPublicKeyHex(masterKey).toLowerCase() !== (await chain.masterPublicKey(epoch)).toLowerCase()) {
    throw untrusted(`The key received is not the master key the chain lists for epoch ${epoch}`);
  }
  return { epoch, masterKey, from: signer };
}
