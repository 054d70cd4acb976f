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
        Evicted
    }

    struct Worker {
        address operator;
        bytes32 encryptionKey; // X25519 public key; keys for the worker are encrypted to it
        uint8 teeType;
        bytes32 measurement;
        bytes32 evidenceHash; // sha256 of the attestation evidence
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
        string calldata endpoint
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                "veil.worker.register.v1",
                block.chainid,
                address(this),
                operator,
                worker,
                encryptionKey,
                teeType,
                measurement,
                evidenceHash,
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
        string calldata endpoint,
        bytes calldata signature
    ) external {
        if (evidenceHash == bytes32(0)) revert EmptyEvidence();
        Worker storage w = _workers[worker];
        if (w.status == Status.Evicted) revert WorkerEvicted(worker);
        if (w.operator != address(0) && w.operator != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        if (!policy.isAllowed(teeType, measurement)) revert MeasurementNotAllowed(teeType, measurement);
        bytes32 digest = registrationDigest(msg.sender, worker, encryptionKey, teeType, measurement, evidenceHash, endpoint);
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
