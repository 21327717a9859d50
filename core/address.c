/*
 * Parsing and comparing the host:port addresses of HIRETRY_SENTINELS and
 * HIRETRY_SENTINEL_REDIRECT. Pure: no name is resolved here.
 */
#include "hiretry/address.h"

#include <stdio.h>
#include <string.h>

#define HR_PORT_MAX 65535

static bool hr_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool hr_is_hex_digit(char c)
{
    return hr_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool hr_is_name_char(char c)
{
    return hr_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '.' || c == '-' || c == '_';
}

static char hr_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Parses 1 to 5 decimal digits from 1 to 65535. Returns the port or -1. */
static int hr_parse_port(const char *text, size_t len)
{
    int port = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!hr_is_digit(text[i]))
            return -1;
        port = port * 10 + (text[i] - '0');
    }
    return port >= 1 && port <= HR_PORT_MAX ? port : -1;
}

/* Returns true when the len bytes of host are an IPv6 literal, when ipv6
 * is set, or else a DNS name or an IPv4 address. */
static bool hr_host_valid(const char *host, size_t len, bool ipv6)
{
    size_t colons = 0;

    if (len == 0 || len > HR_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];

        if (ipv6 && c == ':')
            colons++;
        else if (ipv6 ? !(hr_is_hex_digit(c) || c == '.') : !hr_is_name_char(c))
            return false;
    }
    /* The shortest IPv6 literal, "::", has two colons. */
    return !ipv6 || colons >= 2;
}

int hr_parse_address(const char *text, size_t len, hr_address *out)
{
    const char *host = text;
    size_t host_len;
    const char *colon;
    bool ipv6 = len > 0 && text[0] == '[';
    int port;

    if (ipv6) {
        const char *close = memchr(text, ']', len);

        if (close == NULL || (size_t)(close - text) + 1 >= len ||
            close[1] != ':')
            return -1;
        host = text + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = memchr(text, ':', len);
        if (colon == NULL)
            return -1;
        host_len = (size_t)(colon - text);
    }

    port = hr_parse_port(colon + 1, len - (size_t)(colon + 1 - text));
    if (port < 0 || !hr_host_valid(host, host_len, ipv6))
        return -1;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->port = port;
    return 0;
}

int hr_parse_address_list(const char *text, hr_address_list *out)
{
    hr_address_list list;
    const char *item = text;

    list.count = 0;
    if (text[0] == '\0') {
        out->count = 0;
        return 0;
    }
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        hr_address address;

        if (list.count == HR_ADDRESS_LIST_MAX ||
            hr_parse_address(item, len, &address) != 0 ||
            hr_address_list_contains(&list, address.host, address.port))
            return -1;
        list.items[list.count++] = address;
        if (comma == NULL)
            break;
        item = comma + 1;
    }
    *out = list;
    return 0;
}

bool hr_address_equal(const hr_address *address, const char *host, int port)
{
    size_t i;

    if (address->port != port)
        return false;
    for (i = 0; address->host[i] != '\0' && host[i] != '\0'; i++) {
        if (hr_ascii_lower(address->host[i]) != hr_ascii_lower(host[i]))
            return false;
    }
    return address->host[i] == host[i];
}

bool hr_address_list_contains(const hr_address_list *list, const char *host,
                              int port)
{
    for (size_t i = 0; i < list->count; i++) {
        if (hr_address_equal(&list->items[i], host, port))
            return true;
    }
    return false;
}

void hr_address_format(const char *host, int port, char *buf, size_t size)
{
    if (strchr(host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", host, port);
    else
        snprintf(buf, size, "%s:%d", host, port);
}
