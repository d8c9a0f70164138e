/* Error codes shared by every socialcare module. Functions return 0 on success or one of
 * these negative codes; details go into a caller-provided errstr buffer where useful. */
#ifndef SC_ERROR_H
#define SC_ERROR_H

#define SC_WUR __attribute__((warn_unused_result))

enum sc_err {
    SC_OK = 0,
    SC_EINVAL = -1,    /* invalid argument or value */
    SC_ENOMEM = -2,    /* out of memory (normally aborts instead) */
    SC_EIO = -3,       /* I/O or remote failure, retryable */
    SC_ETIMEDOUT = -4, /* a deadline passed */
    SC_EAGAIN = -5,    /* not now: backing off, try later */
    SC_ENOENT = -6,    /* no such thing */
    SC_ETOOBIG = -7,   /* input larger than its cap */
    SC_EPARSE = -8,    /* input could not be parsed or validated */
    SC_ESTATE = -9,    /* called in the wrong state */
    SC_ERR_COUNT = 10
};

/* @brief Human-readable text for an SC_* code; never NULL. */
const char *sc_strerror(int err);

#endif
