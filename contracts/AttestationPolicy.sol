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

    event MeasurementAllowed(uint8 indexed teeType, bytes32 indexed measurement);
    event MeasurementRevoked(uint8 indexed teeType, bytes32 indexed measurement);

    error UnknownTeeType(uint8 teeType);

    constructor(address initialOwner) Ownable(initialOwner) {}

    function allowMeasurement(uint8 teeType, bytes32 measurement) external onlyOwner {
        _checkType(teeType);
        _allowed[teeType][measurement] = true;
        emit MeasurementAllowed(teeType, measurement);
    }

    function revokeMeasurement(uint8 teeType, bytes32 measurement) external onlyOwner {
        _checkType(teeType);
        delete _allowed[teeType][measurement];
        emit MeasurementRevoked(teeType, measurement);
    }

    function isAllowed(uint8 teeType, bytes32 measurement) external view returns (bool) {
        return _allowed[teeType][measurement];
    }

    function _checkType(uint8 teeType) private pure {
        if (teeType > TEE_TDX) revert UnknownTeeType(teeType);
    }
}
