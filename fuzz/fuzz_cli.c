/*
 * fuzz_cli.c - libFuzzer target for the CLI command parser and its
 * completion.  Invariants: no crash or overread on any line; a parsed
 * command has a known op, a valid name and address when it carries them;
 * a refused line always says why; completion terminates and emits only
 * non-empty words.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsl_cli_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_word(const char *word, const char *help, bool kw, void *arg)
{
    (void)kw;
    (void)arg;
    if (word == NULL || word[0] == '\0' || help == NULL)
        abort();
}

/* A parsed address is one word of the kind the parser says it is. */
static int
addr_ok(const struct tsl_cli_cmd *cmd)
{
    char a[TSL_CLI_ADDR_MAX + 1];
    struct in6_addr six;
    size_t n = strcspn(cmd->ip, "%/");

    if (cmd->ip[0] == '\0' || strlen(cmd->ip) > TSL_CLI_ADDR_MAX ||
        strpbrk(cmd->ip, " \t\r\n") != NULL)
        return 0;
    memcpy(a, cmd->ip, n);
    a[n] = '\0';
    switch (cmd->addr) {
    case TSL_CLI_ADDR_IPV4:
        return inet_pton(AF_INET, a, &six) == 1;
    case TSL_CLI_ADDR_IPV6:
        return inet_pton(AF_INET6, a, &six) == 1;
    case TSL_CLI_ADDR_NAME:
        return strchr(cmd->ip, ':') == NULL;
    case TSL_CLI_ADDR_UNIX:
        return strncmp(cmd->ip, "unix:", 5) == 0 && cmd->ip[5] != '\0';
    default:
        return 0;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tsl_cli_cmd *cmd;
    char err[200], *line;

    line = malloc(size + 1);
    cmd = malloc(sizeof(*cmd));
    if (line == NULL || cmd == NULL)
        goto out;
    memcpy(line, data, size);
    line[size] = '\0';
    err[0] = '\0';
    if (tsl_cli_parse(line, cmd, err, sizeof(err)) == 0) {
        if (cmd->op > TSL_CLI_EXIT)
            abort();
        if (strlen(cmd->name) > TSL_CLI_NAME_MAX)
            abort();
        if (cmd->has_addr && !addr_ok(cmd))
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    tsl_cli_complete(line, check_word, NULL);
out:
    free(line);
    free(cmd);
    return 0;
}
