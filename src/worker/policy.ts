import type { Hex, LocalAccount } from "viem";
import { feeEscrowAbi } from "../chain/abi.ts";
import { formatVeil, type Voucher } from "../chain/economy-client.ts";
import { AgentAccess, type AgentPolicy, type AgentRecord, type VeilChain } from "../chain/index.ts";
import { type SignedCaller, verifyCaller } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { FeeCollector, VoucherHeader } from "./fees.ts";
import type { QuotaTake } from "./quota-home.ts";
import { ReplayGuard } from "./replay-guard.ts";

/**
 * What the AgentRegistry says about calling an agent, enforced by this worker before the sandbox
 * runs: pause, removed code, access mode (needs a signed caller), per-caller quota, and price
 * (the payer's prepaid FeeEscrow balance).
 *
 * Chain reads are cached. Policies and allowlist answers are dropped when the registry emits an
 * event for the agent (the AgentTable forwards them block by block); token balances change without
 * a registry event, so token-holder answers also expire after `tokenCacheMs`.
 *
 * Consistency across workers: a worker given `quotas` (quota-home.ts, as the daemon is) counts
 * each (agent, caller) at its home worker, so N workers allow the quota once (overshooting only
 * while a home is unreachable), and the sponsoring owner's cap the same way (as a number of calls
 * at the price); without it each counts alone, in its own memory, in fixed windows of the quota
 * period. Outbound fees (`reserveOutbound`) are still counted by the calling worker alone. A paid call's
 * voucher is checked and stored by `fees.ts`: the payer's escrow must cover what it owes this
 * worker unclaimed, not what it owes others, so concurrent calls through several workers can
 * overdraw it until claims settle (FeeEscrow then records a shortfall).
 */
export type CallerIdentity = { address: Hex } | undefined;

export type PolicyGateOptions = {
  chain: VeilChain;
  /** The FeeEscrow contract; without it, an agent with a price cannot be served. */
  feeEscrow?: Hex;
  /** Takes each paid call's voucher (fees.ts); without it the escrow balance is only checked. */
  fees?: FeeCollector;
  /** Counts quotas across workers (quota-home.ts); without it each worker counts alone. */
  quotas?: { take(t: QuotaTake): Promise<boolean> };
  /** Refuses replayed signed and sealed requests across the agent's workers (replay-guard.ts). */
  replay?: ReplayGuard;
  tokenCacheMs?: number;
  now?: () => number;
};

/** How a call pays, when the agent has a price. */
export type Payment = {
  /** The voucher the payer sent (x-veil-fee-voucher). */
  voucher?: VoucherHeader;
  /** The called agent's key on this worker: it signs for a sponsoring owner who authorized it. */
  agentKey?: LocalAccount;
  /** A calling agent (ctx.agents.call): its owner pays, with a voucher its key signed. */
  callerAgent?: bigint;
};

type Cached = { policy: AgentPolicy; removed: Map<Hex, boolean> };
/** The "caller" whose quota home counts an agent's sponsored calls (no key has this address). */
const SPONSOR = "0x0000000000000000000000000000000000000000";
const DAY_S = 86_400;

export class PolicyGate {
  readonly #opts: PolicyGateOptions;
  readonly #policies = new Map<string, Promise<Cached>>();
  /**
   * When a cached policy's scheduled price increase becomes due (ms), and when it was read: a
   * due increase comes with no registry event, so the policy is read again then (at most once a
   * second until the chain's clock agrees).
   */
  readonly #due = new Map<string, { at: number; readAt: number }>();
  readonly #access = new Map<string, { ok: boolean; at: number; tokenMode: boolean }>();
  readonly #quota = new Map<string, { window: number; calls: number }>();
  readonly #sponsored = new Map<string, { window: number; spent: bigint }>();
  /** Signed requests' nonces, claimed where every worker of the agent looks (ADR 0020). */
  readonly replay: ReplayGuard;

  constructor(options: PolicyGateOptions) {
    this.#opts = options;
    this.replay = options.replay ?? new ReplayGuard(undefined, () => this.#now());
  }

  #now(): number {
    return this.#opts.now?.() ?? Date.now();
  }

