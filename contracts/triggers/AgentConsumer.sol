// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentTriggers, IAgentResponseReceiver} from "./AgentTriggers.sol";

/// @title AgentConsumer
/// @notice Inherit to ask Veil agents for work from a contract (the oracle pattern):
/// `_requestAgent` files a request with the hub (the fee is msg.value of that call, returned
/// here on refund); `_onAgentResponse` receives the answer. An answer is accepted only from the
/// hub, and only when it was sent by the agent's registered address (AgentKeys) — checked again
/// here, so a consumer does not rely on the hub alone.
abstract contract AgentConsumer is IAgentResponseReceiver {
    AgentTriggers public immutable agentTriggers;

    mapping(uint256 requestId => uint256 agentId) private _pending;

    error NotAgentTriggers(address caller);
    error UnknownRequest(uint256 requestId);
    error WrongResponder(uint256 agentId, address responder);

    constructor(AgentTriggers triggers_) {
        agentTriggers = triggers_;
    }

    /// @dev Files a request for agent `agentId`, answerable for `blocks` blocks, paying `fee`.
    function _requestAgent(uint256 agentId, bytes memory payload, uint64 blocks, uint256 fee)
        internal
        returns (uint256 requestId)
    {
        requestId = agentTriggers.request{value: fee}(agentId, payload, uint64(block.number) + blocks);
        _pending[requestId] = agentId;
    }

    /// @dev Called once per answered request, with the agent's response bytes.
    function _onAgentResponse(uint256 requestId, uint256 agentId, bytes calldata response) internal virtual;

    function handleAgentResponse(uint256 requestId, uint256 agentId, address responder, bytes calldata response)
        external
    {
        if (msg.sender != address(agentTriggers)) revert NotAgentTriggers(msg.sender);
        uint256 expected = _pending[requestId];
        if (expected == 0 || expected != agentId) revert UnknownRequest(requestId);
        if (agentTriggers.keys().getAgentKeys(agentId).signingAddress != responder) {
            revert WrongResponder(agentId, responder);
        }
        delete _pending[requestId];
        _onAgentResponse(requestId, agentId, response);
    }

    /// @dev Refunds arrive here.
    receive() external payable virtual {}
}
