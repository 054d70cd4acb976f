/**
 * The gas limit to send with a write, from its estimate. The estimate is made against the state
 * now; another party's transaction mined first can send this one down a longer branch (the last
 * of several gatekeepers to confirm also completes the rotation; a claim that finds a payer's
 * escrow short records the shortfall), and then an exact limit runs out of gas. Unused gas is not
 * charged. The headroom stops below a common block gas limit, so a large batch stays sendable.
 */
export function gasWithHeadroom(estimate: bigint): bigint {
  const padded = (estimate * 13n) / 10n + 60_000n;
  const ceiling = estimate > BLOCK_CEILING ? estimate : BLOCK_CEILING;
  return padded < ceiling ? padded : ceiling;
}

/** Below the 30M block gas limit of Ethereum mainnet and of Hardhat's default chain. */
const BLOCK_CEILING = 29_000_000n;
