// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AgentConsumer} from "./AgentConsumer.sol";
import {AgentTriggers} from "./AgentTriggers.sol";

/// @title PriceFeedConsumer
/// @notice The price-oracle example's contract (examples/price-oracle): asks an agent for the
/// price of a symbol and keeps the last answer. The agent answers abi.encode(uint256 price, uint64 at).
contract PriceFeedConsumer is AgentConsumer {
    uint256 public immutable oracleAgent;

    struct Price {
        uint256 value; // in 1e-8 units
        uint64 at; // unix seconds the agent saw it
        uint256 requestId;
    }

    mapping(string symbol => Price) public prices;
    mapping(uint256 requestId => string symbol) private _symbolOf;

    event PriceRequested(uint256 indexed requestId, string symbol);
    event PriceUpdated(string symbol, uint256 value, uint64 at);

    constructor(AgentTriggers triggers_, uint256 oracleAgent_) AgentConsumer(triggers_) {
        oracleAgent = oracleAgent_;
    }

    /// @notice Asks the oracle agent for `symbol`'s price; msg.value is its fee.
    function requestPrice(string calldata symbol, uint64 blocks) external payable returns (uint256 requestId) {
        requestId = _requestAgent(oracleAgent, abi.encode(symbol), blocks, msg.value);
        _symbolOf[requestId] = symbol;
        emit PriceRequested(requestId, symbol);
    }

    function _onAgentResponse(uint256 requestId, uint256, bytes calldata response) internal override {
        (uint256 value, uint64 at) = abi.decode(response, (uint256, uint64));
        string memory symbol = _symbolOf[requestId];
        prices[symbol] = Price(value, at, requestId);
        emit PriceUpdated(symbol, value, at);
    }
}
