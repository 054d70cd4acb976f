// Verification time per DCAP quote with its collateral in memory (target: under 2 ms).
// Side by side: Veil's own verifier (the default), cold (caches emptied before each run) and warm
// (collateral and PCK chain already verified), with node:crypto and with @noble (what a browser
// runs); the reference path (dcap-qvl + Veil's extra checks); and bare dcap-qvl `verify`.
//
//   node --import tsx bench/attestation.ts [iterations=200]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { verifyDcapQuoteWithQvl } from "../src/tee/dcap.ts";
import { nobleCrypto } from "../src/tee/dcap-crypto.ts";
import { clearDcapCaches, verifyQuoteWithVeil } from "../src/tee/dcap-verifier.ts";

const require = createRequire(import.meta.url);
const qvl = require("@phala/dcap-qvl") as { verify(q: Uint8Array, c: unknown, now: number): unknown };
const fixtures = join(import.meta.dirname ?? ".", "..", "..", "shared", "fixtures", "attestation");
const now = Date.parse("2025-07-01T00:00:00Z") / 1000;
const n = Number(process.argv[2] ?? 200);

function time(fn: () => void, before?: () => void, runs = n): { p50: number; p99: number } {
  for (let i = 0; i < 10; i++) {
    before?.();
    fn();
  }
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { p50: xs[Math.floor(runs * 0.5)]!, p99: xs[Math.min(runs - 1, Math.floor(runs * 0.99))]! };
}

const fmt = (name: string, t: { p50: number; p99: number }) =>
  `  ${name.padEnd(40)} p50 ${t.p50.toFixed(2).padStart(6)} ms   p99 ${t.p99.toFixed(2).padStart(6)} ms`;

console.log(`per-quote verification, ${n} runs each (target: warm p50 < 2 ms)`);
for (const kind of ["sgx", "tdx"]) {
  const quote = readFileSync(join(fixtures, `${kind}_quote`));
  const collateral = JSON.parse(readFileSync(join(fixtures, `${kind}_quote_collateral.json`), "utf8"));
  console.log(kind.toUpperCase());
  console.log(
    fmt(
      "veil, warm (node:crypto)",
      time(() => verifyQuoteWithVeil(quote, collateral, { now })),
    ),
  );
  console.log(
    fmt(
      "veil, cold (node:crypto)",
      time(() => verifyQuoteWithVeil(quote, collateral, { now }), clearDcapCaches),
    ),
  );
  const noble = { now, crypto: nobleCrypto };
  const fewer = Math.max(20, Math.floor(n / 5));
  console.log(
    fmt(
      "veil, warm (@noble, as in a browser)",
      time(() => verifyQuoteWithVeil(quote, collateral, noble), undefined, fewer),
    ),
  );
  console.log(
    fmt(
      "veil, cold (@noble, as in a browser)",
      time(() => verifyQuoteWithVeil(quote, collateral, noble), clearDcapCaches, fewer),
    ),
  );
  console.log(
    fmt(
      "reference: dcap-qvl + Veil's extra checks",
      time(() => verifyDcapQuoteWithQvl(quote, collateral, { now }), undefined, fewer),
    ),
  );
  console.log(
    fmt(
      "dcap-qvl verify alone",
      time(() => qvl.verify(quote, collateral, now), undefined, fewer),
    ),
  );
}
