// Regenerates src/chain/abi.ts from contracts/**/*.sol.
import { execFileSync } from "node:child_process";
import { abiModulePath, compileContracts, writeAbiModule } from "../src/chain/compile.ts";

writeAbiModule(compileContracts({ onProgress: (m) => console.log(m) }));
execFileSync("npx", ["biome", "format", "--write", abiModulePath()], { stdio: "ignore" });
console.log(`wrote ${abiModulePath()}`);
