/**
 * Keeps the process from exiting while `work` (isolated-vm calls started in the background: a
 * spare isolate or realm being made, a heap reading) is in flight. isolated-vm's pending
 * tasks do not hold Node's event loop open, and a process that exits under one aborts inside
 * the addon (`IsolateEnvironment::GetCurrent` assertion) instead of exiting cleanly.
 */
export function holdOpen<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000);
  return work.finally(() => clearInterval(hold));
}
