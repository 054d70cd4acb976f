import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseUnits, zeroAddress } from "viem";
import { AgentAccess, type AgentPolicy } from "../../src/chain/index.ts";
import { pinAgentVersion, removeAgentVersion } from "../../src/sdk/agent-versions.ts";
import { hash32 } from "../helpers/chain.ts";
import { type EconomyTestChain, refused, rejectsWith, startEconomyChain } from "../helpers/economy.ts";

// The AgentRegistry's full surface: ownership, versions (pin, upgrade, rollback, removal), pause,
// access modes, price, quotas and the owner's spending cap. One behaviour per test; every refusal
// leaves state as it was.

let t: EconomyTestChain;
let seq = 0;
before(async () => {
  t = await startEconomyChain();
});
after(async () => {
  await t?.close();
});

/** A fresh agent owned by account 1, with versions hash(base), hash(base+1), … (first active). */
async function agent(versions = 1): Promise<bigint> {
  const base = 0x10 + (seq++ % 200);
  const { id } = await t.as(1).registerAgent(`policy-${seq}-${Date.now() % 100000}`, hash32(base));
  for (let v = 1; v < versions; v++) await t.as(1).addAgentVersion(id, hash32((base + v * 7) % 256), false);
  return id;
}

const policy = (id: bigint): Promise<AgentPolicy> => t.reader.getAgentPolicy(id);
const record = (id: bigint) => t.reader.getAgent(id);

describe("AgentRegistry ownership", () => {
  test("the owner transfers the agent; the new owner governs it and the old one no longer does", async () => {
    const id = await agent();
    await t.as(1).transferAgentOwnership(id, t.accounts[2]!.address);
    assert.equal((await record(id)).owner, t.accounts[2]!.address);
    await t.as(2).pauseAgent(id);
    await rejectsWith(t.as(1).unpauseAgent(id), "NOT_AGENT_OWNER");
  });

  test("a transfer clears the log key: the old owner's key seals nothing the agent prints afterwards", async () => {
    const id = await agent();
    const oldOwnersKey = `0x${"5a".repeat(32)}` as const;
    await t.as(1).setLogKey(id, oldOwnersKey);
    assert.equal(await t.reader.getLogKey(id), oldOwnersKey);
    await t.as(1).transferAgentOwnership(id, t.accounts[2]!.address);
    // Workers drop output with no log key; the new owner's next deploy sets theirs.
    assert.equal(await t.reader.getLogKey(id), `0x${"00".repeat(32)}`);
    await rejectsWith(t.as(1).setLogKey(id, oldOwnersKey), "NOT_AGENT_OWNER");
    const newOwnersKey = `0x${"6b".repeat(32)}` as const;
    await t.as(2).setLogKey(id, newOwnersKey);
    assert.equal(await t.reader.getLogKey(id), newOwnersKey);
  });

  test("refuses a transfer by someone else", async () => {
    const id = await agent();
    await refused(
      () => t.as(3).transferAgentOwnership(id, t.accounts[3]!.address),
      "NOT_AGENT_OWNER",
      () => record(id),
    );
  });

  test("refuses a transfer to the zero address or to the current owner", async () => {
    const id = await agent();
    await refused(
      () => t.as(1).transferAgentOwnership(id, zeroAddress),
      "ADDRESS_ZERO",
      () => record(id),
    );
    await refused(
      () => t.as(1).transferAgentOwnership(id, t.accounts[1]!.address),
      "AGENT_OWNER_UNCHANGED",
      () => record(id),
    );
  });
});

