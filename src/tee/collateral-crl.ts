import { verify as cryptoVerify, X509Certificate } from "node:crypto";
import { VeilError } from "../errors/index.ts";
import { children, content, DerError, readNode, readTime } from "./der.ts";
import { INTEL_SGX_ROOT_CA_DER } from "./intel-root.ts";

/**
 * What @phala/dcap-qvl leaves unchecked in the collateral: it looks revoked serials up in the
 * CRLs but never verifies the CRLs' signatures or validity, and never reads
 * `pck_crl_issuer_chain` (measured: any byte of those three fields could be changed and the
 * quote still verified). Veil verifies them here: the PCK CRL issuer chain up to the pinned
 * Intel root, each CRL's signature by its issuer, its validity window, and that neither the
 * quote's PCK certificate nor its CA is revoked.
 */
export function verifyCollateralCrls(
  collateral: { pck_crl_issuer_chain: string; root_ca_crl: string | number[]; pck_crl: string | number[] },
  quoteChain: X509Certificate[],
  now: number,
): void {
  const root = new X509Certificate(INTEL_SGX_ROOT_CA_DER);
  const issuerChain = parsePemChain(collateral.pck_crl_issuer_chain, "pck_crl_issuer_chain");
  const last = issuerChain[issuerChain.length - 1];
  if (!last?.raw.equals(root.raw)) {
    throw invalid("the PCK CRL issuer chain does not end at Intel's SGX Root CA");
  }
  verifyChain(issuerChain, now, "PCK CRL issuer chain");
  const pckCa = issuerChain[0]!;

  const rootCrl = parseCrl(bytesOf(collateral.root_ca_crl), "root_ca_crl");
  checkCrl(rootCrl, root, now, "root CA CRL");
  const pckCrl = parseCrl(bytesOf(collateral.pck_crl), "pck_crl");
  checkCrl(pckCrl, pckCa, now, "PCK CRL");

  // The quote's chain: PCK leaf, its CA, the root. Its CA must be the one whose CRL we hold.
  const [leaf, ca] = quoteChain;
  if (!leaf || !ca) throw invalid("the quote carries no PCK certificate chain");
  if (!ca.raw.equals(pckCa.raw))
    throw invalid("the PCK CRL is not the one of the CA that issued the quote's PCK certificate");
  if (rootCrl.revoked.has(normalizeSerial(ca.serialNumber))) throw revoked("the PCK CA certificate");
  if (pckCrl.revoked.has(normalizeSerial(leaf.serialNumber))) throw revoked("the platform's PCK certificate");
}

/** AlgorithmIdentifier { ecdsa-with-SHA256 } (1.2.840.10045.4.3.2), without parameters. */
const ECDSA_SHA256 = Buffer.from("300a06082a8648ce3d040302", "hex");

type Crl = {
  tbs: Buffer;
  signature: Buffer;
  thisUpdate: number;
  nextUpdate: number | undefined;
  revoked: Set<string>;
};

const invalid = (what: string, cause?: unknown) =>
  new VeilError("ATTESTATION_INVALID", `The collateral does not verify: ${what}`, {
    status: 403,
    cause,
    hint: "The collateral was altered, or it does not belong to this quote.",
  });
const revoked = (what: string) =>
  new VeilError("ATTESTATION_REVOKED", `${what} is revoked by Intel`, {
    status: 403,
    hint: "This platform cannot be trusted.",
  });

function bytesOf(value: string | number[]): Buffer {
  return typeof value === "string" ? Buffer.from(value, "hex") : Buffer.from(value);
}

const normalizeSerial = (hex: string) => hex.replace(/^(00)+/, "").toUpperCase();

