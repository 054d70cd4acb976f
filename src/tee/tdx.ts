import { randomBytes } from "node:crypto";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { VeilError } from "../errors/index.ts";
import { type CollateralSource, encodeDcapEvidence } from "./dcap-evidence.ts";
import type { Enclave, Evidence } from "./enclave.ts";
import { measurementOfOwnTdxQuote } from "./quote-measurement.ts";
import { sealWithKey, unsealWithKey } from "./sealing.ts";

export const DEFAULT_CONFIGFS_TSM = "/sys/kernel/config/tsm/report";

export type TdxEnclaveOptions = {
  /** The configfs-tsm report directory (Linux ≥ 6.7 in a TDX guest). */
  configfsRoot?: string;
  /** Where the collateral for this machine's quotes comes from. */
  collateral: CollateralSource;
  /** How long to wait for the kernel to populate a new report entry. */
  entryTimeoutMs?: number;
};

function tdxError(message: string, hint: string, cause?: unknown): VeilError {
  return new VeilError("TEE_UNAVAILABLE", message, { hint, cause });
}

/**
 * A TDX guest that asks the kernel for quotes through the configfs-tsm report interface:
 * make an entry, write the report data to `inblob`, read the quote from `outblob`, and check
 * with `generation` that no other writer raced us in between (the kernel bumps it on every
 * write). A plain TDX guest has no sealing key, so sealing lasts only as long as the process.
 */
export class TdxEnclave implements Enclave {
  readonly backend = "tdx" as const;
  readonly insecure = false;
  readonly persistentSealing = false;
  readonly #root: string;
  readonly #collateral: CollateralSource;
  readonly #entryTimeoutMs: number;
  readonly #sealingKey = randomBytes(32);
  #measurement: `0x${string}` | undefined;

  constructor(options: TdxEnclaveOptions) {
    this.#root = options.configfsRoot ?? DEFAULT_CONFIGFS_TSM;
    this.#collateral = options.collateral;
    this.#entryTimeoutMs = options.entryTimeoutMs ?? 2_000;
  }

  async measurement(): Promise<`0x${string}`> {
    this.#measurement ??= measurementOfOwnTdxQuote(await this.quote(new Uint8Array(64)));
    return this.#measurement;
  }

  async attest(reportData: Uint8Array): Promise<Evidence> {
    const quote = await this.quote(reportData);
    return encodeDcapEvidence("tdx", quote, await this.#collateral(quote));
  }

  /** A raw TDX quote over `reportData` (zero-padded to 64 bytes). */
  async quote(reportData: Uint8Array): Promise<Uint8Array> {
    if (reportData.length > 64) {
      throw new VeilError("ATTESTATION_REPORT_DATA_TOO_LONG", "Report data is at most 64 bytes", {
        context: [`got ${reportData.length} bytes`],
      });
    }
    const inblob = new Uint8Array(64);
    inblob.set(reportData);
    const entry = join(this.#root, `veil-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      await mkdir(entry);
    } catch (err) {
      throw tdxError(
        `Cannot create a TDX report entry under ${this.#root}`,
        "Run inside a TDX guest with configfs mounted (Linux ≥ 6.7, CONFIG_TSM_REPORTS), as root, or choose --tee simulated for development.",
        err,
      );
    }
    try {
      await this.#waitForEntry(entry);
      const provider = (await readFile(join(entry, "provider"), "utf8")).trim();
      if (provider !== "tdx_guest") {
        throw tdxError(
          `The configfs-tsm provider is "${provider}", not tdx_guest`,
          "Run inside a TDX guest.",
        );
      }
      const before = await readGeneration(entry);
      await writeFile(join(entry, "inblob"), inblob);
      const quote = new Uint8Array(await readFile(join(entry, "outblob")));
      const after = await readGeneration(entry);
      // Our one write bumps the generation by exactly one; more means another writer.
      if (after !== before + 1) {
        throw new VeilError(
          "TEE_REPORT_RACED",
          "Another writer changed the TDX report entry while it was read",
          {
            retryable: true,
            hint: "Retry; each request makes its own entry, so this means something else writes to it.",
          },
        );
      }
      if (quote.length < 48)
        throw tdxError("The TDX quote is empty or truncated", "Check the guest's quote service (QGS).");
      return quote;
    } finally {
      await rmdir(entry).catch(() => {});
    }
  }

  /** configfs fills a new entry at once; the wait covers slower (emulated) file systems. */
  async #waitForEntry(entry: string): Promise<void> {
    const deadline = Date.now() + this.#entryTimeoutMs;
    for (;;) {
      try {
        await readFile(join(entry, "provider"));
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw tdxError(
            `The TDX report entry ${entry} has no provider attribute`,
            "Is this a configfs-tsm directory?",
            err,
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }

  async seal(plaintext: Uint8Array, label: string): Promise<Uint8Array> {
    return sealWithKey(this.#sealingKey, label, plaintext);
  }

  async unseal(sealed: Uint8Array, label: string): Promise<Uint8Array> {
    return unsealWithKey(this.#sealingKey, label, sealed);
  }
}

async function readGeneration(entry: string): Promise<number> {
  const text = (await readFile(join(entry, "generation"), "utf8")).trim();
  if (!/^\d+$/.test(text))
    throw tdxError(`The report entry's generation is "${text}"`, "Is this a configfs-tsm directory?");
  return Number(text);
}
