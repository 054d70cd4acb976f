import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VeilClient } from "../../src/sdk/client.ts";
import { readNetwork, repoRoot, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// One real network (`veil up`, one worker) per test file, and the agent projects of
// test/compat/fixtures deployed into it with `veil deploy`, as their authors would.

export const fixture = (name: string): string => join(repoRoot, "test", "compat", "fixtures", name);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

export type CompatNetwork = {
  dir: string;
  client: VeilClient;
  network: ReturnType<typeof readNetwork> & { chain: { rpcUrl: string; economy?: { token: `0x${string}` } } };
  /** `veil deploy` of test/compat/fixtures/<name>, with its egress hosts. */
  deploy(name: string, egress?: string[]): Promise<void>;
  /** Invokes an agent with a JSON body (or none), its receipt verified. */
  call(name: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }>;
  stop(): Promise<void>;
};

/** Starts the network; `allowPrivateEgress` is what its operator lets agents reach on loopback. */
export async function startCompatNetwork(allowPrivateEgress: string[]): Promise<CompatNetwork> {
  const work = mkdtempSync(join(tmpdir(), "veil-compat-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const started = await startNetwork(dir, [
    "--workers",
    "1",
    ...allowPrivateEgress.flatMap((h) => ["--allow-private-egress", h]),
  ]);
  const network = readNetwork(dir) as CompatNetwork["network"];
  const client = new VeilClient(network as unknown as ConstructorParameters<typeof VeilClient>[0]);
  return {
    dir,
    client,
    network,
    async deploy(name, egress = []) {
      // Generous limits: the first call compiles a bundle of up to ~1.7 MB on a loaded machine.
      const args = ["deploy", fixture(name), "--name", name, "--cpu-ms", "10000", "--wall-ms", "60000"];
      if (egress.length) args.push("--egress", egress.join(","));
      const d = await veil(args, { env });
      assert.equal(d.code, 0, `veil deploy ${name}:\n${d.stderr}`);
    },
    async call(name, path, body) {
      const r = await client.invoke(name, {
        path,
        method: "POST",
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      });
      const t = text(r.body);
      let json: unknown;
      try {
        json = JSON.parse(t);
      } catch {
        json = undefined;
      }
      return { status: r.status, json, text: t };
    },
    async stop() {
      await stopNetwork(started.child);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
