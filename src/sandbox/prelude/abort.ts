// EventTarget, Event, AbortController and AbortSignal, as agent code and libraries expect them
// (fetch takes a signal; AbortSignal.timeout uses the sandbox's timers).
import { DOMException } from "./encoding.ts";

type Listener = ((event: Event) => void) | { handleEvent(event: Event): void };

export class Event {
  readonly type: string;
  #target: EventTarget | null = null;
  constructor(type: string) {
    this.type = String(type);
  }
  get target(): EventTarget | null {
    return this.#target;
  }
  /** @internal */
  _setTarget(t: EventTarget): void {
    this.#target = t;
  }
}

/** An event carrying data of the dispatcher's choosing (DOM Standard). */
export class CustomEvent<T = unknown> extends Event {
  readonly #detail: T | null;
  constructor(type: string, init: { detail?: T } = {}) {
    super(type);
    this.#detail = init?.detail ?? null;
  }
  get detail(): T | null {
    return this.#detail;
  }
}

export class EventTarget {
  readonly #listeners = new Map<string, { listener: Listener; once: boolean }[]>();

  addEventListener(type: string, listener: Listener | null, options?: boolean | { once?: boolean }): void {
    if (!listener) return;
    const list = this.#listeners.get(type) ?? [];
    if (list.some((l) => l.listener === listener)) return;
    list.push({ listener, once: typeof options === "object" && options?.once === true });
    this.#listeners.set(type, list);
  }

  removeEventListener(type: string, listener: Listener | null): void {
    const list = this.#listeners.get(type);
    if (!list) return;
    this.#listeners.set(
      type,
      list.filter((l) => l.listener !== listener),
    );
  }

  dispatchEvent(event: Event): boolean {
    event._setTarget(this);
    for (const l of [...(this.#listeners.get(event.type) ?? [])]) {
      if (l.once) this.removeEventListener(event.type, l.listener);
      try {
        if (typeof l.listener === "function") l.listener.call(this, event);
        else l.listener.handleEvent(event);
      } catch (err) {
        // A throwing listener must not stop the others, as in the DOM.
        Promise.reject(err).catch(() => {});
      }
    }
    return true;
  }
}

const abortReason = () => new DOMException("This operation was aborted", "AbortError");

export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason: unknown = undefined;
  onabort: ((event: Event) => void) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }
  get reason(): unknown {
    return this.#reason;
  }
  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }
  /** @internal */
  _abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? abortReason() : reason;
    const event = new Event("abort");
    if (typeof this.onabort === "function") {
      try {
        this.onabort.call(this, event);
      } catch {}
    }
    this.dispatchEvent(event);
  }

  static abort(reason?: unknown): AbortSignal {
    const s = new AbortSignal();
    s._abort(reason);
    return s;
  }

  static timeout(ms: number): AbortSignal {
    const s = new AbortSignal();
    const set = (globalThis as unknown as { setTimeout(cb: () => void, ms: number): unknown }).setTimeout;
    set(() => s._abort(new DOMException("The operation timed out", "TimeoutError")), ms);
    return s;
  }

  static any(signals: AbortSignal[]): AbortSignal {
    const s = new AbortSignal();
    for (const other of signals) {
      if (other.aborted) {
        s._abort(other.reason);
        break;
      }
      other.addEventListener("abort", () => s._abort(other.reason), { once: true });
    }
    return s;
  }
}

export class AbortController {
  readonly signal = new AbortSignal();
  abort(reason?: unknown): void {
    this.signal._abort(reason);
  }
}
