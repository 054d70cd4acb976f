/**
 * Holds back an agent whose code keeps being stopped by its limits (docs/adr/0018). Each stop
 * (its isolate disposed for CPU, memory, a runaway loop or its background budget) is a strike;
 * from the third within a minute of each other, the agent's requests are refused for a pause that
 * doubles with each (100 ms, 200 ms, … up to 30 s), and a minute without one clears them. A stranger's agent
 * that is stopped on every call would otherwise keep a core busy at its CPU limit for as long as
 * it is called; an agent that breaches a limit now and then barely notices.
 */
/** Strikes within a minute that hold nothing back. */
const FREE_STRIKES = 2;

export class RunawayThrottle {
  static readonly FIRST_PAUSE_MS = 100;
  static readonly LONGEST_PAUSE_MS = 30_000;
  static readonly FORGET_AFTER_MS = 60_000;
  #strikes = 0;
  #lastAt = 0;
  #until = 0;
  /** What stopped it last (a limit's code), for the refusal's message. */
  lastReason = "";

  /** The agent was stopped by a limit now: the pause before it runs again, in ms. */
  strike(reason: string, now = Date.now()): number {
    if (now - this.#lastAt > RunawayThrottle.FORGET_AFTER_MS) this.#strikes = 0;
    this.#strikes++;
    this.#lastAt = now;
    this.lastReason = reason;
    // A breach or two cost nothing more than the failed requests: agents that breach a limit now
    // and then are not held back, only those that do it again and again.
    const pause =
      this.#strikes < FREE_STRIKES + 1
        ? 0
        : Math.min(
            RunawayThrottle.LONGEST_PAUSE_MS,
            RunawayThrottle.FIRST_PAUSE_MS * 2 ** Math.min(this.#strikes - FREE_STRIKES - 1, 20),
          );
    this.#until = now + pause;
    return pause;
  }

  get strikes(): number {
    return this.#strikes;
  }

  /** How long the agent is still held back (0: it runs). */
  remainingMs(now = Date.now()): number {
    return Math.max(0, this.#until - now);
  }
}
