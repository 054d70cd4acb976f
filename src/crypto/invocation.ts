import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, toHex, utf8 } from "./bytes.ts";
import { open, seal } from "./envelope.ts";
import { nodeCrypto } from "./platform.ts";

// End-to-end encrypted invocations: the request is sealed to the agent's X25519 key, the
// response to a fresh key of the caller's. Gateways and worker hosts see only ciphertext; only
// the agent's sandbox (through its worker's TEE) opens the request.

/** The hash a receipt names as the input: method, path with query, and body; not headers. */
export function requestHash(method: string, pathAndQuery: string, body: Uint8Array | null): `0x${string}` {
  const head = utf8(`${method.toUpperCase()}\n${pathAndQuery}\n`);
  if (!nodeCrypto)
    return `0x${toHex(
      sha256
        .create()
        .update(head)
        .update(body ?? new Uint8Array(0))
        .digest(),
    )}`;
  const h = nodeCrypto.createHash("sha256").update(head);
  if (body) h.update(body);
  return `0x${h.digest("hex")}`;
}

export function responseHash(body: Uint8Array): `0x${string}` {
  if (!nodeCrypto) return `0x${toHex(sha256(body))}`;
  return `0x${nodeCrypto.createHash("sha256").update(body).digest("hex")}`;
}

export type SealedRequestBody = {
  method: string;
  path: string;
  headers: [string, string][];
  body: string; // base64
  /** The caller's fresh X25519 public key (hex): the response is sealed to it. */
  replyTo: string;
  nonce: `0x${string}`;
  /**
   * Unix seconds when the caller made the request: workers run it only within a few minutes of
   * their clock, and its nonce only once across the agent's workers (docs/adr/0020).
   */
  timestamp: number;
  /**
   * The caller reads a sealed stream (sealed-stream.ts): a streamed answer may come piece by
   * piece; without it, the answer is one sealed envelope.
   */
  stream?: boolean;
  /** Who calls, signed over this request (caller.ts); needed by agents that are not public. */
  caller?: { address: `0x${string}`; signature: `0x${string}`; timestamp: number };
};

export function sealRequest(agentKey: Uint8Array, agentId: bigint, request: SealedRequestBody): Uint8Array {
  return seal(agentKey, utf8(JSON.stringify(request)), { label: "request", aad: utf8(`request|${agentId}`) });
}

export function openRequest(
  agentPrivateKey: Uint8Array,
  agentId: bigint,
  envelope: Uint8Array,
): SealedRequestBody {
  const bytes = open(agentPrivateKey, envelope, { label: "request", aad: utf8(`request|${agentId}`) });
  return JSON.parse(new TextDecoder().decode(bytes)) as SealedRequestBody;
}

export function sealResponse(
  replyTo: Uint8Array,
  agentId: bigint,
  nonce: string,
  response: unknown,
): Uint8Array {
  return seal(replyTo, utf8(JSON.stringify(response)), {
    label: "response",
    aad: concatBytes(utf8(`response|${agentId}|${nonce}`)),
  });
}

export function openResponse(
  privateKey: Uint8Array,
  agentId: bigint,
  nonce: string,
  envelope: Uint8Array,
): unknown {
  const bytes = open(privateKey, envelope, { label: "response", aad: utf8(`response|${agentId}|${nonce}`) });
  return JSON.parse(new TextDecoder().decode(bytes));
}
