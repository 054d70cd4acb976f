// Random sequences of economic moves (seeded, so a failure replays): contributions, withdrawals,
// mining and rewards, fee claims, slashes and vault moves, with token conservation and each
// contract's accounting checked after every step, and a refused move checked to change nothing.
//   PROPERTY_SEED=123 PROPERTY_STEPS=500 node scripts/run-tests.mjs test/economy/property
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, test } from "node:test";
import { createPublicClient, type Hex, http } from "viem";
import { feeEscrowAbi, rewardsAbi, stakePoolAbi, vaultAbi, veilTokenAbi } from "../../src/chain/abi.ts";
import { MiningState, parseVeil } from "../../src/chain/economy-client.ts";
import { VeilError } from "../../src/errors/index.ts";
import { hash32 } from "../helpers/chain.ts";
import { type EconomyTestChain, startEconomyChain, workerKey } from "../helpers/economy.ts";

const SEED = Number(process.env.PROPERTY_SEED ?? 0x5eed);
const STEPS = Number(process.env.PROPERTY_STEPS ?? 200);
const V = (n: number | string) => parseVeil(String(n));
const MAX = 2n ** 256n - 1n;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    /** A random part of `x`, from 1/64 to all of it. */
    part: (x: bigint) => (x * BigInt(1 + Math.floor(next() * 64))) / 64n,
  };
}

let t: EconomyTestChain;
let batch: ReturnType<typeof createPublicClient>;
const r = prng(SEED);
const users = [1, 3, 4, 6, 7, 8]; // delegators, payers, vault holders
const payers = [6, 7, 8];
let pools: { id: bigint; owner: number; workers: { n: number; address: Hex }[] }[];
let vault: Hex;
const channels = new Map<string, { calls: bigint; amount: bigint }>();
let genesis: bigint;
let lastAttest = 0n;
let requestSeq = 0;

before(async () => {
  t = await startEconomyChain();
  batch = createPublicClient({ transport: http(t.config.rpcUrl, { batch: { batchSize: 500, wait: 0 } }) });
  genesis = await t.econReader.totalSupply();
  await t.econ(0).setParameter({ parameter: "rewards.challengeTarget", value: MAX }); // every block challenges
  await t.econ(0).setParameter({ parameter: "rewards.minStake", value: V(100) });
  for (const i of [...users, 2, 5]) await t.fund(i, V(50_000));
  const workers = [
    { n: 1, operator: 2 },
    { n: 2, operator: 2 },
    { n: 3, operator: 5 },
  ];
  const addresses = new Map<number, Hex>();
  for (const w of workers) addresses.set(w.n, await t.registerWorker(w.operator, workerKey(w.n)));
  const a = await t.econ(2).createPool(1_000);
  const b = await t.econ(5).createPool(0);
  pools = [
    { id: a.poolId, owner: 2, workers: [] },
    { id: b.poolId, owner: 5, workers: [] },
  ];
  for (const w of workers) {
    const pool = pools.find((p) => p.owner === w.operator)!;
    const address = addresses.get(w.n)!;
    await t.econ(w.operator).bindWorker(pool.id, address);
    pool.workers.push({ n: w.n, address });
  }
  ({ vault } = await t.econ(4).createVault(2_000));
  lastAttest = (await t.reader.public.getBlock()).timestamp;
});
after(async () => {
  await t?.close();
});

