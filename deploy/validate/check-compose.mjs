// Checks the container setup: the outputs of `docker-compose config` (the stack, and the
// stack with docker-compose.scale.yml) given as two files, plus the Dockerfile and the
// compose Prometheus configuration. Asserts what the stack promises: Kafka in KRaft mode
// with every topic created at the partition count, Redis with AOF, the four services
// configured by environment, non-root and read-only, started in order (health and
// completion conditions), stopped with time to drain, Prometheus scraping each service
// with the rules loaded, and the scale override. Exits 1 on any problem.
// Usage: node check-compose.mjs CONFIG.yaml SCALED-CONFIG.yaml
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireModule } from "./modules.mjs";

const { parse } = requireModule("yaml");
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const [configFile, scaledFile] = process.argv.slice(2);
if (!scaledFile) {
  console.error("usage: node check-compose.mjs CONFIG.yaml SCALED-CONFIG.yaml");
  process.exit(2);
}
const problems = [];
const check = (ok, msg) => {
  if (!ok) problems.push(msg);
};

const TOPICS = ["posts.inbound", "posts.classified", "replies.outbound", "replies.delivered", "cases.events", "pipeline.dlq"];
const SERVICES = ["ingestor", "classifier", "escalation-router", "responder"];
const USES_REDIS = new Set(["ingestor", "escalation-router", "responder"]);
const DRAIN_S = 10;

const seconds = (d) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(d ?? ""));
  if (!m) return 10; // Docker's default stop timeout
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2]];
};

const config = parse(readFileSync(configFile, "utf8"));
const svc = config.services || {};
for (const s of ["kafka", "kafka-init", "redis", ...SERVICES, "platform-stub", "prometheus"]) check(svc[s], `service ${s} missing`);

// Kafka: official image, KRaft (no ZooKeeper), topics created by kafka-init.
const kafka = svc.kafka || {};
check(/^apache\/kafka:/.test(kafka.image || ""), "kafka does not use the official apache/kafka image");
check(/controller/.test(kafka.environment?.KAFKA_PROCESS_ROLES || ""), "kafka is not in KRaft mode (KAFKA_PROCESS_ROLES)");
check(!Object.keys(svc).some((s) => /zookeeper/i.test(s)), "a ZooKeeper service is present");
check(kafka.environment?.KAFKA_AUTO_CREATE_TOPICS_ENABLE === "false", "Kafka auto-creates topics (a typo would create one)");
check(kafka.healthcheck?.test, "kafka has no healthcheck");
// KRaft formats its storage with CLUSTER_ID: a base64url-encoded 16-byte UUID (22 chars).
check(/^[A-Za-z0-9_-]{22}$/.test(String(kafka.environment?.CLUSTER_ID || "")), "kafka CLUSTER_ID is not a base64url UUID (kafka-storage.sh random-uuid)");
const init = svc["kafka-init"] || {};
const initScript = [].concat(init.entrypoint || [], init.command || []).join(" ");
for (const t of TOPICS) check(initScript.includes(t), `kafka-init does not create ${t}`);
check(/--partitions/.test(initScript) && /--if-not-exists/.test(initScript), "kafka-init does not set partitions idempotently");
check(Number(init.environment?.PARTITIONS) >= 1, "kafka-init has no partition count");
check(init.depends_on?.kafka?.condition === "service_healthy", "kafka-init does not wait for a healthy kafka");

// Redis: AOF on a volume, healthcheck.
const redis = svc.redis || {};
const redisCmd = [].concat(redis.command || []).join(" ");
check(/--appendonly yes/.test(redisCmd), "redis runs without AOF (--appendonly yes)");
check((redis.volumes || []).some((v) => (v.target || String(v).split(":")[1]) === "/data"), "redis /data is not on a volume");
check(redis.healthcheck?.test, "redis has no healthcheck");

