// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title AgentRegistry
/// @notice Agents by stable id: owner, unique name, the list of code versions (content hashes
/// of built bundles) and the version that runs. Workers follow its events; the gateway resolves
/// names through it. The id never changes when the code does. Its owner (governance) sets only
/// the network's rules for agents (the delay before a price increase takes effect), never an
/// agent's own settings.
contract AgentRegistry is Ownable {
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

    /// Who may call an agent. Workers enforce it against a signed caller identity.
    enum Access {
        Public,
        Allowlist,
        TokenHolders
    }

    /// @notice How the agent may be called and what a call costs. Workers (and the gateway,
    /// through them) enforce every field from chain state; see src/worker/policy.ts.
    struct Policy {
        bool paused;
        Access access;
        /// TokenHolders: the ERC20 a caller must hold at least `minBalance` of.
        address token;
        uint256 minBalance;
        /// Price per call in VeilToken base units; 0 = free. Paid from FeeEscrow prepayments.
        uint256 price;
        /// Per-caller quota: at most `quotaCalls` calls per `quotaPeriod` seconds; 0 = unlimited.
        uint32 quotaCalls;
        uint32 quotaPeriod;
        /// Non-zero: the owner sponsors calls (the owner's escrow pays) up to this many token
        /// base units per `quotaPeriod` (a day when no period is set); zero: callers pay.
        uint256 spendingCap;
        /// A price increase waits `priceIncreaseDelay`: this price applies from `pendingPriceAt`
        /// (unix seconds; 0: nothing pending). `policyOf` already returns it as `price` once due.
        uint256 pendingPrice;
        uint64 pendingPriceAt;
    }

    /// @notice How long (seconds) a price increase waits before it applies, so that callers see it
    /// coming (decreases apply at once). Set by governance; at most MAX_PRICE_INCREASE_DELAY.
    uint64 public priceIncreaseDelay;
    uint64 public constant MAX_PRICE_INCREASE_DELAY = 30 days;

    uint256 public constant MAX_NAME_LENGTH = 64;
    uint256 public constant MAX_ALLOWLIST_BATCH = 256;

    mapping(uint256 id => Policy) private _policies;
    mapping(uint256 id => mapping(address caller => bool)) private _allowed;
    mapping(uint256 id => mapping(bytes32 codeHash => bool)) private _removedCode;
    mapping(uint256 id => mapping(uint32 version => bool)) private _removedVersion;
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

    event AgentPaused(uint256 indexed id, bool paused);
    event VersionRemoved(uint256 indexed id, uint32 indexed version, bytes32 codeHash);
    event AccessChanged(uint256 indexed id, Access access, address token, uint256 minBalance);
    event CallerAllowed(uint256 indexed id, address indexed caller, bool allowed);
    event PriceChanged(uint256 indexed id, uint256 price);
    event PriceIncreaseScheduled(uint256 indexed id, uint256 price, uint64 effectiveAt);
    event PriceIncreaseDelayChanged(uint64 delay);
    event QuotaChanged(uint256 indexed id, uint32 calls, uint32 period);
    event SpendingCapChanged(uint256 indexed id, uint256 cap);

    error VersionIsRemoved(uint256 id, uint32 version);
    error CodeHashRemoved(uint256 id, bytes32 codeHash);
    error CannotRemoveCurrentVersion(uint256 id, uint32 version);
    error AlreadyPaused(uint256 id);
    error NotPaused(uint256 id);
    error InvalidAccess(uint8 access, address token);
    error InvalidQuota(uint32 calls, uint32 period);
    error AllowlistBatchTooLarge(uint256 length);
    error SameOwner(uint256 id, address owner);
    error NameTaken(string name, uint256 id);
    error InvalidName(string name);
    error AgentNotFound(uint256 id);
    error NotAgentOwner(uint256 id, address caller);
    error EmptyCodeHash();
    error VersionOutOfRange(uint256 id, uint32 version, uint256 count);
    error ZeroAddress();
    error EgressListTooLong(uint256 length);
    error PriceIncreaseDelayTooLong(uint64 delay, uint64 maximum);

    constructor(address initialOwner, uint64 priceIncreaseDelay_) Ownable(initialOwner) {
        _setPriceIncreaseDelay(priceIncreaseDelay_);
    }

    /// @notice Governance sets how long price increases wait (0: they apply at once).
    function setPriceIncreaseDelay(uint64 delay) external onlyOwner {
        _setPriceIncreaseDelay(delay);
    }

    function _setPriceIncreaseDelay(uint64 delay) private {
        if (delay > MAX_PRICE_INCREASE_DELAY) revert PriceIncreaseDelayTooLong(delay, MAX_PRICE_INCREASE_DELAY);
        priceIncreaseDelay = delay;
        emit PriceIncreaseDelayChanged(delay);
    }

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
        if (_removedCode[id][codeHash]) revert CodeHashRemoved(id, codeHash);
        Agent storage a = _agents[id];
        version = uint32(a.versions.length);
        a.versions.push(codeHash);
        emit VersionAdded(id, version, codeHash);
        if (activate) {
            a.currentVersion = version;
            emit VersionActivated(id, version, codeHash);
        }
    }

    /// @notice Pins an existing version as the one that runs (upgrade or rollback); a removed
    /// version is refused.
    function activateVersion(uint256 id, uint32 version) external onlyAgentOwner(id) {
        Agent storage a = _agents[id];
        if (version >= a.versions.length) revert VersionOutOfRange(id, version, a.versions.length);
        if (_removedVersion[id][version] || _removedCode[id][a.versions[version]]) revert VersionIsRemoved(id, version);
        a.currentVersion = version;
        emit VersionActivated(id, version, a.versions[version]);
    }

    /// @notice Removes a version for good: it can never be activated again, its code hash can
    /// never be added back, and workers refuse to run it even from a cache. The running version
    /// cannot be removed; activate another one first.
    function removeVersion(uint256 id, uint32 version) external onlyAgentOwner(id) {
        Agent storage a = _agents[id];
        if (version >= a.versions.length) revert VersionOutOfRange(id, version, a.versions.length);
        if (_removedVersion[id][version]) revert VersionIsRemoved(id, version);
        if (version == a.currentVersion) revert CannotRemoveCurrentVersion(id, version);
        bytes32 codeHash = a.versions[version];
        if (codeHash == a.versions[a.currentVersion]) revert CannotRemoveCurrentVersion(id, version);
        _removedVersion[id][version] = true;
        _removedCode[id][codeHash] = true;
        emit VersionRemoved(id, version, codeHash);
    }

    /// @notice Stops every call to the agent until `unpause`; workers refuse with AGENT_PAUSED.
    function pause(uint256 id) external onlyAgentOwner(id) {
        if (_policies[id].paused) revert AlreadyPaused(id);
        _policies[id].paused = true;
        emit AgentPaused(id, true);
    }

    function unpause(uint256 id) external onlyAgentOwner(id) {
        if (!_policies[id].paused) revert NotPaused(id);
        _policies[id].paused = false;
        emit AgentPaused(id, false);
    }

    /// @notice Who may call: everyone, the allowlist, or holders of `minBalance` of `token`.
    function setAccess(uint256 id, Access access, address token, uint256 minBalance) external onlyAgentOwner(id) {
        if (access == Access.TokenHolders ? token == address(0) : token != address(0) || minBalance != 0) {
            revert InvalidAccess(uint8(access), token);
        }
        Policy storage p = _policies[id];
        p.access = access;
        p.token = token;
        p.minBalance = minBalance;
        emit AccessChanged(id, access, token, minBalance);
    }

    /// @notice Adds callers to (or, with `allowed` false, removes them from) the allowlist.
    function setAllowed(uint256 id, address[] calldata callers, bool allowed) external onlyAgentOwner(id) {
        if (callers.length == 0 || callers.length > MAX_ALLOWLIST_BATCH) revert AllowlistBatchTooLarge(callers.length);
        for (uint256 i = 0; i < callers.length; i++) {
            if (callers[i] == address(0)) revert ZeroAddress();
            _allowed[id][callers[i]] = allowed;
            emit CallerAllowed(id, callers[i], allowed);
        }
    }

    /// @notice Price per call in VeilToken base units (0: free). A decrease applies at once (and
    /// cancels an increase still pending); an increase applies `priceIncreaseDelay` seconds later,
    /// so a caller is never charged a price it could not have seen.
    function setPrice(uint256 id, uint256 price) external onlyAgentOwner(id) {
        Policy storage p = _policies[id];
        if (p.pendingPriceAt != 0 && block.timestamp >= p.pendingPriceAt) p.price = p.pendingPrice;
        if (price <= p.price || priceIncreaseDelay == 0) {
            p.price = price;
            p.pendingPrice = 0;
            p.pendingPriceAt = 0;
            emit PriceChanged(id, price);
        } else {
            uint64 at = uint64(block.timestamp) + priceIncreaseDelay;
            p.pendingPrice = price;
            p.pendingPriceAt = at;
            emit PriceIncreaseScheduled(id, price, at);
        }
    }

    /// @notice Per-caller quota: `calls` per `period` seconds; both zero to lift it.
    function setQuota(uint256 id, uint32 calls, uint32 period) external onlyAgentOwner(id) {
        if ((calls == 0) != (period == 0)) revert InvalidQuota(calls, period);
        _policies[id].quotaCalls = calls;
        _policies[id].quotaPeriod = period;
        emit QuotaChanged(id, calls, period);
    }

    /// @notice The most the owner sponsors per period (0: callers pay for their own calls).
    function setSpendingCap(uint256 id, uint256 cap) external onlyAgentOwner(id) {
        _policies[id].spendingCap = cap;
        emit SpendingCapChanged(id, cap);
    }

    /// @notice The agent's policy as it applies now: a price increase that is due is its price.
    function policyOf(uint256 id) external view returns (Policy memory p) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        p = _policies[id];
        if (p.pendingPriceAt != 0 && block.timestamp >= p.pendingPriceAt) {
            p.price = p.pendingPrice;
            p.pendingPrice = 0;
            p.pendingPriceAt = 0;
        }
    }

    function isAllowed(uint256 id, address caller) external view returns (bool) {
        return _allowed[id][caller];
    }

    /// @notice Whether `caller` passes the agent's access mode now (pause, price and quota aside).
    function canCall(uint256 id, address caller) external view returns (bool) {
        if (_agents[id].owner == address(0)) revert AgentNotFound(id);
        // The owner may always call its own agent (an allowlist that forgot it locked it out).
        if (caller == _agents[id].owner) return true;
        Policy storage p = _policies[id];
        if (p.access == Access.Public) return true;
        if (p.access == Access.Allowlist) return _allowed[id][caller];
        return IERC20(p.token).balanceOf(caller) >= p.minBalance;
    }

    function isVersionRemoved(uint256 id, uint32 version) external view returns (bool) {
        return _removedVersion[id][version];
    }

    function isCodeRemoved(uint256 id, bytes32 codeHash) external view returns (bool) {
        return _removedCode[id][codeHash];
    }

    /// @notice Hands the agent to `newOwner` at once (one step: the owner names an address it
    /// controls; the CLI shows it before sending).
    function transferAgentOwnership(uint256 id, address newOwner) external onlyAgentOwner(id) {
        if (newOwner == address(0)) revert ZeroAddress();
        if (newOwner == msg.sender) revert SameOwner(id, newOwner);
        emit AgentOwnershipTransferred(id, _agents[id].owner, newOwner);
        _agents[id].owner = newOwner;
        // What the agent prints from now on is the new owner's: the old owner's log key goes, and
        // workers seal nothing until the new owner sets one (their next deploy does).
        delete _logKeys[id];
        emit LogKeyChanged(id, bytes32(0));
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
