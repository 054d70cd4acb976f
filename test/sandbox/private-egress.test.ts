// An agent owner choosing what the operator's host fetches (issue 18): explicit egress entries
// skipped the private-address block, so `--egress 127.0.0.1:PORT,localhost,169.254.169.254` read
// the gatekeeper's and other workers' loopback APIs. On a worker, a private destination needs the
// operator's allowance (veil worker --allow-private-egress) as well as the agent's entry.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { DEFAULT_EGRESS } from "../../src/sandbox/egress.ts";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

let server: Server;
let port: number;
before(async () => {
  server = createServer((_req, res) => res.end("the gatekeeper's private API"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

async function reach(
  privateAllowed: string[] | undefined,
  allowHosts: string[],
  url: string,
): Promise<string> {
  const sandbox = await IsolateSandbox.create({
    meta: { id: "5", name: "owner-chooses", codeHash: `0x${"55".repeat(32)}` },
    code: `export default { async fetch(request) {
      const target = new URL(request.url).searchParams.get("u");
      try { return new Response(await (await fetch(target)).text()); } catch (e) { return new Response("refused: " + e.message); }
    } };`,
    limits: {
      egress: {
        ...DEFAULT_EGRESS,
        allowHosts,
        timeoutMs: 1_000,
        ...(privateAllowed ? { privateAllowed } : {}),
      },
    },
  });
  try {
    const res = await sandbox.invoke({
      method: "GET",
      url: `https://owner-chooses.agents.veil/?u=${encodeURIComponent(url)}`,
      headers: [],
      body: null,
    });
    return new TextDecoder().decode(res.body);
  } finally {
    sandbox.dispose();
  }
}

describe("private destinations are the operator's to allow", () => {
  test("an owner's explicit entries reach no loopback, private or link-local address on a worker", async () => {
    const listed = [`127.0.0.1:${port}`, `localhost:${port}`, "169.254.169.254", "10.0.0.1"];
    for (const url of [
      `http://127.0.0.1:${port}/`,
      `http://localhost:${port}/`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
    ]) {
      const got = await reach([], listed, url);
      assert.match(
        got,
        /^refused: fetch: .* (is|resolves to) a private or loopback address; only this worker's operator can allow it \(veil worker --allow-private-egress /,
        url,
      );
    }
  });

  test("what the operator allows, and the agent lists, is reached; nothing else private is", async () => {
    const operator = [`127.0.0.1:${port}`];
    assert.equal(
      await reach(operator, [`127.0.0.1:${port}`], `http://127.0.0.1:${port}/`),
      "the gatekeeper's private API",
    );
    // The operator's allowance is not the agent's: an agent that does not list it gets nothing.
    assert.match(
      await reach(operator, ["*"], `http://127.0.0.1:${port}/`),
      /^refused: .*private or loopback/,
    );
    // Another port on the same host is not allowed by a host:port entry.
    assert.match(
      await reach(operator, ["127.0.0.1:1"], "http://127.0.0.1:1/"),
      /^refused: .*--allow-private-egress 127\.0\.0\.1:1/,
    );
  });
});
