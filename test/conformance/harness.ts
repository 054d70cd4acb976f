// Issue 19: conformance measured, not asserted (after workerd's src/wpt/). Each area's cases run
// inside the real sandbox, many per invocation in one sandbox per area, on the prelude's own
// implementation; what the sandbox answers is compared here with what the case expects. Cases
// come from published data where it exists as data (loaded from node_modules at test time) and
// otherwise are written here after the web-platform-tests' coverage of the area.
//
// expected-failures.json lists, per area, each reason and the cases it explains. A case not in
// it must pass; a case in it must still fail, so the list shrinks as the prelude is fixed.
// VEIL_CONFORMANCE_SUMMARY=path merges each area's counts into that JSON file.
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

/** A function run in the sandbox: it may use the sandbox's globals only, never this module's scope. */
// biome-ignore lint/suspicious/noExplicitAny: a case's input and answer are whatever its data holds
export type SandboxFn = (input: any) => unknown;

/**
 * One case: `fn` names a function of the area's table, `input` is handed to it (JSON), and its
 * answer must deep-equal `expect` (JSON), or, with `expect: { throws: "TypeError" }`, it must throw
 * an error of that name.
 */
export type Case = { name: string; fn: string; input?: unknown; expect: unknown };

export type AreaResult = {
  area: string;
  total: number;
  passed: number;
  expectedFailures: number;
  /** Cases not in the list that failed, with what the sandbox answered. */
  unexpected: { name: string; got: string; expected: string }[];
  /** Cases in the list that pass now: remove them from it. */
  nowPass: string[];
  /** Listed names that are no case of the area. */
  stale: string[];
  ms: number;
};

const here = dirname(fileURLToPath(import.meta.url));
const meta = { id: "conformance", name: "conformance", codeHash: `0x${"c0".repeat(32)}` };

/** The checked-in list for an area: case name → why it fails. */
export function expectedFailures(area: string): Map<string, string> {
  const all = JSON.parse(readFileSync(join(here, "expected-failures.json"), "utf8")) as Record<
    string,
    Record<string, string[]>
  >;
  const out = new Map<string, string>();
  for (const [why, names] of Object.entries(all[area] ?? {})) for (const n of names) out.set(n, why);
  return out;
}

