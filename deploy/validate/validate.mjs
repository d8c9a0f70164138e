// Validates rendered Kubernetes manifests (multi-document YAML files given as arguments)
// against the upstream schemas that the pinned kubernetes-models packages carry (core
// Kubernetes, KEDA, Prometheus Operator), then checks the deployment rules this product
// depends on: probes, drain time, non-root and read-only containers, config and secrets
// as the services expect them, one Service, PodDisruptionBudget and autoscaler per
// Deployment, KEDA triggers on the right consumer groups and topics within the partition
// count, and a ServiceMonitor that selects every Service. Prints one line per object and
// each problem; exits 1 when there is any problem, 2 on bad usage.
import { readFileSync } from "node:fs";
import { requireModule as require } from "./modules.mjs";

const { parseAllDocuments } = require("yaml");

// Partitions of every topic (docker-compose.yml's kafka-init and docs/operations.md):
// a consumer group never has more useful members than this.
const PARTITIONS = 12;
// DRAIN_TIMEOUT_MS default of every service, in seconds.
const DEFAULT_DRAIN_S = 10;
// What each service consumes (shared/service.c callers in services/*/main.c).
const CONSUMES = {
  ingestor: [],
  classifier: ["posts.inbound"],
  "escalation-router": ["posts.classified", "replies.delivered"],
  responder: ["replies.outbound"],
};
// Objects that the manifests reference but that are managed outside the repository.
const EXTERNAL_SECRETS = new Set(["socialcare-secrets"]);

const K8S_GROUPS = new Set(["", "apps", "policy", "autoscaling", "batch", "networking.k8s.io",
  "rbac.authorization.k8s.io"]);
const CRD_PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

function modelClass(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  let path;
  if (K8S_GROUPS.has(group)) path = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  else if (CRD_PACKAGES[group]) path = `${CRD_PACKAGES[group]}/${group}/${version}`;
  else return null;
  try {
    const mod = require(path);
    return mod[kind] || null;
  } catch {
    return null;
  }
}

const problems = [];
function problem(obj, msg) {
  const id = obj ? `${obj.kind}/${obj.metadata?.name}` : "-";
  problems.push(`${id}: ${msg}`);
}

// ---- load ------------------------------------------------------------------------
// --partial: a kustomization meant to be completed by an overlay (deploy/k8s/base, whose
// consumers get their autoscaler from deploy/k8s/autoscaling/*): at most one autoscaler.
const partial = process.argv.includes("--partial");
const files = process.argv.slice(2).filter((a) => a !== "--partial");
if (files.length === 0) {
  console.error("usage: node validate.mjs [--partial] RENDERED.yaml...");
  process.exit(2);
}

