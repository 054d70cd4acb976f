// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AgentRegistry
/// @notice Agents by stable id: owner, unique name, the list of code versions (content hashes
/// of built bundles) and the version that runs. Workers follow its events; the gateway resolves
/// names through it. The id never changes when the code does.
contract AgentRegistry {
    struct Agent {
        address owner;
        string name;
        uint32 currentVersion; // index into versions
        bytes32[] versions;
    }

    /// @notice What the agent's owner asks of the runtime; 0 means the network's default. Workers
    /// clamp every value to the network's maxima (their configuration) and enforce the result.
    struct Limits {
        uint32 memoryMb;
        uint32 cpuTimeMs;
        uint32 wallTimeMs;
        uint32 maxRequestBytes;
        uint32 maxResponseBytes;
        uint32 maxConcurrent;
        uint32 maxStateBytes;
        /// Hosts the agent may fetch from, comma-separated ("*" any public host; "" the default).
        string egressHosts;
    }

    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_EGRESS_LENGTH = 1024;

    mapping(uint256 id => Limits) private _limits;
    /// X25519 public key the agent's logs are sealed to (the owner's); zero: logs are not kept.
    mapping(uint256 id => bytes32) private _logKeys;

    uint256 private _count;
    mapping(uint256 id => Agent) private _agents;
    mapping(bytes32 nameHash => uint256 id) private _idByName;

    event AgentRegistered(uint256 indexed id, address indexed owner, string name, bytes32 codeHash);
    event VersionAdded(uint256 indexed id, uint32 indexed version, bytes32 codeHash);
    event VersionActivated(uint256 indexed id, uint32 indexed version, bytes32 codeHash);
    event LimitsChanged(uint256 indexed id);
    event LogKeyChanged(uint256 indexed id, bytes32 logKey);
    event AgentOwnershipTransferred(uint256 indexed id, address indexed previousOwner, address indexed newOwner);

    error NameTaken(string name, uint256 id);
    error InvalidName(string name);
    error AgentNotFound(uint256 id);
    error NotAgentOwner(uint256 id, address caller);
    error EmptyCodeHash();
    error VersionOutOfRange(uint256 id, uint32 version, uint256 count);
    error ZeroAddress();
    error EgressListTooLong(uint256 length);

    modifier onlyAgentOwner(uint256 id) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        if (_agents[id].owner != msg.sender) revert NotAgentOwner(id, msg.sender);
        _;
    }

    /// @notice Registers a new agent named `name` whose first version is `codeHash`.
    function register(string calldata name, bytes32 codeHash) external returns (uint256 id) {
        if (!_validName(bytes(name))) revert InvalidName(name);
        if (codeHash == bytes32(0)) revert EmptyCodeHash();
        bytes32 nameHash = keccak256(bytes(name));
        uint256 existing = _idByName[nameHash];
        if (existing != 0) revert NameTaken(name, existing);

        id = ++_count;
        Agent storage a = _agents[id];
        a.owner = msg.sender;
        a.name = name;
        a.versions.push(codeHash);
        _idByName[nameHash] = id;

        emit AgentRegistered(id, msg.sender, name, codeHash);
        emit VersionAdded(id, 0, codeHash);
        emit VersionActivated(id, 0, codeHash);
    }

    /// @notice Adds a version; with `activate` it becomes the one that runs.
    function addVersion(uint256 id, bytes32 codeHash, bool activate) external onlyAgentOwner(id) returns (uint32 version) {
        if (codeHash == bytes32(0)) revert EmptyCodeHash();
        Agent storage a = _agents[id];
        version = uint32(a.versions.length);
        a.versions.push(codeHash);
        emit VersionAdded(id, version, codeHash);
        if (activate) {
            a.currentVersion = version;
            emit VersionActivated(id, version, codeHash);
        }
    }

    /// @notice Makes an existing version the one that runs (upgrade or rollback).
    function activateVersion(uint256 id, uint32 version) external onlyAgentOwner(id) {
        Agent storage a = _agents[id];
        if (version >= a.versions.length) revert VersionOutOfRange(id, version, a.versions.length);
        a.currentVersion = version;
        emit VersionActivated(id, version, a.versions[version]);
    }

    function transferAgentOwnership(uint256 id, address newOwner) external onlyAgentOwner(id) {
        if (newOwner == address(0)) revert ZeroAddress();
        emit AgentOwnershipTransferred(id, _agents[id].owner, newOwner);
        _agents[id].owner = newOwner;
    }

    /// @notice The owner sets the agent's runtime limits; workers reload it with them.
    function setLimits(uint256 id, Limits calldata limits) external onlyAgentOwner(id) {
        if (bytes(limits.egressHosts).length > MAX_EGRESS_LENGTH) revert EgressListTooLong(bytes(limits.egressHosts).length);
        _limits[id] = limits;
        emit LimitsChanged(id);
    }

    /// @notice The owner names the key the agent's console output and errors are sealed to.
    function setLogKey(uint256 id, bytes32 logKey) external onlyAgentOwner(id) {
        _logKeys[id] = logKey;
        emit LogKeyChanged(id, logKey);
    }

    function logKeyOf(uint256 id) external view returns (bytes32) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        return _logKeys[id];
    }

    function limitsOf(uint256 id) external view returns (Limits memory) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        return _limits[id];
    }

    function agentCount() external view returns (uint256) {
        return _count;
    }

    /// @notice The id registered under `name`, or 0 when there is none.
    function idOf(string calldata name) external view returns (uint256) {
        return _idByName[keccak256(bytes(name))];
    }

    function getAgent(uint256 id)
        external
        view
        returns (address owner, string memory name, uint32 currentVersion, bytes32 codeHash, uint256 versionCount)
    {
        Agent storage a = _agents[id];
        if (a.owner == address(0)) revert AgentNotFound(id);
        return (a.owner, a.name, a.currentVersion, a.versions[a.currentVersion], a.versions.length);
    }

    function versions(uint256 id) external view returns (bytes32[] memory) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        return _agents[id].versions;
    }

    /// Names are 1–64 characters of a–z, 0–9 and '-', starting with a letter, so that they
    /// are safe in URLs, file names and DNS labels alike.
    function _validName(bytes calldata n) private pure returns (bool) {
        if (n.length == 0 || n.length > MAX_NAME_LENGTH) return false;
        if (n[0] < 0x61 || n[0] > 0x7a) return false;
        for (uint256 i = 1; i < n.length; i++) {
            bytes1 c = n[i];
            bool ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d;
            if (!ok) return false;
        }
        return true;
    }
}
