import { VeilError } from "../errors/index.ts";
import { type DcapCrypto, dcapCrypto } from "./dcap-crypto.ts";
import {
  type DcapCollateral,
  type DcapVerified,
  parseCollateral,
  pckChainMismatch,
  type SgxMeasurements,
  type TcbStatus,
  type TdxMeasurements,
} from "./dcap-types.ts";
import { INTEL_SGX_ROOT_CA_DER } from "./intel-root.ts";
import {
  bytesEqual,
  type Certificate,
  type Crl,
  fromHex,
  type PckExtension,
  parseCertificate,
  parseCrl,
  parsePckExtension,
  pemChain,
  sameCertificateChain,
  toHex,
  type X509Error,
} from "./x509.ts";

/**
 * Veil's own DCAP verifier (SGX quote v3, TDX quote v4), fully offline, with no Node built-in
 * (it runs in a browser on @noble). It makes the same checks as @phala/dcap-qvl plus the ones
 * Veil added on top of it (CRL signatures and windows, `pck_crl_issuer_chain`, the bytes of a
 * quote no signature covers), and gives the same verdicts: test/tee/dcap-agreement.test.ts
 * holds the two side by side. See ADR 0008.
 *
 * What depends only on the collateral (its parse, its chains and signatures, the CRLs) is
 * verified once per collateral and kept, keyed by a hash of its bytes; what depends only on a
 * quote's PCK certificate chain is kept keyed by that chain's bytes. The time-dependent checks
 * (validity windows) are made on every call. A warm verification is then two P-256 signature
 * checks (the QE report by the PCK key, the quote by the attestation key) and a hash.
 */

const TEE_SGX = 0;
const TEE_TDX = 0x81;
const HEADER = 48;
const SGX_BODY = 384;
const TD10_BODY = 584;
const QE_REPORT = 384;

class Refusal extends Error {
  constructor(
    readonly code:
      | "ATTESTATION_INVALID"
      | "ATTESTATION_EXPIRED"
      | "ATTESTATION_REVOKED"
      | "ATTESTATION_DEBUG_ENCLAVE",
    message: string,
  ) {
    super(message);
  }
}
const invalid = (m: string) => new Refusal("ATTESTATION_INVALID", m);
const expired = (m: string) => new Refusal("ATTESTATION_EXPIRED", m);
const revoked = (m: string) => new Refusal("ATTESTATION_REVOKED", m);

const HINTS: Record<Refusal["code"], string> = {
  ATTESTATION_INVALID: "The quote or its collateral was altered, or they do not belong together.",
  ATTESTATION_EXPIRED:
    "Fetch fresh collateral from a PCCS, or verify at a time inside the collateral's window (--at).",
  ATTESTATION_REVOKED: "This platform cannot be trusted.",
  ATTESTATION_DEBUG_ENCLAVE: "A debug enclave offers no confidentiality; run a production build.",
};

function toVeilError(err: unknown): VeilError {
  if (err instanceof VeilError) return err;
  const r = err instanceof Refusal ? err : invalid(`malformed: ${(err as Error)?.message ?? String(err)}`);
  const prefix =
    r.code === "ATTESTATION_EXPIRED"
      ? "The quote's collateral is not valid at the time of verification"
      : r.code === "ATTESTATION_REVOKED"
        ? "The platform is revoked"
        : r.code === "ATTESTATION_DEBUG_ENCLAVE"
          ? "The quote comes from a debug enclave, which offers no confidentiality"
          : "The quote does not verify";
  return new VeilError(r.code, `${prefix}: ${r.message}`, { status: 403, cause: err, hint: HINTS[r.code] });
}

// ---------------------------------------------------------------------------------------------
// The quote

type ParsedQuote = {
  version: number;
  teeType: number;
  /** Header and body: what the attestation key signs. */
  signed: Uint8Array;
  body: Uint8Array;
  signature: Uint8Array;
  attestationKey: Uint8Array;
  qeReport: Uint8Array;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The PCK certificate chain's bytes (PEM, NUL-terminated). */
  certData: Uint8Array;
};

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/**
 * Every byte is accounted for: lengths must match what follows, certification types must be
 * the ones DCAP defines, and only zero padding may follow the signature section.
 */
