import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import * as abis from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";
import { TYPED_DATA_SOL, typedDataSolidity } from "../../src/chain/typed-data-sol.ts";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

test("src/chain/abi.ts matches the compiled contracts (run `npm run contracts:abi` if not)", () => {
  const compiled = compileContracts();
  const byName = new Map<string, unknown>(Object.entries(abis));
  for (const [name, contract] of Object.entries(compiled)) {
    const key = `${name.charAt(0).toLowerCase()}${name.slice(1)}Abi`;
    const generated = byName.get(key);
    assert.ok(generated, `abi.ts has no ${key}`);
    assert.deepEqual(JSON.parse(JSON.stringify(generated)), contract.abi, `${key} is stale`);
  }
});

test("contracts/VeilTypedData.sol is the typed data src/crypto/typed-data.ts defines (run `npm run contracts:types` if not)", () => {
  const onDisk = readFileSync(join(repoRoot, TYPED_DATA_SOL), "utf8");
  assert.equal(onDisk, typedDataSolidity());
});
