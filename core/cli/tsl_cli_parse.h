/*
 * tsl_cli_parse.h - the CLI's command language, as pure functions.
 *
 * Commands are the course's words (`config tcp-server NAME ...`, `run
 * tcp-server ...`, `show tcp-server ...`), described by one table of
 * patterns.  Parsing a line gives a struct tsl_cli_cmd or a one-line
 * error that says what was wrong and what was expected; completion lists
 * the words that may follow a prefix.  No state, no I/O: fuzzed directly.
 */
#ifndef TSL_CLI_PARSE_H
#define TSL_CLI_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSL_CLI_NAME_MAX 63
#define TSL_CLI_LINE_MAX 4096
/* An address word: a host name is at most 253 bytes, a Unix socket path
 * (after "unix:") at most 107, an IPv6 address with a zone and a prefix
 * well under either. */
#define TSL_CLI_ADDR_MAX 255
#define TSL_CLI_UNIX_PATH_MAX 107

/* What kind of address a command names (has_addr). */
typedef enum tsl_cli_addr {
    TSL_CLI_ADDR_NONE,
    TSL_CLI_ADDR_IPV4,      /* dotted quad */
    TSL_CLI_ADDR_IPV6,      /* bare or in brackets (removed), maybe %zone */
    TSL_CLI_ADDR_NAME,      /* a host name, resolved by the library */
    TSL_CLI_ADDR_UNIX       /* unix:PATH, kept whole */
} tsl_cli_addr_t;

typedef enum tsl_cli_op {
    TSL_CLI_NOP,            /* empty line or comment */
    TSL_CLI_CREATE,         /* config tcp-server NAME [IP PORT] */
    TSL_CLI_START,
    TSL_CLI_ABORT,
    TSL_CLI_ACCEPT,         /* [no] disable-conn-accept (no: accept) */
    TSL_CLI_LISTEN,         /* [no] disable-client-listen */
    TSL_CLI_THREADED,       /* [no] multi-threaded-mode */
    TSL_CLI_MAX_CLIENTS,    /* [no] max-client-limit N */
    TSL_CLI_BLACKLIST,      /* [no] client black-list IP */
    TSL_CLI_KA_INTERVAL,    /* ka-interval N [client IP PORT] */
    TSL_CLI_FRAME_TIMEOUT,  /* frame-timeout N */
    TSL_CLI_FRAMING,        /* framing SPEC */
    TSL_CLI_BACKEND,        /* backend select|epoll (num: tsl_backend_t) */
    TSL_CLI_MIGRATE,        /* [no] client IP PORT multi-threaded */
    TSL_CLI_CONNECT,        /* [no] connect ADDR PORT | unix:PATH */
    TSL_CLI_DISCONNECT,     /* run ... client disconnect IP PORT */
    TSL_CLI_SEND,           /* run ... client send IP PORT TEXT */
    TSL_CLI_SHOW,           /* show tcp-server [NAME] */
    TSL_CLI_SHOW_CLIENT,    /* show tcp-server NAME client IP PORT stats */
    TSL_CLI_HELP,
    TSL_CLI_EXIT
} tsl_cli_op_t;

struct tsl_cli_cmd {
    tsl_cli_op_t op;
    bool no;                /* the `no` form */
    bool json;              /* show ... --json */
    bool has_addr;          /* ip (and port, unless unix:) given */
    char name[TSL_CLI_NAME_MAX + 1];
    /* The address as typed, for the library to judge: an IPv4 or IPv6
     * literal (brackets removed; a black-list entry may end in /PREFIX), a
     * host name, or unix:PATH. */
    char ip[TSL_CLI_ADDR_MAX + 1];
    tsl_cli_addr_t addr;
    uint16_t port;
    uint32_t num;
    char spec[128];         /* framing spec, normalised (fixed 8 -> fixed:8) */
    char text[TSL_CLI_LINE_MAX]; /* send: the rest of the line */
};

/* Parses one line.  0, or -1 with a one-line message in err. */
int tsl_cli_parse(const char *line, struct tsl_cli_cmd *out, char *err,
                  size_t errlen);

/* What may follow the words of `line`: for each candidate, emit(word,
 * help, is_keyword, arg).  The last word of line is a prefix to complete
 * unless line ends with a space.  Returns the number emitted. */
typedef void tsl_cli_emit_fn(const char *word, const char *help,
                             bool is_keyword, void *arg);
int tsl_cli_complete(const char *line, tsl_cli_emit_fn *emit, void *arg);

/* The help text: every command, one per line. */
const char *tsl_cli_help(void);

#endif
