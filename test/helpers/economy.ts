import assert from "node:assert/strict";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { TeeType } from "../../src/chain/client.ts";
import { type EconomyConfig, VeilEconomy } from "../../src/chain/economy-client.ts";
import {
  deployEconomy,
  type EconomyAddresses,
  type GovernanceSettings,
} from "../../src/chain/economy-deploy.ts";
import { VeilError } from "../../src/errors/index.ts";
import { hash32, recordVerified, signedWorkerRegistration, startTestChain, type TestChain } from "./chain.ts";

export const MEASUREMENT = hash32(0x4d);

export type EconomyTestChain = TestChain & {
  economy: EconomyAddresses;
  econConfig: EconomyConfig;
  /** An economy client signing as dev account `i` (0 holds the genesis supply and, in dev mode, governs). */
  econ(i: number): VeilEconomy;
  econReader: VeilEconomy;
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** Mines `blocks` empty blocks. */
  mine(blocks: number): Promise<void>;
  /** Registers a worker with key `workerKey` operated by account `operator`; returns its address. */
  registerWorker(operator: number, workerKey: Hex, confidence?: number): Promise<Hex>;
  /** Sends `amount` VEIL from account 0 to account `i`. */
  fund(i: number, amount: bigint): Promise<void>;
};

/**
 * An embedded chain with the registries and the economy, for one test file. By default account 0
 * governs directly (dev governance); `timelock: true` hands every parameter to the timelock.
 */
export async function startEconomyChain(
  options: {
    timelock?: boolean;
    /** Hand the registries to the timelock too (see deployEconomy). */
    governRegistries?: boolean;
    governance?: Partial<GovernanceSettings>;
    genesisSupply?: bigint;
    emissionCap?: bigint;
  } = {},
): Promise<EconomyTestChain> {
  const t = await startTestChain();
  await t.as(0).allowMeasurement(TeeType.simulated, MEASUREMENT);
  const economy = await deployEconomy({
    rpcUrl: t.config.rpcUrl,
    chainId: t.config.chainId,
    deployerKey: t.accounts[0]!.privateKey,
    registries: t.config.contracts,
    pollingIntervalMs: 5,
    ...(options.timelock ? {} : { devGovernance: t.accounts[0]!.address }),
    ...(options.governRegistries ? { governRegistries: true } : {}),
    ...(options.governance ? { governance: options.governance } : {}),
    ...(options.genesisSupply !== undefined ? { genesisSupply: options.genesisSupply } : {}),
    ...(options.emissionCap !== undefined ? { emissionCap: options.emissionCap } : {}),
  });
  const econConfig: EconomyConfig = { ...t.config, economy };
  const rpc = async (method: string, params: unknown[] = []) => {
    const res = (await fetch(t.config.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    }).then((r) => r.json())) as { result?: unknown; error?: { message: string } };
    if (res.error) throw new Error(`${method}: ${res.error.message}`);
    return res.result;
  };
  const clients = new Map<number, VeilEconomy>();
  const econ = (i: number) => {
    let c = clients.get(i);
    if (!c) {
      c = new VeilEconomy(econConfig, {
        account: t.accounts[i]!.privateKey,
        pollingIntervalMs: 5,
        batch: true,
      });
      clients.set(i, c);
    }
    return c;
  };
  return {
    ...t,
    economy,
    econConfig,
    econ,
    econReader: new VeilEconomy(econConfig, { pollingIntervalMs: 5, batch: true }),
    rpc,
    mine: async (blocks) => {
      await rpc("hardhat_mine", [`0x${blocks.toString(16)}`]);
    },
    registerWorker: async (operator, workerKey, confidence = 1) => {
      const reg = await signedWorkerRegistration(t, {
        operator,
        workerKey,
        measurement: MEASUREMENT,
        confidence,
      });
      await t.as(operator).registerWorker(reg);
      const address = privateKeyToAccount(workerKey).address;
      await recordVerified(t, address);
      return address;
    },
    fund: async (i, amount) => {
      await econ(0).transfer(t.accounts[i]!.address, amount);
    },
  };
}

/** A private key for test worker `n` (not a dev account). */
export const workerKey = (n: number): Hex => `0x${(0xa000 + n).toString(16).padStart(64, "0")}`;

/** Asserts that `promise` fails with the VeilError `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<VeilError> {
  let caught: VeilError | undefined;
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    assert.ok(err.hint, `${code} has a hint`);
    caught = err;
    return true;
  });
  return caught!;
}

/** Asserts that `action` is refused with `code` and that `state()` reads the same before and after. */
export async function refused(
  action: () => Promise<unknown>,
  code: string,
  state: () => Promise<unknown>,
): Promise<void> {
  const before = await state();
  await rejectsWith(action(), code);
  assert.deepEqual(await state(), before, `a refused call (${code}) changed state`);
}

/** Token balances of the dev accounts and the economy's contracts, and the supply. */
export async function balances(t: EconomyTestChain, extra: Hex[] = []): Promise<Record<string, bigint>> {
  const e = t.economy;
  const named: [string, Hex][] = [
    ...t.accounts.map((a, i) => [`account${i}`, a.address] as [string, Hex]),
    ["stakePool", e.stakePool],
    ["rewards", e.rewards],
    ["feeEscrow", e.feeEscrow],
    ["slashing", e.slashing],
    ["treasury", e.treasury],
    ...extra.map((a) => [a, a] as [string, Hex]),
  ];
  const values = await Promise.all(named.map(([, a]) => t.econReader.balanceOf(a)));
  const out: Record<string, bigint> = { supply: await t.econReader.totalSupply() };
  named.forEach(([n], i) => {
    out[n] = values[i]!;
  });
  return out;
}

/** The stake pool contract holds exactly what its pools account for (stake and unclaimed commission). */
export async function assertPoolsSolvent(t: EconomyTestChain): Promise<void> {
  const count = await t.econReader.poolCount();
  let accounted = 0n;
  for (let id = 1n; id <= count; id++) {
    const p = await t.econReader.getPool(id);
    accounted += p.totalStake + p.ownerRewards;
    assert.ok(p.freeStake <= p.totalStake, `pool ${id}: free stake within total stake`);
  }
  assert.equal(
    await t.econReader.balanceOf(t.economy.stakePool),
    accounted,
    "stake pool balance == accounted",
  );
}

/**
 * Token conservation: every VEIL is held by an account or contract we know (dev accounts, the
 * economy's contracts, every vault), and the supply is the genesis supply plus the emission
 * minted, which is what the rewards contract minted (plus any the test minted as the minter).
 */
export async function assertConserved(t: EconomyTestChain): Promise<void> {
  const vaults = await t.econReader.listVaults();
  const b = await balances(t, [...vaults, t.economy.governor]);
  const { supply, ...held } = b;
  const sum = Object.values(held).reduce((a, x) => a + x, 0n);
  assert.equal(sum, supply, "every token is held by a known account or contract");
  const info = await t.econReader.tokenInfo();
  assert.equal(supply, info.genesisSupply + info.emitted, "supply == genesis + emission");
  const { totalMinted } = await t.econReader.rewardTotals();
  assert.ok(totalMinted <= info.emitted, "the rewards contract minted no more than the emission");
  assert.equal(b.rewards, 0n, "rewards holds nothing between calls");
  assert.equal(b.slashing, 0n, "slashing holds nothing between calls");
}
