import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { VeilChain } from "../../src/chain/index.ts";
import { TriggersClient } from "../../src/chain/triggers-client.ts";
import { VeilError } from "../../src/errors/index.ts";
import { AgentGas } from "../../src/worker/chain-requests.ts";
import { ScheduleRunner } from "../../src/worker/schedules.ts";
import { agentCertifier } from "../helpers/agent-signer.ts";
import { hash32, startTestChain, type TestChain } from "../helpers/chain.ts";

let t: TestChain;
let agentId: bigint;
const agentKey: Hex = `0x${"c1".repeat(32)}`;
const agent = privateKeyToAccount(agentKey);

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

before(async () => {
  t = await startTestChain();
  const certify = await agentCertifier(t);
  agentId = (await t.as(1).registerAgent("ticker", hash32(1))).id;
  await certify(agentId, agentKey);
  await new AgentGas(t.as(3)).fund(agent.address);
});
after(async () => {
  await t?.close();
});

describe("schedules", () => {
  test("only the agent's owner sets its schedule; only the agent's key claims a tick, once", async () => {
    await rejectsWith(new TriggersClient(t.as(2)).setSchedule(agentId, "* * * * *"), "NOT_AGENT_OWNER");
    assert.equal(await new TriggersClient(t.reader).scheduleOf(agentId), "");
    const asAgent = new TriggersClient(new VeilChain(t.config, { account: agentKey, pollingIntervalMs: 50 }));
    const early = BigInt(Math.floor(Date.now() / 60_000) * 60);
    await rejectsWith(asAgent.claimTick(agentId, early, agent.address), "SCHEDULE_NOT_SET");
    await new TriggersClient(t.as(1)).setSchedule(agentId, "* * * * *");
    const { since } = await new TriggersClient(t.reader).scheduleWithSince(agentId);
    // A new schedule does not run the minutes before it was set (issue 21: it ran up to six).
    await rejectsWith(
      asAgent.claimTick(agentId, BigInt(Math.floor(since / 60) * 60 - 60), agent.address),
      "SCHEDULE_TICK_BEFORE_SCHEDULE",
    );
    // Three minutes on: an odd minute after the schedule was set (the next test runs an even one).
    await t.increaseTime(180);
    const firstMinute = Math.ceil(since / 60);
    const tick = BigInt((firstMinute % 2 === 1 ? firstMinute : firstMinute + 1) * 60);
    await rejectsWith(
      new TriggersClient(t.as(2)).claimTick(agentId, tick, agent.address),
      "TRIGGER_NOT_AGENT_SIGNER",
    );
    await asAgent.claimTick(agentId, tick, agent.address);
    await rejectsWith(asAgent.claimTick(agentId, tick, agent.address), "SCHEDULE_TICK_CLAIMED");
    await rejectsWith(asAgent.claimTick(agentId, tick + 3600n, agent.address), "SCHEDULE_TICK_IN_FUTURE");
    await new TriggersClient(t.as(1)).setSchedule(agentId, "");
  });

  test("two workers with the schedule due run each tick exactly once between them", async () => {
    await new TriggersClient(t.as(1)).setSchedule(agentId, "*/2 * * * *");
    const workers: Hex[] = [t.accounts[6]!.address, t.accounts[7]!.address];
    const runs: string[] = [];
    // The first even minute after the schedule was set, with the chain there, so "*/2" is due at
    // `base` and fallbacks (stepMs: 1) are due too; the minute before it must not run.
    const { since } = await new TriggersClient(t.reader).scheduleWithSince(agentId);
    const base = Math.ceil(since / 120) * 120_000;
    await t.increaseTime(Math.ceil(base / 1000 - since) + 1);
    const runners = workers.map(
      (self) =>
        new ScheduleRunner({
          chain: t.reader,
          self,
          workers: async () => workers,
          agents: () => [agentId],
          account: async () => agent,
          fund: (a) => new AgentGas(t.as(3)).fund(a),
          run: async (_id, event) => {
            runs.push(event.scheduledTime);
          },
          stepMs: 1,
          now: () => base + 30_000,
        }),
    );
    await Promise.all(runners.map((r) => r.poll()));
    await Promise.all(runners.map((r) => r.poll()));
    assert.deepEqual(runs, [new Date(base).toISOString()], "the due tick ran once, on one worker");
    assert.ok(
      workers.includes(await new TriggersClient(t.reader).tickClaimer(agentId, BigInt(base / 1000))),
      "the tick's claim names the worker that ran it",
    );
  });
});
