import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot, veilBin } from "../helpers/cli.ts";

// Issue 21: every command a user is shown works as shown. Each ```sh block of the README (and of
// the examples' READMEs) runs in order, exactly as written, against a fresh network started the
// way `npm start` starts it, from a directory laid out like a checkout: `npx veil` finds the
// veil command there, `../shared` is beside it, and the network takes its default ports.
//
// A block preceded by `<!-- not run: REASON -->` is skipped (and must give a reason). A command
// fails the test on a non-zero exit or an `error` line on stderr. `# → TEXT` after a command (on
// its line, or on the next line) is text its output must contain. Runnable blocks may hold no
// placeholders (`…`, `<NAME>`).

type Command = { line: number; text: string; expect: string[] };
type Block = { file: string; line: number; commands: Command[]; skip?: string };

const NOT_RUN = /^<!--\s*not run:\s*(.*?)\s*-->$/;

/** The ```sh blocks of a markdown file, their commands and what their output must contain. */
export function shellBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let lastText = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!/^```sh\s*$/.test(line)) {
      if (line.trim()) lastText = line.trim();
      if (/^```/.test(line)) {
        // Another language's block: skip to its end.
        while (i + 1 < lines.length && !/^```\s*$/.test(lines[++i]!)) {}
      }
      continue;
    }
    const skip = NOT_RUN.exec(lastText)?.[1];
    const block: Block = { file, line: i + 1, commands: [], ...(skip !== undefined ? { skip } : {}) };
    let pending = "";
    let pendingLine = 0;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) {
      const raw = lines[i]!;
      const whole = /^\s*#\s?(.*)$/.exec(raw);
      if (whole && !pending) {
        const expected = /^→\s*(.*)$/.exec(whole[1]!.trim());
        const last = block.commands.at(-1);
        if (expected && last) last.expect.push(expected[1]!);
        continue;
      }
      if (!raw.trim()) continue;
      if (!pending) pendingLine = i + 1;
      if (raw.endsWith("\\")) {
        pending += `${raw.slice(0, -1)} `;
        continue;
      }
      const full = pending + raw;
      pending = "";
      const inline = /\s#\s→\s(.*)$/.exec(full);
      block.commands.push({ line: pendingLine, text: full, expect: inline ? [inline[1]!.trim()] : [] });
    }
    blocks.push(block);
    lastText = "";
  }
  return blocks;
}

type Ran = { code: number; stdout: string; stderr: string };

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-o", "pipefail", "-c", command], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n(the test stopped it after ${timeoutMs / 1000} s)`;
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

const readmes = [
  "README.md",
  ...readdirSync(join(repoRoot, "examples")).map((e) => join("examples", e, "README.md")),
  ...readdirSync(join(repoRoot, "src")).map((c) => join("src", c, "README.md")),
].filter((f) => {
  try {
    readFileSync(join(repoRoot, f));
    return true;
  } catch {
    return false;
  }
});
const blocks = readmes.flatMap((f) => shellBlocks(f, readFileSync(join(repoRoot, f), "utf8")));

test("the README parser finds blocks, commands, continuations, expectations and reasons", () => {
  const parsed = shellBlocks(
    "x.md",
    [
      "<!-- not run: serves forever -->",
      "",
      "```sh",
      "npx veil dev .",
      "```",
      "```ts",
      "const a = 1; // ```sh inside another block is not a block",
      "```",
      "```sh",
      "npx veil invoke a \\",
      "  --data '{}'   # → {\"ok\":true}",
      "# a comment",
      "npx veil b",
      "# → second",
      "```",
    ].join("\n"),
  );
  assert.equal(parsed.length, 2);
  assert.equal(parsed[0]!.skip, "serves forever");
  assert.equal(parsed[1]!.skip, undefined);
  assert.deepEqual(
    parsed[1]!.commands.map((c) => [c.line, c.expect]),
    [
      [10, ['{"ok":true}']],
      [13, ["second"]],
    ],
  );
  assert.match(parsed[1]!.commands[0]!.text, /^npx veil invoke a\s+--data '\{\}'/);
});

test("runnable README blocks hold no placeholders, and every skipped one says why", () => {
  assert.ok(blocks.length > 15, `only ${blocks.length} blocks found`);
  for (const b of blocks) {
    if (b.skip !== undefined) {
      assert.ok(b.skip.length > 10, `${b.file}:${b.line} is not run without a reason`);
      continue;
    }
    for (const c of b.commands) {
      assert.doesNotMatch(
        c.text.replace(/#.*$/, ""),
        /…|<[A-Za-z_-]+>/,
        `${b.file}:${c.line} has a placeholder`,
      );
    }
  }
});

describe("every command the READMEs show runs as written", { timeout: 1_800_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-readme-"));
  const tour = join(work, "tour");
  let network: ChildProcess | undefined;
  let networkOutput = "";

  before(async () => {
    for (const port of [8545, 8546, 8547, 8555, 8556]) {
      assert.ok(
        await portFree(port),
        `port ${port} is in use: the README's network takes the default ports (stop the other network with \`npx veil down\`)`,
      );
    }
    // A directory like a checkout: `npx veil` runs the veil command of node_modules/.bin.
    mkdirSync(join(tour, "node_modules", ".bin"), { recursive: true });
    writeFileSync(join(tour, "package.json"), '{ "name": "veil-readme-tour", "private": true }\n');
    symlinkSync(veilBin, join(tour, "node_modules", ".bin", "veil"));
    symlinkSync(join(repoRoot, "..", "shared"), join(work, "shared"));
    // What `npm start` runs (package.json: "start": "node bin/veil.mjs up").
    network = spawn("npx", ["veil", "up"], {
      cwd: tour,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    network.stdout?.on("data", (c: Buffer) => {
      networkOutput += c.toString();
    });
    network.stderr?.on("data", (c: Buffer) => {
      networkOutput += c.toString();
    });
    const deadline = Date.now() + 180_000;
    while (!/Veil network is up/.test(networkOutput)) {
      if (network.exitCode !== null || Date.now() > deadline)
        throw new Error(`npx veil up did not come up:\n${networkOutput}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (network?.pid && network.exitCode === null) {
      process.kill(-network.pid, "SIGINT");
      await new Promise((r) => {
        const t = setTimeout(() => {
          if (network?.pid) process.kill(-network.pid, "SIGKILL");
          r(undefined);
        }, 20_000);
        network?.once("exit", () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    rmSync(work, { recursive: true, force: true });
  });

  for (const block of blocks) {
    const name = `${block.file}:${block.line}`;
    if (block.skip !== undefined) {
      test(name, { skip: `not run: ${block.skip}` }, () => {});
      continue;
    }
    test(name, { timeout: 600_000 }, async () => {
      // The main README runs where a checkout would be; an example's from a directory of its
      // own inside it (it makes its project there), finding the network through VEIL_NETWORK.
      const isMain = block.file === "README.md";
      const cwd = isMain ? tour : join(tour, "readme-runs", dirname(block.file).replace(/[/]/g, "-"));
      mkdirSync(cwd, { recursive: true });
      // The tests' own settings must not reach the tour: it is a user's shell.
      const { VEIL_NETWORK: _n, VEIL_PRIVATE_KEY: _k, NODE_ENV: _e, ...shell } = process.env;
      const env = {
        ...shell,
        NO_COLOR: "1",
        ...(isMain ? {} : { VEIL_NETWORK: join(tour, ".veil", "network.json") }),
      };
      for (const c of block.commands) {
        const r = await sh(c.text, cwd, env, 300_000);
        const where = `${block.file}:${c.line} (${relative(tour, cwd) || "."}) $ ${c.text}`;
        assert.equal(r.code, 0, `${where}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /^error\b/m, `${where}\n${r.stderr}`);
        for (const e of c.expect)
          assert.ok(r.stdout.includes(e), `${where}\nexpected "${e}" in:\n${r.stdout}`);
      }
    });
  }
});