/** The agent: the area's functions, and a fetch handler that runs a batch of cases in order. */
function agentSource(fns: Record<string, SandboxFn>, helpers: Record<string, SandboxFn>): string {
  const table = Object.entries(fns)
    .map(([k, f]) => {
      const src = f.toString();
      // A method (`async name(x) {…}`) is no expression alone: it is read back out of an object.
      const method = !/^(async\s*)?(function\b|\(|[\w$]+\s*=>)/.test(src);
      return `${JSON.stringify(k)}: ${method ? `({ ${src} })[${JSON.stringify(k)}]` : src}`;
    })
    .join(",\n");
  // tsx names functions with __name(); in the sandbox that is the identity.
  const shared = Object.entries(helpers)
    .map(([k, f]) => `const ${k} = ${f.toString()};`)
    .join("\n");
  return `const __name = (f) => f;
${shared}
const FNS = {\n${table}\n};
const describe = (e) => (e && typeof e === "object" || typeof e === "function") ? \`\${e.name}: \${e.message}\` : \`thrown \${String(e)}\`;
async function one(fn, input) {
  const f = FNS[fn];
  if (!f) return { error: \`no function \${fn}\` };
  let timer;
  try {
    const value = await Promise.race([
      (async () => f(input))(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("case timed out after 2 s")), 2000); }),
    ]);
    return { value: JSON.parse(JSON.stringify(value === undefined ? null : value)) };
  } catch (e) {
    return { error: describe(e), name: e?.name };
  } finally {
    clearTimeout(timer);
  }
}
export default { async fetch(request) {
  const batch = await request.json();
  const out = [];
  for (const { fn, input } of batch) out.push(await one(fn, input));
  return Response.json(out);
} };`;
}

type Answer = { value?: unknown; error?: string; name?: string };

function passes(c: Case, a: Answer): boolean {
  const e = c.expect as { throws?: string } | null;
  if (
    e &&
    typeof e === "object" &&
    !Array.isArray(e) &&
    typeof e.throws === "string" &&
    Object.keys(e).length === 1
  )
    return a.error !== undefined && a.name === e.throws;
  return a.error === undefined && isDeepStrictEqual(a.value, c.expect);
}

/**
 * Printable ASCII only: Node 20's test runner reads its children's output for its own framing,
 * and a failure message with raw control or non-ASCII characters could wedge it at full CPU.
 */
const ascii = (s: string) =>
  s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
const short = (v: unknown) => {
  const s = ascii(JSON.stringify(v) ?? "undefined");
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
};

/** Runs an area's cases in one sandbox, `batch` cases per invocation, and holds them to the list. */
export async function runArea(
  area: string,
  fns: Record<string, SandboxFn>,
  cases: Case[],
  options: { batch?: number; helpers?: Record<string, SandboxFn> } = {},
): Promise<AreaResult> {
  const started = Date.now();
  const names = new Set<string>();
  for (const c of cases) {
    assert.ok(!names.has(c.name), `${area}: two cases are named ${c.name}`);
    names.add(c.name);
  }
  // VEIL_CONFORMANCE_REFERENCE=node runs the cases on Node's own globals instead, to check the
  // cases (Node passes the web-platform-tests of these areas), with no list.
  const reference = process.env.VEIL_CONFORMANCE_REFERENCE === "node";
  const listed = reference ? new Map<string, string>() : expectedFailures(area);
  const answers: Answer[] = reference
    ? await onHost(fns, cases)
    : await inSandbox(area, fns, cases, options.batch ?? 200, options.helpers ?? {});
  const result: AreaResult = {
    area,
    total: cases.length,
    passed: 0,
    expectedFailures: 0,
    unexpected: [],
    nowPass: [],
    stale: [...listed.keys()].filter((n) => !names.has(n)),
    ms: 0,
  };
  cases.forEach((c, i) => {
    const a = answers[i]!;
    const ok = passes(c, a);
    if (ok) result.passed++;
    if (listed.has(c.name)) {
      if (ok) result.nowPass.push(c.name);
      else result.expectedFailures++;
    } else if (!ok) {
      result.unexpected.push({
        name: c.name,
        got: a.error !== undefined ? `threw ${ascii(a.error)}` : short(a.value),
        expected: short(c.expect),
      });
    }
  });
  result.ms = Date.now() - started;
  return result;
}

async function onHost(fns: Record<string, SandboxFn>, cases: Case[]): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const c of cases) {
    try {
      const value = await fns[c.fn]!(c.input);
      out.push({ value: JSON.parse(JSON.stringify(value === undefined ? null : value)) });
    } catch (e) {
      out.push({ error: `${(e as Error)?.name}: ${(e as Error)?.message}`, name: (e as Error)?.name });
    }
  }
  return out;
}

async function inSandbox(
  area: string,
  fns: Record<string, SandboxFn>,
  cases: Case[],
  size: number,
  helpers: Record<string, SandboxFn>,
): Promise<Answer[]> {
  const sandbox = await IsolateSandbox.create({
    meta,
    code: agentSource(fns, helpers),
    limits: { cpuTimeMs: 30_000, wallTimeMs: 45_000, maxResponseBytes: 64 * 1024 * 1024 },
  });
  const answers: Answer[] = [];
  try {
    for (let i = 0; i < cases.length; i += size) {
      const chunk = cases.slice(i, i + size).map((c) => ({ fn: c.fn, input: c.input }));
      const r = await sandbox.invoke({
        method: "POST",
        url: "https://conformance.agents.veil/",
        headers: [["content-type", "application/json"]],
        body: new TextEncoder().encode(JSON.stringify(chunk)),
      });
      const text = new TextDecoder().decode(r.body);
      assert.equal(r.status, 200, `${area}: the batch at ${i} failed: ${text.slice(0, 500)}`);
      answers.push(...(JSON.parse(text) as Answer[]));
    }
  } finally {
    sandbox.dispose();
    // Let the isolate's disposal and the host's last calls settle before the file's process exits.
    await new Promise((r) => setTimeout(r, 200));
  }
  return answers;
}

