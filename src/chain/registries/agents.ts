import { type Hex, parseEventLogs } from "viem";
import { agentRegistryAbi } from "../abi.ts";
import { RegistryClient } from "./base.ts";
import type { AgentEvent, AgentLimits, AgentRecord } from "./records.ts";

/**
 * Agents and their versions (AgentRegistry): names, code versions, limits, log keys, ownership and events.
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * const { id } = await chain.agents.registerAgent("hello", codeHash); // or chain.registerAgent(…), the shorthand
 */
export class AgentsClient extends RegistryClient {
  async agentIdOf(name: string): Promise<bigint> {
    return this.read(`look up agent "${name}"`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "idOf",
        args: [name],
      }),
    );
  }

  async getAgent(id: bigint): Promise<AgentRecord> {
    const [owner, name, currentVersion, codeHash, versionCount] = await this.read(`read agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "getAgent",
        args: [id],
      }),
    );
    return { id, owner, name, currentVersion, codeHash, versionCount: Number(versionCount) };
  }

  async agentCount(): Promise<bigint> {
    return this.read("count agents", () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "agentCount",
      }),
    );
  }

  async listAgents(): Promise<AgentRecord[]> {
    const count = await this.agentCount();
    const ids = Array.from({ length: Number(count) }, (_, i) => BigInt(i + 1));
    return Promise.all(ids.map((id) => this.getAgent(id)));
  }

  async registerAgent(name: string, codeHash: Hex): Promise<{ id: bigint; hash: Hex }> {
    const { hash, logs } = await this.write(`register agent "${name}"`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "register",
      args: [name, codeHash],
    });
    const [event] = parseEventLogs({
      abi: agentRegistryAbi,
      logs,
      eventName: "AgentRegistered",
    });
    if (!event) throw new Error(`register agent "${name}": no AgentRegistered event in ${hash}`);
    return { id: event.args.id, hash };
  }

  async addAgentVersion(id: bigint, codeHash: Hex, activate: boolean): Promise<Hex> {
    const { hash } = await this.write(`add a version to agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "addVersion",
      args: [id, codeHash, activate],
    });
    return hash;
  }

  /** The X25519 key the agent's logs are sealed to (zero bytes: none set, logs not kept). */
  async getLogKey(id: bigint): Promise<Hex> {
    return this.read(`read the log key of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "logKeyOf",
        args: [id],
      }),
    );
  }

  async setLogKey(id: bigint, logKey: Hex): Promise<Hex> {
    const { hash } = await this.write(`set the log key of agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setLogKey",
      args: [id, logKey],
    });
    return hash;
  }

  async getAgentLimits(id: bigint): Promise<AgentLimits> {
    return this.read(`read the limits of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "limitsOf",
        args: [id],
      }),
    );
  }

  async setAgentLimits(id: bigint, limits: AgentLimits): Promise<Hex> {
    const { hash } = await this.write(`set the limits of agent ${id}`, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setLimits",
      args: [id, limits],
    });
    return hash;
  }

  async isAgentCodeRemoved(id: bigint, codeHash: Hex): Promise<boolean> {
    return this.read(`check whether code of agent ${id} was removed`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "isCodeRemoved",
        args: [id, codeHash],
      }),
    );
  }

  /** Every version of the agent, with whether it was removed. */
  async agentVersions(id: bigint): Promise<{ version: number; codeHash: Hex; removed: boolean }[]> {
    const hashes = await this.read(`read the versions of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "versions",
        args: [id],
      }),
    );
    return Promise.all(
      hashes.map(async (codeHash, version) => ({
        version,
        codeHash,
        removed: await this.read(`read version ${version} of agent ${id}`, () =>
          this.public.readContract({
            address: this.config.contracts.agentRegistry,
            abi: agentRegistryAbi,
            functionName: "isVersionRemoved",
            args: [id, version],
          }),
        ),
      })),
    );
  }

  activateAgentVersion(id: bigint, version: number): Promise<Hex> {
    return this.agentWrite(`activate version ${version} of agent ${id}`, "activateVersion", [id, version]);
  }

  removeAgentVersion(id: bigint, version: number): Promise<Hex> {
    return this.agentWrite(`remove version ${version} of agent ${id}`, "removeVersion", [id, version]);
  }

  pauseAgent(id: bigint): Promise<Hex> {
    return this.agentWrite(`pause agent ${id}`, "pause", [id]);
  }

  unpauseAgent(id: bigint): Promise<Hex> {
    return this.agentWrite(`unpause agent ${id}`, "unpause", [id]);
  }

  transferAgentOwnership(id: bigint, newOwner: Hex): Promise<Hex> {
    return this.agentWrite(`transfer agent ${id} to ${newOwner}`, "transferAgentOwnership", [id, newOwner]);
  }

  /** Agent events from `fromBlock` on (inclusive), in chain order. */
  async agentEvents(fromBlock: bigint, toBlock: bigint): Promise<AgentEvent[]> {
    const logs = await this.read("read agent events", () =>
      this.public.getContractEvents({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        fromBlock,
        toBlock,
      }),
    );
    const events: AgentEvent[] = [];
    for (const log of logs) {
      const blockNumber = log.blockNumber ?? 0n;
      if (log.eventName === "AgentRegistered") {
        const { id, name, codeHash } = log.args;
        if (id !== undefined && name !== undefined && codeHash !== undefined) {
          events.push({ kind: "registered", id, name, codeHash, blockNumber });
        }
      } else if (log.eventName === "LimitsChanged") {
        if (log.args.id !== undefined) events.push({ kind: "limits", id: log.args.id, blockNumber });
      } else if (
        log.eventName === "AgentPaused" ||
        log.eventName === "AccessChanged" ||
        log.eventName === "CallerAllowed" ||
        log.eventName === "PriceChanged" ||
        log.eventName === "PriceIncreaseScheduled" ||
        log.eventName === "QuotaChanged" ||
        log.eventName === "SpendingCapChanged" ||
        log.eventName === "AgentOwnershipTransferred"
      ) {
        if (log.args.id !== undefined) events.push({ kind: "policy", id: log.args.id, blockNumber });
      } else if (log.eventName === "VersionRemoved") {
        const { id, version, codeHash } = log.args;
        if (id !== undefined && version !== undefined && codeHash !== undefined) {
          events.push({ kind: "removed", id, version, codeHash, blockNumber });
        }
      } else if (log.eventName === "VersionActivated") {
        const { id, version, codeHash } = log.args;
        if (id !== undefined && version !== undefined && codeHash !== undefined) {
          events.push({ kind: "activated", id, version, codeHash, blockNumber });
        }
      }
    }
    return events;
  }
}
