// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";

/// @notice What a vault reads from its factory: the governance parameters that apply to every vault.
interface IVaultFactory {
    function maxQueueWait() external view returns (uint64);
}

/// @title Vault
/// @notice A pool of pools: holders deposit tokens for vault shares; the vault's owner delegates
/// the vault's tokens across stake pools and takes `commissionBps` of its gains (above the
/// highest share price seen, so a loss is made up before commission is charged again). The
/// vault's assets are its free tokens plus its claims on the pools, queued ones included, at
/// their prices now.
///
/// Withdrawals are like a pool's: paid at once from free tokens, otherwise queued FIFO in vault
/// shares and paid as tokens come back (deposits, pool withdrawals). If the head of the queue
/// has waited longer than the factory's `maxQueueWait`, anyone may withdraw from the vault's pools.
///
/// Deployed as minimal clones by VaultFactory; each clone is initialised once.
contract Vault is Initializable {
    using SafeERC20 for IERC20;

    struct Withdrawal {
        address holder;
        uint64 requestedAt;
        uint256 shares;
    }

    uint16 public constant MAX_BPS = 10_000;
    uint256 public constant MAX_POOLS = 16;
    uint256 public constant MAX_FILLS_PER_CALL = 8;
    uint256 private constant PRICE_UNIT = 1e18;

    IERC20 public token;
    IStakePool public stakePool;
    IVaultFactory public factory;
    address public owner;
    uint16 public commissionBps;

    uint256 public totalShares; // held and queued
    /// @notice The highest price per share (1e18 = one token) on which commission was charged.
    uint256 public highWaterPrice;
    uint64 public queueHead;
    uint64 public queueTail;
    mapping(address holder => uint256) public sharesOf;
    mapping(address holder => uint256) public queuedSharesOf;
    mapping(uint256 index => Withdrawal) private _queue;
    uint256[] private _pools;

    event Deposited(address indexed holder, uint256 amount, uint256 shares);
    event WithdrawalQueued(address indexed holder, uint256 index, uint256 shares);
    event Withdrawn(address indexed holder, uint256 shares, uint256 amount);
    event Delegated(uint256 indexed poolId, uint256 amount, uint256 poolShares);
    event Undelegated(uint256 indexed poolId, uint256 poolShares, bool forced);
    event CommissionCharged(uint256 gain, uint256 fee, uint256 feeShares);
    event CommissionChanged(uint16 commissionBps);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotVaultOwner(address caller);
    error OwnableInvalidOwner(address owner);
    error CommissionTooHigh(uint16 commissionBps);
    error ZeroAmount();
    error VaultWipedOut();
    error InsufficientShares(uint256 held, uint256 requested);
    error InsufficientVaultBalance(uint256 balance, uint256 requested);
    error WithdrawalsPending();
    error TooManyPools(uint256 max);
    error QueueNotOverdue();

    modifier onlyVaultOwner() {
        if (msg.sender != owner) revert NotVaultOwner(msg.sender);
        _;
    }

    constructor() {
        _disableInitializers();
    }

    /// @notice Sets the clone up (called once, by the factory in the same transaction that creates it).
    function initialize(IERC20 token_, IStakePool stakePool_, address owner_, uint16 commissionBps_)
        external
        initializer
    {
        if (commissionBps_ > MAX_BPS) revert CommissionTooHigh(commissionBps_);
        token = token_;
        stakePool = stakePool_;
        factory = IVaultFactory(msg.sender);
        owner = owner_;
        commissionBps = commissionBps_;
        highWaterPrice = PRICE_UNIT;
        token_.forceApprove(address(stakePool_), type(uint256).max);
        emit OwnershipTransferred(address(0), owner_);
    }

    // ── holders ─────────────────────────────────────────────────────────────────────────────

    /// @notice Deposits `amount` tokens for vault shares at the price now.
    function deposit(uint256 amount) external returns (uint256 shares) {
        if (amount == 0) revert ZeroAmount();
        uint256 assets = _chargeCommission();
        if (totalShares == 0) {
            shares = amount;
            highWaterPrice = PRICE_UNIT;
        } else {
            if (assets == 0) revert VaultWipedOut();
            shares = Math.mulDiv(amount, totalShares, assets);
            if (shares == 0) revert ZeroAmount();
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
        totalShares += shares;
        sharesOf[msg.sender] += shares;
        emit Deposited(msg.sender, amount, shares);
        _fill(assets + amount, MAX_FILLS_PER_CALL);
    }

    /// @notice Withdraws `shares`: at once from free tokens, or queued.
    function withdraw(uint256 shares) external {
        if (shares == 0) revert ZeroAmount();
        // Commission first: it may mint shares to the caller (the owner), which `held` must include.
        uint256 assets = _chargeCommission();
        uint256 held = sharesOf[msg.sender];
        if (shares > held) revert InsufficientShares(held, shares);
        sharesOf[msg.sender] = held - shares;
        if (queueHead == queueTail) {
            uint256 value = Math.mulDiv(shares, assets, totalShares);
            if (value <= token.balanceOf(address(this))) {
                _payOut(msg.sender, shares, value);
                return;
            }
        }
        uint256 index = queueTail++;
        _queue[index] = Withdrawal(msg.sender, uint64(block.timestamp), shares);
        queuedSharesOf[msg.sender] += shares;
        emit WithdrawalQueued(msg.sender, index, shares);
        _fill(assets, MAX_FILLS_PER_CALL);
    }

    /// @notice Pays up to `max` queued withdrawals from free tokens (anyone may call).
    function processQueue(uint256 max) external {
        _fill(_chargeCommission(), max);
    }

    // ── the owner ───────────────────────────────────────────────────────────────────────────

    /// @notice Contributes `amount` of the vault's free tokens to pool `poolId`. Waiting
    /// withdrawals are paid first.
    function delegate(uint256 poolId, uint256 amount) external onlyVaultOwner {
        if (amount == 0) revert ZeroAmount();
        _fill(_chargeCommission(), MAX_FILLS_PER_CALL);
        if (queueHead != queueTail) revert WithdrawalsPending();
        uint256 balance = token.balanceOf(address(this));
        if (amount > balance) revert InsufficientVaultBalance(balance, amount);
        if (!_hasPool(poolId)) {
            _prunePools();
            if (_pools.length >= MAX_POOLS) revert TooManyPools(MAX_POOLS);
            _pools.push(poolId);
        }
        uint256 poolShares = stakePool.contribute(poolId, amount);
        emit Delegated(poolId, amount, poolShares);
    }

    /// @notice Withdraws `poolShares` of the vault's shares in pool `poolId` (paid now or queued there).
    function undelegate(uint256 poolId, uint256 poolShares) external onlyVaultOwner {
        _undelegate(poolId, poolShares, false);
    }

    /// @notice Anyone may withdraw from the vault's pools when the oldest waiting withdrawal has
    /// waited longer than the factory's `maxQueueWait`.
    function forceUndelegate(uint256 poolId, uint256 poolShares) external {
        if (queueHead == queueTail || block.timestamp <= _queue[queueHead].requestedAt + factory.maxQueueWait()) {
            revert QueueNotOverdue();
        }
        _undelegate(poolId, poolShares, true);
    }

    function setCommission(uint16 commissionBps_) external onlyVaultOwner {
        if (commissionBps_ > MAX_BPS) revert CommissionTooHigh(commissionBps_);
        _chargeCommission();
        commissionBps = commissionBps_;
        emit CommissionChanged(commissionBps_);
    }

    function transferOwnership(address newOwner) external onlyVaultOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(newOwner);
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ── views ───────────────────────────────────────────────────────────────────────────────

    /// @notice Free tokens plus the value of every pool claim (held and queued shares).
    function totalAssets() public view returns (uint256 assets) {
        assets = token.balanceOf(address(this));
        for (uint256 i = 0; i < _pools.length; i++) {
            assets += stakePool.valueOf(_pools[i], address(this));
        }
    }

    /// @notice The value of a holder's shares (held and queued) in tokens.
    function valueOf(address holder) external view returns (uint256) {
        if (totalShares == 0) return 0;
        return Math.mulDiv(sharesOf[holder] + queuedSharesOf[holder], totalAssets(), totalShares);
    }

    function pools() external view returns (uint256[] memory) {
        return _pools;
    }

    function queue(uint256 max) external view returns (Withdrawal[] memory entries) {
        uint256 n = Math.min(max, queueTail - queueHead);
        entries = new Withdrawal[](n);
        for (uint256 i = 0; i < n; i++) {
            entries[i] = _queue[queueHead + i];
        }
    }

    // ── internals ───────────────────────────────────────────────────────────────────────────

    function _undelegate(uint256 poolId, uint256 poolShares, bool forced) private {
        if (poolShares == 0) revert ZeroAmount();
        _chargeCommission();
        stakePool.withdraw(poolId, poolShares);
        emit Undelegated(poolId, poolShares, forced);
        _fill(totalAssets(), MAX_FILLS_PER_CALL);
    }

    /// Mints the owner shares worth `commissionBps` of the gain above the high-water price.
    /// Returns the vault's assets.
    function _chargeCommission() private returns (uint256 assets) {
        assets = totalAssets();
        if (totalShares == 0) return assets;
        uint256 price = Math.mulDiv(assets, PRICE_UNIT, totalShares);
        if (price <= highWaterPrice) return assets;
        uint256 gain = Math.mulDiv(price - highWaterPrice, totalShares, PRICE_UNIT);
        uint256 fee = Math.mulDiv(gain, commissionBps, MAX_BPS);
        if (fee > 0 && fee < assets) {
            uint256 feeShares = Math.mulDiv(fee, totalShares, assets - fee);
            totalShares += feeShares;
            sharesOf[owner] += feeShares;
            emit CommissionCharged(gain, fee, feeShares);
        }
        highWaterPrice = Math.mulDiv(assets, PRICE_UNIT, totalShares);
    }

    /// Pays queued withdrawals, oldest first, from free tokens, at the price of `assets` now.
    function _fill(uint256 assets, uint256 max) private {
        uint256 free = token.balanceOf(address(this));
        for (uint256 n = 0; n < max && queueHead != queueTail; n++) {
            uint256 index = queueHead;
            Withdrawal storage w = _queue[index];
            uint256 value = Math.mulDiv(w.shares, assets, totalShares);
            if (value <= free) {
                address holder = w.holder;
                uint256 shares = w.shares;
                queuedSharesOf[holder] -= shares;
                delete _queue[index];
                queueHead++;
                _payOut(holder, shares, value);
                assets -= value;
                free -= value;
                continue;
            }
            uint256 part = Math.mulDiv(free, totalShares, assets);
            if (part == 0) return;
            uint256 partValue = Math.mulDiv(part, assets, totalShares);
            w.shares -= part;
            queuedSharesOf[w.holder] -= part;
            _payOut(w.holder, part, partValue);
            return;
        }
    }

    function _payOut(address to, uint256 shares, uint256 amount) private {
        totalShares -= shares;
        emit Withdrawn(to, shares, amount);
        if (amount > 0) token.safeTransfer(to, amount);
    }

    function _hasPool(uint256 poolId) private view returns (bool) {
        for (uint256 i = 0; i < _pools.length; i++) {
            if (_pools[i] == poolId) return true;
        }
        return false;
    }

    /// Drops pools in which the vault holds nothing any more.
    function _prunePools() private {
        for (uint256 i = _pools.length; i > 0; i--) {
            uint256 poolId = _pools[i - 1];
            if (stakePool.sharesOf(poolId, address(this)) + stakePool.queuedSharesOf(poolId, address(this)) == 0) {
                _pools[i - 1] = _pools[_pools.length - 1];
                _pools.pop();
            }
        }
    }
}