/** Everything that must balance, read in one batch. */
async function snapshot() {
  const e = t.economy;
  const read = (address: Hex, abi: readonly unknown[], functionName: string, args: readonly unknown[] = []) =>
    batch.readContract({ address, abi, functionName, args } as never) as Promise<unknown>;
  const holders: Hex[] = [
    ...t.accounts.map((a) => a.address),
    ...pools.flatMap((p) => p.workers.map((w) => w.address)),
    e.stakePool,
    e.rewards,
    e.feeEscrow,
    e.slashing,
    e.treasury,
    e.governor,
    vault,
  ];
  // Only the users ever hold pool or vault shares, or escrow; every account's balance is counted.
  const delegators = [...users.map(addr), vault];
  const [balances, supply, emitted, minted, poolRecords, workerStakes, positions, escrow, vaultState] =
    await Promise.all([
      Promise.all(holders.map((h) => read(e.token, veilTokenAbi, "balanceOf", [h]) as Promise<bigint>)),
      read(e.token, veilTokenAbi, "totalSupply") as Promise<bigint>,
      read(e.token, veilTokenAbi, "emitted") as Promise<bigint>,
      read(e.rewards, rewardsAbi, "totalMinted") as Promise<bigint>,
      Promise.all(
        pools.map(
          (p) =>
            read(e.stakePool, stakePoolAbi, "getPool", [p.id]) as Promise<{
              totalShares: bigint;
              totalStake: bigint;
              freeStake: bigint;
              ownerRewards: bigint;
            }>,
        ),
      ),
      Promise.all(
        pools.map((p) =>
          Promise.all(
            p.workers.map(
              (w) => read(e.stakePool, stakePoolAbi, "stakeOfWorker", [w.address]) as Promise<bigint>,
            ),
          ),
        ),
      ),
      Promise.all(
        pools.map((p) =>
          Promise.all(
            delegators.map(async (d) => {
              const [s, q] = await Promise.all([
                read(e.stakePool, stakePoolAbi, "sharesOf", [p.id, d]) as Promise<bigint>,
                read(e.stakePool, stakePoolAbi, "queuedSharesOf", [p.id, d]) as Promise<bigint>,
              ]);
              return s + q;
            }),
          ),
        ),
      ),
      Promise.all(
        payers.map(
          (i) => read(e.feeEscrow, feeEscrowAbi, "getAccount", [addr(i)]) as Promise<{ balance: bigint }>,
        ),
      ),
      Promise.all([
        read(vault, vaultAbi, "totalShares") as Promise<bigint>,
        read(vault, vaultAbi, "totalAssets") as Promise<bigint>,
        read(vault, vaultAbi, "pools") as Promise<readonly bigint[]>,
        Promise.all(
          users.map(async (i) => {
            const [s, q] = await Promise.all([
              read(vault, vaultAbi, "sharesOf", [addr(i)]) as Promise<bigint>,
              read(vault, vaultAbi, "queuedSharesOf", [addr(i)]) as Promise<bigint>,
            ]);
            return s + q;
          }),
        ),
      ]),
    ]);
  const byHolder = new Map(holders.map((h, i) => [h, balances[i]!]));
  return { byHolder, supply, emitted, minted, poolRecords, workerStakes, positions, escrow, vaultState };
}

