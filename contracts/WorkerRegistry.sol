// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {AttestationPolicy} from "./AttestationPolicy.sol";

/// @title WorkerRegistry
/// @notice Workers (pRuntime nodes): the operator who runs each, its identity keys, the hash of
/// its attestation evidence and its status. A worker is identified by the address of its
/// TEE-held signing key; the operator registers it with a signature from that key, so nobody
/// can register a worker key they do not control. Gatekeepers check the evidence itself
/// (whose hash is here) before they hand the worker any key.
contract WorkerRegistry is Ownable {
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
        uint64 attestedAt;
    }

    AttestationPolicy public immutable policy;

    mapping(address worker => Worker) private _workers;
    address[] private _list;

    event WorkerRegistered(address indexed worker, address indexed operator, bytes32 evidenceHash, string endpoint);
    event WorkerStatusChanged(address indexed worker, Status status, string reason);

    error WorkerNotFound(address worker);
    error NotWorkerOperator(address worker, address caller);
    error WorkerEvicted(address worker);
    error BadWorkerSignature(address worker);
    error MeasurementNotAllowed(uint8 teeType, bytes32 measurement);
    error EmptyEvidence();
    error WorkerStillValid(address worker);
    error BadConfidence(uint8 confidence);
    error ConfidenceBelowMinimum(uint8 confidence, uint8 minimum);

    constructor(address initialOwner, AttestationPolicy policy_) Ownable(initialOwner) {
        policy = policy_;
    }

    /// @notice The digest the worker's identity key signs (EIP-191) to consent to registration.
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
        return keccak256(
            abi.encode(
                "veil.worker.register.v2",
                block.chainid,
                address(this),
                operator,
                worker,
                encryptionKey,
                teeType,
                measurement,
                evidenceHash,
                confidence,
                keccak256(bytes(endpoint))
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
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(digest), signature);
        if (err != ECDSA.RecoverError.NoError || signer != worker) revert BadWorkerSignature(worker);

        if (w.operator == address(0)) {
            _list.push(worker);
            w.operator = msg.sender;
            w.registeredAt = uint64(block.timestamp);
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

    /// @notice The operator takes its worker out of service.
    function stop(address worker) external {
        Worker storage w = _workers[worker];
        if (w.operator == address(0)) revert WorkerNotFound(worker);
        if (w.operator != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        if (w.status == Status.Evicted) revert WorkerEvicted(worker);
        w.status = Status.Stopped;
        emit WorkerStatusChanged(worker, Status.Stopped, "stopped by operator");
    }

    /// @notice Anyone may mark a worker whose evidence is older than the policy allows.
    function expire(address worker) external {
        Worker storage w = _activeWorker(worker);
        if (block.timestamp <= w.attestedAt + policy.maxEvidenceAge()) revert WorkerStillValid(worker);
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

    /// @notice True while the worker is active and within every part of the current policy:
    /// what gatekeepers, the gateway and rewards rely on.
    function isAttested(address worker) public view returns (bool) {
        Worker storage w = _workers[worker];
        return w.status == Status.Active && block.timestamp <= w.attestedAt + policy.maxEvidenceAge()
            && w.confidence <= policy.minConfidence() && policy.isAllowed(w.teeType, w.measurement);
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
