// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title AttestationPolicy
/// @notice Which TEE measurements may run Veil workers and gatekeepers. Gatekeepers read it
/// before they hand out keys; the worker registry refuses registrations it does not allow.
/// The owner is governance (the deployer on a development network).
contract AttestationPolicy is Ownable {
    /// TEE types, as the evidence names them.
    uint8 public constant TEE_SIMULATED = 0;
    uint8 public constant TEE_SGX = 1;
    uint8 public constant TEE_TDX = 2;

    mapping(uint8 teeType => mapping(bytes32 measurement => bool)) private _allowed;
    mapping(bytes32 advisoryHash => bool) private _allowedAdvisories;

    /// Whether simulated evidence counts at all. Its signing key is public (it is a development
    /// backend), so with this on, anyone who can reach the chain can get keys: only a local
    /// development network turns it on, or governance explicitly (docs/adr/0020).
    bool public simulatedAllowed;

    /// Evidence older than this (seconds) no longer counts: gatekeepers refuse keys, the gateway
    /// stops routing, and anyone may mark the worker expired on chain.
    uint64 public maxEvidenceAge = 1 days;
    /// How often workers re-attest; shorter than maxEvidenceAge so that live workers never lapse.
    uint64 public reattestPeriod = 1 hours;
    /// The worst confidence level accepted (1 UpToDate … 5 OutOfDate); see src/tee/dcap.ts.
    uint8 public minConfidence = 5;

    event MeasurementAllowed(uint8 indexed teeType, bytes32 indexed measurement);
    event MeasurementRevoked(uint8 indexed teeType, bytes32 indexed measurement);
    event ParametersChanged(uint64 maxEvidenceAge, uint64 reattestPeriod, uint8 minConfidence);
    event AdvisoryAllowed(string advisoryId, bool allowed);
    event SimulatedAllowedChanged(bool allowed);

    error UnknownTeeType(uint8 teeType);
    error BadParameters(uint64 maxEvidenceAge, uint64 reattestPeriod, uint8 minConfidence);
    error SimulatedNotAllowed();

    constructor(address initialOwner) Ownable(initialOwner) {}

    /// @notice Lets simulated evidence count (INSECURE: its key is public), or stops it counting.
    function setSimulatedAllowed(bool allowed) external onlyOwner {
        simulatedAllowed = allowed;
        emit SimulatedAllowedChanged(allowed);
    }

    function allowMeasurement(uint8 teeType, bytes32 measurement) external onlyOwner {
        _checkType(teeType);
        if (teeType == TEE_SIMULATED && !simulatedAllowed) revert SimulatedNotAllowed();
        _allowed[teeType][measurement] = true;
        emit MeasurementAllowed(teeType, measurement);
    }

    function revokeMeasurement(uint8 teeType, bytes32 measurement) external onlyOwner {
        _checkType(teeType);
        delete _allowed[teeType][measurement];
        emit MeasurementRevoked(teeType, measurement);
    }

    function isAllowed(uint8 teeType, bytes32 measurement) external view returns (bool) {
        if (teeType == TEE_SIMULATED && !simulatedAllowed) return false;
        return _allowed[teeType][measurement];
    }

    function setParameters(uint64 maxEvidenceAge_, uint64 reattestPeriod_, uint8 minConfidence_) external onlyOwner {
        if (maxEvidenceAge_ == 0 || reattestPeriod_ == 0 || reattestPeriod_ >= maxEvidenceAge_ || minConfidence_ < 1 || minConfidence_ > 5) {
            revert BadParameters(maxEvidenceAge_, reattestPeriod_, minConfidence_);
        }
        maxEvidenceAge = maxEvidenceAge_;
        reattestPeriod = reattestPeriod_;
        minConfidence = minConfidence_;
        emit ParametersChanged(maxEvidenceAge_, reattestPeriod_, minConfidence_);
    }

    /// @notice Advisories (e.g. "INTEL-SA-00289") that still rate confidence level 3.
    function setAdvisoryAllowed(string calldata advisoryId, bool allowed) external onlyOwner {
        _allowedAdvisories[keccak256(bytes(advisoryId))] = allowed;
        emit AdvisoryAllowed(advisoryId, allowed);
    }

    function isAdvisoryAllowed(string calldata advisoryId) external view returns (bool) {
        return _allowedAdvisories[keccak256(bytes(advisoryId))];
    }

    function _checkType(uint8 teeType) private pure {
        if (teeType > TEE_TDX) revert UnknownTeeType(teeType);
    }
}
