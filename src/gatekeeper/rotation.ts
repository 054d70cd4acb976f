import { bytesToHex, type Hex, hexToBytes } from "viem";
import { RotationClient, RotationState, type VeilChain } from "../chain/index.ts";
import { combineMasterShares, openContribution, randomBytes, sealContribution } from "../crypto/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import { type MasterKeyStore, masterPublicKeyHex, masterSigningAccount } from "./keys.ts";
import type { GatekeeperService } from "./service.ts";

export type RotationParticipant = {
  chain: VeilChain;
  identity: NodeIdentity;
  store: MasterKeyStore;
  service: GatekeeperService;
  log?: (message: string) => void;
  pollMs?: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * One elected gatekeeper's part in a rotation (ADR 0010), resumable at every step from what
 * the chain and its sealed store hold, so that a gatekeeper that restarts mid-rotation
 * finishes it:
 *
 * 1. contribute: a random share, sealed to every elected gatekeeper's attested key;
 * 2. once all contributed: open the share each sealed to it, derive the master key over all
 *    of them and the on-chain transcript, seal it to its own enclave (the epoch's state);
 * 3. confirm on chain with the master public key;
 * 4. once the chain resumes key traffic: switch to the new key, destroy the ended epoch's key
 *    (on disk and in memory) and record that on chain.
 *
 * Returns the new epoch, or undefined when there is no rotation this gatekeeper is elected in.
 */
export async function takePartInRotation(p: RotationParticipant): Promise<bigint | undefined> {
  const rotation = new RotationClient(p.chain);
  const log = p.log ?? (() => {});
  const pollMs = p.pollMs ?? 250;
  const me = p.identity.address;
  let r = await rotation.current();
  const position = r.elected.findIndex((g) => same(g, me));
  if (position < 0 || r.state === RotationState.Idle || r.state === RotationState.Completed) return undefined;
  const epoch = r.epoch;
  const previous = epoch - 1n;

  if (r.state === RotationState.Open && (await rotation.contribution(epoch, me)) === "0x") {
    const registered = await p.chain.listGatekeepers();
    const recipients = r.elected.map((address) => {
      const g = registered.find((x) => same(x.address, address));
      if (!g)
        throw new VeilError(
          "GATEKEEPER_NOT_REGISTERED",
          `Elected gatekeeper ${address} is not in the set`,
          {},
        );
      return { address, encryptionKey: hexToBytes(g.encryptionKey) };
    });
    const share = randomBytes(32);
    await rotation.contribute(epoch, bytesToHex(sealContribution(share, epoch, me, recipients)));
    share.fill(0);
    log(`contributed to the master key of epoch ${epoch}`);
  }

  // 2. Wait for every contribution, then derive (or reload) the new master key.
  for (let i = 0; ; i++) {
    r = await rotation.current();
    if (r.epoch !== epoch || r.state === RotationState.Idle) return undefined; // aborted
    if (r.contributions === r.elected.length) break;
    if (i % 40 === 0)
      log(`waiting for contributions to epoch ${epoch}: ${r.contributions}/${r.elected.length}`);
    await sleep(pollMs);
  }
  let master = await p.store.load(epoch);
  if (!master) {
    const transcript = await rotation.transcript(epoch);
    const shares: Uint8Array[] = [];
    for (const from of r.elected) {
      const contribution = hexToBytes(await rotation.contribution(epoch, from));
      shares.push(
        openContribution(
          contribution,
          epoch,
          from,
          { address: me, position, privateKey: p.identity.encryptionPrivateKey() },
          r.elected.length,
        ),
      );
    }
    master = combineMasterShares(shares, hexToBytes(transcript), epoch);
    for (const s of shares) s.fill(0);
    await p.store.store(epoch, master);
  }
  const publicKey = masterPublicKeyHex(master);

  // 3. Confirm.
  if (r.state === RotationState.Open && !(await rotation.hasConfirmed(epoch, me))) {
    await rotation.confirm(
      epoch,
      await rotation.transcript(epoch),
      publicKey,
      masterSigningAccount(master).address,
    );
    log(`confirmed the master key of epoch ${epoch}`);
  }

  // 4. Once key traffic resumes, switch, destroy the ended epoch's key, record it.
  for (let i = 0; ; i++) {
    r = await rotation.current();
    if (r.epoch !== epoch || r.state === RotationState.Idle) return undefined;
    if (r.state !== RotationState.Open && (await rotation.keyTrafficOpen())) break;
    if (i % 40 === 0) log(`waiting for the other confirmations of epoch ${epoch}`);
    await sleep(pollMs);
  }
  p.service.setMasterKey(epoch, master, publicKey as Hex);
  p.store.destroy(previous);
  // Recording is retried: when the elected record at once, a transaction whose gas was estimated
  // before another's landed can run out of gas (the last one also completes the rotation).
  for (let attempt = 1; !(await rotation.hasDestroyed(epoch, me)); attempt++) {
    try {
      await rotation.recordOldKeysDestroyed(epoch);
    } catch (err) {
      if (attempt >= 5) throw err;
      log(`recording the destruction of epoch ${previous}'s key failed (${attempt}); retrying`);
      await sleep(pollMs);
    }
  }
  log(`now on epoch ${epoch}; destroyed the master key of epoch ${previous}`);
  return epoch;
}
