import type { Command } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import {
  addSignerOptions,
  economyClient,
  out,
  parseAddress,
  parseAmount,
  parseId,
  printTransaction,
  run,
  type SignerFlags,
} from "./economy-common.ts";

type WorkerFlags = SignerFlags & { worker?: string };

/** The worker to act on: --worker, else the network's worker operated by the signer. */
function pickWorker(network: NetworkFile, signer: Hex, explicit?: string): Hex {
  if (explicit) return parseAddress(explicit, "worker");
  const mine = network.workers.find((w) => w.operator.toLowerCase() === signer.toLowerCase());
  if (!mine) {
    throw new VeilError("NO_WORKER", `No worker of this network is operated by ${signer}`, {
      hint: "Pass --worker <address>, or --from the operator account of a worker (e.g. operator-1).",
    });
  }
  return mine.address;
}

/** Commander hands a subcommand's options its parent's (`veil worker --network`) too. */
const withParent = <T extends object>(opts: T, cmd: Command): T => {
  const network = (cmd.parent?.opts() as { network?: string } | undefined)?.network;
  return { ...(network ? { network } : {}), ...opts };
};

const STATES = ["idle", "working", "unresponsive", "cooling down"];

/**
 * `veil worker add-to-pool|start|stop|status`, added under the existing `veil worker` (which,
 * without a subcommand, still runs the worker daemon).
 */
export function registerWorkerOps(program: Command): void {
  const worker = program.commands.find((c) => c.name() === "worker");
  if (!worker) throw new Error("registerWorkerOps: the `worker` command must be registered first");
  // The daemon's required options (--data, --operator-key) stay required for the daemon only:
  // commander would otherwise demand them of every subcommand too. Same message as before.
  const required = worker.options.filter((o) => o.mandatory);
  for (const o of required) o.mandatory = false;
  worker.hook("preAction", (_hooked, actionCommand) => {
    if (actionCommand !== worker) return;
    for (const o of required) {
      if (worker.getOptionValue(o.attributeName()) === undefined) {
        worker.error(`error: required option '${o.flags}' not specified`);
      }
    }
  });

  addSignerOptions(
    worker
      .command("add-to-pool")
      .description("bind a worker to a stake pool; the signer must own the pool and operate the worker")
      .argument("<pool>", "pool id")
      .option("--worker <address>", "the worker (default: the network's worker operated by the signer)"),
  ).action(
    run(async (id: string, flags: WorkerFlags, cmd: Command) => {
      const opts = withParent(flags, cmd);
      const poolId = parseId(id, "pool id");
      const { economy, network } = await economyClient(opts);
      const w = pickWorker(network, economy.account, opts.worker);
      const hash = await economy.pools.bindWorker(poolId, w);
      await printTransaction(economy, hash);
      out([`worker  ${w} is in pool #${poolId}; start it with: veil worker start --stake <VEIL>`], {
        worker: w,
        pool: poolId,
      });
    }),
  );

  addSignerOptions(
    worker
      .command("start")
      .description("assign stake from the worker's pool and start it mining (the pool's owner signs)")
      .requiredOption("--stake <amount>", "VEIL of the pool's free stake to assign, e.g. 2000")
      .option("--worker <address>", "the worker (default: the network's worker operated by the signer)"),
  ).action(
    run(async (flags: WorkerFlags & { stake: string }, cmd: Command) => {
      const opts = withParent(flags, cmd);
      const stake = await parseAmount(opts.stake, "stake");
      const { economy, network } = await economyClient(opts);
      const w = pickWorker(network, economy.account, opts.worker);
      const hash = await economy.pools.startMining(w, stake);
      await printTransaction(economy, hash);
      const m = await economy.rewards.getMiner(w);
      out(
        [
          `worker  ${w} is ${STATES[m.state]} (session ${m.session}); it answers heartbeat challenges to earn`,
        ],
        {
          worker: w,
          state: STATES[m.state] ?? m.state,
          session: m.session,
          stake,
        },
      );
    }),
  );

  addSignerOptions(
    worker
      .command("stop")
      .description("stop a worker mining; its stake returns to the pool after the cool-down")
      .option("--worker <address>", "the worker (default: the network's worker operated by the signer)"),
  ).action(
    run(async (flags: WorkerFlags, cmd: Command) => {
      const opts = withParent(flags, cmd);
      const { economy, network } = await economyClient(opts);
      const w = pickWorker(network, economy.account, opts.worker);
      const hash = await economy.pools.stopMining(w);
      await printTransaction(economy, hash);
      const m = await economy.rewards.getMiner(w);
      out([`worker  ${w} is ${STATES[m.state]}`], { worker: w, state: STATES[m.state] ?? m.state });
    }),
  );

  addSignerOptions(
    worker
      .command("status")
      .description("show a worker's mining state, stake, pool, last heartbeat, share and pending rewards")
      .option("--worker <address>", "the worker (default: the network's worker operated by the signer)"),
  ).action(
    run(async (flags: WorkerFlags, cmd: Command) => {
      const opts = withParent(flags, cmd);
      const { economy, network } = await economyClient(opts);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const w = pickWorker(network, economy.account, opts.worker);
      const [m, stake, pending] = await Promise.all([
        economy.rewards.getMiner(w),
        economy.pools.workerStake(w),
        economy.rewards.pendingRewards(w),
      ]);
      out(
        [
          `worker          ${w}`,
          `state           ${STATES[m.state] ?? m.state}`,
          `pool            ${stake.poolId === 0n ? "none" : `#${stake.poolId}`}`,
          `stake           ${formatVeil(stake.stake)} VEIL`,
          `session         ${m.session}`,
          `last heartbeat  ${m.lastChallenge === 0n ? "none" : `challenge of block ${m.lastChallenge}`}`,
          `performance     ${m.performance}`,
          `share           ${m.share}`,
          `pending rewards ${formatVeil(pending)} VEIL`,
          ...(await feeLines(network, w, formatVeil)),
        ],
        {
          worker: w,
          state: STATES[m.state] ?? m.state,
          pool: stake.poolId,
          stake: stake.stake,
          session: m.session,
          lastChallenge: m.lastChallenge,
          performance: m.performance,
          share: m.share,
          pendingRewards: pending,
        },
      );
    }),
  );
}

/**
 * What the worker holds in vouchers (its own ledger, over HTTP): pending until its settlement
 * loop claims them from FeeEscrow, and claimed.
 */
async function feeLines(
  network: NetworkFile,
  worker: Hex,
  formatVeil: (v: bigint) => string,
): Promise<string[]> {
  const url = network.workers.find((x) => x.address.toLowerCase() === worker.toLowerCase())?.url;
  if (!url) return ["fees            unknown (the network file lists no URL for this worker)"];
  try {
    const res = await fetch(`${url.replace(/\/$/, "")}/v1/fees`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return [`fees            unknown (the worker answered ${res.status})`];
    const f = (await res.json()) as {
      channels: number;
      pendingCalls: string;
      pendingAmount: string;
      claimedCalls: string;
      claimedAmount: string;
      dropped: number;
    };
    return [
      `fees pending    ${formatVeil(BigInt(f.pendingAmount))} VEIL for ${f.pendingCalls} calls`,
      `fees claimed    ${formatVeil(BigInt(f.claimedAmount))} VEIL for ${f.claimedCalls} calls (${f.channels} channels, ${f.dropped} vouchers dropped as already paid)`,
      "                (before the treasury's share; the rest went to the worker's pool, or its operator)",
    ];
  } catch {
    return ["fees            unknown (the worker is not reachable)"];
  }
}
