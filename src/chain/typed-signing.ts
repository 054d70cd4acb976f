import type { Hex, LocalAccount } from "viem";
import {
  typedData,
  typedDataDigestHex,
  type VeilDomain,
  type VeilMessage,
  type VeilTypeName,
} from "../crypto/typed-data.ts";

/**
 * Signs a Veil message as EIP-712 typed data. A key held here signs the digest directly (the
 * same signature, without viem's slower encoding); an account that only signs typed data (a
 * wallet) is asked for `eth_signTypedData_v4`, and shows the fields.
 *
 * @example
 * const signature = await signTyped(account, { chainId, verifyingContract: feeEscrow }, "Voucher", voucher);
 */
export function signTyped<T extends VeilTypeName>(
  account: LocalAccount,
  domain: VeilDomain,
  name: T,
  message: VeilMessage<T>,
): Promise<Hex> {
  if (account.sign) return account.sign({ hash: typedDataDigestHex(domain, name, message) });
  return account.signTypedData(
    typedData(domain, name, message) as Parameters<LocalAccount["signTypedData"]>[0],
  );
}
