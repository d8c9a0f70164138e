// Writes the Grafana dashboard deploy/k8s/base/grafana/socialcare-dashboard.json (the
// source of truth is this file: panels are easier to review as code than as JSON). With
// --check it writes nothing and exits 1 when the committed JSON differs. Every query keeps
// to the metrics the services export (check-dashboard.mjs verifies names and syntax).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const target = join(dirname(fileURLToPath(import.meta.url)), "../k8s/base/grafana/socialcare-dashboard.json");
const DS = { type: "prometheus", uid: "${datasource}" };
const NS = 'namespace=~"$namespace"';
const RI = "$__rate_interval";

let nextId = 1;
let y = 0;
const panels = [];

function row(title) {
  panels.push({ type: "row", title, id: nextId++, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
  y += 1;
}

// One line of panels; each spec: {title, type, w, targets: [[expr, legend]], unit, description}
function line(h, specs) {
  let x = 0;
  for (const s of specs) {
    const panel = {
      type: s.type || "timeseries",
      title: s.title,
      description: s.description || "",
      id: nextId++,
      datasource: DS,
      gridPos: { h, w: s.w, x, y },
      targets: s.targets.map(([expr, legend], i) => ({
        datasource: DS,
        expr,
        legendFormat: legend || "__auto",
        refId: String.fromCharCode(65 + i),
        range: true,
      })),
      fieldConfig: { defaults: { unit: s.unit || "short" }, overrides: [] },
      options:
        (s.type || "timeseries") === "timeseries"
          ? { legend: { displayMode: "table", placement: "bottom", calcs: ["lastNotNull", "max"] }, tooltip: { mode: "multi" } }
          : { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value", graphMode: "area" },
    };
    if (s.stack) panel.fieldConfig.defaults.custom = { stacking: { mode: "normal" }, fillOpacity: 30 };
    if (s.thresholds) panel.fieldConfig.defaults.thresholds = { mode: "absolute", steps: s.thresholds };
    panels.push(panel);
    x += s.w;
  }
  y += h;
}

const rate = (m, by, extra = "") => `sum by (${by}) (rate(${m}{${NS}${extra}}[${RI}]))`;
const total = (m, extra = "") => `sum(rate(${m}{${NS}${extra}}[${RI}]))`;
const q = (p, m, by) => `histogram_quantile(${p}, sum by (${by}) (rate(${m}{${NS}}[${RI}])))`;

row("Pipeline");
line(4, [
  { type: "stat", w: 4, title: "Posts accepted /s", unit: "ops", targets: [[total("socialcare_ingestor_posts_total", ',outcome="accepted"'), "accepted"]] },
  { type: "stat", w: 4, title: "Classified /s", unit: "ops", targets: [[total("socialcare_classifier_posts_total"), "classified"]] },
  { type: "stat", w: 4, title: "Routed /s", unit: "ops", targets: [[total("socialcare_router_posts_total"), "routed"]] },
  { type: "stat", w: 4, title: "Replies sent /s", unit: "ops", targets: [[total("socialcare_responder_replies_total", ',status="sent"'), "sent"]] },
  { type: "stat", w: 4, title: "Dead-lettered /s", unit: "ops", thresholds: [{ color: "green", value: null }, { color: "red", value: 0.05 }], targets: [[total("socialcare_dead_lettered_total"), "dead-lettered"]] },
  { type: "stat", w: 4, title: "First response p90", unit: "s", thresholds: [{ color: "green", value: null }, { color: "red", value: 30 }], targets: [[q(0.9, "socialcare_first_response_seconds_bucket", "le"), "p90"]] },
]);

row("Throughput per service");
line(8, [
  { w: 8, title: "Ingestor: posts by source and outcome", unit: "ops", stack: true, targets: [[rate("socialcare_ingestor_posts_total", "source, outcome"), "{{source}} {{outcome}}"]] },
  { w: 8, title: "Messages processed per service", unit: "ops", description: "Consumed messages whose offsets were stored, per service (job).", targets: [[rate("socialcare_messages_processed_total", "job"), "{{job}}"]] },
  { w: 8, title: "Messages produced per topic", unit: "ops", targets: [[rate("socialcare_kafka_messages_produced_total", "topic"), "{{topic}}"]] },
]);

row("Kafka");
line(8, [
  { w: 8, title: "Consumer lag by service and topic", unit: "short", description: "Messages between the partition ends and the committed offsets, summed over the group's members.", targets: [[`sum by (job, topic) (socialcare_kafka_consumer_lag_messages{${NS}})`, "{{job}} {{topic}}"]] },
  { w: 8, title: "Assigned partitions per service", unit: "short", description: "Replicas beyond the partition count get none (and are not ready).", targets: [[`sum by (job) (socialcare_kafka_assigned_partitions{${NS}})`, "{{job}}"], [`count by (job) (socialcare_kafka_assigned_partitions{${NS}})`, "{{job}} replicas"]] },
  { w: 8, title: "Batches retried, delivery failures, producer queue", unit: "short", targets: [[rate("socialcare_batches_total", "job", ',outcome="retried"'), "{{job}} retried batches/s"], [rate("socialcare_kafka_delivery_failures_total", "job, topic"), "{{job}} {{topic}} delivery failures/s"], [`sum by (job) (socialcare_kafka_producer_queue_messages{${NS}})`, "{{job}} queued"]] },
]);

row("Latency");
line(8, [
  { w: 12, title: "Batch duration p50 / p99 per service", unit: "s", description: "Consume to produce acknowledged, per batch.", targets: [[q(0.5, "socialcare_batch_duration_seconds_bucket", "job, le"), "{{job}} p50"], [q(0.99, "socialcare_batch_duration_seconds_bucket", "job, le"), "{{job}} p99"]] },
  { w: 12, title: "HTTP request duration p99 by route", unit: "s", targets: [[q(0.99, "socialcare_http_request_duration_seconds_bucket", "job, route, le"), "{{job}} {{route}}"]] },
]);

row("Cases");
line(8, [
  { w: 8, title: "Posts routed by department", unit: "ops", stack: true, targets: [[rate("socialcare_router_posts_total", "department"), "{{department}}"]] },
  { w: 8, title: "Posts routed by priority", unit: "ops", stack: true, targets: [[rate("socialcare_router_posts_total", "priority"), "{{priority}}"]] },
  { w: 8, title: "Intents, cases opened, acknowledgements", unit: "ops", targets: [[rate("socialcare_classifier_posts_total", "intent"), "{{intent}}"], [total("socialcare_router_cases_opened_total"), "cases opened"], [total("socialcare_router_acknowledgements_total"), "acknowledgements"]] },
]);

row("SLA");
line(8, [
  { w: 12, title: "First response time p50 / p90 / p99", unit: "s", description: "From a case's first post to its first delivered reply. Target: p90 under 30 s.", targets: [[q(0.5, "socialcare_first_response_seconds_bucket", "le"), "p50"], [q(0.9, "socialcare_first_response_seconds_bucket", "le"), "p90"], [q(0.99, "socialcare_first_response_seconds_bucket", "le"), "p99"]] },
  { w: 12, title: "SLA breaches by department and priority (per hour)", unit: "short", description: "socialcare_router_sla_breaches_total (router SLA clocks).", targets: [[`sum by (department, priority) (increase(socialcare_router_sla_breaches_total{${NS}}[1h]))`, "{{department}} {{priority}}"]] },
]);

row("Replies");
line(8, [
  { w: 8, title: "Replies by outcome", unit: "ops", stack: true, targets: [[rate("socialcare_responder_replies_total", "status"), "{{status}}"]] },
  { w: 8, title: "Send attempts; platform rate limits", unit: "ops", description: "Attempts by verdict, pauses the platforms imposed per account (429 or an exhausted limit), replies deferred by reason.", targets: [[rate("socialcare_responder_send_attempts_total", "verdict"), "attempt {{verdict}}"], [rate("socialcare_responder_ratelimit_pauses_total", "account"), "paused {{account}}"], [rate("socialcare_responder_deferred_total", "reason"), "deferred {{reason}}"]] },
  { w: 8, title: "Dead letters by service and reason", unit: "ops", stack: true, targets: [[rate("socialcare_dead_lettered_total", "service, reason"), "{{service}} {{reason}}"]] },
]);

const dashboard = {
  title: "socialcare",
  uid: "socialcare-pipeline",
  description: "socialcare pipeline: throughput per service, Kafka lag, latency, cases by department and priority, SLA, replies by outcome.",
  tags: ["socialcare"],
  timezone: "utc",
  editable: true,
  schemaVersion: 39,
  version: 1,
  refresh: "30s",
  time: { from: "now-6h", to: "now" },
  templating: {
    list: [
      { name: "datasource", label: "Data source", type: "datasource", query: "prometheus", current: {}, hide: 0 },
      {
        name: "namespace",
        label: "Namespace",
        type: "query",
        datasource: DS,
        query: { query: "label_values(socialcare_build_info, namespace)", refId: "namespace" },
        definition: "label_values(socialcare_build_info, namespace)",
        includeAll: true,
        allValue: ".*",
        multi: true,
        current: {},
        refresh: 2,
        hide: 0,
      },
    ],
  },
  annotations: { list: [] },
  links: [],
  panels,
};

const text = JSON.stringify(dashboard, null, 2) + "\n";
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    /* missing: differs */
  }
  if (current !== text) {
    console.error(`${target} is out of date: run node deploy/validate/gen-dashboard.mjs`);
    process.exit(1);
  }
  console.log(`${target} is in sync`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
