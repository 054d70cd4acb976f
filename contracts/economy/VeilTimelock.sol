// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title VeilTimelock
/// @notice OpenZeppelin's TimelockController under Veil's name: it owns the economy's contracts,
/// holds the treasury, and runs what the governor's proposals queue after `minDelay` seconds.
contract VeilTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
