// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRewards} from "./interfaces/IRewards.sol";
import {IStakePool} from "./interfaces/IStakePool.sol";
import {IVeilToken} from "./interfaces/IVeilToken.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";

/// @title Rewards
/// @notice Mining: per-worker state (idle → working ⇄ unresponsive → cooling down → idle), the
/// heartbeat challenge, and the emission budget shared among working workers.
///
/// Challenge (Phala's scheme): block `b` challenges worker `w` when
/// `uint(keccak256(w)) XOR uint(blockhash(b)) <= challengeTarget`. The default target challenges
/// a worker about twice an hour at 12-second blocks. A challenged worker answers with a heartbeat
/// in blocks `b+1 … b+challengeWindow`, sent by its own key or signed by it (EIP-191) and relayed.
/// Anyone may report a challenge left unanswered (within 256 blocks, while its block hash is
/// still on chain): the worker becomes unresponsive, earns nothing, and its value V decays until
/// it answers a later challenge.
///
/// Budget: `rewardPerSecond` is shared among working workers in proportion to
/// `share = sqrt(V² + (2·P·conf)²)`: V is the worker's value (its stake, growing while it works
/// up to `maxValueBps` of it, decaying while unresponsive), P its performance score from its
/// heartbeats (a benchmark run in the TEE; one point counts as one whole token of V), and conf the
/// multiplier of its attestation's TCB confidence level. Accounting is an accumulator per unit of
/// share settled lazily at each worker's own heartbeats and transitions: no call loops over workers.
/// On settlement, `treasuryBps` of a worker's rewards goes to the treasury and the rest to its
/// pool; a worker that is not attested at settlement forfeits what accrued since its last one.
contract Rewards is IRewards, Ownable {
    enum EndReason {
        None,
        Stopped,
        Unattested,
        Slashed
    }

    struct Miner {
        State state;
        EndReason endReason;
        uint64 session; // counts mining sessions; heartbeats name theirs
        uint64 lastChallenge; // the last challenge block answered (or the session's start block)
        uint64 updatedAt; // when V was last brought up to date
        uint64 coolingSince;
        uint64 performance; // P, from the last heartbeat
        uint128 stake;
        uint128 value; // V
        uint256 share;
        uint256 rewardDebt;
    }

    uint16 public constant MAX_BPS = 10_000;
    uint256 private constant ACC_PRECISION = 1e36; // keeps the accumulator's rounding below a base unit per settlement
    /// One performance point weighs as much as one whole token (1e18 base units) of value.
    uint256 public constant PERFORMANCE_UNIT = 1e18;

    IVeilToken public immutable token;
    IWorkerRegistry public immutable workerRegistry;
    IStakePool public stakePool;
    address public slasher;
    address public treasury;

    /// @notice Emission shared per second among working workers, in base units.
    uint256 public rewardPerSecond = 1e18;
    /// @notice The treasury's cut of every reward, in basis points.
    uint16 public treasuryBps = 2_000;
    /// @notice Challenge threshold: about 2 challenges an hour at 12-second blocks.
    uint256 public challengeTarget = type(uint256).max / 150;
    /// @notice Blocks after a challenge in which the worker must answer.
    uint64 public challengeWindow = 20;
    /// @notice Smallest stake a worker may mine with.
    uint256 public minStake = 1_000e18;
    /// @notice V grows by this share of the stake per day of work …
    uint16 public valueGrowthBpsPerDay = 100;
    /// @notice … up to this share of the stake.
    uint16 public maxValueBps = 15_000;
    /// @notice V decays by this share of the stake per day unresponsive.
    uint16 public valueDecayBpsPerDay = 1_000;
    /// @notice The largest performance score a heartbeat may claim.
    uint64 public maxPerformance = 100_000;
    /// @notice conf per TCB confidence level 1 … 5, in basis points (Phala: 1, 1, 0.8, 0.7, 0.5).
    uint16[5] public confidenceBps = [10_000, 10_000, 8_000, 7_000, 5_000];

    uint256 public totalShares;
    uint256 public accRewardPerShare;
    uint64 public lastAccrual;
    /// @notice Emission minted by this contract so far (to pools and the treasury).
    uint256 public totalMinted;

    mapping(address worker => Miner) private _miners;
    mapping(address worker => mapping(uint64 session => uint64 blockNumber)) private _unattestedEnd;

    event MiningStarted(address indexed worker, uint64 session, uint256 stake);
    event Heartbeat(address indexed worker, uint64 challengeBlock, uint64 performance, uint256 value, uint256 share);
    event WorkerUnresponsive(address indexed worker, uint64 challengeBlock, address reporter);
    event MiningEnded(address indexed worker, uint64 session, EndReason reason);
    event WorkerReleased(address indexed worker);
    event RewardsPaid(address indexed worker, uint256 toPool, uint256 toTreasury);
    event RewardsForfeited(address indexed worker, uint256 amount);
    event ParameterChanged(string name, uint256 value);
    event ContractChanged(string name, address value);

    error NotStakePool(address caller);
    error NotSlasher(address caller);
    error WorkerBusy(address worker);
    error NotMining(address worker);
    error NotCoolingDown(address worker);
    error WorkerNotAttested(address worker);
    error WorkerStillAttested(address worker);
    error StakeTooLow(uint256 stake, uint256 minimum);
    error BadHeartbeatSignature(address worker);
    error NotChallenged(address worker, uint64 challengeBlock);
    error ChallengeWindowClosed(address worker, uint64 challengeBlock);
    error ChallengeWindowOpen(address worker, uint64 challengeBlock);
    error ChallengeAlreadyAnswered(address worker, uint64 challengeBlock);
    error ChallengeTooOld(uint64 challengeBlock);
    error InvalidParameter(string name, uint256 value);

    modifier onlyStakePool() {
        if (msg.sender != address(stakePool)) revert NotStakePool(msg.sender);
        _;
    }

    constructor(IVeilToken token_, IWorkerRegistry workerRegistry_, address treasury_, address initialOwner)
        Ownable(initialOwner)
    {
        token = token_;
        workerRegistry = workerRegistry_;
        treasury = treasury_;
        lastAccrual = uint64(block.timestamp);
    }

    // ── sessions (driven by the stake pools) ────────────────────────────────────────────────

    /// @inheritdoc IRewards
    function startMining(address worker, uint256 stake) external onlyStakePool {
        Miner storage m = _miners[worker];
        if (m.state != State.Idle) revert WorkerBusy(worker);
        if (!workerRegistry.isAttested(worker)) revert WorkerNotAttested(worker);
        if (stake < minStake) revert StakeTooLow(stake, minStake);
        _accrue();
        m.session++;
        m.state = State.Working;
        m.endReason = EndReason.None;
        m.lastChallenge = uint64(block.number); // only challenges after the start count
        m.updatedAt = uint64(block.timestamp);
        m.coolingSince = 0;
        m.performance = 0;
        m.stake = SafeCast.toUint128(stake);
        m.value = m.stake;
        _setShare(m, _shareOf(worker, m));
        emit MiningStarted(worker, m.session, stake);
    }

    /// @inheritdoc IRewards
    function stopMining(address worker) external onlyStakePool {
        Miner storage m = _mining(worker);
        _accrue();
        _settle(worker, m, workerRegistry.isAttested(worker));
        _end(worker, m, EndReason.Stopped);
    }

    /// @inheritdoc IRewards
    function release(address worker) external onlyStakePool {
        Miner storage m = _miners[worker];
        if (m.state != State.CoolingDown) revert NotCoolingDown(worker);
        m.state = State.Idle;
        m.coolingSince = 0;
        m.stake = 0;
        m.value = 0;
        emit WorkerReleased(worker);
    }

    /// @inheritdoc IRewards
    function punish(address worker) external {
        if (msg.sender != slasher) revert NotSlasher(msg.sender);
        Miner storage m = _miners[worker];
        if (m.state != State.Working && m.state != State.Unresponsive) return;
        _accrue();
        _settle(worker, m, false);
        _end(worker, m, EndReason.Slashed);
    }

    // ── heartbeats and reports (anyone) ─────────────────────────────────────────────────────

    /// @notice Answers the challenge of block `challengeBlock` with the worker's performance
    /// score. Sent by the worker's key (no signature needed) or by anyone with the worker's
    /// signature over `heartbeatDigest`. Brings an unresponsive worker back to work.
    function heartbeat(address worker, uint64 challengeBlock, uint64 performance, bytes calldata signature)
        external
    {
        Miner storage m = _mining(worker);
        if (msg.sender != worker) {
            bytes32 digest = heartbeatDigest(worker, m.session, challengeBlock, performance);
            (address signer, ECDSA.RecoverError err,) =
                ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(digest), signature);
            if (err != ECDSA.RecoverError.NoError || signer != worker) revert BadHeartbeatSignature(worker);
        }
        if (!workerRegistry.isAttested(worker)) revert WorkerNotAttested(worker);
        if (challengeBlock <= m.lastChallenge) revert ChallengeAlreadyAnswered(worker, challengeBlock);
        if (block.number <= challengeBlock || block.number > uint256(challengeBlock) + challengeWindow) {
            revert ChallengeWindowClosed(worker, challengeBlock);
        }
        if (!isChallenged(worker, challengeBlock)) revert NotChallenged(worker, challengeBlock);

        _accrue();
        _settle(worker, m, true);
        _updateValue(m);
        m.lastChallenge = challengeBlock;
        m.performance = uint64(Math.min(performance, maxPerformance));
        m.state = State.Working;
        uint256 share = _shareOf(worker, m);
        _setShare(m, share);
        emit Heartbeat(worker, challengeBlock, m.performance, m.value, share);
    }

    /// @notice Reports that a working `worker` left the challenge of `challengeBlock` unanswered:
    /// it becomes unresponsive and forfeits what accrued since its last heartbeat.
    function reportUnresponsive(address worker, uint64 challengeBlock) external {
        Miner storage m = _miners[worker];
        if (m.state != State.Working) revert NotMining(worker);
        if (challengeBlock <= m.lastChallenge) revert ChallengeAlreadyAnswered(worker, challengeBlock);
        if (block.number <= uint256(challengeBlock) + challengeWindow) revert ChallengeWindowOpen(worker, challengeBlock);
        if (block.number > uint256(challengeBlock) + 256) revert ChallengeTooOld(challengeBlock);
        if (!isChallenged(worker, challengeBlock)) revert NotChallenged(worker, challengeBlock);

        _accrue();
        _settle(worker, m, false);
        _updateValue(m);
        m.state = State.Unresponsive;
        _setShare(m, 0);
        emit WorkerUnresponsive(worker, challengeBlock, msg.sender);
    }

    /// @notice Reports that a mining `worker` is no longer attested: its session ends (what
    /// accrued since its last settlement is forfeited) and its stake cools down.
    function reportUnattested(address worker) external {
        Miner storage m = _mining(worker);
        if (workerRegistry.isAttested(worker)) revert WorkerStillAttested(worker);
        _accrue();
        _settle(worker, m, false);
        _unattestedEnd[worker][m.session] = uint64(block.number);
        _end(worker, m, EndReason.Unattested);
    }

    /// @notice Pays a working worker's pending rewards to its pool (forfeited if it is not attested).
    function settle(address worker) external {
        Miner storage m = _miners[worker];
        if (m.state != State.Working) revert NotMining(worker);
        _accrue();
        _settle(worker, m, workerRegistry.isAttested(worker));
    }

    // ── governance ──────────────────────────────────────────────────────────────────────────

    function setStakePool(IStakePool stakePool_) external onlyOwner {
        if (address(stakePool) != address(0)) token.approve(address(stakePool), 0);
        stakePool = stakePool_;
        token.approve(address(stakePool_), type(uint256).max);
        emit ContractChanged("stakePool", address(stakePool_));
    }

    function setSlasher(address slasher_) external onlyOwner {
        slasher = slasher_;
        emit ContractChanged("slasher", slasher_);
    }

    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert InvalidParameter("treasury", 0);
        treasury = treasury_;
        emit ContractChanged("treasury", treasury_);
    }

    /// @notice The emission budget per second; workers' accrued rewards so far keep the old rate.
    function setRewardPerSecond(uint256 amount) external onlyOwner {
        _accrue();
        rewardPerSecond = amount;
        emit ParameterChanged("rewardPerSecond", amount);
    }

    function setTreasuryBps(uint16 bps) external onlyOwner {
        if (bps > MAX_BPS) revert InvalidParameter("treasuryBps", bps);
        treasuryBps = bps;
        emit ParameterChanged("treasuryBps", bps);
    }

    /// @notice Sets the challenge target; `type(uint256).max` challenges every worker every block.
    function setChallengeTarget(uint256 target) external onlyOwner {
        if (target == 0) revert InvalidParameter("challengeTarget", target);
        challengeTarget = target;
        emit ParameterChanged("challengeTarget", target);
    }

    /// @notice Sets the answer window: 1 to 200 blocks, so that the challenged block's hash is
    /// still on chain when a miss is reported.
    function setChallengeWindow(uint64 blocks) external onlyOwner {
        if (blocks == 0 || blocks > 200) revert InvalidParameter("challengeWindow", blocks);
        challengeWindow = blocks;
        emit ParameterChanged("challengeWindow", blocks);
    }

    function setMinStake(uint256 amount) external onlyOwner {
        if (amount == 0) revert InvalidParameter("minStake", amount);
        minStake = amount;
        emit ParameterChanged("minStake", amount);
    }

    /// @notice V's dynamics: growth and decay per day and cap, in basis points of the stake.
    function setValueParameters(uint16 growthBpsPerDay, uint16 maxBps, uint16 decayBpsPerDay) external onlyOwner {
        if (maxBps < MAX_BPS) revert InvalidParameter("maxValueBps", maxBps);
        if (growthBpsPerDay > MAX_BPS) revert InvalidParameter("valueGrowthBpsPerDay", growthBpsPerDay);
        if (decayBpsPerDay > MAX_BPS) revert InvalidParameter("valueDecayBpsPerDay", decayBpsPerDay);
        valueGrowthBpsPerDay = growthBpsPerDay;
        maxValueBps = maxBps;
        valueDecayBpsPerDay = decayBpsPerDay;
        emit ParameterChanged("valueGrowthBpsPerDay", growthBpsPerDay);
        emit ParameterChanged("maxValueBps", maxBps);
        emit ParameterChanged("valueDecayBpsPerDay", decayBpsPerDay);
    }

    function setMaxPerformance(uint64 points) external onlyOwner {
        if (points == 0 || points > 1e12) revert InvalidParameter("maxPerformance", points);
        maxPerformance = points;
        emit ParameterChanged("maxPerformance", points);
    }

    /// @notice conf for each TCB confidence level 1 … 5, in basis points, from best to worst.
    function setConfidenceBps(uint16[5] calldata bps) external onlyOwner {
        for (uint256 i = 0; i < 5; i++) {
            if (bps[i] > MAX_BPS || (i > 0 && bps[i] > bps[i - 1])) revert InvalidParameter("confidenceBps", bps[i]);
        }
        confidenceBps = bps;
        emit ParameterChanged("confidenceBps", uint256(keccak256(abi.encode(bps))));
    }

    // ── views ───────────────────────────────────────────────────────────────────────────────

    /// @notice Whether block `blockNumber` challenges `worker` (false once its hash is gone).
    function isChallenged(address worker, uint256 blockNumber) public view returns (bool) {
        bytes32 seed = blockhash(blockNumber);
        if (seed == bytes32(0)) return false;
        return (uint256(keccak256(abi.encodePacked(worker))) ^ uint256(seed)) <= challengeTarget;
    }

    /// @inheritdoc IRewards
    function heartbeatDigest(address worker, uint64 session, uint64 challengeBlock, uint64 performance)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode("veil.heartbeat.v1", block.chainid, address(this), worker, session, challengeBlock, performance)
        );
    }

    function getMiner(address worker) external view returns (Miner memory) {
        return _miners[worker];
    }

    /// @inheritdoc IRewards
    function stateOf(address worker) external view returns (State) {
        return _miners[worker].state;
    }

    /// @inheritdoc IRewards
    function coolingSince(address worker) external view returns (uint64) {
        return _miners[worker].coolingSince;
    }

    /// @inheritdoc IRewards
    function unattestedEndBlock(address worker, uint64 session) external view returns (uint64) {
        return _unattestedEnd[worker][session];
    }

    /// @notice What `worker` would be paid (before the treasury's cut) if settled now.
    function pendingRewards(address worker) external view returns (uint256) {
        Miner storage m = _miners[worker];
        uint256 acc = accRewardPerShare;
        if (totalShares > 0 && block.timestamp > lastAccrual) {
            acc += Math.mulDiv(rewardPerSecond * (block.timestamp - lastAccrual), ACC_PRECISION, totalShares);
        }
        return Math.mulDiv(m.share, acc, ACC_PRECISION) - m.rewardDebt;
    }

    /// @notice `sqrt(V² + (2·P·conf)²)` for the given V (base units), P (points) and TCB level.
    function shareFor(uint256 value, uint256 performance, uint8 confidenceLevel) public view returns (uint256) {
        uint256 conf = confidenceLevel >= 1 && confidenceLevel <= 5 ? confidenceBps[confidenceLevel - 1] : 0;
        uint256 pc = 2 * performance * PERFORMANCE_UNIT * conf / MAX_BPS;
        return Math.sqrt(value * value + pc * pc);
    }

    // ── internals ───────────────────────────────────────────────────────────────────────────

    function _mining(address worker) private view returns (Miner storage m) {
        m = _miners[worker];
        if (m.state != State.Working && m.state != State.Unresponsive) revert NotMining(worker);
    }

    function _accrue() private {
        uint256 elapsed = block.timestamp - lastAccrual;
        if (elapsed == 0) return;
        if (totalShares > 0) {
            accRewardPerShare += Math.mulDiv(rewardPerSecond * elapsed, ACC_PRECISION, totalShares);
        }
        lastAccrual = uint64(block.timestamp);
    }

    /// Pays (or forfeits) what the worker's share earned since its last settlement.
    function _settle(address worker, Miner storage m, bool pay) private {
        uint256 accrued = Math.mulDiv(m.share, accRewardPerShare, ACC_PRECISION);
        uint256 pending = accrued - m.rewardDebt;
        m.rewardDebt = accrued;
        if (pending == 0) return;
        if (!pay) {
            emit RewardsForfeited(worker, pending);
            return;
        }
        pending = Math.min(pending, token.emissionRemaining());
        if (pending == 0) return;
        uint256 toTreasury = Math.mulDiv(pending, treasuryBps, MAX_BPS);
        uint256 toPool = pending - toTreasury;
        totalMinted += pending;
        if (toTreasury > 0) token.mintEmission(treasury, toTreasury);
        if (toPool > 0) {
            token.mintEmission(address(this), toPool);
            stakePool.creditReward(worker, toPool);
        }
        emit RewardsPaid(worker, toPool, toTreasury);
    }

    /// Brings V up to now: growth while working (to the cap), decay while unresponsive.
    function _updateValue(Miner storage m) private {
        uint256 elapsed = block.timestamp - m.updatedAt;
        m.updatedAt = uint64(block.timestamp);
        if (elapsed == 0) return;
        uint256 value = m.value;
        if (m.state == State.Working) {
            uint256 cap = Math.mulDiv(m.stake, maxValueBps, MAX_BPS);
            value = Math.min(cap, value + Math.mulDiv(m.stake, valueGrowthBpsPerDay * elapsed, uint256(MAX_BPS) * 1 days));
        } else if (m.state == State.Unresponsive) {
            uint256 decay = Math.mulDiv(m.stake, valueDecayBpsPerDay * elapsed, uint256(MAX_BPS) * 1 days);
            value = value > decay ? value - decay : 0;
        }
        m.value = uint128(value);
    }

    function _shareOf(address worker, Miner storage m) private view returns (uint256) {
        return shareFor(m.value, m.performance, workerRegistry.confidenceOf(worker));
    }

    /// Changes the worker's share; the caller has accrued and settled first.
    function _setShare(Miner storage m, uint256 share) private {
        totalShares = totalShares - m.share + share;
        m.share = share;
        m.rewardDebt = Math.mulDiv(share, accRewardPerShare, ACC_PRECISION);
    }

    function _end(address worker, Miner storage m, EndReason reason) private {
        _updateValue(m);
        _setShare(m, 0);
        m.state = State.CoolingDown;
        m.endReason = reason;
        m.coolingSince = uint64(block.timestamp);
        emit MiningEnded(worker, m.session, reason);
    }
}