// The four services.
for (const name of SERVICES) {
  const s = svc[name];
  if (!s) continue;
  const env = s.environment || {};
  check([].concat(s.command || []).join(" ") === `socialcare-${name}`, `${name}: command is not socialcare-${name}`);
  check(env.KAFKA_BROKERS === "kafka:9092", `${name}: KAFKA_BROKERS is not kafka:9092`);
  check(env.HTTP_PORT === "8080", `${name}: HTTP_PORT is not 8080`);
  check(s.user && !/^(0|root)(:|$)/.test(String(s.user)), `${name}: runs as root`);
  check(s.read_only === true, `${name}: root filesystem is writable`);
  check(seconds(s.stop_grace_period) > DRAIN_S, `${name}: stop_grace_period does not exceed the ${DRAIN_S} s drain`);
  check(s.depends_on?.["kafka-init"]?.condition === "service_completed_successfully", `${name}: does not wait for the topics (kafka-init)`);
  if (USES_REDIS.has(name)) {
    check(s.depends_on?.redis?.condition === "service_healthy", `${name}: does not wait for a healthy redis`);
    const file = env.REDIS_URL_FILE;
    check(file && (s.secrets || []).some((x) => file === (x.target ? `/run/secrets/${x.target}` : `/run/secrets/${x.source || x}`)),
      `${name}: REDIS_URL_FILE does not point at a mounted secret`);
    check(env.REDIS_URL === undefined, `${name}: REDIS_URL in the environment (use the secret file)`);
  }
  check(s.container_name === undefined, `${name}: container_name prevents scaling`);
}
check(svc.responder?.depends_on?.["platform-stub"], "responder does not wait for the platform stand-in");
check(/^http:\/\/platform-stub:\d+\//.test(svc.responder?.environment?.REPLY_ENDPOINT || ""), "responder does not send to platform-stub");
const stub = [].concat(svc["platform-stub"]?.command || []).join(" ");
check(/--bind 0\.0\.0\.0/.test(stub), "platform-stub listens on loopback only: the responder cannot reach it");
for (const name of ["classifier", "escalation-router"])
  check(!(svc[name]?.ports || []).length, `${name}: publishes a host port, so it cannot be scaled`);

// Prometheus: config and rules mounted, every service scraped, rules loaded.
const prom = svc.prometheus || {};
const mounts = (prom.volumes || []).map((v) => [v.source || String(v).split(":")[0], v.target || String(v).split(":")[1]]);
const promYml = mounts.find(([, t]) => t === "/etc/prometheus/prometheus.yml");
check(promYml && promYml[0].endsWith("deploy/prometheus/prometheus.yml"), "prometheus.yml is not mounted");
const promConfig = parse(readFileSync(join(root, "deploy/prometheus/prometheus.yml"), "utf8"));
for (const rf of promConfig.rule_files || []) {
  const target = `/etc/prometheus/${rf}`;
  check(mounts.some(([src, t]) => t === target && src.endsWith(`deploy/prometheus/${rf}`)), `rule file ${rf} is not mounted at ${target}`);
}
check((promConfig.rule_files || []).length > 0, "prometheus.yml loads no rules");
for (const name of SERVICES) {
  const job = (promConfig.scrape_configs || []).find((j) => j.job_name === name);
  check(job, `prometheus.yml has no job ${name}`);
  if (!job) continue;
  const names = (job.dns_sd_configs || []).flatMap((d) => d.names || []);
  const statics = (job.static_configs || []).flatMap((d) => d.targets || []);
  check(names.includes(name) || statics.some((t) => t.startsWith(`${name}:`)), `job ${name} does not scrape the ${name} service`);
  check(job.honor_labels === true, `job ${name} does not honour the metrics' own service label`);
}

// The scale override.
const scaled = parse(readFileSync(scaledFile, "utf8"));
check(Number(scaled.services?.classifier?.scale) > 1, "docker-compose.scale.yml does not scale the classifier");
check(Number(scaled.services?.classifier?.scale) <= Number(init.environment?.PARTITIONS || 0), "the scale override exceeds the partition count");

// Dockerfile: multi-stage on Debian 12, runtime libraries only, non-root, HEALTHCHECK.
const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
const stages = dockerfile.split(/^FROM /m).slice(1);
check(stages.length >= 2, "Dockerfile is not multi-stage");
check(/^ARG DEBIAN=debian:12/m.test(dockerfile) || stages.every((s) => /^debian:12/.test(s)), "Dockerfile does not build on Debian 12");
const final = (stages[stages.length - 1] || "").replace(/^#.*$/gm, "");
check(!/-dev\b|build-essential|cmake/.test(final), "the final image installs build tools or -dev packages");
const user = /^USER\s+(\S+)/m.exec(final);
check(user && !/^(0|root)(:|$)/.test(user[1]), "the final image runs as root");
check(/^HEALTHCHECK .*\/healthz/m.test(final), "the final image has no HEALTHCHECK on /healthz");
check(/COPY --from=/.test(final), "the final image does not copy the binaries from the build stage");

for (const p of problems) console.log(`PROBLEM ${p}`);
console.log(`check-compose: ${Object.keys(svc).length} services, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
