import type {
  Abi,
  Account,
  Hex,
  LocalAccount,
  Log,
  PublicClient,
  Transport,
  Chain as ViemChain,
  WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  feeEscrowAbi,
  rewardsAbi,
  slashingAbi,
  stakePoolAbi,
  vaultAbi,
  vaultFactoryAbi,
  veilGovernorAbi,
  veilTimelockAbi,
  veilTokenAbi,
} from "../abi.ts";
import type { ChainConfig } from "../client.ts";
import type { EconomyAddresses } from "../economy-deploy.ts";
import { chainError } from "../errors.ts";
import { gasWithHeadroom } from "../gas.ts";
import { type CheckedCall, checkedCall, type WriteArgs, type WriteName } from "../typed-calls.ts";

export { type CheckedCall, checkedCall, type WriteArgs, type WriteName } from "../typed-calls.ts";

/** A chain config plus where the economy's contracts are. */
export type EconomyConfig = ChainConfig & { economy: EconomyAddresses };

/**
 * What every economy client shares: the config, a public client for reads and simulations, and
 * (to write) a wallet client with its account. `VeilEconomy` makes one and hands it to each.
 */
export type EconomyConnection = {
  readonly config: EconomyConfig;
  readonly public: PublicClient<Transport, ViemChain>;
  readonly wallet: WalletClient<Transport, ViemChain, Account> | undefined;
  readonly pollingMs: number;
};

/** A mined transaction: its hash and the logs it emitted. */
export type Sent = { hash: Hex; logs: Log[] };

// Errors of every economy contract, so that a revert bubbling up from another contract (a token
// transfer inside a pool, a pool inside a vault) still decodes to its name.
const ERRORS: Abi = [
  ...veilTokenAbi,
  ...stakePoolAbi,
  ...rewardsAbi,
  ...feeEscrowAbi,
  ...slashingAbi,
  ...vaultAbi,
  ...vaultFactoryAbi,
  ...veilGovernorAbi,
  ...veilTimelockAbi,
].filter((item) => item.type === "error");

/** `abi` with every economy error, for decoding a revert from any contract a call reaches. */
export const withEconomyErrors = (abi: Abi): Abi => [...abi, ...ERRORS];

/**
 * The base of the economy's per-contract clients: reads that turn failures into VeilErrors, and
 * typed writes that simulate first (so a refusal decodes before anything is signed), send with
 * gas headroom and wait for the receipt.
 */
export abstract class EconomyContractClient {
  protected readonly connection: EconomyConnection;

  constructor(connection: EconomyConnection) {
    this.connection = connection;
  }

  /** The public client (reads, simulations, receipts). */
  get public(): PublicClient<Transport, ViemChain> {
    return this.connection.public;
  }

  get addresses(): EconomyAddresses {
    return this.connection.config.economy;
  }

  /** The signing account; throws when this client was made without one. */
  get account(): Hex {
    const wallet = this.connection.wallet;
    if (!wallet) throw new Error("this economy client has no account");
    return wallet.account.address;
  }

  protected async read<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw chainError(err, action, this.connection.config.rpcUrl);
    }
  }

  /** Simulates, sends and waits for the receipt of `abi`'s `functionName(args)` at `address`. */
  protected send<const A extends Abi, N extends WriteName<A>>(
    action: string,
    address: Hex,
    abi: A,
    functionName: N,
    args: WriteArgs<A, N>,
  ): Promise<Sent> {
    return this.sendChecked(action, checkedCall(address, abi, functionName, args));
  }

  /** Sends a call built (and type-checked) by checkedCall. */
  protected async sendChecked(action: string, call: CheckedCall): Promise<Sent> {
    const { wallet, public: client, pollingMs, config } = this.connection;
    if (!wallet) throw new Error(`cannot ${action}: this economy client has no account`);
    try {
      const parameters = {
        address: call.address,
        abi: withEconomyErrors(call.abi),
        functionName: call.functionName,
        args: call.args,
        account: wallet.account,
      };
      const { request } = await client.simulateContract(parameters);
      const estimate = await client.estimateContractGas(parameters);
      const hash = await wallet.writeContract({ ...request, gas: gasWithHeadroom(estimate) });
      const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: pollingMs });
      if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
      return { hash, logs: receipt.logs };
    } catch (err) {
      throw chainError(err, action, config.rpcUrl);
    }
  }
}

/** A local account from itself or its private key. */
export const asLocalAccount = (signer: LocalAccount | Hex): LocalAccount =>
  typeof signer === "string" ? privateKeyToAccount(signer) : signer;
