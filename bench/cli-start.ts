// How long the `veil` command takes to start and answer, run from source through tsx (what it
// did before) and from its build in dist/cli (what `npm install` makes), alternating runs of each,
// on one network. Issue 21's target: `veil --version` under 300 ms.
//
//   node --import tsx bench/cli-start.ts [runs=10]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { up } from "../src/network/up.ts";
import { VeilClient } from "../src/sdk/client.ts";

const runs = Number(process.argv[2] ?? 10);
const root = join(import.meta.dirname, "..");
const bin = join(root, "bin", "veil.mjs");
spawnSync(process.execPath, [join(root, "scripts", "build-cli.mjs")], { stdio: "inherit" });
if (!existsSync(join(root, "dist", "cli", "main.mjs"))) throw new Error("no build in dist/cli");

const work = mkdtempSync(join(tmpdir(), "veil-bench-cli-"));
const net = await up({
  dir: join(work, ".veil"),
  workers: 1,
  gateway: "worker",
  basePort: 0,
  host: "127.0.0.1",
  onProgress: () => {},
});
const agentDir = join(work, "hello");
mkdirSync(join(agentDir, "src"), { recursive: true });
writeFileSync(
  join(agentDir, "src", "index.ts"),
  `export default { fetch() { return new Response("hi"); } };`,
);
const user = net.network.devAccounts!.accounts.find((a) => a.role === "user")!;
await new VeilClient(net.network, { privateKey: user.privateKey }).deploy(agentDir, "hello");

const env = (fromSource: boolean) => ({
  ...process.env,
  VEIL_NETWORK: net.path,
  ...(fromSource ? { VEIL_CLI_FROM_SOURCE: "1" } : {}),
});
function time(args: string[], fromSource: boolean): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { env: env(fromSource), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`veil ${args.join(" ")}: ${r.stderr}`);
  return performance.now() - t;
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const commands: [string, string[]][] = [
  ["veil --version", ["--version"]],
  ["veil invoke --help", ["invoke", "--help"]],
  ["veil inspect hello", ["inspect", "hello"]],
  ["veil invoke hello", ["invoke", "hello"]],
];
console.log(`CLI start and answer, p50 of ${runs} runs each, alternating (ms)`);
console.log(`${"command".padEnd(22)} ${"tsx (before)".padStart(13)} ${"dist (after)".padStart(13)}  ratio`);
for (const [label, args] of commands) {
  time(args, true);
  time(args, false);
  const tsx: number[] = [];
  const dist: number[] = [];
  for (let i = 0; i < runs; i++) {
    tsx.push(time(args, true));
    dist.push(time(args, false));
  }
  const [a, b] = [p50(tsx), p50(dist)];
  console.log(
    `${label.padEnd(22)} ${a.toFixed(0).padStart(13)} ${b.toFixed(0).padStart(13)}  ${(b / a).toFixed(2)}×`,
  );
}
await net.stop();
