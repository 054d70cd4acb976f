// Digests computed here exactly as the contracts compute them.
import { encodeAbiParameters, type Hex, keccak256 } from "viem";
import { typedDataDigestHex } from "../../crypto/typed-data.ts";

/**
 * Rewards.heartbeatDigest: what a worker's key signs (EIP-191) to answer a challenge.
 *
 * @example
 * const digest = heartbeatDigest({ chainId, rewards, worker, session: 1n, challengeBlock: 42n, performance: 100n });
 * const signature = await workerAccount.signMessage({ message: { raw: digest } });
 */
export function heartbeatDigest(args: {
  chainId: number;
  rewards: Hex;
  worker: Hex;
  session: bigint;
  challengeBlock: bigint;
  performance: bigint;
}): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "address" },
        { type: "uint64" },
        { type: "uint64" },
        { type: "uint64" },
      ],
      [
        "veil.heartbeat.v1",
        BigInt(args.chainId),
        args.rewards,
        args.worker,
        args.session,
        args.challengeBlock,
        args.performance,
      ],
    ),
  );
}

/**
 * FeeEscrow.voucherDigest: the EIP-712 digest of the `Voucher` a payer (or its signer) signs.
 *
 * @example
 * const digest = voucherDigest({ chainId, feeEscrow, payer, worker, agentId: 1n, calls: 3n, amount: 30n });
 */
export function voucherDigest(args: {
  chainId: number;
  feeEscrow: Hex;
  payer: Hex;
  worker: Hex;
  agentId: bigint;
  calls: bigint;
  amount: bigint;
}): Hex {
  return typedDataDigestHex({ chainId: args.chainId, verifyingContract: args.feeEscrow }, "Voucher", {
    payer: args.payer,
    worker: args.worker,
    agentId: args.agentId,
    calls: args.calls,
    amount: args.amount,
  });
}

/**
 * Slashing.receiptDigest: the EIP-712 digest of the `WorkerReceipt` a worker's key signs.
 *
 * @example
 * const digest = workerReceiptDigest({ chainId, slashing, worker, agentId: 1n, requestId, inputHash, outputHash });
 */
export function workerReceiptDigest(args: {
  chainId: number;
  slashing: Hex;
  worker: Hex;
  agentId: bigint;
  requestId: Hex;
  inputHash: Hex;
  outputHash: Hex;
}): Hex {
  return typedDataDigestHex({ chainId: args.chainId, verifyingContract: args.slashing }, "WorkerReceipt", {
    worker: args.worker,
    agentId: args.agentId,
    requestId: args.requestId,
    inputHash: args.inputHash,
    outputHash: args.outputHash,
  });
}

/**
 * Whether `blockHash` challenges `worker` under `target` (Rewards.isChallenged, off chain).
 *
 * @example
 * const block = await publicClient.getBlock();
 * if (challenges(worker, block.hash, target)) await rewards.heartbeat({ worker, challengeBlock: block.number, performance });
 */
export function challenges(worker: Hex, blockHash: Hex, target: bigint): boolean {
  const h = BigInt(keccak256(worker));
  return (h ^ BigInt(blockHash)) <= target;
}
