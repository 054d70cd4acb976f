#!/usr/bin/env node
// Entry point for the `veil` command: loads the TypeScript CLI through tsx so that
// there is no build step and no stale build output to fall out of step with src/.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
