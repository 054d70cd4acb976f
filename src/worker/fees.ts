import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import Database from "better-sqlite3";
import type { Hex, LocalAccount } from "viem";
import { feeEscrowAbi } from "../chain/abi.ts";
import { type Voucher, voucherDigest } from "../chain/economy-client.ts";
import { badVoucher, type FeeQuote, signQuote, type VoucherHeader } from "../chain/fee-vouchers.ts";
import type { VeilChain } from "../chain/index.ts";
import { concatBytes, ethAddressFromPublicKey, fromHex, keccak256, utf8 } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";

// Fees for paid invocations (ADR 0006, "Fees"). Each paid call carries the payer's cumulative
// voucher for the channel (payer, this worker, agent): "N calls, X tokens in total". The worker
// accepts a voucher only if it is the channel's next one (calls + 1, amount + price) and keeps
// the latest per channel in SQLite; `FeeSettlement` claims them from FeeEscrow in batches.
// A payer that does not know the channel's state (a new client, or another worker answered
// last time) gets a quote (`FEE_VOUCHER_REQUIRED`, 402, with an `x-veil-fee-quote` header) to
// sign and send again.

export {
  decodeVoucher,
  encodeVoucher,
  type FeeQuote,
  PREFER_WORKER_HEADER,
  QUOTE_HEADER,
  signQuote,
  VOUCHER_HEADER,
  type VoucherHeader,
} from "../chain/fee-vouchers.ts";

/** A 402 that tells the payer exactly what to sign; the server sends the quote as a header. */
export class FeeQuoteError extends VeilError {
  readonly quote: FeeQuote;
  constructor(quote: FeeQuote, why: string) {
    super(
      "FEE_VOUCHER_REQUIRED",
      `A call to agent #${quote.agentId} costs ${quote.price} base units: ${why}`,
      {
        status: 402,
        context: [
          `sign: ${quote.calls} calls, ${quote.amount} base units in total to worker ${quote.worker}`,
        ],
        hint: "Sign the quoted cumulative voucher (x-veil-fee-quote) and send it as x-veil-fee-voucher (the SDK does).",
      },
    );
    this.quote = quote;
  }
}

type Row = {
  payer: string;
  agent: string;
  calls: string;
  amount: string;
  r: string | null;
  vs: string | null;
  claimed_calls: string;
  claimed_amount: string;
  dropped: number;
  shortfall: number;
};

export type StoredVoucher = Voucher & { claimedAmount: bigint; shortfall: boolean };

export type FeeStats = {
  channels: number;
  pendingCalls: bigint;
  pendingAmount: bigint;
  claimedCalls: bigint;
  claimedAmount: bigint;
  /** Vouchers the chain refused as already paid (a claim whose receipt was lost, say). */
  dropped: number;
};

/**
 * The latest voucher of each (payer, agent) channel this worker serves, and what the chain has
 * paid of it. One SQLite table keyed by worker too, since the state file may be shared by the
 * workers of one machine.
 */
export class FeeLedger {
  readonly #db: Database.Database;
  readonly worker: string;

