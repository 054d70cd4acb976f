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
