// One cold start in a fresh process, for bench/runtime.ts: no spare isolate, no code cache, the
// prelude not yet built. Prints the milliseconds from creating the sandbox to the first answer.
import { performance } from "node:perf_hooks";
import { IsolateSandbox } from "../src/sandbox/isolate.ts";

const code = `export default { fetch() { return new Response("Hello, world!"); } };`;
const t = performance.now();
const sandbox = await IsolateSandbox.create({ code, meta: { id: "1", name: "cold", codeHash: "0x" } });
await sandbox.invoke({ method: "GET", url: "https://cold.agents.veil/", headers: [], body: null });
console.log((performance.now() - t).toFixed(2));
sandbox.dispose();
process.exit(0);
