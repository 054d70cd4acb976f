// Hands a realm the host's operations and takes its entry points back, both by the names in the
// bridge's table (bridge.ts): nothing here is matched by position or written twice.
import ivm from "isolated-vm";
import {
  ENTRIES_GLOBAL,
  HOST_GLOBAL,
  HOST_OPS,
  type HostImplementation,
  type HostOpName,
  REALM_ENTRIES,
  type RealmConfig,
} from "./bridge.ts";

/** The host's operations for one realm; an operation this host does not offer is `undefined`. */
export type HostOperations = { [K in HostOpName]: HostImplementation[K] | undefined };

const NAMES = Object.keys(HOST_OPS) as HostOpName[];
// One script for every realm, made from the table: the operations by name, then the config.
const HANDOFF = `globalThis.${HOST_GLOBAL} = { ops: { ${NAMES.map((n, i) => `${n}: $${i}`).join(", ")} }, config: $${NAMES.length} };`;

/**
 * Leaves the operations in the realm for the prelude to take. An asynchronous one is a
 * Reference whose answer is copied into the isolate; a synchronous one a Callback (isolated-vm
 * copies its arguments and result).
 */
export async function handOver(
  context: ivm.Context,
  ops: HostOperations,
  config: RealmConfig,
): Promise<void> {
  const args = NAMES.map((name) => {
    const op = ops[name] as ((...a: unknown[]) => unknown) | undefined;
    if (!op) return undefined;
    if (HOST_OPS[name] === "sync") return new ivm.Callback(op);
    return new ivm.Reference(async (...a: unknown[]) =>
      new ivm.ExternalCopy(await op(...a)).copyInto({ release: true }),
    );
  });
  await context.evalClosure(HANDOFF, [...args, new ivm.ExternalCopy(config).copyInto({ release: true })], {
    timeout: 1000,
  });
}

/** The realm's entry points (bridge.ts RealmEntries) as References, hidden from agent code. */
export type EntryReferences = { [K in (typeof REALM_ENTRIES)[number]]: ivm.Reference };

/** Takes the entry points the realm script left, and deletes them from its global object. */
export async function takeEntries(context: ivm.Context): Promise<EntryReferences> {
  const global = context.global;
  const left = (await global.get(ENTRIES_GLOBAL, { reference: true })) as ivm.Reference;
  await global.delete(ENTRIES_GLOBAL);
  const out: Partial<EntryReferences> = {};
  for (const name of REALM_ENTRIES) out[name] = (await left.get(name, { reference: true })) as ivm.Reference;
  left.release();
  return out as EntryReferences;
}
