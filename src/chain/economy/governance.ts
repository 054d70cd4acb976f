import { type Hex, keccak256, parseEventLogs, toBytes } from "viem";
import { veilGovernorAbi } from "../abi.ts";
import { withEconomyErrors } from "./base.ts";
import {
  encodeParameterChange,
  type ParameterChange,
  ParametersClient,
  type ProposalAction,
} from "./parameters.ts";

/** Governor proposal states (OpenZeppelin IGovernor.ProposalState). */
export const ProposalState = {
  Pending: 0,
  Active: 1,
  Canceled: 2,
  Defeated: 3,
  Succeeded: 4,
  Queued: 5,
  Expired: 6,
  Executed: 7,
} as const;
/** How a vote counts (OpenZeppelin GovernorCountingSimple). */
export const VoteType = { Against: 0, For: 1, Abstain: 2 } as const;

/** Ownable's `owner()`, for any contract. */
const ownableAbi = [
  {
    type: "function",
    name: "owner",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "address" }],
  },
] as const;

/** A proposal as the governor's ProposalCreated event recorded it. */
export type ProposalRecord = {
  id: bigint;
  actions: ProposalAction[];
  description: string;
  /** When voting opens and closes (the governor's clock: unix seconds). */
  voteStart: bigint;
  voteEnd: bigint;
};

const batch = (actions: readonly ProposalAction[]) =>
  [actions.map((x) => x.target), actions.map((x) => x.value), actions.map((x) => x.data)] as const;

/**
 * Governance (VeilGovernor.sol through VeilTimelock.sol): the economy's parameters (read, or set
 * by their owner: ParametersClient), proposals, votes, queueing and execution, and who owns a
 * contract a proposal would call.
 *
 * @example
 * const { proposalId, actions } = await economy.governance.proposeParameterChanges(
 *   [{ parameter: "slashing.slashBps", value: 2000 }],
 *   "Slash 20%",
 * );
 * await economy.governance.castVote(proposalId, VoteType.For);
 */
export class GovernanceClient extends ParametersClient {
  /**
   * Proposes `actions` to the governor; returns the proposal id.
   *
   * @example
   * const { proposalId } = await economy.governance.propose([action], "Raise the reward rate");
   */
  async propose(
    actions: readonly ProposalAction[],
    description: string,
  ): Promise<{ proposalId: bigint; hash: Hex }> {
    const { hash, logs } = await this.send("propose", this.addresses.governor, veilGovernorAbi, "propose", [
      ...batch(actions),
      description,
    ]);
    const [event] = parseEventLogs({ abi: veilGovernorAbi, logs, eventName: "ProposalCreated" });
    if (!event) throw new Error(`propose: no ProposalCreated event in ${hash}`);
    return { proposalId: event.args.proposalId, hash };
  }

  /**
   * Proposes economy parameter changes (each encoded by encodeParameterChange).
   *
   * @example
   * const { proposalId, actions } = await economy.governance.proposeParameterChanges(
   *   [{ parameter: "feeEscrow.withdrawDelay", value: 3600n }],
   *   "One hour to withdraw",
   * );
   */
  async proposeParameterChanges(
    changes: readonly ParameterChange[],
    description: string,
  ): Promise<{ proposalId: bigint; hash: Hex; actions: ProposalAction[] }> {
    const actions = changes.map((c) => encodeParameterChange(this.addresses, c));
    return { ...(await this.propose(actions, description)), actions };
  }

  /**
   * @example
   * await economy.governance.castVote(proposalId, VoteType.For);
   */
  async castVote(proposalId: bigint, support: number): Promise<Hex> {
    const { hash } = await this.send(
      `vote on proposal ${proposalId}`,
      this.addresses.governor,
      veilGovernorAbi,
      "castVote",
      [proposalId, support],
    );
    return hash;
  }

  /**
   * Queues a succeeded proposal in the timelock.
   *
   * @example
   * await economy.governance.queueProposal(actions, "One hour to withdraw");
   */
  async queueProposal(actions: readonly ProposalAction[], description: string): Promise<Hex> {
    const { hash } = await this.send("queue a proposal", this.addresses.governor, veilGovernorAbi, "queue", [
      ...batch(actions),
      keccak256(toBytes(description)),
    ]);
    return hash;
  }

