// What keeping the embedded chain on disk costs (docs/adr/0019): the same `veil chain` in memory
// (the baseline) and with --data (every change journaled and flushed before it is answered),
// side by side: sequential and pipelined transactions per second with receipts, event latency
// seen by a second client polling eth_getLogs, and resume time with a long history.
//
//   node --import tsx bench/chain-persistence.ts [N=300] [BLOCKS=10000]
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createPublicClient, createWalletClient, defineChain, type Hex, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { devAccounts } from "../src/chain/dev-accounts.ts";

const N = Number(process.argv[2] ?? 300);
const BLOCKS = Number(process.argv[3] ?? 10_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? Number.NaN;

type Chain = { child: ChildProcess; url: string; readyMs: number; block: number };

function startChain(dataDir?: string): Promise<Chain> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ["bin/veil.mjs", "chain", "--port", "0", ...(dataDir ? ["--data", dataDir] : [])],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      const m = /VEIL_READY (.*)/.exec(d.toString());
      if (m) {
        const ready = JSON.parse(m[1]!) as { url: string; block?: number };
        resolve({ child, url: ready.url, readyMs: performance.now() - started, block: ready.block ?? 0 });
      }
    });
    child.once("exit", (code) => reject(new Error(`veil chain exited (${code})`)));
  });
}

async function stop(c: Chain, signal: NodeJS.Signals = "SIGTERM") {
  c.child.kill(signal);
  await new Promise((r) => c.child.once("exit", r));
}

const [a0, a1] = devAccounts(2);
async function measure(url: string) {
  const chain = defineChain({
    id: 31337,
    name: "bench",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  const wallet = createWalletClient({
    chain,
    transport: http(url),
    account: privateKeyToAccount(a0!.privateKey),
  });
  const pub = createPublicClient({ chain, transport: http(url), pollingInterval: 5 });
  const send = () => wallet.sendTransaction({ to: a1!.address, value: parseEther("0.0001") });
  let t = performance.now();
  for (let i = 0; i < N; i++) await pub.waitForTransactionReceipt({ hash: await send(), pollingInterval: 5 });
  const sequential = (N / (performance.now() - t)) * 1000;
  t = performance.now();
  let nonce = await pub.getTransactionCount({ address: a0!.address });
  const hashes: Hex[] = [];
  for (let i = 0; i < N; i++) {
    hashes.push(await wallet.sendTransaction({ to: a1!.address, value: 1n, nonce: nonce++ }));
  }
  await Promise.all(hashes.map((hash) => pub.waitForTransactionReceipt({ hash, pollingInterval: 5 })));
  const pipelined = (N / (performance.now() - t)) * 1000;
  // Event latency: a second client polling for new blocks every 100 ms, as daemons do.
  const watcher = createPublicClient({ chain, transport: http(url), cacheTime: 0 });
  const latencies: number[] = [];
  for (let i = 0; i < 30; i++) {
    const from = await watcher.getBlockNumber();
    const sent = performance.now();
    await send();
    for (;;) {
      if ((await watcher.getBlockNumber()) > from) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    latencies.push(performance.now() - sent);
  }
  return { sequential, pipelined, p50: median(latencies), p99: pct(latencies, 0.99) };
}

const dir = mkdtempSync(join(tmpdir(), "veil-bench-chain-"));
try {
  const memory = await startChain();
  const mem = await measure(memory.url);
  await stop(memory);
  const disk = await startChain(dir);
  const journaled = await measure(disk.url);

  // A long history: BLOCKS empty blocks mined one request each, as the idle miner makes them.
  const rpc = (method: string, params: unknown[] = []) =>
    fetch(disk.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    }).then((r) => r.json());
  const mineStarted = performance.now();
  for (let i = 0; i < BLOCKS; i++) await rpc("evm_mine");
  const mineMs = performance.now() - mineStarted;
  const head = Number(((await rpc("eth_blockNumber")) as { result: string }).result);
  await stop(disk, "SIGKILL");
  const resumed = await startChain(dir);
  const journalBytes = statSync(join(dir, "chain-journal.jsonl")).size;
  await stop(resumed);

  const row = (name: string, r: typeof mem) =>
    `| ${name.padEnd(26)} | ${r.sequential.toFixed(0).padStart(6)} tx/s | ${r.pipelined.toFixed(0).padStart(6)} tx/s | ${r.p50.toFixed(0)} / ${r.p99.toFixed(0)} ms |`;
  console.log(`N = ${N} transactions each (value transfers with receipts), same machine, same client`);
  console.log("| chain                      | sequential  | pipelined   | event latency p50/p99 |");
  console.log("| -------------------------- | ----------- | ----------- | --------------------- |");
  console.log(row("in memory (baseline)", mem));
  console.log(row("journaled (--data)", journaled));
  console.log(
    `ratio journaled / memory: sequential ${(journaled.sequential / mem.sequential).toFixed(2)}×, pipelined ${(journaled.pipelined / mem.pipelined).toFixed(2)}×`,
  );
  console.log(
    `start, new chain: memory ${memory.readyMs.toFixed(0)} ms, journaled ${disk.readyMs.toFixed(0)} ms`,
  );
  console.log(
    `history: ${head} blocks (${BLOCKS} empty ones mined at ${((BLOCKS / mineMs) * 1000).toFixed(0)} blocks/s), journal ${(journalBytes / 1024 / 1024).toFixed(1)} MiB`,
  );
  console.log(
    `resume after kill -9 with ${head} blocks: ${resumed.readyMs.toFixed(0)} ms to ready, at block ${resumed.block} (lost: ${head - resumed.block} blocks)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
