import assert from "node:assert/strict";
import { test } from "node:test";
import * as abis from "../../src/chain/abi.ts";
import { compileContracts } from "../../src/chain/compile.ts";

test("src/chain/abi.ts matches the compiled contracts (run `npm run contracts:abi` if not)", () => {
  const compiled = compileContracts();
  for (const [name, contract] of Object.entries(compiled)) {
    const key = `${name.charAt(0).toLowerCase()}${name.slice(1)}Abi` as keyof typeof abis;
    assert.ok(abis[key], `abi.ts has no ${key}`);
    assert.deepEqual(JSON.parse(JSON.stringify(abis[key])), contract.abi, `${key} is stale`);
  }
});
