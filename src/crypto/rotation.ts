import { VeilError } from "../errors/index.ts";
import { concatBytes, u64be, utf8 } from "./bytes.ts";
import { open, SEAL_OVERHEAD, seal } from "./envelope.ts";
import { hkdf } from "./kdf.ts";
import { LABELS } from "./labels.ts";

// The contributory master key of a rotation (ADR 0010). Each elected gatekeeper draws a random
// 32-byte share and seals it to every elected gatekeeper's attested X25519 key (itself
// included, so that a gatekeeper that restarts mid-rotation recovers its own share from the
// chain). The master key is HKDF over every share, in election order, salted with the on-chain
// transcript of all contributions: no gatekeeper chooses it, and every one derives the same key.

export const SHARE_BYTES = 32;
/** Bytes of one sealed share inside a contribution. */
export const SEALED_SHARE_BYTES = SHARE_BYTES + SEAL_OVERHEAD;

const shareAad = (epoch: bigint, from: string, to: string) =>
  utf8(`rotation-share|${epoch}|${from.toLowerCase()}|${to.toLowerCase()}`);

export type Recipient = { address: string; encryptionKey: Uint8Array };

/** A contribution: `share` sealed to each elected gatekeeper, concatenated in election order. */
export function sealContribution(
  share: Uint8Array,
  epoch: bigint,
  from: string,
  elected: readonly Recipient[],
  options: { random?: (n: number) => Uint8Array } = {},
): Uint8Array {
  if (!(share instanceof Uint8Array) || share.length !== SHARE_BYTES) {
    throw new VeilError("KEY_INVALID", "A rotation share must be 32 bytes", {});
  }
  return concatBytes(
    ...elected.map((r) =>
      seal(r.encryptionKey, share, {
        label: LABELS.rotationShare,
        aad: shareAad(epoch, from, r.address),
        ...(options.random ? { random: options.random } : {}),
      }),
    ),
  );
}

/** Opens the share that `from` sealed to the gatekeeper at `position` of the election. */
export function openContribution(
  contribution: Uint8Array,
  epoch: bigint,
  from: string,
  me: { address: string; position: number; privateKey: Uint8Array },
  electedCount: number,
): Uint8Array {
  if (contribution.length !== electedCount * SEALED_SHARE_BYTES) {
    throw new VeilError(
      "ROTATION_CONTRIBUTION_INVALID",
      `The contribution of ${from} has ${contribution.length} bytes, not ${electedCount} sealed shares`,
      { hint: "That gatekeeper posted a malformed contribution; governance should abort the rotation." },
    );
  }
  const at = me.position * SEALED_SHARE_BYTES;
  return open(me.privateKey, contribution.subarray(at, at + SEALED_SHARE_BYTES), {
    label: LABELS.rotationShare,
    aad: shareAad(epoch, from, me.address),
  });
}

/** The master key of `epoch`: HKDF(salt = transcript, ikm = shares in election order). */
export function combineMasterShares(
  shares: readonly Uint8Array[],
  transcript: Uint8Array,
  epoch: bigint,
): Uint8Array {
  if (shares.length === 0 || shares.some((s) => !(s instanceof Uint8Array) || s.length !== SHARE_BYTES)) {
    throw new VeilError("KEY_INVALID", "Every rotation share must be 32 bytes, and there must be one", {});
  }
  if (!(transcript instanceof Uint8Array) || transcript.length !== 32) {
    throw new VeilError("KEY_INVALID", "The rotation transcript must be 32 bytes", {});
  }
  return hkdf(concatBytes(...shares), transcript, concatBytes(utf8(LABELS.rotationMaster), u64be(epoch)), 32);
}
