// MessageChannel, MessagePort and MessageEvent (HTML standard), within one realm: libraries use
// a channel to schedule work as a task (React's scheduler, some polyfills of setImmediate) or to
// pass data between parts of an agent. A message is a structured clone delivered as a task (the
// prelude's own timer, not the agent's global), and waits in its port until the port is started
// (start(), or setting onmessage).
import { Event, EventTarget } from "./abort.ts";
import { structuredClone } from "./clone.ts";

export class MessageEvent<T = unknown> extends Event {
  readonly #data: T | null;
  readonly #ports: readonly unknown[];
  constructor(type: string, init: { data?: T; ports?: unknown[] } = {}) {
    super(type);
    this.#data = init.data ?? null;
    this.#ports = Object.freeze([...(init.ports ?? [])]);
  }
  get data(): T | null {
    return this.#data;
  }
  get origin(): string {
    return "";
  }
  get lastEventId(): string {
    return "";
  }
  get source(): null {
    return null;
  }
  get ports(): readonly unknown[] {
    return this.#ports;
  }
}

type Handler = ((event: MessageEvent) => void) | null;

export function makeMessaging(later: (fn: () => void) => void) {
  const MAKING = Symbol("MessagePort");

  class MessagePort extends EventTarget {
    #other: MessagePort | null = null;
    #queue: unknown[] = [];
    #started = false;
    #closed = false;
    #onmessage: Handler = null;
    onmessageerror: Handler = null;

    constructor(token?: symbol) {
      if (token !== MAKING) throw new TypeError("Illegal constructor: ports come from a MessageChannel");
      super();
    }

    static entangle(a: MessagePort, b: MessagePort): void {
      a.#other = b;
      b.#other = a;
    }

    postMessage(message: unknown, transfer?: unknown): void {
      void transfer;
      const target = this.#other;
      // Cloned now, as the standard says: later changes to the object do not reach the other side.
      const data = structuredClone(message);
      if (this.#closed || !target) return;
      later(() => target.#receive(data));
    }

    #receive(data: unknown): void {
      if (this.#closed) return;
      if (this.#started) this.#deliver(data);
      else this.#queue.push(data);
    }

    #deliver(data: unknown): void {
      if (this.#closed) return;
      const event = new MessageEvent("message", { data });
      if (typeof this.#onmessage === "function") {
        try {
          this.#onmessage.call(this, event);
        } catch (err) {
          Promise.reject(err).catch(() => {});
        }
      }
      this.dispatchEvent(event);
    }

    start(): void {
      if (this.#started) return;
      this.#started = true;
      for (const data of this.#queue.splice(0)) later(() => this.#deliver(data));
    }

    close(): void {
      this.#closed = true;
      this.#queue = [];
      if (this.#other) this.#other.#other = null;
      this.#other = null;
    }

    get onmessage(): Handler {
      return this.#onmessage;
    }
    set onmessage(handler: Handler) {
      this.#onmessage = typeof handler === "function" ? handler : null;
      this.start();
    }
    get [Symbol.toStringTag](): string {
      return "MessagePort";
    }
  }

  class MessageChannel {
    readonly port1: MessagePort;
    readonly port2: MessagePort;
    constructor() {
      this.port1 = new MessagePort(MAKING);
      this.port2 = new MessagePort(MAKING);
      MessagePort.entangle(this.port1, this.port2);
    }
  }

  return { MessageChannel, MessagePort, MessageEvent };
}
