import type { Command } from "commander";
import { VeilError } from "../errors/index.ts";
import type { ParameterChange, ProposalAction, VeilEconomy } from "../sdk/contracts/economy.ts";
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
  const eta = await economy.governance.proposalEta(proposalId);
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

/**
 * A proposal named on the command line: its id, `latest` (the newest proposal), or the first
 * digits of its id (at least 6, when only one id starts with them), as with git's commits.
 */
async function findProposal(
  economy: VeilEconomy,
  spec: string,
): Promise<{
  id: bigint;
  actions: ProposalAction[];
  description: string;
  voteStart: bigint;
  voteEnd: bigint;
}> {
  if (spec !== "latest" && !/^\d+$/.test(spec)) {
    throw new VeilError("BAD_ARGUMENT", `"${spec}" is not a proposal id`, {
      hint: "Give the id `veil gov propose` printed (or its first digits), or `latest`.",
    });
  }
  const events = await economy.governance.proposals();
  let matches = events;
  if (spec === "latest") matches = events.slice(-1);
  else {
    const exact = events.filter((x) => x.id.toString() === spec);
    matches =
      exact.length || spec.length < 6 ? exact : events.filter((x) => x.id.toString().startsWith(spec));
  }
  if (matches.length > 1) {
    throw new VeilError("BAD_ARGUMENT", `${matches.length} proposals have ids starting with ${spec}`, {
      hint: "Give more digits of the id (`veil gov status` lists none; `veil gov propose` printed it).",
    });
  }
  const proposal = matches[0];
  if (!proposal) {
    throw new VeilError(
      "PROPOSAL_NOT_FOUND",
      spec === "latest"
        ? "This network's governor has no proposals yet"
        : `No proposal ${spec} on this network's governor`,
      { hint: "Copy the id `veil gov propose` printed, or say `latest`." },
    );
  }
  return proposal;
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
      // Loaded on use: they pull in viem, which `veil gov --help` should not pay for.
      const { callableContracts, parseCall } = await import("./gov-call.ts");
      const { warnUnlessTimelockOwns } = await import("./timelock-owner.ts");
      const contracts = callableContracts(network);
      const actions = [
        ...changes.map((c) => economy.encodeParameterChange(c)),
        ...(opts.call ?? []).map((c) => parseCall(c, contracts)),
      ];
      await warnUnlessTimelockOwns(
        economy,
        network,
        actions.map((a) => a.target),
      );
      const { proposalId, hash } = await economy.governance.propose(actions, opts.description);
      await printTransaction(economy, hash);
      const settings = await economy.governance.governorSettings();
      out(
        [
          `proposal ${proposalId}`,
          `  voting opens in ${settings.votingDelay}s and lasts ${settings.votingPeriod}s: veil gov vote ${proposalId} for (or: veil gov vote latest for)`,
        ],
        {
          proposal: proposalId,
          votingDelaySeconds: settings.votingDelay,
          votingPeriodSeconds: settings.votingPeriod,
        },
      );
    }),
  );

  addSignerOptions(
    gov
      .command("vote")
      .description("vote on a proposal with the signer's delegated VEIL")
      .argument("<proposal>", "proposal id (or its first digits, or latest)")
      .argument("<support>", "for, against or abstain"),
  ).action(
    run(async (id: string, support: string, opts: SignerFlags) => {
      const choice = SUPPORT[support.toLowerCase()];
      if (choice === undefined) {
        throw new VeilError("BAD_ARGUMENT", `"${support}" is not a vote`, {
          hint: "Vote for, against or abstain.",
        });
      }
      const { economy } = await economyClient(opts);
      const p = await findProposal(economy, id);
      const proposalId = p.id;
      // Voting opens a moment after the proposal (1 s on a dev network): wait for it rather
      // than refuse a vote sent right after proposing.
      if (STATES[await economy.governance.proposalState(proposalId)] === "pending")
        await waitForChainTime(economy, p.voteStart + 1n, "the vote to open");
      const hash = await economy.governance.castVote(proposalId, choice);
      await printTransaction(economy, hash);
      const state = STATES[await economy.governance.proposalState(proposalId)];
      out([`proposal ${proposalId} is ${state}`], {
        proposal: proposalId,
        vote: support.toLowerCase(),
        state,
      });
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
        .argument("<proposal>", "proposal id (or its first digits, or latest)")
        .option(
          "--wait",
          name === "queue"
            ? "wait for the vote to end first, instead of failing while it is open"
            : "wait for the timelock's delay to pass first, instead of failing with TIMELOCK_NOT_READY",
        ),
    ).action(
      run(async (id: string, opts: SignerFlags & { wait?: boolean }) => {
        const { economy } = await economyClient(opts);
        const p = await findProposal(economy, id);
        const proposalId = p.id;
        if (opts.wait) {
          if (name === "queue") await waitForChainTime(economy, p.voteEnd + 1n, "the vote to end");
          else
            await waitForChainTime(economy, await proposalEta(economy, proposalId), "the timelock's delay");
        }
        if (name === "queue") {
          // After the vote, only a succeeded proposal can be queued: say which way it went.
          const state = STATES[await economy.governance.proposalState(proposalId)];
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
            ? await economy.governance.queueProposal(p.actions, p.description)
            : await economy.governance.executeProposal(p.actions, p.description);
        await printTransaction(economy, hash);
        const state = STATES[await economy.governance.proposalState(proposalId)];
        out([`proposal ${proposalId} is ${state}`], { proposal: proposalId, state });
      }),
    );
  }

  addSignerOptions(
    gov
      .command("status")
      .description("show a proposal's state, votes and actions; without an id, the governor's settings")
      .argument("[proposal]", "proposal id (or its first digits, or latest)"),
  ).action(
    run(async (id: string | undefined, opts: SignerFlags) => {
      const { economy } = await economyClient(opts, { readOnly: true });
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const settings = await economy.governance.governorSettings();
      if (id === undefined) {
        out(
          [
            `governor        ${economy.addresses.governor}`,
            `timelock        ${economy.addresses.timelock} (owns every economy parameter; holds the treasury)`,
            `voting delay    ${settings.votingDelay}s`,
            `voting period   ${settings.votingPeriod}s`,
            `threshold       ${formatVeil(settings.proposalThreshold)} VEIL of votes to propose`,
          ],
          { governor: economy.addresses.governor, timelock: economy.addresses.timelock, ...settings },
        );
        return;
      }
      const p = await findProposal(economy, id);
      const proposalId = p.id;
      const [state, { against, forVotes, abstain }] = await Promise.all([
        economy.governance.proposalState(proposalId),
        economy.governance.proposalVotes(proposalId),
      ]);
      out(
        [
          `proposal ${proposalId}`,
          `state           ${STATES[state] ?? state}`,
          `description     ${p.description}`,
          `votes           for ${formatVeil(forVotes)}, against ${formatVeil(against)}, abstain ${formatVeil(abstain)} VEIL`,
          `voting          from ${new Date(Number(p.voteStart) * 1000).toISOString()} to ${new Date(Number(p.voteEnd) * 1000).toISOString()}`,
          ...p.actions.map(
            (a) => `action          ${a.target} ${a.data.slice(0, 10)}… (${(a.data.length - 2) / 2} bytes)`,
          ),
        ],
        {
          proposal: proposalId,
          state: STATES[state] ?? state,
          description: p.description,
          votes: { for: forVotes, against, abstain },
          voteStart: new Date(Number(p.voteStart) * 1000),
          voteEnd: new Date(Number(p.voteEnd) * 1000),
          actions: p.actions,
        },
      );
    }),
  );
}
