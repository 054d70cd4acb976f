// ctx.state's stores side by side: the same agent-state operations (sealed, versioned, checked
// against the head) on SQLite (one machine) and on PostgreSQL (many hosts; a throwaway server
// on loopback started by this script), and the raw driver round trip beneath each as the
// baseline. Prints p50/p99 per operation and the ratio PostgreSQL / SQLite; and a worker's fee
// ledger accepting one voucher after another on each.
//   npm run bench:state
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startPostgres } from "../scripts/postgres-cluster.mjs";
import { EncryptedAgentState } from "../src/storage/agent-state.ts";
import { type FeeStore, PostgresFeeStore, SqliteFeeStore } from "../src/storage/fee-store.ts";
import { PostgresStateStore } from "../src/storage/postgres-state-store.ts";
import { SqliteStateStore, type StateStore } from "../src/storage/state-store.ts";
import { FeeLedger } from "../src/worker/fees.ts";

const N = Number(process.env.BENCH_N ?? 2000);
const value = new TextEncoder().encode(JSON.stringify({ text: "x".repeat(200), n: 1 }));

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function measure(store: StateStore) {
  const state = new EncryptedAgentState(store, 1n, randomBytes(32));
  // Warm: 100 entries, so reads and writes see a realistic head.
  for (let i = 0; i < 100; i++) await state.put(`warm${i}`, value);
  const put = await timed(N, (i) => state.put(`k${i % 100}`, value));
  const get = await timed(N, (i) => state.get(`k${i % 100}`));
  const tx = await timed(N, async () => {
    const { value: v, at } = await state.read("counter");
    const n = v ? Number(new TextDecoder().decode(v)) : 0;
    await state.commit(at, [["counter", new TextEncoder().encode(String(n + 1))]]);
  });
  // Two workers incrementing at once, each with 8 in flight: transactions per second.
  const other = new EncryptedAgentState(store, 2n, randomBytes(32));
  const started = performance.now();
  let done = 0;
  const inc = async (s: EncryptedAgentState) => {
    for (;;) {
      const { value: v, at } = await s.read("c");
      const n = v ? Number(new TextDecoder().decode(v)) : 0;
      if (await s.commit(at, [["c", new TextEncoder().encode(String(n + 1))]])) return;
    }
  };
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < N / 16; i++) {
        await inc(other);
        done++;
      }
    }),
  );
  const contended = done / ((performance.now() - started) / 1000);
  return { put, get, tx, contended };
}

/** A worker's fee ledger on `store`: one paid call's voucher accepted after another. */
async function measureFees(store: FeeStore) {
  const worker = "0x00000000000000000000000000000000000000a1";
  const payer = "0x00000000000000000000000000000000000000b2";
  const sig = `0x${"ab".repeat(32)}` as const;
  const ledger = await FeeLedger.open(store, worker, { key: randomBytes(32) });
  await ledger.open(payer, 1n, { calls: 0n, amount: 0n });
  const accept = await timed(N, async (i) => {
    const n = BigInt(i + 1);
    const ok = await ledger.accept(
      { payer, agentId: 1n, calls: n, amount: n * 10n, r: sig, vs: sig },
      { calls: n - 1n, amount: (n - 1n) * 10n },
    );
    if (!ok) throw new Error(`voucher ${n} refused`);
  });
  await ledger.close();
  return accept;
}

const dir = mkdtempSync(join(tmpdir(), "veil-bench-state-"));
const server = await startPostgres();
try {
  const sqlite = new SqliteStateStore(join(dir, "state.sqlite"));
  const postgres = await PostgresStateStore.open(server.url, { namespace: "veil_bench" });
  // The drivers alone, for what the stores add.
  const raw = new pg.Pool({ connectionString: server.url, max: 4 });
  const pgPing = await timed(N, () => raw.query("SELECT 1"));
  await raw.end();

  const s = await measure(sqlite);
  const p = await measure(postgres);
  const row = (name: string, a: number[], b: number[]) =>
    console.log(
      `${name.padEnd(28)} ${pct(a, 0.5).toFixed(3).padStart(8)} ${pct(a, 0.99).toFixed(3).padStart(8)}   ${pct(b, 0.5).toFixed(3).padStart(8)} ${pct(b, 0.99).toFixed(3).padStart(8)}   ${(pct(b, 0.5) / pct(a, 0.5)).toFixed(1).padStart(6)}×`,
    );
  console.log(`\nctx.state on SQLite and PostgreSQL (loopback), ${N} operations each, ms\n`);
  console.log(
    `${"".padEnd(28)} ${"SQLite p50".padStart(8)} ${"p99".padStart(8)}   ${"PG p50".padStart(8)} ${"p99".padStart(8)}   ${"PG/SQLite".padStart(7)}`,
  );
  row("put (sealed, versioned)", s.put, p.put);
  row("get (checked at the head)", s.get, p.get);
  row("transaction (read+commit)", s.tx, p.tx);
  row(
    "fee voucher accepted",
    await measureFees(new SqliteFeeStore(join(dir, "fees.sqlite"))),
    await measureFees(await PostgresFeeStore.open(server.url, { namespace: "veil_bench" })),
  );
  console.log(
    `${"PostgreSQL SELECT 1 (driver)".padEnd(28)} ${"".padStart(8)} ${"".padStart(8)}   ${pct(pgPing, 0.5).toFixed(3).padStart(8)} ${pct(pgPing, 0.99).toFixed(3).padStart(8)}`,
  );
  console.log(
    `\ncontended increments (8 in flight on one agent): SQLite ${s.contended.toFixed(0)}/s, PostgreSQL ${p.contended.toFixed(0)}/s`,
  );
  await sqlite.close();
  await postgres.close();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
