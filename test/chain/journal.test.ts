import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ChainJournal } from "../../src/chain/journal.ts";

// The chain journal is what a restart rebuilds the chain from: a crash mid-write must cost only
// the unanswered change, and damage anywhere else must stop the start with the file named.
describe("the chain journal", () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-journal-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const header = () => ({
    kind: "veil-chain-journal" as const,
    version: 1 as const,
    chainId: 31337,
    genesisDate: "2026-12-01T00:00:00.000Z",
  });
  let n = 0;
  const withEntries = (count: number) => {
    const path = join(dir, `j${n++}.jsonl`);
    const { journal } = ChainJournal.open(path, header);
    for (let i = 0; i < count; i++)
      journal.append({ m: "evm_mine", p: [], b: { from: i + 1, to: i + 1, time: 1, hash: "0x" } });
    journal.close();
    return path;
  };

  test("entries written are read back in order, with the header", () => {
    const path = withEntries(3);
    const { journal, entries } = ChainJournal.open(path, () => {
      throw new Error("must not make a new one");
    });
    journal.close();
    assert.equal(journal.header.genesisDate, "2026-12-01T00:00:00.000Z");
    assert.deepEqual(
      entries.map((e) => e.b?.from),
      [1, 2, 3],
    );
  });

  test("a last line cut short by a crash is dropped, and the next entry follows the whole ones", () => {
    const path = withEntries(2);
    appendFileSync(path, '{"m":"eth_sendRawTransaction","p":["0xdead');
    const first = ChainJournal.open(path, header);
    assert.equal(first.entries.length, 2);
    first.journal.append({ m: "evm_mine", p: [] });
    first.journal.close();
    const again = ChainJournal.open(path, header);
    again.journal.close();
    assert.deepEqual(
      again.entries.map((e) => e.m),
      ["evm_mine", "evm_mine", "evm_mine"],
    );
    assert.ok(!readFileSync(path, "utf8").includes("0xdead"));
  });

  test("damage before the end, or a file that is not a journal, names the file and the line", () => {
    const path = withEntries(3);
    const lines = readFileSync(path, "utf8").split("\n");
    lines[2] = "{not json";
    writeFileSync(path, lines.join("\n"));
    assert.throws(
      () => ChainJournal.open(path, header),
      (err: Error & { code?: string }) =>
        err.code === "CHAIN_JOURNAL_CORRUPT" && err.message.includes(path) && /line 3/.test(err.message),
    );
    const other = join(dir, "other.jsonl");
    writeFileSync(other, '{"hello":"world"}\n');
    assert.throws(() => ChainJournal.open(other, header), { code: "CHAIN_JOURNAL_CORRUPT" });
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, "");
    assert.throws(() => ChainJournal.open(empty, header), { code: "CHAIN_JOURNAL_CORRUPT" });
  });
});
