import { PostgresFeeStore, SqliteFeeStore } from "../../src/storage/fee-store.ts";
import { isPostgresUrl } from "../../src/storage/postgres.ts";
import { FeeLedger } from "../../src/worker/fees.ts";

// A worker's fee ledger in a process of its own, for the crash tests: it accepts one paid call
// after another on one channel and prints `ACK n` once the nth voucher's accept resolved.
// Run as `node --import tsx fee-writer.ts STORE KEY_HEX WORKER PAYER` (STORE: a file or a URL).
const [spec, keyHex, worker, payer] = process.argv.slice(2) as [string, string, `0x${string}`, `0x${string}`];
const store = isPostgresUrl(spec) ? await PostgresFeeStore.open(spec) : new SqliteFeeStore(spec);
const ledger = await FeeLedger.open(store, worker, { key: Buffer.from(keyHex, "hex") });
await ledger.open(payer, 1n, { calls: 0n, amount: 0n });
const sig = `0x${"ab".repeat(32)}` as const;
for (let n = 1n; ; n++) {
  const previous = { calls: n - 1n, amount: (n - 1n) * 10n };
  const ok = await ledger.accept(
    { payer, agentId: 1n, calls: n, amount: n * 10n, r: sig, vs: sig },
    previous,
  );
  if (!ok) throw new Error(`voucher ${n} refused`);
  process.stdout.write(`ACK ${n}\n`);
}
