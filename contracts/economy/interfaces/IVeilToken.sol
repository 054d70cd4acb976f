// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice The token as the rewards contract sees it: an ERC20 whose emissions it may mint.
interface IVeilToken is IERC20 {
    /// @notice Mints `amount` of new emission to `to`; only the minter, and never past the cap.
    function mintEmission(address to, uint256 amount) external;

    /// @return How much may still be minted as emission.
    function emissionRemaining() external view returns (uint256);
}
