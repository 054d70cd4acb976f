// Small WebAssembly modules for the hostile suite, assembled here byte by byte (no toolchain).

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** "\0asm", version 1. */
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...leb(bytes.length), ...bytes];
}

/**
 * A module with its own memory (`min` pages, `max` pages or none) exported as "mem", and
 * `grow(pages) -> old size or -1` that runs the memory.grow instruction (which no JS sees).
 */
export function memoryModule(min: number, max?: number): number[] {
  const limits = max === undefined ? [0x00, ...leb(min)] : [0x01, ...leb(min), ...leb(max)];
  return [
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]),
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, ...limits]),
    ...section(7, [0x02, ...name("grow"), 0x00, 0x00, ...name("mem"), 0x02, 0x00]),
    ...section(10, [0x01, ...leb(6), 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b]),
  ];
}

/** `add(a, b) -> a + b`, no memory. */
export const ADD_MODULE = [
  ...HEADER,
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]),
  ...section(3, [0x01, 0x00]),
  ...section(7, [0x01, ...name("add"), 0x00, 0x00]),
  ...section(10, [0x01, ...leb(7), 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b]),
];
