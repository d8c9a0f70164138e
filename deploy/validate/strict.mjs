// Strict check of rendered Kubernetes manifests: catches fields the upstream schemas do not
// know (a misspelt `readinesProbe` passes JSON Schema validation, which allows extra
// properties, and the API server would drop it). Each object becomes a TypeScript constant
// typed with the kubernetes-models interface of its kind (core, KEDA, Prometheus
// Operator), and `tsc --noEmit` reports excess or mistyped properties. Prints one line per
// problem with the object it belongs to; exits 1 when there is any, 2 on bad usage.
// Usage: node strict.mjs RENDERED.yaml...
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { requireModule } from "./modules.mjs";

const { parseAllDocuments } = requireModule("yaml");
const tsc = join(dirname(requireModule.resolve("typescript/package.json")), "bin", "tsc");

const K8S_GROUPS = new Set(["", "apps", "policy", "autoscaling", "batch", "networking.k8s.io",
  "rbac.authorization.k8s.io"]);
const CRD_PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

function modulePath(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (K8S_GROUPS.has(group)) return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  if (CRD_PACKAGES[group]) return `${CRD_PACKAGES[group]}/${group}/${version}/${kind}`;
  return null;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node strict.mjs RENDERED.yaml...");
  process.exit(2);
}

const problems = [];
const lines = [];
const owners = []; // line number (1-based) -> object label
let n = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj) continue;
    const label = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const mod = obj.apiVersion && obj.kind ? modulePath(obj.apiVersion, obj.kind) : null;
    if (!mod) {
      problems.push(`${label}: no type for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    const body = `import type { I${obj.kind} as T${n} } from ${JSON.stringify(mod)};\n` +
      `export const o${n}: T${n} = ${JSON.stringify(obj, null, 1)};\n`;
    for (const l of body.split("\n")) {
      lines.push(l);
      owners.push(label);
    }
    n++;
  }
}

const dir = mkdtempSync(join(tmpdir(), "socialcare-strict-"));
try {
  const source = join(dir, "manifests.ts");
  writeFileSync(source, lines.join("\n"));
  const nodeModules = join(dirname(requireModule.resolve("yaml/package.json")), "..");
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, skipLibCheck: true, module: "commonjs", moduleResolution: "node",
      target: "es2020", types: [], baseUrl: dir, typeRoots: [],
      paths: { "*": [join(nodeModules, "*")] },
    },
    files: [source],
  }));
  try {
    execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json"), "--pretty", "false"],
      { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (e) {
    const out = `${e.stdout}${e.stderr}`;
    for (const m of out.matchAll(/manifests\.ts\((\d+),(\d+)\): error (TS\d+): (.*)/g))
      problems.push(`${owners[Number(m[1]) - 1]}: line ${m[1]}: ${m[4]} (${lines[Number(m[1]) - 1].trim()})`);
    if (!problems.length) problems.push(`tsc failed: ${out.slice(0, 2000)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
for (const p of problems) console.log(`PROBLEM ${p}`);
console.log(`strict: ${n} objects, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
