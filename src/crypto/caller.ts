import { secp256k1 } from "@noble/curves/secp256k1.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, fromHex, toHex } from "./bytes.ts";
import { knownSigners } from "./known-signers.ts";
import { checksumAddress, ethAddressFromPublicKey, signDigest } from "./sign.ts";
import { typedDataDigest } from "./typed-data.ts";

// Signed callers: a caller proves which address makes a call, so that workers can apply an
// agent's access mode, per-caller quota and price. The caller signs EIP-712 typed data (a
// `Call`: agent, request hash, nonce, time; typed-data.ts) under the "Veil" domain of this
// chain's AgentRegistry, so a wallet asked to sign shows which agent and when.
//
// requestHash (invocation.ts) covers the method, the path with its query and the body. The nonce
// makes each signature single-use across the agent's workers (ADR 0020); the timestamp bounds how
// long a signature is worth replaying at all.

export type CallerClaim = {
  chainId: number;
  /** The AgentRegistry: the signature's verifying contract. */
  agentRegistry: `0x${string}`;
  agentId: bigint;
  requestHash: `0x${string}`;
  nonce: `0x${string}`;
  /** Unix seconds when the caller signed. */
  timestamp: number;
};

export type SignedCaller = { address: `0x${string}`; signature: `0x${string}`; timestamp: number };

/** How far a signature's timestamp may be from the worker's clock, either way. */
export const CALLER_SIGNATURE_WINDOW_S = 300;

/** The 32 bytes a caller signs: the EIP-712 digest of its `Call`. */
export function callerDigest(claim: CallerClaim): Uint8Array {
  return typedDataDigest({ chainId: claim.chainId, verifyingContract: claim.agentRegistry }, "Call", {
    agentId: claim.agentId,
    requestHash: claim.requestHash,
    nonce: claim.nonce,
    timestamp: claim.timestamp,
  });
}

/**
 * Signs `claim` as the key's owner. `address` is the key's address when the caller already knows
 * it (deriving it costs a secp256k1 multiplication; a wrong one is refused by every worker).
 */
export function signCaller(
  privateKey: `0x${string}`,
  claim: CallerClaim,
  address?: `0x${string}`,
): SignedCaller {
  const key = fromHex(privateKey.slice(2));
  const signature = signDigest(key, callerDigest(claim));
  return {
    address: address ?? ethAddressFromPublicKey(secp256k1.getPublicKey(key, true)),
    signature: `0x${toHex(signature)}`,
    timestamp: claim.timestamp,
  };
}

const invalid = (why: string) =>
  new VeilError("CALLER_SIGNATURE_INVALID", `The caller signature is not valid: ${why}`, {
    status: 401,
    hint: "Sign the request with the caller's key over this exact agent, method, path, body and nonce (the SDK's `as` option does).",
  });

/**
 * The address that signed `claim`, checked against the one the caller names; refuses a malformed
 * or foreign signature, and one whose timestamp is outside the window around `nowSeconds`.
 */
export function verifyCaller(claim: CallerClaim, caller: SignedCaller, nowSeconds: number): `0x${string}` {
  if (!/^0x[0-9a-fA-F]{40}$/.test(caller.address)) throw invalid("the caller address is malformed");
  if (!/^0x[0-9a-fA-F]{130}$/.test(caller.signature)) throw invalid("a signature is 65 bytes of hex");
  if (!Number.isSafeInteger(caller.timestamp)) throw invalid("the timestamp is not a number of seconds");
  if (Math.abs(nowSeconds - caller.timestamp) > CALLER_SIGNATURE_WINDOW_S) {
    throw new VeilError(
      "CALLER_SIGNATURE_STALE",
      `The caller signature is ${nowSeconds - caller.timestamp} s from this worker's clock`,
      {
        status: 401,
        hint: `Sign each request just before sending it (within ${CALLER_SIGNATURE_WINDOW_S} s), and check the clock.`,
      },
    );
  }
  const digest = callerDigest({ ...claim, timestamp: caller.timestamp });
  // A caller seen before is checked against its remembered key (a fraction of a recovery,
  // known-signers.ts); only a new caller, or a signature that fails, is recovered.
  if (knownSigners.verify(caller.address, digest, caller.signature, false))
    return checksumAddress(caller.address);
  const sig = fromHex(caller.signature.slice(2));
  const v = sig[64]!;
  if (v !== 27 && v !== 28) throw invalid("v must be 27 or 28");
  let recovered: `0x${string}`;
  try {
    const pub = secp256k1.recoverPublicKey(concatBytes(Uint8Array.of(v - 27), sig.subarray(0, 64)), digest, {
      prehash: false,
    });
    recovered = ethAddressFromPublicKey(pub);
  } catch {
    throw invalid("it does not recover a public key");
  }
  if (recovered.toLowerCase() !== caller.address.toLowerCase()) {
    throw invalid(`it was made by ${recovered}, not ${caller.address}`);
  }
  return recovered;
}
