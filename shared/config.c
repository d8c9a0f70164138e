/* Configuration from environment variables, driven by a service's static item table. Each
 * item is resolved from its default, its variable or (for strings) NAME_FILE, then parsed
 * into the field at its offset. When the service struct starts with `struct
 * sc_common_config common`, every other KAFKA_<X> variable is collected as a librdkafka
 * passthrough property. Error texts name the variable and never contain a secret's value.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

#ifndef SC_VERSION
#define SC_VERSION "unknown"
#endif

/* Largest file accepted for NAME_FILE (secrets and small values, not data). */
#define SC_CONFIG_FILE_MAX (1024 * 1024)
/* How much of a bad (non-secret) value an error message repeats. */
#define SC_CONFIG_ECHO_MAX     64
#define SC_CONFIG_KAFKA_PREFIX "KAFKA_"
#define SC_CONFIG_FILE_SUFFIX  "_FILE"

/* ---- helpers
 * ---------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void sc_config_err(char *errstr, size_t size,
                                                                const char *fmt, ...)
{
    if (!errstr || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

static bool sc_config_is_string(enum sc_config_type type)
{
    return type == SC_CFG_STRING || type == SC_CFG_SECRET;
}

static const char *sc_config_type_name(enum sc_config_type type)
{
    switch (type) {
        case SC_CFG_STRING:
            return "string";
        case SC_CFG_SECRET:
            return "secret";
        case SC_CFG_INT:
            return "int";
        case SC_CFG_BOOL:
            return "bool";
        case SC_CFG_DOUBLE:
            return "double";
        default:
            return "?";
    }
}

static void *sc_config_field(void *base, const struct sc_config_item *item)
{
    return (char *)base + item->offset;
}

static const void *sc_config_cfield(const void *base, const struct sc_config_item *item)
{
    return (const char *)base + item->offset;
}

static const struct sc_config_item *sc_config_find(const struct sc_config_item *items,
                                                   size_t n_items, const char *name,
                                                   size_t name_len)
{
    for (size_t i = 0; i < n_items; i++)
        if (strlen(items[i].name) == name_len && !memcmp(items[i].name, name, name_len))
            return &items[i];
    return NULL;
}

/* True when the table holds the common items at the offsets they have when `common` is
 * the first member of the service struct, which is what has_common promises. */
static bool sc_config_common_ok(const struct sc_config_item *items, size_t n_items)
{
    const struct sc_config_item *brokers =
        sc_config_find(items, n_items, "KAFKA_BROKERS", strlen("KAFKA_BROKERS"));
    const struct sc_config_item *drain =
        sc_config_find(items, n_items, "DRAIN_TIMEOUT_MS", strlen("DRAIN_TIMEOUT_MS"));
    return brokers && drain && sc_config_is_string(brokers->type) &&
           brokers->offset == offsetof(struct sc_common_config, kafka_brokers) &&
           drain->type == SC_CFG_INT &&
           drain->offset == offsetof(struct sc_common_config, drain_timeout_ms);
}

static bool sc_config_has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && !memcmp(s + len - n, suffix, n);
}

/* Reads the file at path (named by variable var) into a new string, without one trailing
 * "\n" or "\r\n". */
