import { VeilError } from "../errors/index.ts";

/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC: `*`, numbers,
 * ranges `a-b`, lists `a,b`, steps `*\/n` and `a-b/n`; day-of-week 0–7 (0 and 7 are Sunday).
 * As in Vixie cron, when both day fields are restricted a day matches either; a day field that
 * starts with `*` (`*`, `*\/2`) is not restricted, so then a day must match both. Written here
 * rather than taken from npm: cron-parser, the maintained one, follows POSIX instead (`*\/2` in
 * the day of month ORs with the weekday; its issue #347, "wontfix"), and ticks must be computed
 * identically by every worker. test/triggers/cron.test.ts holds it to cron-parser wherever the
 * two rules agree.
 */
export type Cron = {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
};

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function invalid(source: string, why: string): VeilError {
  return new VeilError("SCHEDULE_CRON_INVALID", `Invalid cron expression "${source}": ${why}`, {
    status: 400,
    hint: 'Use five fields in UTC: minute hour day-of-month month day-of-week, e.g. "*/5 * * * *".',
  });
}

function parseField(source: string, text: string, f: (typeof FIELDS)[number]): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw invalid(source, `bad ${f.name} "${part}"`);
    const lo = m[1] === "*" ? f.min : Number(m[2]);
    const hi = m[1] === "*" ? f.max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? f.max : lo;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (lo < f.min || hi > f.max || lo > hi)
      throw invalid(source, `${f.name} "${part}" is outside ${f.min}–${f.max}`);
    if (step < 1) throw invalid(source, `${f.name} step must be at least 1`);
    for (let v = lo; v <= hi; v += step) out.add(f.name === "day of week" && v === 7 ? 0 : v);
  }
  return out;
}

export function parseCron(source: string): Cron {
  const parts = source.trim().split(/\s+/);
  if (parts.length !== 5) throw invalid(source, `expected 5 fields, got ${parts.length}`);
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => parseField(source, p, FIELDS[i]!));
  return {
    source,
    minutes: minutes!,
    hours: hours!,
    days: days!,
    months: months!,
    weekdays: weekdays!,
    // Vixie cron's DOM_STAR/DOW_STAR: a field whose first character is "*" does not restrict.
    daysRestricted: !parts[2]!.startsWith("*"),
    weekdaysRestricted: !parts[4]!.startsWith("*"),
  };
}

/** Whether `cron` fires at the minute starting at `unixSeconds` (UTC). */
export function cronMatches(cron: Cron, unixSeconds: number): boolean {
  const d = new Date(Math.floor(unixSeconds / 60) * 60_000);
  if (!cron.minutes.has(d.getUTCMinutes()) || !cron.hours.has(d.getUTCHours())) return false;
  if (!cron.months.has(d.getUTCMonth() + 1)) return false;
  const dom = cron.days.has(d.getUTCDate());
  const dow = cron.weekdays.has(d.getUTCDay());
  if (cron.daysRestricted && cron.weekdaysRestricted) return dom || dow;
  return dom && dow;
}

/** The cron times (unix seconds, whole minutes) in (afterSeconds, untilSeconds]. */
export function cronTicks(cron: Cron, afterSeconds: number, untilSeconds: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(afterSeconds / 60) * 60 + 60; t <= untilSeconds; t += 60) {
    if (cronMatches(cron, t)) out.push(t);
  }
  return out;
}