async function checkInvariants(step: number, what: string) {
  const s = await snapshot();
  const at = `seed ${SEED}, step ${step} (${what})`;
  const e = t.economy;
  // Conservation: every token is somewhere we know, and the total is genesis plus what rewards minted.
  const sum = [...s.byHolder.values()].reduce((a, b) => a + b, 0n);
  assert.equal(
    sum,
    genesis + s.minted,
    `${at}: EOAs + pools + escrow + treasury + contracts == genesis + minted`,
  );
  assert.equal(s.supply, genesis + s.minted, `${at}: supply == genesis + minted`);
  assert.equal(s.emitted, s.minted, `${at}: the token's emission count is the rewards contract's`);
  // Contracts that pass tokens through hold none between calls.
  assert.equal(s.byHolder.get(e.rewards), 0n, `${at}: rewards holds nothing`);
  assert.equal(s.byHolder.get(e.slashing), 0n, `${at}: slashing holds nothing`);
  // The stake pool holds exactly its pools' stake and unclaimed commission; each pool's stake is
  // its free stake plus its workers' stake; its shares are its delegators' shares.
  let accounted = 0n;
  s.poolRecords.forEach((p, i) => {
    accounted += p.totalStake + p.ownerRewards;
    const workers = s.workerStakes[i]!.reduce((a, b) => a + b, 0n);
    assert.equal(p.freeStake + workers, p.totalStake, `${at}: pool ${i} free + workers == stake`);
    const shares = s.positions[i]!.reduce((a, b) => a + b, 0n);
    assert.equal(shares, p.totalShares, `${at}: pool ${i} delegators' shares == total shares`);
  });
  assert.equal(s.byHolder.get(e.stakePool), accounted, `${at}: stake pool balance == accounted`);
  // The escrow holds exactly its payers' balances.
  const escrowed = s.escrow.reduce((a, b) => a + b.balance, 0n);
  assert.equal(s.byHolder.get(e.feeEscrow), escrowed, `${at}: escrow balance == payers' balances`);
  // The vault's shares are its holders'; its assets are its tokens plus its pool claims.
  const [vShares, vAssets, vPools, vHolders] = s.vaultState;
  assert.equal(
    vHolders.reduce((a, b) => a + b, 0n),
    vShares,
    `${at}: vault holders' shares == total`,
  );
  let claims = 0n;
  for (const id of vPools) {
    const i = pools.findIndex((p) => p.id === id);
    const p = s.poolRecords[i]!;
    const mine = s.positions[i]![users.length]!; // the vault is the last delegator
    if (p.totalShares > 0n) claims += (mine * p.totalStake) / p.totalShares;
  }
  assert.equal(vAssets, (s.byHolder.get(vault) ?? 0n) + claims, `${at}: vault assets == tokens + claims`);
  return s;
}

// ── moves ──────────────────────────────────────────────────────────────────────────────────

type Move = { name: string; weight: number; run: () => Promise<unknown> };

const addr = (i: number) => t.accounts[i]!.address;
const allWorkers = () => pools.flatMap((p) => p.workers.map((w) => ({ ...w, pool: p })));

async function reattestIfNeeded() {
  const now = (await t.reader.public.getBlock()).timestamp;
  if (now - lastAttest < 12n * 3600n) return;
  for (const w of allWorkers()) await t.registerWorker(w.pool.owner, workerKey(w.n));
  lastAttest = now;
}

async function passTime(seconds: number) {
  await t.increaseTime(seconds);
  await reattestIfNeeded();
}

