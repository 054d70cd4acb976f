import { formatUnits, parseUnits } from "viem";

/** The VEIL token's decimals. */
export const VEIL_DECIMALS = 18;

/**
 * "1.5" → 1500000000000000000n base units. Throws on anything that is not a decimal number.
 *
 * @example
 * parseVeil("1.5"); // 1500000000000000000n
 */
export function parseVeil(amount: string): bigint {
  if (!/^\d+(\.\d+)?$/.test(amount.trim())) throw new Error(`not a VEIL amount: "${amount}"`);
  return parseUnits(amount.trim(), VEIL_DECIMALS);
}

/**
 * 1500000000000000000n → "1.5" (all significant decimals; `maxDecimals` rounds down).
 *
 * @example
 * formatVeil(1234567890000000000n, { maxDecimals: 2 }); // "1.23"
 */
export function formatVeil(amount: bigint, options: { maxDecimals?: number } = {}): string {
  const s = formatUnits(amount, VEIL_DECIMALS);
  if (options.maxDecimals === undefined || !s.includes(".")) return s;
  const [whole, frac = ""] = s.split(".");
  const cut = frac.slice(0, options.maxDecimals).replace(/0+$/, "");
  return cut ? `${whole}.${cut}` : (whole ?? "0");
}
