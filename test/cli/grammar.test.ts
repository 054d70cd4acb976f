import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveKeySpec, resolveSigner } from "../../src/cli/signer.ts";
import { VeilError } from "../../src/errors/index.ts";
import type { NetworkFile } from "../../src/network/config.ts";
import { veil } from "../helpers/cli.ts";

// Issue 21: one grammar. Whoever signs is named the same way on every command.
describe("one CLI grammar", () => {
  test("every command that signs takes --from, --private-key and --network", async () => {
    const r = await veil(["commands", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const commands = JSON.parse(r.stdout) as { command: string; options: string[] }[];
    assert.ok(commands.length > 40, `only ${commands.length} commands listed`);
    const signing = commands.filter((c) => c.options.some((o) => /--private-key|--from/.test(o)));
    assert.ok(
      signing.some((c) => c.command === "agent transfer"),
      "agent transfer signs",
    );
    const wrong = signing.filter(
      (c) => !["--from", "--private-key", "--network"].every((f) => c.options.some((o) => o.startsWith(f))),
    );
    assert.deepEqual(
      wrong.map((c) => `${c.command}: ${c.options.join(" ")}`),
      [],
      "commands that sign without the whole signer grammar",
    );
  });

  test("every command takes --json (its output is a script otherwise), and what cannot be undone asks first", async () => {
    const r = await veil(["commands", "--json"]);
    const commands = JSON.parse(r.stdout) as { command: string; options: string[] }[];
    const parents = new Set(commands.map((c) => c.command.split(" ").slice(0, -1).join(" ")).filter(Boolean));
    const leaves = commands.filter((c) => !parents.has(c.command));
    const noJson = leaves.filter((c) => !c.options.includes("--json")).map((c) => c.command);
    assert.deepEqual(noJson, ["completion"], "commands without --json");
    for (const destructive of [
      "agent remove-version",
      "agent transfer",
      "secrets unset",
      "keys abort",
      "up",
    ]) {
      const c = commands.find((x) => x.command === destructive);
      assert.ok(c?.options.includes("--yes"), `${destructive} takes --yes`);
    }
  });

  const user = { role: "user", address: `0x${"aa".repeat(20)}`, privateKey: `0x${"11".repeat(32)}` } as const;
  const op = {
    role: "operator-3",
    address: `0x${"bb".repeat(20)}`,
    privateKey: `0x${"22".repeat(32)}`,
  } as const;
  const dev = { devAccounts: { warning: "DEV ONLY", accounts: [user, op] } } as unknown as NetworkFile;
  const bare = {} as NetworkFile;

  test("--private-key, then --from, then $VEIL_PRIVATE_KEY, then the dev user", () => {
    const saved = process.env.VEIL_PRIVATE_KEY;
    try {
      delete process.env.VEIL_PRIVATE_KEY;
      assert.equal(resolveSigner(dev, {}), user.privateKey);
      process.env.VEIL_PRIVATE_KEY = `0x${"33".repeat(32)}`;
      assert.equal(resolveSigner(dev, {}), process.env.VEIL_PRIVATE_KEY);
      assert.equal(resolveSigner(dev, { from: "operator-3" }), op.privateKey);
      assert.equal(resolveSigner(dev, { from: op.address.toUpperCase().replace("0X", "0x") }), op.privateKey);
      assert.equal(
        resolveSigner(dev, { from: "operator-3", privateKey: `0x${"44".repeat(32)}` }),
        `0x${"44".repeat(32)}`,
      );
      process.env.CALLER_KEY_FOR_TEST = `0x${"55".repeat(32)}`;
      assert.equal(resolveKeySpec(dev, "env:CALLER_KEY_FOR_TEST"), `0x${"55".repeat(32)}`);
    } finally {
      if (saved === undefined) delete process.env.VEIL_PRIVATE_KEY;
      else process.env.VEIL_PRIVATE_KEY = saved;
      delete process.env.CALLER_KEY_FOR_TEST;
    }
  });

  test("a name that is no account, a bad key or no account at all: typed errors that say what to use", () => {
    const saved = process.env.VEIL_PRIVATE_KEY;
    delete process.env.VEIL_PRIVATE_KEY;
    try {
      const refused = (f: () => unknown, code: string, hint: RegExp) =>
        assert.throws(
          f,
          (e: unknown) => e instanceof VeilError && e.code === code && hint.test(e.hint ?? ""),
        );
      refused(() => resolveSigner(dev, { from: "operator-9" }), "NO_ACCOUNT", /user, operator-3/);
      refused(() => resolveSigner(dev, { privateKey: "0x1234" }), "BAD_ARGUMENT", /--from/);
      refused(() => resolveSigner(bare, {}), "NO_ACCOUNT", /--from env:VAR or --private-key/);
      refused(() => resolveKeySpec(dev, "env:NOT_SET_ANYWHERE"), "BAD_ARGUMENT", /NOT_SET_ANYWHERE/);
    } finally {
      if (saved !== undefined) process.env.VEIL_PRIVATE_KEY = saved;
    }
  });
});

test("veil --version answers with the package's version before loading the CLI", async () => {
  const { version } = JSON.parse(
    (await import("node:fs")).readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
  ) as { version: string };
  for (const flag of ["--version", "-V"]) {
    const r = await veil([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    console.log(`veil ${flag}: ${r.ms} ms`);
  }
  const help = await veil(["--help"]);
  assert.match(help.stdout, /-V, --version\s+output the version number/);
});

test("veil completion bash completes commands, subcommands and each command's options", async () => {
  const { spawnSync } = await import("node:child_process");
  const script = await veil(["completion", "bash"]);
  assert.equal(script.code, 0, script.stderr);
  const complete = (...words: string[]) =>
    spawnSync(
      "bash",
      [
        "-c",
        `eval "$SCRIPT"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _veil; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: "utf8", env: { ...process.env, SCRIPT: script.stdout } },
    ).stdout.trim();
  assert.equal(complete("veil", "ag"), "agent");
  assert.equal(complete("veil", "agent", "ro"), "rollback");
  assert.equal(complete("veil", "agent", "transfer", "hello", "--fr"), "--from");
  assert.equal(complete("veil", "gov", "queue", "12", "--w"), "--wait");
  const unknown = await veil(["completion", "tcsh"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /BAD_ARGUMENT.*No completion for "tcsh"/);
});