const moves: Move[] = [
  {
    name: "contribute",
    weight: 10,
    run: async () => {
      const i = r.pick(users);
      await t.econ(i).contribute(r.pick(pools).id, V(r.int(1, 3_000)));
    },
  },
  {
    name: "withdraw from a pool",
    weight: 8,
    run: async () => {
      const i = r.pick(users);
      const p = r.pick(pools);
      const { shares } = await t.econReader.poolPosition(p.id, addr(i));
      await t.econ(i).withdrawFromPool(p.id, r.part(shares));
    },
  },
  {
    name: "start mining",
    weight: 6,
    run: async () => {
      const w = r.pick(allWorkers());
      const free = (await t.econReader.getPool(w.pool.id)).freeStake;
      await t.econ(w.pool.owner).startMining(w.address, r.part(free));
    },
  },
  {
    name: "stop mining",
    weight: 3,
    run: async () => {
      const w = r.pick(allWorkers());
      await t.econ(w.pool.owner).stopMining(w.address);
    },
  },
  {
    name: "reclaim after the cool-down",
    weight: 4,
    run: async () => {
      if (r.next() < 0.5) await passTime(7 * 24 * 3600 + 1);
      await t.econ(r.pick(users)).reclaim(r.pick(allWorkers()).address);
    },
  },
  {
    name: "time passes and a worker heartbeats (rewards)",
    weight: 14,
    run: async () => {
      await passTime(r.int(60, 4 * 3600));
      const working = [];
      for (const w of allWorkers()) {
        const m = await t.econReader.getMiner(w.address);
        if (m.state === MiningState.Working || m.state === MiningState.Unresponsive)
          working.push({ ...w, m });
      }
      if (working.length === 0) return;
      const w = r.pick(working);
      await t.mine(2);
      const challengeBlock = (await t.reader.blockNumber()) - 1n;
      const performance = BigInt(r.int(0, 5_000));
      const signature = await t.econReader.signHeartbeat(workerKey(w.n), {
        session: w.m.session,
        challengeBlock,
        performance,
      });
      await t.econ(r.pick(users)).heartbeat({ worker: w.address, challengeBlock, performance, signature });
    },
  },
  {
    name: "settle a worker's rewards",
    weight: 4,
    run: async () => {
      await passTime(r.int(1, 1_800));
      await t.econ(r.pick(users)).settleRewards(r.pick(allWorkers()).address);
    },
  },
  {
    name: "report a missed challenge",
    weight: 2,
    run: async () => {
      const w = r.pick(allWorkers());
      const m = await t.econReader.getMiner(w.address);
      await t.mine(21);
      await t.econ(r.pick(users)).reportUnresponsive(w.address, m.lastChallenge + 1n);
    },
  },
  {
    name: "claim pool commission",
    weight: 3,
    run: async () => {
      const p = r.pick(pools);
      await t.econ(p.owner).claimCommission(p.id);
    },
  },
  {
    name: "deposit into the fee escrow",
    weight: 5,
    run: async () => {
      await t.econ(r.pick(payers)).depositEscrow(V(r.int(1, 500)));
    },
  },
  {
    name: "claim fees with vouchers",
    weight: 10,
    run: async () => {
      const w = r.pick(allWorkers());
      const vouchers = [];
      for (let k = r.int(1, 3); k > 0; k--) {
        const payer = r.pick(payers);
        const agentId = BigInt(r.int(1, 3));
        const key = `${payer}/${w.address}/${agentId}`;
        const c = channels.get(key) ?? { calls: 0n, amount: 0n };
        const next = { calls: c.calls + BigInt(r.int(1, 1_000)), amount: c.amount + V(r.int(1, 200)) };
        vouchers.push(
          await t.econReader.signVoucher(t.accounts[payer]!.privateKey, {
            payer: addr(payer),
            worker: w.address,
            agentId,
            ...next,
          }),
        );
        channels.set(key, next);
      }
      try {
        await t.econ(r.pick(users)).claimFees(w.address, vouchers);
      } catch (err) {
        // Refused: the channels stay where the chain has them.
        for (const v of vouchers) {
          const chain = await t.econReader.feeChannel(v.payer, w.address, v.agentId);
          const payer = t.accounts.findIndex((a) => a.address === v.payer);
          channels.set(`${payer}/${w.address}/${v.agentId}`, chain);
        }
        throw err;
      }
      // A shortfall pays less than the voucher: the channel holds what was paid.
      for (const v of vouchers) {
        const payer = t.accounts.findIndex((a) => a.address === v.payer);
        channels.set(
          `${payer}/${w.address}/${v.agentId}`,
          await t.econReader.feeChannel(v.payer, w.address, v.agentId),
        );
      }
    },
  },
  {
    name: "escrow withdrawal",
    weight: 3,
    run: async () => {
      const i = r.pick(payers);
      if (r.next() < 0.5) {
        await t.econ(i).requestEscrowWithdrawal(r.part((await t.econReader.escrowAccount(addr(i))).balance));
      } else {
        await passTime(24 * 3600);
        await t.econ(i).withdrawEscrow();
      }
    },
  },
  {
    name: "slash an equivocating worker",
    weight: 2,
    run: async () => {
      const w = r.pick(allWorkers());
      const requestId = hash32(++requestSeq % 256);
      const base = { agentId: BigInt(requestSeq), requestId, inputHash: hash32(0x11) };
      const a = await t.econReader.signWorkerReceipt(workerKey(w.n), { ...base, outputHash: hash32(0xa1) });
      const b = await t.econReader.signWorkerReceipt(workerKey(w.n), { ...base, outputHash: hash32(0xb2) });
      await t.econ(r.pick([...users, w.pool.owner])).reportEquivocation(w.address, a, b);
    },
  },
  {
    name: "vault deposit",
    weight: 6,
    run: async () => {
      await t.econ(r.pick(users)).vaultDeposit(vault, V(r.int(1, 2_000)));
    },
  },
  {
    name: "vault withdrawal",
    weight: 5,
    run: async () => {
      const i = r.pick(users);
      const { shares } = await t.econReader.vaultPosition(vault, addr(i));
      await t.econ(i).vaultWithdraw(vault, r.part(shares));
    },
  },
  {
    name: "vault delegates to a pool",
    weight: 5,
    run: async () => {
      await t.econ(4).vaultDelegate(vault, r.pick(pools).id, r.part(await t.econReader.balanceOf(vault)));
    },
  },
  {
    name: "vault undelegates from a pool",
    weight: 4,
    run: async () => {
      const p = r.pick(pools);
      const { shares } = await t.econReader.poolPosition(p.id, vault);
      await t.econ(4).vaultUndelegate(vault, p.id, r.part(shares));
    },
  },
  {
    name: "process queues",
    weight: 2,
    run: async () => {
      await t.econ(r.pick(users)).processPoolQueue(r.pick(pools).id);
      await t.econ(r.pick(users)).vaultProcessQueue(vault);
    },
  },
];