for (const file of files) {
  const objects = [];
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      problems.push(`${file}: YAML: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj) objects.push(obj);
  }
  console.log(`${file}: ${objects.length} objects`);
  if (objects.length === 0) problems.push(`${file}: no objects`);
  validateSchemas(objects);
  checkRules(objects);
}

// ---- schemas -----------------------------------------------------------------------
function validateSchemas(objects) {
  for (const obj of objects) {
    if (!obj.apiVersion || !obj.kind) {
      problem(obj, "no apiVersion or kind");
      continue;
    }
    const Model = modelClass(obj.apiVersion, obj.kind);
    if (!Model) {
      problem(obj, `no schema for ${obj.apiVersion} ${obj.kind} (unknown kind: not validated)`);
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`  ok  ${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`);
    } catch (e) {
      problem(obj, `schema: ${e.message}`);
    }
  }
}

// ---- product rules -----------------------------------------------------------------
function envOf(container) {
  const env = {};
  for (const e of container.env || []) env[e.name] = e;
  return env;
}

function selects(selector, labels) {
  const want = selector?.matchLabels || selector || {};
  if (Object.keys(want).length === 0) return false;
  return Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

function checkRules(objects) {
  const byKind = (k) => objects.filter((o) => o.kind === k);
  const configMaps = new Set(byKind("ConfigMap").map((o) => o.metadata.name));
  const secrets = new Set(byKind("Secret").map((o) => o.metadata.name));
  const deployments = byKind("Deployment");
  if (deployments.length !== 4) problem(null, `want 4 Deployments, got ${deployments.length}`);

  for (const dep of deployments) {
    const name = dep.metadata.name;
    const comp = dep.metadata.labels?.["app.kubernetes.io/component"];
    if (!(comp in CONSUMES)) {
      problem(dep, `unknown component label ${comp}`);
      continue;
    }
    if (dep.spec.replicas !== undefined)
      problem(dep, "spec.replicas is set: it would reset the autoscaler's scale on every apply");
    const pod = dep.spec.template;
    const podLabels = pod.metadata?.labels || {};
    if (!selects(dep.spec.selector, podLabels)) problem(dep, "selector does not match its pods");
    const ps = pod.spec;
    if (!ps.serviceAccountName || !objects.some((o) => o.kind === "ServiceAccount" && o.metadata.name === ps.serviceAccountName))
      problem(dep, `ServiceAccount ${ps.serviceAccountName} is not in the render`);
    if (ps.automountServiceAccountToken !== false) problem(dep, "mounts a service account token it does not need");
    const psc = ps.securityContext || {};
    if (psc.runAsNonRoot !== true) problem(dep, "pod securityContext.runAsNonRoot is not true");
    if (!(psc.runAsUser > 0)) problem(dep, "pod runs as uid 0 or an unset uid");
    if (psc.seccompProfile?.type !== "RuntimeDefault") problem(dep, "no RuntimeDefault seccomp profile");
    if (ps.containers.length !== 1) problem(dep, "want exactly one container");
    const c = ps.containers[0];
    if (c.command?.[0] !== `socialcare-${comp}`) problem(dep, `command is not socialcare-${comp}`);
    const sc = c.securityContext || {};
    if (sc.readOnlyRootFilesystem !== true) problem(dep, "root filesystem is not read-only");
    if (sc.allowPrivilegeEscalation !== false) problem(dep, "allowPrivilegeEscalation is not false");
    if (!(sc.capabilities?.drop || []).includes("ALL")) problem(dep, "capabilities are not dropped");
    if (c.livenessProbe?.httpGet?.path !== "/healthz") problem(dep, "liveness probe is not GET /healthz");
    if (c.readinessProbe?.httpGet?.path !== "/readyz") problem(dep, "readiness probe is not GET /readyz");
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
      problem(dep, "cpu/memory requests or memory limit missing");
    const port = (c.ports || []).find((p) => p.name === "http");
    if (!port) problem(dep, "no container port named http");

    // Config from a ConfigMap (present in the render), secrets as files from a Secret.
    const cmRefs = (c.envFrom || []).filter((e) => e.configMapRef).map((e) => e.configMapRef.name);
    if (cmRefs.length === 0) problem(dep, "no envFrom configMapRef");
    for (const ref of cmRefs) if (!configMaps.has(ref)) problem(dep, `ConfigMap ${ref} is not in the render`);
    const env = envOf(c);
    for (const e of Object.values(env)) {
      const ref = e.valueFrom?.configMapKeyRef?.name;
      if (ref && !configMaps.has(ref)) problem(dep, `ConfigMap ${ref} (env ${e.name}) is not in the render`);
      if (e.valueFrom?.secretKeyRef) problem(dep, `env ${e.name} reads a secret into the environment; mount it as a file (*_FILE)`);
    }
    const vols = Object.fromEntries((ps.volumes || []).map((v) => [v.name, v]));
    const secretMounts = (c.volumeMounts || []).filter((m) => vols[m.name]?.secret);
    if (comp !== "classifier" || secretMounts.length) {
      if (secretMounts.length === 0) problem(dep, "no Secret mounted as files");
    }
    for (const m of secretMounts) {
      const sname = vols[m.name].secret.secretName;
      if (!secrets.has(sname) && !EXTERNAL_SECRETS.has(sname)) problem(dep, `Secret ${sname} is neither rendered nor known external`);
      if (m.readOnly !== true) problem(dep, `secret mount ${m.name} is not read-only`);
    }
    const redisFile = env.REDIS_URL_FILE?.value;
    if (comp !== "classifier") {
      if (!redisFile) problem(dep, "REDIS_URL_FILE is not set (the Redis URL holds a password)");
      else if (!secretMounts.some((m) => redisFile.startsWith(m.mountPath + "/")))
        problem(dep, `REDIS_URL_FILE ${redisFile} is not under a mounted Secret`);
    }

    // Drain: the grace period must cover DRAIN_TIMEOUT_MS plus any preStop pause.
    let drainS = DEFAULT_DRAIN_S;
    for (const cm of byKind("ConfigMap")) {
      if (cmRefs.includes(cm.metadata.name) && cm.data?.DRAIN_TIMEOUT_MS) drainS = Number(cm.data.DRAIN_TIMEOUT_MS) / 1000;
    }
    if (env.DRAIN_TIMEOUT_MS?.value) drainS = Number(env.DRAIN_TIMEOUT_MS.value) / 1000;
    const pre = c.lifecycle?.preStop?.exec?.command;
    const preS = pre && pre[0] === "sleep" ? Number(pre[1]) : 0;
    const grace = ps.terminationGracePeriodSeconds ?? 30;
    if (!(grace > drainS + preS))
      problem(dep, `terminationGracePeriodSeconds ${grace} does not exceed drain ${drainS}s + preStop ${preS}s`);

    // Companions: Service, PodDisruptionBudget, exactly one autoscaler.
    const svcs = byKind("Service").filter((s) => selects(s.spec.selector, podLabels));
    if (svcs.length !== 1) problem(dep, `want one Service selecting its pods, got ${svcs.length}`);
    else if (!svcs[0].spec.ports.some((p) => p.targetPort === "http" || p.targetPort === port?.containerPort))
      problem(dep, "its Service does not target the http port");
    const pdbs = byKind("PodDisruptionBudget").filter((p) => selects(p.spec.selector, podLabels));
    if (pdbs.length !== 1) problem(dep, `want one PodDisruptionBudget, got ${pdbs.length}`);
    const targets = (o) => (o.spec.scaleTargetRef?.kind ?? "Deployment") === "Deployment" && o.spec.scaleTargetRef?.name === name;
    const hpas = byKind("HorizontalPodAutoscaler").filter(targets);
    const sos = byKind("ScaledObject").filter(targets);
    if (hpas.length + sos.length > 1 || (!partial && hpas.length + sos.length !== 1))
      problem(dep, `want exactly one autoscaler (HPA or KEDA ScaledObject), got ${hpas.length} HPA + ${sos.length} ScaledObject`);
    for (const h of hpas) {
      if (!(h.spec.metrics || []).some((m) => m.resource?.name === "cpu")) problem(h, "no CPU metric");
      if (CONSUMES[comp].length && h.spec.maxReplicas > PARTITIONS)
        problem(h, `maxReplicas ${h.spec.maxReplicas} exceeds the ${PARTITIONS} partitions`);
      if (!c.resources?.requests?.cpu) problem(h, "CPU utilisation without a CPU request");
    }
    for (const so of sos) {
      if (!CONSUMES[comp].length) problem(so, "KEDA on lag for a service that consumes nothing");
      if (!(so.spec.maxReplicaCount <= PARTITIONS)) problem(so, `maxReplicaCount ${so.spec.maxReplicaCount} exceeds the ${PARTITIONS} partitions`);
      if (!(so.spec.minReplicaCount >= 1)) problem(so, "minReplicaCount below 1 (scale to zero)");
      const kafka = so.spec.triggers.filter((t) => t.type === "kafka");
      const topics = kafka.map((t) => t.metadata.topic).sort();
      if (JSON.stringify(topics) !== JSON.stringify([...CONSUMES[comp]].sort()))
        problem(so, `kafka triggers on [${topics}], the service consumes [${CONSUMES[comp]}]`);
      for (const t of kafka) {
        if (t.metadata.consumerGroup !== `socialcare-${comp}`) problem(so, `consumerGroup ${t.metadata.consumerGroup} is not socialcare-${comp}`);
        if (t.metadata.allowIdleConsumers === "true") problem(so, "allowIdleConsumers lets it scale past the partitions");
        if (t.authenticationRef && !objects.some((o) => o.kind === "TriggerAuthentication" && o.metadata.name === t.authenticationRef.name))
          problem(so, `TriggerAuthentication ${t.authenticationRef.name} is not in the render`);
      }
      if (!so.spec.triggers.some((t) => t.type === "cpu")) problem(so, "no CPU trigger");
    }
  }

  // Monitoring: one ServiceMonitor selecting every Service on a named port; the rules.
  const monitors = byKind("ServiceMonitor");
  if (monitors.length !== 1) problem(null, `want one ServiceMonitor, got ${monitors.length}`);
  for (const sm of monitors) {
    for (const s of byKind("Service")) {
      if (!selects(sm.spec.selector, s.metadata.labels)) problem(sm, `does not select Service ${s.metadata.name}`);
      for (const ep of sm.spec.endpoints) if (!s.spec.ports.some((p) => p.name === ep.port)) problem(sm, `Service ${s.metadata.name} has no port ${ep.port}`);
      if (!s.metadata.labels?.[sm.spec.jobLabel]) problem(sm, `Service ${s.metadata.name} lacks the job label ${sm.spec.jobLabel}`);
    }
  }
  const rules = byKind("PrometheusRule");
  if (rules.length !== 1) problem(null, `want one PrometheusRule, got ${rules.length}`);
  const alerts = new Set(rules.flatMap((r) => r.spec.groups.flatMap((g) => g.rules.map((x) => x.alert).filter(Boolean))));
  for (const want of ["SocialcareConsumerLagGrowing", "SocialcareDeadLetterRate", "SocialcareSlaBreaches",
    "SocialcareFirstResponseSlow", "SocialcarePlatformRateLimited", "SocialcareNoReadyPods"])
    if (!alerts.has(want)) problem(null, `PrometheusRule lacks alert ${want}`);
  const dash = byKind("ConfigMap").filter((c) => c.metadata.labels?.grafana_dashboard === "1");
  if (dash.length !== 1) problem(null, `want one Grafana dashboard ConfigMap, got ${dash.length}`);
  for (const d of dash)
    for (const [k, v] of Object.entries(d.data || {}))
      try { JSON.parse(v); } catch (e) { problem(d, `${k} is not JSON: ${e.message}`); }
}

// ---- result ------------------------------------------------------------------------
for (const p of problems) console.log(`PROBLEM ${p}`);
console.log(`validate: ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
