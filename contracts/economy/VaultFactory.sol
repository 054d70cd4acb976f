// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";
import {IVaultFactory, Vault} from "./Vault.sol";

/// @title VaultFactory
/// @notice Creates vaults (minimal clones of one Vault implementation) for anyone, keeps their
/// list, and holds the governance parameters that apply to all of them.
contract VaultFactory is IVaultFactory, Ownable {
    IERC20 public immutable token;
    IStakePool public immutable stakePool;
    address public immutable implementation;

    /// @notice How long a vault's oldest withdrawal may wait before anyone may pull from its pools.
    uint64 public maxQueueWait = 7 days;

    address[] private _vaults;

    event VaultCreated(address indexed vault, address indexed owner, uint16 commissionBps);
    event ParameterChanged(string name, uint256 value);

    error InvalidParameter(string name, uint256 value);

    constructor(IERC20 token_, IStakePool stakePool_, address implementation_, address initialOwner)
        Ownable(initialOwner)
    {
        token = token_;
        stakePool = stakePool_;
        implementation = implementation_;
    }

    /// @notice Creates a vault owned by the caller, who takes `commissionBps` of its gains.
    function createVault(uint16 commissionBps) external returns (address vault) {
        vault = Clones.clone(implementation);
        Vault(vault).initialize(token, stakePool, msg.sender, commissionBps);
        _vaults.push(vault);
        emit VaultCreated(vault, msg.sender, commissionBps);
    }

    /// @notice 1 hour to 90 days.
    function setMaxQueueWait(uint64 seconds_) external onlyOwner {
        if (seconds_ < 1 hours || seconds_ > 90 days) revert InvalidParameter("maxQueueWait", seconds_);
        maxQueueWait = seconds_;
        emit ParameterChanged("maxQueueWait", seconds_);
    }

    function vaults() external view returns (address[] memory) {
        return _vaults;
    }
}
