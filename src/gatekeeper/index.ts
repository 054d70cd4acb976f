export {
  type ClusterKeyGrant,
  requestClusterKey,
  requestVerification,
  signProvisionRequest,
} from "./client.ts";
export { requestMasterKey, signJoinRequest } from "./join.ts";
export { MasterKeyStore, masterPublicKeyHex, masterSigningAccount } from "./keys.ts";
export { recordLapsedWorkers } from "./policy-watch.ts";
export * from "./protocol.ts";
export { type RotationParticipant, takePartInRotation } from "./rotation.ts";
export { createGatekeeperServer } from "./server.ts";
export { type GatekeeperOptions, GatekeeperService } from "./service.ts";
