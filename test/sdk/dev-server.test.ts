import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startDevServer } from "../../src/sdk/dev-server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

test("veil dev serves the agent, reloads on change, and shows build errors instead of stale code", async () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-dev-"));
  mkdirSync(join(dir, "src"));
  const write = (version: string) =>
    writeFileSync(
      join(dir, "src", "index.ts"),
      `export default { fetch: (r: Request) => Response.json({ version: ${version}, path: new URL(r.url).pathname }) };\n`,
    );
  write("1");
  const server = await startDevServer({ dir, port: 0, host: "127.0.0.1", name: "devtest" });
  try {
    const get = async () => {
      const r = await fetch(`${server.url}/hello?x=1`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await get(), { status: 200, body: { version: 1, path: "/hello" } });

    write("2");
    await until(get, (r) => r.body.version === 2, "the reload to version 2");

    writeFileSync(join(dir, "src", "index.ts"), "export default { fetch( \n");
    const broken = await until(get, (r) => r.status !== 200, "the build error");
    assert.equal((broken.body.error as { code: string }).code, "BUILD_FAILED");

    write("3");
    await until(get, (r) => r.body.version === 3, "the fixed version");
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("veil dev reloads after each of three atomic saves in a row (a temp file renamed over the source)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-dev-atomic-"));
  mkdirSync(join(dir, "src"));
  const source = join(dir, "src", "index.ts");
  const code = (version: number) =>
    `export default { fetch: () => Response.json({ version: ${version} }) };\n`;
  writeFileSync(source, code(1));
  const server = await startDevServer({ dir, port: 0, host: "127.0.0.1", name: "devatomic" });
  try {
    const get = async () => {
      const r = await fetch(`${server.url}/`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await get(), { status: 200, body: { version: 1 } });
    for (const version of [2, 3, 4]) {
      // As vim (backupcopy=no), JetBrains and many others save: the old inode is replaced.
      const tmp = join(dir, "src", `.index.ts.${version}.tmp`);
      writeFileSync(tmp, code(version));
      renameSync(tmp, source);
      await until(get, (r) => r.body.version === version, `the reload after atomic save ${version - 1}`);
    }
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("veil dev passes a streamed body on as the agent produces it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "veil-dev-stream-"));
  mkdirSync(join(dir, "src"));
  // The second chunk waits for a request to /go: the first must arrive before it is sent.
  writeFileSync(
    join(dir, "src", "index.ts"),
    `let go: () => void = () => {};
const gate = new Promise<void>((r) => (go = r));
export default { async fetch(r: Request) {
  if (new URL(r.url).pathname === "/go") { go(); return new Response("ok"); }
  return new Response(new ReadableStream({ async start(c) { c.enqueue("one "); await gate; c.enqueue("two"); c.close(); } }));
} };\n`,
  );
  const server = await startDevServer({ dir, port: 0, host: "127.0.0.1", name: "devstream" });
  try {
    const res = await fetch(`${server.url}/`);
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "one ");
    assert.equal(await (await fetch(`${server.url}/go`)).text(), "ok");
    let rest = "";
    for (let c = await reader.read(); !c.done; c = await reader.read())
      rest += new TextDecoder().decode(c.value);
    assert.equal(rest, "two");
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("veil dev gives the agent .dev.vars and --env files as env, reloads them, and names a bad line", async () => {
  const { readDevVars, parseDevVars } = await import("../../src/sdk/dev-vars.ts");
  const { VeilError } = await import("../../src/errors/index.ts");
  const dir = mkdtempSync(join(tmpdir(), "veil-dev-env-"));
  mkdirSync(join(dir, "src"));
  writeFileSync(
    join(dir, "src", "index.ts"),
    "export default { fetch: (_r: Request, env: Record<string, string>) => Response.json({ key: env.API_KEY ?? null, model: env.MODEL ?? null }) };\n",
  );
  writeFileSync(
    join(dir, ".dev.vars"),
    '# local only\nAPI_KEY="sk-dev \\"1\\""\nMODEL=small # inline comment\n',
  );
  const extra = join(dir, "override.env");
  writeFileSync(extra, "export MODEL='large # not a comment'\n");
  const server = await startDevServer({
    dir,
    port: 0,
    host: "127.0.0.1",
    name: "devenv",
    env: () => readDevVars(dir, [extra]),
  });
  try {
    const get = async () => {
      const r = await fetch(`${server.url}/`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await get(), {
      status: 200,
      body: { key: 'sk-dev "1"', model: "large # not a comment" },
    });
    writeFileSync(join(dir, ".dev.vars"), "API_KEY=sk-rotated\n");
    await until(get, (r) => r.body.key === "sk-rotated", "the reload with the new .dev.vars");
    writeFileSync(join(dir, ".dev.vars"), "API_KEY=ok\nthis line is wrong\n");
    const bad = await until(get, (r) => r.status !== 200, "the .dev.vars error");
    assert.equal((bad.body.error as { code: string }).code, "DEV_VARS_INVALID");
    assert.match((bad.body.error as { message: string }).message, /\.dev\.vars:2 is not NAME=value/);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(
    () => parseDevVars("1BAD=x", "f"),
    (e: unknown) => e instanceof VeilError && e.code === "DEV_VARS_INVALID",
  );
});
