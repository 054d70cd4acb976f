import type { Hex } from "viem";
import { gatekeeperRegistryAbi } from "../abi.ts";
import { RegistryClient } from "./base.ts";
import type { GatekeeperRecord } from "./records.ts";

/**
 * Gatekeepers and key epochs (GatekeeperRegistry): the set, the epoch, its master key and signer.
 *
 * @example
 * const chain = new VeilChain(network.chain, { account: privateKey });
 * const epoch = await chain.gatekeepers.epoch(); // or chain.epoch(…), the shorthand
 */
export class GatekeepersClient extends RegistryClient {
  async addGatekeeper(gatekeeper: Hex, encryptionKey: Hex, endpoint: string): Promise<Hex> {
    const { hash } = await this.write(`add gatekeeper ${gatekeeper}`, {
      address: this.config.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName: "addGatekeeper",
      args: [gatekeeper, encryptionKey, endpoint],
    });
    return hash;
  }

  async isGatekeeper(account: Hex): Promise<boolean> {
    return this.read(`check gatekeeper ${account}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "isGatekeeper",
        args: [account],
      }),
    );
  }

  async listGatekeepers(): Promise<GatekeeperRecord[]> {
    const addresses = await this.read("list gatekeepers", () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "gatekeepers",
      }),
    );
    return Promise.all(
      addresses.map(async (address) => {
        const g = await this.read(`read gatekeeper ${address}`, () =>
          this.public.readContract({
            address: this.config.contracts.gatekeeperRegistry,
            abi: gatekeeperRegistryAbi,
            functionName: "getGatekeeper",
            args: [address],
          }),
        );
        return { address, ...g };
      }),
    );
  }

  async epoch(): Promise<bigint> {
    return this.read("read the key epoch", () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "epoch",
      }),
    );
  }

  async masterPublicKey(epoch: bigint): Promise<Hex> {
    return this.read(`read the master public key of epoch ${epoch}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "masterPublicKey",
        args: [epoch],
      }),
    );
  }

  async publishMasterPublicKey(publicKey: Hex, signer: Hex): Promise<Hex> {
    const { hash } = await this.write("publish the master public key", {
      address: this.config.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName: "publishMasterPublicKey",
      args: [publicKey, signer],
    });
    return hash;
  }

  async masterSigner(epoch: bigint): Promise<Hex> {
    return this.read(`read the master signer of epoch ${epoch}`, () =>
      this.public.readContract({
        address: this.config.contracts.gatekeeperRegistry,
        abi: gatekeeperRegistryAbi,
        functionName: "masterSigner",
        args: [epoch],
      }),
    );
  }
}
