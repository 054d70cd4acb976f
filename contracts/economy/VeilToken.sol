// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title VeilToken
/// @notice Veil's token: ERC20 with EIP-2612 permits and votes (ERC20Votes, counted by timestamp
/// so that governance periods are in seconds on any chain, the embedded one included). The whole
/// genesis supply goes to one holder at deployment; after that the only new tokens are mining
/// emissions, minted by the minter (the rewards contract), never past the emission cap fixed here.
contract VeilToken is ERC20, ERC20Permit, ERC20Votes, Ownable {
    /// @notice Tokens minted at deployment.
    uint256 public immutable genesisSupply;
    /// @notice The most that may ever be minted as emission, on top of the genesis supply.
    uint256 public immutable emissionCap;
    /// @notice Emission minted so far.
    uint256 public emitted;
    /// @notice The only account that may mint emission (the rewards contract); set by governance.
    address public minter;

    event MinterChanged(address indexed previousMinter, address indexed newMinter);
    event EmissionMinted(address indexed to, uint256 amount);

    error NotMinter(address caller);
    error EmissionCapExceeded(uint256 requested, uint256 remaining);

    constructor(address genesisHolder, uint256 genesisSupply_, uint256 emissionCap_, address initialOwner)
        ERC20("Veil", "VEIL")
        ERC20Permit("Veil")
        Ownable(initialOwner)
    {
        genesisSupply = genesisSupply_;
        emissionCap = emissionCap_;
        _mint(genesisHolder, genesisSupply_);
    }

    /// @notice Governance names the minter (the rewards contract, or its successor).
    function setMinter(address newMinter) external onlyOwner {
        emit MinterChanged(minter, newMinter);
        minter = newMinter;
    }

    /// @notice Mints `amount` of emission to `to`. Only the minter, and only up to the cap.
    function mintEmission(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        uint256 remaining = emissionCap - emitted;
        if (amount > remaining) revert EmissionCapExceeded(amount, remaining);
        emitted += amount;
        _mint(to, amount);
        emit EmissionMinted(to, amount);
    }

    /// @notice How much emission may still be minted.
    function emissionRemaining() external view returns (uint256) {
        return emissionCap - emitted;
    }

    /// @notice Votes are checkpointed by timestamp (EIP-6372).
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
