// Node's `Buffer`, for Phala-style agents only (phala.ts): the wapo runtime gives its guests
// the `buffer` package's (feross/buffer, the browser Buffer bundlers use), and Phala's examples
// hex-encode derived keys with `Buffer.from(bytes).toString("hex")`. Evaluated on first use,
// as the streams are: esbuild keeps a required CommonJS module as a function it runs then.

declare const require: (id: string) => unknown;

let loaded: { Buffer: unknown } | undefined;
export function nodeBuffer(): unknown {
  loaded ??= require("buffer/index.js") as { Buffer: unknown };
  return loaded.Buffer;
}
