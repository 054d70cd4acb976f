/** A minimal DER reader: enough to take a CRL apart (RFC 5280) without trusting anything in it. */
export type DerNode = { tag: number; start: number; headerLength: number; length: number; bytes: Buffer };

export class DerError extends Error {}

export function readNode(buf: Buffer, offset: number): DerNode {
  if (offset + 2 > buf.length) throw new DerError("truncated DER");
  const tag = buf[offset]!;
  let length = buf[offset + 1]!;
  let headerLength = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4 || offset + 2 + n > buf.length) throw new DerError("bad DER length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    headerLength = 2 + n;
  }
  if (offset + headerLength + length > buf.length) throw new DerError("DER value runs past its container");
  return {
    tag,
    start: offset,
    headerLength,
    length,
    bytes: buf.subarray(offset, offset + headerLength + length),
  };
}

/** The children of a constructed node. */
export function children(buf: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let p = node.start + node.headerLength;
  const end = node.start + node.headerLength + node.length;
  while (p < end) {
    const child = readNode(buf, p);
    out.push(child);
    p = child.start + child.headerLength + child.length;
  }
  if (p !== end) throw new DerError("DER children overrun");
  return out;
}

export function content(node: DerNode): Buffer {
  return node.bytes.subarray(node.headerLength);
}

/** UTCTime (0x17) or GeneralizedTime (0x18) → unix seconds. */
export function readTime(node: DerNode): number {
  const s = content(node).toString("latin1");
  const m =
    node.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : node.tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
        : null;
  if (!m) throw new DerError("bad time");
  let year = Number(m[1]);
  if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}