function parseQuote(q: Uint8Array): ParsedQuote {
  const bad = (what: string) =>
    new VeilError("ATTESTATION_INVALID", `The quote is malformed: ${what}`, {
      status: 400,
      hint: "Send the quote exactly as the quoting enclave produced it.",
    });
  const need = (o: number, n: number) => {
    if (o + n > q.length) throw bad("truncated");
  };
  need(0, HEADER);
  const version = u16(q, 0);
  const keyType = u16(q, 2);
  const teeType = u32(q, 4);
  let bodyLen: number;
  if (version === 3 && teeType === TEE_SGX) bodyLen = SGX_BODY;
  else if (version === 4 && teeType === TEE_TDX) bodyLen = TD10_BODY;
  else throw bad(`unsupported quote version ${version} for TEE type 0x${teeType.toString(16)}`);
  if (keyType !== 2) throw bad(`attestation key type ${keyType}, expected 2 (ECDSA P-256)`);
  let o = HEADER + bodyLen;
  need(o, 4);
  const signed = q.subarray(0, o);
  const body = q.subarray(HEADER, o);
  const sigLen = u32(q, o);
  o += 4;
  const end = o + sigLen;
  if (end > q.length) throw bad("the signature section runs past the end of the quote");
  for (let i = end; i < q.length; i++) if (q[i] !== 0) throw bad("bytes after the signature section");
  need(o, 128);
  const signature = q.subarray(o, o + 64);
  const attestationKey = q.subarray(o + 64, o + 128);
  o += 128;
  if (version === 4) {
    need(o, 6);
    if (u16(q, o) !== 6) throw bad(`certification data type ${u16(q, o)}, expected 6 (QE report)`);
    if (o + 6 + u32(q, o + 2) !== end) throw bad("the certification data's length does not match");
    o += 6;
  }
  need(o, QE_REPORT + 64 + 2);
  const qeReport = q.subarray(o, o + QE_REPORT);
  const qeReportSignature = q.subarray(o + QE_REPORT, o + QE_REPORT + 64);
  o += QE_REPORT + 64;
  const authLen = u16(q, o);
  o += 2;
  need(o, authLen);
  const qeAuthData = q.subarray(o, o + authLen);
  o += authLen;
  need(o, 6);
  const certType = u16(q, o);
  if (certType !== 5) throw bad(`certification data type ${certType}, expected 5 (PCK certificate chain)`);
  if (o + 6 + u32(q, o + 2) !== end) throw bad("the PCK certificate chain's length does not match");
  o += 6;
  return {
    version,
    teeType,
    signed,
    body,
    signature,
    attestationKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    certData: q.subarray(o, end),
  };
}

// ---------------------------------------------------------------------------------------------
// Collateral: parsed and verified once, kept by the hash of its bytes

type TcbLevel = {
  sgx: number[];
  tdx: number[];
  pcesvn: number;
  status: TcbStatus;
  advisoryIds: string[];
};
type TcbInfo = {
  id: string;
  version: number;
  issueDate: number;
  nextUpdate: number;
  fmspc: Uint8Array;
  pceId: Uint8Array;
  levels: TcbLevel[];
};
type QeIdentity = {
  id: string;
  version: number;
  issueDate: number;
  nextUpdate: number;
  miscselect: number;
  miscselectMask: number;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  mrsigner: Uint8Array;
  isvprodid: number;
  levels: { isvsvn: number; status: TcbStatus; advisoryIds: string[] }[];
};

/** A signed document (TCB info, QE identity) with its issuer chain, checked lazily in order. */
type Signed<T> = { body: T | Error; chain: Certificate[] | Error; signatureOk: boolean | undefined };

type CollateralEntry = {
  root: Certificate;
  crls: { root: Crl; pck: Crl } | Error;
  pckCrlIssuer: Certificate[] | Error;
  tcb: Signed<TcbInfo>;
  qe: Signed<QeIdentity>;
  /** Chains (by their first certificate) whose signatures up to the root have been checked. */
  verifiedChains: WeakSet<Certificate[]>;
};

const ROOT = parseCertificate(INTEL_SGX_ROOT_CA_DER);

