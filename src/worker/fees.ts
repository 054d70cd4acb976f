import { secp256k1 } from "@noble/curves/secp256k1.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Hex, LocalAccount } from "viem";
import { feeEscrowAbi } from "../chain/abi.ts";
import { type Voucher, voucherDigest } from "../chain/economy-client.ts";
import { badVoucher, type FeeQuote, signQuote, type VoucherHeader } from "../chain/fee-vouchers.ts";
import type { VeilChain } from "../chain/index.ts";
import { concatBytes, equalBytes, ethAddressFromPublicKey, fromHex, utf8 } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import { type FeeRow, type FeeSnapshot, type FeeStore, SqliteFeeStore } from "../storage/fee-store.ts";
import {
  rollbackDetected,
  type StateAnchor,
  StateVersions,
  type VerifiedRows,
} from "../storage/state-versions.ts";

// Fees for paid invocations (ADR 0006, "Fees"). Each paid call carries the payer's cumulative
// voucher for the channel (payer, this worker, agent): "N calls, X tokens in total". The worker
// accepts a voucher only if it is the channel's next one (calls + 1, amount + price) and keeps
// the latest per channel in its FeeStore (SQLite, or the network's PostgreSQL); `FeeSettlement` claims them from FeeEscrow in batches.
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

/** The fields of a channel row a write sets (the key, version and MAC are the ledger's). */
type Fields = Omit<FeeRow, "payer" | "agent" | "version" | "mac">;

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

export type FeeLedgerOptions = {
  /**
   * The key this worker's TEE MACs its ledger with (derived from its sealed identity): rows and
   * the ledger's head are checked against it, so the host can neither edit a channel nor put an
   * older copy of one back.
   */
  key: Uint8Array;
  /** Where the head's counter is kept outside the ledger (the worker's state anchor). */
  anchor?: StateAnchor;
};

const channelRow = (payer: string, agent: string) => `${payer}:${agent}`;

/** How many times a write is tried against a head that moved under it before it gives up. */
const WRITE_ATTEMPTS = 32;

/**
 * The latest voucher of each (payer, agent) channel this worker serves, and what the chain has
 * paid of it, in a `FeeStore` (src/storage/fee-store.ts): the worker's own SQLite file, or the
 * network's PostgreSQL (`--state postgres://…`), keyed by worker either way.
 *
 * The host holds the store and may play it back: a ledger restored from an older copy would have
 * the worker quote channels from calls long paid for, and claim from stale records. So it is kept
 * like agents' state (docs/adr/0019): each row carries its write version and a MAC, the worker's
 * head (counter + keyed digest of the rows' versions) is written with each row (compare-and-set
 * on the head), and the counter is anchored outside the store. A replayed, removed or edited row,
 * or an older copy of the whole store, is `STATE_ROLLBACK_DETECTED` (or `STATE_CORRUPT` for an
 * edit), never a fresh start.
 *
 * @example
 * const ledger = await FeeLedger.open(new SqliteFeeStore("fees.sqlite"), worker, { key });
 * await ledger.open(payer, 1n, { calls: 0n, amount: 0n });
 * console.log(await ledger.channel(payer, 1n)); // { calls: 0n, amount: 0n, claimedAmount: 0n }
 */
export class FeeLedger {
  readonly #store: FeeStore;
  readonly worker: string;
  readonly #owner: string;
  readonly #key: Uint8Array;
  readonly #versions: StateVersions;

  private constructor(store: FeeStore, worker: Hex, options: FeeLedgerOptions) {
    this.#store = store;
    this.worker = worker.toLowerCase();
    this.#owner = `fees:${this.worker}`;
    this.#key = options.key;
    this.#versions = new StateVersions(options.anchor);
  }

