// Verification time per DCAP quote with its collateral in memory (target: under 2 ms).
// Runs Veil's full verification (dcap-qvl + structure + CRL checks) and, side by side, the bare
// dcap-qvl `verify` as the baseline.
//
//   node --import tsx bench/attestation.ts [iterations=50]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { verifyDcapQuote } from "../src/tee/dcap.ts";

const require = createRequire(import.meta.url);
const qvl = require("@phala/dcap-qvl") as { verify(q: Uint8Array, c: unknown, now: number): unknown };
const fixtures = join(import.meta.dirname ?? ".", "..", "..", "shared", "fixtures", "attestation");
const now = Date.parse("2025-07-01T00:00:00Z") / 1000;
const n = Number(process.argv[2] ?? 50);

function time(fn: () => void): { p50: number; mean: number } {
  for (let i = 0; i < 5; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { p50: xs[Math.floor(n / 2)]!, mean: xs.reduce((a, b) => a + b, 0) / n };
}

for (const kind of ["sgx", "tdx"]) {
  const quote = readFileSync(join(fixtures, `${kind}_quote`));
  const collateral = JSON.parse(readFileSync(join(fixtures, `${kind}_quote_collateral.json`), "utf8"));
  const veil = time(() => verifyDcapQuote(quote, collateral, { now }));
  const base = time(() => qvl.verify(quote, collateral, now));
  console.log(
    `${kind.toUpperCase()}  veil verify p50 ${veil.p50.toFixed(2)} ms (mean ${veil.mean.toFixed(2)})   ` +
      `dcap-qvl alone p50 ${base.p50.toFixed(2)} ms   ratio ${(veil.p50 / base.p50).toFixed(2)}   target < 2 ms`,
  );
}