const time = (s: unknown, what: string) => {
  const t = typeof s === "string" ? Date.parse(s) : Number.NaN;
  if (!Number.isFinite(t)) throw invalid(`${what} is not a date`);
  return t / 1000;
};
const int = (v: unknown, what: string) => {
  if (!Number.isSafeInteger(v)) throw invalid(`${what} is not an integer`);
  return v as number;
};
const str = (v: unknown, what: string) => {
  if (typeof v !== "string") throw invalid(`${what} is not a string`);
  return v;
};
const hexField = (v: unknown, what: string, len: number) => {
  const b = fromHex(str(v, what));
  if (b.length !== len) throw invalid(`${what} is not ${len} bytes`);
  return b;
};
const advisories = (v: unknown) => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((a) => typeof a === "string")) throw invalid("advisoryIDs is not a list");
  return [...v] as string[];
};
const svns = (v: unknown, what: string) => {
  if (!Array.isArray(v)) throw invalid(`${what} is not a list`);
  return v.map((c) => int((c as { svn?: unknown })?.svn, `${what} svn`));
};
const jsonObject = (text: string, what: string): Record<string, unknown> => {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw invalid(`${what} is not JSON`);
  }
  if (typeof o !== "object" || o === null) throw invalid(`${what} is not a JSON object`);
  return o as Record<string, unknown>;
};

function parseTcbInfo(text: string): TcbInfo {
  const o = jsonObject(text, "tcb_info");
  if (!Array.isArray(o.tcbLevels)) throw invalid("tcb_info has no tcbLevels");
  return {
    id: str(o.id, "tcb_info.id"),
    version: int(o.version, "tcb_info.version"),
    issueDate: time(o.issueDate, "tcb_info.issueDate"),
    nextUpdate: time(o.nextUpdate, "tcb_info.nextUpdate"),
    fmspc: hexField(o.fmspc, "tcb_info.fmspc", 6),
    pceId: hexField(o.pceId, "tcb_info.pceId", 2),
    levels: o.tcbLevels.map((l: Record<string, unknown>) => {
      const tcb = (l?.tcb ?? {}) as Record<string, unknown>;
      return {
        sgx: svns(tcb.sgxtcbcomponents, "sgxtcbcomponents"),
        tdx: tcb.tdxtcbcomponents === undefined ? [] : svns(tcb.tdxtcbcomponents, "tdxtcbcomponents"),
        pcesvn: int(tcb.pcesvn, "pcesvn"),
        status: str(l.tcbStatus, "tcbStatus") as TcbStatus,
        advisoryIds: advisories(l.advisoryIDs),
      };
    }),
  };
}

function parseQeIdentity(text: string): QeIdentity {
  const o = jsonObject(text, "qe_identity");
  if (!Array.isArray(o.tcbLevels)) throw invalid("qe_identity has no tcbLevels");
  const le32 = (b: Uint8Array) => u32(b, 0);
  return {
    id: str(o.id, "qe_identity.id"),
    version: int(o.version, "qe_identity.version"),
    issueDate: time(o.issueDate, "qe_identity.issueDate"),
    nextUpdate: time(o.nextUpdate, "qe_identity.nextUpdate"),
    miscselect: le32(hexField(o.miscselect, "miscselect", 4)),
    miscselectMask: le32(hexField(o.miscselectMask, "miscselectMask", 4)),
    attributes: hexField(o.attributes, "attributes", 16),
    attributesMask: hexField(o.attributesMask, "attributesMask", 16),
    mrsigner: hexField(o.mrsigner, "mrsigner", 32),
    isvprodid: int(o.isvprodid, "isvprodid"),
    levels: o.tcbLevels.map((l: Record<string, unknown>) => ({
      isvsvn: int((l?.tcb as Record<string, unknown> | undefined)?.isvsvn, "isvsvn"),
      status: str(l.tcbStatus, "tcbStatus") as TcbStatus,
      advisoryIds: advisories(l.advisoryIDs),
    })),
  };
}

const bytesOf = (v: string | number[]) => (typeof v === "string" ? fromHex(v) : Uint8Array.from(v));

