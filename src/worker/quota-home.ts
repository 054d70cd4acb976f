import { encodeAbiParameters, type Hex, keccak256, type LocalAccount, recoverMessageAddress } from "viem";
import { type VeilChain, WorkerStatus } from "../chain/index.ts";
import { randomBytes, toHex } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";

// Quotas across workers (ADR 0006, "Fees in practice"). Each (agent, caller) has a *home*
// worker, chosen by rendezvous hashing over the active, attested workers on chain, which holds
// its count for the quota window. A worker serving a call asks the home to take one call
// (POST /v1/quota, signed by the asking worker's identity key, which the home checks against the
// WorkerRegistry); it counts by itself only when it is the home or the home cannot be reached,
// so a worker set in flux overshoots a little, never refuses wrongly for long.

export type QuotaTake = { agentId: string; caller: string; window: number; limit: number };
type SignedTake = QuotaTake & { from: Hex; at: number; nonce: Hex; signature: Hex };

const SIGNATURE_WINDOW_MS = 30_000;

function takeDigest(chainId: number, t: Omit<SignedTake, "signature">): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint64" },
        { type: "uint32" },
        { type: "address" },
        { type: "uint64" },
        { type: "bytes32" },
      ],
      [
        "veil.quota-take.v1",
        BigInt(chainId),
        BigInt(t.agentId),
        t.caller as Hex,
        BigInt(t.window),
        t.limit,
        t.from,
        BigInt(t.at),
        t.nonce,
      ],
    ),
  );
}

type Peer = { address: Hex; url: string };

export class QuotaHomes {
  readonly #counts = new Map<string, { window: number; calls: number }>();
  readonly #seen = new Map<string, number>();
  #peers: { at: number; list: Promise<Peer[]> } | undefined;

  constructor(
    readonly options: {
      chain: VeilChain;
      /** This worker's identity key: it signs what it asks of other homes. */
      self: LocalAccount;
      log?: (message: string) => void;
      peersTtlMs?: number;
      timeoutMs?: number;
    },
  ) {}

  /** The active, attested workers with an HTTP endpoint (cached a few seconds). */
  peers(): Promise<Peer[]> {
    if (!this.#peers || Date.now() - this.#peers.at > (this.options.peersTtlMs ?? 5_000)) {
      const list = (async () => {
        const all = (await this.options.chain.listWorkers()).filter(
          (w) => w.status === WorkerStatus.Active && /^https?:\/\//.test(w.endpoint),
        );
        const attested = await Promise.all(all.map((w) => this.options.chain.isWorkerAttested(w.address)));
        return all.filter((_, i) => attested[i]).map((w) => ({ address: w.address, url: w.endpoint }));
      })();
      list.catch(() => {
        this.#peers = undefined;
      });
      this.#peers = { at: Date.now(), list };
    }
    return this.#peers.list;
  }

  /** Rendezvous hashing: the peer with the highest keccak(peer, agent, caller) is the home. */
  async home(agentId: string, caller: string): Promise<Peer | undefined> {
    let best: { peer: Peer; score: bigint } | undefined;
    for (const peer of await this.peers()) {
      const score = BigInt(
        keccak256(
          encodeAbiParameters(
            [{ type: "address" }, { type: "uint256" }, { type: "address" }],
            [peer.address, BigInt(agentId), caller as Hex],
          ),
        ),
      );
      if (!best || score > best.score) best = { peer, score };
    }
    return best?.peer;
  }

  #local(t: QuotaTake): boolean {
    const key = `${t.agentId}:${t.caller.toLowerCase()}`;
    const c = this.#counts.get(key);
    const calls = c && c.window === t.window ? c.calls : 0;
    if (calls >= t.limit) return false;
    this.#counts.set(key, { window: t.window, calls: calls + 1 });
    return true;
  }

  /** Takes one call of the caller's quota, at its home; true if it was within the quota. */
  async take(t: QuotaTake): Promise<boolean> {
    let home: Peer | undefined;
    try {
      home = await this.home(t.agentId, t.caller);
    } catch {
      home = undefined;
    }
    if (!home || home.address.toLowerCase() === this.options.self.address.toLowerCase())
      return this.#local(t);
    const unsigned = {
      ...t,
      from: this.options.self.address,
      at: Date.now(),
      nonce: `0x${toHex(randomBytes(32))}` as Hex,
    };
    const signature = await this.options.self.signMessage({
      message: { raw: takeDigest(this.options.chain.config.chainId, unsigned) },
    });
    try {
      const res = await fetch(`${home.url.replace(/\/$/, "")}/v1/quota`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...unsigned, signature }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 2_000),
      });
      if (!res.ok) throw new Error(`answered ${res.status}`);
      return ((await res.json()) as { allowed: boolean }).allowed === true;
    } catch (err) {
      // The home is down or starting: count here rather than refuse the caller.
      this.options.log?.(
        `quota home ${home.address} unreachable (${(err as Error).message}); counting locally`,
      );
      return this.#local(t);
    }
  }

  /** POST /v1/quota from another worker: checked, then counted here as the home. */
  async handle(body: unknown): Promise<{ allowed: boolean }> {
    const refuse = (why: string) =>
      new VeilError("QUOTA_PEER_REFUSED", `Quota request refused: ${why}`, {
        status: 403,
        hint: "Only active, attested workers ask a quota home, signing with their identity key.",
      });
    const t = body as SignedTake;
    if (
      typeof t?.agentId !== "string" ||
      !/^\d{1,30}$/.test(t.agentId) ||
      !/^0x[0-9a-fA-F]{40}$/.test(String(t.caller)) ||
      !Number.isSafeInteger(t.window) ||
      !Number.isSafeInteger(t.limit) ||
      t.limit < 1 ||
      t.limit > 0xffffffff ||
      !/^0x[0-9a-fA-F]{40}$/.test(String(t.from)) ||
      !Number.isSafeInteger(t.at) ||
      !/^0x[0-9a-fA-F]{64}$/.test(String(t.nonce)) ||
      !/^0x[0-9a-fA-F]{130}$/.test(String(t.signature))
    )
      throw refuse("malformed");
    const now = Date.now();
    if (Math.abs(now - t.at) > SIGNATURE_WINDOW_MS) throw refuse("stale");
    for (const [k, at] of this.#seen) if (now - at > 2 * SIGNATURE_WINDOW_MS) this.#seen.delete(k);
    if (this.#seen.has(t.nonce)) throw refuse("replayed");
    const { signature, ...unsigned } = t;
    const signer = await recoverMessageAddress({
      message: { raw: takeDigest(this.options.chain.config.chainId, unsigned) },
      signature,
    }).catch(() => undefined);
    if (!signer || signer.toLowerCase() !== t.from.toLowerCase()) throw refuse("bad signature");
    const peers = await this.peers();
    if (!peers.some((p) => p.address.toLowerCase() === signer.toLowerCase()))
      throw refuse(`${signer} is not an active, attested worker`);
    this.#seen.set(t.nonce, now);
    return { allowed: this.#local(t) };
  }
}
