import type { Command } from "commander";
import type { Hex } from "viem";
import type { ParameterChange, ProposalAction, VeilEconomy } from "../chain/economy-client.ts";
import { VeilError } from "../errors/index.ts";
import {
  addSignerOptions,
  economyClient,
  out,
  parseAddress,
  parseAmount,
  printTransaction,
  run,
  type SignerFlags,
} from "./economy-common.ts";
import { callableContracts, parseCall } from "./gov-call.ts";
import { progress } from "./output.ts";

const TOKEN_AMOUNTS = ["stakePool.minContribution", "rewards.rewardPerSecond", "rewards.minStake"];
const NUMBERS = ["rewards.treasuryBps", "feeEscrow.treasuryBps", "slashing.slashBps", "slashing.reporterBps"];
const WHOLE = [
  "stakePool.coolDown",
  "stakePool.maxQueueWait",
  "rewards.challengeTarget",
  "rewards.challengeWindow",
  "rewards.maxPerformance",
  "feeEscrow.withdrawDelay",
  "vaultFactory.maxQueueWait",
];
const ADDRESSES = ["rewards.treasury", "feeEscrow.treasury", "slashing.treasury", "token.minter"];
const SETTABLE = [...TOKEN_AMOUNTS, ...NUMBERS, ...WHOLE, ...ADDRESSES];

/** "rewards.minStake=500" → a ParameterChange (amounts in VEIL, periods in seconds, bps as numbers). */
async function parseChange(spec: string): Promise<ParameterChange> {
  const eq = spec.indexOf("=");
  const parameter = eq > 0 ? spec.slice(0, eq) : "";
  const value = spec.slice(eq + 1);
  if (!SETTABLE.includes(parameter)) {
    throw new VeilError("BAD_ARGUMENT", `"${spec}" does not set a governance parameter`, {
      hint: `Use --set NAME=VALUE with NAME one of: ${SETTABLE.join(", ")}.`,
    });
  }
  if (TOKEN_AMOUNTS.includes(parameter))
    return { parameter, value: await parseAmount(value) } as ParameterChange;
  if (ADDRESSES.includes(parameter))
    return { parameter, value: parseAddress(value, parameter) } as ParameterChange;
  if (!/^\d+$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `${parameter} takes a whole number, not "${value}"`, {
      hint: "Periods are in seconds, shares of 100% in basis points (10000 = 100%).",
    });
  }
  if (NUMBERS.includes(parameter)) return { parameter, value: Number(value) } as ParameterChange;
  return { parameter, value: BigInt(value) } as ParameterChange;
}

const STATES = ["pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"];
const SUPPORT: Record<string, number> = { against: 0, for: 1, abstain: 2 };

/** The actions and description of a proposal, from its ProposalCreated event. */
/** When a queued proposal may execute (unix seconds); 0 when it is not queued. */
async function proposalEta(economy: VeilEconomy, proposalId: bigint): Promise<bigint> {
  const { veilGovernorAbi } = await import("../chain/abi.ts");
  const eta = await economy.public.readContract({
    address: economy.addresses.governor,
    abi: veilGovernorAbi,
    functionName: "proposalEta",
    args: [proposalId],
  });
  if (eta === 0n)
    throw new VeilError("PROPOSAL_NOT_QUEUED", `Proposal ${proposalId} is not queued in the timelock`, {
      hint: `Queue it first: veil gov queue ${proposalId} --wait`,
    });
  return eta;
}

/**
 * Waits until the chain's latest block is at least `at` (unix seconds): the contracts judge time
 * by blocks, not by this machine's clock. Progress goes to stderr every few seconds.
 */
async function waitForChainTime(economy: VeilEconomy, at: bigint, what: string): Promise<void> {
  let told = 0;
  for (;;) {
    const block = await economy.public.getBlock({ blockTag: "latest" });
    const left = Number(at - block.timestamp);
    if (left <= 0) return;
    if (Date.now() - told > 5000) {
      progress(
        `waiting ${left} s for ${what} (chain time ${new Date(Number(block.timestamp) * 1000).toISOString()})`,
      );
      told = Date.now();
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, left * 1000)));
  }
}