  constructor(path: string, worker: Hex) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("busy_timeout = 5000");
    // WAL with NORMAL sync: no fsync per call. A power cut may lose the last calls' vouchers
    // (their fees), never pay one twice: the chain's channel record is what claims go by.
    this.#db.pragma("synchronous = NORMAL");
    this.#db.exec(`CREATE TABLE IF NOT EXISTS fee_channels (
      worker TEXT NOT NULL,
      payer TEXT NOT NULL,
      agent TEXT NOT NULL,
      calls TEXT NOT NULL,
      amount TEXT NOT NULL,
      r TEXT,
      vs TEXT,
      claimed_calls TEXT NOT NULL,
      claimed_amount TEXT NOT NULL,
      dropped INTEGER NOT NULL DEFAULT 0,
      shortfall INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (worker, payer, agent)
    ) WITHOUT ROWID`);
    this.worker = worker.toLowerCase();
  }

  readonly #statements = new Map<string, Database.Statement>();
  /** Statements are prepared once: preparing costs more than running them. */
  #stmt(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  #row(payer: Hex, agentId: bigint): Row | undefined {
    return this.#stmt("SELECT * FROM fee_channels WHERE worker = ? AND payer = ? AND agent = ?").get(
      this.worker,
      payer.toLowerCase(),
      agentId.toString(),
    ) as Row | undefined;
  }

  /** The channel's latest accepted state, if this worker has one. */
  channel(payer: Hex, agentId: bigint): { calls: bigint; amount: bigint; claimedAmount: bigint } | undefined {
    const r = this.#row(payer, agentId);
    return r
      ? { calls: BigInt(r.calls), amount: BigInt(r.amount), claimedAmount: BigInt(r.claimed_amount) }
      : undefined;
  }

  /** Starts a channel this worker has no row for at what the chain already paid of it. */
  open(payer: Hex, agentId: bigint, paid: { calls: bigint; amount: bigint }): void {
    this.#stmt(
      "INSERT OR IGNORE INTO fee_channels (worker, payer, agent, calls, amount, claimed_calls, claimed_amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ).run(
      this.worker,
      payer.toLowerCase(),
      agentId.toString(),
      paid.calls.toString(),
      paid.amount.toString(),
      paid.calls.toString(),
      paid.amount.toString(),
    );
  }

  /**
   * Records `v` as the channel's latest if the channel is still at `previous` (compare and set:
   * of two concurrent calls signing the same next voucher, one wins). False if it moved.
   */
  accept(v: Voucher, previous: { calls: bigint; amount: bigint }): boolean {
    const res = this.#stmt(
      "UPDATE fee_channels SET calls = ?, amount = ?, r = ?, vs = ? WHERE worker = ? AND payer = ? AND agent = ? AND calls = ? AND amount = ?",
    ).run(
      v.calls.toString(),
      v.amount.toString(),
      v.r,
      v.vs,
      this.worker,
      v.payer.toLowerCase(),
      v.agentId.toString(),
      previous.calls.toString(),
      previous.amount.toString(),
    );
    return res.changes === 1;
  }

  /** Channels whose latest voucher is not fully paid, oldest payers first, at most `limit`. */
  pending(limit: number): StoredVoucher[] {
    const rows = this.#stmt("SELECT * FROM fee_channels WHERE worker = ? AND r IS NOT NULL").all(
      this.worker,
    ) as Row[];
    return rows
      .filter((r) => BigInt(r.amount) > BigInt(r.claimed_amount))
      .slice(0, limit)
      .map((r) => ({
        payer: r.payer as Hex,
        agentId: BigInt(r.agent),
        calls: BigInt(r.calls),
        amount: BigInt(r.amount),
        r: r.r as Hex,
        vs: r.vs as Hex,
        claimedAmount: BigInt(r.claimed_amount),
        shortfall: r.shortfall === 1,
      }));
  }

  /**
   * After a claim's receipt: the chain paid the channel up to `paid`. Less than the voucher means
   * the payer's escrow ran short; the rest stays pending for after a top-up.
   */
  markPaid(v: Voucher, paid: { calls: bigint; amount: bigint }): void {
    this.#stmt(
      "UPDATE fee_channels SET claimed_calls = ?, claimed_amount = ?, shortfall = ? WHERE worker = ? AND payer = ? AND agent = ?",
    ).run(
      paid.calls.toString(),
      paid.amount.toString(),
      paid.amount < v.amount ? 1 : 0,
      this.worker,
      v.payer.toLowerCase(),
      v.agentId.toString(),
    );
  }

  /** The chain refused `v` as already paid: it is never submitted again. */
  drop(v: Voucher, paid: { calls: bigint; amount: bigint }): void {
    this.#stmt(
      "UPDATE fee_channels SET claimed_calls = ?, claimed_amount = ?, dropped = dropped + 1, shortfall = 0 WHERE worker = ? AND payer = ? AND agent = ?",
    ).run(
      larger(paid.calls, v.calls).toString(),
      larger(paid.amount, v.amount).toString(),
      this.worker,
      v.payer.toLowerCase(),
      v.agentId.toString(),
    );
  }

  /** For tests and recovery: forget that a channel was paid (as a crash before marking would). */
  forgetPaid(payer: Hex, agentId: bigint, to: { calls: bigint; amount: bigint }): void {
    this.#stmt(
      "UPDATE fee_channels SET claimed_calls = ?, claimed_amount = ? WHERE worker = ? AND payer = ? AND agent = ?",
    ).run(to.calls.toString(), to.amount.toString(), this.worker, payer.toLowerCase(), agentId.toString());
  }

  stats(): FeeStats {
    const rows = this.#stmt("SELECT * FROM fee_channels WHERE worker = ?").all(this.worker) as Row[];
    const s: FeeStats = {
      channels: rows.length,
      pendingCalls: 0n,
      pendingAmount: 0n,
      claimedCalls: 0n,
      claimedAmount: 0n,
      dropped: 0,
    };
    for (const r of rows) {
      const calls = BigInt(r.calls);
      const claimedCalls = BigInt(r.claimed_calls);
      s.pendingCalls += calls > claimedCalls ? calls - claimedCalls : 0n;
      s.pendingAmount += BigInt(r.amount) - BigInt(r.claimed_amount);
      s.claimedCalls += claimedCalls;
      s.claimedAmount += BigInt(r.claimed_amount);
      s.dropped += r.dropped;
    }
    return s;
  }

  close(): void {
    this.#db.close();
  }
}

/**
 * Who signed a voucher: EIP-191 over the 32-byte digest, EIP-2098 compact signature (r, vs),
 * recovered with @noble directly (viem's path costs about twice as much per call).
 */
export function recoverVoucherSigner(digest: Hex, v: VoucherHeader): Hex {
  const vs = BigInt(v.vs);
  const s = vs & ((1n << 255n) - 1n);
  const recovery = Number(vs >> 255n);
  const sig = concatBytes(
    Uint8Array.of(recovery),
    fromHex(v.r.slice(2)),
    fromHex(s.toString(16).padStart(64, "0")),
  );
  const message = keccak256(concatBytes(utf8("\x19Ethereum Signed Message:\n32"), fromHex(digest.slice(2))));
  try {
    return ethAddressFromPublicKey(secp256k1.recoverPublicKey(sig, message, { prehash: false }));
  } catch {
    throw badVoucher("its signature does not recover");
  }
}

/** Math.max does not take bigints. */
function larger(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

export type FeeCharge = { payer: Hex; price: bigint; agentId: bigint };

/**
 * Takes the voucher for one paid call (admission time, before the sandbox runs): checks that it
 * is the channel's next, that the payer or a signer it authorized for this agent signed it, and
 * that the payer's escrow covers what this channel is owed; then records it.
 */
export class FeeCollector {
  readonly #scopes = new Map<string, { scope: bigint; at: number }>();
  readonly #escrow = new Map<string, { value: bigint; at: number }>();

  constructor(
    readonly options: {
      chain: VeilChain;
      feeEscrow: Hex;
      ledger: FeeLedger;
      worker: Hex;
      /** How long a signer's on-chain scope is trusted (revocations take this long to bite). */
      scopeCacheMs?: number;
      /** How long a payer's escrow balance that covers its calls is trusted (default 2 s). */
      escrowCacheMs?: number;
    },
  ) {}

  quote(charge: FeeCharge, previous: { calls: bigint; amount: bigint }): FeeQuote {
    return {
      chainId: this.options.chain.config.chainId,
      feeEscrow: this.options.feeEscrow,
      worker: this.options.worker,
      payer: charge.payer,
      agentId: charge.agentId.toString(),
      calls: (previous.calls + 1n).toString(),
      amount: (previous.amount + charge.price).toString(),
      price: charge.price.toString(),
    };
  }

  /** The channel's state: the ledger's, or for a new channel what the chain has paid. */
  async #previous(charge: FeeCharge): Promise<{ calls: bigint; amount: bigint; claimedAmount: bigint }> {
    const known = this.options.ledger.channel(charge.payer, charge.agentId);
    if (known) return known;
    const paid = await this.options.chain.public.readContract({
      address: this.options.feeEscrow,
      abi: feeEscrowAbi,
      functionName: "getChannel",
      args: [charge.payer, this.options.worker, charge.agentId],
    });
    this.options.ledger.open(charge.payer, charge.agentId, { calls: paid.calls, amount: paid.amount });
    return this.options.ledger.channel(charge.payer, charge.agentId)!;
  }

  /** The on-chain scope of `signer` for `payer` (0 none, ANY_AGENT, or agent id + 1). */
  async signerScope(payer: Hex, signer: Hex): Promise<bigint> {
    const key = `${payer.toLowerCase()}:${signer.toLowerCase()}`;
    const cached = this.#scopes.get(key);
    if (cached && Date.now() - cached.at < (this.options.scopeCacheMs ?? 5_000)) return cached.scope;
    const scope = await this.options.chain.public.readContract({
      address: this.options.feeEscrow,
      abi: feeEscrowAbi,
      functionName: "signerScope",
      args: [payer, signer],
    });
    this.#scopes.set(key, { scope, at: Date.now() });
    return scope;
  }

  async maySign(payer: Hex, signer: Hex, agentId: bigint): Promise<boolean> {
    if (payer.toLowerCase() === signer.toLowerCase()) return true;
    const scope = await this.signerScope(payer, signer);
    return scope === 2n ** 256n - 1n || (scope !== 0n && scope - 1n === agentId);
  }

  /**
   * Admits one paid call: `voucher` as the payer sent it, or `sign` (a key the payer authorized,
   * held by this worker: the agent's own for a sponsor) to make it here. `available` reads the
   * payer's escrow (balance less what it asked to withdraw).
   */
  async collect(
    charge: FeeCharge,
    voucher: VoucherHeader | undefined,
    sign: LocalAccount | undefined,
    available: () => Promise<bigint>,
    insufficient: (owed: bigint, available: bigint) => VeilError,
  ): Promise<Voucher> {
    // The escrow is read at most every `escrowCacheMs` per payer while it covers the calls: it only
    // shrinks through claims (ours, after the fact) and withdrawals, which wait a day during which
    // claims still draw on it. A balance that looks short is always read again.
    const cached = this.#escrow.get(charge.payer.toLowerCase());
    const read = async (fresh: boolean): Promise<bigint> => {
      if (!fresh && cached && Date.now() - cached.at < (this.options.escrowCacheMs ?? 2_000))
        return cached.value;
      const value = await available();
      this.#escrow.set(charge.payer.toLowerCase(), { value, at: Date.now() });
      return value;
    };
    // A voucher this worker signs itself is simply signed again if a concurrent call won.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#collect(charge, voucher, sign, read, insufficient);
      } catch (err) {
        if (!(sign && err instanceof FeeQuoteError && attempt < 8)) throw err;
      }
    }
  }

  async #collect(
    charge: FeeCharge,
    voucher: VoucherHeader | undefined,
    sign: LocalAccount | undefined,
    available: (fresh: boolean) => Promise<bigint>,
    insufficient: (owed: bigint, available: bigint) => VeilError,
  ): Promise<Voucher> {
    const previous = await this.#previous(charge);
    const quote = this.quote(charge, previous);
    let v: VoucherHeader;
    if (sign) {
      if (!(await this.maySign(charge.payer, sign.address, charge.agentId))) {
        throw new VeilError(
          "FEE_SIGNER_NOT_AUTHORIZED",
          `${sign.address} may not sign fee vouchers for ${charge.payer} (agent #${charge.agentId})`,
          {
            status: 402,
            hint: `The paying owner must let the agent's key sign for it: FeeEscrow.authorizeSigner(${sign.address}, agentId or ANY_AGENT) (\`veil agent sponsor\`).`,
          },
        );
      }
      v = await signQuote(sign, quote);
    } else {
      if (!voucher) throw new FeeQuoteError(quote, "no fee voucher was sent");
      if (voucher.payer.toLowerCase() !== charge.payer.toLowerCase())
        throw new FeeQuoteError(quote, `the voucher names payer ${voucher.payer}, not ${charge.payer}`);
      if (voucher.calls !== quote.calls || voucher.amount !== quote.amount)
        throw new FeeQuoteError(quote, "the voucher is not this channel's next");
      const signer = recoverVoucherSigner(
        voucherDigest({
          chainId: quote.chainId,
          feeEscrow: quote.feeEscrow,
          payer: charge.payer,
          worker: quote.worker,
          agentId: charge.agentId,
          calls: BigInt(quote.calls),
          amount: BigInt(quote.amount),
        }),
        voucher,
      );
      if (!(await this.maySign(charge.payer, signer, charge.agentId)))
        throw badVoucher(`it is signed by ${signer}, who may not sign for ${charge.payer}`);
      v = voucher;
    }
    // What this channel would be owed, unclaimed, after this call: the escrow must cover it now.
    const owed = BigInt(quote.amount) - previous.claimedAmount;
    let have = await available(false);
    if (have < owed) have = await available(true);
    if (have < owed) throw insufficient(owed, have);
    const stored: Voucher = {
      payer: charge.payer,
      agentId: charge.agentId,
      calls: BigInt(v.calls),
      amount: BigInt(v.amount),
      r: v.r,
      vs: v.vs,
    };
    if (!this.options.ledger.accept(stored, previous)) {
      const now = await this.#previous(charge);
      throw new FeeQuoteError(this.quote(charge, now), "another call moved the channel first");
    }
    return stored;
  }
}
