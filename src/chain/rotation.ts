import { encodeFunctionData, type Hex, type ReadContractParameters } from "viem";
import { gatekeeperRegistryAbi } from "./abi.ts";
import type { VeilChain } from "./client.ts";
import { chainError } from "./errors.ts";
import type { ReadArgs, ReadName, ReadResult, WriteArgs, WriteName } from "./typed-calls.ts";

/** The states of a key rotation on chain (GatekeeperRegistry.RotationState, ADR 0010). */
export enum RotationState {
  Idle = 0,
  Open = 1,
  Confirmed = 2,
  Completed = 3,
}

export const rotationStateName = (s: RotationState): string =>
  (["idle", "open", "confirmed", "completed"] as const)[s] ?? `unknown(${s})`;

export type RotationRecord = {
  epoch: bigint;
  state: RotationState;
  openedAt: bigint;
  confirmedAt: bigint;
  contributions: number;
  confirmations: number;
  destroyed: number;
  elected: Hex[];
};

/**
 * The governance action that opens a rotation electing `elected`, or aborts the open one: what
 * a proposal to the governor carries when the registry's owner is the timelock (production;
 * `veil keys rotate --propose`). Shaped as economy-client's ProposalAction.
 */
export function rotationProposalAction(
  gatekeeperRegistry: Hex,
  action: { open: readonly Hex[] } | "abort",
): { target: Hex; value: bigint; data: Hex } {
  return {
    target: gatekeeperRegistry,
    value: 0n,
    data:
      action === "abort"
        ? encodeFunctionData({ abi: gatekeeperRegistryAbi, functionName: "abortRotation", args: [] })
        : encodeFunctionData({
            abi: gatekeeperRegistryAbi,
            functionName: "openRotation",
            args: [action.open],
          }),
  };
}

/**
 * The rotation half of the GatekeeperRegistry, kept apart from VeilChain so that the registry
 * client stays small: governance opens and aborts, elected gatekeepers contribute, confirm and
 * record that they destroyed the ended epoch's key; anyone reads the progress.
 */
export class RotationClient {
  constructor(readonly chain: VeilChain) {}

  async #read<N extends ReadName<typeof gatekeeperRegistryAbi>>(
    action: string,
    functionName: N,
    args: ReadArgs<typeof gatekeeperRegistryAbi, N>,
  ): Promise<ReadResult<typeof gatekeeperRegistryAbi, N>> {
    try {
      // Checked against the ABI in the signature; viem's per-function overloads do not follow N.
      const parameters: ReadContractParameters = {
        address: this.chain.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName,
        args: args as readonly unknown[],
      };
      return (await this.chain.public.readContract(parameters)) as ReadResult<
        typeof gatekeeperRegistryAbi,
        N
      >;
    } catch (err) {
      throw chainError(err, action, this.chain.config.rpcUrl);
    }
  }

  async #write<N extends WriteName<typeof gatekeeperRegistryAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof gatekeeperRegistryAbi, N>,
  ): Promise<Hex> {
    const { hash } = await this.chain.write(action, {
      address: this.chain.config.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName,
      args,
    });
    return hash;
  }

  open(elected: readonly Hex[]): Promise<Hex> {
    return this.#write("open a key rotation", "openRotation", [elected]);
  }

  abort(): Promise<Hex> {
    return this.#write("abort the key rotation", "abortRotation", []);
  }

  contribute(epoch: bigint, sealedShares: Hex): Promise<Hex> {
    return this.#write(`contribute to the master key of epoch ${epoch}`, "contribute", [epoch, sealedShares]);
  }

  confirm(epoch: bigint, transcript: Hex, masterPublicKey: Hex, signer: Hex): Promise<Hex> {
    return this.#write(`confirm the master key of epoch ${epoch}`, "confirm", [
      epoch,
      transcript,
      masterPublicKey,
      signer,
    ]);
  }

  recordOldKeysDestroyed(epoch: bigint): Promise<Hex> {
    return this.#write(`record the keys before epoch ${epoch} destroyed`, "recordOldKeysDestroyed", [epoch]);
  }

  async current(): Promise<RotationRecord> {
    const r = await this.#read("read the key rotation", "rotation", []);
    return { ...r, state: r.state as RotationState, elected: [...r.elected] };
  }

  keyTrafficOpen(): Promise<boolean> {
    return this.#read("check whether key traffic is open", "keyTrafficOpen", []);
  }

  contribution(epoch: bigint, gatekeeper: Hex): Promise<Hex> {
    return this.#read(`read ${gatekeeper}'s contribution to epoch ${epoch}`, "contribution", [
      epoch,
      gatekeeper,
    ]);
  }

  transcript(epoch: bigint): Promise<Hex> {
    return this.#read(`read the transcript of epoch ${epoch}`, "transcriptOf", [epoch]);
  }

  hasConfirmed(epoch: bigint, gatekeeper: Hex): Promise<boolean> {
    return this.#read(`check ${gatekeeper}'s confirmation of epoch ${epoch}`, "hasConfirmed", [
      epoch,
      gatekeeper,
    ]);
  }

  hasDestroyed(epoch: bigint, gatekeeper: Hex): Promise<boolean> {
    return this.#read(`check ${gatekeeper} destroyed the keys before ${epoch}`, "hasDestroyed", [
      epoch,
      gatekeeper,
    ]);
  }
}
