// Re-deploying the same code with new limits lands a version event and a limits event in one
// poll; the worker skipped the reload (same code hash) and kept enforcing the old limits, a
// wider egress list among them, minutes later (issue 18). Every limit change is applied,
// whatever else changed in the same poll.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hex } from "viem";
import type { AgentEvent, AgentRecord, VeilChain } from "../../src/chain/index.ts";
import type { RequestedLimits } from "../../src/network/limits.ts";
import type { BlobStore } from "../../src/storage/blob-store.ts";
import { AgentTable } from "../../src/worker/agents.ts";

const CODE_HASH: Hex = `0x${"ab".repeat(32)}`;
const CODE = new TextEncoder().encode(`export default { fetch() { return new Response("same code"); } };`);

test("limits changed in the same poll as a re-deploy of the same code are the limits enforced", async () => {
  let head = 1n;
  let limits: Partial<RequestedLimits> = { egressHosts: "*" };
  let events: AgentEvent[] = [];
  const record: AgentRecord = {
    id: 1n,
    owner: `0x${"01".repeat(20)}`,
    name: "same-code",
    currentVersion: 0,
    codeHash: CODE_HASH,
    versionCount: 1,
  };
  // A chain as the worker reads it: only what AgentTable asks, scripted by this test.
  const chain = {
    blockNumber: async () => head,
    listAgents: async () => [record],
    agentEvents: async () => events,
    agentKeyEvents: async () => [],
    getAgent: async () => ({ ...record }),
    getAgentLimits: async () => limits,
  } as unknown as VeilChain;
  const blobs = { get: async () => CODE } as unknown as BlobStore;
  const table = new AgentTable({ chain, blobs, log: () => {}, pollIntervalMs: 20 });
  await table.start();
  try {
    const egressOf = () => {
      const s = table.get("1");
      return s?.status === "ready" ? s.limits.egressHosts : undefined;
    };
    assert.deepEqual(egressOf(), ["*"]);
    // The owner re-deploys the same bundle with a narrower egress list: both events in one poll.
    limits = { egressHosts: "api.example.com" };
    events = [
      { kind: "activated", id: 1n, version: 1, codeHash: CODE_HASH, blockNumber: 2n },
      { kind: "limits", id: 1n, blockNumber: 2n },
    ];
    record.currentVersion = 1;
    record.versionCount = 2;
    head = 2n;
    const end = Date.now() + 3_000;
    while (egressOf()?.[0] !== "api.example.com" && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    events = [];
    assert.deepEqual(egressOf(), ["api.example.com"], "the new egress list is in force");
  } finally {
    table.stop();
  }
});
