// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";
import {VeilTypedData} from "../VeilTypedData.sol";

/// @title FeeEscrow
/// @notice Fees per call. Payers (callers, or agent owners sponsoring calls to their agents)
/// prepay into an escrow account. With each call they sign a *cumulative* voucher for the
/// (payer, worker, agent) channel: "for calls to agent A served by worker W, I owe N calls and X
/// tokens in total". Workers claim with the latest voucher of each channel, many channels in one
/// claim; the escrow pays the difference from what was paid before, so a voucher can never be
/// paid twice and a claim's cost grows with the number of channels, not of calls.
///
/// A payer may let other keys sign its vouchers (a gateway, or the agent's own key for a sponsor),
/// for one agent or any. Withdrawals wait `withdrawDelay` seconds, during which workers may still
/// claim against the balance. Of every claim, `treasuryBps` goes to the treasury; the rest to the
/// worker's stake pool as a reward, or to its operator if it has no pool.
contract FeeEscrow is Ownable, EIP712 {
    using SafeERC20 for IERC20;

    /// A payer's signed, cumulative promise for one (payer, worker, agent) channel. The signature
    /// is EIP-2098 compact (r, vs) over `voucherDigest`, the EIP-712 digest of a Veil `Voucher`.
    struct Voucher {
        address payer;
        uint256 agentId;
        uint64 calls;
        uint192 amount;
        bytes32 r;
        bytes32 vs;
    }

    struct Account {
        uint128 balance; // includes an amount requested for withdrawal until it is withdrawn
        uint128 requested;
        uint64 unlockAt;
    }

    struct Channel {
        uint64 calls; // cumulative calls paid for
        uint192 amount; // cumulative amount paid
    }

    uint16 public constant MAX_BPS = 10_000;
    /// Signer scope meaning "any agent".
    uint256 public constant ANY_AGENT = type(uint256).max;

    IERC20 public immutable token;
    IWorkerRegistry public immutable workerRegistry;
    IStakePool public stakePool;
    address public treasury;
    /// @notice The treasury's share of every claim, in basis points.
    uint16 public treasuryBps = 1_000;
    /// @notice Seconds between a withdrawal request and the withdrawal.
    uint64 public withdrawDelay = 1 days;

    mapping(address payer => Account) private _accounts;
    mapping(address payer => mapping(address signer => uint256 scope)) private _signers;
    mapping(bytes32 channel => Channel) private _channels;

    event Deposited(address indexed payer, address indexed from, uint256 amount);
    event WithdrawalRequested(address indexed payer, uint256 amount, uint64 unlockAt);
    event Withdrawn(address indexed payer, uint256 amount);
    event SignerAuthorized(address indexed payer, address indexed signer, uint256 scope);
    event FeesClaimed(address indexed payer, address indexed worker, uint256 indexed agentId, uint64 calls, uint256 paid);
    event ClaimShortfall(address indexed payer, address indexed worker, uint256 indexed agentId, uint256 unpaid);
    event ClaimSettled(address indexed worker, uint256 total, uint256 toTreasury, address recipient);
    event ParameterChanged(string name, uint256 value);
    event ContractChanged(string name, address value);

    error ZeroAmount();
    error InsufficientEscrow(address payer, uint256 balance, uint256 requested);
    error NoWithdrawalRequested(address payer);
    error WithdrawalLocked(address payer, uint64 unlockAt);
    error EmptyClaim();
    error WorkerNotFound(address worker);
    error BadVoucherSignature(address payer, address signer);
    error VoucherAlreadyClaimed(address payer, uint256 agentId, uint256 amount, uint256 paid);
    error InvalidParameter(string name, uint256 value);

    constructor(IERC20 token_, IWorkerRegistry workerRegistry_, address treasury_, address initialOwner)
        Ownable(initialOwner)
        EIP712(VeilTypedData.NAME, VeilTypedData.VERSION)
    {
        token = token_;
        workerRegistry = workerRegistry_;
        treasury = treasury_;
    }

    // ── payers ──────────────────────────────────────────────────────────────────────────────

    /// @notice Adds `amount` of the caller's tokens to the escrow of `payer`.
    function deposit(address payer, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        _accounts[payer].balance += SafeCast.toUint128(amount);
        emit Deposited(payer, msg.sender, amount);
    }

    /// @notice Starts the withdrawal of `amount`; it can be withdrawn after `withdrawDelay`, and
    /// claims may still draw on it until then. A new request replaces the previous one.
    function requestWithdrawal(uint256 amount) external {
        Account storage a = _accounts[msg.sender];
        if (amount == 0) revert ZeroAmount();
        if (amount > a.balance) revert InsufficientEscrow(msg.sender, a.balance, amount);
        a.requested = uint128(amount);
        a.unlockAt = uint64(block.timestamp) + withdrawDelay;
        emit WithdrawalRequested(msg.sender, amount, a.unlockAt);
    }

    /// @notice Withdraws the requested amount (or what is left of it after claims).
    function withdraw() external {
        Account storage a = _accounts[msg.sender];
        if (a.requested == 0) revert NoWithdrawalRequested(msg.sender);
        if (block.timestamp < a.unlockAt) revert WithdrawalLocked(msg.sender, a.unlockAt);
        uint128 amount = a.requested < a.balance ? a.requested : a.balance;
        a.balance -= amount;
        a.requested = 0;
        a.unlockAt = 0;
        emit Withdrawn(msg.sender, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice Lets `signer` sign vouchers drawing on the caller's escrow: for agent `agentId`,
    /// or for any agent with `ANY_AGENT`.
    function authorizeSigner(address signer, uint256 agentId) external {
        uint256 scope = agentId == ANY_AGENT ? ANY_AGENT : agentId + 1;
        _signers[msg.sender][signer] = scope;
        emit SignerAuthorized(msg.sender, signer, scope);
    }

    /// @notice Withdraws a signer's authority.
    function revokeSigner(address signer) external {
        delete _signers[msg.sender][signer];
        emit SignerAuthorized(msg.sender, signer, 0);
    }

    // ── workers ─────────────────────────────────────────────────────────────────────────────

    /// @notice Claims the fees `vouchers` promise to `worker` (anyone may submit; the money goes
    /// to the worker's pool or operator). Each voucher pays what its channel's cumulative amount
    /// adds to what was paid before, as far as the payer's escrow covers it.
    function claim(address worker, Voucher[] calldata vouchers) external returns (uint256 total) {
        if (vouchers.length == 0) revert EmptyClaim();
        address operator = workerRegistry.operatorOf(worker);
        if (operator == address(0)) revert WorkerNotFound(worker);
        for (uint256 i = 0; i < vouchers.length; i++) {
            total += _redeem(worker, vouchers[i]);
        }
        if (total == 0) return 0;
        uint256 toTreasury = Math.mulDiv(total, treasuryBps, MAX_BPS);
        uint256 rest = total - toTreasury;
        if (toTreasury > 0) token.safeTransfer(treasury, toTreasury);
        address recipient = operator;
        if (rest > 0) {
            if (stakePool.poolOfWorker(worker) != 0) {
                recipient = address(stakePool);
                stakePool.creditReward(worker, rest);
            } else {
                token.safeTransfer(operator, rest);
            }
        }
        emit ClaimSettled(worker, total, toTreasury, recipient);
    }

    function _redeem(address worker, Voucher calldata v) private returns (uint256 paid) {
        bytes32 digest = voucherDigest(v.payer, worker, v.agentId, v.calls, v.amount);
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(digest, v.r, v.vs);
        if (err != ECDSA.RecoverError.NoError) revert BadVoucherSignature(v.payer, address(0));
        if (signer != v.payer) {
            uint256 scope = _signers[v.payer][signer];
            if (scope == 0 || (scope != ANY_AGENT && scope - 1 != v.agentId)) {
                revert BadVoucherSignature(v.payer, signer);
            }
        }
        Channel storage c = _channels[channelId(v.payer, worker, v.agentId)];
        uint192 before = c.amount;
        if (v.amount <= before || v.calls < c.calls) revert VoucherAlreadyClaimed(v.payer, v.agentId, v.amount, before);
        Account storage a = _accounts[v.payer];
        uint256 due = v.amount - before;
        paid = Math.min(due, a.balance);
        a.balance -= uint128(paid);
        c.amount = before + uint192(paid);
        c.calls = v.calls;
        emit FeesClaimed(v.payer, worker, v.agentId, v.calls, paid);
        if (paid < due) emit ClaimShortfall(v.payer, worker, v.agentId, due - paid);
    }

    // ── governance ──────────────────────────────────────────────────────────────────────────

    function setStakePool(IStakePool stakePool_) external onlyOwner {
        if (address(stakePool) != address(0)) token.approve(address(stakePool), 0);
        stakePool = stakePool_;
        token.approve(address(stakePool_), type(uint256).max);
        emit ContractChanged("stakePool", address(stakePool_));
    }

    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert InvalidParameter("treasury", 0);
        treasury = treasury_;
        emit ContractChanged("treasury", treasury_);
    }

    function setTreasuryBps(uint16 bps) external onlyOwner {
        if (bps > MAX_BPS) revert InvalidParameter("treasuryBps", bps);
        treasuryBps = bps;
        emit ParameterChanged("treasuryBps", bps);
    }

    /// @notice Seconds a withdrawal waits: at most 30 days.
    function setWithdrawDelay(uint64 seconds_) external onlyOwner {
        if (seconds_ > 30 days) revert InvalidParameter("withdrawDelay", seconds_);
        withdrawDelay = seconds_;
        emit ParameterChanged("withdrawDelay", seconds_);
    }

    // ── views ───────────────────────────────────────────────────────────────────────────────

    /// @notice The digest a payer (or its signer) signs for a cumulative voucher: EIP-712 typed
    /// data `Voucher(payer, worker, agentId, calls, amount)` under the "Veil" domain of this
    /// contract, so a wallet shows what it promises.
    function voucherDigest(address payer, address worker, uint256 agentId, uint64 calls, uint192 amount)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(VeilTypedData.VOUCHER_TYPEHASH, payer, worker, agentId, calls, amount))
        );
    }

    function channelId(address payer, address worker, uint256 agentId) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, worker, agentId));
    }

    function getAccount(address payer) external view returns (Account memory) {
        return _accounts[payer];
    }

    function getChannel(address payer, address worker, uint256 agentId) external view returns (Channel memory) {
        return _channels[channelId(payer, worker, agentId)];
    }

    /// @return The signer's scope for `payer`: 0 none, `ANY_AGENT`, or agent id + 1.
    function signerScope(address payer, address signer) external view returns (uint256) {
        return _signers[payer][signer];
    }
}
