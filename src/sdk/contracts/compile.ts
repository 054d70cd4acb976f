// Compiling the contracts of contracts/ with solc (Node only: not in the browser entry).
export { type CompiledContract, type CompiledContracts, compileContracts } from "../../chain/compile.ts";
