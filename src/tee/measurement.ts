import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else if (/\.(ts|mjs|cjs|js|json)$/.test(entry)) out.push(path);
  }
  return out;
}

let cached: `0x${string}` | undefined;

/**
 * The build measurement of the simulated backend: a hash over the code that would run inside
 * the TEE (src/ and bin/, by relative path and content). It plays the role of MRENCLAVE/MRTD:
 * change one byte of the runtime and the measurement changes, and the policy on chain no longer
 * allows it. It proves nothing about the machine; that is what makes `simulated` INSECURE.
 */
export function buildMeasurement(): `0x${string}` {
  if (cached) return cached;
  const files = [...listFiles(join(repoRoot, "src")), ...listFiles(join(repoRoot, "bin"))]
    .map((f) => relative(repoRoot, f).split("\\").join("/"))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(file).update("\0");
    hash
      .update(
        createHash("sha256")
          .update(readFileSync(join(repoRoot, file)))
          .digest(),
      )
      .update("\0");
  }
  cached = `0x${hash.digest("hex")}`;
  return cached;
}
