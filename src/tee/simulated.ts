import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { VeilError } from "../errors/index.ts";
import type { Enclave, Evidence } from "./enclave.ts";
import { printInsecureBanner } from "./insecure-banner.ts";
import { buildMeasurement } from "./measurement.ts";
import { sealWithKey, unsealWithKey } from "./sealing.ts";
import {
  PLATFORM_SECRET,
  SIMULATED_EVIDENCE_FORMAT,
  type SimulatedEvidenceBody,
  signingPayload,
} from "./simulated-key.ts";

export {
  SIMULATED_EVIDENCE_FORMAT,
  SIMULATED_PLATFORM_PUBLIC_KEY,
  type SimulatedEvidenceBody,
  signingPayload,
} from "./simulated-key.ts";

/** The simulated backend. Sealing uses a key kept in the clear in the data directory. */
export class SimulatedEnclave implements Enclave {
  readonly backend = "simulated" as const;
  readonly insecure = true;
  readonly persistentSealing = true;
  readonly #sealingKey: Buffer;
  readonly #measurement: `0x${string}`;

  constructor(options: { dataDir: string; component: string; measurement?: `0x${string}` }) {
    printInsecureBanner(options.component);
    mkdirSync(options.dataDir, { recursive: true });
    const keyFile = join(options.dataDir, "simulated-sealing-key.INSECURE");
    if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    this.#sealingKey = readFileSync(keyFile);
    this.#measurement = options.measurement ?? buildMeasurement();
  }

  async measurement(): Promise<`0x${string}`> {
    return this.#measurement;
  }

  async attest(reportData: Uint8Array): Promise<Evidence> {
    if (reportData.length > 64) {
      throw new VeilError("ATTESTATION_REPORT_DATA_TOO_LONG", "Report data is at most 64 bytes", {
        context: [`got ${reportData.length} bytes`],
      });
    }
    const padded = new Uint8Array(64);
    padded.set(reportData);
    const body: SimulatedEvidenceBody = {
      format: SIMULATED_EVIDENCE_FORMAT,
      tee: "simulated",
      insecure: true,
      measurement: this.#measurement,
      reportData: Buffer.from(padded).toString("hex"),
      issuedAt: Math.floor(Date.now() / 1000),
    };
    const signature = Buffer.from(ed25519.sign(signingPayload(body), PLATFORM_SECRET)).toString("hex");
    return { tee: "simulated", bytes: new TextEncoder().encode(JSON.stringify({ ...body, signature })) };
  }

  async seal(plaintext: Uint8Array, label: string): Promise<Uint8Array> {
    return sealWithKey(this.#sealingKey, label, plaintext);
  }

  async unseal(sealed: Uint8Array, label: string): Promise<Uint8Array> {
    return unsealWithKey(this.#sealingKey, label, sealed);
  }
}
