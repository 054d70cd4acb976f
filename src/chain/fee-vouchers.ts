import { type Hex, type LocalAccount, parseSignature, signatureToCompactSignature } from "viem";
import type { VeilDomain, VeilMessage } from "../crypto/typed-data.ts";
import { VeilError } from "../errors/index.ts";
import { signTyped } from "./typed-signing.ts";

// The fee voucher protocol between payers and workers (ADR 0006; the worker side is
// src/worker/fees.ts): shared by the SDK, which signs, and workers, which check and claim.

/** The request header that carries a voucher: base64 JSON of `VoucherHeader`. */
export const VOUCHER_HEADER = "x-veil-fee-voucher";
/** The response header that carries a quote with a 402 FEE_VOUCHER_REQUIRED. */
export const QUOTE_HEADER = "x-veil-fee-quote";
/** A request header asking the gateway to try this worker first (the one a voucher names). */
export const PREFER_WORKER_HEADER = "x-veil-prefer-worker";

/** What a payer must sign for its next call through this worker. Amounts are decimal strings. */
export type FeeQuote = {
  chainId: number;
  feeEscrow: Hex;
  worker: Hex;
  payer: Hex;
  agentId: string;
  calls: string;
  amount: string;
  price: string;
};

export type VoucherHeader = { payer: Hex; calls: string; amount: string; r: Hex; vs: Hex };

/** The voucher as its header carries it (btoa, not Buffer: browsers send vouchers too; it is ASCII JSON). */
export function encodeVoucher(v: VoucherHeader): string {
  return btoa(JSON.stringify(v));
}

export function decodeVoucher(header: string): VoucherHeader {
  let v: VoucherHeader;
  try {
    v = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as VoucherHeader;
  } catch {
    throw badVoucher("it is not readable");
  }
  if (
    !/^0x[0-9a-fA-F]{40}$/.test(String(v?.payer)) ||
    !/^\d{1,30}$/.test(String(v.calls)) ||
    !/^\d{1,60}$/.test(String(v.amount)) ||
    !/^0x[0-9a-fA-F]{64}$/.test(String(v.r)) ||
    !/^0x[0-9a-fA-F]{64}$/.test(String(v.vs))
  )
    throw badVoucher("it is malformed");
  return v;
}

/** Signs the voucher a quote asks for, as `signer` (the payer, or a key it authorized). */
export async function signQuote(signer: LocalAccount, quote: FeeQuote): Promise<VoucherHeader> {
  const { domain, message } = voucherToSign(quote);
  return voucherOf(quote, await signTyped(signer, domain, "Voucher", message));
}

/**
 * What a payer signs for a quote: EIP-712 typed data under the FeeEscrow's domain, so a wallet
 * asked to sign shows payer, worker, agent, calls and amount.
 */
export function voucherToSign(quote: FeeQuote): { domain: VeilDomain; message: VeilMessage<"Voucher"> } {
  return {
    domain: { chainId: quote.chainId, verifyingContract: quote.feeEscrow },
    message: {
      payer: quote.payer,
      worker: quote.worker,
      agentId: BigInt(quote.agentId),
      calls: BigInt(quote.calls),
      amount: BigInt(quote.amount),
    },
  };
}

/** The voucher header of a signature over `voucherToSign(quote)` (its compact r and yParity‖s). */
export function voucherOf(quote: FeeQuote, signature: Hex): VoucherHeader {
  const { r, yParityAndS } = signatureToCompactSignature(parseSignature(signature));
  return { payer: quote.payer, calls: quote.calls, amount: quote.amount, r, vs: yParityAndS };
}

export const badVoucher = (why: string) =>
  new VeilError("VOUCHER_SIGNATURE_INVALID", `The fee voucher is not valid: ${why}`, {
    status: 402,
    hint: "Sign the voucher the worker's quote asks for (the SDK does when you pass `as`).",
  });
