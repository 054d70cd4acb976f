import type { Hex } from "viem";
import { hexToBytes } from "viem";
import type { VeilChain } from "../chain/index.ts";
import { sealLogBatch } from "../crypto/index.ts";
import type { LogStore } from "../storage/log-store.ts";

export type LogLine = { at: number; level: string; message: string };

const MAX_LINE = 8 * 1024;
const MAX_BUFFERED = 1_000;
const KEY_TTL_MS = 5_000;

/**
 * Collects each agent's console output and errors and, every `flushMs`, seals them to the
 * agent owner's log key (on chain) and stores the batch. Nothing an agent prints is written
 * in the clear anywhere; an agent whose owner set no log key has its output dropped.
 */
export class LogBook {
  readonly #chain: VeilChain;
  readonly #store: LogStore;
  readonly #worker: string;
  readonly #pending = new Map<string, LogLine[]>();
  readonly #keys = new Map<string, { key: Hex; at: number }>();
  #timer: NodeJS.Timeout | undefined;
  dropped = 0;

  constructor(options: { chain: VeilChain; store: LogStore; worker: string; flushMs?: number }) {
    this.#chain = options.chain;
    this.#store = options.store;
    this.#worker = options.worker;
    this.#timer = setInterval(() => {
      this.flush().catch((err) => console.error(`agent logs: ${(err as Error).message}`));
    }, options.flushMs ?? 1_000);
    this.#timer.unref();
  }

  add(agentId: bigint, level: string, message: string): void {
    const key = agentId.toString();
    const lines = this.#pending.get(key) ?? [];
    if (lines.length >= MAX_BUFFERED) {
      this.dropped++;
      return;
    }
    lines.push({
      at: Date.now(),
      level,
      message: message.length > MAX_LINE ? `${message.slice(0, MAX_LINE)}…` : message,
    });
    this.#pending.set(key, lines);
  }

  async flush(): Promise<void> {
    const batches = [...this.#pending];
    this.#pending.clear();
    for (const [agent, lines] of batches) {
      const logKey = await this.#logKey(agent);
      if (/^0x0*$/.test(logKey)) {
        this.dropped += lines.length;
        continue;
      }
      const sealed = sealLogBatch(
        hexToBytes(logKey),
        BigInt(agent),
        new TextEncoder().encode(JSON.stringify(lines)),
      );
      await this.#store.append(agent, this.#worker, sealed);
    }
  }

  async #logKey(agent: string): Promise<Hex> {
    const cached = this.#keys.get(agent);
    if (cached && Date.now() - cached.at < KEY_TTL_MS) return cached.key;
    const key = await this.#chain.getLogKey(BigInt(agent));
    this.#keys.set(agent, { key, at: Date.now() });
    return key;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
