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

    /// @notice Rotation states (ADR 0010). Idle: no rotation. Open: epoch e+1 is opened, its
    /// elected gatekeepers post contributions and confirm; key traffic to workers is paused.
    /// Confirmed: every elected gatekeeper confirmed the same master public key; `epoch` is now
    /// e+1; key traffic resumes `RESUME_CONFIRMATIONS` blocks later; workers re-wrap. Completed:
    /// every elected gatekeeper recorded that it destroyed epoch e's master key.
    enum RotationState {
        Idle,
        Open,
        Confirmed,
        Completed
    }

    struct Rotation {
        uint64 epoch; // the epoch being made
        RotationState state;
        uint64 openedAt;
        uint64 confirmedAt; // block of the last confirmation
        uint32 contributions;
        uint32 confirmations;
        uint32 destroyed;
        address[] elected;
    }

    /// @notice Key traffic resumes this many blocks after the last confirmation.
    uint64 public constant RESUME_CONFIRMATIONS = 2;

    Rotation private _rotation;
    mapping(uint64 epoch => mapping(address gatekeeper => bool)) private _elected;
    mapping(uint64 epoch => mapping(address gatekeeper => bytes)) private _contribution;
    mapping(uint64 epoch => mapping(address gatekeeper => bool)) private _confirmed;
    mapping(uint64 epoch => mapping(address gatekeeper => bool)) private _destroyed;
    mapping(uint64 epoch => bytes32 transcript) private _transcript;

    event RotationOpened(uint64 indexed epoch, address[] elected);
    event ContributionPosted(uint64 indexed epoch, address indexed gatekeeper);
    event RotationConfirmedBy(uint64 indexed epoch, address indexed gatekeeper);
    event RotationConfirmed(uint64 indexed epoch, bytes publicKey, address signer, uint64 resumesAt);
    event OldKeysDestroyedBy(uint64 indexed epoch, address indexed gatekeeper);
    event RotationCompleted(uint64 indexed epoch);
    event RotationAborted(uint64 indexed epoch);

    error RotationInProgress(uint64 epoch);
    error NoRotationOpen();
    error WrongRotationEpoch(uint64 given, uint64 expected);
    error NotElected(address caller, uint64 epoch);
    error InvalidElection();
    error AlreadyContributed(address gatekeeper, uint64 epoch);
    error ContributionsMissing(uint64 epoch, uint32 posted, uint32 needed);
    error AlreadyConfirmed(address gatekeeper, uint64 epoch);
    error TranscriptMismatch(bytes32 given, bytes32 expected);
    error MasterKeyMismatch(uint64 epoch);
    error RotationNotConfirmed(uint64 epoch);
    error AlreadyDestroyed(address gatekeeper, uint64 epoch);
    error InvalidContribution();

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

    // ── rotation (ADR 0010) ─────────────────────────────────────────────────────────────────

    /// @notice Governance opens epoch e+1 and records its elected gatekeepers (each an active
    /// gatekeeper of the set, no duplicates). A rotation that is not completed must be
    /// aborted first.
    function openRotation(address[] calldata elected) external onlyOwner {
        RotationState s = _rotation.state;
        if (s == RotationState.Open || s == RotationState.Confirmed) revert RotationInProgress(_rotation.epoch);
        if (elected.length == 0 || elected.length > 32) revert InvalidElection();
        uint64 next = epoch + 1;
        for (uint256 i = 0; i < elected.length; i++) {
            if (!_gatekeepers[elected[i]].active || _elected[next][elected[i]]) revert InvalidElection();
            _elected[next][elected[i]] = true;
        }
        _rotation = Rotation(next, RotationState.Open, uint64(block.number), 0, 0, 0, 0, elected);
        emit RotationOpened(next, elected);
    }

    /// @notice Governance abandons an open rotation (a gatekeeper crashed for good, say); the
    /// current epoch's keys stay in force and a new rotation can be opened for a later epoch.
    function abortRotation() external onlyOwner {
        if (_rotation.state != RotationState.Open) revert NoRotationOpen();
        uint64 e = _rotation.epoch;
        _rotation.state = RotationState.Idle;
        // Elections of an aborted epoch must not carry over: the next opening uses e+1 again,
        // so clear them.
        for (uint256 i = 0; i < _rotation.elected.length; i++) {
            address g = _rotation.elected[i];
            delete _elected[e][g];
            delete _contribution[e][g];
            delete _confirmed[e][g];
        }
        delete _transcript[e];
        delete _masterPublicKey[e];
        delete _masterSigner[e];
        emit RotationAborted(e);
    }

    modifier onlyElected(uint64 epoch_) {
        if (_rotation.epoch != epoch_ || _rotation.epoch == 0) revert WrongRotationEpoch(epoch_, _rotation.epoch);
        if (!_elected[epoch_][msg.sender]) revert NotElected(msg.sender, epoch_);
        _;
    }

    /// @notice An elected gatekeeper posts its contribution to the new master key: its random
    /// share, sealed to each other elected gatekeeper's attested encryption key. The epoch is
    /// named so that a contribution cannot be replayed into another rotation.
    function contribute(uint64 epoch_, bytes calldata sealedShares) external onlyElected(epoch_) {
        if (_rotation.state != RotationState.Open) revert NoRotationOpen();
        if (_contribution[epoch_][msg.sender].length != 0) revert AlreadyContributed(msg.sender, epoch_);
        if (sealedShares.length == 0 || sealedShares.length > 16_384) revert InvalidContribution();
        _contribution[epoch_][msg.sender] = sealedShares;
        _rotation.contributions++;
        if (_rotation.contributions == _rotation.elected.length) {
            bytes memory all;
            for (uint256 i = 0; i < _rotation.elected.length; i++) {
                address g = _rotation.elected[i];
                all = abi.encodePacked(all, g, keccak256(_contribution[epoch_][g]));
            }
            _transcript[epoch_] = keccak256(abi.encodePacked("veil.rotation.v1", block.chainid, address(this), epoch_, all));
        }
        emit ContributionPosted(epoch_, msg.sender);
    }

    /// @notice An elected gatekeeper confirms that it holds the new master key: it names the
    /// epoch, the transcript of all contributions it derived the key from, and the master
    /// public key. All must name the same key; the last confirmation moves the network to the
    /// new epoch. Sent from the gatekeeper's attested identity account, once per epoch.
    function confirm(uint64 epoch_, bytes32 transcript, bytes calldata publicKey, address signer)
        external
        onlyElected(epoch_)
    {
        if (_rotation.state != RotationState.Open) revert NoRotationOpen();
        if (_rotation.contributions != _rotation.elected.length) {
            revert ContributionsMissing(epoch_, _rotation.contributions, uint32(_rotation.elected.length));
        }
        if (_confirmed[epoch_][msg.sender]) revert AlreadyConfirmed(msg.sender, epoch_);
        if (transcript != _transcript[epoch_]) revert TranscriptMismatch(transcript, _transcript[epoch_]);
        if (publicKey.length != 33 || signer == address(0)) revert InvalidPublicKey();
        if (_masterPublicKey[epoch_].length == 0) {
            _masterPublicKey[epoch_] = publicKey;
            _masterSigner[epoch_] = signer;
        } else if (keccak256(_masterPublicKey[epoch_]) != keccak256(publicKey) || _masterSigner[epoch_] != signer) {
            revert MasterKeyMismatch(epoch_);
        }
        _confirmed[epoch_][msg.sender] = true;
        _rotation.confirmations++;
        emit RotationConfirmedBy(epoch_, msg.sender);
        if (_rotation.confirmations == _rotation.elected.length) {
            _rotation.state = RotationState.Confirmed;
            _rotation.confirmedAt = uint64(block.number);
            epoch = epoch_;
            emit MasterPublicKeyPublished(epoch_, msg.sender, publicKey, signer);
            emit RotationConfirmed(epoch_, publicKey, signer, uint64(block.number) + RESUME_CONFIRMATIONS);
        }
    }

    /// @notice An elected gatekeeper records that it destroyed the ended epoch's master key
    /// (after the resume point, when workers can fetch the new cluster key and re-wrap). When
    /// all have, the rotation is complete.
    function recordOldKeysDestroyed(uint64 epoch_) external onlyElected(epoch_) {
        if (_rotation.state != RotationState.Confirmed || !keyTrafficOpen()) revert RotationNotConfirmed(epoch_);
        if (_destroyed[epoch_][msg.sender]) revert AlreadyDestroyed(msg.sender, epoch_);
        _destroyed[epoch_][msg.sender] = true;
        _rotation.destroyed++;
        emit OldKeysDestroyedBy(epoch_, msg.sender);
        if (_rotation.destroyed == _rotation.elected.length) {
            _rotation.state = RotationState.Completed;
            emit RotationCompleted(epoch_);
        }
    }

    /// @notice Whether gatekeepers may hand keys to workers now: not while a rotation is open,
    /// and only `RESUME_CONFIRMATIONS` blocks after the last confirmation.
    function keyTrafficOpen() public view returns (bool) {
        RotationState s = _rotation.state;
        if (s == RotationState.Open) return false;
        if (s == RotationState.Confirmed) return block.number >= _rotation.confirmedAt + RESUME_CONFIRMATIONS;
        return true;
    }

    function rotation() external view returns (Rotation memory) {
        return _rotation;
    }

    function isElected(uint64 epoch_, address gatekeeper) external view returns (bool) {
        return _elected[epoch_][gatekeeper];
    }

    function contribution(uint64 epoch_, address gatekeeper) external view returns (bytes memory) {
        return _contribution[epoch_][gatekeeper];
    }

    function transcriptOf(uint64 epoch_) external view returns (bytes32) {
        return _transcript[epoch_];
    }

    function hasConfirmed(uint64 epoch_, address gatekeeper) external view returns (bool) {
        return _confirmed[epoch_][gatekeeper];
    }

    function hasDestroyed(uint64 epoch_, address gatekeeper) external view returns (bool) {
        return _destroyed[epoch_][gatekeeper];
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
