import { x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, type Hex, hexToBytes } from "viem";
import { type VeilChain, WorkerStatus } from "../chain/index.ts";
import { openLogBatch } from "../crypto/agent-envelopes.ts";
import { deriveOwnerLogKey } from "../crypto/kdf.ts";
import { VeilError } from "../errors/index.ts";

// An agent's logs: batches of its console lines, sealed by the workers to the owner's log key
// (X25519, derived from the owner's account key; its public half is on chain) and fetched from
// every active worker as ciphertext. Opened here, in Node (`veil logs`) or in a browser (the web
// console, with the log key the owner pastes: `veil logs NAME --print-key`). Browser-safe:
// viem, @noble and web APIs only.

export type AgentLogLine = { at: number; level: string; message: string; worker: string };

/** Where reading left off, per worker endpoint: pass it back to get only what is new. */
export type LogCursor = Record<string, number>;

/**
 * The owner's log key (X25519 public, hex) for an account key: what `veil deploy` puts on chain.
 *
 * @example
 * ```ts
 * const onChain = ownerLogPublicKey(process.env.OWNER_KEY as Hex); // 0x…
 * ```
 */
export function ownerLogPublicKey(accountKey: Hex): Hex {
  return bytesToHex(deriveOwnerLogKey(hexToBytes(accountKey)).publicKey);
}

/**
 * The owner's log key (X25519 private, hex) for an account key: it opens the agent's logs and
 * nothing else (it signs no transaction), so it is what the owner gives the web console.
 *
 * @example
 * ```ts
 * const logKey = ownerLogPrivateKey(process.env.OWNER_KEY as Hex);
 * ```
 */
export function ownerLogPrivateKey(accountKey: Hex): Hex {
  return bytesToHex(deriveOwnerLogKey(hexToBytes(accountKey)).privateKey);
}

function base64Bytes(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The owner's log key for agent `id` (X25519 private, hex), once `chain`'s account is its owner
 * (`LOGS_NOT_OWNER` otherwise): what `veil logs NAME --print-key` prints for the web console.
 *
 * @example
 * ```ts
 * const logKey = await agentLogKey(ownerChain, ownerKey, 7n);
 * ```
 */
export async function agentLogKey(chain: VeilChain, accountKey: Hex | undefined, id: bigint): Promise<Hex> {
  const agent = await chain.getAgent(id);
  if (!accountKey || chain.account?.toLowerCase() !== agent.owner.toLowerCase()) {
    throw new VeilError(
      "LOGS_NOT_OWNER",
      `Only the owner of agent ${agent.name} (${agent.owner}) can read its logs`,
      {
        status: 403,
        hint: "Logs are sealed to the owner's key: pass the owner's --private-key.",
      },
    );
  }
  return ownerLogPrivateKey(accountKey);
}

/**
 * Reads an agent's logs from every active worker and opens them with the owner's account key.
 * Only ciphertext crosses the network; a caller who is not the owner is refused before anything
 * is fetched, and could not open a batch anyway.
 *
 * @example
 * ```ts
 * const { lines, cursor } = await readAgentLogs(ownerChain, ownerKey, 7n);
 * const next = await readAgentLogs(ownerChain, ownerKey, 7n, cursor); // only what is new
 * ```
 */
export async function readAgentLogs(
  chain: VeilChain,
  accountKey: Hex | undefined,
  id: bigint,
  cursor: LogCursor = {},
): Promise<{ lines: AgentLogLine[]; cursor: LogCursor }> {
  return openAgentLogs(chain, id, await agentLogKey(chain, accountKey, id), cursor);
}

/**
 * Reads an agent's logs from every active worker and opens them with the owner's log key (not
 * the account key: `ownerLogPrivateKey`, `veil logs NAME --print-key`). A key whose public half
 * is not the one on chain is refused (`LOGS_KEY_MISMATCH`) before anything is fetched.
 *
 * @example
 * ```ts
 * const { lines } = await openAgentLogs(connected.chain, 7n, pastedLogKey);
 * for (const l of lines) console.log(new Date(l.at).toISOString(), l.level, l.message);
 * ```
 */
export async function openAgentLogs(
  chain: VeilChain,
  id: bigint,
  logKey: Hex,
  cursor: LogCursor = {},
): Promise<{ lines: AgentLogLine[]; cursor: LogCursor }> {
  if (!/^0x[0-9a-fA-F]{64}$/.test(logKey)) {
    throw new VeilError("LOGS_KEY_INVALID", "A log key is 32 bytes of hex (0x and 64 digits)", {
      hint: "Print the owner's log key with `veil logs NAME --print-key`.",
    });
  }
  const privateKey = hexToBytes(logKey);
  const [agent, onChain] = await Promise.all([chain.getAgent(id), chain.getLogKey(id)]);
  if (/^0x0*$/.test(onChain)) {
    throw new VeilError("LOGS_KEY_NOT_SET", `Agent ${agent.name} has no log key on chain`, {
      hint: "Deploy it again with `veil deploy` (which sets the log key); logs are kept from then on.",
    });
  }
  if (onChain.toLowerCase() !== bytesToHex(x25519.getPublicKey(privateKey)).toLowerCase()) {
    throw new VeilError(
      "LOGS_KEY_MISMATCH",
      `This key does not open the logs of ${agent.name}: its log key on chain is another`,
      {
        status: 403,
        hint: "Use the owner's log key: `veil logs NAME --print-key`, run as the owner.",
      },
    );
  }
  const workers = (await chain.listWorkers()).filter((w) => w.status === WorkerStatus.Active);
  const next: LogCursor = { ...cursor };
  const seen = new Set<string>();
  const lines: AgentLogLine[] = [];
  await Promise.all(
    workers.map(async (w) => {
      const base = w.endpoint.replace(/\/$/, "");
      let body: { entries?: { seq: number; worker: string; sealed: string }[] };
      try {
        const res = await fetch(`${base}/v1/agents/${id}/logs?after=${cursor[base] ?? 0}&limit=1000`, {
          signal: AbortSignal.timeout(3_000),
        });
        if (!res.ok) return;
        body = (await res.json()) as typeof body;
      } catch {
        return; // a worker that is down has nothing to add now; the others may share its store
      }
      for (const e of body.entries ?? []) {
        next[base] = Math.max(next[base] ?? 0, e.seq);
        const sealed = base64Bytes(e.sealed);
        // Workers of one machine share a store: the same batch can come from each of them.
        const digest = bytesToHex(sha256(sealed));
        if (seen.has(digest)) continue;
        seen.add(digest);
        let batch: { at: number; level: string; message: string }[];
        try {
          batch = JSON.parse(new TextDecoder().decode(openLogBatch(privateKey, id, sealed)));
        } catch {
          continue; // sealed to an earlier log key, or altered: not ours to read
        }
        for (const l of batch) lines.push({ ...l, worker: e.worker });
      }
    }),
  );
  lines.sort((a, b) => a.at - b.at);
  return { lines, cursor: next };
}
