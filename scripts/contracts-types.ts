// Regenerates contracts/VeilTypedData.sol from src/crypto/typed-data.ts (then run contracts:abi).
import { writeFileSync } from "node:fs";
import { TYPED_DATA_SOL, typedDataSolidity } from "../src/chain/typed-data-sol.ts";

writeFileSync(TYPED_DATA_SOL, typedDataSolidity());
console.log(`wrote ${TYPED_DATA_SOL}`);
