import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, lengthPrefixed, u64be, utf8 } from "./bytes.ts";

// An agent's state head (docs/adr/0019): a write counter and a digest of the (row, version)
// pairs it holds, the sum mod 2^256 of one keyed term per row. Keyed with the agent's row key,
// the host cannot compute a term, so it cannot find a set of old rows that sums to the head.

const toBig = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);

/** The digest term of `row` at `version`. */
export function stateDigestTerm(rowKey: Uint8Array, row: string, version: bigint): bigint {
  return toBig(
    hmac(sha256, rowKey, concatBytes(utf8("veil/v1/state/digest/"), lengthPrefixed(row), u64be(version))),
  );
}

/** The MAC that makes a head its owner's (an agent id): only a holder of the row key can write one. */
export function stateHeadMac(rowKey: Uint8Array, owner: string, counter: bigint, digest: bigint): Uint8Array {
  return hmac(
    sha256,
    rowKey,
    concatBytes(
      utf8("veil/v1/state/head/"),
      lengthPrefixed(owner),
      u64be(counter),
      utf8(digest.toString(16).padStart(64, "0")),
    ),
  );
}
