import type { Hex } from "viem";
import { feeEscrowAbi } from "../chain/abi.ts";
import { type VeilEconomy, type Voucher, voucherDigest } from "../chain/economy-client.ts";
import { VeilError } from "../errors/index.ts";
import { type FeeLedger, recoverVoucherSigner, type StoredVoucher } from "./fees.ts";

export type SettlementOptions = {
  ledger: FeeLedger;
  /** Signs and pays for the claim transactions (the operator: anyone may submit a claim). */
  economy: VeilEconomy;
  worker: Hex;
  /** Most channels per claim transaction (default 200: about 40k gas each when new). */
  batchSize?: number;
  /** Claim once this many calls are pending (default 100)… */
  claimAtCalls?: number;
  /** …or once anything has been pending this long (default 5 minutes). */
  intervalMs?: number;
  /** How often to look (default 1 s). */
  pollMs?: number;
  /** A claim that has not settled by then is given up for this round (default 120 s). */
  claimTimeoutMs?: number;
  log?: (message: string) => void;
};

export type SettlementResult = { claimed: number; dropped: number; paid: bigint; txs: Hex[]; error?: string };

/**
 * Claims this worker's vouchers from FeeEscrow in batches. A channel is marked paid only from
 * the chain's own record after the claim's receipt succeeded, so a lost or failed transaction is
 * simply claimed again (the cumulative voucher cannot pay twice). A voucher the chain refuses
 * as already paid is dropped for good; any other failure leaves everything pending for the next
 * round.
 */
export class FeeSettlement {
  readonly #o: SettlementOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running: Promise<SettlementResult> | undefined;
  #lastClaimAt = Date.now();
  last: SettlementResult | undefined;

  constructor(options: SettlementOptions) {
    this.#o = options;
  }

  start(): void {
    this.#stopped = false;
    const tick = async () => {
      try {
        const { pendingCalls } = await this.#o.ledger.stats();
        const due = Date.now() - this.#lastClaimAt >= (this.#o.intervalMs ?? 300_000);
        if (pendingCalls >= BigInt(this.#o.claimAtCalls ?? 100) || (pendingCalls > 0n && due)) {
          await this.settle();
        }
      } catch (err) {
        this.#o.log?.(`fee settlement: ${(err as Error).message.split("\n")[0]}`);
      }
      // A round that was running when stop() came must not start the loop again.
      if (this.#stopped) return;
      this.#timer = setTimeout(tick, this.#o.pollMs ?? 1_000);
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, this.#o.pollMs ?? 1_000);
    this.#timer.unref();
  }

  /** Stops the loop; resolves once a round that was running has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** One settlement round now (one at a time: a second caller waits for the first). */
  settle(): Promise<SettlementResult> {
    this.#running ??= this.#settle().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #settle(): Promise<SettlementResult> {
    const result: SettlementResult = { claimed: 0, dropped: 0, paid: 0n, txs: [] };
    const { ledger, economy, worker } = this.#o;
    let batch = await this.#payable(await ledger.pending(this.#o.batchSize ?? 200));
    // A refusal names one voucher at most; after dropping what the chain has paid, try again.
    for (let attempt = 0; batch.length > 0 && attempt < 3; attempt++) {
      const vouchers: Voucher[] = batch.map(({ claimedAmount: _c, shortfall: _s, ...v }) => v);
      try {
        // Bounded, so that one stuck transaction never stops the loop: if it lands later, the next
        // round finds its vouchers paid on chain and drops them.
        const tx = await withTimeout(economy.claimFees(worker, vouchers), this.#o.claimTimeoutMs ?? 120_000);
        result.txs.push(tx);
        // Marked only now that the receipt succeeded, from what the chain says it paid.
        for (const [i, v] of vouchers.entries()) {
          const paid = await economy.feeChannel(v.payer, worker, v.agentId);
          await ledger.markPaid(v, paid);
          result.paid += paid.amount - batch[i]!.claimedAmount;
          result.claimed++;
        }
        this.#lastClaimAt = Date.now();
        break;
      } catch (err) {
        const code = err instanceof VeilError ? err.code : undefined;
        if (code === "VOUCHER_SIGNATURE_INVALID") {
          // A signer lost its authority after we accepted its vouchers (the payer revoked it):
          // those can never be claimed, and must not block everyone else's.
          const rest: StoredVoucher[] = [];
          for (const v of batch) {
            if (await this.#stillSignable(v)) rest.push(v);
            else {
              await ledger.drop(v, { calls: v.calls, amount: v.amount });
              result.dropped++;
              this.#o.log?.(`fees: dropped a voucher of ${v.payer} whose signer may no longer sign`);
            }
          }
          if (rest.length < batch.length) {
            batch = rest;
            continue;
          }
        }
        if (code !== "VOUCHER_ALREADY_CLAIMED") {
          // RPC down, out of gas, a signer revoked…: nothing is marked; next round tries again.
          result.error = (err as Error).message.split("\n")[0];
          this.#o.log?.(`fee claim failed, will retry: ${result.error}`);
          break;
        }
        const rest: StoredVoucher[] = [];
        for (const v of batch) {
          const paid = await economy.feeChannel(v.payer, worker, v.agentId);
          if (paid.amount >= v.amount || paid.calls > v.calls) {
            await ledger.drop(v, paid);
            result.dropped++;
          } else rest.push(v);
        }
        batch = rest;
      }
    }
    this.last = result;
    if (result.claimed || result.dropped)
      this.#o.log?.(
        `fees: claimed ${result.claimed} channels (${result.paid} base units), dropped ${result.dropped} already paid`,
      );
    return result;
  }

  async #stillSignable(v: StoredVoucher): Promise<boolean> {
    const e = this.#o.economy;
    const signer = recoverVoucherSigner(
      voucherDigest({
        chainId: e.config.chainId,
        feeEscrow: e.addresses.feeEscrow,
        payer: v.payer,
        worker: this.#o.worker,
        agentId: v.agentId,
        calls: v.calls,
        amount: v.amount,
      }),
      { payer: v.payer, calls: v.calls.toString(), amount: v.amount.toString(), r: v.r, vs: v.vs },
    );
    if (signer.toLowerCase() === v.payer.toLowerCase()) return true;
    const scope = await e.public.readContract({
      address: e.addresses.feeEscrow,
      abi: feeEscrowAbi,
      functionName: "signerScope",
      args: [v.payer, signer],
    });
    return scope === 2n ** 256n - 1n || (scope !== 0n && scope - 1n === v.agentId);
  }

  /** Channels left short by an empty escrow are claimed again only once the payer has funds. */
  async #payable(batch: StoredVoucher[]): Promise<StoredVoucher[]> {
    const out: StoredVoucher[] = [];
    for (const v of batch) {
      if (v.shortfall && (await this.#o.economy.escrowAccount(v.payer)).balance === 0n) continue;
      out.push(v);
    }
    return out;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the claim did not settle within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
