import { Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";

// One way to say who signs, on every command that sends a transaction or signs a request
// (src/cli/README.md, "One grammar"): `--from` names an account, `--private-key` gives a key.

export type SignerFlags = { from?: string; privateKey?: string };

export const fromOption = () =>
  new Option(
    "--from <account>",
    'who signs: a DEV ONLY account of a dev network by role ("user", "operator-1", "deployer"…) or address, env:VAR, or a 0x key (default: $VEIL_PRIVATE_KEY, then "user")',
  );

export const privateKeyOption = () =>
  new Option("--private-key <hex>", "the key that signs (32 bytes of 0x-hex; overrides --from)");

const isKey = (s: string | undefined): s is Hex => s !== undefined && /^0x[0-9a-fA-F]{64}$/.test(s);

/**
 * A key named on the command line: 0x-hex, `env:NAME` (read from the environment, so it stays
 * out of shell history), or a dev account of the network by role or address.
 *
 * @example
 * resolveKeySpec(network, "operator-1"); resolveKeySpec(network, "env:CALLER_KEY")
 */
export function resolveKeySpec(network: NetworkFile, spec: string): Hex {
  const accounts = network.devAccounts?.accounts ?? [];
  if (spec.startsWith("env:")) {
    const value = process.env[spec.slice(4)];
    if (isKey(value)) return value;
    throw new VeilError("BAD_ARGUMENT", `${spec} holds no key`, {
      hint: `Set ${spec.slice(4)} to 32 bytes of 0x-hex.`,
    });
  }
  if (isKey(spec)) return spec;
  const dev = accounts.find(
    (a) =>
      a.role === spec ||
      a.address.toLowerCase() === spec.toLowerCase() ||
      (spec === "deployer" && a.role === "deployer-governance"),
  );
  if (dev) return dev.privateKey;
  throw new VeilError(
    "NO_ACCOUNT",
    `"${/^0x[0-9a-fA-F]{50,}$/.test(spec) ? "<key>" : spec}" names no account`,
    {
      hint: accounts.length
        ? `Use a dev account (${accounts.map((a) => a.role).join(", ")}), env:VAR, or 32 bytes of 0x-hex.`
        : "This network lists no dev accounts: use env:VAR or 32 bytes of 0x-hex (or set VEIL_PRIVATE_KEY).",
    },
  );
}

/** Who signs: --private-key, else --from, else $VEIL_PRIVATE_KEY, else the dev account `fallbackRole`. */
export function resolveSigner(network: NetworkFile, flags: SignerFlags, fallbackRole = "user"): Hex {
  if (flags.privateKey !== undefined) {
    if (!isKey(flags.privateKey))
      throw new VeilError("BAD_ARGUMENT", "The private key must be 32 bytes of hex with a 0x prefix", {
        hint: "Or name an account with --from (a dev role, env:VAR).",
      });
    return flags.privateKey;
  }
  if (flags.from !== undefined) return resolveKeySpec(network, flags.from);
  const env = process.env.VEIL_PRIVATE_KEY;
  if (env !== undefined) {
    if (!isKey(env))
      throw new VeilError("BAD_ARGUMENT", "VEIL_PRIVATE_KEY is not 32 bytes of hex with a 0x prefix", {});
    return env;
  }
  if (!network.devAccounts?.accounts.length)
    throw new VeilError("NO_ACCOUNT", "No account to sign with", {
      hint: "Pass --from env:VAR or --private-key, or set VEIL_PRIVATE_KEY.",
    });
  return resolveKeySpec(network, fallbackRole);
}

/**
 * An account named where an address is wanted (`--allow`, `transfer NEW_OWNER`, `--for`): a 0x
 * address as it is, or a dev account by role ("operator-3"), the same names `--from` takes.
 *
 * @example
 * addressSpec(network, "operator-3"); addressSpec(network, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
 */
export function addressSpec(network: NetworkFile, spec: string): Hex {
  if (/^0x[0-9a-fA-F]{40}$/.test(spec)) return spec as Hex;
  const accounts = network.devAccounts?.accounts ?? [];
  const dev = accounts.find(
    (a) => a.role === spec || (spec === "deployer" && a.role === "deployer-governance"),
  );
  if (dev) return dev.address as Hex;
  throw new VeilError("BAD_ARGUMENT", `"${spec}" is not an address`, {
    hint: accounts.length
      ? `Use 0x and 40 hex digits, or a dev account (${accounts.map((a) => a.role).join(", ")}).`
      : "Use 0x and 40 hex digits.",
  });
}

/** A dev account's address by role ("user", "operator-3", "deployer"), if the network has it. */
export function devAddress(network: NetworkFile, role: string): Hex | undefined {
  const dev = network.devAccounts?.accounts.find(
    (a) => a.role === role || (role === "deployer" && a.role === "deployer-governance"),
  );
  return dev?.address as Hex | undefined;
}
