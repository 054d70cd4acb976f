import { encodeAbiParameters, type Hex, keccak256, toBytes } from "viem";

/**
 * The digests of Veil's key certificates, computed exactly as AgentKeys.sol computes them, so a
 * certificate made off chain verifies on chain. Signatures over them are EIP-191 (personal
 * message) signatures of the 32-byte digest.
 */
export function clusterCertDigest(args: {
  chainId: number;
  gatekeeperRegistry: Hex;
  epoch: bigint;
  clusterId: string;
  clusterSigner: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint64" },
        { type: "bytes32" },
        { type: "address" },
      ],
      [
        "veil.cluster-cert.v1",
        BigInt(args.chainId),
        args.gatekeeperRegistry,
        args.epoch,
        keccak256(toBytes(args.clusterId)),
        args.clusterSigner,
      ],
    ),
  );
}

export function agentCertDigest(args: {
  chainId: number;
  agentRegistry: Hex;
  id: bigint;
  epoch: bigint;
  encryptionKey: Hex;
  signingAddress: Hex;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "uint64" },
        { type: "bytes32" },
        { type: "address" },
      ],
      [
        "veil.agent-cert.v1",
        BigInt(args.chainId),
        args.agentRegistry,
        args.id,
        args.epoch,
        args.encryptionKey,
        args.signingAddress,
      ],
    ),
  );
}

/**
 * The receipt an agent signs for every response: which agent, which code, what came in, what
 * went out, on which worker, in which key epoch, for which nonce. Signed (EIP-191) by the
 * agent's own certified key, so a caller checks it up to the master key on chain.
 */
export type Receipt = {
  agentId: string;
  codeHash: Hex;
  inputHash: Hex;
  outputHash: Hex;
  status: number;
  worker: Hex;
  epoch: string;
  nonce: Hex;
  signature: Hex;
};

export function receiptDigest(
  args: { chainId: number; agentRegistry: Hex } & Omit<Receipt, "signature">,
): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "uint16" },
        { type: "address" },
        { type: "uint64" },
        { type: "bytes32" },
      ],
      [
        "veil.receipt.v1",
        BigInt(args.chainId),
        args.agentRegistry,
        BigInt(args.agentId),
        args.codeHash,
        args.inputHash,
        args.outputHash,
        args.status,
        args.worker,
        BigInt(args.epoch),
        args.nonce,
      ],
    ),
  );
}
