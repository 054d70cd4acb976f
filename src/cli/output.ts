import { Option } from "commander";
import { VeilError } from "../errors/index.ts";

const color = process.stderr.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Progress goes to stderr, so stdout carries only results (and pipes cleanly). */
export function progress(message: string): void {
  process.stderr.write(`${paint("2", "›")} ${message}\n`);
}

/** A warning: the command goes on, but the user should know (stderr, with what to do). */
export function warn(message: string, hint?: string): void {
  process.stderr.write(`${paint("33", "warning")}: ${message}\n`);
  if (hint) process.stderr.write(`${paint("33", "hint")}: ${hint}\n`);
}

// ── --json ──────────────────────────────────────────────────────────────────────────────────
// Every command takes --json (main.ts adds it where a command does not declare it). A command
// says what it did with `out(lines, fields)`: people get the lines as they come, scripts get the
// fields of the whole command as one JSON object when it ends (amounts in base units, as strings).

let jsonMode = false;
let collected: Record<string, unknown> | undefined;

/** Set by main.ts before a command runs. */
export function setJsonOutput(on: boolean): void {
  jsonMode = on;
  collected = undefined;
}

export function jsonOutput(): boolean {
  return jsonMode;
}

/** JSON with bigints as decimal strings (token amounts in base units, ids, gas). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), indent);
}

/**
 * What a command did: `lines` for people (stdout), `fields` for `--json`. Fields of several calls
 * merge; arrays under the same name (e.g. `transactions`) are appended.
 */
export function out(lines: readonly string[], fields: Record<string, unknown> = {}): void {
  if (!jsonMode) {
    if (lines.length) process.stdout.write(`${lines.join("\n")}\n`);
    return;
  }
  collected ??= {};
  for (const [k, v] of Object.entries(fields)) {
    const prev = collected[k];
    collected[k] = Array.isArray(prev) && Array.isArray(v) ? [...prev, ...v] : v;
  }
}

/** Called by main.ts when a command ends: prints what it collected as one JSON object. */
export function flushJson(): void {
  if (jsonMode && collected) process.stdout.write(`${toJson(collected)}\n`);
  collected = undefined;
}

/**
 * Asks before a command does what cannot be undone. `--yes` skips the question; without a
 * terminal to ask on, the command refuses (a script must say --yes).
 */
export async function confirm(yes: boolean | undefined, what: string, consequence: string): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new VeilError("CONFIRMATION_NEEDED", `${what} cannot be undone`, {
      hint: `Add --yes to confirm (${consequence}).`,
    });
  }
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${what}: ${consequence}. Type "yes" to go on: `);
  rl.close();
  if (answer.trim().toLowerCase() !== "yes") {
    throw new VeilError("CANCELLED", "Nothing was changed", {});
  }
}

/** The --yes option of a command that asks first. */
export const yesOption = () => new Option("--yes", "do not ask for confirmation (needed without a terminal)");

/** Prints an error the way every command does: code, message, context, hint; then exits 1. */
export function fail(err: unknown): never {
  if (jsonMode) {
    // Scripts asked for JSON: the error is one JSON object on stderr (stdout stays empty).
    const e =
      err instanceof VeilError
        ? { code: err.code, message: err.shortMessage, context: err.context, hint: err.hint }
        : { code: "INTERNAL", message: (err as Error)?.message ?? String(err) };
    process.stderr.write(`${toJson({ error: e }, 0)}\n`);
    process.exit(1);
  }
  if (err instanceof VeilError) {
    process.stderr.write(`${paint("31", `error [${err.code}]`)}: ${err.shortMessage}\n`);
    for (const line of err.context) process.stderr.write(`  ${line}\n`);
    if (err.hint) process.stderr.write(`${paint("33", "hint")}: ${err.hint}\n`);
  } else {
    process.stderr.write(`${paint("31", "error")}: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a port number`, {
      hint: "Use 0–65535 (0 picks a free port).",
    });
  }
  return n;
}

export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a count from 1 to 64`, {});
  }
  return n;
}

/** One more EVM address for a repeatable option (`--link-peer A --link-peer B`). */
export function collectAddress(value: string, previous: string[] = []): string[] {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not an address`, {
      hint: "Give a 0x-prefixed 20-byte address, e.g. the one `veil gateway` prints as its link key.",
    });
  }
  return [...previous, value];
}

/** One more `host` or `host:port` for a repeatable option (`--allow-private-egress`). */
export function collectHostPort(value: string, previous: string[] = []): string[] {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a host or host:port`, {
      hint: "Give a host (any port) or host:port, e.g. 127.0.0.1:11434 for a model server on this machine.",
    });
  }
  return [...previous, value];
}

/** A positive whole number (sizes, thresholds, seconds). */
export function parsePositive(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a whole number from 1`, {
      hint: "Give a positive whole number, e.g. 100.",
    });
  }
  return n;
}

/** A limit value: a whole number from 0 (0 means the network's default). */
export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a whole number from 0`, {
      hint: "Limits are whole numbers; 0 means the network's default.",
    });
  }
  return n;
}
