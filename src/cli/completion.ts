import type { Command } from "commander";
import { VeilError } from "../errors/index.ts";

/** Every command under `program`, with its options: what `veil commands` and completion read. */
export type CommandInfo = { command: string; description: string; options: string[] };

export function commandTree(program: Command): CommandInfo[] {
  const all: CommandInfo[] = [];
  const walk = (cmd: Command, path: string[]) => {
    for (const sub of cmd.commands) {
      const name = [...path, sub.name()];
      all.push({
        command: name.join(" "),
        description: sub.description(),
        options: sub.options.map((o) => o.flags),
      });
      walk(sub, name);
    }
  };
  walk(program, []);
  return all;
}

/** The long option names in commander flags ("-f, --follow", "--from <account>" → "--follow"…). */
const longOptions = (options: string[]) =>
  options.flatMap((f) => f.split(/[ ,|]+/).filter((w) => w.startsWith("--")));

/** What may follow a command path ("" is the top level): its subcommands, or its options. */
function table(tree: CommandInfo[]): Map<string, { subcommands: string[]; options: string[] }> {
  const out = new Map<string, { subcommands: string[]; options: string[] }>([
    ["", { subcommands: [], options: ["--help", "--version"] }],
  ]);
  for (const c of tree) {
    const parent = c.command.split(" ").slice(0, -1).join(" ");
    out.get(parent)?.subcommands.push(c.command.split(" ").at(-1)!);
    out.set(c.command, { subcommands: [], options: [...longOptions(c.options), "--help"] });
  }
  return out;
}

const shellWords = (words: string[]) => words.join(" ").replace(/[^\w .:/@-]/g, "");

function bash(tree: CommandInfo[]): string {
  const t = table(tree);
  const cases = [...t.entries()]
    .map(
      ([path, { subcommands, options }]) =>
        `    "${path}") subs="${shellWords(subcommands)}"; opts="${shellWords(options)}" ;;`,
    )
    .join("\n");
  return `# veil completion for bash (and zsh through bashcompinit). Install:
#   npx veil completion bash > ~/.local/share/bash-completion/completions/veil
_veil() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w subs opts i
  # The command path so far: the words that name a subcommand of what came before.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    subs=""; _veil_node "$path"
    case " $subs " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  _veil_node "$path"
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
  fi
}
_veil_node() {
  subs=""; opts=""
  case "$1" in
${cases}
  esac
}
complete -o default -F _veil veil
`;
}

function fish(tree: CommandInfo[]): string {
  const t = table(tree);
  const lines = [
    "# veil completion for fish. Install: npx veil completion fish > ~/.config/fish/completions/veil.fish",
    "complete -c veil -f",
  ];
  for (const [path, { subcommands, options }] of t) {
    const words = path ? path.split(" ") : [];
    // A path is current when its last word was seen and none of its subcommands yet.
    const condition = words.length
      ? `__fish_seen_subcommand_from ${words.at(-1)}${subcommands.length ? `; and not __fish_seen_subcommand_from ${subcommands.join(" ")}` : ""}`
      : "__fish_use_subcommand";
    for (const sub of subcommands) {
      const description = tree.find((c) => c.command === (path ? `${path} ${sub}` : sub))?.description ?? "";
      lines.push(
        `complete -c veil -n '${condition}' -a ${sub} -d '${description.replace(/'/g, "").slice(0, 70)}'`,
      );
    }
    for (const o of options) lines.push(`complete -c veil -n '${condition}' -l ${o.slice(2)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A completion script for `shell`: bash, zsh (bash's, through bashcompinit) or fish. */
export function completionScript(shell: string, tree: CommandInfo[]): string {
  if (shell === "bash") return bash(tree);
  if (shell === "zsh") return `autoload -U +X bashcompinit && bashcompinit\n${bash(tree)}`;
  if (shell === "fish") return fish(tree);
  throw new VeilError("BAD_ARGUMENT", `No completion for "${shell}"`, { hint: "Use bash, zsh or fish." });
}