describe("AgentRegistry versions", () => {
  test("pin and roll back: activating an older version makes its code the one that runs", async () => {
    const id = await agent(3);
    const versions = await t.reader.agentVersions(id);
    await t.as(1).activateAgentVersion(id, 2);
    assert.equal((await record(id)).codeHash, versions[2]!.codeHash);
    await t.as(1).activateAgentVersion(id, 0);
    assert.equal((await record(id)).codeHash, versions[0]!.codeHash);
  });

  test("a stranger can neither pin nor remove a version: the contract refuses it, whatever a client checked (attack)", async () => {
    const id = await agent(3);
    const state = async () => ({ record: await record(id), versions: await t.reader.agentVersions(id) });
    // Straight to the contract, past the SDK's own check (as a page altered by its user would).
    await refused(() => t.as(2).activateAgentVersion(id, 1), "NOT_AGENT_OWNER", state);
    await refused(() => t.as(2).removeAgentVersion(id, 1), "NOT_AGENT_OWNER", state);
    // The SDK's functions (the CLI's and the console's) refuse before anything is signed.
    await refused(() => pinAgentVersion(t.as(2), id, 1), "NOT_AGENT_OWNER", state);
    await refused(() => removeAgentVersion(t.as(2), id, 1), "NOT_AGENT_OWNER", state);
    // And the owner can, through the same functions.
    assert.equal((await pinAgentVersion(t.as(1), id, 2)).version, 2);
    assert.equal((await removeAgentVersion(t.as(1), id, 1)).version, 1);
    assert.equal((await pinAgentVersion(t.as(1), id)).version, 0, "rolled back past the removed version");
  });

  test("a removed version is listed as removed and can never be activated again", async () => {
    const id = await agent(2);
    await t.as(1).removeAgentVersion(id, 1);
    assert.deepEqual(
      (await t.reader.agentVersions(id)).map((v) => v.removed),
      [false, true],
    );
    await refused(
      () => t.as(1).activateAgentVersion(id, 1),
      "VERSION_REMOVED",
      () => record(id),
    );
  });

  test("a removed code hash cannot be added back as a new version", async () => {
    const id = await agent(2);
    const removed = (await t.reader.agentVersions(id))[1]!.codeHash;
    await t.as(1).removeAgentVersion(id, 1);
    assert.equal(await t.reader.isAgentCodeRemoved(id, removed), true);
    await refused(
      () => t.as(1).addAgentVersion(id, removed, true),
      "VERSION_REMOVED",
      () => record(id),
    );
  });

  test("refuses to remove the running version", async () => {
    const id = await agent(2);
    await refused(
      () => t.as(1).removeAgentVersion(id, 0),
      "VERSION_IS_CURRENT",
      () => t.reader.agentVersions(id),
    );
  });

  test("refuses to remove a version twice, or one that does not exist", async () => {
    const id = await agent(2);
    await t.as(1).removeAgentVersion(id, 1);
    await refused(
      () => t.as(1).removeAgentVersion(id, 1),
      "VERSION_REMOVED",
      () => t.reader.agentVersions(id),
    );
    await refused(
      () => t.as(1).removeAgentVersion(id, 9),
      "VERSION_NOT_FOUND",
      () => t.reader.agentVersions(id),
    );
  });

  test("refuses removal and activation by someone else", async () => {
    const id = await agent(2);
    await refused(
      () => t.as(2).removeAgentVersion(id, 1),
      "NOT_AGENT_OWNER",
      () => t.reader.agentVersions(id),
    );
    await refused(
      () => t.as(2).activateAgentVersion(id, 1),
      "NOT_AGENT_OWNER",
      () => record(id),
    );
  });
});

describe("AgentRegistry pause", () => {
  test("pause and unpause flip the policy's paused flag", async () => {
    const id = await agent();
    await t.as(1).pauseAgent(id);
    assert.equal((await policy(id)).paused, true);
    await t.as(1).unpauseAgent(id);
    assert.equal((await policy(id)).paused, false);
  });

  test("refuses to pause twice or to unpause a running agent", async () => {
    const id = await agent();
    await refused(
      () => t.as(1).unpauseAgent(id),
      "AGENT_NOT_PAUSED",
      () => policy(id),
    );
    await t.as(1).pauseAgent(id);
    await refused(
      () => t.as(1).pauseAgent(id),
      "AGENT_ALREADY_PAUSED",
      () => policy(id),
    );
  });

  test("refuses pause by someone else", async () => {
    const id = await agent();
    await refused(
      () => t.as(2).pauseAgent(id),
      "NOT_AGENT_OWNER",
      () => policy(id),
    );
  });
});

