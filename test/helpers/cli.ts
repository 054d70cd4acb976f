import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const veilBin = join(repoRoot, "bin", "veil.mjs");

export type CliResult = { code: number; stdout: string; stderr: string; ms: number };

/** Runs `veil ARGS` as a user would, in its own process. */
export function veil(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [veilBin, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("exit", (code) => resolvePromise({ code: code ?? 1, stdout, stderr, ms: Date.now() - started }));
  });
}

/** Starts `veil up` in the background and resolves once network.json names a gateway. */
export async function startNetwork(
  dir: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [veilBin, "up", "--dir", dir, "--base-port", "0", ...extra], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`veil up exited early:\n${output}`);
    if (/Veil network is (up|resumed)/.test(output)) return { child, output: () => output };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`veil up did not come up in time:\n${output}`);
}

export async function stopNetwork(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await new Promise((r) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      r(undefined);
    }, 10_000);
    child.once("exit", () => {
      clearTimeout(t);
      r(undefined);
    });
  });
}

export function readNetwork(dir: string): {
  gateway: { url: string };
  workers: { address: string; url: string; pid: number }[];
  devAccounts: { accounts: { role: string; privateKey: string }[] };
} {
  const path = join(dir, "network.json");
  if (!existsSync(path)) throw new Error(`no ${path}`);
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Writes an agent project at `dir` that counts its calls in ctx.state and answers { n }. */
export function writeCounterAgent(dir: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "src", "index.ts"),
    "export default { async fetch(_r: Request, _e: unknown, ctx: { state: { get(k: string): Promise<unknown>; put(k: string, v: unknown): Promise<void> } }) { const n = ((await ctx.state.get('n')) as number | undefined ?? 0) + 1; await ctx.state.put('n', n); return Response.json({ n }); } };\n",
  );
}

/**
 * Writes an agent project at `dir` that counts its calls with ctx.state.transaction (so calls
 * on several workers at once lose none) and answers { n }; `/count` reads the count.
 */
export function writeTransactionalCounterAgent(dir: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "src", "index.ts"),
    `type Tx = { get(k: string): Promise<unknown>; put(k: string, v: unknown): void };
type State = { get(k: string): Promise<unknown>; transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> };
export default {
  async fetch(request: Request, _env: unknown, ctx: { state: State }) {
    if (new URL(request.url).pathname === "/count") return Response.json({ n: (await ctx.state.get("n")) ?? 0 });
    const n = await ctx.state.transaction(async (tx) => {
      const n = (((await tx.get("n")) as number | undefined) ?? 0) + 1;
      tx.put("n", n);
      return n;
    });
    return Response.json({ n });
  },
};
`,
  );
}
