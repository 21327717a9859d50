/*
 * Writes a man page from its template, with the comment line HR_MARKER
 * replaced by one entry per row of the configuration table, so that the
 * list of variables and their defaults cannot drift from the code.
 *
 * Usage: gen-man TEMPLATE OUTPUT
 */
#include <stdio.h>
#include <string.h>

#include "hiretry/config.h"

#define HR_MARKER ".\\\" hiretry-variables: the list of variables goes here\n"

/* Writes text with the escapes of roff: a backslash is \e, and a line may
 * not start with a control character. */
static void hr_write_roff(FILE *out, const char *text)
{
    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", out);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
}

static void hr_write_variables(FILE *out)
{
    size_t count;
    const hr_config_var *vars = hr_config_vars(&count);

    for (size_t i = 0; i < count; i++) {
        fprintf(out, ".TP\n.B %s\n", vars[i].name);
        hr_write_roff(out, vars[i].summary);
        fputs("\n.br\nAccepted: ", out);
        hr_write_roff(out, vars[i].accepted);
        fputs(".\n.br\nDefault: ", out);
        if (vars[i].default_value[0] == '\0')
            fputs("empty", out);
        else {
            fputs("\\fB", out);
            hr_write_roff(out, vars[i].default_value);
            fputs("\\fR", out);
        }
        fputs(".\n", out);
    }
}

int main(int argc, char **argv)
{
    char line[4096];
    FILE *in;
    FILE *out;

    if (argc != 3) {
        fputs("usage: gen-man TEMPLATE OUTPUT\n", stderr);
        return 2;
    }
    in = fopen(argv[1], "r");
    if (in == NULL) {
        perror(argv[1]);
        return 1;
    }
    out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        fclose(in);
        return 1;
    }
    while (fgets(line, sizeof(line), in) != NULL) {
        if (strcmp(line, HR_MARKER) == 0)
            hr_write_variables(out);
        else
            fputs(line, out);
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 1;
}
