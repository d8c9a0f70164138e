/* The dev broker's control interface: a Unix-domain stream socket that takes one text
 * command per line and answers one line each ("ok[ detail]" or "error <message>"), so
 * that fault tests and developers (`socat - UNIX-CONNECT:<path>`) can inject broker
 * faults into the running mock cluster: request errors (cluster-wide or per broker, with
 * an optional response delay), broker down / up, round-trip time, partition leader moves
 * and topic errors. The commands are listed by devbroker_control_help(); they map one to
 * one onto rdkafka_mock.h calls. The socket is served by its own thread (poll, several
 * clients at once); commands are also logged on stderr. */
#ifndef DEVBROKER_CONTROL_H
#define DEVBROKER_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct devbroker_control;

/* @brief Binds the socket at path (an existing socket file there is replaced) and starts
 *        the serving thread. @returns the control, or NULL with errstr filled. */
struct devbroker_control *devbroker_control_start(rd_kafka_mock_cluster_t *mc,
                                                  const char *path, char *errstr,
                                                  size_t errlen);

/* @brief Stops the thread, closes every connection and removes the socket file. NULL is
 * fine. */
void devbroker_control_stop(struct devbroker_control *ctl);

/* @brief Runs one command line (without its newline) against mc and writes the answer
 *        line (without newline) to out. @returns 0 for "ok", -1 for "error". Thread-safe
 *        (the mock's calls are). */
int devbroker_control_exec(rd_kafka_mock_cluster_t *mc, const char *line, char *out,
                           size_t outlen);

/* @brief Prints the command list (for --help and the "help" command). */
void devbroker_control_help(FILE *out);

#endif
