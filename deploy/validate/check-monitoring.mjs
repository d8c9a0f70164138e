// Checks the monitoring files against the code: every socialcare_* metric that the alert
// rules (deploy/prometheus/rules/socialcare.rules.yml) or the Grafana dashboard query is
// registered by a service (its name appears in shared/*.c or services/*/*.c), except the
// few announced metrics listed below; and every dashboard query is valid PromQL
// (`promtool check rules` on a rules file made of them, with Grafana's variables filled in);
// and every alert has a unit test in socialcare.rules.test.yml where it fires.
// Exits 1 on any problem.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireModule } from "./modules.mjs";

const { parse, stringify } = requireModule("yaml");

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
// Announced by other work in progress (the router's SLA clocks, the responder's platform
// clients); alerts and panels are written against these names already.
const ANNOUNCED = new Set(["socialcare_router_sla_breaches_total", "socialcare_responder_ratelimit_pauses_total"]);

const problems = [];

// Metric names registered in the C sources (string literals).
let source = "";
for (const dir of ["shared", ...readdirSync(join(root, "services")).map((d) => join("services", d))]) {
  for (const f of readdirSync(join(root, dir))) if (f.endsWith(".c")) source += readFileSync(join(root, dir, f), "utf8");
}
const registered = new Set(source.match(/"socialcare_[a-z0-9_]+"/g).map((s) => s.slice(1, -1)));

function checkNames(where, expr) {
  for (const name of expr.match(/\bsocialcare_[a-z0-9_]+/g) || []) {
    const base = name.replace(/_(bucket|sum|count)$/, "");
    if (!registered.has(name) && !registered.has(base) && !ANNOUNCED.has(name))
      problems.push(`${where}: metric ${name} is not registered by any service`);
  }
}

const rules = parse(readFileSync(join(root, "deploy/prometheus/rules/socialcare.rules.yml"), "utf8"));
let nRules = 0;
for (const g of rules.groups)
  for (const r of g.rules) {
    checkNames(`rule ${r.alert || r.record}`, r.expr);
    nRules++;
  }

// Every alert has a promtool unit test, and one where it fires.
const tests = parse(readFileSync(join(root, "deploy/prometheus/rules/socialcare.rules.test.yml"), "utf8"));
const firing = new Set();
for (const t of tests.tests || [])
  for (const a of t.alert_rule_test || []) if ((a.exp_alerts || []).length) firing.add(a.alertname);
for (const g of rules.groups)
  for (const r of g.rules)
    if (r.alert && !firing.has(r.alert)) problems.push(`alert ${r.alert} has no promtool test where it fires`);

const dash = JSON.parse(readFileSync(join(root, "deploy/k8s/base/grafana/socialcare-dashboard.json"), "utf8"));
const exprs = [];
for (const p of dash.panels)
  for (const t of p.targets || []) {
    checkNames(`panel "${p.title}"`, t.expr);
    exprs.push({ panel: p.title, expr: t.expr });
  }
if (exprs.length < 10) problems.push(`dashboard has only ${exprs.length} queries`);

const dir = mkdtempSync(join(tmpdir(), "socialcare-dash-"));
try {
  const file = join(dir, "dashboard-queries.yml");
  const fill = (e) => e.replaceAll("$__rate_interval", "5m").replaceAll("$__range", "1h").replaceAll("$namespace", ".*");
  writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules: exprs.map((x, i) => ({ record: `dashboard:query_${i}`, expr: fill(x.expr) })) }] }));
  try {
    execFileSync("promtool", ["check", "rules", file], { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    problems.push(`promtool rejects a dashboard query:\n${e.stdout}${e.stderr}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const p of problems) console.log(`PROBLEM ${p}`);
console.log(`check-monitoring: ${nRules} rules, ${exprs.length} dashboard queries, ${registered.size} registered metrics, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
