import { type Hex, recoverMessageAddress } from "viem";
import type { VeilChain } from "../chain/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { callGatekeeper } from "../gatekeeper/client.ts";
import { type AnchorCounters, anchorDigest, type HeldAnchor } from "../gatekeeper/protocol.ts";
import type { FileStateAnchor } from "../storage/state-versions.ts";

export type AnchoringOptions = {
  chain: VeilChain;
  identity: NodeIdentity;
  anchor: FileStateAnchor;
  log: (message: string) => void;
  /** How often counters that rose are sent to the gatekeepers (default 1 s). */
  intervalMs?: number;
};

/**
 * Keeps this worker's state counters (agents' state heads, its fee ledger's) at the gatekeepers
 * as well as in its data directory (docs/adr/0020): at start it takes back the highest they
 * hold, so a host that restored the worker's directory together with the state store is caught
 * (STATE_ROLLBACK_DETECTED) for every write anchored before; then it sends counters that rose
 * every second. A write newer than the last send can still be rolled back unseen.
 */
export class GatekeeperAnchoring {
  readonly #o: AnchoringOptions;
  #sentChanges = -1;

  constructor(options: AnchoringOptions) {
    this.#o = options;
  }

  /**
   * Takes back the counters the gatekeepers hold for this worker (the highest of each), checked
   * to be signed by a gatekeeper on chain. Returns how many gatekeepers answered.
   */
  async restore(): Promise<number> {
    const { chain, identity } = this.#o;
    let answered = 0;
    for (const g of (await chain.listGatekeepers()).filter((x) => x.active)) {
      try {
        const at = Math.floor(Date.now() / 1000);
        const digest = anchorDigest({
          chainId: chain.config.chainId,
          kind: "get",
          worker: identity.address,
          counters: {},
          at,
        });
        const held = (await callGatekeeper(g.endpoint, "/v1/anchor/get", {
          worker: identity.address,
          at,
          signature: await identity.account.signMessage({ message: { raw: digest } }),
        })) as HeldAnchor;
        const signer = await recoverMessageAddress({
          message: {
            raw: anchorDigest({
              chainId: chain.config.chainId,
              kind: "held",
              worker: identity.address,
              counters: held.counters,
              at,
            }),
          },
          signature: held.signature,
        });
        if (signer.toLowerCase() !== g.address.toLowerCase()) continue;
        this.#o.anchor.merge(held.counters);
        answered++;
      } catch (err) {
        this.#o.log(
          `anchors: gatekeeper ${g.endpoint} did not answer (${(err as Error).message.split("\n")[0]})`,
        );
      }
    }
    return answered;
  }

  /** Sends the counters now if any rose since the last send. */
  async push(): Promise<void> {
    const changes = this.#o.anchor.changes;
    if (changes === this.#sentChanges) return;
    const { chain, identity } = this.#o;
    const counters: AnchorCounters = this.#o.anchor.snapshot();
    const at = Math.floor(Date.now() / 1000);
    const signature = await identity.account.signMessage({
      message: {
        raw: anchorDigest({
          chainId: chain.config.chainId,
          kind: "put",
          worker: identity.address,
          counters,
          at,
        }),
      },
    });
    let sent = false;
    for (const g of (await chain.listGatekeepers()).filter((x) => x.active)) {
      try {
        await callGatekeeper(g.endpoint, "/v1/anchor", {
          worker: identity.address as Hex,
          counters,
          at,
          signature,
        });
        sent = true;
      } catch (err) {
        this.#o.log(`anchors: could not send to ${g.endpoint} (${(err as Error).message.split("\n")[0]})`);
      }
    }
    if (sent) this.#sentChanges = changes;
  }

  start(): void {
    const tick = async () => {
      try {
        await this.push();
      } catch (err) {
        this.#o.log(`anchors: ${(err as Error).message.split("\n")[0]}`);
      }
      setTimeout(tick, this.#o.intervalMs ?? 1_000).unref();
    };
    setTimeout(tick, this.#o.intervalMs ?? 1_000).unref();
  }
}
