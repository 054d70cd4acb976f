import { keccak_256 } from "@noble/hashes/sha3.js";
import {
  concatBytes,
  hexToBytes as fromHex,
  bytesToHex as toHex,
  utf8ToBytes as utf8,
} from "@noble/hashes/utils.js";
import { VeilError } from "../errors/index.ts";

// Veil's signed messages as EIP-712 typed data (docs/adr/0021), so that a wallet asked to sign
// one shows its fields instead of 32 opaque bytes, and a contract checks it with the same
// definition: `contracts/VeilTypedData.sol` is generated from `VEIL_TYPES` below
// (`npm run contracts:types`; a test fails when it is stale).
//
// The digest is computed here rather than by viem's `hashTypedData`, which validates and
// encodes through its ABI coder and costs ~0.15 ms a message; every field of these structs is
// one 32-byte word (strings and bytes by their keccak), so the encoding is a concatenation.
// test/crypto/typed-data.test.ts holds the two to the same digest for random messages. Only
// @noble imports here: the SDK's browser bundle reaches this module (no Node built-ins).

/** The domain every Veil message is signed under: name, version, chain, and the contract it is for. */
export const VEIL_DOMAIN_NAME = "Veil";
export const VEIL_DOMAIN_VERSION = "1";

type Field = { readonly name: string; readonly type: FieldType };
type FieldType =
  | "address"
  | "bool"
  | "bytes"
  | "string"
  | "bytes16"
  | "bytes32"
  | "uint8"
  | "uint16"
  | "uint64"
  | "uint192"
  | "uint256";

/**
 * Every struct Veil signs, in viem's TypedData shape (what `signTypedData` and a wallet's
 * `eth_signTypedData_v4` take). Which contract names the domain is in `VEIL_TYPE_CONTRACT`.
 */
