import type { Hex } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import type { FeeQuote, VoucherHeader } from "../chain/fee-vouchers.ts";
import type { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import { once } from "./lazy.ts";

// Paying priced agents (ADR 0006, "Fees in practice"): a worker's quote checked against the chain,
// the cumulative voucher signed, and the channel remembered so that the next call carries its
// voucher without a quote.

export type { FeeQuote, VoucherHeader };

const feeVouchersModule = once(() => import("../chain/fee-vouchers.ts"));

/**
 * The most a worker may say we owe it unclaimed, in calls' worth, when it quotes a channel we did
 * not sign for in this process: workers claim every 100 calls or 5 minutes by default.
 */
export const MAX_UNPAID_CALLS = 1000n;

/** A signed voucher and the quote it pays, sent with a call. */
export type Payment = { voucher: VoucherHeader; quote: FeeQuote };

/** Signs the voucher a quote asks for; undefined declines paying. */
export type Payer = (quote: FeeQuote) => Promise<VoucherHeader | undefined>;

/** Who pays for a call, as `InvokeRequest` says it (see there). */
export type PayingRequest = { as?: Hex; pay?: Payer; payerTag?: string; maxPrice?: bigint };

/** What fees need of the client: its network, its chain, and the accounts of callers' keys. */
export type FeeContext = {
  network: NetworkFile;
  chain(): Promise<VeilChain>;
  account(privateKey: Hex): Promise<PrivateKeyAccount>;
};

/**
 * VeilToken base units as VEIL (18 decimals), for messages.
 *
 * @example
 * veilUnits(1_500_000_000_000_000_000n); // "1.5"
 */
export function veilUnits(units: bigint): string {
  const whole = units / 10n ** 18n;
  const fraction = (units % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole.toString();
}

/**
 * The refusal of a quote above what the caller allowed (`maxPrice`, ADR 0020).
 *
 * @example
 * if (price > maxPrice) throw priceAboveMaximum("hello", price, maxPrice);
 */
export function priceAboveMaximum(agent: string, price: bigint, max: bigint): VeilError {
  return new VeilError(
    "PRICE_ABOVE_MAXIMUM",
    `A call to ${agent} costs ${veilUnits(price)} VEIL, more than the ${veilUnits(max)} VEIL you allowed`,
    {
      status: 402,
      hint: "Nothing was signed or paid. If you accept the price, call again with a higher --max-price (maxPrice in the SDK).",
    },
  );
}

/**
 * The quote a worker's 402 FEE_VOUCHER_REQUIRED carried, kept on the error by `withQuote`.
 *
 * @example
 * const quote = quoteOf(err); // undefined unless the worker asked to be paid
 */
export function quoteOf(err: unknown): FeeQuote | undefined {
  return err instanceof VeilError ? (err as VeilError & { quote?: FeeQuote }).quote : undefined;
}

/**
 * A worker's 402 FEE_VOUCHER_REQUIRED carries the voucher to sign (`x-veil-fee-quote`, base64
 * JSON): keep it on the error, where `quoteOf` finds it.
 *
 * @example
 * throw withQuote(gatewayError(body, 402), headers);
 */
export function withQuote(err: VeilError, headers: Record<string, string>): VeilError {
  const raw = headers["x-veil-fee-quote"];
  if (err.code !== "FEE_VOUCHER_REQUIRED" || !raw) return err;
  try {
    // atob, not Buffer: browsers read quotes too (the console's playground). A quote is ASCII JSON.
    const quote = JSON.parse(atob(raw)) as FeeQuote;
    return Object.assign(err, { quote });
  } catch {
    return err;
  }
}

/** One client's fee channels: the quotes it paid on and the vouchers it signed. */
export class FeePayments {
  readonly #context: FeeContext;
  /** Fee channels we paid on, by agent and payer: the next voucher is signed without a quote. */
  readonly #channels = new Map<string, FeeQuote>();
  /** The last voucher we signed per (payer, worker, agent) with `as`: its successor needs no check. */
  readonly #signed = new Map<string, { calls: bigint; amount: bigint; price: bigint }>();

  constructor(context: FeeContext) {
    this.#context = context;
  }

  /**
   * Who signs vouchers for the request: `pay`, else the caller's own key (`as`), else nobody.
   *
   * @example
   * const pay = await fees.payerFor({ as: callerKey }); // signs for callerKey's escrow only
   */
  async payerFor(request: PayingRequest): Promise<Payer | undefined> {
    return request.pay ?? (request.as ? this.payAs(request.as) : undefined);
  }

  /**
   * Sends a call to a priced agent: with the channel's next voucher when we know it; else the
   * worker quotes it (402 FEE_VOUCHER_REQUIRED) and we sign and send again (also after a price
   * change, or when another worker answers), twice at most.
   *
   * @example
   * const answer = await fees.paying("hello", request, pay, (fee) => sendOnce("hello", request, fee));
   */
  async paying<T>(
    nameOrId: string,
    request: PayingRequest,
    pay: Payer,
    send: (fee: Payment | undefined) => Promise<T>,
  ): Promise<T> {
    const tag = `${nameOrId}:${request.payerTag ?? (request.as ? (await this.#context.account(request.as)).address : "")}`;
    let quote: FeeQuote | undefined = this.#channels.get(tag);
    for (let attempt = 0; ; attempt++) {
      if (quote && request.maxPrice !== undefined && BigInt(quote.price) > request.maxPrice) {
        throw priceAboveMaximum(nameOrId, BigInt(quote.price), request.maxPrice);
      }
      const voucher = quote ? await pay(quote) : undefined;
      try {
        const result = await send(voucher && quote ? { voucher, quote } : undefined);
        if (voucher && quote) {
          this.#channels.set(tag, {
            ...quote,
            calls: (BigInt(quote.calls) + 1n).toString(),
            amount: (BigInt(quote.amount) + BigInt(quote.price)).toString(),
          });
        }
        return result;
      } catch (err) {
        const next = quoteOf(err);
        if (!next || attempt >= 2) throw err;
        this.#channels.delete(tag);
        quote = next;
      }
    }
  }

  /**
   * The default payer with `as`: the caller's key signs vouchers for its own escrow only.
   *
   * @example
   * const voucher = await (await fees.payAs(callerKey))(quote);
   */
  async payAs(privateKey: Hex): Promise<Payer> {
    const { signQuote } = await feeVouchersModule();
    const account = await this.#context.account(privateKey);
    return async (quote) => {
      if (quote.payer.toLowerCase() !== account.address.toLowerCase()) return undefined;
      const channel = `${quote.payer.toLowerCase()}:${quote.worker.toLowerCase()}:${quote.agentId}`;
      const last = this.#signed.get(channel);
      const successor =
        last !== undefined &&
        BigInt(quote.calls) === last.calls + 1n &&
        BigInt(quote.amount) === last.amount + BigInt(quote.price) &&
        BigInt(quote.price) === last.price;
      // A worker's quote is checked against the chain before we sign (the successor of a voucher
      // we signed was checked with it): this network's chain and escrow, the agent's price as its
      // owner set it, and how much the quote says we owe unclaimed — at most `MAX_UNPAID_CALLS`
      // calls' worth beyond what the chain has paid the channel, so that a host inflating the
      // channel's base cannot make us sign away our escrow.
      if (!successor) await this.checkQuote(quote);
      const voucher = await signQuote(account, quote);
      this.#signed.set(channel, {
        calls: BigInt(quote.calls),
        amount: BigInt(quote.amount),
        price: BigInt(quote.price),
      });
      return voucher;
    };
  }

  /**
   * Refuses (`FEE_QUOTE_INVALID`) a quote the chain does not back: another chain or escrow, a
   * price other than the agent's, or more owed unclaimed than `MAX_UNPAID_CALLS` calls' worth.
   *
   * @example
   * await fees.checkQuote(quote); // throws FEE_QUOTE_INVALID if a host inflated it
   */
  async checkQuote(quote: FeeQuote): Promise<void> {
    await checkFeeQuote(this.#context.network, await this.#context.chain(), quote);
  }
}

