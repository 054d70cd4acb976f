import { BaseError, ContractFunctionRevertedError, HttpRequestError } from "viem";
import { VeilError } from "../errors/index.ts";

/** Revert errors of the contracts → Veil error codes, hints and HTTP statuses. */
const REVERTS: Record<string, { code: string; status: number; hint: string; retryable?: boolean }> = {
  NameTaken: { code: "AGENT_NAME_TAKEN", status: 409, hint: "Choose another --name; names are global." },
  InvalidName: {
    code: "AGENT_NAME_INVALID",
    status: 400,
    hint: "Use 1–64 characters of a–z, 0–9 and '-', starting with a letter.",
  },
  AgentNotFound: { code: "AGENT_NOT_FOUND", status: 404, hint: "Check the name or id with `veil inspect`." },
  NotAgentOwner: { code: "NOT_AGENT_OWNER", status: 403, hint: "Use the account that owns the agent." },
  EmptyCodeHash: { code: "BUNDLE_HASH_EMPTY", status: 400, hint: "Build the bundle before registering it." },
  VersionIsRemoved: {
    code: "VERSION_REMOVED",
    status: 410,
    hint: "A removed version can never run again; activate another one (`veil agent versions`).",
  },
  CodeHashRemoved: {
    code: "VERSION_REMOVED",
    status: 410,
    hint: "This code was removed from the agent for good; build and deploy a changed bundle.",
  },
  CannotRemoveCurrentVersion: {
    code: "VERSION_IS_CURRENT",
    status: 409,
    hint: "Activate another version first (`veil agent rollback`), then remove this one.",
  },
  AlreadyPaused: { code: "AGENT_ALREADY_PAUSED", status: 409, hint: "Unpause it with `veil agent unpause`." },
  NotPaused: { code: "AGENT_NOT_PAUSED", status: 409, hint: "The agent is running; nothing to unpause." },
  InvalidAccess: {
    code: "ACCESS_MODE_INVALID",
    status: 400,
    hint: "Token-holder mode needs --token (and --min); public and allowlist modes take neither.",
  },
  InvalidQuota: {
    code: "QUOTA_INVALID",
    status: 400,
    hint: "Give both calls and period (seconds), or both zero to lift the quota.",
  },
  AllowlistBatchTooLarge: {
    code: "ALLOWLIST_BATCH_INVALID",
    status: 400,
    hint: "Pass 1–256 addresses per transaction.",
  },
  ZeroAddress: { code: "ADDRESS_ZERO", status: 400, hint: "Pass a real address, not 0x000…0." },
  SameOwner: {
    code: "AGENT_OWNER_UNCHANGED",
    status: 400,
    hint: "Name a different address as the new owner.",
  },
  VersionOutOfRange: { code: "VERSION_NOT_FOUND", status: 404, hint: "List versions with `veil inspect`." },
  BadWorkerSignature: {
    code: "WORKER_SIGNATURE_INVALID",
    status: 400,
    hint: "The worker's identity key must sign its registration.",
  },
  MeasurementNotAllowed: {
    code: "ATTESTATION_MEASUREMENT_NOT_ALLOWED",
    status: 403,
    hint: "This build is not in the attestation policy; governance must allow its measurement.",
  },
  EvidenceNotCurrent: {
    code: "ATTESTATION_MISMATCH",
    status: 409,
    hint: "The worker re-registered with other evidence since; verify the evidence now on chain.",
  },
  WorkerStillValid: {
    code: "WORKER_STILL_VALID",
    status: 409,
    hint: "The worker is within the attestation policy (or not active); nothing to record.",
  },
  BadConfidence: {
    code: "ATTESTATION_CONFIDENCE_INVALID",
    status: 400,
    hint: "Confidence levels run from 1 to 5.",
  },
  ConfidenceBelowMinimum: {
    code: "ATTESTATION_TCB_BELOW_MINIMUM",
    status: 403,
    hint: "The platform's TCB is worse than the policy allows; update its microcode and firmware, then re-attest.",
  },
  BadParameters: {
    code: "POLICY_PARAMETERS_INVALID",
    status: 400,
    hint: "Need 0 < reattest period < max evidence age, and a minimum confidence from 1 to 5.",
  },
  WorkerEvicted: { code: "WORKER_EVICTED", status: 403, hint: "An evicted worker must use a new identity." },
  WorkerNotFound: {
    code: "WORKER_NOT_FOUND",
    status: 404,
    hint: "Register the worker first (`veil worker start`).",
  },
  AgentKeysAlreadySet: {
    code: "AGENT_KEYS_ALREADY_SET",
    status: 409,
    hint: "Another worker recorded them first.",
  },
  BadAgentCertificate: {
    code: "AGENT_CERT_INVALID",
    status: 400,
    hint: "Agent keys must be certified by the cluster key.",
  },
  BadClusterCertificate: {
    code: "AGENT_CERT_INVALID",
    status: 400,
    hint: "The cluster key must be certified by the master key.",
  },
  AgentKeysMissing: {
    code: "AGENT_KEYS_MISSING",
    status: 409,
    hint: "The agent has no keys yet: wait until a worker serves it (veil deploy waits for that).",
  },
  InvalidSecretName: {
    code: "SECRET_NAME_INVALID",
    status: 400,
    hint: "Secret names are 1–64 of A–Z, a–z, 0–9 and '_', not starting with a digit.",
  },
  SecretNotFound: {
    code: "SECRET_NOT_FOUND",
    status: 404,
    hint: "List the secrets with `veil secrets list NAME`.",
  },
  SecretEpochStale: {
    code: "SECRET_EPOCH_STALE",
    status: 503,
    retryable: true,
    hint: "A key rotation is under way or the secret was sealed to an ended epoch's key; retry shortly (the client re-reads the agent's keys).",
  },
  SecretChanged: {
    code: "SECRET_CHANGED",
    status: 409,
    hint: "The owner changed the secret meanwhile; re-read it before re-sealing.",
  },
  BadResealSignature: {
    code: "SECRET_RESEAL_UNAUTHORIZED",
    status: 403,
    hint: "Only the agent's current cluster signer may re-seal its secrets.",
  },
  SecretTooLarge: {
    code: "SECRET_TOO_LARGE",
    status: 413,
    hint: "A secret is at most 4 KiB, and an agent has at most 64.",
  },
  EgressListTooLong: {
    code: "EGRESS_LIST_TOO_LONG",
    status: 400,
    hint: "List at most 1024 characters of hosts; use wildcards such as *.example.com.",
  },
  OwnableUnauthorizedAccount: {
    code: "NOT_OWNER",
    status: 403,
    hint: "Only the contract's owner (governance) may do this.",
  },
  NotWorkerOperator: { code: "NOT_WORKER_OPERATOR", status: 403, hint: "Use the worker's operator account." },
  FeeTooLow: {
    code: "TRIGGER_FEE_TOO_LOW",
    status: 402,
    hint: "Pay at least AgentTriggers.requiredFee() with the request: the gas of the agent's answer and its callback, which the operator would otherwise pay.",
  },
  SimulatedNotAllowed: {
    code: "ATTESTATION_SIMULATED_NOT_ALLOWED",
    status: 403,
    hint: "This network does not accept simulated evidence (its key is public). Only a local dev network, or governance explicitly (`setSimulatedAllowed`), turns it on.",
  },
  PriceIncreaseDelayTooLong: {
    code: "PRICE_DELAY_INVALID",
    status: 400,
    hint: "A price increase may wait at most 30 days.",
  },
  NotGatekeeper: {
    code: "NOT_GATEKEEPER",
    status: 403,
    hint: "Only a gatekeeper of the current set may do this.",
  },
  MasterKeyAlreadyPublished: {
    code: "MASTER_KEY_ALREADY_PUBLISHED",
    status: 409,
    hint: "The master key of this epoch is already on chain.",
  },
  // ── key rotation (GatekeeperRegistry, ADR 0010) ──
  RotationInProgress: {
    code: "ROTATION_IN_PROGRESS",
    status: 409,
    hint: "A rotation is open or not yet completed; wait for it (`veil keys status`) or abort it.",
    retryable: true,
  },
  NoRotationOpen: { code: "NO_ROTATION_OPEN", status: 409, hint: "Open one with `veil keys rotate`." },
  WrongRotationEpoch: {
    code: "ROTATION_WRONG_EPOCH",
    status: 409,
    hint: "The message names another epoch than the open rotation; it may be a replay. Check `veil keys status`.",
  },
  NotElected: {
    code: "GATEKEEPER_NOT_ELECTED",
    status: 403,
    hint: "Only the gatekeepers elected for this epoch may contribute or confirm.",
  },
  InvalidElection: {
    code: "ROTATION_ELECTION_INVALID",
    status: 400,
    hint: "Elect 1–32 distinct, active gatekeepers of the set.",
  },
  AlreadyContributed: {
    code: "ROTATION_ALREADY_CONTRIBUTED",
    status: 409,
    hint: "A gatekeeper contributes once per epoch; this one is a replay.",
  },
  ContributionsMissing: {
    code: "ROTATION_CONTRIBUTIONS_MISSING",
    status: 409,
    hint: "Wait until every elected gatekeeper has contributed.",
    retryable: true,
  },
  AlreadyConfirmed: {
    code: "ROTATION_ALREADY_CONFIRMED",
    status: 409,
    hint: "A gatekeeper confirms once per epoch; this confirmation is a replay.",
  },
  TranscriptMismatch: {
    code: "ROTATION_TRANSCRIPT_MISMATCH",
    status: 409,
    hint: "Derive the key from exactly the contributions on chain.",
  },
  MasterKeyMismatch: {
    code: "ROTATION_MASTER_KEY_MISMATCH",
    status: 409,
    hint: "Another elected gatekeeper derived a different master key; governance should abort the rotation.",
  },
  RotationNotConfirmed: {
    code: "ROTATION_NOT_CONFIRMED",
    status: 409,
    hint: "Old keys may be destroyed only after every elected gatekeeper confirmed and key traffic resumed.",
    retryable: true,
  },
  AlreadyDestroyed: { code: "ROTATION_ALREADY_DESTROYED", status: 409, hint: "Already recorded." },
  InvalidContribution: {
    code: "ROTATION_CONTRIBUTION_INVALID",
    status: 400,
    hint: "Post 1–16384 bytes of sealed shares.",
  },

  // ── economy (contracts/economy): token, pools, vaults, rewards, fees, slashing, governance ──
  NotMinter: {
    code: "EMISSION_NOT_MINTER",
    status: 403,
    hint: "Only the rewards contract mints emission; rewards reach pools through heartbeats.",
  },
  EmissionCapExceeded: {
    code: "EMISSION_CAP_EXCEEDED",
    status: 409,
    hint: "The emission cap is reached; governance must lower the reward rate (the cap is fixed).",
  },
  ERC20InsufficientBalance: {
    code: "TOKEN_INSUFFICIENT_BALANCE",
    status: 402,
    hint: "The account holds fewer VEIL than this needs; check it with `balanceOf` and top it up.",
  },
  ERC20InsufficientAllowance: {
    code: "TOKEN_INSUFFICIENT_ALLOWANCE",
    status: 402,
    hint: "Approve the contract to spend at least this amount of VEIL first (the client does so when asked).",
  },
  ERC2612ExpiredSignature: {
    code: "PERMIT_EXPIRED",
    status: 400,
    hint: "Sign a new permit with a later deadline.",
  },
  ERC2612InvalidSigner: {
    code: "PERMIT_INVALID",
    status: 400,
    hint: "The permit must be signed by the token holder, for this spender, value, nonce and deadline.",
  },
  SafeCastOverflowedUintDowncast: {
    code: "AMOUNT_TOO_LARGE",
    status: 400,
    hint: "The amount does not fit the contract's accounting; use a smaller amount.",
  },
  InvalidParameter: {
    code: "ECONOMY_PARAMETER_INVALID",
    status: 400,
    hint: "The value is outside the parameter's allowed range; see the setter's NatSpec in contracts/economy.",
  },
  ZeroAmount: { code: "AMOUNT_ZERO", status: 400, hint: "Pass an amount (or number of shares) above zero." },
  PoolNotFound: {
    code: "POOL_NOT_FOUND",
    status: 404,
    hint: "Check the pool id; pools are numbered from 1.",
  },
  NotPoolOwner: { code: "NOT_POOL_OWNER", status: 403, hint: "Use the account that created the pool." },
  CommissionTooHigh: {
    code: "COMMISSION_TOO_HIGH",
    status: 400,
    hint: "Commission is in basis points: at most 10000 (100%).",
  },
  ContributionTooSmall: {
    code: "CONTRIBUTION_TOO_SMALL",
    status: 400,
    hint: "Contribute at least the pool contract's minContribution.",
  },
  PoolWipedOut: {
    code: "POOL_WIPED_OUT",
    status: 409,
    hint: "Slashing took all of this pool's stake; contribute to another pool.",
  },
  InsufficientShares: {
    code: "INSUFFICIENT_SHARES",
    status: 400,
    hint: "Withdraw at most the shares you hold (queued shares are already on their way).",
  },
  WorkerAlreadyBound: {
    code: "WORKER_ALREADY_BOUND",
    status: 409,
    hint: "Unbind the worker from its pool first (it must be idle with no stake).",
  },
  WorkerNotInPool: {
    code: "WORKER_NOT_IN_POOL",
    status: 404,
    hint: "Bind the worker to a pool with its operator's account first.",
  },
  WorkerBusy: {
    code: "WORKER_BUSY",
    status: 409,
    hint: "The worker is mining or cooling down; stop it and reclaim its stake after the cool-down.",
  },
  InsufficientFreeStake: {
    code: "INSUFFICIENT_FREE_STAKE",
    status: 409,
    hint: "Assign at most the pool's free stake; contributions or reclaimed stake add to it.",
  },
  WithdrawalsPending: {
    code: "WITHDRAWALS_PENDING",
    status: 409,
    hint: "Queued withdrawals are paid before stake is assigned or delegated; free more stake first.",
  },
  NotCoolingDown: {
    code: "WORKER_NOT_COOLING_DOWN",
    status: 409,
    hint: "Only a worker that stopped mining has stake to reclaim; stop it first.",
  },
  CoolDownNotOver: {
    code: "COOL_DOWN_NOT_OVER",
    status: 409,
    retryable: true,
    hint: "The stake is still cooling down; reclaim after the time in the arguments.",
  },
  QueueNotOverdue: {
    code: "QUEUE_NOT_OVERDUE",
    status: 409,
    hint: "Anyone may force stake back only when the oldest withdrawal has waited longer than maxQueueWait.",
  },
  NotSlasher: { code: "NOT_SLASHER", status: 403, hint: "Only the slashing contract may slash or punish." },
  NotStakePool: {
    code: "NOT_STAKE_POOL",
    status: 403,
    hint: "Mining starts and stops through the stake pool contract (startMining, stopMining).",
  },
  NotMining: {
    code: "WORKER_NOT_MINING",
    status: 409,
    hint: "The worker has no mining session in that state; start it with its pool's startMining.",
  },
  WorkerNotAttested: {
    code: "WORKER_NOT_ATTESTED",
    status: 403,
    hint: "The worker is not attested under the current policy; re-attest it (re-register) first.",
  },
  WorkerStillAttested: {
    code: "WORKER_STILL_ATTESTED",
    status: 409,
    hint: "The worker is attested; there is nothing to report.",
  },
  StakeTooLow: {
    code: "STAKE_TOO_LOW",
    status: 400,
    hint: "Assign at least the rewards contract's minStake.",
  },
  BadHeartbeatSignature: {
    code: "HEARTBEAT_SIGNATURE_INVALID",
    status: 400,
    hint: "The worker's own key must send the heartbeat or sign heartbeatDigest for its current session.",
  },
  NotChallenged: {
    code: "NOT_CHALLENGED",
    status: 400,
    hint: "That block does not challenge this worker; answer only blocks for which isChallenged is true.",
  },
  ChallengeWindowClosed: {
    code: "CHALLENGE_WINDOW_CLOSED",
    status: 409,
    hint: "Answer a challenge in the blocks after it, within challengeWindow; wait for the next one.",
  },
  ChallengeWindowOpen: {
    code: "CHALLENGE_WINDOW_OPEN",
    status: 409,
    retryable: true,
    hint: "The worker may still answer; report a miss only after the challenge window has passed.",
  },
  ChallengeAlreadyAnswered: {
    code: "CHALLENGE_ALREADY_ANSWERED",
    status: 409,
    hint: "The worker answered this or a later challenge (or it predates the session); nothing to do.",
  },
  ChallengeTooOld: {
    code: "CHALLENGE_TOO_OLD",
    status: 409,
    hint: "A miss must be reported within 256 blocks of the challenge, while its block hash is on chain.",
  },
  InsufficientEscrow: {
    code: "ESCROW_INSUFFICIENT",
    status: 402,
    hint: "The escrow holds less than that; request at most its balance.",
  },
  NoWithdrawalRequested: {
    code: "ESCROW_NO_WITHDRAWAL",
    status: 409,
    hint: "Request a withdrawal first, then withdraw after the withdrawal delay.",
  },
  WithdrawalLocked: {
    code: "ESCROW_WITHDRAWAL_LOCKED",
    status: 409,
    retryable: true,
    hint: "Workers may still claim until the time in the arguments; withdraw after it.",
  },
  EmptyClaim: { code: "CLAIM_EMPTY", status: 400, hint: "Pass at least one voucher." },
  BadVoucherSignature: {
    code: "VOUCHER_SIGNATURE_INVALID",
    status: 400,
    hint: "Vouchers must be signed by the payer or a signer it authorized for that agent.",
  },
  VoucherAlreadyClaimed: {
    code: "VOUCHER_ALREADY_CLAIMED",
    status: 409,
    hint: "This voucher's amount was already paid; claim only a later voucher with a larger cumulative amount.",
  },
  BadReceiptSignature: {
    code: "RECEIPT_SIGNATURE_INVALID",
    status: 400,
    hint: "Both receipts must be signed by the reported worker's key.",
  },
  ReceiptsNotConflicting: {
    code: "RECEIPTS_NOT_CONFLICTING",
    status: 400,
    hint: "Evidence needs two receipts for the same agent and request id with different output hashes.",
  },
  HeartbeatNotAFault: {
    code: "HEARTBEAT_NOT_A_FAULT",
    status: 400,
    hint: "Only a heartbeat for a session that ended unattested, for a later challenge block, is a fault.",
  },
  FaultAlreadyReported: {
    code: "FAULT_ALREADY_REPORTED",
    status: 409,
    hint: "This fault was already punished; each fault is slashed once.",
  },
  NotVaultOwner: { code: "NOT_VAULT_OWNER", status: 403, hint: "Use the account that owns the vault." },
  VaultWipedOut: {
    code: "VAULT_WIPED_OUT",
    status: 409,
    hint: "The vault has no assets left behind its shares; deposit into another vault.",
  },
  InsufficientVaultBalance: {
    code: "VAULT_BALANCE_TOO_LOW",
    status: 409,
    hint: "Delegate at most the vault's free tokens; undelegate from a pool to free more.",
  },
  TooManyPools: {
    code: "VAULT_TOO_MANY_POOLS",
    status: 409,
    hint: "A vault holds at most 16 pools; fully undelegate from one first.",
  },
  GovernorInsufficientProposerVotes: {
    code: "GOVERNANCE_VOTES_TOO_LOW",
    status: 403,
    hint: "Proposing needs the governor's proposalThreshold in votes; delegate VEIL votes to the proposer first.",
  },
  GovernorUnexpectedProposalState: {
    code: "GOVERNANCE_PROPOSAL_STATE",
    status: 409,
    hint: "The proposal is not in the state this step needs (pending → active → succeeded → queued → executed).",
  },
  GovernorAlreadyCastVote: {
    code: "GOVERNANCE_ALREADY_VOTED",
    status: 409,
    hint: "This account has voted on the proposal already.",
  },
  GovernorNonexistentProposal: {
    code: "GOVERNANCE_PROPOSAL_NOT_FOUND",
    status: 404,
    hint: "Check the proposal id (it is the hash of targets, values, calldatas and description).",
  },
  GovernorRestrictedProposer: {
    code: "GOVERNANCE_PROPOSER_RESTRICTED",
    status: 403,
    hint: "The description restricts who may propose it; propose from that account.",
  },
  GovernorOnlyExecutor: {
    code: "GOVERNANCE_ONLY_EXECUTOR",
    status: 403,
    hint: "Only the timelock may call this; make it a proposal.",
  },
  TimelockUnexpectedOperationState: {
    code: "TIMELOCK_NOT_READY",
    status: 409,
    retryable: true,
    hint: "The queued operation is not ready (its delay has not passed) or was already executed.",
  },
  TimelockUnauthorizedCaller: {
    code: "TIMELOCK_UNAUTHORIZED",
    status: 403,
    hint: "Only the timelock itself may change its settings; make it a proposal.",
  },
  AccessControlUnauthorizedAccount: {
    code: "NOT_AUTHORIZED",
    status: 403,
    hint: "The account lacks the role this needs; on the timelock only the governor proposes.",
  },
  ERC20InvalidReceiver: {
    code: "TOKEN_INVALID_ADDRESS",
    status: 400,
    hint: "Tokens cannot go to the zero address; check the recipient.",
  },
  ERC20InvalidSender: {
    code: "TOKEN_INVALID_ADDRESS",
    status: 400,
    hint: "Tokens cannot come from the zero address.",
  },
  ERC20InvalidSpender: {
    code: "TOKEN_INVALID_ADDRESS",
    status: 400,
    hint: "Approve a non-zero spender address.",
  },
  ERC20InvalidApprover: {
    code: "TOKEN_INVALID_ADDRESS",
    status: 400,
    hint: "The approving account cannot be the zero address.",
  },
  ERC20ExceededSafeSupply: {
    code: "AMOUNT_TOO_LARGE",
    status: 400,
    hint: "The token's supply cannot exceed 2^208 - 1 base units (a limit of vote checkpoints).",
  },
  SafeERC20FailedOperation: {
    code: "TOKEN_TRANSFER_FAILED",
    status: 502,
    hint: "The token refused a transfer; check that the economy's token address is VEIL.",
  },
  ECDSAInvalidSignature: {
    code: "SIGNATURE_INVALID",
    status: 400,
    hint: "The signature does not recover to an address; sign again with the right key.",
  },
  ECDSAInvalidSignatureLength: {
    code: "SIGNATURE_INVALID",
    status: 400,
    hint: "Signatures are 65 bytes (r, s, v); sign again.",
  },
  ECDSAInvalidSignatureS: {
    code: "SIGNATURE_INVALID",
    status: 400,
    hint: "The signature is malleable (high s); sign again with a standard signer.",
  },
  InvalidAccountNonce: {
    code: "SIGNATURE_NONCE_INVALID",
    status: 409,
    hint: "The signed nonce is not the account's current one; sign again with the current nonce.",
  },
  VotesExpiredSignature: {
    code: "DELEGATION_SIGNATURE_EXPIRED",
    status: 400,
    hint: "Sign the vote delegation again with a later expiry.",
  },
  OwnableInvalidOwner: {
    code: "OWNER_INVALID",
    status: 400,
    hint: "The new owner must be a non-zero address (governance's timelock, normally).",
  },
  InvalidInitialization: {
    code: "VAULT_ALREADY_INITIALIZED",
    status: 409,
    hint: "A vault is initialised once, by the factory that creates it; create vaults with createVault.",
  },
  GovernorInvalidProposalLength: {
    code: "GOVERNANCE_PROPOSAL_INVALID",
    status: 400,
    hint: "A proposal needs as many targets as values and calldatas, and at least one of each.",
  },
  GovernorInvalidVoteType: {
    code: "GOVERNANCE_VOTE_INVALID",
    status: 400,
    hint: "Vote 0 (against), 1 (for) or 2 (abstain).",
  },
  GovernorAlreadyQueuedProposal: {
    code: "GOVERNANCE_ALREADY_QUEUED",
    status: 409,
    hint: "The proposal is already queued; execute it once the timelock's delay has passed.",
  },
  GovernorInvalidQuorumFraction: {
    code: "GOVERNANCE_SETTINGS_INVALID",
    status: 400,
    hint: "The quorum is a percentage of the supply: at most 100.",
  },
  GovernorInvalidVotingPeriod: {
    code: "GOVERNANCE_SETTINGS_INVALID",
    status: 400,
    hint: "The voting period must be longer than zero.",
  },
  GovernorUnableToCancel: {
    code: "GOVERNANCE_CANNOT_CANCEL",
    status: 409,
    hint: "Only the proposer may cancel, and only while the proposal is pending.",
  },
  GovernorInvalidSignature: {
    code: "GOVERNANCE_SIGNATURE_INVALID",
    status: 400,
    hint: "A vote by signature must be signed by the voter over this proposal and its current nonce.",
  },
  TimelockInsufficientDelay: {
    code: "TIMELOCK_DELAY_TOO_SHORT",
    status: 400,
    hint: "Operations wait at least the timelock's minimum delay.",
  },
  TimelockUnexecutedPredecessor: {
    code: "TIMELOCK_PREDECESSOR_PENDING",
    status: 409,
    hint: "Execute the operation this one depends on first.",
  },
  ERC5805FutureLookup: {
    code: "VOTES_FUTURE_LOOKUP",
    status: 400,
    retryable: true,
    hint: "Votes can only be read for a time already past; wait for the next block.",
  },
  // Triggers (contracts/triggers): requests from contracts and schedules.
  RequestNotFound: {
    code: "TRIGGER_REQUEST_NOT_FOUND",
    status: 404,
    hint: "List requests with `veil triggers requests NAME`.",
  },
  RequestNotPending: {
    code: "TRIGGER_REQUEST_SETTLED",
    status: 409,
    hint: "The request was already answered or refunded; each is settled once.",
  },
  DeadlinePassed: {
    code: "TRIGGER_DEADLINE_PASSED",
    status: 409,
    hint: "The request expired unanswered; its requester may take the refund (`refund`).",
  },
  DeadlineNotReached: {
    code: "TRIGGER_DEADLINE_NOT_REACHED",
    status: 409,
    retryable: true,
    hint: "A request is refunded only after its deadline block; wait for it.",
  },
  BadDeadline: {
    code: "TRIGGER_DEADLINE_INVALID",
    status: 400,
    hint: "The deadline must be a future block.",
  },
  PayloadTooLarge: { code: "TRIGGER_PAYLOAD_TOO_LARGE", status: 413, hint: "Payloads are at most 16 KiB." },
  ResponseTooLarge: {
    code: "TRIGGER_RESPONSE_TOO_LARGE",
    status: 413,
    hint: "Responses are at most 16 KiB.",
  },
  NotAgentSigner: {
    code: "TRIGGER_NOT_AGENT_SIGNER",
    status: 403,
    hint: "Only the agent's certified address (AgentKeys) may answer for it or claim its ticks.",
  },
  CronTooLong: {
    code: "SCHEDULE_CRON_TOO_LONG",
    status: 400,
    hint: "Cron expressions are at most 128 characters.",
  },
  TickAlreadyClaimed: {
    code: "SCHEDULE_TICK_CLAIMED",
    status: 409,
    hint: "Another worker runs this tick; each tick runs once.",
  },
  TickInFuture: {
    code: "SCHEDULE_TICK_IN_FUTURE",
    status: 400,
    retryable: true,
    hint: "Claim a tick when it is due.",
  },
  TickBeforeSchedule: {
    code: "SCHEDULE_TICK_BEFORE_SCHEDULE",
    status: 400,
    hint: "A schedule runs from when it was set; earlier minutes are never run.",
  },
  NoSchedule: {
    code: "SCHEDULE_NOT_SET",
    status: 404,
    hint: 'Set one with `veil triggers schedule NAME "CRON"`.',
  },
  RefundFailed: {
    code: "TRIGGER_REFUND_FAILED",
    status: 502,
    hint: "The requester refused the refund; it must accept Ether.",
  },
  WrongResponder: {
    code: "TRIGGER_WRONG_RESPONDER",
    status: 403,
    hint: "The consumer accepts answers only from the agent's registered address.",
  },
  NotAgentTriggers: {
    code: "TRIGGER_NOT_HUB",
    status: 403,
    hint: "Answers reach a consumer only through AgentTriggers.",
  },
};