async function findProposal(
  economy: VeilEconomy,
  proposalId: bigint,
): Promise<{ actions: ProposalAction[]; description: string; voteStart: bigint; voteEnd: bigint }> {
  const { veilGovernorAbi } = await import("../chain/abi.ts");
  const events = await economy.public.getContractEvents({
    address: economy.addresses.governor,
    abi: veilGovernorAbi,
    eventName: "ProposalCreated",
    fromBlock: 0n,
  });
  const e = events.find((x) => x.args.proposalId === proposalId);
  if (!e?.args.targets || !e.args.values || !e.args.calldatas) {
    throw new VeilError("PROPOSAL_NOT_FOUND", `No proposal ${proposalId} on this network's governor`, {
      hint: "Copy the id `veil gov propose` printed.",
    });
  }
  const { targets, values, calldatas } = e.args;
  return {
    actions: targets.map((target, i) => ({ target, value: values[i] ?? 0n, data: calldatas[i] as Hex })),
    description: e.args.description ?? "",
    voteStart: e.args.voteStart ?? 0n,
    voteEnd: e.args.voteEnd ?? 0n,
  };
}

function parseProposalId(value: string): bigint {
  if (!/^\d+$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a proposal id`, {
      hint: "A proposal id is the (long) decimal number `veil gov propose` printed.",
    });
  }
  return BigInt(value);
}

/** `veil gov propose|vote|queue|execute|status`: the governor and timelock that own every parameter. */
export function registerGovCommands(program: Command): void {
  const gov = program
    .command("gov")
    .description(
      "governance: propose parameter changes, vote with delegated VEIL, queue in the timelock, execute",
    );

  addSignerOptions(
    gov
      .command("propose")
      .description("propose parameter changes or calls; prints the proposal id")
      .option(
        "--set <name=value>",
        `a change, repeatable (VEIL amounts in token units, periods in seconds, bps): ${SETTABLE.join(", ")}`,
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option(
        "--call <contract.function(args)>",
        "any call the timelock may make, repeatable, e.g. 'attestationPolicy.setParameters(3600, 600, 2)' or 'gatekeeperRegistry.openRotation([0x…, 0x…])' (contracts by their network.json names)",
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .requiredOption("--description <text>", "what the proposal does and why"),
  ).action(
    run(async (opts: SignerFlags & { set?: string[]; call?: string[]; description: string }) => {
      if (!opts.set?.length && !opts.call?.length) {
        throw new VeilError("BAD_ARGUMENT", "A proposal needs at least one --set or --call", {
          hint: "e.g. --set rewards.treasuryBps=1500, or --call 'attestationPolicy.setParameters(3600, 600, 2)'.",
        });
      }
      const { economy, network } = await economyClient(opts);
      const changes = await Promise.all((opts.set ?? []).map(parseChange));
      const contracts = callableContracts(network);
      const actions = [
        ...changes.map((c) => economy.encodeParameterChange(c)),
        ...(opts.call ?? []).map((c) => parseCall(c, contracts)),
      ];
      const { proposalId, hash } = await economy.propose(actions, opts.description);
      await printTransaction(economy, hash);
      const settings = await economy.governorSettings();
      out([
        `proposal ${proposalId}`,
        `  voting opens in ${settings.votingDelay}s and lasts ${settings.votingPeriod}s: veil gov vote ${proposalId} for`,
      ]);
    }),
  );

  addSignerOptions(
    gov
      .command("vote")
      .description("vote on a proposal with the signer's delegated VEIL")
      .argument("<proposal>", "proposal id")
      .argument("<support>", "for, against or abstain"),
  ).action(
    run(async (id: string, support: string, opts: SignerFlags) => {
      const proposalId = parseProposalId(id);
      const choice = SUPPORT[support.toLowerCase()];
      if (choice === undefined) {
        throw new VeilError("BAD_ARGUMENT", `"${support}" is not a vote`, {
          hint: "Vote for, against or abstain.",
        });
      }
      const { economy } = await economyClient(opts);
      const hash = await economy.castVote(proposalId, choice);
      await printTransaction(economy, hash);
      out([`proposal ${proposalId} is ${STATES[await economy.proposalState(proposalId)]}`]);
    }),
  );

  for (const [name, what] of [
    ["queue", "queue a succeeded proposal in the timelock (after the vote ends)"],
    ["execute", "execute a queued proposal once the timelock delay has passed"],
  ] as const) {
    addSignerOptions(
      gov
        .command(name)
        .description(what)
        .argument("<proposal>", "proposal id")
        .option(
          "--wait",
          name === "queue"
            ? "wait for the vote to end first, instead of failing while it is open"
            : "wait for the timelock's delay to pass first, instead of failing with TIMELOCK_NOT_READY",
        ),
    ).action(
      run(async (id: string, opts: SignerFlags & { wait?: boolean }) => {
        const proposalId = parseProposalId(id);
        const { economy } = await economyClient(opts);
        const p = await findProposal(economy, proposalId);
        if (opts.wait) {
          if (name === "queue") await waitForChainTime(economy, p.voteEnd + 1n, "the vote to end");
          else
            await waitForChainTime(economy, await proposalEta(economy, proposalId), "the timelock's delay");
        }
        if (name === "queue") {
          // After the vote, only a succeeded proposal can be queued: say which way it went.
          const state = STATES[await economy.proposalState(proposalId)];
          if (state === "defeated" || state === "canceled" || state === "expired")
            throw new VeilError(
              "PROPOSAL_NOT_SUCCEEDED",
              `Proposal ${proposalId} is ${state}: it cannot be queued`,
              {
                hint: `See the votes with \`veil gov status ${proposalId}\`; a new proposal is needed.`,
              },
            );
        }
        const hash =
          name === "queue"
            ? await economy.queueProposal(p.actions, p.description)
            : await economy.executeProposal(p.actions, p.description);
        await printTransaction(economy, hash);
        out([`proposal ${proposalId} is ${STATES[await economy.proposalState(proposalId)]}`]);
      }),
    );
  }

  addSignerOptions(
    gov
      .command("status")
      .description("show a proposal's state, votes and actions; without an id, the governor's settings")
      .argument("[proposal]", "proposal id"),
  ).action(
    run(async (id: string | undefined, opts: SignerFlags) => {
      const { economy } = await economyClient(opts, { readOnly: true });
      const { formatVeil } = await import("../chain/economy-client.ts");
      const settings = await economy.governorSettings();
      if (id === undefined) {
        out([
          `governor        ${economy.addresses.governor}`,
          `timelock        ${economy.addresses.timelock} (owns every economy parameter; holds the treasury)`,
          `voting delay    ${settings.votingDelay}s`,
          `voting period   ${settings.votingPeriod}s`,
          `threshold       ${formatVeil(settings.proposalThreshold)} VEIL of votes to propose`,
        ]);
        return;
      }
      const proposalId = parseProposalId(id);
      const p = await findProposal(economy, proposalId);
      const { veilGovernorAbi } = await import("../chain/abi.ts");
      const [state, votes] = await Promise.all([
        economy.proposalState(proposalId),
        economy.public.readContract({
          address: economy.addresses.governor,
          abi: veilGovernorAbi,
          functionName: "proposalVotes",
          args: [proposalId],
        }),
      ]);
      const [against, forVotes, abstain] = votes as readonly [bigint, bigint, bigint];
      out([
        `proposal ${proposalId}`,
        `state           ${STATES[state] ?? state}`,
        `description     ${p.description}`,
        `votes           for ${formatVeil(forVotes)}, against ${formatVeil(against)}, abstain ${formatVeil(abstain)} VEIL`,
        `voting          from ${new Date(Number(p.voteStart) * 1000).toISOString()} to ${new Date(Number(p.voteEnd) * 1000).toISOString()}`,
        ...p.actions.map(
          (a) => `action          ${a.target} ${a.data.slice(0, 10)}… (${(a.data.length - 2) / 2} bytes)`,
        ),
      ]);
    }),
  );
}