  /**
   * The ledger of `worker` in `store` (a path: a SQLite file of its own), checked in full: a
   * ledger played back fails here, before any call is taken. Closing the ledger closes the store.
   */
  static async open(store: FeeStore | string, worker: Hex, options: FeeLedgerOptions): Promise<FeeLedger> {
    const s = typeof store === "string" ? new SqliteFeeStore(store) : store;
    try {
      const ledger = new FeeLedger(s, worker, options);
      await ledger.#adoptUnversioned();
      await ledger.#all();
      return ledger;
    } catch (err) {
      await s.close().catch(() => {});
      throw err;
    }
  }

  /** Verifies a snapshot's head against what this worker saw (taking `floor` before the read). */
  #verify(snap: FeeSnapshot, floor: bigint): VerifiedRows {
    return (
      this.#versions.current(this.#owner, snap.head) ??
      this.#versions.check(
        this.#owner,
        this.#key,
        snap.head,
        snap.rows.map((r) => ({
          row: channelRow(r.payer, r.agent),
          version: r.version === null ? undefined : BigInt(r.version),
        })),
        floor,
      )
    );
  }

  #mac(payer: string, agent: string, f: Fields, version: bigint): Uint8Array {
    const fields = [
      this.worker,
      payer,
      agent,
      f.calls,
      f.amount,
      f.r,
      f.vs,
      f.claimed_calls,
      f.claimed_amount,
      f.dropped,
      f.shortfall,
      version.toString(),
    ];
    return hmac(sha256, this.#key, utf8(`veil/v1/fees/row/${JSON.stringify(fields)}`));
  }

  /** A row as read, checked: its MAC, and that it is the version the head counts. */
  #check(r: FeeRow, known: VerifiedRows): FeeRow {
    const row = channelRow(r.payer, r.agent);
    const expected = known.versions.get(row);
    if (r.version === null || r.mac === null || BigInt(r.version) !== expected) {
      throw rollbackDetected(
        this.#owner,
        `channel ${row} is at write ${r.version ?? "none"}, its head counts write ${expected ?? "none"}`,
      );
    }
    if (!equalBytes(r.mac, this.#mac(r.payer, r.agent, r, expected))) {
      throw new VeilError(
        "STATE_CORRUPT",
        `Worker ${this.worker}'s fee ledger has an altered channel ${row}`,
        {
          status: 500,
          hint: "The fee ledger was edited outside the worker; restore it from a copy.",
        },
      );
    }
    return r;
  }

  /** Every channel, checked against the head read with them. */
  async #all(): Promise<{ known: VerifiedRows; rows: FeeRow[] }> {
    const floor = this.#versions.floor(this.#owner);
    const snap = await this.#store.snapshot(this.worker);
    const known = this.#verify(snap, floor);
    // A row the head counts but the read did not return was removed.
    if (snap.rows.length !== known.versions.size) {
      throw rollbackDetected(
        this.#owner,
        `it has ${snap.rows.length} channels, its head counts ${known.versions.size}`,
      );
    }
    return { known, rows: snap.rows.map((r) => this.#check(r, known)) };
  }

  /** One channel, checked, with the head it was read at. */
  async #one(payer: string, agent: string): Promise<{ known: VerifiedRows; row: FeeRow | undefined }> {
    const snap = await this.#store.channel(this.worker, payer, agent);
    const known = this.#versions.current(this.#owner, snap.head);
    if (!known) {
      // A head this worker has not verified (another copy of it wrote, or it just started): the
      // whole ledger is read and checked, and the channel taken from that read.
      const all = await this.#all();
      return { known: all.known, row: all.rows.find((r) => r.payer === payer && r.agent === agent) };
    }
    const r = snap.rows[0];
    if (r) return { known, row: this.#check(r, known) };
    const expected = known.versions.get(channelRow(payer, agent));
    if (expected !== undefined)
      throw rollbackDetected(this.#owner, `a channel its head counts (write ${expected}) is missing`);
    return { known, row: undefined };
  }

  /**
   * Changes one channel with the ledger's next head, compare-and-set on the head it read:
   * `change` gets the row as it is (checked) and returns its new fields, or undefined to leave
   * it. True if written (and durable in the store).
   */
  async #write(
    payer: Hex,
    agentId: bigint,
    change: (current: FeeRow | undefined) => Fields | undefined,
  ): Promise<boolean> {
    const p = payer.toLowerCase();
    const a = agentId.toString();
    const row = channelRow(p, a);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { known, row: current } = await this.#one(p, a);
      const fields = change(current);
      if (!fields) return false;
      const next = this.#versions.nextHead(known, this.#owner, this.#key, row, false);
      const stored: FeeRow = {
        ...fields,
        payer: p,
        agent: a,
        version: next.version.toString(),
        mac: this.#mac(p, a, fields, next.version),
      };
      if (await this.#store.write(this.worker, [stored], next.bytes, known.head)) {
        this.#versions.wrote(this.#owner, known, row, next, false);
        return true;
      }
      // Another write of this ledger came first: read again and decide again.
    }
    throw new VeilError("STATE_CONFLICT", `Worker ${this.worker}'s fee ledger kept moving under a write`, {
      status: 503,
      retryable: true,
      hint: "Retry the call in a moment.",
    });
  }

  /**
   * A ledger from before rows were versioned, with no head yet and nothing anchored: its rows
   * are taken as they are, once (there is nothing older to tell them from), and versioned, all
   * in one write so that a crash halfway leaves the old ledger as it was.
   */
  async #adoptUnversioned(): Promise<void> {
    const snap = await this.#store.snapshot(this.worker);
    const unversioned = snap.rows.filter((r) => r.version === null);
    if (unversioned.length === 0 || snap.head !== undefined) return;
    const known = this.#versions.check(this.#owner, this.#key, undefined, []);
    const changes = unversioned.map((r) => ({ row: channelRow(r.payer, r.agent), remove: false }));
    const next = this.#versions.nextHeadFor(known, this.#owner, this.#key, changes);
    const rows = unversioned.map((r) => ({
      ...r,
      version: next.version.toString(),
      mac: this.#mac(r.payer, r.agent, fieldsOf(r), next.version),
    }));
    if (await this.#store.write(this.worker, rows, next.bytes, undefined))
      this.#versions.wroteAll(this.#owner, known, changes, next);
  }

  /** The channel's latest accepted state, if this worker has one. */
  async channel(
    payer: Hex,
    agentId: bigint,
  ): Promise<{ calls: bigint; amount: bigint; claimedAmount: bigint } | undefined> {
    const { row: r } = await this.#one(payer.toLowerCase(), agentId.toString());
    return r
      ? { calls: BigInt(r.calls), amount: BigInt(r.amount), claimedAmount: BigInt(r.claimed_amount) }
      : undefined;
  }

  /** Starts a channel this worker has no row for at what the chain already paid of it. */
  async open(payer: Hex, agentId: bigint, paid: { calls: bigint; amount: bigint }): Promise<void> {
    await this.#write(payer, agentId, (current) =>
      current
        ? undefined
        : {
            calls: paid.calls.toString(),
            amount: paid.amount.toString(),
            r: null,
            vs: null,
            claimed_calls: paid.calls.toString(),
            claimed_amount: paid.amount.toString(),
            dropped: 0,
            shortfall: 0,
          },
    );
  }

  /**
   * Records `v` as the channel's latest if the channel is still at `previous` (compare and set:
   * of two concurrent calls signing the same next voucher, one wins). False if it moved. Once
   * true, the voucher is in the store: it survives the worker's crash.
   */
  accept(v: Voucher, previous: { calls: bigint; amount: bigint }): Promise<boolean> {
    return this.#write(v.payer, v.agentId, (current) =>
      current && current.calls === previous.calls.toString() && current.amount === previous.amount.toString()
        ? { ...fieldsOf(current), calls: v.calls.toString(), amount: v.amount.toString(), r: v.r, vs: v.vs }
        : undefined,
    );
  }

  /** Channels whose latest voucher is not fully paid, oldest payers first, at most `limit`. */
  async pending(limit: number): Promise<StoredVoucher[]> {
    return (await this.#all()).rows
      .filter((r) => r.r !== null && BigInt(r.amount) > BigInt(r.claimed_amount))
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
  async markPaid(v: Voucher, paid: { calls: bigint; amount: bigint }): Promise<void> {
    await this.#write(v.payer, v.agentId, (current) =>
      current
        ? {
            ...fieldsOf(current),
            claimed_calls: paid.calls.toString(),
            claimed_amount: paid.amount.toString(),
            shortfall: paid.amount < v.amount ? 1 : 0,
          }
        : undefined,
    );
  }

  /** The chain refused `v` as already paid: it is never submitted again. */
  async drop(v: Voucher, paid: { calls: bigint; amount: bigint }): Promise<void> {
    await this.#write(v.payer, v.agentId, (current) =>
      current
        ? {
            ...fieldsOf(current),
            claimed_calls: larger(paid.calls, v.calls).toString(),
            claimed_amount: larger(paid.amount, v.amount).toString(),
            dropped: current.dropped + 1,
            shortfall: 0,
          }
        : undefined,
    );
  }

  /** For tests and recovery: forget that a channel was paid (as a crash before marking would). */
  async forgetPaid(payer: Hex, agentId: bigint, to: { calls: bigint; amount: bigint }): Promise<void> {
    await this.#write(payer, agentId, (current) =>
      current
        ? { ...fieldsOf(current), claimed_calls: to.calls.toString(), claimed_amount: to.amount.toString() }
        : undefined,
    );
  }

  async stats(): Promise<FeeStats> {
    const { rows } = await this.#all();
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

  close(): Promise<void> {
    return this.#store.close();
  }
}

