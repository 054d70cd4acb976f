import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hex } from "viem";
import type { AgentRecord } from "../../src/chain/index.ts";
import { VeilError } from "../../src/errors/index.ts";
import {
  type AgentVersion,
  checkPinnable,
  checkRemovable,
  rollbackTarget,
  versionViews,
} from "../../src/sdk/agent-versions.ts";

// What the owner can do with each version, decided once for the CLI and the web console.

const A = `0x${"aa".repeat(32)}` as Hex;
const B = `0x${"bb".repeat(32)}` as Hex;
const C = `0x${"cc".repeat(32)}` as Hex;

const record = (currentVersion: number, codeHash: Hex, count: number): AgentRecord => ({
  id: 7n,
  owner: `0x${"11".repeat(20)}`,
  name: "hello",
  currentVersion,
  codeHash,
  versionCount: count,
});

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VeilError, String(err));
    return err.code;
  }
  return "none";
};

test("a roll back runs the newest usable version before the current with other code", () => {
  const versions: AgentVersion[] = [
    { version: 0, codeHash: A, removed: false },
    { version: 1, codeHash: B, removed: false },
    // A redeploy of the running bundle (new limits): rolling back to it would change nothing.
    { version: 2, codeHash: C, removed: false },
    { version: 3, codeHash: C, removed: false },
  ];
  assert.equal(rollbackTarget(record(3, C, 4), versions), 1);
  versions[1]!.removed = true;
  assert.equal(rollbackTarget(record(3, C, 4), versions), 0);
  versions[0]!.removed = true;
  assert.equal(
    code(() => rollbackTarget(record(3, C, 4), versions)),
    "VERSION_NOT_FOUND",
  );
});

test("the running version and the running code can be neither removed nor pinned again; a removed one neither", () => {
  const versions: AgentVersion[] = [
    { version: 0, codeHash: A, removed: true },
    { version: 1, codeHash: C, removed: false },
    { version: 2, codeHash: B, removed: false },
    { version: 3, codeHash: C, removed: false },
  ];
  const r = record(3, C, 4);
  assert.deepEqual(
    versionViews(r, versions).map((v) => [v.version, v.current, v.canPin, v.canRemove]),
    [
      [0, false, false, false],
      [1, false, true, false],
      [2, false, true, true],
      [3, true, false, false],
    ],
  );
  assert.equal(
    code(() => checkRemovable(r, versions, 3)),
    "VERSION_IS_CURRENT",
  );
  assert.equal(
    code(() => checkRemovable(r, versions, 1)),
    "VERSION_IS_CURRENT",
    "same code as the running one",
  );
  assert.equal(
    code(() => checkRemovable(r, versions, 0)),
    "VERSION_REMOVED",
  );
  assert.equal(
    code(() => checkRemovable(r, versions, 9)),
    "VERSION_NOT_FOUND",
  );
  assert.equal(
    code(() => checkRemovable(r, versions, -1)),
    "BAD_ARGUMENT",
  );
  assert.equal(
    code(() => checkRemovable(r, versions, 2)),
    "none",
  );
  assert.equal(
    code(() => checkPinnable(r, versions, 0)),
    "VERSION_REMOVED",
  );
  assert.equal(
    code(() => checkPinnable(r, versions, 4)),
    "VERSION_NOT_FOUND",
  );
  assert.equal(
    code(() => checkPinnable(r, versions, 1.5)),
    "BAD_ARGUMENT",
  );
  assert.equal(
    code(() => checkPinnable(r, versions, 2)),
    "none",
  );
});
