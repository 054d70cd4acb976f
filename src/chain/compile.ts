import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Abi, Hex } from "viem";
import { VeilError } from "../errors/index.ts";

const require = createRequire(import.meta.url);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const contractsDir = join(repoRoot, "contracts");
const cacheDir = join(repoRoot, "node_modules", ".cache", "veil");

export type CompiledContract = { abi: Abi; bytecode: Hex };
export type CompiledContracts = Record<string, CompiledContract>;

type SolcOutput = {
  errors?: { severity: string; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
};

/** Every .sol file under contracts/, subfolders included, keyed by its path from there ("economy/Rewards.sol"). */
function readSources(dir = contractsDir, prefix = ""): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const unit = `${prefix}${entry.name}`;
    if (entry.isDirectory()) Object.assign(sources, readSources(join(dir, entry.name), `${unit}/`));
    else if (entry.name.endsWith(".sol"))
      sources[unit] = { content: readFileSync(join(dir, entry.name), "utf8") };
  }
  return sources;
}

function findImport(path: string): { contents: string } | { error: string } {
  try {
    return { contents: readFileSync(require.resolve(path), "utf8") };
  } catch {
    return { error: `import not found: ${path}` };
  }
}

/**
 * What solc is given, and a key naming it: a hash of the compiler's version and every source.
 * Two builds with the same key deploy the same contracts (network.json keeps it as
 * `chain.contractsBuild`, so a network is not resumed on contracts it was not made with).
 */
function compileInput(): { key: string; sources: Record<string, { content: string }>; inputJson: string } {
  // The compiler's version comes from its package.json: loading solc itself (its WebAssembly)
  // takes about half a second, which a cache hit does not need.
  const solcVersion = (require("solc/package.json") as { version: string }).version;
  const sources = readSources();
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const inputJson = JSON.stringify(input);
  const key = createHash("sha256")
    .update(solcVersion)
    .update(inputJson)
    .update(
      Object.keys(sources)
        .map((f) => sources[f]?.content ?? "")
        .join(""),
    )
    .digest("hex")
    .slice(0, 16);
  return { key, sources, inputJson };
}

/** The key of this checkout's contracts (see compileInput). */
export function contractsBuildKey(): string {
  return compileInput().key;
}

/** Compiled outputs already read in this process, by cache key. */
const memory = new Map<string, CompiledContracts>();

/**
 * Compiles every contract in contracts/ with solc-js (offline: the compiler is the npm
 * package), caching the output by a hash of the sources and the compiler version so that a
 * network starts in a second after the first time.
 */
export function compileContracts(
  options: { onProgress?: (message: string) => void } = {},
): CompiledContracts {
  const { key, sources, inputJson } = compileInput();
  const cacheFile = join(cacheDir, `contracts-${key}.json`);
  const memo = memory.get(key);
  if (memo) return memo;
  if (existsSync(cacheFile)) {
    const cached = JSON.parse(readFileSync(cacheFile, "utf8")) as CompiledContracts;
    memory.set(key, cached);
    return cached;
  }
  const solc = require("solc") as { compile(input: string, opts: object): string; version(): string };

  options.onProgress?.(`compiling ${Object.keys(sources).length} contracts with solc ${solc.version()}…`);
  const output = JSON.parse(solc.compile(inputJson, { import: findImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new VeilError("CONTRACTS_COMPILE_FAILED", "The Solidity contracts did not compile", {
      context: errors.map((e) => e.formattedMessage.trim()),
      hint: "Fix the errors in contracts/**/*.sol and run again.",
    });
  }
  const compiled: CompiledContracts = {};
  for (const [file, contracts] of Object.entries(output.contracts ?? {})) {
    if (!(file in sources)) continue; // skip OpenZeppelin's own contracts
    for (const [name, c] of Object.entries(contracts)) {
      if (c.evm.bytecode.object === "") continue; // interfaces and abstract contracts deploy nothing
      if (compiled[name])
        throw new Error(`two contracts are named ${name}: names must be unique under contracts/`);
      compiled[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(compiled));
  memory.set(key, compiled);
  return compiled;
}

/** The ABIs as TypeScript source, for src/chain/abi.ts. */
export function renderAbiModule(compiled: CompiledContracts): string {
  const lines = [
    "// Generated by `npm run contracts:abi` from contracts/**/*.sol. Do not edit by hand:",
    "// test/chain/abi.test.ts fails when this file and the sources disagree.",
    "",
  ];
  for (const name of Object.keys(compiled).sort()) {
    const abi = compiled[name]?.abi ?? [];
    const camel = name.charAt(0).toLowerCase() + name.slice(1);
    lines.push(`export const ${camel}Abi = ${JSON.stringify(abi, null, 2)} as const;`, "");
  }
  return lines.join("\n");
}

export function abiModulePath(): string {
  return join(repoRoot, "src", "chain", "abi.ts");
}

export function writeAbiModule(compiled: CompiledContracts): void {
  writeFileSync(abiModulePath(), renderAbiModule(compiled));
}