/**
 * Moves `worker`'s ledger from `from` (its old SQLite file) to `to` (the network's PostgreSQL)
 * when `to` has none yet: checked in full first (a played-back file is refused here too), then
 * copied as it is, rows and head, in one write (the MACs name the worker, not the store). A
 * ledger `to` already has is left as it is. True if moved.
 */
export async function moveFeeLedger(
  from: FeeStore,
  to: FeeStore,
  worker: Hex,
  options: FeeLedgerOptions,
): Promise<boolean> {
  const w = worker.toLowerCase();
  if ((await to.snapshot(w)).head !== undefined) return false;
  const old = await FeeLedger.open(from, worker, options);
  try {
    const snap = await from.snapshot(w);
    if (snap.head === undefined) return false;
    return await to.write(w, snap.rows, snap.head, undefined);
  } finally {
    await old.close();
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
  // The digest is EIP-712 typed data (a `Voucher`): signed as it is, with no message prefix.
  try {
    return ethAddressFromPublicKey(
      secp256k1.recoverPublicKey(sig, fromHex(digest.slice(2)), { prehash: false }),
    );
  } catch {
    throw badVoucher("its signature does not recover");
  }
}

function fieldsOf(r: FeeRow): Fields {
  return {
    calls: r.calls,
    amount: r.amount,
    r: r.r,
    vs: r.vs,
    claimed_calls: r.claimed_calls,
    claimed_amount: r.claimed_amount,
    dropped: r.dropped,
    shortfall: r.shortfall,
  };
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
    const known = await this.options.ledger.channel(charge.payer, charge.agentId);
    if (known) return known;
    const paid = await this.options.chain.public.readContract({
      address: this.options.feeEscrow,
      abi: feeEscrowAbi,
      functionName: "getChannel",
      args: [charge.payer, this.options.worker, charge.agentId],
    });
    await this.options.ledger.open(charge.payer, charge.agentId, { calls: paid.calls, amount: paid.amount });
    return (await this.options.ledger.channel(charge.payer, charge.agentId))!;
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
    if (!(await this.options.ledger.accept(stored, previous))) {
      const now = await this.#previous(charge);
      throw new FeeQuoteError(this.quote(charge, now), "another call moved the channel first");
    }
    return stored;
  }
}