/** Parses; errors are kept, to be thrown in the order the checks are made. */
const attempt = <T>(fn: () => T): T | Error => {
  try {
    return fn();
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
};
const must = <T>(v: T | Error): T => {
  if (v instanceof Error) throw v instanceof Refusal || v instanceof VeilError ? v : invalid(v.message);
  return v;
};

function parseChain(text: string, field: string): Certificate[] {
  const { ders, canonical } = pemChain(text.replace(/\0+$/, ""));
  if (!canonical) throw invalid(`${field} is not a canonical PEM certificate chain`);
  try {
    return ders.map(parseCertificate);
  } catch (err) {
    throw invalid(`${field} holds a certificate that does not parse: ${(err as Error).message}`);
  }
}

function newCollateralEntry(c: DcapCollateral): CollateralEntry {
  const signed = <T>(body: string, chain: string, field: string, parse: (t: string) => T): Signed<T> => ({
    body: attempt(() => parse(body)),
    chain: attempt(() => parseChain(chain, `${field}_issuer_chain`)),
    signatureOk: undefined,
  });
  return {
    root: ROOT,
    crls: attempt(() => {
      try {
        return { root: parseCrl(bytesOf(c.root_ca_crl)), pck: parseCrl(bytesOf(c.pck_crl)) };
      } catch (err) {
        throw invalid(`a CRL is not well-formed: ${(err as Error).message}`);
      }
    }),
    pckCrlIssuer: attempt(() => parseChain(c.pck_crl_issuer_chain, "pck_crl_issuer_chain")),
    tcb: signed(c.tcb_info, c.tcb_info_issuer_chain, "tcb_info", parseTcbInfo),
    qe: signed(c.qe_identity, c.qe_identity_issuer_chain, "qe_identity", parseQeIdentity),
    verifiedChains: new WeakSet(),
  };
}

// ---------------------------------------------------------------------------------------------
// Caches

const MAX_ENTRIES = 64;
function remember<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as string);
    map.set(key, v);
  }
  return v;
}

const collateralCache = new Map<string, CollateralEntry>();
type PckChain = { certs: Certificate[]; ext: PckExtension } | Error;
const pckChainCache = new Map<string, PckChain>();
/** Empties the caches (for benchmarks of a cold verification). */
export function clearDcapCaches(): void {
  collateralCache.clear();
  pckChainCache.clear();
}

const enc = new TextEncoder();

function collateralKey(crypto: DcapCrypto, c: DcapCollateral): string {
  const parts = [
    c.pck_crl_issuer_chain,
    typeof c.root_ca_crl === "string" ? c.root_ca_crl : toHex(Uint8Array.from(c.root_ca_crl)),
    typeof c.pck_crl === "string" ? c.pck_crl : toHex(Uint8Array.from(c.pck_crl)),
    c.tcb_info_issuer_chain,
    c.tcb_info,
    typeof c.tcb_info_signature === "string"
      ? c.tcb_info_signature
      : toHex(Uint8Array.from(c.tcb_info_signature)),
    c.qe_identity_issuer_chain,
    c.qe_identity,
    typeof c.qe_identity_signature === "string"
      ? c.qe_identity_signature
      : toHex(Uint8Array.from(c.qe_identity_signature)),
  ];
  // Length-prefixed, so that moving a byte from one field to the next changes the key.
  return toHex(crypto.sha256(enc.encode(parts.map((p) => `${p.length}:${p}`).join("|"))));
}

// ---------------------------------------------------------------------------------------------
// Checks

function signedBy(
  crypto: DcapCrypto,
  signer: Certificate,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return crypto.verifyP256(signer.publicKey, message, signature);
}

/** Chain checks in dcap-qvl's order: leaf not a CA, signatures, windows, revocation. */
function checkChain(
  crypto: DcapCrypto,
  entry: CollateralEntry,
  crls: { root: Crl; pck: Crl },
  chain: Certificate[],
  now: number,
  what: string,
): void {
  if (chain.length < 2) throw invalid(`the ${what} certificate chain is too short`);
  const leaf = chain[0]!;
  if (leaf.isCa) throw invalid(`the ${what} leaf certificate is a CA`);
  const last = chain[chain.length - 1]!;
  if (!bytesEqual(last.der, entry.root.der))
    throw invalid(`the ${what} chain does not end at Intel's SGX Root CA`);
  if (!entry.verifiedChains.has(chain)) {
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i]!;
      const issuer = chain[i + 1] ?? entry.root;
      if (!bytesEqual(cert.issuer, issuer.subject) || !signedBy(crypto, issuer, cert.tbs, cert.signature))
        throw invalid(`the ${what} chain: certificate ${i} is not signed by its issuer`);
    }
    entry.verifiedChains.add(chain);
  }
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (now < cert.notBefore || now > cert.notAfter)
      throw expired(`the ${what} chain: certificate ${i} is expired or not yet valid`);
  }
  for (const cert of chain) {
    if (crls.root.revoked.has(cert.serial) || crls.pck.revoked.has(cert.serial))
      throw revoked(`a certificate of the ${what} chain is revoked`);
  }
}

