/**
 * A module of the invoke path, loaded on first use and then kept: every `import()` call goes
 * through the module loader's resolution again (through loader hooks, a message to another
 * thread), which showed as a tenth of an invoking process's CPU.
 *
 * @example
 * const receiptsModule = once(() => import("./receipts.ts"));
 * const { verifyReceipt } = await receiptsModule();
 */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load();
    return loaded;
  };
}
