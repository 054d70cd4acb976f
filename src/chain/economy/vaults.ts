import { type Hex, parseEventLogs } from "viem";
import { vaultAbi, vaultFactoryAbi } from "../abi.ts";
import { type EconomyConnection, EconomyContractClient, type WriteArgs, type WriteName } from "./base.ts";
import type { TokenClient } from "./token.ts";

export type VaultRecord = {
  address: Hex;
  owner: Hex;
  commissionBps: number;
  totalShares: bigint;
  totalAssets: bigint;
  highWaterPrice: bigint;
  pools: readonly bigint[];
  queueLength: bigint;
};

/**
 * Vaults (VaultFactory.sol, Vault.sol): created by the factory, holding deposits and investing
 * them in stake pools.
 *
 * @example
 * const { vault } = await economy.vaults.createVault(500);
 * await economy.vaults.vaultDeposit(vault, parseVeil("100"));
 */
export class VaultClient extends EconomyContractClient {
  readonly #token: TokenClient;

  constructor(connection: EconomyConnection, token: TokenClient) {
    super(connection);
    this.#token = token;
  }

  /**
   * @example
   * const { vault, hash } = await economy.vaults.createVault(500); // 5% commission
   */
  async createVault(commissionBps: number): Promise<{ vault: Hex; hash: Hex }> {
    const { hash, logs } = await this.send(
      "create a vault",
      this.addresses.vaultFactory,
      vaultFactoryAbi,
      "createVault",
      [commissionBps],
    );
    const [event] = parseEventLogs({ abi: vaultFactoryAbi, logs, eventName: "VaultCreated" });
    if (!event) throw new Error(`create a vault: no VaultCreated event in ${hash}`);
    return { vault: event.args.vault, hash };
  }

  /**
   * Every vault's address, in creation order.
   *
   * @example
   * const [first] = await economy.vaults.listVaults();
   */
  async listVaults(): Promise<readonly Hex[]> {
    return this.read("list vaults", () =>
      this.public.readContract({
        address: this.addresses.vaultFactory,
        abi: vaultFactoryAbi,
        functionName: "vaults",
      }),
    );
  }

  /**
   * Deposits `amount` into `vault` (approving it first if needed).
   *
   * @example
   * await economy.vaults.vaultDeposit(vault, parseVeil("100"));
   */
  async vaultDeposit(vault: Hex, amount: bigint): Promise<Hex> {
    await this.#token.ensureAllowance(vault, amount);
    return this.#write(vault, `deposit into vault ${vault}`, "deposit", [amount]);
  }

  /**
   * @example
   * await economy.vaults.vaultWithdraw(vault, (await economy.vaults.vaultPosition(vault, me)).shares);
   */
  async vaultWithdraw(vault: Hex, shares: bigint): Promise<Hex> {
    return this.#write(vault, `withdraw from vault ${vault}`, "withdraw", [shares]);
  }

  /**
   * @example
   * await economy.vaults.vaultProcessQueue(vault);
   */
  async vaultProcessQueue(vault: Hex, max = 8n): Promise<Hex> {
    return this.#write(vault, `process the queue of vault ${vault}`, "processQueue", [max]);
  }

  /**
   * Invests `amount` of the vault's VEIL in pool `poolId` (the vault's owner).
   *
   * @example
   * await economy.vaults.vaultDelegate(vault, 1n, parseVeil("50"));
   */
  async vaultDelegate(vault: Hex, poolId: bigint, amount: bigint): Promise<Hex> {
    return this.#write(vault, `delegate vault ${vault} to pool ${poolId}`, "delegate", [poolId, amount]);
  }

  /**
   * @example
   * await economy.vaults.vaultUndelegate(vault, 1n, poolShares);
   */
  async vaultUndelegate(vault: Hex, poolId: bigint, poolShares: bigint): Promise<Hex> {
    return this.#write(vault, `undelegate vault ${vault} from pool ${poolId}`, "undelegate", [
      poolId,
      poolShares,
    ]);
  }

  /**
   * @example
   * await economy.vaults.vaultForceUndelegate(vault, 1n, poolShares);
   */
  async vaultForceUndelegate(vault: Hex, poolId: bigint, poolShares: bigint): Promise<Hex> {
    return this.#write(vault, `force vault ${vault} out of pool ${poolId}`, "forceUndelegate", [
      poolId,
      poolShares,
    ]);
  }

  /**
   * @example
   * await economy.vaults.setVaultCommission(vault, 300);
   */
  async setVaultCommission(vault: Hex, commissionBps: number): Promise<Hex> {
    return this.#write(vault, `set the commission of vault ${vault}`, "setCommission", [commissionBps]);
  }

  /**
   * @example
   * await economy.vaults.transferVaultOwnership(vault, newOwner);
   */
  async transferVaultOwnership(vault: Hex, newOwner: Hex): Promise<Hex> {
    return this.#write(vault, `transfer vault ${vault} to ${newOwner}`, "transferOwnership", [newOwner]);
  }

  /**
   * @example
   * const { owner, totalAssets, pools } = await economy.vaults.getVault(vault);
   */
  async getVault(vault: Hex): Promise<VaultRecord> {
    const abi = vaultAbi;
    const address = vault;
    return this.read(`read vault ${vault}`, async () => {
      const [owner, commissionBps, totalShares, totalAssets, highWaterPrice, pools, head, tail] =
        await Promise.all([
          this.public.readContract({ address, abi, functionName: "owner" }),
          this.public.readContract({ address, abi, functionName: "commissionBps" }),
          this.public.readContract({ address, abi, functionName: "totalShares" }),
          this.public.readContract({ address, abi, functionName: "totalAssets" }),
          this.public.readContract({ address, abi, functionName: "highWaterPrice" }),
          this.public.readContract({ address, abi, functionName: "pools" }),
          this.public.readContract({ address, abi, functionName: "queueHead" }),
          this.public.readContract({ address, abi, functionName: "queueTail" }),
        ]);
      return {
        address,
        owner,
        commissionBps,
        totalShares,
        totalAssets,
        highWaterPrice,
        pools,
        queueLength: tail - head,
      };
    });
  }

  /**
   * A holder's vault shares (held, queued) and their value in tokens.
   *
   * @example
   * const { shares, value } = await economy.vaults.vaultPosition(vault, alice);
   */
  async vaultPosition(vault: Hex, holder: Hex): Promise<{ shares: bigint; queued: bigint; value: bigint }> {
    const abi = vaultAbi;
    const address = vault;
    return this.read(`read the position of ${holder} in vault ${vault}`, async () => {
      const [shares, queued, value] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "sharesOf", args: [holder] }),
        this.public.readContract({ address, abi, functionName: "queuedSharesOf", args: [holder] }),
        this.public.readContract({ address, abi, functionName: "valueOf", args: [holder] }),
      ]);
      return { shares, queued, value };
    });
  }

  async #write<N extends WriteName<typeof vaultAbi>>(
    vault: Hex,
    action: string,
    functionName: N,
    args: WriteArgs<typeof vaultAbi, N>,
  ): Promise<Hex> {
    return (await this.send(action, vault, vaultAbi, functionName, args)).hash;
  }
}
