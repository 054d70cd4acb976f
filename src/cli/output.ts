import { VeilError } from "../errors/index.ts";

const color = process.stderr.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Progress goes to stderr, so stdout carries only results (and pipes cleanly). */
export function progress(message: string): void {
  process.stderr.write(`${paint("2", "›")} ${message}\n`);
}

/** Prints an error the way every command does: code, message, context, hint; then exits 1. */
export function fail(err: unknown): never {
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