export function parsePemChain(text: string, field: string): X509Certificate[] {
  const blocks =
    text.match(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n?/g) ?? [];
  const certs = blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw invalid(`${field} holds a certificate that does not parse`, err);
    }
  });
  const canonical = certs
    .map(
      (c) =>
        `-----BEGIN CERTIFICATE-----\n${c.raw
          .toString("base64")
          .match(/.{1,64}/g)!
          .join("\n")}\n-----END CERTIFICATE-----\n`,
    )
    .join("");
  if (certs.length === 0 || canonical.replace(/\n$/, "") !== text.replace(/\0+$/, "").replace(/\n$/, "")) {
    throw invalid(`${field} is not a canonical PEM certificate chain`);
  }
  return certs;
}

/** Each certificate signed by the next, and valid at `now`. */
export function verifyChain(chain: X509Certificate[], now: number, what: string): void {
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1] ?? cert;
    if (!cert.verify(issuer.publicKey))
      throw invalid(`${what}: certificate ${i} is not signed by its issuer`);
    const from = Date.parse(cert.validFrom) / 1000;
    const to = Date.parse(cert.validTo) / 1000;
    if (now < from || now > to) {
      throw new VeilError(
        "ATTESTATION_EXPIRED",
        `${what}: certificate ${i} is not valid at the time of verification`,
        { status: 403 },
      );
    }
  }
}

function parseCrl(der: Buffer, field: string): Crl {
  try {
    const top = readNode(der, 0);
    if (top.tag !== 0x30 || top.bytes.length !== der.length) throw new DerError("not one SEQUENCE");
    const [tbsNode, algNode, sigNode, ...extra] = children(der, top);
    if (!tbsNode || !algNode || !sigNode || sigNode.tag !== 0x03 || extra.length)
      throw new DerError("bad CRL structure");
    const tbsFields = children(der, tbsNode);
    let i = 0;
    if (tbsFields[i]?.tag === 0x02) i++; // version
    // The outer algorithm is not covered by the signature: it must be ECDSA-SHA256 and repeat
    // the signed one exactly (RFC 5280 §5.1.1.2).
    if (!algNode.bytes.equals(ECDSA_SHA256) || !tbsFields[i]?.bytes.equals(ECDSA_SHA256)) {
      throw new DerError("CRL signature algorithm is not ecdsa-with-SHA256");
    }
    i++; // signature algorithm
    i++; // issuer
    const thisUpdate = readTime(tbsFields[i++]!);
    let nextUpdate: number | undefined;
    if (tbsFields[i] && (tbsFields[i]!.tag === 0x17 || tbsFields[i]!.tag === 0x18))
      nextUpdate = readTime(tbsFields[i++]!);
    const revokedSet = new Set<string>();
    if (tbsFields[i]?.tag === 0x30) {
      for (const entry of children(der, tbsFields[i]!)) {
        const serial = children(der, entry)[0];
        if (serial?.tag !== 0x02) throw new DerError("bad revoked entry");
        revokedSet.add(normalizeSerial(content(serial).toString("hex")));
      }
    }
    const sigBits = content(sigNode);
    if (sigBits[0] !== 0) throw new DerError("signature bit string with unused bits");
    return {
      tbs: tbsNode.bytes,
      signature: sigBits.subarray(1),
      thisUpdate,
      nextUpdate,
      revoked: revokedSet,
    };
  } catch (err) {
    if (err instanceof VeilError) throw err;
    throw invalid(`${field} is not a well-formed CRL`, err);
  }
}

function checkCrl(crl: Crl, issuer: X509Certificate, now: number, what: string): void {
  const ok = cryptoVerify("sha256", crl.tbs, { key: issuer.publicKey, dsaEncoding: "der" }, crl.signature);
  if (!ok) throw invalid(`the ${what} is not signed by ${issuer.subject.split("\n")[0]}`);
  if (now < crl.thisUpdate || (crl.nextUpdate !== undefined && now > crl.nextUpdate)) {
    throw new VeilError("ATTESTATION_EXPIRED", `The ${what} is not valid at the time of verification`, {
      status: 403,
      hint: "Fetch fresh collateral, or verify at a time inside its window.",
    });
  }
}
