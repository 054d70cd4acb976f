import {
  closeSync,
  existsSync,
  fdatasyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { VeilError } from "../errors/index.ts";

/**
 * The embedded chain's journal: one JSON line per request that changed the chain, written and
 * flushed to disk before the request is answered (docs/adr/0019). Replaying it onto a fresh
 * chain from the same genesis rebuilds the same blocks, hashes included: EDR is deterministic
 * once every block's timestamp is given back to it.
 */
export type JournalHeader = {
  kind: "veil-chain-journal";
  version: 1;
  chainId: number;
  /** The genesis block's date; the same genesis makes the same chain. */
  genesisDate: string;
};

export type JournalEntry = {
  /** The JSON-RPC method and its params, as the client sent them. */
  m: string;
  p: unknown[];
  /** Blocks it mined: the first and last number, the first one's timestamp, the last one's hash. */
  b?: { from: number; to: number; time: number; hash: string };
  /** Chain time minus wall time (seconds) when it was mined: resume keeps the chain's clock. */
  o?: number;
};

export class ChainJournal {
  readonly path: string;
  readonly header: JournalHeader;
  readonly #fd: number;
  /** Where the next entry goes: the end of the last whole entry. */
  #position: number;

  private constructor(path: string, header: JournalHeader, fd: number, position: number) {
    this.path = path;
    this.header = header;
    this.#fd = fd;
    this.#position = position;
  }

  /**
   * Opens the journal at `path`, making it with `fresh` as its header when there is none. A
   * last line cut short by a crash (never answered, so never acknowledged) is dropped; any
   * other damage is an error that names the file.
   */
  static open(path: string, fresh: () => JournalHeader): { journal: ChainJournal; entries: JournalEntry[] } {
    if (!existsSync(path)) {
      const header = fresh();
      const fd = openSync(path, "wx");
      const line = Buffer.from(`${JSON.stringify(header)}\n`);
      writeSync(fd, line);
      fdatasyncSync(fd);
      return { journal: new ChainJournal(path, header, fd, line.length), entries: [] };
    }
    const text = readFileSync(path, "utf8");
    const lines = text.split("\n");
    // A complete file ends with "\n", so its last piece is empty; anything else is a torn write.
    const tail = lines.pop() ?? "";
    let validLength = text.length - tail.length;
    const corrupt = (line: number, problem: string) =>
      new VeilError(
        "CHAIN_JOURNAL_CORRUPT",
        `The chain journal ${path} is damaged at line ${line}: ${problem}`,
        {
          hint: "Restore the file from a backup, or start a new network with `veil up --fresh` (the old chain's state is then gone).",
        },
      );
    if (lines.length === 0) throw corrupt(1, "no header (the file is empty or cut short)");
    let header: JournalHeader;
    try {
      header = JSON.parse(lines[0] ?? "") as JournalHeader;
    } catch {
      throw corrupt(1, "the header is not JSON");
    }
    if (
      header.kind !== "veil-chain-journal" ||
      header.version !== 1 ||
      typeof header.genesisDate !== "string"
    ) {
      throw corrupt(1, "not a Veil chain journal (version 1)");
    }
    const entries: JournalEntry[] = [];
    for (let i = 1; i < lines.length; i++) {
      let entry: JournalEntry;
      try {
        entry = JSON.parse(lines[i]!) as JournalEntry;
      } catch {
        // Only the last complete line can be half a record (a crash between write and newline
        // cannot happen, as each record is one write, but a torn sector could).
        if (i === lines.length - 1 && tail === "") {
          validLength -= lines[i]!.length + 1;
          break;
        }
        throw corrupt(i + 1, "not JSON");
      }
      if (typeof entry.m !== "string" || !Array.isArray(entry.p)) throw corrupt(i + 1, "not a journal entry");
      entries.push(entry);
    }
    const fd = openSync(path, "r+");
    const position = Buffer.byteLength(text.slice(0, validLength));
    if (position < Buffer.byteLength(text)) {
      ftruncateSync(fd, position);
      fdatasyncSync(fd);
    }
    return { journal: new ChainJournal(path, header, fd, position), entries };
  }

  /** Appends one entry and waits until it is on disk. */
  append(entry: JournalEntry): void {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    let written = 0;
    while (written < line.length) {
      written += writeSync(this.#fd, line, written, line.length - written, this.#position + written);
    }
    this.#position += line.length;
    fdatasyncSync(this.#fd);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
