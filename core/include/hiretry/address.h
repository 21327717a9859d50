/*
 * TCP addresses as operators write them in HIRETRY_SENTINELS and
 * HIRETRY_SENTINEL_REDIRECT: "host:port", with an IPv6 literal in brackets
 * ("[::1]:26379"), in comma-separated lists.
 */
#ifndef HIRETRY_ADDRESS_H
#define HIRETRY_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* Maximum length of a host: a DNS name has at most 253 characters. */
#define HR_HOST_MAX 255

/* Maximum number of addresses in one list. Every Sentinel is asked in turn,
 * each with its own timeout, so a longer list would only lengthen a lookup. */
#define HR_ADDRESS_LIST_MAX 16

/* Size of the buffer hr_address_format needs: brackets, colon, port, NUL. */
#define HR_ADDRESS_TEXT_SIZE (HR_HOST_MAX + 10)

typedef struct hr_address {
    char host[HR_HOST_MAX + 1]; /* a name, an IPv4 or an IPv6 literal
                                   without brackets */
    int port;                   /* 1 to 65535 */
} hr_address;

typedef struct hr_address_list {
    hr_address items[HR_ADDRESS_LIST_MAX];
    size_t count;
} hr_address_list;

/*
 * Parses one address of len bytes: "host:port" or "[ipv6]:port". The host
 * is a DNS name or an IPv4 address (letters, digits, '.', '-' and '_'), or
 * an IPv6 literal in brackets (hex digits, ':' and '.', with no zone id).
 * The port is decimal, from 1 to 65535, with no sign. Returns 0, or -1 with
 * *out unchanged.
 */
int hr_parse_address(const char *text, size_t len, hr_address *out);

/*
 * Parses a comma-separated list of addresses with no spaces. The empty
 * text is the empty list. An empty item, more than HR_ADDRESS_LIST_MAX
 * items or the same address twice makes the list invalid. Returns 0, or
 * -1 with *out unchanged.
 */
int hr_parse_address_list(const char *text, hr_address_list *out);

/* Returns true when host and port name the same address, comparing host
 * names in any ASCII case. No name is resolved. */
bool hr_address_equal(const hr_address *address, const char *host, int port);

/* Returns true when list contains host:port, as hr_address_equal. */
bool hr_address_list_contains(const hr_address_list *list, const char *host,
                              int port);

/* Formats "host:port", or "[host]:port" for an IPv6 literal, into buf. */
void hr_address_format(const char *host, int port, char *buf, size_t size);

#endif