/** The Veil error a contract's custom error `name` maps to, if any (for tests and tools). */
export function revertInfo(name: string): { code: string; status: number; hint: string } | undefined {
  return REVERTS[name];
}

/** Turns what viem throws into a VeilError that says what went wrong and what to do. */
export function chainError(err: unknown, action: string, rpcUrl: string): VeilError {
  if (err instanceof VeilError) return err;
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      const name = reverted.data?.errorName ?? "";
      const args = (reverted.data?.args ?? []).map((a) => String(a));
      const known = REVERTS[name];
      if (known) {
        return new VeilError(known.code, `${action}: the chain refused it (${name})`, {
          context: args.length ? [`arguments: ${args.join(", ")}`] : [],
          hint: known.hint,
          status: known.status,
          retryable: known.retryable ?? false,
          cause: err,
        });
      }
      return new VeilError(
        "CHAIN_REVERTED",
        `${action}: the transaction reverted (${name || reverted.reason})`,
        {
          context: args.length ? [`arguments: ${args.join(", ")}`] : [],
          cause: err,
          status: 400,
        },
      );
    }
    if (err.walk((e) => e instanceof HttpRequestError) || /fetch failed|ECONNREFUSED/.test(err.message)) {
      return unreachable(action, rpcUrl, err);
    }
    return new VeilError("CHAIN_ERROR", `${action}: ${err.shortMessage}`, { cause: err, status: 502 });
  }
  if (err instanceof Error && /fetch failed|ECONNREFUSED|ECONNRESET/.test(err.message)) {
    return unreachable(action, rpcUrl, err);
  }
  return new VeilError("CHAIN_ERROR", `${action}: ${String((err as Error)?.message ?? err)}`, {
    cause: err,
    status: 502,
  });
}

function unreachable(action: string, rpcUrl: string, cause: unknown): VeilError {
  return new VeilError("CHAIN_UNREACHABLE", `${action}: the chain at ${rpcUrl} is not reachable`, {
    cause,
    status: 503,
    retryable: true,
    hint: "Start the network with `npm start` (or `veil up`), or point --rpc / network.json at a running node.",
  });
}
