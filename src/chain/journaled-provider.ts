import { VeilError } from "../errors/index.ts";
import type { ChainJournal, JournalEntry } from "./journal.ts";

/** What Hardhat's JSON-RPC server needs of a provider (an EIP-1193 provider with events). */
export type Eip1193Provider = {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  addListener(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
};

/** Requests that change the chain: journaled, and run one at a time. */
const WRITES = new Set([
  "eth_sendRawTransaction",
  "eth_sendTransaction",
  "evm_mine",
  "hardhat_mine",
  "evm_setAutomine",
  "hardhat_setBalance",
  "hardhat_setCode",
  "hardhat_setNonce",
  "hardhat_setStorageAt",
  "hardhat_setPrevRandao",
  "hardhat_setNextBlockBaseFeePerGas",
  "hardhat_setCoinbase",
  "hardhat_setMinGasPrice",
  "hardhat_impersonateAccount",
  "hardhat_stopImpersonatingAccount",
  "hardhat_dropTransaction",
]);

/**
 * Only move the clock for blocks still to come; every mined block's own time is in the journal,
 * so these need no entry of their own. They still wait their turn with the writes.
 */
const CLOCK = new Set(["evm_increaseTime", "evm_setNextBlockTimestamp"]);

/** Would fork history away from the journal; a persistent chain cannot go back. */
const REFUSED = new Set(["evm_snapshot", "evm_revert", "hardhat_reset"]);

type Block = { number: number; time: number; hash: string };

/**
 * An EIP-1193 provider in front of EDR that writes every chain-changing request to the journal
 * before answering it, so that nothing a client saw succeed is lost in a crash. Writes run one
 * at a time and reads wait while a write is being made durable: no client reads a block that a
 * crash could still take back. `evm_setIntervalMining` is served here, with a timer that mines
 * through the same path, so that idle blocks are journaled too.
 */
export class JournaledProvider implements Eip1193Provider {
  readonly #inner: Eip1193Provider;
  readonly #journal: ChainJournal;
  #head: Block = { number: 0, time: 0, hash: "" };
  readonly #lock = new ReadWriteLock();
  #timer: NodeJS.Timeout | undefined;
  #lastBlockAt = Date.now();

  private constructor(inner: Eip1193Provider, journal: ChainJournal) {
    this.#inner = inner;
    this.#journal = journal;
  }

  /**
   * Replays `entries` onto `inner` (a fresh chain from the journal's genesis), checking each
   * mined block's hash against the journal, then serves new requests through the journal.
   */
  static async resume(
    inner: Eip1193Provider,
    journal: ChainJournal,
    entries: JournalEntry[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<JournaledProvider> {
    const p = new JournaledProvider(inner, journal);
    p.#head = await p.#block("latest");
    let interval = 0;
    let offset: number | undefined;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.m === "evm_setIntervalMining") {
        interval = Number(e.p[0] ?? 0);
        continue;
      }
      if (e.b) await inner.request({ method: "evm_setNextBlockTimestamp", params: [e.b.time] });
      await inner.request({ method: e.m, params: e.p }).catch(() => undefined);
      if (e.b) {
        const head = await p.#block("latest");
        if (head.number !== e.b.to || head.hash !== e.b.hash) {
          throw new VeilError(
            "CHAIN_REPLAY_DIVERGED",
            `Replaying ${journal.path} made block ${head.number} ${head.hash}, where the journal has block ${e.b.to} ${e.b.hash} (entry ${i + 1}, ${e.m})`,
            {
              hint: "The journal was written by another version of the chain (or edited). Start this version with `veil up --fresh`, or run the version that wrote it.",
            },
          );
        }
        p.#head = head;
        offset = e.o;
      }
      if (onProgress && (i % 500 === 499 || i === entries.length - 1)) onProgress(i + 1, entries.length);
    }
    if (offset !== undefined) {
      // The chain's clock goes on from where it was, plus the time it was down (as a real
      // chain's would), but never behind its last block.
      const next = Math.max(p.#head.time + 1, Math.floor(Date.now() / 1000) + offset);
      await inner.request({ method: "evm_setNextBlockTimestamp", params: [next] });
    }
    if (interval > 0) p.#setInterval(interval);
    return p;
  }

  get head(): Readonly<Block> {
    return this.#head;
  }

  async request(args: { method: string; params?: unknown[] }): Promise<unknown> {
    const { method } = args;
    const params = args.params ?? [];
    if (REFUSED.has(method)) {
      throw Object.assign(
        new Error(`${method} is not available on a persistent chain: its history cannot go back`),
        {
          code: -32601,
        },
      );
    }
    if (method === "evm_setIntervalMining") {
      return this.#lock.exclusive(async () => {
        const ms = Number(params[0] ?? 0);
        this.#journal.append({ m: method, p: [ms] });
        this.#setInterval(ms);
        return true;
      });
    }
    if (WRITES.has(method)) return this.#lock.exclusive(() => this.#write(method, params));
    if (CLOCK.has(method)) return this.#lock.exclusive(() => this.#inner.request({ method, params }));
    // Reads run alongside each other but never beside a write: none sees a block before it is
    // on disk.
    return this.#lock.shared(() => this.#inner.request({ method, params }));
  }

  addListener(event: string, listener: (...args: unknown[]) => void): this {
    this.#inner.addListener(event, listener);
    return this;
  }

  removeListener(event: string, listener: (...args: unknown[]) => void): this {
    this.#inner.removeListener(event, listener);
    return this;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #write(method: string, params: unknown[]): Promise<unknown> {
    const before = this.#head.number;
    let result: unknown;
    let failure: unknown;
    try {
      result = await this.#inner.request({ method, params });
    } catch (err) {
      failure = err;
    }
    // A reverted transaction fails the request but is mined all the same: what counts is
    // whether the chain moved.
    const head = await this.#block("latest");
    const entry: JournalEntry = { m: method, p: params };
    if (head.number !== before) {
      const first = head.number === before + 1 ? head : await this.#block(before + 1);
      entry.b = { from: before + 1, to: head.number, time: first.time, hash: head.hash };
      entry.o = head.time - Math.floor(Date.now() / 1000);
      this.#head = head;
      this.#lastBlockAt = Date.now();
    }
    if (failure === undefined || entry.b) this.#journal.append(entry);
    if (failure !== undefined) throw failure;
    return result;
  }

  #setInterval(ms: number): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!(ms > 0)) return;
    // Mines when no block came for a whole interval, as Hardhat's interval mining would, but
    // through the journal.
    this.#timer = setInterval(
      () => {
        if (Date.now() - this.#lastBlockAt < ms) return;
        this.#lastBlockAt = Date.now();
        void this.#lock.exclusive(() => this.#write("evm_mine", [])).catch(() => undefined);
      },
      Math.max(50, Math.floor(ms / 4)),
    );
    this.#timer.unref();
  }

  async #block(tag: number | "latest"): Promise<Block> {
    const b = (await this.#inner.request({
      method: "eth_getBlockByNumber",
      params: [typeof tag === "number" ? `0x${tag.toString(16)}` : tag, false],
    })) as { number: string; timestamp: string; hash: string };
    return { number: Number(b.number), time: Number(b.timestamp), hash: b.hash };
  }
}

/**
 * Many readers or one writer; a waiting writer holds back new readers, so a stream of reads
 * cannot starve the writes.
 */
class ReadWriteLock {
  #readers = 0;
  #writer = false;
  readonly #waiting: { write: boolean; wake: () => void }[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#writer || this.#waiting.length > 0) {
      await new Promise<void>((wake) => this.#waiting.push({ write: false, wake }));
    } else this.#readers++;
    try {
      return await fn();
    } finally {
      this.#readers--;
      this.#next();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#writer || this.#readers > 0 || this.#waiting.length > 0) {
      await new Promise<void>((wake) => this.#waiting.push({ write: true, wake }));
    } else this.#writer = true;
    try {
      return await fn();
    } finally {
      this.#writer = false;
      this.#next();
    }
  }

  /** Hands the lock on: to the next writer once no reader holds it, or to the readers queued before the next writer. */
  #next(): void {
    if (this.#writer) return;
    while (this.#waiting.length > 0) {
      const head = this.#waiting[0]!;
      if (head.write) {
        if (this.#readers > 0) return;
        this.#waiting.shift();
        this.#writer = true;
        head.wake();
        return;
      }
      this.#waiting.shift();
      this.#readers++;
      head.wake();
    }
  }
}
