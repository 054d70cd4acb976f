import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// The whole flow of the README, as separate processes: `veil up`, then the CLI against it.
describe("a Veil network on one machine", { timeout: 600_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-e2e-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let helloAddress = "";

  before(async () => {
    network = await startNetwork(dir);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("veil up prints the endpoints, writes network.json, and marks the dev accounts DEV ONLY", () => {
    const out = network.output();
    assert.match(out, /gateway\s+http:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /INSECURE/);
    const n = readNetwork(dir);
    assert.equal(n.workers.length, 2);
    assert.match(JSON.stringify(n.devAccounts), /DEV ONLY/);
  });

  test("init, deploy and invoke the hello agent", async () => {
    const init = await veil(["init", join(work, "hello-agent")], { env });
    assert.equal(init.code, 0, init.stderr);
    const deploy = await veil(["deploy", join(work, "hello-agent"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stdout, /Deployed hello \(agent #1/);
    console.log(`deploy → served: ${deploy.ms} ms`);
    const started = Date.now();
    const invoke = await veil(["invoke", "hello", "--path", "/greet", "--data", '{"name":"Ada"}'], { env });
    assert.equal(invoke.code, 0, invoke.stderr);
    assert.deepEqual(JSON.parse(invoke.stdout), { message: "Hello, Ada!" });
    console.log(`first invoke (CLI process included): ${Date.now() - started} ms`);
  });

  test("two Set-Cookie lines stay two, plain and streamed, through the worker and the gateway", async () => {
    const d = join(work, "cookie-agent");
    mkdirSync(join(d, "src"), { recursive: true });
    writeFileSync(
      join(d, "src", "index.ts"),
      `export default { fetch(request: Request) {
        const h = new Headers({ "content-type": "text/plain" });
        h.append("Set-Cookie", "a=1; Path=/; HttpOnly");
        h.append("Set-Cookie", "b=2, with a comma; Path=/");
        const streamed = new URL(request.url).pathname === "/stream";
        return new Response(streamed ? ReadableStream.from(["s", "t"]).pipeThrough(new TextEncoderStream()) : "ok", { headers: h });
      } };\n`,
    );
    assert.equal((await veil(["deploy", d, "--name", "cookies"], { env })).code, 0);
    const n = readNetwork(dir);
    for (const base of [`${n.gateway.url}/agents/cookies`, `${n.workers[0]!.url}/v1/agents/cookies/invoke`]) {
      for (const path of ["/", "/stream"]) {
        const res = await fetch(`${base}${path}`);
        assert.equal(res.status, 200, `${base}${path}`);
        assert.deepEqual(
          res.headers.getSetCookie(),
          ["a=1; Path=/; HttpOnly", "b=2, with a comma; Path=/"],
          `${base}${path}`,
        );
        assert.equal(await res.text(), path === "/" ? "ok" : "st");
      }
    }
  });

  test("ctx.state is one store for the agent, whichever worker serves it", async () => {
    const dirC = join(work, "counter-agent");
    mkdirSync(join(dirC, "src"), { recursive: true });
    writeFileSync(
      join(dirC, "src", "index.ts"),
      "export default { async fetch(_r: Request, _e: unknown, ctx: { state: { get(k: string): Promise<unknown>; put(k: string, v: unknown): Promise<void> } }) { const n = ((await ctx.state.get('n')) as number | undefined ?? 0) + 1; await ctx.state.put('n', n); return Response.json({ n }); } };\n",
    );
    const deploy = await veil(["deploy", dirC, "--name", "counter"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    const seen = new Set<string>();
    for (let i = 1; i <= 6; i++) {
      const r = await veil(["invoke", "counter", "-i"], { env });
      assert.equal(r.code, 0, r.stderr);
      const worker = /x-veil-worker: (0x[0-9a-fA-F]{40})/i.exec(r.stdout)?.[1];
      if (worker) seen.add(worker.toLowerCase());
      assert.match(r.stdout, new RegExp(`\\{"n":${i}\\}`));
    }
    assert.equal(seen.size, 2, "both workers served the counter");
  });

  test("when a worker dies, invocations go to the other one until veil up has restarted it", async () => {
    const n = readNetwork(dir);
    // Warm both workers first, so the gateway holds kept-alive connections to the one that dies.
    for (let i = 0; i < 4; i++)
      assert.equal((await veil(["invoke", "hello", "--path", "/greet"], { env })).code, 0);
    const victim = n.workers[0]!;
    process.kill(victim.pid, "SIGKILL");
    for (let i = 0; i < 4; i++) {
      const invoke = await veil(["invoke", "hello", "--path", "/greet", "--data", `{"name":"Run ${i}"}`], {
        env,
      });
      assert.equal(invoke.code, 0, invoke.stderr);
      assert.deepEqual(JSON.parse(invoke.stdout), { message: `Hello, Run ${i}!` });
    }
    // The supervisor starts it again: the same worker (its sealed identity), in a new process.
    let status = "";
    for (let i = 0; i < 120 && status !== "ready"; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const inspect = await veil(["inspect", "hello", "--json"], { env });
      const info = JSON.parse(inspect.stdout) as { workers: { address: string; status: string }[] };
      status = info.workers.find((w) => w.address === victim.address)?.status ?? "";
    }
    assert.equal(status, "ready");
    const back = readNetwork(dir).workers.find((w) => w.address === victim.address);
    assert.ok(back && back.pid !== victim.pid, "it runs in a new process");
  });

  test("the agent has certified keys: an EVM address checked up to the master key on chain", async () => {
    const r = await veil(["inspect", "hello", "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { keys: { address: string; checks: string[] } };
    assert.match(info.keys.address, /^0x[0-9a-fA-F]{40}$/);
    assert.equal(info.keys.checks.length, 3);
    helloAddress = info.keys.address;
  });

  test("secrets are encrypted on the client, reach only the agent's env, and never come back", async () => {
    const dirS = join(work, "secret-agent");
    mkdirSync(join(dirS, "src"), { recursive: true });
    writeFileSync(
      join(dirS, "src", "index.ts"),
      "export default { fetch: (_r: Request, env: Record<string, string>) => Response.json({ greeting: env.GREETING ?? null, token: env.TOKEN ?? null, address: env.VEIL_AGENT_ADDRESS }) };\n",
    );
    assert.equal((await veil(["deploy", dirS, "--name", "secret-agent"], { env })).code, 0);
    const set = await veil(["secrets", "set", "secret-agent", "GREETING=Hola", "TOKEN=s3cr3t-value"], {
      env,
    });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stderr, /certified by the master key/);
    let body: { greeting: string | null; token: string | null; address: string } = {
      greeting: null,
      token: null,
      address: "",
    };
    for (let i = 0; i < 100 && body.token === null; i++) {
      body = JSON.parse((await veil(["invoke", "secret-agent"], { env })).stdout);
      if (body.token === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body.greeting, "Hola");
    assert.equal(body.token, "s3cr3t-value");
    assert.match(body.address, /^0x[0-9a-fA-F]{40}$/);

    const list = await veil(["secrets", "list", "secret-agent"], { env });
    assert.deepEqual(list.stdout.trim().split("\n").sort(), ["GREETING", "TOKEN"]);
    assert.doesNotMatch(list.stdout, /Hola|s3cr3t/);

    const other = readNetwork(dir).devAccounts.accounts.find((a) => a.role === "operator-3")!;
    const stranger = await veil(
      ["secrets", "set", "secret-agent", "TOKEN=evil", "--private-key", other.privateKey],
      { env },
    );
    assert.notEqual(stranger.code, 0);
    assert.match(stranger.stderr, /NOT_AGENT_OWNER/);

    assert.equal((await veil(["secrets", "unset", "secret-agent", "TOKEN", "--yes"], { env })).code, 0);
    assert.deepEqual((await veil(["secrets", "list", "secret-agent"], { env })).stdout.trim().split("\n"), [
      "GREETING",
    ]);

    // No daemon wrote a secret value to its log, and the chain holds only ciphertext.
    for (const file of readdirSync(join(dir, "logs"))) {
      assert.doesNotMatch(readFileSync(join(dir, "logs", file), "utf8"), /s3cr3t-value|Hola/, file);
    }
  });

  test("invocations carry a signed receipt the CLI verifies, and --encrypt works end to end", async () => {
    const plain = await veil(["invoke", "hello", "--path", "/greet", "--data", '{"name":"Eve"}'], { env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /receipt verified: agent key certified on chain/);
    assert.match(
      plain.stderr,
      /usage \(metered by worker 0x[0-9a-fA-F]{40}, signed with the receipt\): CPU \d+\.\d+ ms, wall/,
    );
    const sealed = await veil(
      ["invoke", "hello", "--encrypt", "--path", "/greet", "--data", '{"name":"Mallory"}'],
      { env },
    );
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.deepEqual(JSON.parse(sealed.stdout), { message: "Hello, Mallory!" });
    assert.match(sealed.stderr, /end-to-end encrypted/);
    // The encrypted answer carries the worker's signed usage receipt too, inside the envelope.
    assert.match(
      sealed.stderr,
      /usage \(metered by worker 0x[0-9a-fA-F]{40}, signed with the receipt\): CPU \d+\.\d+ ms, wall/,
    );
  });

  test("an upgrade keeps the agent's id and serves the new code", async () => {
    const src = join(work, "hello-agent", "src", "index.ts");
    writeFileSync(
      src,
      `export default { async fetch(req: Request) { return Response.json({ v: 2, path: new URL(req.url).pathname }); } };\n`,
    );
    const deploy = await veil(["deploy", join(work, "hello-agent"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stdout, /Upgraded hello \(agent #1, version 1\)/);
    const invoke = await veil(["invoke", "hello", "--path", "/x"], { env });
    assert.deepEqual(JSON.parse(invoke.stdout), { v: 2, path: "/x" });
    const after = JSON.parse((await veil(["inspect", "hello", "--json"], { env })).stdout) as {
      keys: { address: string };
    };
    assert.equal(after.keys.address, helloAddress, "the agent's address survives the upgrade");

    // The same code again (version 2): a rollback runs other code (version 0), not the same
    // code under another number; and the running code cannot be removed under any number.
    const again = await veil(["deploy", join(work, "hello-agent"), "--name", "hello"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /version 2\)/);
    const sameCode = await veil(["agent", "remove-version", "hello", "1"], { env });
    assert.equal(sameCode.code, 1);
    assert.match(sameCode.stderr, /VERSION_IS_CURRENT.*same code as version 2, which runs now/);
    const back = await veil(["agent", "rollback", "hello"], { env });
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /now runs version 0/);
    const running = await veil(["agent", "remove-version", "hello", "0"], { env });
    assert.equal(running.code, 1);
    assert.match(running.stderr, /VERSION_IS_CURRENT/);
    const forward = await veil(["agent", "rollback", "hello", "2"], { env });
    assert.equal(forward.code, 0, forward.stderr);
    // Removing a version cannot be undone: without a terminal to ask on, it needs --yes.
    const unasked = await veil(["agent", "remove-version", "hello", "0"], { env });
    assert.equal(unasked.code, 1);
    assert.match(unasked.stderr, /CONFIRMATION_NEEDED.*cannot be undone/);
    assert.match(unasked.stderr, /hint: Add --yes/);
    const listed = async () => {
      const r = await veil(["agent", "versions", "hello", "--json"], { env });
      return (JSON.parse(r.stdout) as { versions: { removed: boolean }[] }).versions[0]?.removed;
    };
    assert.equal(await listed(), false, "nothing changed");
    const removed = await veil(["agent", "remove-version", "hello", "0", "--yes"], { env });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(await listed(), true);
  });

  test("veil logs: the agent's console output reaches its owner only, sealed everywhere else", async () => {
    const dirG = join(work, "chatty-agent");
    mkdirSync(join(dirG, "src"), { recursive: true });
    writeFileSync(
      join(dirG, "src", "index.ts"),
      "export default { fetch(r: Request) { const n = new URL(r.url).searchParams.get('n'); console.log('marker-7f3a says', n); console.error(new Error('oops-' + n)); return new Response('ok'); } };\n",
    );
    assert.equal((await veil(["deploy", dirG, "--name", "chatty"], { env })).code, 0);
    // Nothing printed yet: the owner is told so, not left with silence.
    const none = await veil(["logs", "chatty"], { env });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /no log lines for chatty yet: .*--follow waits for them/);
    assert.equal((await veil(["invoke", "chatty", "--path", "/?n=1"], { env })).code, 0);
    let out = "";
    for (let i = 0; i < 20 && !/marker-7f3a says 1/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 300));
      out = (await veil(["logs", "chatty"], { env })).stdout;
    }
    assert.match(out, /log\s+marker-7f3a says 1/);
    assert.match(out, /error\s+Error: oops-1/);
    // Following: a new invocation's line appears in a running `veil logs -f`.
    const { spawn } = await import("node:child_process");
    const { veilBin, repoRoot } = await import("../helpers/cli.ts");
    const follow = spawn(process.execPath, [veilBin, "logs", "chatty", "--follow"], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    });
    let followed = "";
    follow.stdout.on("data", (c: Buffer) => {
      followed += c.toString();
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await veil(["invoke", "chatty", "--path", "/?n=2"], { env })).code, 0);
      for (let i = 0; i < 30 && !/says 2/.test(followed); i++) await new Promise((r) => setTimeout(r, 200));
      assert.match(followed, /marker-7f3a says 2/);
    } finally {
      follow.kill();
    }
    // Anyone else is refused; and nothing on disk holds the line in the clear.
    const other = readNetwork(dir).devAccounts.accounts.find((a) => a.role === "operator-3")!;
    const stranger = await veil(["logs", "chatty", "--private-key", other.privateKey], { env });
    assert.notEqual(stranger.code, 0);
    assert.match(stranger.stderr, /LOGS_NOT_OWNER/);
    const { readdirSync: ls, statSync } = await import("node:fs");
    const files = (d: string): string[] =>
      ls(d).flatMap((f) => {
        const s = statSync(join(d, f));
        // (Sockets, such as a worker's link.sock, hold nothing and cannot be read as files.)
        return s.isDirectory() ? files(join(d, f)) : s.isFile() ? [join(d, f)] : [];
      });
    for (const f of files(dir)) {
      // (The bundle holds the literal text; what the agent printed at run time includes the query.)
      assert.ok(
        !readFileSync(f).toString("latin1").includes("says 1"),
        `${f} holds the agent's output in the clear`,
      );
    }
  });

  test("limits set at deploy time show in inspect and are enforced by the workers", async () => {
    const dirL = join(work, "spin-agent");
    mkdirSync(join(dirL, "src"), { recursive: true });
    writeFileSync(
      join(dirL, "src", "index.ts"),
      "export default { fetch(r: Request) { if (new URL(r.url).pathname === '/spin') { for (;;) {} } return new Response('ok'); } };\n",
    );
    const deploy = await veil(
      [
        "deploy",
        dirL,
        "--name",
        "spinner",
        "--cpu-ms",
        "100",
        "--memory-mb",
        "64",
        "--egress",
        "api.example.com",
      ],
      { env },
    );
    assert.equal(deploy.code, 0, deploy.stderr);
    const info = JSON.parse((await veil(["inspect", "spinner", "--json"], { env })).stdout) as {
      limits: { cpuTimeMs: number; memoryMb: number; egressHosts: string[] };
    };
    assert.equal(info.limits.cpuTimeMs, 100);
    assert.equal(info.limits.memoryMb, 64);
    assert.deepEqual(info.limits.egressHosts, ["api.example.com"]);
    // The workers reload the agent when its limits change on chain; wait for the new CPU limit.
    let spin: Awaited<ReturnType<typeof veil>> | undefined;
    for (let i = 0; i < 20; i++) {
      spin = await veil(["invoke", "spinner", "--path", "/spin"], { env });
      if (/LIMIT_CPU_EXCEEDED/.test(spin.stderr)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.notEqual(spin?.code, 0);
    assert.match(spin?.stderr ?? "", /LIMIT_CPU_EXCEEDED/);
    const ok = await veil(["invoke", "spinner"], { env });
    assert.equal(ok.stdout.trim(), "ok", `the agent serves again after the cut: ${ok.stderr}`);
    const over = await veil(["deploy", dirL, "--name", "spinner-2", "--memory-mb", "100000"], { env });
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /LIMITS_OVER_NETWORK_MAXIMUM/);
    assert.match((await veil(["inspect", "spinner-2"], { env })).stderr, /AGENT_NOT_FOUND/);
  });

  describe("bad input gets a clear error, a non-zero exit, and changes nothing", () => {
    test("a name taken by someone else", async () => {
      const other = readNetwork(dir).devAccounts.accounts.find((a) => a.role === "operator-3")!;
      const r = await veil(
        ["deploy", join(work, "hello-agent"), "--name", "hello", "--private-key", other.privateKey],
        {
          env,
        },
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /AGENT_NAME_TAKEN/);
    });

    test("a bundle that fails to build is not registered", async () => {
      const bad = join(work, "broken-build");
      mkdirSync(join(bad, "src"), { recursive: true });
      writeFileSync(join(bad, "src", "index.ts"), "export default { fetch( { \n");
      const r = await veil(["deploy", bad, "--name", "broken-build"], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /BUILD_FAILED/);
      assert.match(r.stderr, /index\.ts:\d+:\d+/);
      const inspect = await veil(["inspect", "broken-build"], { env });
      assert.match(inspect.stderr, /AGENT_NOT_FOUND/);
    });

    test("a bundle that fails to load is not registered", async () => {
      const bad = join(work, "broken-load");
      mkdirSync(join(bad, "src"), { recursive: true });
      writeFileSync(join(bad, "src", "index.ts"), "throw new Error('boom at load');\nexport default {};\n");
      const r = await veil(["deploy", bad, "--name", "broken-load"], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /AGENT_LOAD_FAILED/);
      assert.match(r.stderr, /boom at load/);
      const inspect = await veil(["inspect", "broken-load"], { env });
      assert.match(inspect.stderr, /AGENT_NOT_FOUND/);
    });

    test("an unknown agent", async () => {
      const r = await veil(["invoke", "nobody-here", "--path", "/"], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /AGENT_NOT_FOUND/);
      assert.match(r.stderr, /hint/);
    });

    test("a malformed network.json", async () => {
      const file = join(work, "bad-network.json");
      writeFileSync(file, '{"version": 1, "chain": {}}');
      const r = await veil(["invoke", "hello"], { env: { VEIL_NETWORK: file } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /NETWORK_CONFIG_INVALID/);
    });

    test("a chain that is not reachable", async () => {
      const n = readNetwork(dir) as unknown as { chain: { rpcUrl: string } };
      const file = join(work, "dead-chain.json");
      writeFileSync(file, JSON.stringify({ ...n, chain: { ...n.chain, rpcUrl: "http://127.0.0.1:9" } }));
      const r = await veil(["deploy", join(work, "hello-agent"), "--name", "other"], {
        env: { VEIL_NETWORK: file },
      });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /CHAIN_UNREACHABLE/);
    });
  });
});