describe("AgentRegistry access modes", () => {
  test("public agents let anyone call", async () => {
    const id = await agent();
    assert.equal((await policy(id)).access, AgentAccess.public);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[7]!.address), true);
  });

  test("allowlist mode lets listed callers in, and no one else; removal from the list locks out", async () => {
    const id = await agent();
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], true);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[4]!.address), true);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[5]!.address), false);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], false);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[4]!.address), false);
  });

  test("the owner may always call its own agent, in every mode, and a new owner at once after a transfer", async () => {
    const id = await agent();
    const owner = t.accounts[1]!.address;
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    assert.equal(await t.reader.canCallAgent(id, owner), true, "not on its own allowlist, still allowed");
    await t.as(1).setAgentAccess(id, "tokenHolders", t.economy.token, parseUnits("1000000000", 18));
    assert.equal(await t.reader.canCallAgent(id, owner), true, "holding too few tokens, still allowed");
    await t.as(1).transferAgentOwnership(id, t.accounts[8]!.address);
    assert.equal(await t.reader.canCallAgent(id, owner), false, "the old owner is a caller like any other");
    assert.equal(await t.reader.canCallAgent(id, t.accounts[8]!.address), true);
  });

  test("token-holder mode admits holders of at least the minimum balance", async () => {
    const id = await agent();
    const min = parseUnits("10", 18);
    await t.as(1).setAgentAccess(id, "tokenHolders", t.economy.token, min);
    await t.fund(6, min);
    await t.fund(7, min - 1n);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[6]!.address), true);
    assert.equal(await t.reader.canCallAgent(id, t.accounts[7]!.address), false);
  });

  test("refuses token mode without a token, and a token in other modes", async () => {
    const id = await agent();
    await refused(
      () => t.as(1).setAgentAccess(id, "tokenHolders", zeroAddress, 1n),
      "ACCESS_MODE_INVALID",
      () => policy(id),
    );
    await refused(
      () => t.as(1).setAgentAccess(id, "allowlist", t.economy.token, 0n),
      "ACCESS_MODE_INVALID",
      () => policy(id),
    );
  });

  test("refuses an empty allowlist batch or the zero address", async () => {
    const id = await agent();
    await rejectsWith(t.as(1).setAgentAllowed(id, [], true), "ALLOWLIST_BATCH_INVALID");
    await rejectsWith(t.as(1).setAgentAllowed(id, [zeroAddress], true), "ADDRESS_ZERO");
  });

  test("refuses access and allowlist changes by someone else", async () => {
    const id = await agent();
    await refused(
      () => t.as(2).setAgentAccess(id, "allowlist", zeroAddress, 0n),
      "NOT_AGENT_OWNER",
      () => policy(id),
    );
    await rejectsWith(t.as(2).setAgentAllowed(id, [t.accounts[2]!.address], true), "NOT_AGENT_OWNER");
    assert.equal(await t.reader.canCallAgent(id, t.accounts[2]!.address), true, "still public");
  });
});

describe("AgentRegistry price, quota and spending cap", () => {
  test("the owner sets a price, a quota and a spending cap", async () => {
    const id = await agent();
    await t.as(1).setAgentPrice(id, parseUnits("0.5", 18));
    await t.as(1).setAgentQuota(id, 10, 3600);
    await t.as(1).setAgentSpendingCap(id, parseUnits("100", 18));
    const p = await policy(id);
    assert.equal(p.price, parseUnits("0.5", 18));
    assert.equal(p.quotaCalls, 10);
    assert.equal(p.quotaPeriod, 3600);
    assert.equal(p.spendingCap, parseUnits("100", 18));
  });

  test("refuses a quota with calls but no period (or the reverse)", async () => {
    const id = await agent();
    await refused(
      () => t.as(1).setAgentQuota(id, 10, 0),
      "QUOTA_INVALID",
      () => policy(id),
    );
    await refused(
      () => t.as(1).setAgentQuota(id, 0, 60),
      "QUOTA_INVALID",
      () => policy(id),
    );
  });

  test("refuses price, quota and cap changes by someone else", async () => {
    const id = await agent();
    await refused(
      () => t.as(2).setAgentPrice(id, 1n),
      "NOT_AGENT_OWNER",
      () => policy(id),
    );
    await refused(
      () => t.as(2).setAgentQuota(id, 1, 1),
      "NOT_AGENT_OWNER",
      () => policy(id),
    );
    await refused(
      () => t.as(2).setAgentSpendingCap(id, 1n),
      "NOT_AGENT_OWNER",
      () => policy(id),
    );
  });

  test("refuses to read the policy of an agent that does not exist", async () => {
    await rejectsWith(t.reader.getAgentPolicy(999_999n), "AGENT_NOT_FOUND");
  });
});

