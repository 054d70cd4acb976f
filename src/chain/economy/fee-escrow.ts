import { type Hex, type LocalAccount, parseSignature, signatureToCompactSignature } from "viem";
import { feeEscrowAbi } from "../abi.ts";
import { signTyped } from "../typed-signing.ts";
import {
  asLocalAccount,
  type EconomyConnection,
  EconomyContractClient,
  type WriteArgs,
  type WriteName,
} from "./base.ts";
import type { TokenClient } from "./token.ts";

export type EscrowAccount = { balance: bigint; requested: bigint; unlockAt: bigint };

/** A payer's cumulative fee voucher for one (payer, worker, agent) channel, signed (EIP-2098 compact). */
export type Voucher = { payer: Hex; agentId: bigint; calls: bigint; amount: bigint; r: Hex; vs: Hex };

/**
 * Prepaid fees (FeeEscrow.sol): deposits, withdrawals, voucher signers, vouchers and claims.
 *
 * @example
 * await economy.feeEscrow.depositEscrow(parseVeil("20"));
 * const { balance } = await economy.feeEscrow.escrowAccount(economy.account);
 */
export class FeeEscrowClient extends EconomyContractClient {
  readonly #token: TokenClient;

  constructor(connection: EconomyConnection, token: TokenClient) {
    super(connection);
    this.#token = token;
  }

  /**
   * Deposits `amount` into the escrow of `payer` (default: this account), approving first if needed.
   *
   * @example
   * await economy.feeEscrow.depositEscrow(parseVeil("20"), agentOwner);
   */
  async depositEscrow(amount: bigint, payer: Hex = this.account): Promise<Hex> {
    await this.#token.ensureAllowance(this.addresses.feeEscrow, amount);
    return this.#write(`deposit into the fee escrow of ${payer}`, "deposit", [payer, amount]);
  }

  /**
   * Starts the withdrawal delay for `amount` of this account's escrow.
   *
   * @example
   * await economy.feeEscrow.requestEscrowWithdrawal(parseVeil("5"));
   */
  async requestEscrowWithdrawal(amount: bigint): Promise<Hex> {
    return this.#write("request a fee escrow withdrawal", "requestWithdrawal", [amount]);
  }

  /**
   * Withdraws what was requested, once the delay has passed.
   *
   * @example
   * await economy.feeEscrow.withdrawEscrow();
   */
  async withdrawEscrow(): Promise<Hex> {
    return this.#write("withdraw from the fee escrow", "withdraw", []);
  }

  /**
   * Lets `signer` sign vouchers on this account's escrow, for `agentId` or for any agent.
   *
   * @example
   * await economy.feeEscrow.authorizeSigner(agentKeyAddress, 7n);
   */
  async authorizeSigner(signer: Hex, agentId: bigint | "any"): Promise<Hex> {
    const scope = agentId === "any" ? 2n ** 256n - 1n : agentId;
    return this.#write(`authorize ${signer} to sign vouchers`, "authorizeSigner", [signer, scope]);
  }

  /**
   * @example
   * await economy.feeEscrow.revokeSigner(agentKeyAddress);
   */
  async revokeSigner(signer: Hex): Promise<Hex> {
    return this.#write(`revoke voucher signer ${signer}`, "revokeSigner", [signer]);
  }

  /**
   * @example
   * const { balance, requested, unlockAt } = await economy.feeEscrow.escrowAccount(payer);
   */
  async escrowAccount(payer: Hex): Promise<EscrowAccount> {
    const a = await this.read(`read the fee escrow of ${payer}`, () =>
      this.public.readContract({
        address: this.addresses.feeEscrow,
        abi: feeEscrowAbi,
        functionName: "getAccount",
        args: [payer],
      }),
    );
    return { ...a };
  }

  /**
   * What a (payer, worker, agent) channel has been paid so far.
   *
   * @example
   * const { calls, amount } = await economy.feeEscrow.feeChannel(payer, worker, agentId);
   */
  async feeChannel(payer: Hex, worker: Hex, agentId: bigint): Promise<{ calls: bigint; amount: bigint }> {
    const c = await this.read("read a fee channel", () =>
      this.public.readContract({
        address: this.addresses.feeEscrow,
        abi: feeEscrowAbi,
        functionName: "getChannel",
        args: [payer, worker, agentId],
      }),
    );
    return { ...c };
  }

  /**
   * Signs a cumulative voucher as `signer` (the payer or a signer it authorized).
   *
   * @example
   * const voucher = await economy.feeEscrow.signVoucher(payerKey, { payer, worker, agentId, calls: 3n, amount: 30n });
   */
  async signVoucher(
    signer: LocalAccount | Hex,
    args: { payer: Hex; worker: Hex; agentId: bigint; calls: bigint; amount: bigint },
  ): Promise<Voucher> {
    const account = asLocalAccount(signer);
    const signature = await signTyped(
      account,
      { chainId: this.connection.config.chainId, verifyingContract: this.addresses.feeEscrow },
      "Voucher",
      args,
    );
    const { r, yParityAndS } = signatureToCompactSignature(parseSignature(signature));
    return {
      payer: args.payer,
      agentId: args.agentId,
      calls: args.calls,
      amount: args.amount,
      r,
      vs: yParityAndS,
    };
  }

  /**
   * Claims the fees `vouchers` promise to `worker` (anyone may submit). Returns the tx hash.
   *
   * @example
   * await economy.feeEscrow.claimFees(worker, [voucher]);
   */
  async claimFees(worker: Hex, vouchers: readonly Voucher[]): Promise<Hex> {
    return this.#write(`claim fees for worker ${worker}`, "claim", [worker, vouchers]);
  }

  async #write<N extends WriteName<typeof feeEscrowAbi>>(
    action: string,
    functionName: N,
    args: WriteArgs<typeof feeEscrowAbi, N>,
  ): Promise<Hex> {
    return (await this.send(action, this.addresses.feeEscrow, feeEscrowAbi, functionName, args)).hash;
  }
}