/**
 * Refuses (`FEE_QUOTE_INVALID`) a worker's quote that the chain does not back: another chain or
 * escrow, a price other than the agent's on chain, or more owed unclaimed than
 * `MAX_UNPAID_CALLS` calls' worth beyond what the chain has paid the channel (so that a host
 * inflating the channel's base cannot make a payer sign away its escrow). Browser-safe: the
 * console's playground checks quotes with it before its signer signs a voucher.
 *
 * @example
 * ```ts
 * await checkFeeQuote(network, chain, quote); // throws FEE_QUOTE_INVALID if a host inflated it
 * ```
 */
export async function checkFeeQuote(
  network: Pick<NetworkFile, "chain">,
  chain: VeilChain,
  quote: FeeQuote,
): Promise<void> {
  const policy = await chain.getAgentPolicy(BigInt(quote.agentId));
  const escrow = network.chain.economy?.feeEscrow;
  const refuse = (why: string) =>
    new VeilError("FEE_QUOTE_INVALID", `Worker ${quote.worker} quoted a fee that the chain does not back`, {
      context: [why],
      hint: "Try again (another worker may answer); report the worker if it persists.",
    });
  if (
    quote.chainId !== network.chain.chainId ||
    !escrow ||
    quote.feeEscrow.toLowerCase() !== escrow.toLowerCase()
  )
    throw refuse(`it names chain ${quote.chainId} and escrow ${quote.feeEscrow}`);
  if (BigInt(quote.price) !== policy.price)
    throw refuse(`quoted price ${quote.price}, on chain ${policy.price}`);
  const { feeEscrowAbi } = await import("../chain/abi.ts");
  const paid = await chain.public.readContract({
    address: escrow,
    abi: feeEscrowAbi,
    functionName: "getChannel",
    args: [quote.payer, quote.worker, BigInt(quote.agentId)],
  });
  const unpaid = BigInt(quote.amount) - paid.amount;
  if (unpaid > BigInt(quote.price) * MAX_UNPAID_CALLS)
    throw refuse(
      `it asks ${unpaid} base units beyond what the chain has paid it, over ${MAX_UNPAID_CALLS} calls' worth`,
    );
}