  /**
   * Checks a signed caller over this request and remembers its nonce; refuses a bad signature,
   * a stale one, and a replay. Returns the caller's address.
   */
  async verifyCaller(
    agentId: bigint,
    requestHash: Hex,
    nonce: Hex | undefined,
    caller: SignedCaller,
  ): Promise<{ address: Hex }> {
    if (!nonce) {
      throw new VeilError("CALLER_SIGNATURE_INVALID", "A signed caller must send a nonce (x-veil-nonce)", {
        status: 401,
        hint: "Send a fresh 32-byte nonce with each signed request (the SDK does).",
      });
    }
    const now = this.#now();
    const address = verifyCaller(
      {
        chainId: this.#opts.chain.config.chainId,
        agentRegistry: this.#opts.chain.config.contracts.agentRegistry,
        agentId,
        requestHash,
        nonce,
        timestamp: caller.timestamp,
      },
      caller,
      Math.floor(now / 1000),
    );
    await this.replay.admit(
      `signed:${agentId}:${address.toLowerCase()}`,
      nonce,
      caller.timestamp,
      "signed request",
    );
    return { address };
  }

  /** The registry changed something about agent `id`: read it again on the next call. */
  invalidate(id: bigint): void {
    const key = id.toString();
    this.#policies.delete(key);
    this.#due.delete(key);
    for (const k of this.#access.keys()) if (k.startsWith(`${key}:`)) this.#access.delete(k);
  }

  #load(id: bigint): Promise<Cached> {
    const key = id.toString();
    let entry = this.#policies.get(key);
    const due = this.#due.get(key);
    if (entry && due) {
      const now = this.#now();
      if (now >= due.at && now - due.readAt >= 1_000) {
        this.#due.delete(key);
        entry = undefined;
      }
    }
    if (!entry) {
      const readAt = this.#now();
      entry = this.#opts.chain.getAgentPolicy(id).then(async (policy) => {
        if (policy.pendingPriceAt > 0n) {
          // Due by the chain's clock, which may run apart from ours: count from its head block.
          const head = await this.#opts.chain.public.getBlock({ blockTag: "latest" });
          const inMs = Number(policy.pendingPriceAt - head.timestamp) * 1000;
          this.#due.set(key, { at: readAt + Math.max(0, inMs), readAt });
        }
        return { policy, removed: new Map() };
      });
      entry.catch(() => this.#policies.delete(key));
      this.#policies.set(key, entry);
    }
    return entry;
  }

  async policy(id: bigint): Promise<AgentPolicy> {
    return (await this.#load(id)).policy;
  }

  /**
   * Refuses the call with a typed error unless the agent may run for `caller` now; on success
   * counts the call against the caller's quota (and the owner's cap when sponsored).
   */
  async admit(
    record: AgentRecord,
    caller: CallerIdentity,
    payment: Payment = {},
  ): Promise<{ payer?: Hex; price: bigint; voucher?: Voucher }> {
    const cached = await this.#load(record.id);
    const p = cached.policy;
    if (p.paused) {
      throw new VeilError("AGENT_PAUSED", `Agent ${record.name} is paused by its owner`, {
        status: 423,
        hint: "Try again once the owner runs `veil agent unpause`.",
      });
    }
    let removed = cached.removed.get(record.codeHash);
    if (removed === undefined) {
      removed = await this.#opts.chain.isAgentCodeRemoved(record.id, record.codeHash);
      cached.removed.set(record.codeHash, removed);
    }
    if (removed) {
      throw new VeilError(
        "VERSION_REMOVED",
        `The code ${record.codeHash.slice(0, 18)}… of ${record.name} was removed`,
        {
          status: 410,
          hint: "A removed version never runs again; the owner must activate another (`veil agent rollback`).",
        },
      );
    }
    if (p.access !== AgentAccess.public || p.quotaCalls > 0 || (p.price > 0n && p.spendingCap === 0n)) {
      if (!caller) {
        throw new VeilError("CALLER_SIGNATURE_REQUIRED", `Agent ${record.name} needs a signed caller`, {
          status: 401,
          hint: "Sign the request as a caller: `veil invoke --as <account>` or the SDK's `as` option.",
        });
      }
    }
    if (caller && p.access !== AgentAccess.public) await this.#checkAccess(record, p, caller.address);

    const periodS = p.quotaPeriod > 0 ? p.quotaPeriod : DAY_S;
    const window = Math.floor(this.#now() / 1000 / periodS);
    const quotaKey = `${record.id}:${caller?.address.toLowerCase()}`;
    if (caller && p.quotaCalls > 0) {
      const resetS = (window + 1) * periodS - Math.floor(this.#now() / 1000);
      const exceeded = new VeilError(
        "QUOTA_EXCEEDED",
        `${caller.address} used its ${p.quotaCalls} calls for this period`,
        {
          status: 429,
          hint: `The quota resets in ${resetS} s; the owner can raise it with \`veil agent acl --quota\`.`,
        },
      );
      if (this.#opts.quotas) {
        // Counted at the caller's home worker, across workers (quota-home.ts). Taken before the
        // fee: a call refused for its payment afterwards still used its slot.
        const allowed = await this.#opts.quotas.take({
          agentId: record.id.toString(),
          caller: caller.address,
          window,
          limit: p.quotaCalls,
        });
        if (!allowed) throw exceeded;
      } else {
        const used = this.#quota.get(quotaKey);
        const calls = used && used.window === window ? used.calls : 0;
        if (calls >= p.quotaCalls) throw exceeded;
      }
    }

    let payer: Hex | undefined;
    let voucher: Voucher | undefined;
    const sponsored = p.price > 0n && p.spendingCap > 0n;
    if (p.price > 0n) {
      // Who pays: a sponsoring owner; else a calling agent's owner (ADR 0006); else the caller.
      payer = sponsored
        ? record.owner
        : payment.callerAgent !== undefined
          ? (await this.#opts.chain.getAgent(payment.callerAgent)).owner
          : caller?.address;
      if (sponsored) {
        const capReached = new VeilError(
          "SPENDING_CAP_REACHED",
          `The owner of ${record.name} sponsors no more calls this period`,
          {
            status: 402,
            hint: "The owner can raise the cap with `veil agent price --cap`; or try again next period.",
          },
        );
        const spent = this.#sponsored.get(record.id.toString());
        const sum = spent && spent.window === window ? spent.spent : 0n;
        if (sum + p.price > p.spendingCap) throw capReached;
        if (this.#opts.quotas) {
          // Across workers: the cap as a number of sponsored calls, counted at the home of
          // (agent, "the sponsor") like a caller's quota (quota-home.ts).
          const calls = p.spendingCap / p.price;
          const allowed = await this.#opts.quotas.take({
            agentId: record.id.toString(),
            caller: SPONSOR,
            window,
            limit: Number(calls > 0xffffffffn ? 0xffffffffn : calls),
          });
          if (!allowed) throw capReached;
        }
      }
      const fees = this.#opts.fees;
      if (fees && this.#opts.feeEscrow) {
        if (sponsored && !payment.agentKey) {
          throw new VeilError("AGENT_KEYS_MISSING", "This agent has no keys on this worker yet", {
            status: 503,
            retryable: true,
            hint: "Retry in a moment.",
          });
        }
        voucher = await fees.collect(
          { payer: payer!, price: p.price, agentId: record.id },
          sponsored ? undefined : payment.voucher,
          sponsored ? payment.agentKey : undefined,
          () => this.#available(payer!),
          (owed, available) => this.#insufficient(record, payer!, owed, available, sponsored),
        );
      } else await this.#checkEscrow(record, payer!, p.price, sponsored);
    }

    if (caller && p.quotaCalls > 0 && !this.#opts.quotas) {
      const used = this.#quota.get(quotaKey);
      this.#quota.set(quotaKey, { window, calls: (used && used.window === window ? used.calls : 0) + 1 });
    }
    if (sponsored) {
      const key = record.id.toString();
      const spent = this.#sponsored.get(key);
      this.#sponsored.set(key, {
        window,
        spent: (spent && spent.window === window ? spent.spent : 0n) + p.price,
      });
    }
    return payer ? { payer, price: p.price, ...(voucher ? { voucher } : {}) } : { price: p.price };
  }

  /**
   * Outbound fees of agent `record` (ctx.agents.call to a priced agent): its owner pays, within
   * the agent's spending cap per period — the same budget that sponsors calls to it. A cap of
   * zero means the owner pays nothing for this agent, so a priced call is refused.
   */
  async reserveOutbound(record: AgentRecord, price: bigint): Promise<() => void> {
    const p = (await this.#load(record.id)).policy;
    const periodS = p.quotaPeriod > 0 ? p.quotaPeriod : DAY_S;
    const window = Math.floor(this.#now() / 1000 / periodS);
    const key = record.id.toString();
    const spent = this.#sponsored.get(key);
    const sum = spent && spent.window === window ? spent.spent : 0n;
    if (sum + price > p.spendingCap) {
      throw new VeilError(
        "SPENDING_CAP_REACHED",
        p.spendingCap === 0n
          ? `The owner of ${record.name} has set no spending cap, so it pays for no calls to priced agents`
          : `The owner of ${record.name} pays for no more calls this period (cap ${p.spendingCap})`,
        {
          status: 402,
          hint: "The owner can set or raise the cap with `veil agent price --cap`; or try again next period.",
        },
      );
    }
    this.#sponsored.set(key, { window, spent: sum + price });
    // Given back if the call is refused before it ran (the voucher was not accepted).
    return () => {
      const now = this.#sponsored.get(key);
      if (now && now.window === window) now.spent -= price;
    };
  }

  async #available(payer: Hex): Promise<bigint> {
    const account = await this.#opts.chain.public.readContract({
      address: this.#opts.feeEscrow!,
      abi: feeEscrowAbi,
      functionName: "getAccount",
      args: [payer],
    });
    return BigInt(account.balance) - BigInt(account.requested);
  }

  #insufficient(
    record: AgentRecord,
    payer: Hex,
    owed: bigint,
    available: bigint,
    sponsored: boolean,
  ): VeilError {
    return new VeilError(
      "ESCROW_INSUFFICIENT_PREPAID",
      `${sponsored ? "The sponsoring owner" : "The payer"} ${payer} has ${formatVeil(available)} VEIL prepaid; with this call to ${record.name} it owes this worker ${formatVeil(owed)} VEIL`,
      { status: 402, hint: prepayHint(payer, owed - available, sponsored) },
    );
  }

  async #checkAccess(record: AgentRecord, p: AgentPolicy, address: Hex): Promise<void> {
    const key = `${record.id}:${address.toLowerCase()}`;
    const tokenMode = p.access === AgentAccess.tokenHolders;
    const cached = this.#access.get(key);
    const fresh =
      cached && (!cached.tokenMode || this.#now() - cached.at < (this.#opts.tokenCacheMs ?? 10_000));
    const ok = fresh ? cached.ok : await this.#opts.chain.canCallAgent(record.id, address);
    if (!fresh) this.#access.set(key, { ok, at: this.#now(), tokenMode });
    if (!ok) {
      throw new VeilError(
        "CALLER_NOT_ALLOWED",
        tokenMode
          ? `${address} holds less than the ${p.minBalance} base units of ${p.token} that ${record.name} requires`
          : `${address} is not on the allowlist of ${record.name}`,
        { status: 403, hint: "Ask the agent's owner for access (`veil agent acl --allow`)." },
      );
    }
  }

  async #checkEscrow(record: AgentRecord, payer: Hex, price: bigint, sponsored: boolean): Promise<void> {
    const feeEscrow = this.#opts.feeEscrow;
    if (!feeEscrow) {
      throw new VeilError(
        "ESCROW_NOT_CONFIGURED",
        `Agent ${record.name} charges per call, but this worker knows no FeeEscrow`,
        {
          status: 503,
          hint: "Run the network with the economy deployed (network.json economy.feeEscrow).",
        },
      );
    }
    const account = await this.#opts.chain.public.readContract({
      address: feeEscrow,
      abi: feeEscrowAbi,
      functionName: "getAccount",
      args: [payer],
    });
    const available = BigInt(account.balance) - BigInt(account.requested);
    if (available < price) {
      throw new VeilError(
        "ESCROW_INSUFFICIENT_PREPAID",
        `${sponsored ? "The sponsoring owner" : "The caller"} ${payer} has ${formatVeil(available)} VEIL prepaid; a call to ${record.name} costs ${formatVeil(price)} VEIL`,
        { status: 402, hint: prepayHint(payer, price - available, sponsored) },
      );
    }
  }
}

/** What to run to be able to pay: the CLI command, in VEIL, for whoever must prepay. */
function prepayHint(payer: Hex, missing: bigint, sponsored: boolean): string {
  const amount = formatVeil(missing > 0n ? missing : 1n);
  return sponsored
    ? `The agent's owner must prepay more: \`veil escrow deposit ${amount}\` as the owner (at least ${amount} VEIL).`
    : `Prepay at least ${amount} VEIL first: \`veil escrow deposit ${amount}\` as ${payer} (or \`--for ${payer}\` from another account).`;
}
