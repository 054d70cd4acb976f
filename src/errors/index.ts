export { isVeilErrorJSON, VeilError, type VeilErrorJSON, type VeilErrorOptions } from "./base.ts";
