import type { Abi, Hex, Log } from "viem";
import { agentRegistryAbi } from "../abi.ts";
import type { VeilChain } from "../client.ts";
import { chainError } from "../errors.ts";
import type { WriteArgs, WriteName } from "../typed-calls.ts";

/**
 * The base of the registries' per-area clients: they share their VeilChain's connection and
 * account, its reads that turn failures into VeilErrors, and its one typed write path (one send
 * at a time per account).
 */
export abstract class RegistryClient {
  protected readonly chain: VeilChain;

  constructor(chain: VeilChain) {
    this.chain = chain;
  }

  get config(): VeilChain["config"] {
    return this.chain.config;
  }

  get public(): VeilChain["public"] {
    return this.chain.public;
  }

  protected async read<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw chainError(err, action, this.chain.config.rpcUrl);
    }
  }

  protected write<const A extends Abi, N extends WriteName<A>>(
    action: string,
    request: { address: Hex; abi: A; functionName: N; args: WriteArgs<A, N>; value?: bigint },
  ): Promise<{ hash: Hex; logs: Log[] }> {
    return this.chain.write(action, request);
  }

  /** A write to the AgentRegistry, which the agents' and the access clients both make. */
  protected async agentWrite<N extends WriteName<typeof agentRegistryAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof agentRegistryAbi, N>,
  ): Promise<Hex> {
    const { hash } = await this.write(action, {
      address: this.config.contracts.agentRegistry,
      abi: agentRegistryAbi,
      functionName,
      args,
    });
    return hash;
  }
}
