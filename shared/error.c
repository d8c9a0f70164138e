/* Texts of the SC_* error codes. */
#include "error.h"

const char *sc_strerror(int err)
{
    switch (err) {
        case SC_OK:
            return "success";
        case SC_EINVAL:
            return "invalid argument";
        case SC_ENOMEM:
            return "out of memory";
        case SC_EIO:
            return "I/O error";
        case SC_ETIMEDOUT:
            return "timed out";
        case SC_EAGAIN:
            return "try again later";
        case SC_ENOENT:
            return "not found";
        case SC_ETOOBIG:
            return "too big";
        case SC_EPARSE:
            return "parse error";
        case SC_ESTATE:
            return "wrong state";
        default:
            return "unknown error";
    }
}
