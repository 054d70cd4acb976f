import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkFile } from "../../network/config.ts";
import type { VeilClient } from "../../sdk/client.ts";
import { isPrivateAddress } from "../../sdk/egress.ts";
import type { Probe } from "./types.ts";

// The audit's own agent. The attacks that go through an agent (replay, forged headers, private
// egress, price, triggers) need one the attacker owns; deploying a fresh one under a random name
// touches nobody else's agent and leaves nothing shared in a state the audit changed.

/** What the probe's /forge route answers with: headers only the platform may set. */
export const FORGED = {
  receipt: "forged-by-the-agent",
  llmReceipts: "forged-by-the-agent",
  worker: "0x000000000000000000000000000000000000dEaD",
} as const;

/**
 * `/forge`: answers with the platform's receipt and worker headers of its own making.
 * `/egress`: fetches each URL of the JSON body, 3 s each, and says what happened.
 * Anything else: counts its calls in ctx.state, so a replayed request that ran shows.
 */
const SOURCE = `
type State = { get(k: string): Promise<unknown>; put(k: string, v: unknown): Promise<void> };
export default {
  async fetch(request: Request, _env: unknown, ctx: { state: State }) {
    const path = new URL(request.url).pathname;
    if (path === "/forge") {
      return new Response("answered with forged platform headers", {
        headers: {
          "x-veil-receipt": ${JSON.stringify(FORGED.receipt)},
          "x-veil-llm-receipts": ${JSON.stringify(FORGED.llmReceipts)},
          "x-veil-worker": ${JSON.stringify(FORGED.worker)},
        },
      });
    }
    if (path === "/egress") {
      const targets = (await request.json()) as string[];
      const out: { target: string; reached: boolean; status?: number; code?: string; message?: string }[] = [];
      for (const target of targets) {
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), 3000);
        try {
          const res = await fetch(target, { signal: abort.signal });
          out.push({ target, reached: true, status: res.status });
        } catch (e) {
          const err = e as { code?: string; message?: string };
          out.push({ target, reached: false, code: abort.signal.aborted ? "ABORTED_AFTER_3S" : (err.code ?? "ERROR"), message: String(err.message) });
        } finally {
          clearTimeout(timer);
        }
      }
      return Response.json(out);
    }
    const n = (((await ctx.state.get("n")) as number | undefined) ?? 0) + 1;
    await ctx.state.put("n", n);
    return Response.json({ n });
  },
};
`;

/**
 * The network's gatekeepers where they listen on a loopback or private address (as on one
 * machine: a public gatekeeper is every agent's to reach), and the cloud metadata address.
 */
export function privateTargets(network: NetworkFile): { egressHosts: string[]; urls: string[] } {
  const hosts = new Map<string, string>();
  for (const g of network.gatekeepers.slice(0, 2)) {
    const url = new URL(g.url);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (host !== "localhost" && !(isIP(host) !== 0 && isPrivateAddress(host))) continue;
    // Egress lists name hosts without brackets (the sandbox matches `::1:PORT`, not `[::1]:PORT`).
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    hosts.set(`${host}:${port}`, `${url.protocol}//${url.host}/v1/health`);
  }
  hosts.set("169.254.169.254", "http://169.254.169.254/latest/meta-data/");
  return { egressHosts: [...hosts.keys()], urls: [...hosts.values()] };
}

/** A name nobody else uses: the probe is the audit's own. */
export function probeName(): string {
  return `veil-audit-${randomBytes(4).toString("hex")}`;
}

/**
 * Deploys the probe under `name` (public, free), with an egress list naming the
 * private targets, and waits until every worker of the network that takes it serves it.
 */
export async function deployProbe(
  client: VeilClient,
  name: string,
  progress: (m: string) => void,
  timeoutMs = 60_000,
): Promise<Probe> {
  const dir = mkdtempSync(join(tmpdir(), "veil-audit-"));
  try {
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "index.ts"), SOURCE);
    const targets = privateTargets(client.network);
    progress(`deploying the probe agent ${name} (egress list: ${targets.egressHosts.join(", ")})…`);
    const deployed = await client.deploy(dir, name, {
      timeoutMs,
      limits: { egressHosts: targets.egressHosts.join(",") },
    });
    // A replay needs a second worker that serves it: wait a little for the others to load it.
    const want = Math.min(2, client.network.workers.length);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const info = await client.inspect(name);
      const ready = info.workers.filter((w) => w.status === "ready" && w.codeHash === deployed.codeHash);
      if (ready.length >= want) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    return { name, id: deployed.id, egressTargets: targets.urls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
