// Compile-time checks, run by `npm run typecheck` (not by the test runner): a contract call with
// a misspelt function, a wrong argument or a view function where a write is due must not compile
// (issue 16; ADR 0026). Each `@ts-expect-error` below fails the typecheck if the line under it
// ever compiles — that is, if the typed clients stop checking calls against the ABIs.
import type { Hex } from "viem";
import { stakePoolAbi, veilTokenAbi } from "../../src/chain/abi.ts";
import { checkedCall } from "../../src/chain/typed-calls.ts";

const token: Hex = "0x0000000000000000000000000000000000000001";
const someone: Hex = "0x0000000000000000000000000000000000000002";

// What must compile: a write with its arguments as the ABI types them.
checkedCall(token, veilTokenAbi, "transfer", [someone, 1n]);
checkedCall(token, veilTokenAbi, "approve", [someone, 10n ** 18n]);

// @ts-expect-error a misspelt function
checkedCall(token, veilTokenAbi, "transferr", [someone, 1n]);
// @ts-expect-error an amount as a string where the ABI says uint256
checkedCall(token, veilTokenAbi, "transfer", [someone, "1"]);
// @ts-expect-error an argument missing
checkedCall(token, veilTokenAbi, "transfer", [someone]);
// @ts-expect-error a view function is not a write
checkedCall(token, veilTokenAbi, "balanceOf", [someone]);
// @ts-expect-error another contract's function
checkedCall(token, stakePoolAbi, "transfer", [someone, 1n]);
