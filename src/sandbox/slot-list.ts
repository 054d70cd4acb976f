/** Something a SlotList holds: it keeps where it is in the list, while it is there. */
export type Slotted = { slot?: number | undefined };

/**
 * A list of watched things with O(1) add and remove (a removed item's place takes the last one).
 * An array, not a Set: a long-lived Set or Map that takes and drops an entry per request makes V8
 * promote what the entries hold, and the main thread then spends a tenth of its time in
 * scavenges (measured under load: 1.4 ms every 20 ms, against 0.5 ms).
 */
export class SlotList<T extends Slotted> {
  /** The items, in no particular order; iterate from the end to remove while iterating. */
  readonly items: T[] = [];

  get length(): number {
    return this.items.length;
  }

  add(item: T): void {
    if (item.slot !== undefined) return;
    item.slot = this.items.length;
    this.items.push(item);
  }

  remove(item: T): void {
    const slot = item.slot;
    if (slot === undefined) return;
    item.slot = undefined;
    const last = this.items.pop()!;
    if (last !== item) {
      this.items[slot] = last;
      last.slot = slot;
    }
  }
}