static int sc_config_read_file(const char *var, const char *path, char **out,
                               char *errstr, size_t errstr_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sc_config_err(errstr, errstr_size, "%s: cannot open \"%s\": %s", var, path,
                      strerror(errno));
        return SC_EINVAL;
    }
    size_t cap = 256, len = 0;
    char *buf = sc_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > SC_CONFIG_FILE_MAX) {
                sc_config_err(errstr, errstr_size, "%s: \"%s\" is larger than %d bytes",
                              var, path, SC_CONFIG_FILE_MAX);
                goto fail;
            }
            cap *= 2;
            buf = sc_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sc_config_err(errstr, errstr_size, "%s: cannot read \"%s\": %s", var, path,
                          strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (memchr(buf, '\0', len)) {
        sc_config_err(errstr, errstr_size, "%s: \"%s\" contains a NUL byte", var, path);
        sc_free(buf);
        return SC_EINVAL;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
fail:
    close(fd);
    sc_free(buf);
    return SC_EINVAL;
}

/* ---- loading items
 * ---------------------------------------------------------------------- */

/* Decides the text of one item: the file of NAME_FILE (strings only), else NAME, else the
 * default. *owned receives the text when it had to be allocated. */
static int sc_config_item_text(const struct sc_config_item *item, const char **text,
                               char **owned, char *errstr, size_t errstr_size)
{
    char *file_var = sc_asprintf("%s%s", item->name, SC_CONFIG_FILE_SUFFIX);
    const char *env = getenv(item->name);
    const char *file = getenv(file_var);
    int rc = 0;
    *text = NULL;
    *owned = NULL;
    if (file && !sc_config_is_string(item->type)) {
        sc_config_err(errstr, errstr_size,
                      "%s: only string variables can be read from a file", file_var);
        rc = SC_EINVAL;
    } else if (file && env) {
        sc_config_err(errstr, errstr_size, "%s and %s are both set; set only one",
                      item->name, file_var);
        rc = SC_EINVAL;
    } else if (file) {
        rc = sc_config_read_file(file_var, file, owned, errstr, errstr_size);
        *text = *owned;
    } else if (env) {
        *text = env;
    } else if (item->def) {
        *text = item->def;
    } else {
        sc_config_err(errstr, errstr_size, "%s is required but not set", item->name);
        rc = SC_EINVAL;
    }
    sc_free(file_var);
    return rc;
}

static int sc_config_parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(text, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Reports a value that does not parse, repeating it unless the item is a secret. */
static int sc_config_bad_value(const struct sc_config_item *item, const char *text,
                               const char *what, char *errstr, size_t errstr_size)
{
    if (item->type == SC_CFG_SECRET)
        sc_config_err(errstr, errstr_size, "%s: the value is not %s", item->name, what);
    else
        sc_config_err(errstr, errstr_size, "%s: \"%.*s\"%s is not %s", item->name,
                      SC_CONFIG_ECHO_MAX, text,
                      strlen(text) > SC_CONFIG_ECHO_MAX ? "..." : "", what);
    return SC_EINVAL;
}

static int sc_config_out_of_range(const struct sc_config_item *item, const char *shown,
                                  char *errstr, size_t errstr_size)
{
    if (item->type == SC_CFG_INT)
        sc_config_err(errstr, errstr_size, "%s: %s is out of range [%.0f, %.0f]",
                      item->name, shown, item->min, item->max);
    else
        sc_config_err(errstr, errstr_size, "%s: %s is out of range [%g, %g]", item->name,
                      shown, item->min, item->max);
    return SC_EINVAL;
}

static int sc_config_store_int(const struct sc_config_item *item, void *base,
                               const char *text, char *errstr, size_t errstr_size)
{
    char *end = NULL;
    if (!*text || isspace((unsigned char)*text))
        return sc_config_bad_value(item, text, "an integer", errstr, errstr_size);
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end)
        return sc_config_bad_value(item, text, "an integer", errstr, errstr_size);
    bool ranged = item->min <= item->max;
    if (errno == ERANGE || (ranged && ((double)v < item->min || (double)v > item->max))) {
        char shown[SC_CONFIG_ECHO_MAX + 8];
        snprintf(shown, sizeof(shown), "%.*s", SC_CONFIG_ECHO_MAX, text);
        if (!ranged) {
            sc_config_err(errstr, errstr_size, "%s: %s does not fit a 64-bit integer",
                          item->name, shown);
            return SC_EINVAL;
        }
        return sc_config_out_of_range(item, shown, errstr, errstr_size);
    }
    *(long long *)sc_config_field(base, item) = v;
    return 0;
}

static int sc_config_store_double(const struct sc_config_item *item, void *base,
                                  const char *text, char *errstr, size_t errstr_size)
{
    char *end = NULL;
    if (!*text || isspace((unsigned char)*text))
        return sc_config_bad_value(item, text, "a number", errstr, errstr_size);
    errno = 0;
    double v = strtod(text, &end);
    if (*end || !isfinite(v))
        return sc_config_bad_value(item, text, "a number", errstr, errstr_size);
    if (item->min <= item->max && (v < item->min || v > item->max)) {
        char shown[SC_CONFIG_ECHO_MAX + 8];
        snprintf(shown, sizeof(shown), "%.*s", SC_CONFIG_ECHO_MAX, text);
        return sc_config_out_of_range(item, shown, errstr, errstr_size);
    }
    *(double *)sc_config_field(base, item) = v;
    return 0;
}

static int sc_config_load_item(const struct sc_config_item *item, void *base,
                               char *errstr, size_t errstr_size)
{
    const char *text;
    char *owned;
    int rc = sc_config_item_text(item, &text, &owned, errstr, errstr_size);
    if (rc)
        return rc;
    switch (item->type) {
        case SC_CFG_STRING:
        case SC_CFG_SECRET: {
            char **field = sc_config_field(base, item);
            sc_free(*field);
            *field = owned ? owned : sc_strdup(text);
            return 0;
        }
        case SC_CFG_INT:
            rc = sc_config_store_int(item, base, text, errstr, errstr_size);
            break;
        case SC_CFG_BOOL: {
            int v;
            if (sc_config_parse_bool(text, &v))
                rc = sc_config_bad_value(item, text,
                                         "a boolean (true/false, 1/0, yes/no, on/off)",
                                         errstr, errstr_size);
            else
                *(int *)sc_config_field(base, item) = v;
            break;
        }
        case SC_CFG_DOUBLE:
            rc = sc_config_store_double(item, base, text, errstr, errstr_size);
            break;
        default:
            sc_config_err(errstr, errstr_size, "%s: unknown item type %d", item->name,
                          (int)item->type);
            rc = SC_EINVAL;
            break;
    }
    sc_free(owned);
    return rc;
}

/* ---- KAFKA_* passthrough
 * ---------------------------------------------------------------- */

static void sc_config_free_kafka(struct sc_common_config *common)
{
    for (size_t i = 0; i < common->n_kafka_props; i++) {
        sc_free(common->kafka_props[i].key);
        sc_free(common->kafka_props[i].value);
    }
    sc_free(common->kafka_props);
    common->kafka_props = NULL;
    common->n_kafka_props = 0;
}

/* Properties that have their own item; passing them through would make two sources. */
static const char *sc_config_kafka_reserved(const char *key)
{
    if (!strcmp(key, "bootstrap.servers") || !strcmp(key, "metadata.broker.list"))
        return "KAFKA_BROKERS";
    if (!strcmp(key, "group.id"))
        return "KAFKA_GROUP_ID";
    return NULL;
}

/* Handles one environment entry "KAFKA_...=value"; srcs[i] remembers which variable set
 * property i, for the duplicate message. */
static int sc_config_kafka_one(const struct sc_config_item *items, size_t n_items,
                               const char *entry, struct sc_common_config *common,
                               char ***srcs, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return 0;
    size_t name_len = (size_t)(eq - entry);
    if (sc_config_find(items, n_items, entry, name_len))
        return 0;
    bool is_file =
        sc_config_has_suffix(entry, name_len, SC_CONFIG_FILE_SUFFIX) &&
        name_len >= strlen(SC_CONFIG_KAFKA_PREFIX) + strlen(SC_CONFIG_FILE_SUFFIX);
    size_t base_len = is_file ? name_len - strlen(SC_CONFIG_FILE_SUFFIX) : name_len;
    if (is_file && sc_config_find(items, n_items, entry, base_len))
        return 0; /* NAME_FILE of an item: sc_config_item_text handled it */

    char *name = sc_strndup(entry, name_len);
    const char *prop = entry + strlen(SC_CONFIG_KAFKA_PREFIX);
    size_t prop_len = base_len - strlen(SC_CONFIG_KAFKA_PREFIX);
    char *key = NULL, *value = NULL;
    int rc = SC_EINVAL;
    if (prop_len == 0) {
        sc_config_err(errstr, errstr_size, "%s: empty Kafka property name", name);
        goto out;
    }
    key = sc_strndup(prop, prop_len);
    for (char *c = key; *c; c++)
        *c = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
    const char *instead = sc_config_kafka_reserved(key);
    if (instead) {
        sc_config_err(errstr, errstr_size, "%s: set %s instead", name, instead);
        goto out;
    }
    for (size_t i = 0; i < common->n_kafka_props; i++) {
        if (!strcmp(common->kafka_props[i].key, key)) {
            sc_config_err(errstr, errstr_size,
                          "%s and %s both set Kafka property %s; set only one",
                          (*srcs)[i], name, key);
            goto out;
        }
    }
    if (is_file) {
        if (sc_config_read_file(name, eq + 1, &value, errstr, errstr_size))
            goto out;
    } else {
        value = sc_strdup(eq + 1);
    }
    size_t n = common->n_kafka_props;
    common->kafka_props = sc_realloc(common->kafka_props, (n + 1) * sizeof(struct sc_kv));
    *srcs = sc_realloc(*srcs, (n + 1) * sizeof(char *));
    common->kafka_props[n].key = key;
    common->kafka_props[n].value = value;
    (*srcs)[n] = name;
    common->n_kafka_props = n + 1;
    return 0;
out:
    sc_free(name);
    sc_free(key);
    sc_free(value);
    return rc;
}

static int sc_config_collect_kafka(const struct sc_config_item *items, size_t n_items,
                                   struct sc_common_config *common, char *errstr,
                                   size_t errstr_size)
{
    char **srcs = NULL;
    int rc = 0;
    sc_config_free_kafka(common);
    for (char **e = environ; e && *e && !rc; e++)
        if (!strncmp(*e, SC_CONFIG_KAFKA_PREFIX, strlen(SC_CONFIG_KAFKA_PREFIX)))
            rc = sc_config_kafka_one(items, n_items, *e, common, &srcs, errstr,
                                     errstr_size);
    for (size_t i = 0; i < common->n_kafka_props; i++)
        sc_free(srcs[i]);
    sc_free(srcs);
    return rc;
}

/* ---- public API
 * ------------------------------------------------------------------------- */

int sc_config_load(const struct sc_config_item *items, size_t n_items, void *base,
                   int has_common, char *errstr, size_t errstr_size)
{
    sc_config_err(errstr, errstr_size, "%s", "");
    if (has_common && !sc_config_common_ok(items, n_items)) {
        sc_config_err(
            errstr, errstr_size,
            "config table: has_common needs SC_CONFIG_COMMON_ITEMS in the table and "
            "`struct sc_common_config common` as the first struct member");
        return SC_EINVAL;
    }
    for (size_t i = 0; i < n_items; i++) {
        int rc = sc_config_load_item(&items[i], base, errstr, errstr_size);
        if (rc)
            return rc;
    }
    if (!has_common)
        return 0;
    struct sc_common_config *common = base;
    if (common->log_level && sc_log_level_parse(common->log_level) < 0) {
        sc_config_err(
            errstr, errstr_size,
            "LOG_LEVEL: \"%.*s\" is not one of debug, info, notice, warning, error, "
            "crit",
            SC_CONFIG_ECHO_MAX, common->log_level);
        return SC_EINVAL;
    }
    return sc_config_collect_kafka(items, n_items, common, errstr, errstr_size);
}

void sc_config_cleanup(const struct sc_config_item *items, size_t n_items, void *base,
                       int has_common)
{
    if (!base)
        return;
    for (size_t i = 0; i < n_items; i++) {
        if (sc_config_is_string(items[i].type)) {
            char **field = sc_config_field(base, &items[i]);
            sc_free(*field);
            *field = NULL;
        }
    }
    if (has_common && sc_config_common_ok(items, n_items))
        sc_config_free_kafka(base);
}

/* Formats an item's range ("[0, 65535]") into buf, or "-" when it has none. */
static const char *sc_config_range_text(const struct sc_config_item *item, char *buf,
                                        size_t size)
{
    if (item->type == SC_CFG_INT && item->min <= item->max)
        snprintf(buf, size, "[%.0f, %.0f]", item->min, item->max);
    else if (item->type == SC_CFG_DOUBLE && item->min <= item->max)
        snprintf(buf, size, "[%g, %g]", item->min, item->max);
    else
        snprintf(buf, size, "-");
    return buf;
}

static const char *sc_config_default_text(const struct sc_config_item *item)
{
    if (!item->def)
        return "(required)";
    return *item->def ? item->def : "\"\"";
}

void sc_config_print_help(FILE *out, const char *program, const char *summary,
                          const struct sc_config_item *items, size_t n_items)
{
    int w_name = (int)strlen("VARIABLE"), w_def = (int)strlen("DEFAULT"),
        w_range = (int)strlen("RANGE");
    char range[64];
    for (size_t i = 0; i < n_items; i++) {
        int n = (int)strlen(items[i].name);
        int d = (int)strlen(sc_config_default_text(&items[i]));
        int r = (int)strlen(sc_config_range_text(&items[i], range, sizeof(range)));
        w_name = n > w_name ? n : w_name;
        w_def = d > w_def && d <= 32 ? d : w_def;
        w_range = r > w_range ? r : w_range;
    }
    fprintf(out, "Usage: %s [--help] [--check-config] [--version]\n\n", program);
    if (summary && *summary)
        fprintf(out, "%s\n\n", summary);
    fprintf(out, "Options:\n"
                 "  -h, --help        print this help and exit\n"
                 "  --check-config    load and validate the configuration, then exit "
                 "(status 0 when valid)\n"
                 "  --version         print the version and exit\n\n"
                 "Configuration (environment variables):\n");
    fprintf(out, "  %-*s  %-6s  %-*s  %-*s  %s\n", w_name, "VARIABLE", "TYPE", w_def,
            "DEFAULT", w_range, "RANGE", "DESCRIPTION");
    for (size_t i = 0; i < n_items; i++) {
        const struct sc_config_item *item = &items[i];
        fprintf(out, "  %-*s  %-6s  %-*s  %-*s  %s\n", w_name, item->name,
                sc_config_type_name(item->type), w_def, sc_config_default_text(item),
                w_range, sc_config_range_text(item, range, sizeof(range)),
                item->help ? item->help : "");
    }
    fprintf(
        out,
        "\n"
        "Every string or secret variable NAME may instead be read from a file: set\n"
        "NAME_FILE to its path (one trailing newline is removed), as Kubernetes mounts\n"
        "secrets. Setting both NAME and NAME_FILE is an error. Secret values are never\n"
        "printed or logged. Booleans accept true/false, 1/0, yes/no and on/off.\n"
        "\n"
        "Kafka client properties: every variable KAFKA_<PROPERTY> that is not listed "
        "above\n"
        "is passed to librdkafka as <property>, lower-cased with '_' replaced by '.'; "
        "e.g.\n"
        "KAFKA_SECURITY_PROTOCOL=SASL_SSL sets security.protocol=SASL_SSL. "
        "KAFKA_<PROPERTY>_FILE\n"
        "reads the value from a file, e.g. KAFKA_SASL_PASSWORD_FILE sets "
        "sasl.password.\n");
}

/* True for librdkafka properties whose values must not be logged. */
static bool sc_config_kafka_sensitive(const char *key)
{
    static const char *const words[] = {"password",   "secret",   "key",
                                        "token",      "jaas",     "pem",
                                        "credential", "username", "oauthbearer.config"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(key, words[i]))
            return true;
    return false;
}

void sc_config_log(const struct sc_config_item *items, size_t n_items, const void *base)
{
    for (size_t i = 0; i < n_items; i++) {
        const struct sc_config_item *item = &items[i];
        const void *field = sc_config_cfield(base, item);
        switch (item->type) {
            case SC_CFG_STRING: {
                const char *s = *(char *const *)field;
                sc_log(SC_LOG_INFO, "CONFIG", "%s=%s", item->name, s ? s : "(unset)");
                break;
            }
            case SC_CFG_SECRET:
                sc_log(SC_LOG_INFO, "CONFIG", "%s=%s", item->name,
                       *(char *const *)field ? "(set)" : "(unset)");
                break;
            case SC_CFG_INT:
                sc_log(SC_LOG_INFO, "CONFIG", "%s=%lld", item->name,
                       *(const long long *)field);
                break;
            case SC_CFG_BOOL:
                sc_log(SC_LOG_INFO, "CONFIG", "%s=%s", item->name,
                       *(const int *)field ? "true" : "false");
                break;
            case SC_CFG_DOUBLE:
                sc_log(SC_LOG_INFO, "CONFIG", "%s=%g", item->name,
                       *(const double *)field);
                break;
            default:
                break;
        }
    }
    if (!sc_config_common_ok(items, n_items))
        return;
    const struct sc_common_config *common = base;
    for (size_t i = 0; i < common->n_kafka_props; i++) {
        const struct sc_kv *kv = &common->kafka_props[i];
        sc_log(SC_LOG_INFO, "CONFIG", "kafka property %s=%s", kv->key,
               sc_config_kafka_sensitive(kv->key) ? "(set)" : kv->value);
    }
}

int sc_config_args(int argc, char **argv, const char *summary,
                   const struct sc_config_item *items, size_t n_items, int *check_only)
{
    const char *program = "socialcare";
    if (argc > 0 && argv[0] && *argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        program = slash ? slash + 1 : argv[0];
    }
    if (check_only)
        *check_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            sc_config_print_help(stdout, program, summary, items, n_items);
            fflush(stdout);
            return 1;
        }
        if (!strcmp(arg, "--version")) {
            printf("%s %s\n", program, SC_VERSION);
            fflush(stdout);
            return 1;
        }
        if (!strcmp(arg, "--check-config")) {
            if (check_only)
                *check_only = 1;
            continue;
        }
        fprintf(stderr, "%s: unknown argument '%s' (see %s --help)\n", program, arg,
                program);
        return -1;
    }
    return 0;
}
