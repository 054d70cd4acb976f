// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentKeys} from "../AgentKeys.sol";
import {AgentRegistry} from "../AgentRegistry.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice What a consumer contract implements to receive an agent's answer (AgentConsumer.sol).
interface IAgentResponseReceiver {
    function handleAgentResponse(uint256 requestId, uint256 agentId, address responder, bytes calldata response) external;
}

/// @title AgentTriggers
/// @notice The hub workers watch for work that starts on chain (docs/adr/0011-triggers.md):
///  - requests from contracts (the oracle pattern): a consumer deposits a fee and names an agent,
///    a payload and a deadline; the agent's own key (its certified EVM address in AgentKeys)
///    answers once, before the deadline, and takes the fee; after the deadline anyone may
///    return the fee to the consumer.
///  - schedules: an agent's owner sets a cron expression; the worker that runs a tick claims it
///    here first, signed by the agent's key, so each (agent, tick) runs exactly once.
///  A request must pay at least `requiredFee()`: the gas of an answer and its callback at
///  today's base fee, and never less than governance's `minRequestFee`, so that requesters,
///  not operators, pay for the work they ask for (docs/adr/0020).
contract AgentTriggers is Ownable {
    enum Status {
        None,
        Pending,
        Fulfilled,
        Refunded
    }

    struct Request {
        address consumer;
        uint256 agentId;
        uint64 createdBlock;
        uint64 deadlineBlock; // last block in which the agent may answer
        Status status;
        uint256 fee;
        bytes32 payloadHash;
    }

    uint256 public constant MAX_PAYLOAD_BYTES = 16 * 1024;
    uint256 public constant MAX_RESPONSE_BYTES = 16 * 1024;
    uint256 public constant MAX_CRON_LENGTH = 128;
    /// Gas the consumer's callback may use; a failing callback does not undo the answer.
    uint256 public constant CALLBACK_GAS = 500_000;
    /// Gas of an answer besides the callback: the transaction, the checks, the fee's transfer.
    uint256 public constant FULFILL_GAS_OVERHEAD = 150_000;

    /// The least a request pays (wei), whatever the base fee; set by governance.
    uint256 public minRequestFee;

    AgentRegistry public immutable agents;
    AgentKeys public immutable keys;

    uint256 private _requestCount;
    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 agentId => string) private _schedules;
    mapping(uint256 agentId => mapping(uint64 tick => address worker)) private _ticks;
    /// When each agent's current schedule was set: no tick before it runs (a new schedule does not
    /// catch up on minutes that passed before it existed).
    mapping(uint256 agentId => uint64) private _scheduleSince;

    event AgentRequested(
        uint256 indexed requestId,
        uint256 indexed agentId,
        address indexed consumer,
        bytes payload,
        uint64 deadlineBlock,
        uint256 fee
    );
    event AgentResponded(uint256 indexed requestId, uint256 indexed agentId, bytes response, bool callbackOk);
    event RequestRefunded(uint256 indexed requestId, address indexed consumer, uint256 fee);
    event ScheduleSet(uint256 indexed agentId, string cron);
    event TickClaimed(uint256 indexed agentId, uint64 indexed tick, address worker);
    event MinRequestFeeChanged(uint256 fee);

    error RequestNotFound(uint256 requestId);
    error RequestNotPending(uint256 requestId, Status status);
    error DeadlinePassed(uint256 requestId, uint64 deadlineBlock);
    error DeadlineNotReached(uint256 requestId, uint64 deadlineBlock);
    error BadDeadline(uint64 deadlineBlock);
    error PayloadTooLarge(uint256 size);
    error ResponseTooLarge(uint256 size);
    error NotAgentSigner(uint256 agentId, address caller);
    error NotAgentOwner(uint256 id, address caller);
    error AgentNotFound(uint256 id);
    error CronTooLong(uint256 length);
    error TickAlreadyClaimed(uint256 agentId, uint64 tick, address worker);
    error TickInFuture(uint64 tick);
    error TickBeforeSchedule(uint64 tick, uint64 since);
    error NoSchedule(uint256 agentId);
    error RefundFailed(uint256 requestId);
    error FeeTooLow(uint256 fee, uint256 required);

    constructor(AgentRegistry agents_, AgentKeys keys_, address initialOwner, uint256 minRequestFee_)
        Ownable(initialOwner)
    {
        agents = agents_;
        keys = keys_;
        minRequestFee = minRequestFee_;
        emit MinRequestFeeChanged(minRequestFee_);
    }

    /// @notice Governance sets the least a request pays, whatever the base fee.
    function setMinRequestFee(uint256 fee) external onlyOwner {
        minRequestFee = fee;
        emit MinRequestFeeChanged(fee);
    }

    /// @notice What a request must pay now: an answer's gas with its callback at the current base
    /// fee, or `minRequestFee`, whichever is more.
    function requiredFee() public view returns (uint256) {
        uint256 gasCost = (CALLBACK_GAS + FULFILL_GAS_OVERHEAD) * block.basefee;
        return gasCost > minRequestFee ? gasCost : minRequestFee;
    }

    // ── requests ─────────────────────────────────────────────────────────────────────────────

    /// @notice Asks agent `agentId` to answer `payload` by block `deadlineBlock`; msg.value is the
    /// fee the agent earns by answering (it pays the answer's gas) or the caller gets back.
    function request(uint256 agentId, bytes calldata payload, uint64 deadlineBlock)
        external
        payable
        returns (uint256 requestId)
    {
        _ownerOf(agentId); // reverts AgentNotFound
        if (payload.length > MAX_PAYLOAD_BYTES) revert PayloadTooLarge(payload.length);
        if (deadlineBlock <= block.number) revert BadDeadline(deadlineBlock);
        uint256 required = requiredFee();
        if (msg.value < required) revert FeeTooLow(msg.value, required);
        requestId = ++_requestCount;
        _requests[requestId] = Request({
            consumer: msg.sender,
            agentId: agentId,
            createdBlock: uint64(block.number),
            deadlineBlock: deadlineBlock,
            status: Status.Pending,
            fee: msg.value,
            payloadHash: keccak256(payload)
        });
        emit AgentRequested(requestId, agentId, msg.sender, payload, deadlineBlock, msg.value);
    }

    /// @notice The agent's answer, sent from its certified address. Marks the request answered
    /// before anything else, so it is answered once; then pays the fee and calls the consumer.
    function fulfill(uint256 requestId, bytes calldata response) external {
        Request storage r = _requests[requestId];
        if (r.status == Status.None) revert RequestNotFound(requestId);
        if (r.status != Status.Pending) revert RequestNotPending(requestId, r.status);
        if (block.number > r.deadlineBlock) revert DeadlinePassed(requestId, r.deadlineBlock);
        if (response.length > MAX_RESPONSE_BYTES) revert ResponseTooLarge(response.length);
        _onlyAgentSigner(r.agentId);
        r.status = Status.Fulfilled;
        uint256 fee = r.fee;
        uint256 agentId = r.agentId;
        address consumer = r.consumer;
        bool ok;
        if (consumer.code.length > 0) {
            try IAgentResponseReceiver(consumer).handleAgentResponse{gas: CALLBACK_GAS}(
                requestId, agentId, msg.sender, response
            ) {
                ok = true;
            } catch {}
        }
        emit AgentResponded(requestId, agentId, response, ok);
        if (fee > 0) {
            (bool paid,) = msg.sender.call{value: fee}("");
            paid; // the agent's address is an EOA; if it refuses, the fee stays here
        }
    }

    /// @notice After the deadline, returns an unanswered request's fee to the consumer (anyone may call).
    function refund(uint256 requestId) external {
        Request storage r = _requests[requestId];
        if (r.status == Status.None) revert RequestNotFound(requestId);
        if (r.status != Status.Pending) revert RequestNotPending(requestId, r.status);
        if (block.number <= r.deadlineBlock) revert DeadlineNotReached(requestId, r.deadlineBlock);
        r.status = Status.Refunded;
        uint256 fee = r.fee;
        emit RequestRefunded(requestId, r.consumer, fee);
        if (fee > 0) {
            (bool paid,) = r.consumer.call{value: fee}("");
            if (!paid) revert RefundFailed(requestId);
        }
    }

    function getRequest(uint256 requestId) external view returns (Request memory) {
        if (_requests[requestId].status == Status.None) revert RequestNotFound(requestId);
        return _requests[requestId];
    }

    function requestCount() external view returns (uint256) {
        return _requestCount;
    }

    // ── schedules ────────────────────────────────────────────────────────────────────────────

    /// @notice The agent's owner sets its cron expression ("" removes it). Workers parse it; the
    /// chain only stores it.
    function setSchedule(uint256 agentId, string calldata cron) external {
        address owner = _ownerOf(agentId);
        if (owner != msg.sender) revert NotAgentOwner(agentId, msg.sender);
        if (bytes(cron).length > MAX_CRON_LENGTH) revert CronTooLong(bytes(cron).length);
        _schedules[agentId] = cron;
        _scheduleSince[agentId] = uint64(block.timestamp);
        emit ScheduleSet(agentId, cron);
    }

    function scheduleOf(uint256 agentId) external view returns (string memory) {
        return _schedules[agentId];
    }

    /// @notice The agent's cron expression and when it was set (unix seconds): its first tick is
    /// the first cron time at or after that.
    function scheduleWithSince(uint256 agentId) external view returns (string memory cron, uint64 since) {
        return (_schedules[agentId], _scheduleSince[agentId]);
    }

    /// @notice Claims tick `tick` (unix seconds of the cron time) of agent `agentId` for the
    /// worker `worker`; sent from the agent's certified address. Only the claimer runs the tick.
    function claimTick(uint256 agentId, uint64 tick, address worker) external {
        _onlyAgentSigner(agentId);
        if (bytes(_schedules[agentId]).length == 0) revert NoSchedule(agentId);
        if (tick > block.timestamp + 60) revert TickInFuture(tick);
        if (tick < _scheduleSince[agentId]) revert TickBeforeSchedule(tick, _scheduleSince[agentId]);
        address claimed = _ticks[agentId][tick];
        if (claimed != address(0)) revert TickAlreadyClaimed(agentId, tick, claimed);
        _ticks[agentId][tick] = worker;
        emit TickClaimed(agentId, tick, worker);
    }

    function tickClaimer(uint256 agentId, uint64 tick) external view returns (address) {
        return _ticks[agentId][tick];
    }

    /// The registry's own revert would not decode against this contract's ABI: say it here.
    function _ownerOf(uint256 agentId) private view returns (address owner) {
        try agents.getAgent(agentId) returns (address o, string memory, uint32, bytes32, uint256) {
            owner = o;
        } catch {
            revert AgentNotFound(agentId);
        }
    }

    function _onlyAgentSigner(uint256 agentId) private view {
        address signer;
        try keys.getAgentKeys(agentId) returns (AgentKeys.KeyRecord memory r) {
            signer = r.signingAddress;
        } catch {}
        if (signer == address(0) || signer != msg.sender) revert NotAgentSigner(agentId, msg.sender);
    }
}
