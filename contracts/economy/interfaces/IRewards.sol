// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The mining state machine as the stake pools and slashing see it (contracts/economy/Rewards.sol).
interface IRewards {
    enum State {
        Idle,
        Working,
        Unresponsive,
        CoolingDown
    }

    /// @notice Starts a mining session for `worker` backed by `stake` (called by the stake pools).
    function startMining(address worker, uint256 stake) external;

    /// @notice Ends the session: rewards are settled and the worker cools down (called by the stake pools).
    function stopMining(address worker) external;

    /// @notice Ends the cool-down: the worker is idle again (called by the stake pools once its stake is back).
    function release(address worker) external;

    /// @notice Ends the session of a slashed worker without paying what it had pending (called by slashing).
    function punish(address worker) external;

    function stateOf(address worker) external view returns (State);

    /// @return When the worker's cool-down began (a timestamp), 0 if it is not cooling down.
    function coolingSince(address worker) external view returns (uint64);

    /// @return The block at which session `session` of `worker` ended because the worker was no
    /// longer attested, or 0 if it did not end that way.
    function unattestedEndBlock(address worker, uint64 session) external view returns (uint64);

    /// @return The digest a worker's key signs (EIP-191) for a heartbeat.
    function heartbeatDigest(address worker, uint64 session, uint64 challengeBlock, uint64 performance)
        external
        view
        returns (bytes32);
}
