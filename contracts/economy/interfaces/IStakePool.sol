// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The stake pools as rewards, fees, slashing and vaults see them (contracts/economy/StakePool.sol).
interface IStakePool {
    /// @return The pool `worker` is bound to, 0 when none.
    function poolOfWorker(address worker) external view returns (uint256);

    /// @return The owner of pool `poolId`, the zero address when there is no such pool.
    function ownerOf(uint256 poolId) external view returns (address);

    /// @notice Pulls `amount` tokens from the caller and credits them to the pool of `worker` as
    /// rewards (the pool owner's commission first).
    function creditReward(address worker, uint256 amount) external;

    /// @notice Takes `bps` of the stake of the pool `worker` is bound to and sends it to the
    /// slasher (called by slashing only). Returns what was taken.
    function slash(address worker, uint16 bps) external returns (uint256);

    /// @notice Contributes `amount` tokens of the caller to pool `poolId` for shares.
    function contribute(uint256 poolId, uint256 amount) external returns (uint256 shares);

    /// @notice Withdraws `shares` of the caller from pool `poolId`: now from free stake, or queued.
    function withdraw(uint256 poolId, uint256 shares) external;

    /// @return The caller's claim on the pool in tokens: its shares, held and queued, at the pool's price.
    function valueOf(uint256 poolId, address delegator) external view returns (uint256);

    function sharesOf(uint256 poolId, address delegator) external view returns (uint256);

    function queuedSharesOf(uint256 poolId, address delegator) external view returns (uint256);
}
