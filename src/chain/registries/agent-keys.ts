import type { Hex } from "viem";
import { agentKeysAbi } from "../abi.ts";
import { RegistryClient } from "./base.ts";
import type { AgentKeyRecord } from "./records.ts";

/**
 * Agents' keys and sealed secrets (AgentKeys).
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * const names = await chain.agentKeys.secretNames(agentId); // or chain.secretNames(…), the shorthand
 */
export class AgentKeysClient extends RegistryClient {
  async getAgentKeys(id: bigint): Promise<AgentKeyRecord> {
    return this.read(`read the keys of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "getAgentKeys",
        args: [id],
      }),
    );
  }

  async setAgentKeys(id: bigint, clusterId: string, record: AgentKeyRecord): Promise<Hex> {
    const { hash } = await this.write(`record the keys of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "setAgentKeys",
      args: [id, clusterId, record],
    });
    return hash;
  }

  async setSecret(id: bigint, name: string, ciphertext: Hex): Promise<Hex> {
    const { hash } = await this.write(`set secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "setSecret",
      args: [id, name, ciphertext],
    });
    return hash;
  }

  /** Re-seals a secret's epoch layer after a rotation (signed by the agent's current cluster signer). */
  async resealSecret(
    id: bigint,
    name: string,
    previousHash: Hex,
    ciphertext: Hex,
    signature: Hex,
  ): Promise<Hex> {
    const { hash } = await this.write(`re-seal secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "resealSecret",
      args: [id, name, previousHash, ciphertext, signature],
    });
    return hash;
  }

  async unsetSecret(id: bigint, name: string): Promise<Hex> {
    const { hash } = await this.write(`unset secret ${name} of agent ${id}`, {
      address: this.config.contracts.agentKeys,
      abi: agentKeysAbi,
      functionName: "unsetSecret",
      args: [id, name],
    });
    return hash;
  }

  async secretNames(id: bigint): Promise<readonly string[]> {
    return this.read(`list the secrets of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "secretNames",
        args: [id],
      }),
    );
  }

  async getSecret(id: bigint, name: string): Promise<Hex> {
    return this.read(`read secret ${name} of agent ${id}`, () =>
      this.public.readContract({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "getSecret",
        args: [id, name],
      }),
    );
  }

  /** Agents whose keys or secrets changed in the block range. */
  async agentKeyEvents(fromBlock: bigint, toBlock: bigint): Promise<bigint[]> {
    const logs = await this.read("read agent key events", () =>
      this.public.getContractEvents({
        address: this.config.contracts.agentKeys,
        abi: agentKeysAbi,
        fromBlock,
        toBlock,
      }),
    );
    const ids: bigint[] = [];
    for (const log of logs) {
      const id = (log.args as { id?: bigint }).id;
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    return ids;
  }
}
