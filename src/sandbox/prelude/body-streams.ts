// Bodies the host reads out of the realm chunk by chunk, by id: a streamed response the agent
// answers with (dispatch.ts) and a streamed request body it sends with fetch (fetch.ts). The
// host pulls each chunk through the realm's `pull` entry, so a slow reader holds the producer back.
import type { ReadableStream, ReadableStreamDefaultReader } from "web-streams-polyfill";

export type BodyStream = { reader: ReadableStreamDefaultReader<unknown>; llmReceipts: unknown[] };

/** This realm's bodies being read by the host (the prelude runs once per realm). */
export const bodyStreams = new Map<number, BodyStream>();
let next = 1;

/** Locks the stream and lets the host pull it by the id returned. */
export function offerStream(stream: ReadableStream, llmReceipts: unknown[] = []): number {
  const reader = stream.getReader();
  const id = next++;
  bodyStreams.set(id, { reader, llmReceipts });
  return id;
}
