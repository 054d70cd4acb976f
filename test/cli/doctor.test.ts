import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { veil } from "../helpers/cli.ts";

test("veil doctor with no network: the machine's checks pass, and a port veil up needs that is taken fails with how to free it", async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
  const port = (holder.address() as { port: number }).port;
  try {
    const r = await veil(["doctor", "--network", "/nonexistent/network.json", "--base-port", String(port)]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /✔ isolated-vm \(agent sandboxes\): loads and runs code/);
    assert.match(r.stdout, /✔ better-sqlite3/);
    assert.match(r.stdout, /! network: no network\.json at \/nonexistent\/network\.json/);
    assert.match(
      r.stdout,
      new RegExp(`✘ ports for \`veil up\`: in use: ${port}(, \\d+)*\\n {4}→ .*--base-port ${port + 100}`),
    );
  } finally {
    holder.close();
  }
});
