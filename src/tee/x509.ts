/**
 * A strict reader for the X.509 certificates and CRLs of Intel's DCAP PKI (RFC 5280, DER), on
 * plain Uint8Arrays so that it runs in a browser too. It takes apart only what the verifier
 * needs and refuses anything it does not understand; it trusts nothing it reads (signatures
 * are checked by the caller).
 */
export class X509Error extends Error {}

export type Der = { tag: number; start: number; headerLength: number; end: number };

export function readDer(buf: Uint8Array, offset: number): Der {
  if (offset + 2 > buf.length) throw new X509Error("truncated DER");
  const tag = buf[offset]!;
  let length = buf[offset + 1]!;
  let headerLength = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || offset + 2 + n > buf.length) throw new X509Error("bad DER length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    // DER: the shortest length form only.
    if (length < 0x80 || buf[offset + 2] === 0) throw new X509Error("non-minimal DER length");
    headerLength = 2 + n;
  }
  const end = offset + headerLength + length;
  if (end > buf.length) throw new X509Error("DER value runs past its container");
  return { tag, start: offset, headerLength, end };
}

export function derChildren(buf: Uint8Array, node: Der): Der[] {
  const out: Der[] = [];
  let p = node.start + node.headerLength;
  while (p < node.end) {
    const child = readDer(buf, p);
    if (child.end > node.end) throw new X509Error("DER child overruns its parent");
    out.push(child);
    p = child.end;
  }
  return out;
}