describe("AgentRegistry price increases wait the network's delay (ADR 0020)", () => {
  // The attack of issue 18: a caller pays 0.01 a call; the owner sets 9.5 and the caller's next
  // call pays 9.5 without being told. An increase now applies only after governance's delay.
  before(async () => {
    await t.as(0).setPriceIncreaseDelay(3_600);
  });
  after(async () => {
    await t.as(0).setPriceIncreaseDelay(0);
  });

  test("an increase is scheduled, not applied; it applies once the delay has passed", async () => {
    const id = await agent();
    await t.as(1).setAgentPrice(id, parseUnits("0.01", 18));
    let p = await policy(id);
    assert.equal(p.price, 0n, "from free, too, an increase waits");
    assert.equal(p.pendingPrice, parseUnits("0.01", 18));
    await t.increaseTime(3_600);
    p = await policy(id);
    assert.equal(p.price, parseUnits("0.01", 18));
    assert.equal(p.pendingPriceAt, 0n);

    await t.as(1).setAgentPrice(id, parseUnits("9.5", 18));
    p = await policy(id);
    assert.equal(p.price, parseUnits("0.01", 18), "callers still pay 0.01");
    assert.equal(p.pendingPrice, parseUnits("9.5", 18));
    const now = (await t.reader.public.getBlock()).timestamp;
    assert.ok(p.pendingPriceAt >= now + 3_599n && p.pendingPriceAt <= now + 3_600n);
    await t.increaseTime(1_800);
    assert.equal((await policy(id)).price, parseUnits("0.01", 18), "not before its time");
    await t.increaseTime(1_800);
    assert.equal((await policy(id)).price, parseUnits("9.5", 18));
  });

  test("a decrease applies at once and cancels an increase still pending", async () => {
    const id = await agent();
    await t.as(1).setAgentPrice(id, 100n);
    await t.increaseTime(3_600);
    await t.as(1).setAgentPrice(id, 1_000n);
    await t.as(1).setAgentPrice(id, 50n);
    const p = await policy(id);
    assert.equal(p.price, 50n);
    assert.equal(p.pendingPriceAt, 0n);
    await t.increaseTime(3_600);
    assert.equal((await policy(id)).price, 50n, "the cancelled increase never applies");
  });

  test("only governance sets the delay, within 30 days", async () => {
    await rejectsWith(t.as(1).setPriceIncreaseDelay(0), "NOT_OWNER");
    await rejectsWith(t.as(0).setPriceIncreaseDelay(31 * 86_400), "PRICE_DELAY_INVALID");
    assert.equal(await t.reader.priceIncreaseDelay(), 3_600);
  });
});

describe("AgentRegistry events", () => {
  test("every policy change and removal is an event workers can follow", async () => {
    const id = await agent(2);
    const from = (await t.reader.blockNumber()) + 1n;
    await t.as(1).pauseAgent(id);
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await t.as(1).setAgentAllowed(id, [t.accounts[3]!.address], true);
    await t.as(1).setAgentPrice(id, 5n);
    await t.as(1).setAgentQuota(id, 1, 60);
    await t.as(1).setAgentSpendingCap(id, 9n);
    await t.as(1).removeAgentVersion(id, 1);
    const events = (await t.reader.agentEvents(from, await t.reader.blockNumber())).filter(
      (e) => e.id === id,
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ["policy", "policy", "policy", "policy", "policy", "policy", "removed"],
    );
  });
});
