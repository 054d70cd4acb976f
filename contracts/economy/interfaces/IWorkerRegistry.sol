// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the economy reads from the worker registry (contracts/WorkerRegistry.sol): who
/// operates a worker, how much its attestation is trusted, and whether it is attested now.
/// The registries never call back into the economy.
interface IWorkerRegistry {
    /// @return The operator that registered `worker`, or the zero address when there is none.
    function operatorOf(address worker) external view returns (address);

    /// @return The worker's TCB confidence level, 1 (best) … 5 (worst); 0 when unknown.
    function confidenceOf(address worker) external view returns (uint8);

    /// @return True while the worker is active and within every part of the attestation policy.
    function isAttested(address worker) external view returns (bool);
}