export const derValue = (buf: Uint8Array, n: Der) => buf.subarray(n.start + n.headerLength, n.end);
export const derBytes = (buf: Uint8Array, n: Der) => buf.subarray(n.start, n.end);

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new X509Error("bad hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** UTCTime (0x17) or GeneralizedTime (0x18) → unix seconds. */
function readTime(buf: Uint8Array, n: Der): number {
  const s = String.fromCharCode(...derValue(buf, n));
  const m =
    n.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : n.tag === 0x18
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
        : null;
  if (!m) throw new X509Error("bad time");
  let year = Number(m[1]);
  if (n.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}

/** AlgorithmIdentifier { ecdsa-with-SHA256 } (1.2.840.10045.4.3.2), without parameters. */
const ECDSA_SHA256 = fromHex("300a06082a8648ce3d040302");
/** SubjectPublicKeyInfo algorithm { id-ecPublicKey, prime256v1 }. */
const EC_P256 = fromHex("301306072a8648ce3d020106082a8648ce3d030107");
const OID_BASIC_CONSTRAINTS = fromHex("551d13");
/** 1.2.840.113741.1.13.1: Intel's SGX extension of PCK certificates. */
const OID_SGX = fromHex("2a864886f84d010d01");

/** A DER ECDSA-Sig-Value { r, s } → the 64-byte r ‖ s form. */
export function ecdsaDerToRaw(sig: Uint8Array): Uint8Array {
  const top = readDer(sig, 0);
  if (top.tag !== 0x30 || top.end !== sig.length) throw new X509Error("bad ECDSA signature");
  const parts = derChildren(sig, top);
  if (parts.length !== 2) throw new X509Error("bad ECDSA signature");
  const out = new Uint8Array(64);
  parts.forEach((p, i) => {
    if (p.tag !== 0x02) throw new X509Error("bad ECDSA signature");
    let v = derValue(sig, p);
    if (v.length > 1 && v[0] === 0 && v[1]! < 0x80) throw new X509Error("non-minimal integer");
    if (v.length === 0 || v[0]! & 0x80) throw new X509Error("negative ECDSA integer");
    if (v.length === 33 && v[0] === 0) v = v.subarray(1);
    if (v.length > 32) throw new X509Error("ECDSA integer too long");
    out.set(v, 32 * i + 32 - v.length);
  });
  return out;
}

function signatureOf(buf: Uint8Array, alg: Der, bits: Der): Uint8Array {
  if (!bytesEqual(derBytes(buf, alg), ECDSA_SHA256)) throw new X509Error("not signed with ecdsa-with-SHA256");
  if (bits.tag !== 0x03) throw new X509Error("signature is not a BIT STRING");
  const v = derValue(buf, bits);
  if (v[0] !== 0) throw new X509Error("signature bit string with unused bits");
  return ecdsaDerToRaw(v.subarray(1));
}

/** A serial number as uppercase hex without leading zero bytes (how CRLs and certs compare). */
const serialHex = (v: Uint8Array) =>
  toHex(v)
    .replace(/^(00)+/, "")
    .toUpperCase();

export type Certificate = {
  der: Uint8Array;
  tbs: Uint8Array;
  /** r ‖ s */
  signature: Uint8Array;
  serial: string;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: number;
  notAfter: number;
  /** The P-256 public key, x ‖ y (64 bytes). */
  publicKey: Uint8Array;
  isCa: boolean;
  /** The SGX extension's value (DER), on PCK certificates. */
  sgxExtension: Uint8Array | undefined;
};

export function parseCertificate(der: Uint8Array): Certificate {
  const top = readDer(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new X509Error("certificate is not one SEQUENCE");
  const [tbsN, algN, sigN, ...rest] = derChildren(der, top);
  if (!tbsN || !algN || !sigN || rest.length || tbsN.tag !== 0x30) throw new X509Error("bad certificate");
  const f = derChildren(der, tbsN);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++;
  const serialN = f[i++];
  const innerAlg = f[i++];
  const issuerN = f[i++];
  const validityN = f[i++];
  const subjectN = f[i++];
  const spkiN = f[i++];
  if (!serialN || serialN.tag !== 0x02 || !innerAlg || !issuerN || !validityN || !subjectN || !spkiN)
    throw new X509Error("bad TBSCertificate");
  // The outer algorithm is outside the signature: it must repeat the signed one.
  if (!bytesEqual(derBytes(der, innerAlg), derBytes(der, algN))) throw new X509Error("algorithm mismatch");
  const [nb, na, ...vr] = derChildren(der, validityN);
  if (!nb || !na || vr.length) throw new X509Error("bad validity");
  const [spkiAlg, spkiBits] = derChildren(der, spkiN);
  if (!spkiAlg || !spkiBits || !bytesEqual(derBytes(der, spkiAlg), EC_P256) || spkiBits.tag !== 0x03)
    throw new X509Error("the public key is not a P-256 key");
  const pk = derValue(der, spkiBits);
  if (pk.length !== 66 || pk[0] !== 0 || pk[1] !== 4) throw new X509Error("bad P-256 public key");
  let isCa = false;
  let sgxExtension: Uint8Array | undefined;
  for (; i < f.length; i++) {
    const n = f[i]!;
    if (n.tag !== 0xa3) continue; // issuer/subject unique ids: not used by Intel
    const [seq] = derChildren(der, n);
    if (!seq) throw new X509Error("bad extensions");
    for (const ext of derChildren(der, seq)) {
      const parts = derChildren(der, ext);
      const oid = parts[0];
      const value = parts[parts.length - 1];
      if (!oid || oid.tag !== 0x06 || !value || value.tag !== 0x04) throw new X509Error("bad extension");
      const oidBytes = derValue(der, oid);
      if (bytesEqual(oidBytes, OID_BASIC_CONSTRAINTS)) {
        const v = derValue(der, value);
        const bc = readDer(v, 0);
        const first = derChildren(v, bc)[0];
        isCa = first?.tag === 0x01 && derValue(v, first)[0] !== 0;
      } else if (bytesEqual(oidBytes, OID_SGX)) {
        if (sgxExtension) throw new X509Error("two SGX extensions");
        sgxExtension = derValue(der, value);
      }
    }
  }
  return {
    der,
    tbs: derBytes(der, tbsN),
    signature: signatureOf(der, algN, sigN),
    serial: serialHex(derValue(der, serialN)),
    issuer: derBytes(der, issuerN),
    subject: derBytes(der, subjectN),
    notBefore: readTime(der, nb),
    notAfter: readTime(der, na),
    publicKey: pk.subarray(2),
    isCa,
    sgxExtension,
  };
}

export type Crl = {
  tbs: Uint8Array;
  signature: Uint8Array;
  issuer: Uint8Array;
  thisUpdate: number;
  nextUpdate: number | undefined;
  revoked: Set<string>;
};

export function parseCrl(der: Uint8Array): Crl {
  const top = readDer(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new X509Error("CRL is not one SEQUENCE");
  const [tbsN, algN, sigN, ...rest] = derChildren(der, top);
  if (!tbsN || !algN || !sigN || rest.length) throw new X509Error("bad CRL");
  const f = derChildren(der, tbsN);
  let i = 0;
  if (f[i]?.tag === 0x02) i++;
  const innerAlg = f[i++];
  if (!innerAlg || !bytesEqual(derBytes(der, innerAlg), derBytes(der, algN)))
    throw new X509Error("CRL algorithm mismatch");
  const issuerN = f[i++];
  const thisN = f[i++];
  if (!issuerN || !thisN) throw new X509Error("bad CRL");
  let nextUpdate: number | undefined;
  if (f[i] && (f[i]!.tag === 0x17 || f[i]!.tag === 0x18)) nextUpdate = readTime(der, f[i++]!);
  const revoked = new Set<string>();
  if (f[i]?.tag === 0x30) {
    for (const entry of derChildren(der, f[i]!)) {
      const serial = derChildren(der, entry)[0];
      if (serial?.tag !== 0x02) throw new X509Error("bad revoked entry");
      revoked.add(serialHex(derValue(der, serial)));
    }
  }
  return {
    tbs: derBytes(der, tbsN),
    signature: signatureOf(der, algN, sigN),
    issuer: derBytes(der, issuerN),
    thisUpdate: readTime(der, thisN),
    nextUpdate,
    revoked,
  };
}

export type PckExtension = {
  fmspc: Uint8Array;
  pceId: Uint8Array;
  cpuSvn: Uint8Array;
  pceSvn: number;
};

/** Reads FMSPC, PCE-ID and the TCB (CPUSVN, PCESVN) out of a PCK certificate's SGX extension. */
export function parsePckExtension(ext: Uint8Array): PckExtension {
  const top = readDer(ext, 0);
  if (top.tag !== 0x30 || top.end !== ext.length) throw new X509Error("bad SGX extension");
  const fields = new Map<string, { node: Der }>();
  for (const entry of derChildren(ext, top)) {
    const [oid, value] = derChildren(ext, entry);
    if (!oid || oid.tag !== 0x06 || !value) throw new X509Error("bad SGX extension entry");
    fields.set(toHex(derValue(ext, oid)), { node: value });
  }
  const sgx = toHex(OID_SGX);
  const get = (suffix: string, tag: number) => {
    const f = fields.get(sgx + suffix);
    if (!f || f.node.tag !== tag) throw new X509Error(`SGX extension lacks ${suffix}`);
    return f.node;
  };
  const tcbNode = get("02", 0x30);
  let cpuSvn: Uint8Array | undefined;
  let pceSvn: number | undefined;
  for (const entry of derChildren(ext, tcbNode)) {
    const [oid, value] = derChildren(ext, entry);
    if (!oid || !value) throw new X509Error("bad TCB entry");
    const o = toHex(derValue(ext, oid));
    if (o === `${sgx}0211` && value.tag === 0x02) {
      pceSvn = 0;
      for (const b of derValue(ext, value)) pceSvn = pceSvn * 256 + b;
    } else if (o === `${sgx}0212` && value.tag === 0x04) cpuSvn = derValue(ext, value);
  }
  if (!cpuSvn || cpuSvn.length !== 16 || pceSvn === undefined) throw new X509Error("SGX extension lacks TCB");
  return {
    fmspc: derValue(ext, get("04", 0x04)),
    pceId: derValue(ext, get("03", 0x04)),
    cpuSvn,
    pceSvn,
  };
}

/** Certificates of a PEM chain, each decoded; `canonical` says whether the text is exactly the canonical PEM. */
export function pemChain(text: string): { ders: Uint8Array[]; canonical: boolean } {
  const blocks =
    text.match(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n?/g) ?? [];
  const ders = blocks.map((b) => base64Decode(b.slice(28, b.lastIndexOf("-----END")).replace(/\n/g, "")));
  const canonical = ders
    .map(
      (d) =>
        `-----BEGIN CERTIFICATE-----\n${base64Encode(d)
          .match(/.{1,64}/g)!
          .join("\n")}\n-----END CERTIFICATE-----\n`,
    )
    .join("");
  return { ders, canonical: ders.length > 0 && canonical === text };
}

/** Whether two PEM chains hold the same certificates in the same order (trailing NULs aside). */
export function sameCertificateChain(a: string, b: string): boolean {
  const x = pemChain(a.replace(/\0+$/, "")).ders;
  const y = pemChain(b.replace(/\0+$/, "")).ders;
  if (x.length === 0 || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p.length !== q.length) return false;
    for (let j = 0; j < p.length; j++) if (p[j] !== q[j]) return false;
  }
  return true;
}

function base64Decode(s: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new X509Error("bad base64");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function base64Encode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}
