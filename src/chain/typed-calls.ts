import type { Abi, ContractFunctionArgs, ContractFunctionName, ContractFunctionReturnType, Hex } from "viem";

/** A function of `abi` that changes state. */
export type WriteName<A extends Abi> = ContractFunctionName<A, "nonpayable" | "payable">;
/** Its arguments, as the ABI types them. */
export type WriteArgs<A extends Abi, N extends WriteName<A>> = ContractFunctionArgs<
  A,
  "nonpayable" | "payable",
  N
>;

/**
 * A call checked against its contract's ABI where it is built (a misspelt function or a wrong
 * argument fails to compile), then carried without its types: a parameter change, a proposal's
 * action.
 */
export type CheckedCall = { address: Hex; abi: Abi; functionName: string; args: readonly unknown[] };

/** Builds a CheckedCall; the ABI's types check `functionName` and `args` here. */
export function checkedCall<const A extends Abi, N extends WriteName<A>>(
  address: Hex,
  abi: A,
  functionName: N,
  args: WriteArgs<A, N>,
): CheckedCall {
  return { address, abi, functionName, args: args as readonly unknown[] };
}

/** A function of `abi` that only reads. */
export type ReadName<A extends Abi> = ContractFunctionName<A, "pure" | "view">;
/** Its arguments, as the ABI types them. */
export type ReadArgs<A extends Abi, N extends ReadName<A>> = ContractFunctionArgs<A, "pure" | "view", N>;
/** What it returns, as the ABI types it. */
export type ReadResult<A extends Abi, N extends ReadName<A>> = ContractFunctionReturnType<
  A,
  "pure" | "view",
  N,
  ReadArgs<A, N>
>;
