import type { Hex } from "viem";
import { agentRegistryAbi } from "../abi.ts";
import { RegistryClient } from "./base.ts";
import { AgentAccess, type AgentAccessMode, type AgentPolicy } from "./records.ts";

/**
 * Who may call an agent and what it costs (AgentRegistry): access mode, allowlist, price, quota, sponsor cap.
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * await chain.access.setAgentPrice(agentId, parseVeil("0.01")); // or chain.setAgentPrice(…), the shorthand
 */
export class AccessClient extends RegistryClient {
  async getAgentPolicy(id: bigint): Promise<AgentPolicy> {
    return this.read(`read the policy of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "policyOf",
        args: [id],
      }),
    );
  }

  /** Whether `caller` passes the agent's access mode (allowlist or token balance) now. */
  async canCallAgent(id: bigint, caller: Hex): Promise<boolean> {
    return this.read(`check access of ${caller} to agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "canCall",
        args: [id, caller],
      }),
    );
  }

  setAgentAccess(id: bigint, access: AgentAccessMode, token: Hex, minBalance: bigint): Promise<Hex> {
    return this.agentWrite(`set the access mode of agent ${id}`, "setAccess", [
      id,
      AgentAccess[access],
      token,
      minBalance,
    ]);
  }

  setAgentAllowed(id: bigint, callers: Hex[], allowed: boolean): Promise<Hex> {
    return this.agentWrite(`change the allowlist of agent ${id}`, "setAllowed", [id, callers, allowed]);
  }

  setAgentPrice(id: bigint, price: bigint): Promise<Hex> {
    return this.agentWrite(`set the price of agent ${id}`, "setPrice", [id, price]);
  }

  /** Seconds a price increase waits before it applies (ADR 0020); governance sets it. */
  async priceIncreaseDelay(): Promise<number> {
    const delay = await this.read("read the price increase delay", () =>
      this.public.readContract({
        address: this.config.contracts.agentRegistry,
        abi: agentRegistryAbi,
        functionName: "priceIncreaseDelay",
      }),
    );
    return Number(delay);
  }

  async setPriceIncreaseDelay(seconds: number): Promise<Hex> {
    const { hash } = await this.write("set the price increase delay", {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName: "setPriceIncreaseDelay",
      args: [BigInt(seconds)],
    });
    return hash;
  }

  setAgentQuota(id: bigint, calls: number, periodSeconds: number): Promise<Hex> {
    return this.agentWrite(`set the quota of agent ${id}`, "setQuota", [id, calls, periodSeconds]);
  }

  setAgentSpendingCap(id: bigint, cap: bigint): Promise<Hex> {
    return this.agentWrite(`set the spending cap of agent ${id}`, "setSpendingCap", [id, cap]);
  }
}
