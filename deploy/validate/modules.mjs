// Where the deploy checks find their npm packages: SC_DEPLOY_NODE_DIR (a directory whose
// node_modules setup.sh filled from package-lock.json), else next to these scripts (after
// `npm ci` in deploy/validate). Exports a require() rooted there.
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const base = process.env.SC_DEPLOY_NODE_DIR
  ? join(resolve(process.env.SC_DEPLOY_NODE_DIR), "package.json")
  : import.meta.url;
export const requireModule = createRequire(base);
