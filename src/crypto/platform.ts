// What the platform offers, for the modules of this component that also run in browsers (the
// web console seals requests and opens answers with them). In Node, node:crypto (OpenSSL) and
// Buffer, which are faster than the pure-JS fallbacks; in a browser, undefined, and the
// callers use @noble and web APIs instead. node:crypto is reached through
// `process.getBuiltinModule`, never a static import, so that a browser bundle pulls in no Node
// built-in (as src/tee/dcap-crypto.ts does).

type NodeCrypto = typeof import("node:crypto");

const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;

/** node:crypto when running in Node; undefined in a browser. */
export const nodeCrypto = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;

/** Node's Buffer when running in Node; undefined in a browser. */
export const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
