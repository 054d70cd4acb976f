import assert from "node:assert/strict";
import { test } from "node:test";
import * as abis from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";

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
