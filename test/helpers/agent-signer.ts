import { bytesToHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { agentCertDigest, clusterCertDigest } from "../../src/chain/certificates.ts";
import { deriveClusterKey, deriveClusterSigningKey, randomBytes } from "../../src/crypto/index.ts";
import { masterPublicKeyHex, masterSigningAccount } from "../../src/gatekeeper/keys.ts";
import { hash32, type TestChain } from "./chain.ts";

/**
 * Sets up a master key (gatekeeper = dev account 9) and returns a function that records agent
 * keys whose signing address is `signingKey`'s, certified as a worker would (see keyring.ts).
 */
export async function agentCertifier(t: TestChain) {
  const master = randomBytes(32);
  const cluster = privateKeyToAccount(
    bytesToHex(deriveClusterSigningKey(deriveClusterKey(master, "default", 1n))),
  );
  await t.as(0).addGatekeeper(t.accounts[9]!.address, hash32(0x11), "http://127.0.0.1:2");
  await t.as(9).publishMasterPublicKey(masterPublicKeyHex(master), masterSigningAccount(master).address);
  const clusterCert = await masterSigningAccount(master).signMessage({
    message: {
      raw: clusterCertDigest({
        chainId: t.config.chainId,
        gatekeeperRegistry: t.config.contracts.gatekeeperRegistry,
        epoch: 1n,
        clusterId: "default",
        clusterSigner: cluster.address,
      }),
    },
  });
  return async (id: bigint, signingKey: Hex): Promise<void> => {
    const signingAddress = privateKeyToAccount(signingKey).address;
    const encryptionKey = hash32(0x42);
    const agentCert = await cluster.signMessage({
      message: {
        raw: agentCertDigest({
          chainId: t.config.chainId,
          agentRegistry: t.config.contracts.agentRegistry,
          id,
          epoch: 1n,
          encryptionKey,
          signingAddress,
        }),
      },
    });
    await t.as(9).setAgentKeys(id, "default", {
      epoch: 1n,
      encryptionKey,
      signingAddress,
      clusterSigner: cluster.address,
      clusterCert,
      agentCert,
      wrappedRoot: "0x01",
    });
  };
}
