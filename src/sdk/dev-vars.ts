import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { VeilError } from "../errors/index.ts";

/** The file `veil dev` reads an agent's local secrets from, as Cloudflare's wrangler does. */
export const DEV_VARS_FILE = ".dev.vars";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses dotenv lines: `NAME=value`, `# comments`, blank lines, an optional `export `, values in
 * single quotes (as written) or double quotes (with \n, \t, \" and \\ escapes). What a deployed
 * agent gets with `veil secrets set`, it gets locally from here, as `env.NAME`.
 *
 * @example
 * parseDevVars('LLM_API_KEY="sk-test"\nMODEL=small\n', ".dev.vars") // { LLM_API_KEY: "sk-test", MODEL: "small" }
 */
export function parseDevVars(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = (eq < 0 ? line : line.slice(0, eq)).replace(/^export\s+/, "").trim();
    if (eq < 0 || !NAME.test(name)) {
      throw new VeilError("DEV_VARS_INVALID", `${file}:${i + 1} is not NAME=value`, {
        context: [raw],
        hint: "Write one NAME=value per line (names of letters, digits and _), # for comments.",
      });
    }
    let value = line.slice(eq + 1).trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"')
        value = value.replace(/\\([nt"\\])/g, (_m, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
    } else {
      // An unquoted value ends at an inline comment, as in dotenv.
      value = value.replace(/\s+#.*$/, "");
    }
    out[name] = value;
  }
  return out;
}

/**
 * The variables `veil dev` gives an agent: `.dev.vars` in its directory when there is one, then
 * each `--env FILE` in order (later names win). Read again on every reload.
 */
export function readDevVars(dir: string, files: readonly string[] = []): Record<string, string> {
  const sources = [join(dir, DEV_VARS_FILE)].filter((f) => existsSync(f));
  const out: Record<string, string> = {};
  for (const file of [...sources, ...files]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new VeilError("DEV_VARS_UNREADABLE", `Cannot read ${file}`, {
        cause: err,
        hint: "Check the path given to --env.",
      });
    }
    Object.assign(out, parseDevVars(text, file));
  }
  return out;
}
