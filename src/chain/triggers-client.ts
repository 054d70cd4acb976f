import { type Hex, parseEventLogs, type ReadContractParameters } from "viem";
import { VeilError } from "../errors/index.ts";
import { agentTriggersAbi } from "./abi.ts";
import type { VeilChain } from "./client.ts";
import { chainError } from "./errors.ts";
import type { ReadArgs, ReadName, ReadResult, WriteArgs, WriteName } from "./typed-calls.ts";

export const RequestStatus = { None: 0, Pending: 1, Fulfilled: 2, Refunded: 3 } as const;

/** A request from a contract to an agent, as AgentTriggers.sol holds it. */
export type AgentRequestRecord = {
  id: bigint;
  consumer: Hex;
  agentId: bigint;
  createdBlock: bigint;
  deadlineBlock: bigint;
  status: number;
  fee: bigint;
  payloadHash: Hex;
};

/** A request as its event announced it (with the payload, which the chain stores only as a hash). */
export type AgentRequestEvent = {
  id: bigint;
  agentId: bigint;
  consumer: Hex;
  payload: Hex;
  deadlineBlock: bigint;
  fee: bigint;
  blockNumber: bigint;
};

/**
 * Typed access to AgentTriggers.sol (requests from contracts, schedules) through a VeilChain:
 * its account, if any, signs the writes.
 */
export class TriggersClient {
  readonly chain: VeilChain;
  readonly address: Hex;

  constructor(chain: VeilChain) {
    const address = chain.config.contracts.agentTriggers;
    if (!address) {
      throw new VeilError("TRIGGERS_NOT_DEPLOYED", "This network has no AgentTriggers contract", {
        hint: "Recreate the network with this version (`veil up`), which deploys it and records it in network.json.",
      });
    }
    this.chain = chain;
    this.address = address;
  }

  async #read<N extends ReadName<typeof agentTriggersAbi>>(
    action: string,
    functionName: N,
    args: ReadArgs<typeof agentTriggersAbi, N>,
  ): Promise<ReadResult<typeof agentTriggersAbi, N>> {
    try {
      // Checked against the ABI in the signature; viem's per-function overloads do not follow N.
      const parameters: ReadContractParameters = {
        address: this.address,
        abi: agentTriggersAbi,
        functionName,
        args: args as readonly unknown[],
      };
      return (await this.chain.public.readContract(parameters)) as ReadResult<typeof agentTriggersAbi, N>;
    } catch (err) {
      throw chainError(err, action, this.chain.config.rpcUrl);
    }
  }

  async #write<N extends WriteName<typeof agentTriggersAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof agentTriggersAbi, N>,
    value?: bigint,
  ) {
    return this.chain.write(action, {
      address: this.address,
      abi: agentTriggersAbi,
      functionName,
      args,
      ...(value !== undefined ? { value } : {}),
    });
  }

  // ── requests ─────────────────────────────────────────────────────────────────────────────

  /**
   * What a request must pay now (wei): its answer's and callback's gas at the current base fee,
   * or governance's minimum, whichever is more (ADR 0020).
   */
  async requiredFee(): Promise<bigint> {
    return this.#read("read the required request fee", "requiredFee", []);
  }

  /** How many requests were ever filed (request ids run from 1 to this). */
  async requestCount(): Promise<bigint> {
    return this.#read("read the request count", "requestCount", []);
  }

  /** Governance sets the least a request pays (wei). */
  async setMinRequestFee(fee: bigint): Promise<Hex> {
    return (await this.#write("set the minimum request fee", "setMinRequestFee", [fee])).hash;
  }

  /** Files a request from this account (an EOA consumer; contracts use AgentConsumer.sol). */
  async request(agentId: bigint, payload: Hex, deadlineBlock: bigint, fee = 0n): Promise<bigint> {
    const { hash, logs } = await this.#write(
      `request work from agent ${agentId}`,
      "request",
      [agentId, payload, deadlineBlock],
      fee,
    );
    const [event] = parseEventLogs({
      abi: agentTriggersAbi,
      logs,
      eventName: "AgentRequested",
    });
    if (!event) throw new Error(`request: no AgentRequested event in ${hash}`);
    return event.args.requestId;
  }

  async fulfill(requestId: bigint, response: Hex): Promise<Hex> {
    return (await this.#write(`answer request ${requestId}`, "fulfill", [requestId, response])).hash;
  }

  async refund(requestId: bigint): Promise<Hex> {
    return (await this.#write(`refund request ${requestId}`, "refund", [requestId])).hash;
  }

  async getRequest(requestId: bigint): Promise<AgentRequestRecord> {
    const r = await this.#read(`read request ${requestId}`, "getRequest", [requestId]);
    return {
      id: requestId,
      consumer: r.consumer,
      agentId: r.agentId,
      createdBlock: BigInt(r.createdBlock),
      deadlineBlock: BigInt(r.deadlineBlock),
      status: Number(r.status),
      fee: r.fee,
      payloadHash: r.payloadHash,
    };
  }

  /** Requests announced in blocks `fromBlock`..`toBlock`, optionally for one agent. */
  async requestEvents(fromBlock: bigint, toBlock: bigint, agentId?: bigint): Promise<AgentRequestEvent[]> {
    try {
      const logs = await this.chain.public.getContractEvents({
        address: this.address,
        abi: agentTriggersAbi,
        eventName: "AgentRequested",
        ...(agentId !== undefined ? { args: { agentId } } : {}),
        fromBlock,
        toBlock,
      });
      return logs.map((l) => ({
        id: l.args.requestId!,
        agentId: l.args.agentId!,
        consumer: l.args.consumer!,
        payload: l.args.payload!,
        deadlineBlock: BigInt(l.args.deadlineBlock!),
        fee: l.args.fee!,
        blockNumber: l.blockNumber,
      }));
    } catch (err) {
      throw chainError(err, "read requests", this.chain.config.rpcUrl);
    }
  }

  // ── schedules ────────────────────────────────────────────────────────────────────────────

  async setSchedule(agentId: bigint, cron: string): Promise<Hex> {
    return (await this.#write(`set the schedule of agent ${agentId}`, "setSchedule", [agentId, cron])).hash;
  }

  async scheduleOf(agentId: bigint): Promise<string> {
    return this.#read(`read the schedule of agent ${agentId}`, "scheduleOf", [agentId]);
  }

  /** The schedule and when it was set (unix seconds): ticks before then never run. */
  async scheduleWithSince(agentId: bigint): Promise<{ cron: string; since: number }> {
    const [cron, since] = await this.#read(`read the schedule of agent ${agentId}`, "scheduleWithSince", [
      agentId,
    ]);
    return { cron, since: Number(since) };
  }

  async claimTick(agentId: bigint, tick: bigint, worker: Hex): Promise<Hex> {
    return (await this.#write(`claim tick ${tick} of agent ${agentId}`, "claimTick", [agentId, tick, worker]))
      .hash;
  }

  async tickClaimer(agentId: bigint, tick: bigint): Promise<Hex> {
    return this.#read(`read tick ${tick} of agent ${agentId}`, "tickClaimer", [agentId, tick]);
  }
}
