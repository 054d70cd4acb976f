import { createHash } from "node:crypto";
import { bytesToHex, type Hex, hexToBytes } from "viem";
import { type VeilChain, WorkerStatus } from "../chain/index.ts";
import { deriveOwnerLogKey, openLogBatch } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";

export type AgentLogLine = { at: number; level: string; message: string; worker: string };

/** Where reading left off, per worker endpoint: pass it back to get only what is new. */
export type LogCursor = Record<string, number>;

/** The owner's log key (X25519 public, hex) for an account key: what `veil deploy` puts on chain. */
export function ownerLogPublicKey(accountKey: Hex): Hex {
  return bytesToHex(deriveOwnerLogKey(hexToBytes(accountKey)).publicKey);
}

/**
 * Reads an agent's logs from every active worker and opens them with the owner's key. Only
 * ciphertext crosses the network; a caller who is not the owner is refused before anything is
 * fetched, and could not open a batch anyway.
 */
export async function readAgentLogs(
  chain: VeilChain,
  accountKey: Hex | undefined,
  id: bigint,
  cursor: LogCursor = {},
): Promise<{ lines: AgentLogLine[]; cursor: LogCursor }> {
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
  const key = deriveOwnerLogKey(hexToBytes(accountKey));
  const onChain = await chain.getLogKey(id);
  if (onChain.toLowerCase() !== bytesToHex(key.publicKey).toLowerCase()) {
    throw new VeilError("LOGS_KEY_NOT_SET", `Agent ${agent.name} has no log key of yours on chain`, {
      hint: "Deploy it again with `veil deploy` (which sets the log key); logs are kept from then on.",
    });
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
        const sealed = Buffer.from(e.sealed, "base64");
        // Workers of one machine share a store: the same batch can come from each of them.
        const digest = createHash("sha256").update(sealed).digest("hex");
        if (seen.has(digest)) continue;
        seen.add(digest);
        let batch: { at: number; level: string; message: string }[];
        try {
          batch = JSON.parse(new TextDecoder().decode(openLogBatch(key.privateKey, id, sealed)));
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
