/**
 * Domain-separation labels. Every key Veil derives names its purpose and version here, so that
 * no two uses can ever share key material, and a change of scheme is a change of label.
 */
export const LABELS = {
  clusterKey: "veil/v1/cluster-key",
  masterSigning: "veil/v1/master/signing",
  clusterSigning: "veil/v1/cluster/signing",
  agentEncryption: "veil/v1/agent/encryption",
  agentSigning: "veil/v1/agent/signing",
  agentState: "veil/v1/agent/state",
  agentSecrets: "veil/v1/agent/secrets",
  agentDerivedSecrets: "veil/v1/agent/derived-secrets",
  ownerLogs: "veil/v1/owner/logs",
  agentEpoch: "veil/v1/agent/epoch",
  epochState: "veil/v1/agent/epoch-state",
  epochSecret: "veil/v1/secret/epoch",
  rotationShare: "veil/v1/rotation/share",
  rotationMaster: "veil/v1/rotation/master",
  envelopePrefix: "veil/v1/envelope/",
  wrapPrefix: "veil/v1/wrap/",
} as const;
