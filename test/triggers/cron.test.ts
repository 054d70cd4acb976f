import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cronMatches, cronTicks, parseCron } from "../../src/chain/cron.ts";
import { VeilError } from "../../src/errors/index.ts";

const at = (iso: string) => Date.parse(iso) / 1000;

describe("cron", () => {
  test("steps, ranges, lists and day-of-week (7 is Sunday) match the right minutes", () => {
    const every5 = parseCron("*/5 * * * *");
    assert.ok(cronMatches(every5, at("2026-01-01T10:05:00Z")));
    assert.ok(!cronMatches(every5, at("2026-01-01T10:06:00Z")));
    const weekdays = parseCron("30 9-17/4 * * 1-5");
    assert.deepEqual([...weekdays.hours], [9, 13, 17]);
    assert.ok(cronMatches(weekdays, at("2026-11-25T13:30:00Z"))); // a Wednesday
    assert.ok(!cronMatches(weekdays, at("2026-11-29T13:30:00Z"))); // a Sunday
    assert.ok(cronMatches(parseCron("0 0 * * 7"), at("2026-11-29T00:00:00Z")));
    // Both day fields restricted: either matches (Vixie cron).
    const either = parseCron("0 0 1 * 0");
    assert.ok(cronMatches(either, at("2026-12-01T00:00:00Z"))); // the 1st, a Tuesday
    assert.ok(cronMatches(either, at("2026-11-29T00:00:00Z"))); // a Sunday
    assert.ok(!cronMatches(either, at("2026-11-30T00:00:00Z")));
    // A day field starting with "*" does not restrict (Vixie's DOM_STAR): "0 0 */2 * 1" is an
    // odd day that is a Monday, not any odd day or any Monday (issue 21 saw Sun 29 Nov, Mon 30
    // Nov and Tue 1 Dec 2026 fire).
    const oddMondays = parseCron("0 0 */2 * 1");
    for (const day of ["2026-11-29", "2026-11-30", "2026-12-01"])
      assert.ok(!cronMatches(oddMondays, at(`${day}T00:00:00Z`)), day);
    assert.ok(cronMatches(oddMondays, at("2026-12-07T00:00:00Z")), "Monday the 7th");
    assert.ok(!cronMatches(oddMondays, at("2026-12-14T00:00:00Z")), "Monday the 14th is even");
  });

  test("ticks between two times are the matching whole minutes", () => {
    assert.deepEqual(
      cronTicks(parseCron("*/15 * * * *"), at("2026-01-01T10:00:00Z"), at("2026-01-01T10:45:00Z")),
      [at("2026-01-01T10:15:00Z"), at("2026-01-01T10:30:00Z"), at("2026-01-01T10:45:00Z")],
    );
  });

  test("bad expressions are refused with a typed error", () => {
    for (const bad of ["* * * *", "60 * * * *", "* * 0 * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"]) {
      assert.throws(
        () => parseCron(bad),
        (e: unknown) => e instanceof VeilError && e.code === "SCHEDULE_CRON_INVALID",
        bad,
      );
    }
  });
});

describe("cron, held to cron-parser (the maintained library) wherever the two rules agree", () => {
  // They differ only where a day field starts with "*" and is not "*" itself ("*/2"): Vixie cron
  // (and Veil) take it as unrestricted, cron-parser as restricted (its issue #347, "wontfix").
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
  const field = (min: number, max: number, day = false): string => {
    const n = () => min + Math.floor(Math.random() * (max - min + 1));
    const a = n();
    const b = Math.min(max, a + Math.floor(Math.random() * 6));
    return pick([
      "*",
      String(a),
      `${a}-${b}`,
      b > a ? `${a},${b}` : String(a),
      ...(day ? [] : [`*/${1 + Math.floor(Math.random() * 7)}`]),
      `${a}-${b}/${1 + Math.floor(Math.random() * 3)}`,
    ]);
  };

  test("the same ticks over two weeks for 300 random expressions", async () => {
    const { CronExpressionParser } = await import("cron-parser");
    const start = at("2026-11-25T00:00:00Z");
    const end = start + 14 * 24 * 3600;
    for (let i = 0; i < 300; i++) {
      const source = [field(0, 59), field(0, 23), field(1, 28, true), field(1, 12), field(0, 6, true)].join(
        " ",
      );
      const ours = cronTicks(parseCron(source), start, end).slice(0, 50);
      const theirs: number[] = [];
      const it = CronExpressionParser.parse(source, { currentDate: new Date(start * 1000), tz: "UTC" });
      while (theirs.length < 50) {
        let next: Date;
        try {
          next = it.next().toDate();
        } catch {
          break; // no more dates within the library's search range
        }
        if (next.getTime() / 1000 > end) break;
        theirs.push(next.getTime() / 1000);
      }
      assert.deepEqual(ours, theirs, source);
    }
  });
});
