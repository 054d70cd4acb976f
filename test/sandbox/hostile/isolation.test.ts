// What one caller's code can learn of the host or of another caller: stack traces (with an
// Error.prepareStackTrace of its own, CallSite objects hand out each frame's function and
// receiver unless the frame is strict), host paths in them, and module state.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { attacker, req, text } from "./harness.ts";

describe("hostile agents: what a stack trace or module state gives away", () => {
  const open: { dispose(): void }[] = [];
  after(() => {
    for (const s of open) s.dispose();
  });

  test("Error.prepareStackTrace gets no function or receiver of any host frame, and no host path", async () => {
    const { sandbox } = await attacker(`export default { async fetch() {
        const frames = [];
        const grab = () => { const e = new Error("x"); e.stack; };
        Error.prepareStackTrace = (e, sites) => {
          for (const s of sites) frames.push({ file: String(s.getFileName()), fn: typeof s.getFunction(), self: typeof s.getThis() });
          return "";
        };
        // Frames of the prelude above and below the agent's: a throwing web API, a timer
        // callback, a stream's pull, a URL parse, a bad header.
        try { new Request("http://a", { headers: { "a b": "1" } }); } catch (e) { e.stack; }
        try { atob("%%%"); } catch (e) { e.stack; }
        try { new URL("::"); } catch (e) { e.stack; }
        await new Promise((r) => setTimeout(() => { grab(); r(); }, 1));
        await new ReadableStream({ pull(c) { grab(); c.close(); } }).getReader().read();
        structuredClone({ get a() { grab(); return 1; } });
        Error.prepareStackTrace = undefined;
        let plain = "";
        try { null.x; } catch (e) { plain = e.stack; }
        return Response.json({ frames, plain });
      } };`);
    open.push(sandbox);
    const { frames, plain } = JSON.parse(text((await sandbox.invoke(req("/"))).body));
    const host = frames.filter((f: { file: string }) => !f.file.startsWith("agent:"));
    assert.ok(host.length > 5, `host frames seen: ${host.length}`);
    for (const f of host)
      assert.deepEqual({ fn: f.fn, self: f.self }, { fn: "undefined", self: "undefined" }, f.file);
    const files = new Set(frames.map((f: { file: string }) => f.file));
    for (const file of files) assert.match(String(file), /^(agent:attacker|veil:prelude|undefined|null)$/);
    assert.doesNotMatch(plain, /\/work|node_modules|file:|\.ts:/, "no host path in a stack");
  });

  test("one caller's Error.prepareStackTrace and module state never reach another caller", async () => {
    const { sandbox } = await attacker(`let secret = null;
      export default { async fetch(request) {
        const u = new URL(request.url);
        if (u.pathname === "/plant") {
          secret = u.searchParams.get("s");
          Error.prepareStackTrace = () => "owned by " + secret;
          globalThis.leak = secret;
          return new Response("planted");
        }
        let stack = "";
        try { null.x; } catch (e) { stack = String(e.stack); }
        return Response.json({ secret, leak: globalThis.leak ?? null, owned: stack.startsWith("owned") });
      } };`);
    open.push(sandbox);
    assert.equal(
      text((await sandbox.invoke(req("/plant?s=alice-key", { caller: "signer:0xa11ce" }))).body),
      "planted",
    );
    for (const caller of ["signer:0xb0b", undefined, null] as const) {
      const extra = caller === undefined ? {} : { caller };
      assert.deepEqual(JSON.parse(text((await sandbox.invoke(req("/read", extra))).body)), {
        secret: null,
        leak: null,
        owned: false,
      });
    }
    // The same caller keeps its own realm, as designed (docs/adr/0009).
    assert.deepEqual(
      JSON.parse(text((await sandbox.invoke(req("/read", { caller: "signer:0xa11ce" }))).body)),
      {
        secret: "alice-key",
        leak: "alice-key",
        owned: true,
      },
    );
  });
});