  /**
   * Executes a queued proposal once the timelock's delay has passed.
   *
   * @example
   * await economy.governance.executeProposal(actions, "One hour to withdraw");
   */
  async executeProposal(actions: readonly ProposalAction[], description: string): Promise<Hex> {
    const { hash } = await this.send(
      "execute a proposal",
      this.addresses.governor,
      veilGovernorAbi,
      "execute",
      [...batch(actions), keccak256(toBytes(description))],
    );
    return hash;
  }

  /**
   * @example
   * if ((await economy.governance.proposalState(id)) === ProposalState.Succeeded) await economy.governance.queueProposal(actions, text);
   */
  async proposalState(proposalId: bigint): Promise<number> {
    return this.read(`read the state of proposal ${proposalId}`, () =>
      this.public.readContract({
        address: this.addresses.governor,
        // With every economy error, so that an unknown proposal decodes (its type is the governor's ABI).
        abi: withEconomyErrors(veilGovernorAbi) as typeof veilGovernorAbi,
        functionName: "state",
        args: [proposalId],
      }),
    );
  }

  /**
   * Voting delay and period (seconds) and proposal threshold.
   *
   * @example
   * const { votingPeriod } = await economy.governance.governorSettings();
   */
  async governorSettings(): Promise<{
    votingDelay: bigint;
    votingPeriod: bigint;
    proposalThreshold: bigint;
  }> {
    const address = this.addresses.governor;
    const abi = veilGovernorAbi;
    return this.read("read the governor's settings", async () => {
      const [votingDelay, votingPeriod, proposalThreshold] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "votingDelay" }),
        this.public.readContract({ address, abi, functionName: "votingPeriod" }),
        this.public.readContract({ address, abi, functionName: "proposalThreshold" }),
      ]);
      return { votingDelay, votingPeriod, proposalThreshold };
    });
  }

  /**
   * The owner of any Ownable contract (`owner()`), or undefined when it has none: a proposal's
   * call to a contract the timelock does not own passes the vote and then fails at execute.
   *
   * @example
   * const owner = await economy.governance.ownerOf(network.chain.contracts.attestationPolicy);
   * if (owner?.toLowerCase() !== economy.addresses.timelock.toLowerCase()) console.warn("not the timelock's");
   */
  async ownerOf(target: Hex): Promise<Hex | undefined> {
    return this.public
      .readContract({ address: target, abi: ownableAbi, functionName: "owner" })
      .catch(() => undefined);
  }

  /**
   * Every proposal made to the governor, oldest first, from its ProposalCreated events.
   *
   * @example
   * const latest = (await economy.governance.proposals()).at(-1);
   */
  async proposals(): Promise<ProposalRecord[]> {
    const events = await this.read("read the governor's proposals", () =>
      this.public.getContractEvents({
        address: this.addresses.governor,
        abi: veilGovernorAbi,
        eventName: "ProposalCreated",
        fromBlock: 0n,
      }),
    );
    const out: ProposalRecord[] = [];
    for (const { args } of events) {
      const { proposalId, targets, values, calldatas } = args;
      if (proposalId === undefined || !targets || !values || !calldatas) continue;
      out.push({
        id: proposalId,
        actions: targets.map((target, i) => ({ target, value: values[i] ?? 0n, data: calldatas[i] ?? "0x" })),
        description: args.description ?? "",
        voteStart: args.voteStart ?? 0n,
        voteEnd: args.voteEnd ?? 0n,
      });
    }
    return out;
  }

  /**
   * When a queued proposal may execute (unix seconds); 0n when it is not queued.
   *
   * @example
   * const eta = await economy.governance.proposalEta(proposalId);
   */
  async proposalEta(proposalId: bigint): Promise<bigint> {
    return this.read(`read when proposal ${proposalId} may execute`, () =>
      this.public.readContract({
        address: this.addresses.governor,
        abi: veilGovernorAbi,
        functionName: "proposalEta",
        args: [proposalId],
      }),
    );
  }

  /**
   * The votes cast on a proposal so far, by kind, in VEIL base units.
   *
   * @example
   * const { forVotes, against } = await economy.governance.proposalVotes(proposalId);
   */
  async proposalVotes(proposalId: bigint): Promise<{ against: bigint; forVotes: bigint; abstain: bigint }> {
    const [against, forVotes, abstain] = await this.read(`read the votes on proposal ${proposalId}`, () =>
      this.public.readContract({
        address: this.addresses.governor,
        abi: veilGovernorAbi,
        functionName: "proposalVotes",
        args: [proposalId],
      }),
    );
    return { against, forVotes, abstain };
  }
}
