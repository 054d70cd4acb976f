// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IRewards} from "./interfaces/IRewards.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {VeilTypedData} from "../VeilTypedData.sol";

/// @title Slashing
/// @notice Punishes provable faults, each proven by evidence checked here, each punished once:
///
/// - **Equivocation**: two receipts signed by one worker's key for the same agent and request id
///   with different output hashes. A worker signs at most one receipt per (agent, request id).
/// - **Heartbeat while unattested**: a heartbeat signed by the worker's key for a mining session
///   that had already ended because the worker was no longer attested, for a challenge block after
///   that end, while the worker is still not attested.
///
/// The pool the worker is bound to loses `slashBps` of its stake (see StakePool.slash); the
/// reporter gets `reporterBps` of that (unless it is the worker's operator or pool owner), the
/// treasury the rest; the worker's session ends without its pending rewards.
contract Slashing is Ownable, EIP712 {
    using SafeERC20 for IERC20;

    /// What a worker's key signs (EIP-712 typed data `WorkerReceipt`, see `receiptDigest`) for a response.
    struct WorkerReceipt {
        uint256 agentId;
        bytes32 requestId;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes signature;
    }

    enum Fault {
        Equivocation,
        UnattestedHeartbeat
    }

    uint16 public constant MAX_BPS = 10_000;

    IERC20 public immutable token;
    IWorkerRegistry public immutable workerRegistry;
    IStakePool public stakePool;
    IRewards public rewards;
    address public treasury;
    /// @notice Share of the pool's stake a proven fault costs, in basis points.
    uint16 public slashBps = 1_000;
    /// @notice The reporter's share of what is slashed, in basis points.
    uint16 public reporterBps = 5_000;

    mapping(bytes32 faultId => bool) public reported;

    event FaultReported(
        bytes32 indexed faultId,
        address indexed worker,
        Fault fault,
        address indexed reporter,
        uint256 slashed,
        uint256 reporterReward
    );
    event ParameterChanged(string name, uint256 value);
    event ContractChanged(string name, address value);

    error BadReceiptSignature(address worker);
    error ReceiptsNotConflicting();
    error BadHeartbeatSignature(address worker);
    error HeartbeatNotAFault(address worker, uint64 session, uint64 challengeBlock);
    error WorkerStillAttested(address worker);
    error WorkerNotInPool(address worker);
    error FaultAlreadyReported(bytes32 faultId);
    error InvalidParameter(string name, uint256 value);

    constructor(
        IERC20 token_,
        IWorkerRegistry workerRegistry_,
        IStakePool stakePool_,
        IRewards rewards_,
        address treasury_,
        address initialOwner
    ) Ownable(initialOwner) EIP712(VeilTypedData.NAME, VeilTypedData.VERSION) {
        token = token_;
        workerRegistry = workerRegistry_;
        stakePool = stakePool_;
        rewards = rewards_;
        treasury = treasury_;
    }

    /// @notice Reports two conflicting receipts signed by `worker`.
    function reportEquivocation(address worker, WorkerReceipt calldata a, WorkerReceipt calldata b)
        external
        returns (uint256 slashed)
    {
        if (a.agentId != b.agentId || a.requestId != b.requestId || a.outputHash == b.outputHash) {
            revert ReceiptsNotConflicting();
        }
        if (!_typedSignedBy(worker, receiptDigest(worker, a), a.signature)) revert BadReceiptSignature(worker);
        if (!_typedSignedBy(worker, receiptDigest(worker, b), b.signature)) revert BadReceiptSignature(worker);
        bytes32 faultId = keccak256(abi.encode(Fault.Equivocation, worker, a.agentId, a.requestId));
        return _slash(worker, faultId, Fault.Equivocation);
    }

    /// @notice Reports a heartbeat `worker` signed for a session that had ended because it was no
    /// longer attested.
    function reportUnattestedHeartbeat(
        address worker,
        uint64 session,
        uint64 challengeBlock,
        uint64 performance,
        bytes calldata signature
    ) external returns (uint256 slashed) {
        bytes32 digest = rewards.heartbeatDigest(worker, session, challengeBlock, performance);
        if (!_signedBy(worker, digest, signature)) revert BadHeartbeatSignature(worker);
        uint64 endedAt = rewards.unattestedEndBlock(worker, session);
        if (endedAt == 0 || challengeBlock <= endedAt) revert HeartbeatNotAFault(worker, session, challengeBlock);
        if (workerRegistry.isAttested(worker)) revert WorkerStillAttested(worker);
        bytes32 faultId = keccak256(abi.encode(Fault.UnattestedHeartbeat, worker, session));
        return _slash(worker, faultId, Fault.UnattestedHeartbeat);
    }

    // ── governance ──────────────────────────────────────────────────────────────────────────

    function setSlashBps(uint16 bps) external onlyOwner {
        if (bps > MAX_BPS) revert InvalidParameter("slashBps", bps);
        slashBps = bps;
        emit ParameterChanged("slashBps", bps);
    }

    function setReporterBps(uint16 bps) external onlyOwner {
        if (bps > MAX_BPS) revert InvalidParameter("reporterBps", bps);
        reporterBps = bps;
        emit ParameterChanged("reporterBps", bps);
    }

    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert InvalidParameter("treasury", 0);
        treasury = treasury_;
        emit ContractChanged("treasury", treasury_);
    }

    function setContracts(IStakePool stakePool_, IRewards rewards_) external onlyOwner {
        stakePool = stakePool_;
        rewards = rewards_;
        emit ContractChanged("stakePool", address(stakePool_));
        emit ContractChanged("rewards", address(rewards_));
    }

    // ── views ───────────────────────────────────────────────────────────────────────────────

    /// @notice The digest a worker's key signs for a receipt: EIP-712 typed data `WorkerReceipt`
    /// under the "Veil" domain of this contract.
    function receiptDigest(address worker, WorkerReceipt calldata r) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VeilTypedData.WORKER_RECEIPT_TYPEHASH, worker, r.agentId, r.requestId, r.inputHash, r.outputHash
                )
            )
        );
    }

    // ── internals ───────────────────────────────────────────────────────────────────────────

    function _typedSignedBy(address worker, bytes32 digest, bytes calldata signature) private pure returns (bool) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        return err == ECDSA.RecoverError.NoError && signer == worker;
    }

    function _signedBy(address worker, bytes32 digest, bytes calldata signature) private pure returns (bool) {
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(digest), signature);
        return err == ECDSA.RecoverError.NoError && signer == worker;
    }

    function _slash(address worker, bytes32 faultId, Fault fault) private returns (uint256 slashed) {
        if (reported[faultId]) revert FaultAlreadyReported(faultId);
        uint256 poolId = stakePool.poolOfWorker(worker);
        if (poolId == 0) revert WorkerNotInPool(worker);
        reported[faultId] = true;
        slashed = stakePool.slash(worker, slashBps);
        rewards.punish(worker);
        // The worker's own operator or pool owner reporting it gets nothing back.
        bool insider = msg.sender == workerRegistry.operatorOf(worker) || msg.sender == stakePool.ownerOf(poolId);
        uint256 reward = insider ? 0 : Math.mulDiv(slashed, reporterBps, MAX_BPS);
        if (reward > 0) token.safeTransfer(msg.sender, reward);
        if (slashed > reward) token.safeTransfer(treasury, slashed - reward);
        emit FaultReported(faultId, worker, fault, msg.sender, slashed, reward);
    }
}
