// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title GatekeeperRegistry
/// @notice The gatekeeper set, the key epoch and each epoch's master public key. Anyone can
/// check an agent's key certificate up to the master public key recorded here. The owner is
/// governance (the deployer on a development network); the master public key of an epoch is
/// published once, by a gatekeeper of the set.
contract GatekeeperRegistry is Ownable {
    struct Gatekeeper {
        bytes32 encryptionKey; // X25519 public key of its TEE identity
        string endpoint;
        bool active;
    }

    uint64 public epoch = 1;
    mapping(address gatekeeper => Gatekeeper) private _gatekeepers;
    address[] private _list;
    mapping(uint64 epoch => bytes publicKey) private _masterPublicKey;
    mapping(uint64 epoch => address signer) private _masterSigner;

    event GatekeeperAdded(address indexed gatekeeper, bytes32 encryptionKey, string endpoint);
    event GatekeeperRemoved(address indexed gatekeeper);
    event MasterPublicKeyPublished(uint64 indexed epoch, address indexed gatekeeper, bytes publicKey, address signer);

    error NotGatekeeper(address caller);
    error GatekeeperExists(address gatekeeper);
    error GatekeeperNotFound(address gatekeeper);
    error MasterKeyAlreadyPublished(uint64 epoch);
    error InvalidPublicKey();

    modifier onlyGatekeeper() {
        if (!_gatekeepers[msg.sender].active) revert NotGatekeeper(msg.sender);
        _;
    }

    constructor(address initialOwner) Ownable(initialOwner) {}

    function addGatekeeper(address gatekeeper, bytes32 encryptionKey, string calldata endpoint) external onlyOwner {
        if (_gatekeepers[gatekeeper].active) revert GatekeeperExists(gatekeeper);
        if (bytes(_gatekeepers[gatekeeper].endpoint).length == 0 && _gatekeepers[gatekeeper].encryptionKey == 0) {
            _list.push(gatekeeper);
        }
        _gatekeepers[gatekeeper] = Gatekeeper(encryptionKey, endpoint, true);
        emit GatekeeperAdded(gatekeeper, encryptionKey, endpoint);
    }

    function removeGatekeeper(address gatekeeper) external onlyOwner {
        if (!_gatekeepers[gatekeeper].active) revert GatekeeperNotFound(gatekeeper);
        _gatekeepers[gatekeeper].active = false;
        emit GatekeeperRemoved(gatekeeper);
    }

    /// @notice A gatekeeper publishes the master public key of the current epoch, once, with
    /// its EVM address (`signer`), which contracts use to check signatures by the master key.
    /// Clients check that `signer` is the address of `publicKey` (the SDK does).
    function publishMasterPublicKey(bytes calldata publicKey, address signer) external onlyGatekeeper {
        if (publicKey.length != 33 || signer == address(0)) revert InvalidPublicKey();
        if (_masterPublicKey[epoch].length != 0) revert MasterKeyAlreadyPublished(epoch);
        _masterPublicKey[epoch] = publicKey;
        _masterSigner[epoch] = signer;
        emit MasterPublicKeyPublished(epoch, msg.sender, publicKey, signer);
    }

    function masterSigner(uint64 epoch_) external view returns (address) {
        return _masterSigner[epoch_];
    }

    function masterPublicKey(uint64 epoch_) external view returns (bytes memory) {
        return _masterPublicKey[epoch_];
    }

    function isGatekeeper(address account) external view returns (bool) {
        return _gatekeepers[account].active;
    }

    function getGatekeeper(address gatekeeper) external view returns (Gatekeeper memory) {
        if (_gatekeepers[gatekeeper].encryptionKey == 0) revert GatekeeperNotFound(gatekeeper);
        return _gatekeepers[gatekeeper];
    }

    function gatekeepers() external view returns (address[] memory) {
        return _list;
    }
}