/** The move whose cumulative weight first exceeds `x`. */
function pickMove(x: number): Move {
  let left = x;
  for (const m of moves) {
    left -= m.weight;
    if (left < 0) return m;
  }
  return moves[moves.length - 1]!;
}

test(`conservation and accounting hold over ${STEPS} random moves (seed ${SEED})`, async (ctx) => {
  const total = moves.reduce((a, m) => a + m.weight, 0);
  const done = new Map<string, number>();
  const refusedCodes = new Map<string, number>();
  const timing = new Map<string, number>();
  let s = await checkInvariants(0, "start");
  for (let step = 1; step <= STEPS; step++) {
    const move = pickMove(r.next() * total);
    const before = s;
    const t0 = performance.now();
    try {
      await move.run();
      timing.set(move.name, (timing.get(move.name) ?? 0) + performance.now() - t0);
      done.set(move.name, (done.get(move.name) ?? 0) + 1);
      const t1 = performance.now();
      s = await checkInvariants(step, move.name);
      timing.set("check", (timing.get("check") ?? 0) + performance.now() - t1);
    } catch (err) {
      if (!(err instanceof VeilError)) throw err;
      refusedCodes.set(err.code, (refusedCodes.get(err.code) ?? 0) + 1);
      s = await checkInvariants(step, `${move.name}, refused ${err.code}`);
      // A move refused as a whole changes no balance (time and re-attestation may have passed).
      if (!move.name.includes("time") && !move.name.includes("cool-down") && !move.name.includes("escrow")) {
        assert.deepEqual(s.byHolder, before.byHolder, `seed ${SEED}, step ${step}: ${err.code} moved tokens`);
      }
    }
  }
  const succeeded = [...done.values()].reduce((a, b) => a + b, 0);
  ctx.diagnostic(`done: ${[...done].map(([k, v]) => `${k} ×${v}`).join(", ")}`);
  ctx.diagnostic(`ms: ${[...timing].map(([k, v]) => `${k} ${Math.round(v)}`).join(", ")}`);
  ctx.diagnostic(`refused: ${[...refusedCodes].map(([k, v]) => `${k} ×${v}`).join(", ")}`);
  assert.ok(succeeded >= STEPS / 2, `most moves went through (${succeeded}/${STEPS}): ${[...refusedCodes]}`);
  for (const name of [
    "contribute",
    "withdraw from a pool",
    "start mining",
    "time passes and a worker heartbeats (rewards)",
    "claim fees with vouchers",
    "slash an equivocating worker",
    "vault deposit",
    "vault delegates to a pool",
  ]) {
    assert.ok((done.get(name) ?? 0) > 0, `"${name}" happened at least once`);
  }
  assert.ok(s.minted > 0n, "rewards were minted");
});
