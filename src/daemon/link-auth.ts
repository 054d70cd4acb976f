import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { dirname, join } from "node:path";
import { type Hex, isAddress, isHex, recoverMessageAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { VeilError } from "../errors/index.ts";

/**
 * Who may open the gateway link (`veil-link/1`) on a worker (docs/adr/0018). The link carries
 * every agent's requests at once and its answers are buffered for the peer, so a stranger who
 * opened it and never read could make a worker hold gigabytes. A gateway signs each link it
 * opens with its link key: the worker it is for, the time and a fresh nonce; a worker takes links
 * only from the gateway addresses its operator (or `veil up`) listed, within a minute of the time
 * signed, each nonce once.
 */
export const LINK_AUTH = {
  gateway: "x-veil-link-gateway",
  time: "x-veil-link-time",
  nonce: "x-veil-link-nonce",
  signature: "x-veil-link-signature",
} as const;

/** How far a link's signed time may be from the worker's clock. */
export const LINK_AUTH_WINDOW_MS = 60_000;

/** What a gateway signs to open a link to `worker`. */
export function linkAuthMessage(worker: string, time: number, nonce: string): string {
  return `veil-link/1 open\nworker: ${worker.toLowerCase()}\ntime: ${time}\nnonce: ${nonce}`;
}

/**
 * The headers that open a link to `worker` as the gateway whose link key is `key`.
 *
 * @example
 * const headers = await linkAuthHeaders(key, "0x3a6c…");
 * http.request(`${workerUrl}/v1/link`, { headers: { ...headers, connection: "Upgrade", upgrade: "veil-link/1" } });
 */
export async function linkAuthHeaders(
  key: Hex,
  worker: string,
  now = Date.now(),
): Promise<Record<string, string>> {
  const account = privateKeyToAccount(key);
  const nonce = `0x${randomBytes(16).toString("hex")}`;
  const signature = await account.signMessage({ message: linkAuthMessage(worker, now, nonce) });
  return {
    [LINK_AUTH.gateway]: account.address,
    [LINK_AUTH.time]: String(now),
    [LINK_AUTH.nonce]: nonce,
    [LINK_AUTH.signature]: signature,
  };
}

function refused(why: string): VeilError {
  return new VeilError("LINK_UNAUTHENTICATED", `This worker does not take this link: ${why}`, {
    status: 401,
    hint: "Only gateways the worker's operator lists (veil worker --link-peer ADDRESS) may open the link; others call the worker over HTTP.",
  });
}

/** The worker's side: checks a link's upgrade request against the gateways it takes links from. */
export class LinkAuthenticator {
  readonly #self: string;
  readonly #peers: Set<string>;
  /** Nonces seen within the window, with when they may be forgotten. */
  readonly #seen = new Map<string, number>();

  constructor(self: string, peers: readonly string[]) {
    this.#self = self.toLowerCase();
    this.#peers = new Set(peers.map((p) => p.toLowerCase()));
  }

  /** The gateway the request is signed by, or why it is refused. */
  async check(headers: IncomingHttpHeaders, now = Date.now()): Promise<{ gateway: string } | VeilError> {
    const one = (name: string) => {
      const v = headers[name];
      return typeof v === "string" ? v : undefined;
    };
    const gateway = one(LINK_AUTH.gateway);
    const time = Number(one(LINK_AUTH.time));
    const nonce = one(LINK_AUTH.nonce);
    const signature = one(LINK_AUTH.signature);
    if (!gateway || !nonce || !signature) return refused("it is not signed by a gateway");
    if (!isAddress(gateway) || !isHex(signature) || !/^0x[0-9a-f]{32}$/.test(nonce)) {
      return refused("its signature headers are malformed");
    }
    if (!this.#peers.has(gateway.toLowerCase()))
      return refused(`gateway ${gateway} is not one it takes links from`);
    if (!Number.isSafeInteger(time) || Math.abs(now - time) > LINK_AUTH_WINDOW_MS) {
      return refused("its signed time is more than a minute from this worker's clock");
    }
    this.#forget(now);
    if (this.#seen.has(nonce)) return refused("its nonce was used before (a replayed link)");
    let signer: string;
    try {
      signer = await recoverMessageAddress({
        message: linkAuthMessage(this.#self, time, nonce),
        signature: signature as Hex,
      });
    } catch {
      return refused("its signature does not verify");
    }
    // Signed for another worker, or by another key: the recovered signer is not the gateway named.
    if (signer.toLowerCase() !== gateway.toLowerCase())
      return refused("its signature is not the named gateway's for this worker");
    this.#seen.set(nonce, time + LINK_AUTH_WINDOW_MS);
    return { gateway: gateway.toLowerCase() };
  }

  /** A nonce past its window can never be taken again (its time is refused), so it is forgotten. */
  #forget(now: number): void {
    if (this.#seen.size < 1024) return;
    for (const [n, until] of this.#seen) if (until < now) this.#seen.delete(n);
  }
}

/**
 * A gateway's link key from `file`, made there (owner-only) on first use. Its address is what
 * workers list as a link peer.
 */
export function loadOrCreateLinkKey(file: string): { key: Hex; address: Hex } {
  let key: string;
  if (existsSync(file)) {
    key = readFileSync(file, "utf8").trim();
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
      throw new VeilError("LINK_KEY_INVALID", `${file} does not hold a link key (32 bytes of hex)`, {
        hint: "Remove the file to make a new key; then list the new address on the workers (--link-peer).",
      });
    }
  } else {
    key = generatePrivateKey();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
  }
  return { key: key as Hex, address: privateKeyToAccount(key as Hex).address };
}

/**
 * Where a gateway keeps its link key unless told: beside the network file, so that `veil up`
 * can list its address on the workers it starts before the gateway.
 */
export function defaultLinkKeyFile(networkFile: string): string {
  return join(dirname(networkFile), "gateway-link.key");
}
