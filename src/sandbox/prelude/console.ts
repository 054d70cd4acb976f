// console.* for agents: formats like Node's console (roughly) and hands each line to the host,
// which keeps it in the agent's log. Without a host hook, output is dropped.

export type LogHook = (level: string, message: string) => void;

function format(value: unknown, depth: number, seen: Set<unknown>): string {
  if (typeof value === "string") return depth === 0 ? value : JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (
    typeof value === "symbol" ||
    typeof value === "undefined" ||
    typeof value === "number" ||
    typeof value === "boolean"
  ) {
    return String(value);
  }
  if (typeof value === "function") return `[Function ${value.name || "(anonymous)"}]`;
  if (value === null) return "null";
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  if (seen.has(value)) return "[Circular]";
  if (depth > 3) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[ ${value.map((v) => format(v, depth + 1, seen)).join(", ")} ]`;
    if (value instanceof Map) {
      return `Map(${value.size}) { ${[...value].map(([k, v]) => `${format(k, depth + 1, seen)} => ${format(v, depth + 1, seen)}`).join(", ")} }`;
    }
    if (value instanceof Set)
      return `Set(${value.size}) { ${[...value].map((v) => format(v, depth + 1, seen)).join(", ")} }`;
    if (value instanceof Date) return value.toISOString();
    const entries = Object.keys(value as object).map(
      (k) =>
        `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${format((value as Record<string, unknown>)[k], depth + 1, seen)}`,
    );
    return entries.length ? `{ ${entries.join(", ")} }` : "{}";
  } finally {
    seen.delete(value);
  }
}

export function makeConsole(hook: LogHook | undefined): Record<string, (...args: unknown[]) => void> {
  const emit =
    (level: string) =>
    (...args: unknown[]) => {
      if (!hook) return;
      let message: string;
      try {
        message = args.map((a) => format(a, 0, new Set())).join(" ");
      } catch {
        message = "[unformattable value]";
      }
      hook(level, message.length > 16_384 ? `${message.slice(0, 16_384)}… [truncated]` : message);
    };
  return {
    log: emit("log"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    debug: emit("debug"),
    trace: emit("debug"),
  };
}
