/*
 * address.h - contact addresses as a channel type spells them.
 *
 * A phone-addressed channel (WhatsApp, and the sandbox, which plays a
 * phone) knows a contact by the digits of their international number:
 * "+1 555 000 1111", "1-555-000-1111" and "15550001111" are one contact,
 * "15550001111". Addresses are normalized before they are looked up or
 * stored, so every spelling lands in one contact and one conversation.
 * A channel type names its normalizer in channel_ops.address_normalize.
 */
#ifndef MSGD_ADDRESS_H
#define MSGD_ADDRESS_H

#include <stddef.h>

#define PHONE_DIGITS_MIN 7
#define PHONE_DIGITS_MAX 15     /* E.164 */
#define PHONE_INPUT_MAX  64     /* bytes of a formatted number looked at */

/*
 * s[0..len) as a phone number's digits into out (outlen > PHONE_DIGITS_MAX,
 * NUL-terminated): one optional '+' as the very first byte, then digits,
 * with spaces, '-', '.', '(' and ')' allowed between them and dropped;
 * 7 to 15 digits in all. Anything else (letters, a second '+', a NUL byte,
 * other whitespace, too few or too many digits) is -1, out untouched.
 */
int phone_normalize(const char *s, size_t len, char *out, size_t outlen);

/* An inbound sender id: its normalized form when it is a phone number,
 * else a copy as it is (providers also use non-phone ids). malloc'd. */
char *phone_normalize_or_dup(const char *s);

#endif
