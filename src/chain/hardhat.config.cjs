// Hardhat is used only as the embedded EVM chain (its EDR network behind a JSON-RPC server);
// contracts are compiled by solc-js in compile.ts, never by Hardhat (which would download solc).
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      ...(process.env.VEIL_CHAIN_GENESIS_DATE ? { initialDate: process.env.VEIL_CHAIN_GENESIS_DATE } : {}),
      mining: { auto: true, interval: 0 },
      accounts: { mnemonic: "test test test test test test test test test test test junk", count: 20 },
      allowUnlimitedContractSize: false,
    },
  },
};