function checkSigned<T>(
  crypto: DcapCrypto,
  entry: CollateralEntry,
  crls: { root: Crl; pck: Crl },
  s: Signed<T>,
  text: string,
  signature: string | number[],
  now: number,
  what: string,
): T {
  const body = must(s.body);
  const window = body as unknown as { issueDate: number; nextUpdate: number };
  if (now < window.issueDate) throw expired(`the ${what} issue date is in the future`);
  if (now > window.nextUpdate) throw expired(`the ${what} has expired`);
  const chain = must(s.chain);
  checkChain(crypto, entry, crls, chain, now, what);
  if (s.signatureOk === undefined) {
    const sig = attempt(() => bytesOf(signature));
    s.signatureOk =
      !(sig instanceof Error) && sig.length === 64 && signedBy(crypto, chain[0]!, enc.encode(text), sig);
  }
  if (!s.signatureOk) throw invalid(`the ${what} signature is invalid`);
  return body;
}

const SEVERITY: Record<string, number> = {
  UpToDate: 0,
  SWHardeningNeeded: 1,
  ConfigurationNeeded: 2,
  ConfigurationAndSWHardeningNeeded: 3,
  OutOfDate: 4,
  OutOfDateConfigurationNeeded: 5,
  Revoked: 6,
};
const severity = (s: string) => SEVERITY[s] ?? 100;

const geq = (actual: ArrayLike<number>, required: number[]) => {
  if (actual.length !== required.length) return false;
  for (let i = 0; i < required.length; i++) if (actual[i]! < required[i]!) return false;
  return true;
};

function parsePckChain(crypto: DcapCrypto, certData: Uint8Array): PckChain {
  return remember(pckChainCache, toHex(crypto.sha256(certData)), () =>
    attempt(() => {
      let end = certData.length;
      while (end > 0 && certData[end - 1] === 0) end--; // quoting enclaves NUL-terminate the chain
      let text = "";
      for (let i = 0; i < end; i++) text += String.fromCharCode(certData[i]!);
      const { ders, canonical } = pemChain(text);
      if (ders.length === 0) throw invalid("the quote carries no PCK certificate chain");
      if (!canonical) {
        throw new VeilError(
          "ATTESTATION_INVALID",
          "The quote is malformed: the PCK certificate chain is not in canonical PEM form",
          {
            status: 400,
            hint: "Send the quote exactly as the quoting enclave produced it.",
          },
        );
      }
      let certs: Certificate[];
      try {
        certs = ders.map(parseCertificate);
      } catch (err) {
        throw invalid(`the quote's PCK certificate does not parse: ${(err as Error).message}`);
      }
      const ext = certs[0]?.sgxExtension;
      if (!ext) throw invalid("the PCK certificate has no SGX extension");
      try {
        return { certs, ext: parsePckExtension(ext) };
      } catch (err) {
        throw invalid(`the PCK certificate's SGX extension: ${(err as X509Error).message}`);
      }
    }),
  );
}