/** `url: 712/790 pass, 78 expected failures` */
export function summaryLine(r: AreaResult): string {
  return `${r.area}: ${r.passed}/${r.total} pass, ${r.expectedFailures} expected failures (${r.ms} ms)`;
}

/** Merges an area's counts into the JSON file named by VEIL_CONFORMANCE_SUMMARY (areas run in parallel). */
function writeSummary(r: AreaResult): void {
  const path = process.env.VEIL_CONFORMANCE_SUMMARY;
  if (!path) return;
  const lock = `${path}.lock`;
  for (let tries = 0; ; tries++) {
    try {
      closeSync(openSync(lock, "wx"));
      break;
    } catch (err) {
      if (tries > 200) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
    }
  }
  try {
    let all: Record<string, unknown> = {};
    try {
      all = JSON.parse(readFileSync(path, "utf8"));
    } catch {}
    all[r.area] = {
      total: r.total,
      passed: r.passed,
      expectedFailures: r.expectedFailures,
      unexpectedFailures: r.unexpected.length,
      nowPass: r.nowPass.length,
      ms: r.ms,
    };
    writeFileSync(`${path}.tmp`, `${JSON.stringify(all, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  } finally {
    unlinkSync(lock);
  }
}

/** The area's test: runs it, prints its counts, and fails on any departure from the list. */
/** `helpers` are functions the cases call by name (arrow functions: `const name = …` in the sandbox). */
export function conformance(
  area: string,
  fns: Record<string, SandboxFn>,
  load: () => Case[] | Promise<Case[]>,
  helpers: Record<string, SandboxFn> = {},
) {
  test(`${area}: every case passes in the sandbox but those listed in expected-failures.json, which still fail`, async (t) => {
    const r = await runArea(area, fns, await load(), { helpers });
    const line = summaryLine(r);
    t.diagnostic(line);
    writeSummary(r);
    // Where to put the failures not listed (JSON), to review and sort into the list by reason.
    if (process.env.VEIL_CONFORMANCE_FAILURES) {
      writeFileSync(
        join(process.env.VEIL_CONFORMANCE_FAILURES, `${area}.json`),
        JSON.stringify(r.unexpected, null, 2),
      );
      // And the listed cases that pass now, to take off the list.
      writeFileSync(
        join(process.env.VEIL_CONFORMANCE_FAILURES, `${area}.now-pass.json`),
        JSON.stringify(r.nowPass, null, 2),
      );
    }
    const problems = [
      ...r.unexpected.map(
        (u) => `fails: ${ascii(u.name)}\n    got      ${u.got}\n    expected ${u.expected}`,
      ),
      ...r.nowPass.map((n) => `now passes, remove from expected-failures.json: ${ascii(n)}`),
      ...r.stale.map((n) => `listed in expected-failures.json but no such case: ${ascii(n)}`),
    ];
    // A few in the message: Node 20's test runner wedges on a child's very long failure message.
    const shown = problems.slice(0, 25).join("\n");
    const more =
      problems.length > 25
        ? `\n... and ${problems.length - 25} more (VEIL_CONFORMANCE_FAILURES=dir lists them)`
        : "";
    assert.ok(problems.length === 0, `${area}: ${problems.length} departures from the list\n${shown}${more}`);
  });
}

/** Cases written as functions, each its own: name → [the function, what it must answer]. */
export function written(table: Record<string, [SandboxFn, unknown]>): {
  fns: Record<string, SandboxFn>;
  cases: Case[];
} {
  const fns: Record<string, SandboxFn> = {};
  const cases: Case[] = [];
  for (const [name, [fn, expect]] of Object.entries(table)) {
    fns[name] = fn;
    cases.push({ name, fn: name, expect });
  }
  return { fns, cases };
}
