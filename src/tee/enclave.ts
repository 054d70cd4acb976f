/** The TEE backends Veil knows. Only `simulated` exists without TEE hardware, and it is INSECURE. */
export type TeeKind = "simulated" | "sgx" | "tdx";

/** Attestation evidence as produced by a backend: its kind and the raw bytes (a quote). */
export type Evidence = { tee: TeeKind; bytes: Uint8Array };

/**
 * What a TEE gives Veil: evidence that binds data we choose (a hash of our identity keys) to
 * a measured build, and sealing of secrets to this enclave. Workers and gatekeepers use only
 * this interface, never a backend directly.
 */
export interface Enclave {
  readonly backend: "simulated" | "tdx" | "dstack";
  /** True for backends that give no hardware protection; callers must say so loudly. */
  readonly insecure: boolean;
  /**
   * Whether sealed data can be opened after a restart. A plain TDX guest has no sealing key
   * of its own, so what it seals lives only as long as the process: nodes then make a fresh
   * identity on every start and re-register.
   */
  readonly persistentSealing: boolean;
  /** The measurement (32 bytes, hex) of the code this enclave runs. */
  measurement(): Promise<`0x${string}`>;
  /** Evidence whose report data is `reportData` (at most 64 bytes). */
  attest(reportData: Uint8Array): Promise<Evidence>;
  /** Encrypts `plaintext` so only this enclave (same measurement, same machine) can open it. */
  seal(plaintext: Uint8Array, label: string): Promise<Uint8Array>;
  unseal(sealed: Uint8Array, label: string): Promise<Uint8Array>;
}

export const TEE_TYPE_IDS: Record<TeeKind, number> = { simulated: 0, sgx: 1, tdx: 2 };
