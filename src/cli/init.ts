import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VeilError } from "../errors/index.ts";

const templatesDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../templates");

/** Examples with a package.json are templates too (`veil init --template price-oracle`). */
const examplesDir = resolve(templatesDir, "../examples");
const templateDir = (name: string) =>
  existsSync(join(templatesDir, name, "package.json")) ? join(templatesDir, name) : join(examplesDir, name);

export function listTemplates(): string[] {
  const examples = existsSync(examplesDir)
    ? readdirSync(examplesDir).filter((d) => existsSync(join(examplesDir, d, "package.json")))
    : [];
  return [
    ...readdirSync(templatesDir).filter((d) => existsSync(join(templatesDir, d, "package.json"))),
    ...examples,
  ];
}

/** Each template with the one-line description from its package.json. */
export function describeTemplates(): { name: string; description: string }[] {
  return listTemplates().map((name) => {
    let description = "";
    try {
      const pkg = JSON.parse(readFileSync(join(templateDir(name), "package.json"), "utf8")) as {
        description?: unknown;
      };
      if (typeof pkg.description === "string") description = pkg.description.split(":")[0]!.trim();
    } catch {}
    return { name, description };
  });
}

/**
 * The agents a project made from a template holds: the project itself, or (for a template of
 * several agents, like pipeline) each folder of it with a package.json; with the name each
 * would be deployed under.
 */
export function agentsIn(target: string): { dir: string; name: string }[] {
  const isAgent = (d: string) => existsSync(join(d, "src"));
  if (isAgent(target)) return [{ dir: target, name: agentName(basename(target)) }];
  return readdirSync(target)
    .map((d) => join(target, d))
    .filter((d) => existsSync(join(d, "package.json")) && isAgent(d))
    .map((d) => {
      const pkg = JSON.parse(readFileSync(join(d, "package.json"), "utf8")) as { name?: unknown };
      return { dir: d, name: agentName(typeof pkg.name === "string" ? pkg.name : basename(d)) };
    });
}

const agentName = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^[^a-z]+/, "") || "agent";

/** Copies a template into `dir`, naming the package after the directory. */
export function initAgent(dir: string, template: string): string {
  const target = resolve(dir);
  const source = templateDir(template);
  if (!existsSync(join(source, "package.json"))) {
    throw new VeilError("TEMPLATE_NOT_FOUND", `There is no template "${template}"`, {
      hint: `Choose one of: ${listTemplates().join(", ")}.`,
    });
  }
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new VeilError("DIRECTORY_NOT_EMPTY", `${target} already exists and is not empty`, {
      hint: "Choose a new directory name.",
    });
  }
  cpSync(source, target, { recursive: true });
  const pkgPath = join(target, "package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as Record<string, unknown>;
  pkg.name = basename(target)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-");
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  return target;
}