export const VEIL_TYPES = {
  /** A caller's signature over one request (crypto/caller.ts). */
  Call: [
    { name: "agentId", type: "uint256" },
    { name: "requestHash", type: "bytes32" },
    { name: "nonce", type: "bytes32" },
    { name: "timestamp", type: "uint64" },
  ],
  /**
   * What the agent's key signs for every answer with a nonce: the invocation (request and
   * response), the worker that served it and what it used there — one signature for the receipt
   * and the usage receipt (ADR 0021).
   */
  Receipt: [
    { name: "agentId", type: "uint256" },
    { name: "codeHash", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
    { name: "status", type: "uint16" },
    { name: "worker", type: "address" },
    { name: "epoch", type: "uint64" },
    { name: "nonce", type: "bytes32" },
    { name: "cpuUs", type: "uint64" },
    { name: "wallUs", type: "uint64" },
    { name: "heapBytes", type: "uint64" },
    { name: "egressBytes", type: "uint64" },
    { name: "stateBytes", type: "uint64" },
    { name: "llmPromptTokens", type: "uint64" },
    { name: "llmCompletionTokens", type: "uint64" },
    { name: "llmReceipts", type: "bytes32" },
  ],
  /** What a worker's key signs for one LLM call an agent made through ctx.llm. */
  LlmReceipt: [
    { name: "worker", type: "address" },
    { name: "agentId", type: "uint256" },
    { name: "provider", type: "string" },
    { name: "baseUrl", type: "string" },
    { name: "model", type: "string" },
    { name: "requestHash", type: "bytes32" },
    { name: "responseHash", type: "bytes32" },
    { name: "promptTokens", type: "uint64" },
    { name: "completionTokens", type: "uint64" },
    { name: "at", type: "uint64" },
  ],
  /** A payer's cumulative promise for one (payer, worker, agent) channel (FeeEscrow). */
  Voucher: [
    { name: "payer", type: "address" },
    { name: "worker", type: "address" },
    { name: "agentId", type: "uint256" },
    { name: "calls", type: "uint64" },
    { name: "amount", type: "uint192" },
  ],
  /** A worker's key consenting to be registered by its operator with these keys and evidence. */
  WorkerRegistration: [
    { name: "operator", type: "address" },
    { name: "worker", type: "address" },
    { name: "encryptionKey", type: "bytes32" },
    { name: "teeType", type: "uint8" },
    { name: "measurement", type: "bytes32" },
    { name: "evidenceHash", type: "bytes32" },
    { name: "confidence", type: "uint8" },
    { name: "endpoint", type: "string" },
  ],
  /** A worker asking a gatekeeper for the cluster key (or for its evidence to be verified). */
  ProvisionRequest: [
    { name: "worker", type: "address" },
    { name: "evidenceHash", type: "bytes32" },
    { name: "blockNumber", type: "uint256" },
    { name: "nonce", type: "bytes16" },
  ],
  /** A gatekeeper's answer: the cluster key sealed to that worker, for that request. */
  ProvisionResponse: [
    { name: "worker", type: "address" },
    { name: "requestNonce", type: "bytes16" },
    { name: "epoch", type: "uint64" },
    { name: "clusterId", type: "string" },
    { name: "sealedClusterKeyHash", type: "bytes32" },
    { name: "masterPublicKey", type: "bytes" },
  ],
  /** What a worker's key signs for a response, as the Slashing contract takes it. */
  WorkerReceipt: [
    { name: "worker", type: "address" },
    { name: "agentId", type: "uint256" },
    { name: "requestId", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
  ],
} as const satisfies Record<string, readonly Field[]>;

export type VeilTypeName = keyof typeof VEIL_TYPES;

/** The contract whose address is a message's `verifyingContract` (network.json's name for it). */
export const VEIL_TYPE_CONTRACT = {
  Call: "agentRegistry",
  Receipt: "agentRegistry",
  LlmReceipt: "workerRegistry",
  Voucher: "feeEscrow",
  WorkerRegistration: "workerRegistry",
  ProvisionRequest: "gatekeeperRegistry",
  ProvisionResponse: "gatekeeperRegistry",
  WorkerReceipt: "slashing",
} as const satisfies Record<VeilTypeName, string>;

type ValueOf<T extends FieldType> = T extends "address" | "bytes16" | "bytes32" | "bytes"
  ? `0x${string}`
  : T extends "bool"
    ? boolean
    : T extends "string"
      ? string
      : bigint | number | string;

/** A message of type `T`: every field, by name (numbers as bigint, safe integer or decimal string). */
export type VeilMessage<T extends VeilTypeName> = {
  [F in (typeof VEIL_TYPES)[T][number] as F["name"]]: ValueOf<F["type"]>;
};

/** The same message as a wallet's typed-data API takes it: numbers as bigint. */
export type WalletMessage<T extends VeilTypeName> = {
  [F in (typeof VEIL_TYPES)[T][number] as F["name"]]: ValueOf<F["type"]> extends infer V
    ? V extends string | number | bigint
      ? F["type"] extends `uint${string}`
        ? bigint
        : V
      : V
    : never;
};

export type VeilDomain = { chainId: number | bigint; verifyingContract: `0x${string}` };

/** `Name(type field,…)`: what the struct's type hash is the keccak of (no struct references here). */
export function encodeType(name: VeilTypeName): string {
  return `${name}(${VEIL_TYPES[name].map((f) => `${f.type} ${f.name}`).join(",")})`;
}

const DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
const typeHashes = new Map<string, Uint8Array>();
function typeHash(type: string): Uint8Array {
  let h = typeHashes.get(type);
  if (!h) {
    h = keccak_256(utf8(type));
    typeHashes.set(type, h);
  }
  return h;
}

const bad = (why: string) =>
  new VeilError("TYPED_DATA_INVALID", `The message cannot be signed as typed data: ${why}`, {
    hint: "Pass every field of the struct with a value of its type (see src/crypto/typed-data.ts).",
  });

function word(field: Field, value: unknown): Uint8Array {
  const out = new Uint8Array(32);
  switch (field.type) {
    case "address": {
      if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value))
        throw bad(`${field.name} is not an address`);
      out.set(fromHex(value.slice(2)), 12);
      return out;
    }
    case "bool":
      if (typeof value !== "boolean") throw bad(`${field.name} is not a boolean`);
      out[31] = value ? 1 : 0;
      return out;
    case "string":
      if (typeof value !== "string") throw bad(`${field.name} is not a string`);
      return keccak_256(utf8(value));
    case "bytes":
      if (typeof value !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(value))
        throw bad(`${field.name} is not hex bytes`);
      return keccak_256(fromHex(value.slice(2)));
    case "bytes16":
    case "bytes32": {
      const n = field.type === "bytes16" ? 16 : 32;
      if (typeof value !== "string" || value.length !== 2 + 2 * n || !/^0x[0-9a-fA-F]*$/.test(value))
        throw bad(`${field.name} is not ${n} bytes of hex`);
      out.set(fromHex(value.slice(2)), 0);
      return out;
    }
    default: {
      const bits = Number(field.type.slice(4));
      let n: bigint;
      if (typeof value === "bigint") n = value;
      else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
      else if (typeof value === "string" && /^\d{1,78}$/.test(value)) n = BigInt(value);
      else throw bad(`${field.name} is not a whole number`);
      if (n < 0n || n >> BigInt(bits) !== 0n) throw bad(`${field.name} does not fit in ${field.type}`);
      for (let i = 31; i >= 0 && n > 0n; i--) {
        out[i] = Number(n & 0xffn);
        n >>= 8n;
      }
      return out;
    }
  }
}

