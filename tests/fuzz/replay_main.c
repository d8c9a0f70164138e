/* Corpus replay driver for the gcc test build: runs LLVMFuzzerTestOneInput of one fuzz
 * target (tests/fuzz/fuzz_<name>.c) on every regular file of the directories (or files)
 * given as arguments, so the seed corpus and every crash reproducer
 * (tests/fuzz/regressions/<name>/) are replayed under ASan+UBSan by ctest without clang.
 * A missing directory is skipped; any crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Runs one file through the target. @returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            uint8_t *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
            }
            buf = grown;
        }
    }
    fclose(f);
    if (buf == NULL) {
        return -1;
    }
    /* An exact-size copy, so ASan sees a read one past the input as an overflow. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

/* Comparator for qsort of names (a stable replay order). */
static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir in name order. @returns files run, or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0; /* no regressions yet */
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (grown == NULL) {
                abort();
            }
            names = grown;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            abort();
        }
        n++;
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof *names, cmp_names);
    }
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        if (path == NULL) {
            abort();
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0) {
                ran = -1;
            } else if (ran >= 0) {
                ran++;
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long ran;
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
            ran = replay_file(argv[i]) == 0 ? 1 : -1;
        } else {
            ran = replay_dir(argv[i]);
        }
        if (ran < 0) {
            return 1;
        }
        total += ran;
    }
    printf("replayed %ld inputs\n", total);
    /* An empty corpus means the test checks nothing: fail rather than pass vacuously. */
    return total > 0 ? 0 : 1;
}
