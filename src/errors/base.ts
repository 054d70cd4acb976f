/**
 * One error type for the whole of Veil, after viem's BaseError: a stable machine-readable
 * `code` that callers branch on, a one-line message, context lines, and a hint that says
 * what to do. The same shape crosses HTTP (`toJSON`) and leaves the CLI (message + hint on
 * stderr, non-zero exit).
 */
export type VeilErrorOptions = {
  /** Lines of context: the arguments or state that made this fail. */
  context?: string[];
  /** What the user can do about it. */
  hint?: string;
  /** The underlying error, kept for `walk()` and debugging; never shown to remote callers. */
  cause?: unknown;
  /** HTTP status to use when this error crosses an HTTP boundary. */
  status?: number;
  /** Whether retrying the same request later can succeed. */
  retryable?: boolean;
};

export type VeilErrorJSON = {
  code: string;
  message: string;
  hint?: string;
  context?: string[];
  retryable?: boolean;
};

export class VeilError extends Error {
  override name = "VeilError";
  readonly code: string;
  readonly shortMessage: string;
  readonly context: string[];
  readonly hint: string | undefined;
  readonly status: number;
  readonly retryable: boolean;

  constructor(code: string, shortMessage: string, options: VeilErrorOptions = {}) {
    const lines = [shortMessage];
    if (options.context?.length) lines.push("", ...options.context.map((c) => `  ${c}`));
    if (options.hint) lines.push("", `Hint: ${options.hint}`);
    super(lines.join("\n"), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.context = options.context ?? [];
    this.hint = options.hint;
    this.status = options.status ?? 500;
    this.retryable = options.retryable ?? false;
  }

  /** Finds the first error in the cause chain for which `predicate` holds (this one included). */
  walk(predicate: (err: unknown) => boolean): unknown {
    let current: unknown = this;
    const seen = new Set<unknown>();
    while (current !== undefined && current !== null && !seen.has(current)) {
      if (predicate(current)) return current;
      seen.add(current);
      current = (current as { cause?: unknown }).cause;
    }
    return undefined;
  }

  toJSON(): VeilErrorJSON {
    const json: VeilErrorJSON = { code: this.code, message: this.shortMessage };
    if (this.hint) json.hint = this.hint;
    if (this.context.length) json.context = this.context;
    if (this.retryable) json.retryable = true;
    return json;
  }

  /** Rebuilds an error that crossed an HTTP boundary as JSON. */
  static fromJSON(json: VeilErrorJSON, status = 500): VeilError {
    return new VeilError(json.code, json.message, {
      ...(json.hint ? { hint: json.hint } : {}),
      ...(json.context ? { context: json.context } : {}),
      retryable: json.retryable ?? false,
      status,
    });
  }
}

/** True when `value` looks like a serialized VeilError (for parsing HTTP bodies). */
export function isVeilErrorJSON(value: unknown): value is VeilErrorJSON {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}
