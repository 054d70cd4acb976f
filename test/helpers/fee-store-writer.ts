import { type FeeRow, PostgresFeeStore } from "../../src/storage/fee-store.ts";

// A fee store written in a process of its own, for the crash test: write n moves three channels
// to `calls = n` and the head to "head-n" in one write, and prints `ACK n` once it resolved.
// Run as `node --import tsx fee-store-writer.ts URL WORKER`.
const [url, worker] = process.argv.slice(2) as [string, string];
const store = await PostgresFeeStore.open(url);
const row = (payer: string, n: number): FeeRow => ({
  payer,
  agent: "1",
  calls: String(n),
  amount: String(n * 10),
  r: null,
  vs: null,
  claimed_calls: "0",
  claimed_amount: "0",
  dropped: 0,
  shortfall: 0,
  version: String(n),
  mac: new Uint8Array([n & 0xff]),
});
let expected: Uint8Array | undefined;
for (let n = 1; ; n++) {
  const next = new Uint8Array(Buffer.from(`head-${n}`));
  if (!(await store.write(worker, [row("0xb1", n), row("0xb2", n), row("0xb3", n)], next, expected)))
    throw new Error(`write ${n} refused`);
  expected = next;
  process.stdout.write(`ACK ${n}\n`);
}