function core(
  quoteBytes: Uint8Array,
  c: DcapCollateral,
  now: number,
  crypto: DcapCrypto,
): { quote: ParsedQuote; status: TcbStatus; advisoryIds: string[] } {
  const quote = parseQuote(quoteBytes);
  // An attached chain must be the quote's own (dcap-qvl would use it instead; ADR 0020).
  if (c.pck_certificate_chain) {
    let own = "";
    for (let i = 0; i < quote.certData.length; i++) own += String.fromCharCode(quote.certData[i]!);
    if (!sameCertificateChain(c.pck_certificate_chain, own)) throw pckChainMismatch();
  }
  const entry = remember(collateralCache, collateralKey(crypto, c), () => newCollateralEntry(c));

  // TCB info first (its window, then the CRLs it is checked against), as dcap-qvl orders them.
  const tcbBody = must(entry.tcb.body);
  if (now < tcbBody.issueDate) throw expired("the TCB info issue date is in the future");
  if (now > tcbBody.nextUpdate) throw expired("the TCB info has expired");
  const crls = must(entry.crls);
  const tcbInfo = checkSigned(
    crypto,
    entry,
    crls,
    entry.tcb,
    c.tcb_info,
    c.tcb_info_signature,
    now,
    "TCB info",
  );
  const qeId = checkSigned(
    crypto,
    entry,
    crls,
    entry.qe,
    c.qe_identity,
    c.qe_identity_signature,
    now,
    "QE identity",
  );
  const tdx = quote.teeType === TEE_TDX;
  if (qeId.id !== (tdx ? "TD_QE" : "QE") || !(tdx ? [2, 3] : [2]).includes(qeId.version))
    throw invalid("the QE identity is not the one for this quote's TEE type");

  // The quote's PCK chain (parsed and signature-checked once per chain).
  const pck = parsePckChain(crypto, quote.certData);
  if (pck instanceof VeilError) throw pck;
  const { certs, ext } = must(pck);
  checkChain(crypto, entry, crls, certs, now, "PCK");
  const leaf = certs[0]!;

  if (!crypto.verifyP256(leaf.publicKey, quote.qeReport, quote.qeReportSignature))
    throw invalid("the QE report signature is invalid");
  const qe = quote.qeReport;
  const hashInput = new Uint8Array(64 + quote.qeAuthData.length);
  hashInput.set(quote.attestationKey);
  hashInput.set(quote.qeAuthData, 64);
  if (!bytesEqual(crypto.sha256(hashInput), qe.subarray(320, 352)))
    throw invalid("the QE report does not bind the attestation key");

  // The QE against its identity.
  if (!bytesEqual(qe.subarray(128, 160), qeId.mrsigner)) throw invalid("QE MRSIGNER mismatch");
  if (u16(qe, 256) !== qeId.isvprodid) throw invalid("QE ISVPRODID mismatch");
  if (qe[48]! & 0x02)
    throw new Refusal("ATTESTATION_DEBUG_ENCLAVE", "the quoting enclave is a debug enclave");
  if ((u32(qe, 16) & qeId.miscselectMask) >>> 0 !== (qeId.miscselect & qeId.miscselectMask) >>> 0)
    throw invalid("QE MISCSELECT mismatch");
  for (let i = 0; i < 16; i++)
    if ((qe[48 + i]! & qeId.attributesMask[i]!) !== (qeId.attributes[i]! & qeId.attributesMask[i]!))
      throw invalid("QE ATTRIBUTES mismatch");
  const qeSvn = u16(qe, 258);
  const qeLevel = qeId.levels.find((l) => qeSvn >= l.isvsvn);
  if (!qeLevel) throw invalid(`QE ISVSVN ${qeSvn} is below every level of the QE identity`);

  if (!crypto.verifyP256(quote.attestationKey, quote.signed, quote.signature))
    throw invalid("the quote signature is invalid");

  // The platform's TCB level.
  if (!bytesEqual(ext.fmspc, tcbInfo.fmspc)) throw invalid("FMSPC mismatch");
  if (tdx ? tcbInfo.version < 3 || tcbInfo.id !== "TDX" : tcbInfo.version < 2 || tcbInfo.id !== "SGX")
    throw invalid("the TCB info is not for this quote's TEE type");
  const teeTcbSvn = tdx ? quote.body.subarray(0, 16) : undefined;
  let platform: TcbLevel | undefined;
  for (const level of tcbInfo.levels) {
    if (ext.pceSvn < level.pcesvn) continue;
    if (level.sgx.length === 0) throw invalid("no SGX components in the TCB info");
    if (!geq(ext.cpuSvn, level.sgx)) continue;
    if (teeTcbSvn) {
      if (level.tdx.length === 0) throw invalid("no TDX components in the TCB info");
      if (!geq(teeTcbSvn, level.tdx)) continue;
    }
    platform = level;
    break;
  }
  if (!platform) throw invalid("no matching TCB level");
  const status = severity(qeLevel.status) > severity(platform.status) ? qeLevel.status : platform.status;
  const advisoryIds = [...platform.advisoryIds];
  for (const id of qeLevel.advisoryIds) if (!advisoryIds.includes(id)) advisoryIds.push(id);
  if (severity(status) > 5) throw revoked(`TCB status is invalid: ${status}`);

  // The debug bit and TD attributes.
  if (tdx) {
    const a = quote.body.subarray(120, 128);
    if (a[0] !== 0) throw new Refusal("ATTESTATION_DEBUG_ENCLAVE", "the TD is a debug TD");
    if (
      (a[3]! & 0x0f) !== 0 ||
      a[2] !== 0 ||
      a[1] !== 0 ||
      a[3]! & 0x20 ||
      (a[7]! & 0x7f) !== 0 ||
      a[6] ||
      a[5] ||
      a[4]
    )
      throw invalid("reserved bits in TD attributes are set");
    if (!(a[3]! & 0x10)) throw invalid("SEPT_VE_DISABLE is not enabled");
  } else if (quote.body[48]! & 0x02) {
    throw new Refusal("ATTESTATION_DEBUG_ENCLAVE", "the enclave is a debug enclave");
  }

  // Veil's additions: the CRLs' signatures and windows, and their issuer chain.
  const issuerChain = must(entry.pckCrlIssuer);
  const lastIssuer = issuerChain[issuerChain.length - 1];
  if (!lastIssuer || !bytesEqual(lastIssuer.der, entry.root.der))
    throw invalid("the PCK CRL issuer chain does not end at Intel's SGX Root CA");
  if (!entry.verifiedChains.has(issuerChain)) {
    for (let i = 0; i < issuerChain.length; i++) {
      const cert = issuerChain[i]!;
      const issuer = issuerChain[i + 1] ?? entry.root;
      if (!signedBy(crypto, issuer, cert.tbs, cert.signature))
        throw invalid(`PCK CRL issuer chain: certificate ${i} is not signed by its issuer`);
    }
    if (!signedBy(crypto, entry.root, crls.root.tbs, crls.root.signature))
      throw invalid("the root CA CRL is not signed by Intel's SGX Root CA");
    if (!signedBy(crypto, issuerChain[0]!, crls.pck.tbs, crls.pck.signature))
      throw invalid("the PCK CRL is not signed by its issuer");
    entry.verifiedChains.add(issuerChain);
  }
  for (const [i, cert] of issuerChain.entries())
    if (now < cert.notBefore || now > cert.notAfter)
      throw expired(`PCK CRL issuer chain: certificate ${i} is not valid at the time of verification`);
  for (const [crl, what] of [
    [crls.root, "root CA CRL"],
    [crls.pck, "PCK CRL"],
  ] as const) {
    if (now < crl.thisUpdate || (crl.nextUpdate !== undefined && now > crl.nextUpdate))
      throw expired(`the ${what} is not valid at the time of verification`);
  }
  if (!bytesEqual(certs[1]!.der, issuerChain[0]!.der))
    throw invalid("the PCK CRL is not the one of the CA that issued the quote's PCK certificate");
  return { quote, status, advisoryIds };
}

