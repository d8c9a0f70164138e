// Writes deploy/k8s/base/prometheusrule.yaml (a Prometheus Operator PrometheusRule) from
// the single source of the rules, deploy/prometheus/rules/socialcare.rules.yml. With
// --check it writes nothing and exits 1 when the committed file differs from what it would
// write (ctest deploy.prometheusrule-in-sync), printing how to regenerate it.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireModule } from "./modules.mjs";

const { parse, stringify } = requireModule("yaml");

const deploy = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(deploy, "prometheus/rules/socialcare.rules.yml");
const target = join(deploy, "k8s/base/prometheusrule.yaml");

const rules = parse(readFileSync(source, "utf8"));
const object = {
  apiVersion: "monitoring.coreos.com/v1",
  kind: "PrometheusRule",
  metadata: {
    name: "socialcare",
    labels: { "app.kubernetes.io/name": "socialcare", "app.kubernetes.io/part-of": "socialcare" },
  },
  spec: { groups: rules.groups },
};
const text =
  "# Generated from deploy/prometheus/rules/socialcare.rules.yml by\n" +
  "# `node deploy/validate/gen-prometheusrule.mjs`; do not edit (ctest checks it is in sync).\n" +
  stringify(object, { lineWidth: 0 });

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    /* missing: differs */
  }
  if (current !== text) {
    console.error(`${target} is out of date: run node deploy/validate/gen-prometheusrule.mjs`);
    process.exit(1);
  }
  console.log(`${target} is in sync with ${source}`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