/** hashStruct(message) of EIP-712. */
export function hashStruct<T extends VeilTypeName>(name: T, message: VeilMessage<T>): Uint8Array {
  const fields: readonly Field[] = VEIL_TYPES[name];
  const values = message as Record<string, unknown>;
  const parts = [typeHash(encodeType(name))];
  for (const f of fields) parts.push(word(f, values[f.name]));
  return keccak_256(concatBytes(...parts));
}

const separators = new Map<string, Uint8Array>();
/** The domain separator; the same domain comes again and again, so it is remembered. */
function domainSeparator(domain: VeilDomain): Uint8Array {
  const key = `${domain.chainId}:${domain.verifyingContract.toLowerCase()}`;
  let s = separators.get(key);
  if (!s) {
    const chainId = typeof domain.chainId === "bigint" ? domain.chainId : BigInt(domain.chainId);
    s = keccak_256(
      concatBytes(
        typeHash(DOMAIN_TYPE),
        keccak_256(utf8(VEIL_DOMAIN_NAME)),
        keccak_256(utf8(VEIL_DOMAIN_VERSION)),
        word({ name: "chainId", type: "uint256" }, chainId),
        word({ name: "verifyingContract", type: "address" }, domain.verifyingContract),
      ),
    );
    if (separators.size > 256) separators.clear();
    separators.set(key, s);
  }
  return s;
}

/** The 32 bytes an EIP-712 signature of `message` signs: keccak(0x1901 ‖ domain ‖ hashStruct). */
export function typedDataDigest<T extends VeilTypeName>(
  domain: VeilDomain,
  name: T,
  message: VeilMessage<T>,
): Uint8Array {
  return keccak_256(
    concatBytes(Uint8Array.of(0x19, 0x01), domainSeparator(domain), hashStruct(name, message)),
  );
}

/** `typedDataDigest` as 0x-hex. */
export function typedDataDigestHex<T extends VeilTypeName>(
  domain: VeilDomain,
  name: T,
  message: VeilMessage<T>,
): `0x${string}` {
  return `0x${toHex(typedDataDigest(domain, name, message))}`;
}

/**
 * The whole typed-data request as a wallet takes it (`eth_signTypedData_v4`, viem's
 * `signTypedData`): a signature over it equals one over `typedDataDigest` of the same message.
 */
export function typedData<T extends VeilTypeName>(domain: VeilDomain, name: T, message: VeilMessage<T>) {
  return {
    domain: {
      name: VEIL_DOMAIN_NAME,
      version: VEIL_DOMAIN_VERSION,
      chainId: Number(domain.chainId),
      verifyingContract: domain.verifyingContract,
    },
    types: { [name]: VEIL_TYPES[name] } as { [K in T]: (typeof VEIL_TYPES)[K] },
    primaryType: name,
    message: Object.fromEntries(
      (VEIL_TYPES[name] as readonly Field[]).map((f) => {
        const v = (message as Record<string, unknown>)[f.name];
        return [f.name, f.type.startsWith("uint") ? BigInt(v as bigint | number | string) : v];
      }),
    ) as WalletMessage<T>,
  };
}
