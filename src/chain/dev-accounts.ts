import { bytesToHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";

/** Hardhat's well-known development mnemonic. DEV ONLY: every key derived from it is public. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
export const DEV_ONLY_WARNING =
  "DEV ONLY: these keys are public knowledge (Hardhat's test mnemonic). Never send real funds to them.";

export type DevAccount = { address: Hex; privateKey: Hex };

/** The first `count` development accounts: 0 deploys and governs, then operators and users. */
export function devAccounts(count = 10): DevAccount[] {
  const accounts: DevAccount[] = [];
  for (let i = 0; i < count; i++) {
    const account = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });
    const key = account.getHdKey().privateKey;
    if (!key) throw new Error("HD key without a private key");
    accounts.push({ address: account.address, privateKey: bytesToHex(key) });
  }
  return accounts;
}
