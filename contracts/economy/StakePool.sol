// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IRewards} from "./interfaces/IRewards.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";

/// @title StakePool
/// @notice Every stake pool of the network in one contract (like Phala's StakePoolv2). A pool has
/// an owner (the operator of its workers) who takes a commission on its rewards, and delegators
/// who hold shares of its stake. The owner binds workers it operates and assigns them stake to
/// mine with; rewards and fees earned by those workers compound into the pool's stake, so a share
/// grows in value, and slashes shrink it.
///
/// Withdrawals are paid at once from free stake (stake not assigned to a worker); otherwise the
/// shares wait in the pool's FIFO queue, still earning and bearing slashes, and are paid as stake
/// frees up: new contributions, rewards, and stake that comes back from a worker after its
/// cool-down. If the head of the queue has waited longer than `maxQueueWait`, anyone may stop the
/// pool's workers so that their stake comes back.
///
/// Token accounting is exact: this contract's balance is the sum over pools of `totalStake` and
/// `ownerRewards`; rounding only decides which delegator gets a base unit, never the total.
contract StakePool is IStakePool, Ownable {
    using SafeERC20 for IERC20;

    struct Pool {
        address owner;
        uint16 commissionBps; // of each reward, to the owner
        uint64 queueHead; // index of the first waiting withdrawal
        uint64 queueTail; // index after the last
        uint256 totalShares; // held and queued
        uint256 totalStake; // tokens backing the shares: free + assigned to workers
        uint256 freeStake; // not assigned to a worker
        uint256 ownerRewards; // commission not yet claimed (not part of the stake)
    }

    struct Withdrawal {
        address delegator;
        uint64 requestedAt;
        uint256 shares;
    }

    uint16 public constant MAX_BPS = 10_000;
    /// @notice Withdrawals paid from the queue per call, so that no call's gas grows with the queue.
    uint256 public constant MAX_FILLS_PER_CALL = 8;

    IERC20 public immutable token;
    IWorkerRegistry public immutable workerRegistry;

    /// @notice The mining state machine the pools start and stop workers in.
    IRewards public rewards;
    /// @notice The only account that may slash (the slashing contract).
    address public slasher;
    /// @notice How long stake stays locked after its worker stops mining, in seconds.
    uint64 public coolDown = 7 days;
    /// @notice How long the head of a withdrawal queue may wait before anyone may stop the pool's workers.
    uint64 public maxQueueWait = 7 days;
    /// @notice The smallest contribution, so that shares are never dust.
    uint256 public minContribution = 1e15;

    uint256 public poolCount;
    mapping(uint256 poolId => Pool) private _pools;
    mapping(uint256 poolId => mapping(address delegator => uint256)) private _shares;
    mapping(uint256 poolId => mapping(address delegator => uint256)) private _queuedShares;
    mapping(uint256 poolId => mapping(uint256 index => Withdrawal)) private _queue;
    /// @inheritdoc IStakePool
    mapping(address worker => uint256 poolId) public poolOfWorker;
    /// @notice Stake assigned to a worker (mining, or cooling down), in tokens.
    mapping(address worker => uint256) public stakeOfWorker;

    event PoolCreated(uint256 indexed poolId, address indexed owner, uint16 commissionBps);
    event CommissionChanged(uint256 indexed poolId, uint16 commissionBps);
    event Contributed(uint256 indexed poolId, address indexed delegator, uint256 amount, uint256 shares);
    event WithdrawalQueued(uint256 indexed poolId, address indexed delegator, uint256 index, uint256 shares);
    event Withdrawn(uint256 indexed poolId, address indexed delegator, uint256 shares, uint256 amount);
    event WorkerBound(uint256 indexed poolId, address indexed worker);
    event WorkerUnbound(uint256 indexed poolId, address indexed worker);
    event StakeAssigned(uint256 indexed poolId, address indexed worker, uint256 amount);
    event MiningStopped(uint256 indexed poolId, address indexed worker, bool forced);
    event StakeReclaimed(uint256 indexed poolId, address indexed worker, uint256 amount);
    event RewardCredited(uint256 indexed poolId, address indexed worker, uint256 toStake, uint256 commission);
    event CommissionClaimed(uint256 indexed poolId, address indexed to, uint256 amount);
    event Slashed(uint256 indexed poolId, address indexed worker, uint256 amount);
    event ParameterChanged(string name, uint256 value);
    event ContractChanged(string name, address value);

    error PoolNotFound(uint256 poolId);
    error NotPoolOwner(uint256 poolId, address caller);
    error CommissionTooHigh(uint16 commissionBps);
    error ContributionTooSmall(uint256 amount, uint256 minimum);
    error PoolWipedOut(uint256 poolId);
    error ZeroAmount();
    error InsufficientShares(uint256 poolId, uint256 held, uint256 requested);
    error NotWorkerOperator(address worker, address caller);
    error WorkerAlreadyBound(address worker, uint256 poolId);
    error WorkerNotInPool(address worker);
    error WorkerBusy(address worker);
    error InsufficientFreeStake(uint256 poolId, uint256 free, uint256 requested);
    error WithdrawalsPending(uint256 poolId);
    error NotCoolingDown(address worker);
    error CoolDownNotOver(address worker, uint256 endsAt);
    error QueueNotOverdue(uint256 poolId);
    error NotSlasher(address caller);
    error InvalidParameter(string name, uint256 value);

    modifier onlyPoolOwner(uint256 poolId) {
        _checkPoolOwner(poolId);
        _;
    }

    constructor(IERC20 token_, IWorkerRegistry workerRegistry_, address initialOwner) Ownable(initialOwner) {
        token = token_;
        workerRegistry = workerRegistry_;
    }

    // ── pools and delegators ────────────────────────────────────────────────────────────────

    /// @notice Creates a pool owned by the caller, who takes `commissionBps` of its rewards.
    function createPool(uint16 commissionBps) external returns (uint256 poolId) {
        if (commissionBps > MAX_BPS) revert CommissionTooHigh(commissionBps);
        poolId = ++poolCount;
        Pool storage p = _pools[poolId];
        p.owner = msg.sender;
        p.commissionBps = commissionBps;
        emit PoolCreated(poolId, msg.sender, commissionBps);
    }

    /// @notice The owner changes its commission; it applies to rewards credited from now on.
    function setCommission(uint256 poolId, uint16 commissionBps) external onlyPoolOwner(poolId) {
        if (commissionBps > MAX_BPS) revert CommissionTooHigh(commissionBps);
        _pools[poolId].commissionBps = commissionBps;
        emit CommissionChanged(poolId, commissionBps);
    }

    /// @inheritdoc IStakePool
    function contribute(uint256 poolId, uint256 amount) external returns (uint256 shares) {
        Pool storage p = _existing(poolId);
        if (amount < minContribution) revert ContributionTooSmall(amount, minContribution);
        if (p.totalShares == 0) {
            shares = amount;
        } else {
            if (p.totalStake == 0) revert PoolWipedOut(poolId);
            shares = Math.mulDiv(amount, p.totalShares, p.totalStake);
            if (shares == 0) revert ContributionTooSmall(amount, minContribution);
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
        p.totalShares += shares;
        p.totalStake += amount;
        p.freeStake += amount;
        _shares[poolId][msg.sender] += shares;
        emit Contributed(poolId, msg.sender, amount, shares);
        _fill(poolId, p, MAX_FILLS_PER_CALL);
    }

    /// @inheritdoc IStakePool
    function withdraw(uint256 poolId, uint256 shares) external {
        Pool storage p = _existing(poolId);
        if (shares == 0) revert ZeroAmount();
        uint256 held = _shares[poolId][msg.sender];
        if (shares > held) revert InsufficientShares(poolId, held, shares);
        _shares[poolId][msg.sender] = held - shares;
        if (p.queueHead == p.queueTail) {
            uint256 value = Math.mulDiv(shares, p.totalStake, p.totalShares);
            if (value <= p.freeStake) {
                _payOut(poolId, p, msg.sender, shares, value);
                return;
            }
        }
        uint256 index = p.queueTail++;
        _queue[poolId][index] = Withdrawal(msg.sender, uint64(block.timestamp), shares);
        _queuedShares[poolId][msg.sender] += shares;
        emit WithdrawalQueued(poolId, msg.sender, index, shares);
        _fill(poolId, p, MAX_FILLS_PER_CALL);
    }

    /// @notice Pays up to `max` queued withdrawals from free stake (anyone may call).
    function processQueue(uint256 poolId, uint256 max) external {
        _fill(poolId, _existing(poolId), max);
    }

    /// @notice The owner takes its accrued commission.
    function claimCommission(uint256 poolId, address to) external onlyPoolOwner(poolId) {
        Pool storage p = _pools[poolId];
        uint256 amount = p.ownerRewards;
        if (amount == 0) revert ZeroAmount();
        p.ownerRewards = 0;
        token.safeTransfer(to, amount);
        emit CommissionClaimed(poolId, to, amount);
    }

    // ── workers ─────────────────────────────────────────────────────────────────────────────

    /// @notice Binds `worker` to the pool. The pool owner must be the worker's operator.
    function bindWorker(uint256 poolId, address worker) external onlyPoolOwner(poolId) {
        if (workerRegistry.operatorOf(worker) != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        uint256 bound = poolOfWorker[worker];
        if (bound != 0) revert WorkerAlreadyBound(worker, bound);
        poolOfWorker[worker] = poolId;
        emit WorkerBound(poolId, worker);
    }

    /// @notice Unbinds an idle worker that holds no stake.
    function unbindWorker(address worker) external {
        uint256 poolId = _poolOf(worker);
        _checkPoolOwner(poolId);
        if (stakeOfWorker[worker] != 0 || rewards.stateOf(worker) != IRewards.State.Idle) revert WorkerBusy(worker);
        delete poolOfWorker[worker];
        emit WorkerUnbound(poolId, worker);
    }

    /// @notice Assigns `amount` of free stake to `worker` and starts it mining. Waiting
    /// withdrawals are paid first.
    function startMining(address worker, uint256 amount) external {
        uint256 poolId = _poolOf(worker);
        _checkPoolOwner(poolId);
        Pool storage p = _pools[poolId];
        if (stakeOfWorker[worker] != 0 || rewards.stateOf(worker) != IRewards.State.Idle) revert WorkerBusy(worker);
        _fill(poolId, p, MAX_FILLS_PER_CALL);
        if (p.queueHead != p.queueTail) revert WithdrawalsPending(poolId);
        if (amount == 0) revert ZeroAmount();
        if (amount > p.freeStake) revert InsufficientFreeStake(poolId, p.freeStake, amount);
        p.freeStake -= amount;
        stakeOfWorker[worker] = amount;
        emit StakeAssigned(poolId, worker, amount);
        rewards.startMining(worker, amount);
    }

    /// @notice The owner stops `worker`; its stake comes back after the cool-down.
    function stopMining(address worker) external {
        uint256 poolId = _poolOf(worker);
        _checkPoolOwner(poolId);
        emit MiningStopped(poolId, worker, false);
        rewards.stopMining(worker);
    }

    /// @notice Anyone may stop a worker of a pool whose oldest waiting withdrawal is older than
    /// `maxQueueWait`, so that its stake comes back to pay the queue.
    function forceStopMining(address worker) external {
        uint256 poolId = _poolOf(worker);
        Pool storage p = _pools[poolId];
        if (p.queueHead == p.queueTail || block.timestamp <= _queue[poolId][p.queueHead].requestedAt + maxQueueWait) {
            revert QueueNotOverdue(poolId);
        }
        emit MiningStopped(poolId, worker, true);
        rewards.stopMining(worker);
    }

    /// @notice Brings a worker's stake back to the pool once its cool-down is over (anyone may call).
    function reclaim(address worker) external {
        uint256 poolId = _poolOf(worker);
        if (rewards.stateOf(worker) != IRewards.State.CoolingDown) revert NotCoolingDown(worker);
        uint256 endsAt = uint256(rewards.coolingSince(worker)) + coolDown;
        if (block.timestamp < endsAt) revert CoolDownNotOver(worker, endsAt);
        Pool storage p = _pools[poolId];
        uint256 amount = stakeOfWorker[worker];
        stakeOfWorker[worker] = 0;
        p.freeStake += amount;
        emit StakeReclaimed(poolId, worker, amount);
        rewards.release(worker);
        _fill(poolId, p, MAX_FILLS_PER_CALL);
    }

    // ── rewards and slashing ────────────────────────────────────────────────────────────────

    /// @inheritdoc IStakePool
    function creditReward(address worker, uint256 amount) external {
        uint256 poolId = _poolOf(worker);
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        Pool storage p = _pools[poolId];
        uint256 commission = p.totalShares == 0 ? amount : Math.mulDiv(amount, p.commissionBps, MAX_BPS);
        uint256 toStake = amount - commission;
        p.ownerRewards += commission;
        p.totalStake += toStake;
        p.freeStake += toStake;
        emit RewardCredited(poolId, worker, toStake, commission);
        _fill(poolId, p, MAX_FILLS_PER_CALL);
    }

    /// @inheritdoc IStakePool
    function slash(address worker, uint16 bps) external returns (uint256 amount) {
        if (msg.sender != slasher) revert NotSlasher(msg.sender);
        uint256 poolId = _poolOf(worker);
        Pool storage p = _pools[poolId];
        amount = Math.mulDiv(p.totalStake, bps, MAX_BPS);
        uint256 fromWorker = Math.min(amount, stakeOfWorker[worker]);
        uint256 fromFree = Math.min(amount - fromWorker, p.freeStake);
        amount = fromWorker + fromFree;
        stakeOfWorker[worker] -= fromWorker;
        p.freeStake -= fromFree;
        p.totalStake -= amount;
        emit Slashed(poolId, worker, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    // ── governance ──────────────────────────────────────────────────────────────────────────

    function setRewards(IRewards rewards_) external onlyOwner {
        rewards = rewards_;
        emit ContractChanged("rewards", address(rewards_));
    }

    function setSlasher(address slasher_) external onlyOwner {
        slasher = slasher_;
        emit ContractChanged("slasher", slasher_);
    }

    /// @notice Cool-down of stake released by a worker: at most 90 days.
    function setCoolDown(uint64 seconds_) external onlyOwner {
        if (seconds_ > 90 days) revert InvalidParameter("coolDown", seconds_);
        coolDown = seconds_;
        emit ParameterChanged("coolDown", seconds_);
    }

    /// @notice How long a withdrawal may wait before anyone may stop the pool's workers: 1 hour to 90 days.
    function setMaxQueueWait(uint64 seconds_) external onlyOwner {
        if (seconds_ < 1 hours || seconds_ > 90 days) revert InvalidParameter("maxQueueWait", seconds_);
        maxQueueWait = seconds_;
        emit ParameterChanged("maxQueueWait", seconds_);
    }

    function setMinContribution(uint256 amount) external onlyOwner {
        if (amount == 0) revert InvalidParameter("minContribution", amount);
        minContribution = amount;
        emit ParameterChanged("minContribution", amount);
    }

    // ── views ───────────────────────────────────────────────────────────────────────────────

    function getPool(uint256 poolId) external view returns (Pool memory) {
        if (_pools[poolId].owner == address(0)) revert PoolNotFound(poolId);
        return _pools[poolId];
    }

    /// @inheritdoc IStakePool
    function ownerOf(uint256 poolId) external view returns (address) {
        return _pools[poolId].owner;
    }

    /// @inheritdoc IStakePool
    function sharesOf(uint256 poolId, address delegator) external view returns (uint256) {
        return _shares[poolId][delegator];
    }

    /// @inheritdoc IStakePool
    function queuedSharesOf(uint256 poolId, address delegator) external view returns (uint256) {
        return _queuedShares[poolId][delegator];
    }

    /// @inheritdoc IStakePool
    function valueOf(uint256 poolId, address delegator) external view returns (uint256) {
        Pool storage p = _pools[poolId];
        if (p.totalShares == 0) return 0;
        uint256 shares = _shares[poolId][delegator] + _queuedShares[poolId][delegator];
        return Math.mulDiv(shares, p.totalStake, p.totalShares);
    }

    /// @notice The queued withdrawals of a pool, oldest first (at most `max`).
    function queue(uint256 poolId, uint256 max) external view returns (Withdrawal[] memory entries) {
        Pool storage p = _pools[poolId];
        uint256 n = Math.min(max, p.queueTail - p.queueHead);
        entries = new Withdrawal[](n);
        for (uint256 i = 0; i < n; i++) {
            entries[i] = _queue[poolId][p.queueHead + i];
        }
    }

    // ── internals ───────────────────────────────────────────────────────────────────────────

    function _existing(uint256 poolId) private view returns (Pool storage p) {
        p = _pools[poolId];
        if (p.owner == address(0)) revert PoolNotFound(poolId);
    }

    function _checkPoolOwner(uint256 poolId) private view {
        address owner_ = _existing(poolId).owner;
        if (owner_ != msg.sender) revert NotPoolOwner(poolId, msg.sender);
    }

    function _poolOf(address worker) private view returns (uint256 poolId) {
        poolId = poolOfWorker[worker];
        if (poolId == 0) revert WorkerNotInPool(worker);
    }

    /// Pays queued withdrawals, oldest first, from free stake, at the pool's price now.
    function _fill(uint256 poolId, Pool storage p, uint256 max) private {
        for (uint256 n = 0; n < max && p.queueHead != p.queueTail; n++) {
            uint256 index = p.queueHead;
            Withdrawal storage w = _queue[poolId][index];
            uint256 value = Math.mulDiv(w.shares, p.totalStake, p.totalShares);
            if (value <= p.freeStake) {
                address delegator = w.delegator;
                uint256 shares = w.shares;
                _queuedShares[poolId][delegator] -= shares;
                delete _queue[poolId][index];
                p.queueHead++;
                _payOut(poolId, p, delegator, shares, value);
                continue;
            }
            // Pay what free stake covers, in whole shares; the rest keeps its place.
            uint256 part = Math.mulDiv(p.freeStake, p.totalShares, p.totalStake);
            if (part == 0) return;
            uint256 partValue = Math.mulDiv(part, p.totalStake, p.totalShares);
            w.shares -= part;
            _queuedShares[poolId][w.delegator] -= part;
            _payOut(poolId, p, w.delegator, part, partValue);
            return;
        }
    }

    function _payOut(uint256 poolId, Pool storage p, address to, uint256 shares, uint256 amount) private {
        p.totalShares -= shares;
        p.totalStake -= amount;
        p.freeStake -= amount;
        emit Withdrawn(poolId, to, shares, amount);
        if (amount > 0) token.safeTransfer(to, amount);
    }
}
