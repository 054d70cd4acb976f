// Embedded chain benchmark: start time, contract deploy time, transactions per second with
// receipts (sequential and pipelined), and event latency seen by a second client (HTTP polling
// and WebSocket subscription). Prints a table; see docs/adr/0001-embedded-chain.md.
//
//   node --experimental-websocket --import tsx bench/chain.ts [N=300] [--rpc URL]
// With --rpc it measures another JSON-RPC chain (one that has Hardhat's dev accounts funded,
// as anvil, tevm and Hardhat nodes do), for comparison.
// (Node 20 has a global WebSocket only behind that flag; viem needs one for its WebSocket transport.)
import { performance } from "node:perf_hooks";
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  parseAbiItem,
  webSocket,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { compileContracts } from "../src/chain/compile.ts";
import { devAccounts } from "../src/chain/dev-accounts.ts";
import { startEmbeddedChain } from "../src/chain/embedded.ts";

const args = process.argv.slice(2);
const rpcAt = args.indexOf("--rpc");
const rpc = rpcAt >= 0 ? args[rpcAt + 1] : undefined;
const N = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== "--rpc") ?? 300);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? Number.NaN;

const t0 = performance.now();
const embedded = rpc
  ? {
      url: rpc,
      chainId: Number(
        (
          (await (
            await fetch(rpc, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
            })
          ).json()) as { result: string }
        ).result,
      ),
      close: async () => {},
    }
  : await startEmbeddedChain({ port: 0 });
const startMs = rpc ? Number.NaN : performance.now() - t0;

const chain = defineChain({
  id: embedded.chainId,
  name: "bench",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [embedded.url] } },
});
const [deployer] = devAccounts(1);
const account = privateKeyToAccount(deployer!.privateKey);
const wallet = createWalletClient({ chain, transport: http(embedded.url), account });
const client = createPublicClient({ chain, transport: http(embedded.url), pollingInterval: 20 });

const compiled = compileContracts();
const registry = compiled.AgentRegistry!;
const deployTimes: number[] = [];
let address: Hex = "0x";
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  const hash = await wallet.deployContract({ abi: registry.abi, bytecode: registry.bytecode });
  const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 5 });
  deployTimes.push(performance.now() - t);
  address = receipt.contractAddress!;
}

const codeHash = (i: number): Hex => `0x${(i + 1).toString(16).padStart(64, "0")}`;
const register = (name: string, i: number) =>
  wallet.writeContract({ address, abi: registry.abi, functionName: "register", args: [name, codeHash(i)] });

// Sequential: send, wait for the receipt, repeat.
let t = performance.now();
for (let i = 0; i < N; i++) {
  const hash = await register(`seq-${i}`, i);
  await client.waitForTransactionReceipt({ hash, pollingInterval: 5 });
}
const seqTps = N / ((performance.now() - t) / 1000);

// Pipelined: send all (nonces managed locally), then wait for every receipt.
const startNonce = await client.getTransactionCount({ address: account.address });
t = performance.now();
const hashes: Hex[] = [];
for (let i = 0; i < N; i++) {
  hashes.push(
    await wallet.writeContract({
      address,
      abi: registry.abi,
      functionName: "register",
      args: [`pipe-${i}`, codeHash(i)],
      nonce: startNonce + i,
      gas: 300_000n,
    }),
  );
}
await Promise.all(hashes.map((hash) => client.waitForTransactionReceipt({ hash, pollingInterval: 5 })));
const pipeTps = N / ((performance.now() - t) / 1000);

// Event latency to a second client: HTTP polling (100 ms) and WebSocket subscription.
const event = parseAbiItem(
  "event AgentRegistered(uint256 indexed id, address indexed owner, string name, bytes32 codeHash)",
);
async function eventLatency(
  kind: "http" | "ws",
  count: number,
): Promise<{ latencies: number[]; missed: number }> {
  const wsUrl = embedded.url.replace(/^http/, "ws");
  const watcher = createPublicClient({
    chain,
    transport: kind === "http" ? http(embedded.url) : webSocket(wsUrl),
    pollingInterval: 100,
  });
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const seen = new Set<string>();
  const unwatch = watcher.watchEvent({
    address,
    event,
    onLogs: (logs) => {
      for (const log of logs) {
        const name = log.args.name ?? "";
        const sent = sentAt.get(name);
        if (sent !== undefined && !seen.has(name)) {
          seen.add(name);
          latencies.push(performance.now() - sent);
        }
      }
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < count; i++) {
    const name = `${kind}-${i}`;
    sentAt.set(name, performance.now());
    const hash = await register(name, i);
    await client.waitForTransactionReceipt({ hash, pollingInterval: 5 });
    await new Promise((r) => setTimeout(r, 30));
  }
  await new Promise((r) => setTimeout(r, 1000));
  unwatch();
  return { latencies, missed: count - seen.size };
}
const httpEvents = await eventLatency("http", 50);
const wsEvents = await eventLatency("ws", 50);
await embedded.close();

const rows: [string, string][] = [
  ["chain", rpc ? `external JSON-RPC at ${rpc}` : "Hardhat 2 (EDR) JSON-RPC on loopback"],
  ["start → first eth_blockNumber", `${startMs.toFixed(0)} ms`],
  ["deploy AgentRegistry (median of 3)", `${median(deployTimes).toFixed(1)} ms`],
  [`sequential tx with receipt (N=${N})`, `${seqTps.toFixed(0)} tx/s`],
  [`pipelined tx, then receipts (N=${N})`, `${pipeTps.toFixed(0)} tx/s`],
  [
    "event latency, HTTP polling 100 ms (p50 / p99)",
    `${median(httpEvents.latencies).toFixed(1)} / ${pct(httpEvents.latencies, 0.99).toFixed(1)} ms, missed ${httpEvents.missed}/50`,
  ],
  [
    "event latency, WebSocket eth_subscribe (p50 / p99)",
    `${median(wsEvents.latencies).toFixed(1)} / ${pct(wsEvents.latencies, 0.99).toFixed(1)} ms, missed ${wsEvents.missed}/50`,
  ],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
process.exit(0);
