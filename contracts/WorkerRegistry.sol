// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {AttestationPolicy} from "./AttestationPolicy.sol";
import {VeilTypedData} from "./VeilTypedData.sol";

/// What the worker registry needs of the gatekeeper set: who may record a verification.
interface IGatekeeperSet {
    function isGatekeeper(address account) external view returns (bool);
}

/// @title WorkerRegistry
/// @notice Workers (pRuntime nodes): the operator who runs each, its identity keys, the hash of
/// its attestation evidence and its status. A worker is identified by the address of its
/// TEE-held signing key; the operator registers it with a signature from that key, so nobody
/// can register a worker key they do not control. What the operator registers is a claim: a
/// worker has standing (`isAttested`: routable, a quota home, eligible for rewards) only once a
/// gatekeeper has checked the evidence itself against the policy and recorded that here
/// (`recordVerification`), and only while that verification is younger than the policy's
/// maximum evidence age (docs/adr/0020).
contract WorkerRegistry is Ownable, EIP712 {
    enum Status {
        None,
        Active,
        Stopped,
        Evicted, // by governance; never again under this key
        // The three below say why an attested worker lost its standing; anyone may record them
        // once the chain shows the cause, and re-attesting within policy makes it Active again.
        Expired, // its evidence is older than the policy's maximum evidence age
        MeasurementRevoked, // the policy no longer allows its measurement
        TcbBelowMinimum // its TCB confidence level is worse than the policy's minimum
    }

    struct Worker {
        address operator;
        bytes32 encryptionKey; // X25519 public key; keys for the worker are encrypted to it
        uint8 teeType;
        bytes32 measurement;
        bytes32 evidenceHash; // sha256 of the attestation evidence
        uint8 confidence; // 1 (UpToDate) … 5 (OutOfDate), from the evidence; gatekeepers check it
        string endpoint; // where the worker serves HTTP
        Status status;
        uint64 registeredAt;
        uint64 attestedAt; // when the operator last submitted evidence
        bytes32 verifiedEvidenceHash; // the last evidence a gatekeeper verified
        uint64 verifiedAt; // when that evidence was submitted (0: never verified, or the keys or build changed since)
        address verifiedBy; // which gatekeeper
    }

    AttestationPolicy public immutable policy;
    IGatekeeperSet public immutable gatekeepers;

    mapping(address worker => Worker) private _workers;
    address[] private _list;

    event WorkerRegistered(address indexed worker, address indexed operator, bytes32 evidenceHash, string endpoint);
    event WorkerStatusChanged(address indexed worker, Status status, string reason);
    event WorkerVerified(address indexed worker, address indexed gatekeeper, bytes32 evidenceHash);

    error WorkerNotFound(address worker);
    error NotWorkerOperator(address worker, address caller);
    error WorkerEvicted(address worker);
    error BadWorkerSignature(address worker);
    error MeasurementNotAllowed(uint8 teeType, bytes32 measurement);
    error EmptyEvidence();
    error WorkerStillValid(address worker);
    error BadConfidence(uint8 confidence);
    error ConfidenceBelowMinimum(uint8 confidence, uint8 minimum);
    error NotGatekeeper(address caller);
    error EvidenceNotCurrent(address worker, bytes32 evidenceHash, bytes32 registered);

    constructor(address initialOwner, AttestationPolicy policy_, IGatekeeperSet gatekeepers_)
        Ownable(initialOwner)
        EIP712(VeilTypedData.NAME, VeilTypedData.VERSION)
    {
        policy = policy_;
        gatekeepers = gatekeepers_;
    }

    /// @notice The digest the worker's identity key signs to consent to registration: EIP-712
    /// typed data `WorkerRegistration(operator, worker, encryptionKey, teeType, measurement,
    /// evidenceHash, confidence, endpoint)` under the "Veil" domain of this contract.
    function registrationDigest(
        address operator,
        address worker,
        bytes32 encryptionKey,
        uint8 teeType,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint8 confidence,
        string calldata endpoint
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VeilTypedData.WORKER_REGISTRATION_TYPEHASH,
                    operator,
                    worker,
                    encryptionKey,
                    teeType,
                    measurement,
                    evidenceHash,
                    confidence,
                    keccak256(bytes(endpoint))
                )
            )
        );
    }

    /// @notice Registers `worker`, or refreshes its keys, evidence and endpoint (re-attestation).
    function register(
        address worker,
        bytes32 encryptionKey,
        uint8 teeType,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint8 confidence,
        string calldata endpoint,
        bytes calldata signature
    ) external {
        if (evidenceHash == bytes32(0)) revert EmptyEvidence();
        if (confidence < 1 || confidence > 5) revert BadConfidence(confidence);
        if (confidence > policy.minConfidence()) revert ConfidenceBelowMinimum(confidence, policy.minConfidence());
        Worker storage w = _workers[worker];
        if (w.status == Status.Evicted) revert WorkerEvicted(worker);
        if (w.operator != address(0) && w.operator != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        if (!policy.isAllowed(teeType, measurement)) revert MeasurementNotAllowed(teeType, measurement);
        bytes32 digest = registrationDigest(msg.sender, worker, encryptionKey, teeType, measurement, evidenceHash, confidence, endpoint);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != worker) revert BadWorkerSignature(worker);

        if (w.operator == address(0)) {
            _list.push(worker);
            w.operator = msg.sender;
            w.registeredAt = uint64(block.timestamp);
        }
        // A verification vouches for a key, a build and a TCB level; fresh evidence of the same
        // (a periodic re-attestation) keeps the standing until it ages out or is verified again.
        if (
            w.encryptionKey != encryptionKey || w.teeType != teeType || w.measurement != measurement
                || w.confidence != confidence
        ) {
            w.verifiedAt = 0;
            w.verifiedEvidenceHash = bytes32(0);
            w.verifiedBy = address(0);
        }
        w.encryptionKey = encryptionKey;
        w.teeType = teeType;
        w.measurement = measurement;
        w.evidenceHash = evidenceHash;
        w.confidence = confidence;
        w.endpoint = endpoint;
        w.attestedAt = uint64(block.timestamp);
        w.status = Status.Active;
        emit WorkerRegistered(worker, msg.sender, evidenceHash, endpoint);
        emit WorkerStatusChanged(worker, Status.Active, "registered");
    }

    /// @notice A gatekeeper records that it verified the worker's current evidence: the quote
    /// and its collateral, bound to the worker's registered keys, within the policy, proving the
    /// measurement and confidence level registered. Renews the worker's standing.
    function recordVerification(address worker, bytes32 evidenceHash) external {
        if (!gatekeepers.isGatekeeper(msg.sender)) revert NotGatekeeper(msg.sender);
        Worker storage w = _workers[worker];
        if (w.operator == address(0)) revert WorkerNotFound(worker);
        if (w.status == Status.Evicted) revert WorkerEvicted(worker);
        if (w.evidenceHash != evidenceHash) revert EvidenceNotCurrent(worker, evidenceHash, w.evidenceHash);
        w.verifiedEvidenceHash = evidenceHash;
        // The standing ages from when the evidence was submitted, not from when it was checked:
        // verifying the same old evidence again must not make it young.
        w.verifiedAt = w.attestedAt;
        w.verifiedBy = msg.sender;
        emit WorkerVerified(worker, msg.sender, evidenceHash);
    }

    /// @notice The operator takes its worker out of service.
    function stop(address worker) external {
        Worker storage w = _workers[worker];
        if (w.operator == address(0)) revert WorkerNotFound(worker);
        if (w.operator != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        if (w.status == Status.Evicted) revert WorkerEvicted(worker);
        w.status = Status.Stopped;
        emit WorkerStatusChanged(worker, Status.Stopped, "stopped by operator");
    }

    /// @notice Anyone may mark a worker whose evidence is older than the policy allows: both the
    /// last verification and the last evidence submitted (a worker waiting for its first
    /// verification cannot be expired under it).
    function expire(address worker) external {
        Worker storage w = _activeWorker(worker);
        if (_fresh(w) || block.timestamp <= w.attestedAt + policy.maxEvidenceAge()) revert WorkerStillValid(worker);
        _setStatus(worker, w, Status.Expired, "attestation evidence expired");
    }

    /// @notice Anyone may mark a worker whose measurement the policy no longer allows.
    function markMeasurementRevoked(address worker) external {
        Worker storage w = _activeWorker(worker);
        if (policy.isAllowed(w.teeType, w.measurement)) revert WorkerStillValid(worker);
        _setStatus(worker, w, Status.MeasurementRevoked, "measurement removed from the attestation policy");
    }

    /// @notice Anyone may mark a worker whose TCB confidence is worse than the policy's minimum.
    function markTcbBelowMinimum(address worker) external {
        Worker storage w = _activeWorker(worker);
        if (w.confidence <= policy.minConfidence()) revert WorkerStillValid(worker);
        _setStatus(worker, w, Status.TcbBelowMinimum, "TCB confidence below the policy's minimum");
    }

    /// @notice True while the worker is active, a gatekeeper's verification of its evidence is
    /// younger than the policy's maximum age, and it is within every other part of the current
    /// policy: what the gateway, quota homes, rewards and callers' verifiers rely on.
    function isAttested(address worker) public view returns (bool) {
        Worker storage w = _workers[worker];
        return w.status == Status.Active && _fresh(w) && w.confidence <= policy.minConfidence()
            && policy.isAllowed(w.teeType, w.measurement);
    }

    /// @notice True while the worker is active and within policy on its operator's word alone,
    /// before any gatekeeper verified it: what a gatekeeper requires before it verifies.
    function isRegisteredWithinPolicy(address worker) external view returns (bool) {
        Worker storage w = _workers[worker];
        return w.status == Status.Active && block.timestamp <= w.attestedAt + policy.maxEvidenceAge()
            && w.confidence <= policy.minConfidence() && policy.isAllowed(w.teeType, w.measurement);
    }

    function _fresh(Worker storage w) private view returns (bool) {
        return w.verifiedAt != 0 && block.timestamp <= w.verifiedAt + policy.maxEvidenceAge();
    }

    function operatorOf(address worker) external view returns (address) {
        return _workers[worker].operator;
    }

    function confidenceOf(address worker) external view returns (uint8) {
        return _workers[worker].confidence;
    }

    function _activeWorker(address worker) private view returns (Worker storage w) {
        w = _workers[worker];
        if (w.operator == address(0)) revert WorkerNotFound(worker);
        if (w.status != Status.Active) revert WorkerStillValid(worker);
    }

    function _setStatus(address worker, Worker storage w, Status status, string memory reason) private {
        w.status = status;
        emit WorkerStatusChanged(worker, status, reason);
    }

    /// @notice Governance evicts a worker; it can never register again under this key.
    function evict(address worker, string calldata reason) external onlyOwner {
        Worker storage w = _workers[worker];
        if (w.operator == address(0)) revert WorkerNotFound(worker);
        w.status = Status.Evicted;
        emit WorkerStatusChanged(worker, Status.Evicted, reason);
    }

    function getWorker(address worker) external view returns (Worker memory) {
        if (_workers[worker].operator == address(0)) revert WorkerNotFound(worker);
        return _workers[worker];
    }

    function workers() external view returns (address[] memory) {
        return _list;
    }
}
