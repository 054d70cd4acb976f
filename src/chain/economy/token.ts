import { type Hex, type LocalAccount, parseSignature } from "viem";
import { veilTokenAbi } from "../abi.ts";
import { asLocalAccount, EconomyContractClient } from "./base.ts";

/** An EIP-2612 permit, signed by its owner (signPermit) and submitted by anyone (permit). */
export type SignedPermit = {
  owner: Hex;
  spender: Hex;
  value: bigint;
  deadline: bigint;
  v: number;
  r: Hex;
  s: Hex;
};

/**
 * The VEIL token (VeilToken.sol): balances, allowances, permits and votes. Amounts are bigints in
 * base units (parseVeil, formatVeil).
 *
 * @example
 * const economy = new VeilEconomy(config, { account: privateKey });
 * await economy.token.transfer(bob, parseVeil("10"));
 */
export class TokenClient extends EconomyContractClient {
  /**
   * @example
   * formatVeil(await economy.token.balanceOf(alice)); // "1000"
   */
  async balanceOf(account: Hex): Promise<bigint> {
    return this.read(`read the VEIL balance of ${account}`, () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "balanceOf",
        args: [account],
      }),
    );
  }

  /**
   * @example
   * const supply = await economy.token.totalSupply();
   */
  async totalSupply(): Promise<bigint> {
    return this.read("read the VEIL supply", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "totalSupply",
      }),
    );
  }

  /**
   * Genesis supply, emission cap, emission minted so far, and the minter.
   *
   * @example
   * const { emissionCap, emitted } = await economy.token.tokenInfo();
   */
  async tokenInfo(): Promise<{ genesisSupply: bigint; emissionCap: bigint; emitted: bigint; minter: Hex }> {
    const address = this.addresses.token;
    const abi = veilTokenAbi;
    return this.read("read the token", async () => {
      const [genesisSupply, emissionCap, emitted, minter] = await Promise.all([
        this.public.readContract({ address, abi, functionName: "genesisSupply" }),
        this.public.readContract({ address, abi, functionName: "emissionCap" }),
        this.public.readContract({ address, abi, functionName: "emitted" }),
        this.public.readContract({ address, abi, functionName: "minter" }),
      ]);
      return { genesisSupply, emissionCap, emitted, minter };
    });
  }

  /**
   * @example
   * const allowed = await economy.token.allowance(alice, economy.addresses.stakePool);
   */
  async allowance(owner: Hex, spender: Hex): Promise<bigint> {
    return this.read("read an allowance", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "allowance",
        args: [owner, spender],
      }),
    );
  }

  /**
   * @example
   * const hash = await economy.token.transfer(bob, parseVeil("10"));
   */
  async transfer(to: Hex, amount: bigint): Promise<Hex> {
    const { hash } = await this.send(
      `transfer VEIL to ${to}`,
      this.addresses.token,
      veilTokenAbi,
      "transfer",
      [to, amount],
    );
    return hash;
  }

  /**
   * @example
   * await economy.token.approve(economy.addresses.feeEscrow, parseVeil("5"));
   */
  async approve(spender: Hex, amount: bigint): Promise<Hex> {
    const { hash } = await this.send(`approve ${spender}`, this.addresses.token, veilTokenAbi, "approve", [
      spender,
      amount,
    ]);
    return hash;
  }

  /**
   * Approves `spender` for `amount` unless the allowance already covers it.
   *
   * @example
   * await economy.token.ensureAllowance(vault, parseVeil("100"));
   */
  async ensureAllowance(spender: Hex, amount: bigint): Promise<void> {
    if ((await this.allowance(this.account, spender)) < amount) await this.approve(spender, amount);
  }

  /**
   * Signs an EIP-2612 permit as `owner`: lets `spender` move `value` of the owner's VEIL until
   * `deadline` (seconds), without a transaction from the owner.
   *
   * @example
   * const permit = await economy.token.signPermit(aliceKey, { spender: bob, value: 10n, deadline: 2n ** 40n });
   * await economy.token.permit(permit);
   */
  async signPermit(
    owner: LocalAccount | Hex,
    args: { spender: Hex; value: bigint; deadline: bigint },
  ): Promise<SignedPermit> {
    const account = asLocalAccount(owner);
    const nonce = await this.read("read the permit nonce", () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "nonces",
        args: [account.address],
      }),
    );
    const signature = await account.signTypedData({
      domain: {
        name: "Veil",
        version: "1",
        chainId: this.connection.config.chainId,
        verifyingContract: this.addresses.token,
      },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: {
        owner: account.address,
        spender: args.spender,
        value: args.value,
        nonce,
        deadline: args.deadline,
      },
    });
    const { r, s, yParity } = parseSignature(signature);
    return { owner: account.address, ...args, v: 27 + (yParity ?? 0), r, s };
  }

  /**
   * Submits a signed permit (anyone may).
   *
   * @example
   * await economy.token.permit(await economy.token.signPermit(ownerKey, { spender, value, deadline }));
   */
  async permit(p: SignedPermit): Promise<Hex> {
    const { hash } = await this.send(`permit ${p.spender}`, this.addresses.token, veilTokenAbi, "permit", [
      p.owner,
      p.spender,
      p.value,
      p.deadline,
      p.v,
      p.r,
      p.s,
    ]);
    return hash;
  }

  /**
   * Delegates the account's votes (to itself, to vote directly).
   *
   * @example
   * await economy.token.delegateVotes(economy.account);
   */
  async delegateVotes(to: Hex): Promise<Hex> {
    const { hash } = await this.send(
      `delegate votes to ${to}`,
      this.addresses.token,
      veilTokenAbi,
      "delegate",
      [to],
    );
    return hash;
  }

  /**
   * @example
   * const votes = await economy.token.votesOf(alice);
   */
  async votesOf(account: Hex): Promise<bigint> {
    return this.read(`read the votes of ${account}`, () =>
      this.public.readContract({
        address: this.addresses.token,
        abi: veilTokenAbi,
        functionName: "getVotes",
        args: [account],
      }),
    );
  }
}
