import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VeilError } from "../errors/index.ts";
import { holdDataDir } from "../storage/data-dir-lock.ts";
import { ChainJournal, type JournalEntry } from "./journal.ts";
import { type Eip1193Provider, JournaledProvider } from "./journaled-provider.ts";

const require = createRequire(import.meta.url);

export type EmbeddedChain = {
  url: string;
  chainId: number;
  /** With a data directory: what was replayed from its journal (0 entries for a new chain). */
  resumed?: { entries: number; block: number; ms: number };
  close(): Promise<void>;
};

/** The journal's file in a chain's data directory. */
export const chainJournalFile = (dataDir: string) => join(dataDir, "chain-journal.jsonl");

type JsonRpcServerCtor = new (config: {
  hostname: string;
  port: number;
  provider: unknown;
}) => { listen(): Promise<{ address: string; port: number }>; close(): Promise<void> };

/**
 * Starts the embedded chain: Hardhat 2's EDR network behind its HTTP + WebSocket JSON-RPC
 * server on loopback, so every Veil daemon, each in its own process, talks to one chain.
 * With `dataDir` the chain persists: every change is journaled before it is answered and a
 * restart replays the journal (docs/adr/0019); without, it lives in memory (tests, benches).
 * See docs/adr/0001-embedded-chain.md for why this chain.
 */
export async function startEmbeddedChain(options: {
  port: number;
  host?: string;
  dataDir?: string;
  onProgress?: (message: string) => void;
}): Promise<EmbeddedChain> {
  // From the repository's root: two levels up from src/chain/ and from the bundled dist/cli/.
  process.env.HARDHAT_CONFIG = join(
    dirname(fileURLToPath(import.meta.url)),
    "../../src/chain/hardhat.config.cjs",
  );
  let journal: ChainJournal | undefined;
  let entries: JournalEntry[] = [];
  let release: (() => void) | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    release = holdDataDir(options.dataDir, "chain");
    ({ journal, entries } = ChainJournal.open(chainJournalFile(options.dataDir), () => ({
      kind: "veil-chain-journal",
      version: 1,
      chainId: 31337,
      genesisDate: new Date().toISOString(),
    })));
    // The same genesis makes the same chain; hardhat.config.cjs reads it when Hardhat loads.
    process.env.VEIL_CHAIN_GENESIS_DATE = journal.header.genesisDate;
  }
  const hre = require("hardhat") as { network: { provider: Eip1193Provider } };
  const { JsonRpcServer } = require("hardhat/internal/hardhat-network/jsonrpc/server") as {
    JsonRpcServer: JsonRpcServerCtor;
  };
  let provider: Eip1193Provider = hre.network.provider;
  let resumed: EmbeddedChain["resumed"];
  let journaled: JournaledProvider | undefined;
  if (journal) {
    const started = Date.now();
    journaled = await JournaledProvider.resume(provider, journal, entries, (done, total) =>
      options.onProgress?.(`replaying the chain journal: ${done}/${total} entries`),
    );
    provider = journaled;
    resumed = { entries: entries.length, block: journaled.head.number, ms: Date.now() - started };
  }
  const host = options.host ?? "127.0.0.1";
  const server = new JsonRpcServer({ hostname: host, port: options.port, provider });
  let address: { port: number };
  try {
    address = await server.listen();
  } catch (err) {
    journaled?.close();
    journal?.close();
    release?.();
    const code = (err as { code?: string }).code;
    throw new VeilError(
      "CHAIN_START_FAILED",
      `The embedded chain could not listen on ${host}:${options.port}`,
      {
        cause: err,
        hint:
          code === "EADDRINUSE"
            ? "Another process holds that port (an earlier `veil up`?). Stop it, or pass --base-port."
            : "Check the port and try again.",
      },
    );
  }
  const url = `http://${host}:${address.port}`;
  // The provider starts lazily; touch it so the first real request is not the slow one.
  await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
  });
  return {
    url,
    chainId: 31337,
    ...(resumed ? { resumed } : {}),
    close: async () => {
      journaled?.close();
      await server.close();
      journal?.close();
      release?.();
    },
  };
}
