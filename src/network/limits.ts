import { VeilError } from "../errors/index.ts";

/** The numeric limits an agent's owner may set; 0 means the network's default. */
export type RequestedLimits = {
  memoryMb: number;
  cpuTimeMs: number;
  wallTimeMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  maxConcurrent: number;
  maxStateBytes: number;
  /** Comma-separated hosts the agent may fetch from; "" means the network's default. */
  egressHosts: string;
};

export type NumericLimit = Exclude<keyof RequestedLimits, "egressHosts">;
export type RuntimeLimits = Record<NumericLimit, number>;

/** What an agent gets when its owner sets nothing. */
export const DEFAULT_AGENT_LIMITS: RuntimeLimits = {
  memoryMb: 128,
  cpuTimeMs: 2_000,
  wallTimeMs: 10_000,
  maxRequestBytes: 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
  maxConcurrent: 64,
  maxStateBytes: 16 * 1024 * 1024,
};

/** The most any agent may ask for on this network (worker configuration, in network.json). */
export const DEFAULT_NETWORK_MAXIMA: RuntimeLimits = {
  memoryMb: 512,
  cpuTimeMs: 30_000,
  wallTimeMs: 120_000,
  maxRequestBytes: 16 * 1024 * 1024,
  maxResponseBytes: 32 * 1024 * 1024,
  maxConcurrent: 256,
  maxStateBytes: 256 * 1024 * 1024,
};

export const NUMERIC_LIMITS = Object.keys(DEFAULT_AGENT_LIMITS) as NumericLimit[];

export type EffectiveLimits = RuntimeLimits & { egressHosts: string[] };

/**
 * The limits a worker enforces: each requested value, or the default where none was asked,
 * never above the network's maxima (a request over them is clamped, not trusted).
 */
export function effectiveLimits(
  requested: Partial<RequestedLimits> | undefined,
  maxima: RuntimeLimits = DEFAULT_NETWORK_MAXIMA,
  defaults: RuntimeLimits = DEFAULT_AGENT_LIMITS,
): EffectiveLimits {
  const out = { ...defaults } as RuntimeLimits;
  for (const k of NUMERIC_LIMITS) {
    const asked = requested?.[k] ?? 0;
    out[k] = Math.min(asked > 0 ? asked : defaults[k], maxima[k]);
  }
  const hosts = (requested?.egressHosts ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  return { ...out, egressHosts: hosts.length > 0 ? hosts : ["*"] };
}

/** Refuses, before anything is sent, limits that no worker of this network would grant. */
export function checkRequestedLimits(requested: Partial<RequestedLimits>, maxima: RuntimeLimits): void {
  const over = NUMERIC_LIMITS.filter((k) => (requested[k] ?? 0) > maxima[k]).map(
    (k) => `${k} ${requested[k]} > ${maxima[k]}`,
  );
  const negative = NUMERIC_LIMITS.filter((k) => {
    const v = requested[k];
    return v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff);
  });
  if (negative.length > 0) {
    throw new VeilError("LIMITS_INVALID", `Limits must be whole numbers from 0: ${negative.join(", ")}`, {
      hint: "0 means the network's default.",
    });
  }
  if (over.length > 0) {
    throw new VeilError("LIMITS_OVER_NETWORK_MAXIMUM", "Asked for more than this network allows", {
      context: over,
      hint: "Ask for no more than the maxima in network.json (runtime.maxima).",
    });
  }
}
