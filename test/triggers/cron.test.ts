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
