import { concat, encodeAbiParameters, type Hex, keccak256, toBytes } from "viem";
import { typedDataDigestHex } from "../crypto/typed-data.ts";

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
 * The receipt an agent signs for every response with a nonce (EIP-712 `Receipt`, see
 * src/crypto/typed-data.ts): which agent and code, what came in and went out, on which worker,
 * in which key epoch, for which nonce — and what the invocation used there, metered by that
 * worker, with the LLM call receipts it made. One signature, by the agent's own certified key, so
 * a caller checks it up to the master key on chain, and the worker it names must have standing
 * (ADR 0021: this replaced a second, worker-signed usage receipt).
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
  cpuUs: number;
  wallUs: number;
  heapBytes: number;
  egressBytes: number;
  stateBytes: number;
  /** Tokens of the agent's LLM calls for this invocation (each call also has its own receipt). */
  llmPromptTokens: number;
  llmCompletionTokens: number;
  /**
   * The LLM call receipts this invocation produced, by `llmReceiptsHash`: they belong to this
   * invocation and worker, and no other call's can be attached in their place (ADR 0020).
   */
  llmReceipts: Hex;
  signature: Hex;
};

/** What a receipt says the invocation used (the part a fee claim or a dispute starts from). */
export type ReceiptUsage = Pick<
  Receipt,
  | "cpuUs"
  | "wallUs"
  | "heapBytes"
  | "egressBytes"
  | "stateBytes"
  | "llmPromptTokens"
  | "llmCompletionTokens"
  | "worker"
  | "llmReceipts"
>;

export function receiptDigest(
  args: { chainId: number; agentRegistry: Hex } & Omit<Receipt, "signature">,
): Hex {
  const { chainId, agentRegistry, ...message } = args;
  return typedDataDigestHex({ chainId, verifyingContract: agentRegistry }, "Receipt", message);
}

/**
 * Names an invocation's LLM call receipts, in order: keccak256 over their signatures (each
 * signature covers the whole receipt); the zero hash when there are none.
 */
export function llmReceiptsHash(receipts: readonly { signature: Hex }[]): Hex {
  if (receipts.length === 0) return `0x${"00".repeat(32)}`;
  return keccak256(concat(receipts.map((r) => r.signature)));
}

/**
 * What a worker signs for one LLM call an agent made through ctx.llm (EIP-712 `LlmReceipt`): who
 * asked (the agent), whom (provider name and base URL), which model, and the exact bytes sent and
 * received (by hash), with the tokens the provider reported. Signed by the worker's identity key.
 */
export type LlmCallReceipt = {
  agentId: string;
  provider: string;
  baseUrl: string;
  model: string;
  requestHash: Hex;
  responseHash: Hex;
  promptTokens: number;
  completionTokens: number;
  at: number;
  worker: Hex;
  signature: Hex;
};

export function llmReceiptDigest(
  args: { chainId: number; workerRegistry: Hex } & Omit<LlmCallReceipt, "signature">,
): Hex {
  const { chainId, workerRegistry, ...message } = args;
  return typedDataDigestHex({ chainId, verifyingContract: workerRegistry }, "LlmReceipt", message);
}

/** What a cluster signer signs to re-seal an agent's secret (AgentKeys.secretResealDigest). */
export function secretResealDigest(args: {
  chainId: number;
  agentKeys: Hex;
  id: bigint;
  name: string;
  previousHash: Hex;
  ciphertext: Hex;
}): Hex {
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
      ],
      [
        "veil.secret-reseal.v1",
        BigInt(args.chainId),
        args.agentKeys,
        args.id,
        keccak256(toBytes(args.name)),
        args.previousHash,
        keccak256(args.ciphertext),
      ],
    ),
  );
}