const hex0x = (b: Uint8Array) => `0x${toHex(b)}`;

/**
 * Verifies an SGX (v3) or TDX (v4) DCAP quote against its collateral, offline. With
 * `expectedReportData` the quote must carry exactly those bytes (zero-padded to 64).
 */
export function verifyQuoteWithVeil(
  quote: Uint8Array,
  collateralInput: unknown,
  options: { now?: number; expectedReportData?: Uint8Array; crypto?: DcapCrypto } = {},
): DcapVerified {
  const collateral = parseCollateral(collateralInput);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  let r: ReturnType<typeof core>;
  try {
    r = core(quote, collateral, now, options.crypto ?? dcapCrypto());
  } catch (err) {
    throw toVeilError(err);
  }
  const { quote: q, status, advisoryIds } = r;
  const b = q.body;
  const reportData = new Uint8Array(b.subarray(b.length - 64));
  if (options.expectedReportData) {
    const expected = new Uint8Array(64);
    expected.set(options.expectedReportData.subarray(0, 64));
    if (!bytesEqual(reportData, expected)) {
      throw new VeilError(
        "ATTESTATION_REPORT_DATA_MISMATCH",
        "The quote is not bound to this node's identity keys",
        {
          status: 403,
          hint: "The quote's report data must be the hash of the node's identity keys.",
        },
      );
    }
  }
  const common = { quoteVersion: q.version, tcbStatus: status, advisoryIds, reportData };
  if (q.teeType === TEE_SGX) {
    const measurements: SgxMeasurements = {
      mrEnclave: hex0x(b.subarray(64, 96)),
      mrSigner: hex0x(b.subarray(128, 160)),
      isvProdId: u16(b, 256),
      isvSvn: u16(b, 258),
    };
    return { tee: "sgx", ...common, measurements };
  }
  const m = (o: number) => hex0x(b.subarray(o, o + 48));
  const measurements: TdxMeasurements = {
    mrTd: m(136),
    rtmr0: m(328),
    rtmr1: m(376),
    rtmr2: m(424),
    rtmr3: m(472),
    mrConfigId: m(184),
    mrOwner: m(232),
    mrOwnerConfig: m(280),
    mrSeam: m(16),
  };
  return { tee: "tdx", ...common, measurements };
}
