// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {AgentRegistry} from "./AgentRegistry.sol";
import {GatekeeperRegistry} from "./GatekeeperRegistry.sol";

/// @title AgentKeys
/// @notice Each agent's public keys, their certificate chain, its root wrapped under the
/// cluster key, and its secrets (encrypted on the client to the agent's key).
///
/// Chain of trust: the epoch's master key (GatekeeperRegistry) signs the cluster signing key
/// (cluster certificate); the cluster signing key signs the agent's public keys (agent
/// certificate). Both signatures are checked here, so anyone (a worker's operator, say) may
/// submit a record, and the first valid one per epoch wins. An agent's keys never change: a
/// record for a later epoch (after a rotation) must repeat the same public keys.
contract AgentKeys {
    struct KeyRecord {
        uint64 epoch;
        bytes32 encryptionKey; // X25519 public key: secrets and requests are encrypted to it
        address signingAddress; // the agent's EVM address (its secp256k1 key)
        address clusterSigner;
        bytes clusterCert; // master key's signature over clusterCertDigest
        bytes agentCert; // cluster signer's signature over agentCertDigest
        bytes wrappedRoot; // the agent root, wrapped under the cluster key of `epoch`
    }

    AgentRegistry public immutable agents;
    GatekeeperRegistry public immutable gatekeepers;

    mapping(uint256 id => KeyRecord) private _keys;
    mapping(uint256 id => mapping(bytes32 nameHash => bytes ciphertext)) private _secrets;
    mapping(uint256 id => string[]) private _secretNames;

    event AgentKeysSet(uint256 indexed id, uint64 indexed epoch, bytes32 encryptionKey, address signingAddress);
    event SecretSet(uint256 indexed id, string name);
    event SecretUnset(uint256 indexed id, string name);

    error AgentKeysAlreadySet(uint256 id, uint64 epoch);
    error AgentKeysChanged(uint256 id);
    error WrongEpoch(uint64 given, uint64 current);
    error NoMasterKey(uint64 epoch);
    error BadClusterCertificate();
    error BadAgentCertificate();
    error NotAgentOwner(uint256 id, address caller);
    error AgentKeysMissing(uint256 id);
    error InvalidSecretName(string name);
    error SecretNotFound(uint256 id, string name);
    error SecretTooLarge(uint256 size);
    error SecretEpochStale(uint64 given, uint64 current);
    error SecretChanged(uint256 id, string name);
    error BadResealSignature();

    uint256 public constant MAX_SECRET_BYTES = 4096;
    uint256 public constant MAX_SECRETS = 64;

    constructor(AgentRegistry agents_, GatekeeperRegistry gatekeepers_) {
        agents = agents_;
        gatekeepers = gatekeepers_;
    }

    function clusterCertDigest(uint64 epoch, string calldata clusterId, address clusterSigner) public view returns (bytes32) {
        return keccak256(
            abi.encode("veil.cluster-cert.v1", block.chainid, address(gatekeepers), epoch, keccak256(bytes(clusterId)), clusterSigner)
        );
    }

    function agentCertDigest(uint256 id, uint64 epoch, bytes32 encryptionKey, address signingAddress) public view returns (bytes32) {
        return keccak256(abi.encode("veil.agent-cert.v1", block.chainid, address(agents), id, epoch, encryptionKey, signingAddress));
    }

    /// @notice Records agent `id`'s keys for epoch `r.epoch` (see the contract's notice).
    function setAgentKeys(uint256 id, string calldata clusterId, KeyRecord calldata r) external {
        agents.getAgent(id); // reverts AgentNotFound
        uint64 current = gatekeepers.epoch();
        if (r.epoch != current) revert WrongEpoch(r.epoch, current);
        KeyRecord storage k = _keys[id];
        if (k.epoch == r.epoch) revert AgentKeysAlreadySet(id, r.epoch);
        if (k.epoch != 0 && (k.encryptionKey != r.encryptionKey || k.signingAddress != r.signingAddress)) {
            revert AgentKeysChanged(id);
        }
        _checkCertificates(id, clusterId, r);
        _keys[id] = r;
        emit AgentKeysSet(id, r.epoch, r.encryptionKey, r.signingAddress);
    }

    function _checkCertificates(uint256 id, string calldata clusterId, KeyRecord calldata r) private view {
        address master = gatekeepers.masterSigner(r.epoch);
        if (master == address(0)) revert NoMasterKey(r.epoch);
        if (_recover(clusterCertDigest(r.epoch, clusterId, r.clusterSigner), r.clusterCert) != master) {
            revert BadClusterCertificate();
        }
        if (_recover(agentCertDigest(id, r.epoch, r.encryptionKey, r.signingAddress), r.agentCert) != r.clusterSigner) {
            revert BadAgentCertificate();
        }
    }

    function getAgentKeys(uint256 id) external view returns (KeyRecord memory) {
        return _keys[id];
    }

    /// @notice The owner stores a secret, encrypted on the client to the agent's key and then to
    /// the epoch's cluster signing key (ADR 0013). The ciphertext names its epoch
    /// (0x02 ‖ uint64 epoch ‖ …), which must be the agent's record's epoch and the chain's: a
    /// secret sealed to an ended epoch's cluster key would be readable by whoever kept that key.
    function setSecret(uint256 id, string calldata name, bytes calldata ciphertext) external {
        _onlyOwner(id);
        if (_keys[id].epoch == 0) revert AgentKeysMissing(id);
        if (!_validName(bytes(name))) revert InvalidSecretName(name);
        if (ciphertext.length == 0 || ciphertext.length > MAX_SECRET_BYTES) revert SecretTooLarge(ciphertext.length);
        _checkSecretEpoch(id, ciphertext);
        bytes32 h = keccak256(bytes(name));
        if (_secrets[id][h].length == 0) {
            if (_secretNames[id].length >= MAX_SECRETS) revert SecretTooLarge(_secretNames[id].length);
            _secretNames[id].push(name);
        }
        _secrets[id][h] = ciphertext;
        emit SecretSet(id, name);
    }

    function secretResealDigest(uint256 id, string calldata name, bytes32 previousHash, bytes calldata ciphertext)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                "veil.secret-reseal.v1", block.chainid, address(this), id, keccak256(bytes(name)), previousHash, keccak256(ciphertext)
            )
        );
    }

    /// @notice After a rotation, a worker re-seals a secret's epoch layer to the new epoch's
    /// cluster key. The current record's cluster signer must sign the change, which names the
    /// ciphertext it replaces, so an owner's newer write is never overwritten (SecretChanged).
    function resealSecret(
        uint256 id,
        string calldata name,
        bytes32 previousHash,
        bytes calldata ciphertext,
        bytes calldata signature
    ) external {
        bytes32 h = keccak256(bytes(name));
        bytes storage current = _secrets[id][h];
        if (current.length == 0) revert SecretNotFound(id, name);
        if (keccak256(current) != previousHash) revert SecretChanged(id, name);
        if (ciphertext.length == 0 || ciphertext.length > MAX_SECRET_BYTES) revert SecretTooLarge(ciphertext.length);
        _checkSecretEpoch(id, ciphertext);
        if (_recover(secretResealDigest(id, name, previousHash, ciphertext), signature) != _keys[id].clusterSigner) {
            revert BadResealSignature();
        }
        _secrets[id][h] = ciphertext;
        emit SecretSet(id, name);
    }

    function _checkSecretEpoch(uint256 id, bytes calldata ciphertext) private view {
        uint64 current = gatekeepers.epoch();
        uint64 given = ciphertext.length >= 9 && ciphertext[0] == 0x02 ? uint64(bytes8(ciphertext[1:9])) : 0;
        if (given != current || _keys[id].epoch != current) revert SecretEpochStale(given, current);
    }

    function unsetSecret(uint256 id, string calldata name) external {
        _onlyOwner(id);
        bytes32 h = keccak256(bytes(name));
        if (_secrets[id][h].length == 0) revert SecretNotFound(id, name);
        delete _secrets[id][h];
        string[] storage names = _secretNames[id];
        for (uint256 i = 0; i < names.length; i++) {
            if (keccak256(bytes(names[i])) == h) {
                names[i] = names[names.length - 1];
                names.pop();
                break;
            }
        }
        emit SecretUnset(id, name);
    }

    function secretNames(uint256 id) external view returns (string[] memory) {
        return _secretNames[id];
    }

    function getSecret(uint256 id, string calldata name) external view returns (bytes memory) {
        return _secrets[id][keccak256(bytes(name))];
    }

    function _onlyOwner(uint256 id) private view {
        (address owner,,,,) = agents.getAgent(id);
        if (owner != msg.sender) revert NotAgentOwner(id, msg.sender);
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(digest), signature);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    /// Secret names are environment-variable names: A–Z, 0–9 and '_', not starting with a digit.
    function _validName(bytes calldata n) private pure returns (bool) {
        if (n.length == 0 || n.length > 64) return false;
        if (n[0] >= 0x30 && n[0] <= 0x39) return false;
        for (uint256 i = 0; i < n.length; i++) {
            bytes1 c = n[i];
            if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || (c >= 0x61 && c <= 0x7a))) return false;
        }
        return true;
    }
}
