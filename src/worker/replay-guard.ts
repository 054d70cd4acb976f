import { CALLER_SIGNATURE_WINDOW_S } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import { MemoryNonceSpace, type NonceSpace } from "../storage/nonce-space.ts";

/**
 * The one replay guard of a worker (docs/adr/0020): a signed or sealed request carries a nonce
 * and the time it was made; it runs only within REQUEST_WINDOW_S of this worker's clock and only
 * the first time its nonce is claimed in the nonce space the agent's workers share. So a request
 * one worker saw cannot be run again on another worker, nor on the same one after a restart.
 */
export class ReplayGuard {
  readonly #space: NonceSpace;
  readonly #now: () => number;

  constructor(space: NonceSpace = new MemoryNonceSpace(), now: () => number = Date.now) {
    this.#space = space;
    this.#now = now;
  }

  /**
   * Refuses a request made outside the window (`REQUEST_STALE`) or whose nonce was claimed
   * before in `scope` (`REQUEST_REPLAYED`); otherwise claims it.
   */
  async admit(scope: string, nonce: string, timestampS: number, what: string): Promise<void> {
    const now = this.#now();
    const skew = Math.floor(now / 1000) - timestampS;
    if (!Number.isSafeInteger(timestampS) || Math.abs(skew) > REQUEST_WINDOW_S) {
      throw new VeilError(
        "REQUEST_STALE",
        Number.isSafeInteger(timestampS)
          ? `The ${what} was made ${skew} s from this worker's clock`
          : `The ${what} carries no time`,
        {
          status: 401,
          hint: `Make each request just before sending it (within ${REQUEST_WINDOW_S} s; the SDK does), and check the clock.`,
        },
      );
    }
    // Remembered until the request would be stale anyway, plus a second for rounding.
    const expires = (timestampS + REQUEST_WINDOW_S + 1) * 1000;
    if (!(await this.#space.claim(scope, nonce.toLowerCase(), expires, now))) {
      throw new VeilError("REQUEST_REPLAYED", `This ${what} was already answered`, {
        status: 409,
        hint: "Send each request with a fresh nonce (the SDK does).",
      });
    }
  }
}

/** How far a request's time may be from the worker's clock, either way (seconds). */
export const REQUEST_WINDOW_S = CALLER_SIGNATURE_WINDOW_S;
