/*
 * test_whatsapp_cloud.c - the WhatsApp Cloud adapter against the shared
 * corpus: one table row per webhook file with the values it must normalize
 * to (written by hand from the files), plus the signature, verification,
 * config and robustness checks. The corpus root is $CORPUS, else
 * ../shared/corpus from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channels/channel.h"
#include "util/util.h"

#include "corpus.h"

#define SECRET "corpus_fake_app_secret"
#define TEXT_PNID "106540352242922"

static int64_t
resolve_one(void *ctx, const char *phone_number_id)
{
	return 1;
}

static int64_t
resolve_none(void *ctx, const char *phone_number_id)
{
	return 0;
}

static void
normalize_json(const json_t *root, struct ingest_batch *b)
{
	struct channel_error err = { 0 };
	assert_int_equal(whatsapp_cloud_normalize(root, resolve_one, NULL, b, &err), 0);
}

static void
normalize_str(const char *s, struct ingest_batch *b)
{
	json_error_t jerr;
	json_t *root = json_loads(s, JSON_ALLOW_NUL, &jerr);
	assert_non_null(root);
	normalize_json(root, b);
	json_decref(root);
}

/* The corpus table */

struct row {
	const char *file;                   /* under whatsapp_cloud/ */
	size_t nmsgs, nstatuses, nevents;
	/* The first message, or the first status (id, ts). */
	const char *id, *from, *to, *contact, *name, *type, *text, *reply_to;
	int64_t ts;
	enum msg_status st;
	const char *word, *recipient;
	int64_t code;
	void (*check)(const struct ingest_batch *b);  /* type-specific parts */
};

static void
check_audio(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "media", "mime_type"), "audio/ogg; codecs=opus");
	assert_true(json_is_false(json_object_get(json_object_get(m->parts, "media"), "voice")));
	assert_true(json_is_true(json_object_get(m->parts, "forwarded")));
}

static void
check_voice(const struct ingest_batch *b)
{
	assert_true(json_is_true(json_object_get(json_object_get(b->msgs[0].parts, "media"), "voice")));
}

static void
check_same_id(const struct ingest_batch *b)
{
	/* Both are returned: deduplication is the store's job. */
	assert_string_equal(b->msgs[0].provider_message_id, b->msgs[1].provider_message_id);
	assert_string_equal(b->msgs[1].text, "Hello World");
}

static void
check_button(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "button", "payload"), "callback_data");
	assert_string_equal(part_str(&b->msgs[0], "button", "text"), "title");
}

static void
check_contacts(const struct ingest_batch *b)
{
	json_t *c = json_object_get(b->msgs[0].parts, "contacts");
	assert_true(json_is_array(c));
	assert_int_equal(json_array_size(c), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(c, 2),
	    "name"), "formatted_name")), "Rachel Green");
}

static void
check_forwarded(const struct ingest_batch *b)
{
	assert_true(json_is_true(json_object_get(b->msgs[0].parts, "forwarded")));
	assert_null(json_object_get(b->msgs[0].parts, "frequently_forwarded"));
}

static void
check_freq_forwarded(const struct ingest_batch *b)
{
	assert_true(json_is_true(json_object_get(b->msgs[0].parts, "forwarded")));
	assert_true(json_is_true(json_object_get(b->msgs[0].parts, "frequently_forwarded")));
}

static void
check_no_parts(const struct ingest_batch *b)
{
	assert_int_equal(json_object_size(b->msgs[0].parts), 0);
}

static void
check_revoke(const struct ingest_batch *b)
{
	assert_int_equal(b->msgs[0].action, MSG_DELETE);
	assert_string_equal(b->msgs[0].target, part_str(&b->msgs[0], "revoke", "original_message_id"));
	assert_string_equal(part_str(&b->msgs[0], "revoke", "original_message_id"),
	    "<ORIGINAL_WHATSAPP_MESSAGE_ID>");
}

static void
check_document(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "media", "filename"), "filename.pdf");
	assert_string_equal(part_str(m, "media", "mime_type"), "application/pdf");
	assert_string_equal(part_str(m, "media", "id"), "1234567890987654321");
	assert_null(json_object_get(json_object_get(m->parts, "media"), "caption"));
}

static void
check_edit(const struct ingest_batch *b)
{
	assert_int_equal(b->msgs[0].action, MSG_EDIT);
	assert_string_equal(b->msgs[0].target, part_str(&b->msgs[0], "edit", "original_message_id"));
	assert_string_equal(part_str(&b->msgs[0], "edit", "original_message_id"),
	    "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=");
}

static void
check_group(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "group_id", NULL), "555555555");
	/* The conversation is the group; the sender's name rides on the message. */
	assert_string_equal(part_str(&b->msgs[0], "sender_name", NULL), "Kerry Fisher");
}

static void
check_image(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "media", "id"), "65463453");
	assert_string_equal(part_str(&b->msgs[0], "media", "sha256"), "4654+8g=");
	assert_null(part_str(&b->msgs[0], "media", "url"));
}

static void
check_image_url(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "media", "url"),
	    "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook"
	    "&ext=487r9re&hash=heiwchueowbcew-dnedcw");
}

static void
check_button_reply(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "interactive", "type"), "button_reply");
	assert_string_equal(part_str(m, "interactive", "id"), "callback_data");
	assert_string_equal(part_str(m, "interactive", "title"), "title");
}

static void
check_list_reply(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "interactive", "type"), "list_reply");
	assert_string_equal(part_str(m, "interactive", "description"), "description");
}

static void
check_nfm(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	json_t *resp = json_object_get(json_object_get(m->parts, "interactive"), "response");
	assert_string_equal(part_str(m, "interactive", "type"), "nfm_reply");
	assert_string_equal(part_str(m, "interactive", "name"), "flow");
	assert_true(json_is_object(resp));
	assert_string_equal(json_string_value(json_object_get(resp, "flow_token")),
	    "AQAAAAACS5FpgQ_cAAAAAD0QI3s.");
}

static void
check_no_interactive(const struct ingest_batch *b)
{
	json_t *errors = json_object_get(b->events[0].data, "errors");
	assert_null(json_object_get(b->msgs[0].parts, "interactive"));
	assert_string_equal(b->events[0].type, "channel.error");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(errors, 0), "code")), 131000);
}

static void
check_location(const struct ingest_batch *b)
{
	json_t *loc = json_object_get(b->msgs[0].parts, "location");
	assert_true(json_real_value(json_object_get(loc, "latitude")) == 37.4611978);
	assert_true(json_real_value(json_object_get(loc, "longitude")) == -122.2164385);
	assert_string_equal(json_string_value(json_object_get(loc, "name")), "Facebook HQ");
	assert_string_equal(json_string_value(json_object_get(loc, "address")),
	    "1 Hacker Way, Menlo Park, CA 94025");
}

static void
check_location_bare(const struct ingest_batch *b)
{
	json_t *loc = json_object_get(b->msgs[0].parts, "location");
	assert_true(json_real_value(json_object_get(loc, "latitude")) == 12.25089);
	assert_int_equal(json_object_size(loc), 2);
}

static void
check_order(const struct ingest_batch *b)
{
	json_t *order = json_object_get(b->msgs[0].parts, "order");
	assert_string_equal(json_string_value(json_object_get(order, "catalog_id")), "354160437058781");
	assert_int_equal(json_array_size(json_object_get(order, "product_items")), 3);
}

static void
check_reaction(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "reaction", "emoji"), "\xF0\x9F\x98\xAE");
	/* The provider's id of the target; the store adds msgd's as message_id. */
	assert_string_equal(part_str(&b->msgs[0], "reaction", "provider_message_id"), "wamid.yzxyzx=");
	assert_null(json_object_get(json_object_get(b->msgs[0].parts, "reaction"), "message_id"));
}

static void
check_reaction_removed(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "reaction", "emoji"), "");
	assert_non_null(part_str(&b->msgs[0], "reaction", "provider_message_id"));
}

static void
check_referral(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "referral", "ctwa_clid"), "CTWA_CLID");
	assert_string_equal(part_str(&b->msgs[0], "referral", "source_id"), "ADID");
}

static void
check_sticker(const struct ingest_batch *b)
{
	assert_true(json_is_false(json_object_get(json_object_get(b->msgs[0].parts, "media"), "animated")));
}

static void
check_sticker_animated(const struct ingest_batch *b)
{
	assert_true(json_is_true(json_object_get(json_object_get(b->msgs[0].parts, "media"), "animated")));
}

static void
check_system(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "system", "type"), "customer_identity_changed");
}

static void
check_system_number(const struct ingest_batch *b)
{
	assert_string_equal(part_str(&b->msgs[0], "system", "wa_id"), "972912345678");
}

static void
check_unsupported(const struct ingest_batch *b)
{
	json_t *errors = json_object_get(b->msgs[0].parts, "errors");
	assert_string_equal(part_str(&b->msgs[0], "unsupported_type", NULL), "pool");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(errors, 0), "code")), 131051);
}

static void
check_unsupported_bare(const struct ingest_batch *b)
{
	assert_null(json_object_get(b->msgs[0].parts, "unsupported_type"));
	assert_true(json_is_array(json_object_get(b->msgs[0].parts, "errors")));
}

static void
check_value_errors(const struct ingest_batch *b)
{
	json_t *errors = json_object_get(b->events[0].data, "errors");
	assert_int_equal(b->events[0].channel_id, 1);
	assert_string_equal(b->events[0].type, "channel.error");
	assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "title")),
	    "We were unable to authenticate the app user");
}

static void
check_failed_detail(const struct ingest_batch *b)
{
	assert_string_equal(b->statuses[0].error_title, "User's number is part of an experiment");
	assert_string_equal(b->statuses[0].error_detail,
	    "Failed to send message because this user's phone number is part of an experiment");
}

static void
check_failed_no_detail(const struct ingest_batch *b)
{
	assert_string_equal(b->statuses[0].error_title,
	    "Request for url https://URL.jpg failed with error: 404 (Not Found)");
	assert_null(b->statuses[0].error_detail);
}

/* Most inbound samples share these. */
#define WA_FROM "972987654321"
#define WA_TO "972123456789"
#define WA_CONTACT .from = WA_FROM, .to = WA_TO, .contact = WA_FROM, .name = "Test Name"
#define MSG1 .nmsgs = 1
#define STATUS1 .nstatuses = 1

static const struct row rows[] = {
	{ .file = "inbound/audio.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "audio",
	    .ts = 1697043509, .check = check_audio },
	{ .file = "inbound/batch_two_messages_same_id.json", .nmsgs = 2, .id = "external_id", .from = "5678",
	    .to = "+250 788 123 200", .contact = "5678", .name = "Kerry Fisher", .type = "text",
	    .text = "Hello World", .ts = 1454119029, .check = check_same_id },
	{ .file = "inbound/button_template_quick_reply.json", MSG1, .id = "wamid.xsidjw", WA_CONTACT,
	    .type = "button", .text = "title", .reply_to = "wamid.xyzxyz==", .ts = 1698269027,
	    .check = check_button },
	{ .file = "inbound/contacts.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "contacts",
	    .ts = 1697044621, .check = check_contacts },
	{ .file = "inbound/context_forwarded.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "text",
	    .text = "forwarded text", .ts = 1697044815, .check = check_forwarded },
	{ .file = "inbound/context_frequently_forwarded.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "text", .text = "text forwarded many times", .ts = 1697044968,
	    .check = check_freq_forwarded },
	{ .file = "inbound/context_reply.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "text",
	    .text = "replied text", .reply_to = "wamid.xyzxyz==", .ts = 1697044746,
	    .check = check_no_parts },
	{ .file = "inbound/deleted_message.json", MSG1, .id = "<WHATSAPP_MESSAGE_ID>",
	    .from = "<WHATSAPP_USER_PHONE_NUMBER>", .to = "<BUSINESS_DISPLAY_PHONE_NUMBER>",
	    .contact = "<WHATSAPP_USER_PHONE_NUMBER>", .type = "revoke", .ts = 1697043223,
	    .check = check_revoke },
	{ .file = "inbound/document.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "document",
	    .text = "caption", .ts = 1697043666, .check = check_document },
	{ .file = "inbound/edited_message.json", MSG1,
	    .id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
	    .from = "16505551234", .to = "15550783881", .contact = "16505551234", .type = "edit",
	    .text = "Updated image caption", .ts = 1749854575, .check = check_edit },
	{ .file = "inbound/group_message.json", MSG1, .id = "external_id", .from = "5678",
	    .to = "+250 788 123 200", .contact = "555555555", .name = NULL, .type = "text",
	    .text = "Hello World, group message", .ts = 1454119029, .check = check_group },
	{ .file = "inbound/image.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "image",
	    .ts = 1697043379, .check = check_image },
	{ .file = "inbound/image_with_url.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "image",
	    .ts = 1697043379, .check = check_image_url },
	{ .file = "inbound/interactive_button_reply.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "interactive", .text = "title", .reply_to = "wamid.xyzxyz", .ts = 1698266730,
	    .check = check_button_reply },
	{ .file = "inbound/interactive_list_reply.json", MSG1, .id = "wamid.zyzxyz", WA_CONTACT,
	    .type = "interactive", .text = "title", .reply_to = "wamid.xyzxyz", .ts = 1698266905,
	    .check = check_list_reply },
	{ .file = "inbound/interactive_nfm_reply.json", MSG1, .id = "wamid.wegrchytvwcggt==", WA_CONTACT,
	    .type = "interactive", .text = "Sent", .reply_to = "wamid.gvwegfretge==",
	    .ts = 1702502473, .check = check_nfm },
	{ .file = "inbound/interactive_without_payload.json", MSG1, .nevents = 1,
	    .id = "wamid.wegrchytvwcggt=", WA_CONTACT, .type = "interactive",
	    .reply_to = "wamid.gvwegfretge==", .ts = 1700505494, .check = check_no_interactive },
	{ .file = "inbound/location.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "location",
	    .ts = 1697044557, .check = check_location },
	{ .file = "inbound/location_current_forwarded.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "location", .ts = 1697044557, .check = check_location_bare },
	{ .file = "inbound/order.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "order",
	    .ts = 1697044668, .check = check_order },
	{ .file = "inbound/reaction.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "reaction",
	    .ts = 1697044456, .check = check_reaction },
	{ .file = "inbound/reaction_removed.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "reaction", .ts = 1697044456, .check = check_reaction_removed },
	{ .file = "inbound/referral_ctwa.json", MSG1, .id = "wamid.ID", WA_CONTACT, .type = "text",
	    .text = "BODY", .ts = 1697045000, .check = check_referral },
	{ .file = "inbound/sticker.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "sticker",
	    .ts = 1697043760, .check = check_sticker },
	{ .file = "inbound/sticker_animated.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "sticker", .ts = 1697043785, .check = check_sticker_animated },
	{ .file = "inbound/system_customer_identity_changed.json", MSG1, .id = "wamid.xyzxyz",
	    .from = WA_FROM, .to = WA_TO, .contact = WA_FROM, .name = "User A", .type = "system",
	    .text = "User identity changed", .ts = 1697044706, .check = check_system },
	{ .file = "inbound/system_user_changed_number.json", MSG1, .id = "wamid.xyzxyz==", .from = WA_FROM,
	    .to = WA_TO, .contact = WA_FROM, .type = "system",
	    .text = "User A changed from 972987654321 to 972912345678", .ts = 1753851315,
	    .check = check_system_number },
	{ .file = "inbound/text.json", MSG1,
	    .id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
	    .from = "16505551234", .to = "15550783881", .contact = "16505551234",
	    .name = "Sheena Nelson", .type = "text", .text = "Does it come in another color?",
	    .ts = 1749416383, .check = check_no_parts },
	{ .file = "inbound/text_with_bsuid.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "text",
	    .text = "Body Text", .ts = 1697043223 },
	{ .file = "inbound/unsupported.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT,
	    .type = "unsupported", .ts = 1697044706, .check = check_unsupported },
	{ .file = "inbound/unsupported_no_type_real.json", MSG1,
	    .id = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
	    .from = "1111111111111", .to = "43330585569", .contact = "1111111111111",
	    .name = "Test User", .type = "unsupported", .ts = 1673026174,
	    .check = check_unsupported_bare },
	{ .file = "inbound/value_level_errors.json", .nevents = 1, .check = check_value_errors },
	{ .file = "inbound/video.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "video",
	    .text = "caption", .ts = 1697044362 },
	{ .file = "inbound/voice.json", MSG1, .id = "wamid.xyzxyz", WA_CONTACT, .type = "voice",
	    .ts = 1697043473, .check = check_voice },

	{ .file = "statuses/delivered.json", STATUS1, .id = "wamid.xyzxyz", .st = ST_DELIVERED,
	    .word = "delivered", .recipient = WA_FROM, .ts = 1698266945 },
	{ .file = "statuses/delivered_real.json", STATUS1,
	    .id = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
	    .st = ST_DELIVERED, .word = "delivered", .recipient = "1111111111111", .ts = 1673020317 },
	{ .file = "statuses/failed_130472.json", STATUS1, .id = "wamid.xyzxyz", .st = ST_FAILED,
	    .word = "failed", .recipient = WA_FROM, .ts = 1689380458, .code = 130472,
	    .check = check_failed_detail },
	{ .file = "statuses/failed_131014_with_pricing.json", STATUS1, .id = "external_id", .st = ST_FAILED,
	    .word = "failed", .recipient = "5678", .ts = 1454119029, .code = 131014,
	    .check = check_failed_no_detail },
	{ .file = "statuses/failed_131047_real.json", STATUS1,
	    .id = "wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=", .st = ST_FAILED,
	    .word = "failed", .recipient = "5511111111111", .ts = 1682651887, .code = 131047 },
	{ .file = "statuses/failed_131053_real.json", STATUS1,
	    .id = "wamid.HBgNNTUyNzk5NzAUZBQTI3MzRGRDA3MjgzMDkzNhUCABEYEjNCR2OQA=", .st = ST_FAILED,
	    .word = "failed", .recipient = "1111111111111", .ts = 1677783372, .code = 131053 },
	{ .file = "statuses/played.json", STATUS1, .id = "wamid.xyzxyz", .st = ST_READ, .word = "played",
	    .recipient = WA_FROM, .ts = 1689380458 },
	{ .file = "statuses/read.json", STATUS1, .id = "wamid.xyzxyz", .st = ST_READ, .word = "read",
	    .recipient = WA_FROM, .ts = 1689380458 },
	{ .file = "statuses/read_group.json", STATUS1, .id = "<WHATSAPP_MESSAGE_ID>", .st = ST_READ,
	    .word = "read", .recipient = "fowefinoewcnw", .ts = 1698266945 },
	{ .file = "statuses/read_real.json", STATUS1,
	    .id = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
	    .st = ST_READ, .word = "read", .recipient = "1111111111111", .ts = 1673020317 },
	{ .file = "statuses/sent.json", STATUS1, .id = "wamid.xyzxyz", .st = ST_SENT, .word = "sent",
	    .recipient = WA_FROM, .ts = 1698266945 },
	{ .file = "statuses/sent_real.json", STATUS1,
	    .id = "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
	    .st = ST_SENT, .word = "sent", .recipient = "1111111111111", .ts = 1673020317 },
	{ .file = "statuses/sent_with_biz_opaque_callback_data.json", STATUS1, .id = "wamid.xyzxyz",
	    .st = ST_SENT, .word = "sent", .recipient = WA_FROM, .ts = 1698266945 },

	/* Template status updates are not messages: accepted, nothing recorded. */
	{ .file = "template_status/approved.json" },
	{ .file = "template_status/rejected_real.json" },
	{ .file = "template_status/rejected_with_info.json" },
};

static void
test_corpus_row(void **state)
{
	const struct row *r = *state;
	struct ingest_batch b = { 0 };
	json_t *root = corpus_json("whatsapp_cloud", r->file);

	normalize_json(root, &b);
	assert_int_equal(b.nmsgs, r->nmsgs);
	assert_int_equal(b.nstatuses, r->nstatuses);
	assert_int_equal(b.nevents, r->nevents);
	for (size_t i = 0; i < b.nmsgs; i++) {
		const struct msg_in *m = &b.msgs[i];
		json_t *raw = json_loads(m->raw, JSON_ALLOW_NUL, NULL);
		assert_int_equal(m->channel_id, 1);
		assert_int_equal(m->direction, DIR_IN);
		assert_true(json_is_object(m->parts));
		assert_true(json_is_object(raw));
		json_decref(raw);
	}
	if (b.nmsgs > 0) {
		const struct msg_in *m = &b.msgs[0];
		assert_string_equal(m->provider_message_id, r->id);
		assert_string_equal(m->from, r->from);
		assert_string_equal(m->to, r->to);
		assert_string_equal(m->contact_address, r->contact);
		assert_str_or_null(r->name, m->contact_name);
		assert_string_equal(m->type, r->type);
		assert_str_or_null(r->text, m->text);
		assert_str_or_null(r->reply_to, m->reply_to);
		assert_int_equal(m->timestamp, r->ts);
	}
	if (b.nstatuses > 0) {
		const struct status_in *s = &b.statuses[0];
		json_t *raw = json_loads(s->raw, 0, NULL);
		assert_int_equal(s->channel_id, 1);
		assert_string_equal(s->provider_message_id, r->id);
		assert_int_equal(s->status, r->st);
		assert_string_equal(s->provider_status, r->word);
		assert_str_or_null(r->recipient, s->recipient);
		assert_int_equal(s->timestamp, r->ts);
		assert_int_equal(s->error_code, r->code);
		assert_true(json_is_object(raw));
		json_decref(raw);
	}
	if (r->check)
		r->check(&b);
	ingest_batch_free(&b);
	json_decref(root);
}

/* Every WhatsApp JSON file of the corpus, sent or received, parses with
 * msgd's parser: in particular none has an object with a duplicate key,
 * which json_parse_capped refuses. */
static void
test_corpus_parses_strictly(void **state)
{
	static const char *const dirs[] = { "inbound", "statuses", "template_status", "outbound",
		"errors" };
	size_t seen = 0;

	for (size_t d = 0; d < ARRAY_LEN(dirs); d++) {
		DIR *dir = corpus_opendir("whatsapp_cloud", dirs[d]);
		const char *name;
		size_t n;
		while ((name = corpus_next(dir, ".json", &n)) != NULL) {
			char rel[512];
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], name);
			json_decref(corpus_json("whatsapp_cloud", rel));
			seen++;
		}
		closedir(dir);
	}
	assert_true(seen > ARRAY_LEN(rows));
}

/* Every corpus webhook file has a row, so a new sample cannot go unchecked. */
static void
test_corpus_complete(void **state)
{
	static const char *const dirs[] = { "inbound", "statuses", "template_status" };
	size_t seen = 0;

	for (size_t d = 0; d < ARRAY_LEN(dirs); d++) {
		DIR *dir = corpus_opendir("whatsapp_cloud", dirs[d]);
		const char *name;
		size_t n;
		while ((name = corpus_next(dir, ".json", &n)) != NULL) {
			char rel[512];
			bool found = false;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], name);
			for (size_t i = 0; i < ARRAY_LEN(rows); i++)
				found |= strcmp(rows[i].file, rel) == 0;
			if (!found)
				fail_msg("corpus file %s has no row in the table", rel);
			seen++;
		}
		closedir(dir);
	}
	assert_int_equal(seen, ARRAY_LEN(rows));
}

/* Normalization edge cases */

static void
test_resolver_zero_skips(void **state)
{
	static const char *const files[] = {
		"inbound/text.json", "inbound/value_level_errors.json", "statuses/failed_130472.json",
		"inbound/batch_two_messages_same_id.json",
	};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		struct ingest_batch b = { 0 };
		struct channel_error err = { 0 };
		json_t *root = corpus_json("whatsapp_cloud", files[i]);
		assert_int_equal(whatsapp_cloud_normalize(root, resolve_none, NULL, &b, &err), 0);
		assert_int_equal(b.nmsgs + b.nstatuses + b.nevents, 0);
		ingest_batch_free(&b);
		json_decref(root);
	}
}

static void
expect_normalize_error(const char *s, const char *field)
{
	struct ingest_batch b = { 0 };
	struct channel_error err = { 0 };
	json_t *root = json_loads(s, 0, NULL);

	assert_non_null(root);
	assert_int_equal(whatsapp_cloud_normalize(root, resolve_one, NULL, &b, &err), -1);
	assert_string_equal(err.field, field);
	assert_int_equal(b.nmsgs + b.nstatuses + b.nevents, 0);
	json_decref(root);
}

static void
test_wrong_object(void **state)
{
	expect_normalize_error("{\"object\":\"page\",\"entry\":[]}", "object");
	expect_normalize_error("{\"entry\":[]}", "object");
	expect_normalize_error("[1,2]", "object");
	expect_normalize_error("{\"object\":\"whatsapp_business_account\"}", "entry");
	expect_normalize_error("{\"object\":\"whatsapp_business_account\",\"entry\":{}}", "entry");
}

/* A change for number 1, with the given messages array (JSON text). */
#define CHANGE(msgs) \
	"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{" \
	"\"field\":\"messages\",\"value\":{\"metadata\":{\"display_phone_number\":\"15550000000\"," \
	"\"phone_number_id\":\"1\"},\"messages\":" msgs "}}]}]}"

static void
test_nul_dropped(void **state)
{
	struct ingest_batch b = { 0 };

	normalize_str(CHANGE("[{\"id\":\"w\\u0000.1\",\"from\":\"1\",\"timestamp\":\"5\","
	    "\"type\":\"text\",\"text\":{\"body\":\"ab\\u0000cd\"}}]"), &b);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(b.msgs[0].text, "abcd");
	assert_int_equal(strlen(b.msgs[0].text), 4);
	assert_string_equal(b.msgs[0].provider_message_id, "w.1");
	/* raw keeps the escaped NUL rather than cutting there. */
	assert_non_null(strstr(b.msgs[0].raw, "ab\\u0000cd"));
	ingest_batch_free(&b);
}

static void
test_text_byte_exact(void **state)
{
	/* Leading/trailing spaces, tab, newline, CRLF, emoji with skin tone, combining accent. */
	static const char want[] = "  h\xC3\xA9llo\t\xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD e\xCC\x81\r\n  ";
	struct ingest_batch b = { 0 };

	normalize_str(CHANGE("[{\"id\":\"w.2\",\"from\":\"1\",\"timestamp\":1700000000,"
	    "\"type\":\"text\",\"text\":{\"body\":\"  h\\u00e9llo\\t\\ud83d\\udc4b\\ud83c\\udffd "
	    "e\xCC\x81\\r\\n  \"}}]"), &b);
	assert_int_equal(b.nmsgs, 1);
	assert_int_equal(strlen(b.msgs[0].text), sizeof(want) - 1);
	assert_memory_equal(b.msgs[0].text, want, sizeof(want));
	assert_int_equal(b.msgs[0].timestamp, 1700000000);
	ingest_batch_free(&b);
}

/* Wrong shapes anywhere are skipped, never fatal. */
static void
test_malformed_parts(void **state)
{
	struct ingest_batch b = { 0 };

	normalize_str("{\"object\":\"whatsapp_business_account\",\"entry\":[1,{},{\"changes\":3},"
	    "{\"changes\":[7,{},{\"field\":5},{\"field\":\"messages\"},"
	    "{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":9}}},"
	    "{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},"
	    "\"messages\":{\"id\":\"x\"},\"statuses\":\"no\",\"errors\":[]}}]}]}", &b);
	assert_int_equal(b.nmsgs + b.nstatuses + b.nevents, 0);
	ingest_batch_free(&b);

	normalize_str(CHANGE("[5,null,{\"from\":\"1\",\"type\":\"text\"},{\"id\":\"a\",\"type\":\"text\"},"
	    "{\"id\":7,\"from\":\"1\"},{\"id\":\"\",\"from\":\"1\"},"
	    "{\"id\":\"t1\",\"from\":\"1\",\"timestamp\":{\"x\":1},\"type\":\"text\",\"text\":\"flat\"},"
	    "{\"id\":\"t2\",\"from\":\"1\",\"timestamp\":\"17e8\",\"type\":\"image\",\"image\":[1],"
	    "\"context\":7,\"referral\":\"r\",\"errors\":{}},"
	    "{\"id\":\"t3\",\"from\":\"1\",\"timestamp\":\"1700000001\",\"type\":\"hologram\","
	    "\"hologram\":{\"x\":1}},"
	    "{\"id\":\"t4\",\"from\":\"1\",\"timestamp\":\"1700000002\"},"
	    "{\"id\":\"t5\",\"from\":\"1\",\"timestamp\":\"1700000003\",\"type\":\"interactive\","
	    "\"interactive\":{\"type\":\"call_permission_reply\",\"call_permission_reply\":{}}},"
	    "{\"id\":\"t6\",\"from\":\"1\",\"timestamp\":\"-5\",\"type\":[\"text\"]},"
	    "{\"id\":\"t7\",\"from\":\"1\",\"timestamp\":\"1\",\"type\":\"interactive\","
	    "\"interactive\":{\"type\":\"nfm_reply\",\"nfm_reply\":{\"response_json\":\"{not json\"}}}]"),
	    &b);
	assert_int_equal(b.nmsgs, 7);
	int64_t now = now_ms() / 1000;
	/* A timestamp that cannot be read falls back to the time of receipt. */
	assert_string_equal(b.msgs[0].type, "text");
	assert_null(b.msgs[0].text);
	assert_true(b.msgs[0].timestamp >= now - 60 && b.msgs[0].timestamp <= now + 60);
	assert_string_equal(b.msgs[1].type, "image");
	assert_int_equal(json_object_size(b.msgs[1].parts), 0);
	assert_null(b.msgs[1].reply_to);
	assert_true(b.msgs[1].timestamp >= now - 60);
	/* Unknown and missing types are kept as "unknown". */
	assert_string_equal(b.msgs[2].type, "unknown");
	assert_string_equal(part_str(&b.msgs[2], "original_type", NULL), "hologram");
	assert_non_null(strstr(b.msgs[2].raw, "\"hologram\":{\"x\":1}"));
	assert_string_equal(b.msgs[3].type, "unknown");
	assert_null(json_object_get(b.msgs[3].parts, "original_type"));
	assert_int_equal(b.msgs[3].timestamp, 1700000002);
	assert_string_equal(b.msgs[4].type, "interactive");
	assert_string_equal(part_str(&b.msgs[4], "interactive", "type"), "call_permission_reply");
	assert_null(b.msgs[4].text);
	assert_string_equal(b.msgs[5].type, "unknown");
	assert_true(b.msgs[5].timestamp >= now - 60);
	assert_string_equal(part_str(&b.msgs[6], "interactive", "response"), "{not json");
	assert_null(b.msgs[6].contact_name);
	ingest_batch_free(&b);

	/* Statuses: unknown words and shapes are skipped; codes may be strings. */
	normalize_str("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},"
	    "\"statuses\":[1,{\"id\":\"s0\",\"status\":\"deleted\"},{\"id\":\"s1\"},"
	    "{\"status\":\"read\"},{\"id\":\"s2\",\"status\":\"received\",\"timestamp\":\"1\"},"
	    "{\"id\":\"s3\",\"status\":\"failed\",\"timestamp\":\"9\",\"errors\":[{\"code\":\"131047\","
	    "\"message\":\"m\"}]},{\"id\":\"s4\",\"status\":\"sent\",\"timestamp\":\"9\",\"errors\":[5]}]}}]}]}",
	    &b);
	assert_int_equal(b.nstatuses, 2);
	assert_string_equal(b.statuses[0].provider_message_id, "s3");
	assert_int_equal(b.statuses[0].error_code, 131047);
	assert_null(b.statuses[0].error_title);
	assert_string_equal(b.statuses[0].error_detail, "m");
	assert_int_equal(b.statuses[1].error_code, 0);
	assert_null(b.statuses[1].recipient);
	ingest_batch_free(&b);
}

/* Webhook: a registry and a fake HTTP request */

struct fake_req {
	const char *sig;
	const char *mode, *token, *challenge;
};

static const char *
fake_header(void *ctx, const char *name)
{
	struct fake_req *f = ctx;
	return strcasecmp(name, "X-Hub-Signature-256") == 0 ? f->sig : NULL;
}

static const char *
fake_query(void *ctx, const char *name)
{
	struct fake_req *f = ctx;
	if (strcmp(name, "hub.mode") == 0)
		return f->mode;
	if (strcmp(name, "hub.verify_token") == 0)
		return f->token;
	if (strcmp(name, "hub.challenge") == 0)
		return f->challenge;
	return NULL;
}

static void
add_channel(struct channel_registry *reg, int64_t id, const char *name, const char *cfg_text)
{
	struct channel_error err = { 0 };
	json_t *cfg = json_loads(cfg_text, 0, NULL);

	assert_non_null(cfg);
	assert_int_equal(whatsapp_cloud_ops.validate(cfg, &err), 0);
	assert_int_equal(registry_add(reg, channel_new(id, name, &whatsapp_cloud_ops, cfg, 0, 0)), 0);
	json_decref(cfg);
}

static struct channel_registry *
corpus_registry(void)
{
	struct channel_registry *reg = registry_new();
	add_channel(reg, 1, "wa1", "{\"phone_number_id\":\"" TEXT_PNID "\",\"access_token\":\"t\","
	    "\"verify_token\":\"meatyhamhock\",\"app_secret\":\"" SECRET "\"}");
	return reg;
}

/* The X-Hub-Signature-256 value from text.headers.txt. */
static char *
corpus_signature(void)
{
	static const char name[] = "X-Hub-Signature-256:";
	size_t len;
	char *h = corpus_load("whatsapp_cloud", "inbound/text.headers.txt", &len);
	char *sig = NULL;

	for (char *line = strtok(h, "\r\n"); line; line = strtok(NULL, "\r\n")) {
		if (strncasecmp(line, name, sizeof(name) - 1) == 0) {
			char *v = line + sizeof(name) - 1;
			v += strspn(v, " \t");
			sig = xstrdup(v);
		}
	}
	free(h);
	assert_non_null(sig);
	return sig;
}

static char *
sign(const char *secret, const char *body, size_t len)
{
	unsigned char mac[32];
	char hex[65];

	hmac_sha256(secret, strlen(secret), body, len, mac);
	hex_encode(mac, sizeof(mac), hex);
	return xasprintf("sha256=%s", hex);
}

static void
webhook(struct channel_registry *reg, const char *method, struct fake_req *f, const char *body,
    size_t len, struct webhook_reply *reply, struct ingest_batch *out)
{
	struct webhook_request req = {
		.method = method, .header = fake_header, .query = fake_query, .ctx = f,
		.body = body, .body_len = len, .request_id = "test",
	};
	*reply = (struct webhook_reply){ 0 };
	whatsapp_cloud_ops.webhook(reg, &req, reply, out);
	if (reply->status >= 400) {
		assert_null(reply->body);
		assert_int_equal(out->nmsgs + out->nstatuses + out->nevents, 0);
	}
}

static void
test_webhook_signature(void **state)
{
	struct channel_registry *reg = corpus_registry();
	struct webhook_reply reply;
	struct ingest_batch out = { 0 };
	size_t len;
	char *body = corpus_load("whatsapp_cloud", "inbound/text.json", &len);
	struct fake_req f = { .sig = corpus_signature() };

	webhook(reg, "POST", &f, body, len, &reply, &out);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.body, "{\"status\":\"ok\"}");
	assert_string_equal(reply.content_type, "application/json");
	assert_int_equal(out.nmsgs, 1);
	assert_int_equal(out.msgs[0].channel_id, 1);
	assert_string_equal(out.msgs[0].text, "Does it come in another color?");
	free(reply.body);
	ingest_batch_free(&out);

	/* Any single changed byte breaks the signature. */
	for (size_t i = 0; i < len; i += len / 7) {
		body[i] ^= 0x01;
		webhook(reg, "POST", &f, body, len, &reply, &out);
		assert_int_equal(reply.status, 403);
		assert_string_equal(reply.error_code, "forbidden");
		body[i] ^= 0x01;
	}
	webhook(reg, "POST", &f, body, len - 1, &reply, &out);
	assert_int_equal(reply.status, 403);

	/* Missing: 401. Malformed: 403. */
	struct fake_req none = { 0 };
	webhook(reg, "POST", &none, body, len, &reply, &out);
	assert_int_equal(reply.status, 401);
	assert_string_equal(reply.error_code, "unauthorized");
	static const char *const bad[] = {
		"", "sha256=", "sha1=3fc66573584341e8aec42379e831b27c7b4dd369",
		"sha256=3fc66573584341e8aec42379e831b27c7b4dd369171ed9e22675b7947c72bb1",
		"sha256=3fc66573584341e8aec42379e831b27c7b4dd369171ed9e22675b7947c72bb17a",
		"sha256=zfc66573584341e8aec42379e831b27c7b4dd369171ed9e22675b7947c72bb17",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct fake_req b = { .sig = bad[i] };
		webhook(reg, "POST", &b, body, len, &reply, &out);
		assert_int_equal(reply.status, 403);
	}
	/* Hex case does not matter. */
	char *upper = xstrdup(f.sig);
	for (char *p = upper + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	struct fake_req up = { .sig = upper };
	webhook(reg, "POST", &up, body, len, &reply, &out);
	assert_int_equal(reply.status, 200);
	free(reply.body);
	ingest_batch_free(&out);

	free(upper);
	free((char *)f.sig);
	free(body);
	registry_free(reg);
}

static void
test_webhook_verify(void **state)
{
	struct channel_registry *reg = corpus_registry();
	struct webhook_reply reply;
	struct ingest_batch out = { 0 };
	size_t len;
	char *reqtxt = corpus_load("whatsapp_cloud", "inbound/verify.request.txt", &len);
	char *resptxt = corpus_load("whatsapp_cloud", "inbound/verify.response.txt", &len);
	struct fake_req f = { 0 };
	char *p;

	/* The query string of the corpus request line. */
	assert_non_null(p = strchr(reqtxt, '?'));
	p[strcspn(p, " ")] = '\0';
	for (char *kv = strtok(p + 1, "&"); kv; kv = strtok(NULL, "&")) {
		char *v = strchr(kv, '=');
		assert_non_null(v);
		*v++ = '\0';
		if (strcmp(kv, "hub.mode") == 0)
			f.mode = v;
		else if (strcmp(kv, "hub.verify_token") == 0)
			f.token = v;
		else if (strcmp(kv, "hub.challenge") == 0)
			f.challenge = v;
	}
	assert_string_equal(f.token, "meatyhamhock");
	/* The body follows the blank line (CRLF or LF). */
	if ((p = strstr(resptxt, "\r\n\r\n")) != NULL)
		p += 4;
	else if ((p = strstr(resptxt, "\n\n")) != NULL)
		p += 2;
	assert_non_null(p);
	p[strcspn(p, "\r\n")] = '\0';

	webhook(reg, "GET", &f, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, "text/plain");
	assert_string_equal(reply.body, p);
	assert_string_equal(reply.body, "1158201444");
	free(reply.body);

	struct fake_req wrong = f;
	wrong.token = "meatyhamhocK";
	webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 403);
	assert_string_equal(reply.error_code, "forbidden");
	wrong.token = "meatyhamhock2";
	webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 403);
	wrong.token = NULL;
	webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 403);
	wrong = f;
	wrong.mode = "unsubscribe";
	webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 403);

	/* Right token, unusable challenge. */
	char longc[300];
	memset(longc, '7', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	const char *const badc[] = { NULL, "", longc, "12\n34", "12 34", "caf\xc3\xa9",
		"\x7f", "12\x80" };
	for (size_t i = 0; i < ARRAY_LEN(badc); i++) {
		wrong = f;
		wrong.challenge = badc[i];
		webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
		assert_int_equal(reply.status, 400);
		assert_null(reply.body);
	}
	/* Any visible ASCII up to the cap is echoed as it is. */
	longc[256] = '\0';
	const char *const okc[] = { "1158201444", "a~!Z_-.", "<b>", longc };
	for (size_t i = 0; i < ARRAY_LEN(okc); i++) {
		wrong = f;
		wrong.challenge = okc[i];
		webhook(reg, "GET", &wrong, NULL, 0, &reply, &out);
		assert_int_equal(reply.status, 200);
		assert_string_equal(reply.body, okc[i]);
		free(reply.body);
		reply.body = NULL;
	}

	webhook(reg, "PUT", &f, "{}", 2, &reply, &out);
	assert_int_equal(reply.status, 405);
	assert_string_equal(reply.error_code, "method_not_allowed");

	free(reqtxt);
	free(resptxt);
	registry_free(reg);
}

/* A signed POST of body; returns the reply status. */
static int
post_signed(struct channel_registry *reg, const char *secret, const char *body,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	size_t len = strlen(body);
	struct fake_req f = { .sig = sign(secret, body, len) };

	webhook(reg, "POST", &f, body, len, reply, out);
	free((char *)f.sig);
	return reply->status;
}

static void
test_webhook_bad_bodies(void **state)
{
	struct channel_registry *reg = corpus_registry();
	struct webhook_reply reply;
	struct ingest_batch out = { 0 };
	char deep[2 * 65 + 1];

	assert_int_equal(post_signed(reg, SECRET, "{\"object\":", &reply, &out), 400);
	assert_string_equal(reply.error_code, "invalid_json");
	assert_non_null(strstr(reply.message, "line 1"));
	assert_int_equal(post_signed(reg, SECRET, "", &reply, &out), 400);
	assert_int_equal(post_signed(reg, SECRET, "{\"a\":\"\xC3\x28\"}", &reply, &out), 400);
	assert_int_equal(post_signed(reg, SECRET, "{\"a\":\"\x01\"}", &reply, &out), 400);
	assert_int_equal(post_signed(reg, SECRET, "{} x", &reply, &out), 400);

	/* 65 nested arrays are refused; 64 parse and fail as not-WhatsApp. */
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	deep[130] = '\0';
	assert_int_equal(post_signed(reg, SECRET, deep, &reply, &out), 400);
	assert_string_equal(reply.error_code, "invalid_json");
	assert_non_null(strstr(reply.message, "deep"));
	deep[129] = '\0';
	assert_int_equal(post_signed(reg, SECRET, deep + 1, &reply, &out), 422);

	assert_int_equal(post_signed(reg, SECRET, "{\"object\":\"page\",\"entry\":[]}", &reply, &out), 422);
	assert_string_equal(reply.error_code, "validation_failed");
	assert_non_null(strstr(reply.message, "object"));

	/* A template status update is accepted and records nothing. */
	assert_int_equal(post_signed(reg, SECRET, "{\"object\":\"whatsapp_business_account\","
	    "\"entry\":[{\"changes\":[{\"field\":\"message_template_status_update\",\"value\":{}}]}]}",
	    &reply, &out), 200);
	assert_int_equal(out.nmsgs + out.nstatuses + out.nevents, 0);
	free(reply.body);
	registry_free(reg);
}

/* Only channels whose secret signed the body (plus insecure ones) are routed to. */
static void
test_webhook_routing(void **state)
{
	struct channel_registry *reg = registry_new();
	struct webhook_reply reply;
	struct ingest_batch out = { 0 };
	size_t len;
	char *body = corpus_load("whatsapp_cloud", "inbound/text.json", &len);
	struct fake_req none = { 0 };

	add_channel(reg, 1, "other", "{\"phone_number_id\":\"999\",\"access_token\":\"t\","
	    "\"verify_token\":\"v1\",\"app_secret\":\"secret-one\"}");
	add_channel(reg, 2, "wa", "{\"phone_number_id\":\"" TEXT_PNID "\",\"access_token\":\"t\","
	    "\"verify_token\":\"v2\",\"app_secret\":\"secret-two\"}");
	add_channel(reg, 3, "wa-same-secret", "{\"phone_number_id\":\"777\",\"access_token\":\"t\","
	    "\"verify_token\":\"v3\",\"app_secret\":\"secret-two\"}");

	/* Signed by channel 1's secret: channel 2's number is not reachable. */
	assert_int_equal(post_signed(reg, "secret-one", body, &reply, &out), 200);
	assert_int_equal(out.nmsgs, 0);
	free(reply.body);
	assert_int_equal(post_signed(reg, "secret-two", body, &reply, &out), 200);
	assert_int_equal(out.nmsgs, 1);
	assert_int_equal(out.msgs[0].channel_id, 2);
	free(reply.body);
	ingest_batch_free(&out);

	/* An insecure channel for the same number takes unsigned and mis-signed bodies. */
	add_channel(reg, 4, "wa-open", "{\"phone_number_id\":\"" TEXT_PNID "\",\"access_token\":\"t\","
	    "\"verify_token\":\"v4\",\"insecure_skip_signature\":true}");
	webhook(reg, "POST", &none, body, len, &reply, &out);
	assert_int_equal(reply.status, 200);
	assert_int_equal(out.nmsgs, 1);
	assert_int_equal(out.msgs[0].channel_id, 4);
	free(reply.body);
	ingest_batch_free(&out);
	assert_int_equal(post_signed(reg, "wrong", body, &reply, &out), 200);
	assert_int_equal(out.nmsgs, 1);
	assert_int_equal(out.msgs[0].channel_id, 4);
	free(reply.body);
	ingest_batch_free(&out);
	assert_int_equal(post_signed(reg, "secret-two", body, &reply, &out), 200);
	assert_int_equal(out.msgs[0].channel_id, 2);
	free(reply.body);
	ingest_batch_free(&out);

	/* Each channel's verify token passes the handshake. */
	struct fake_req v = { .mode = "subscribe", .token = "v3", .challenge = "abc" };
	webhook(reg, "GET", &v, NULL, 0, &reply, &out);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.body, "abc");
	free(reply.body);

	whatsapp_cloud_ops.on_start(registry_find_id(reg, 4));
	whatsapp_cloud_ops.on_start(registry_find_id(reg, 2));
	registry_remove(reg, 4);
	webhook(reg, "POST", &none, body, len, &reply, &out);
	assert_int_equal(reply.status, 401);
	free(body);
	registry_free(reg);
}

/* Config validation and the ops table */

static void
expect_config(const char *cfg_text, int rc, const char *field)
{
	expect_validate(&whatsapp_cloud_ops, cfg_text, rc, field);
}

static void
test_config(void **state)
{
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"s\",\"api_base_url\":\"http://127.0.0.1:9\",\"api_version\":\"v22.0\","
	    "\"insecure_skip_signature\":false}", 0, NULL);
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\"}",
	    -1, "config.app_secret");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"insecure_skip_signature\":false}", -1, "config.app_secret");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"insecure_skip_signature\":true}", 0, NULL);
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"s\",\"bogus\":1}", -1, "config.bogus");
	expect_config("{\"access_token\":\"t\",\"verify_token\":\"v\",\"app_secret\":\"s\"}",
	    -1, "config.phone_number_id");
	expect_config("{\"phone_number_id\":\"1\",\"verify_token\":\"v\",\"app_secret\":\"s\"}",
	    -1, "config.access_token");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"app_secret\":\"s\"}",
	    -1, "config.verify_token");
	expect_config("{\"phone_number_id\":1,\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"s\"}", -1, "config.phone_number_id");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"\"}", -1, "config.app_secret");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"s\",\"insecure_skip_signature\":\"yes\"}", -1,
	    "config.insecure_skip_signature");
	expect_config("{\"phone_number_id\":\"1\",\"access_token\":\"t\",\"verify_token\":\"v\","
	    "\"app_secret\":\"s\",\"api_base_url\":\"ftp://x\"}", -1, "config.api_base_url");
	expect_config("[]", -1, "config");
}

static void
test_ops_table(void **state)
{
	const struct channel_ops *o = &whatsapp_cloud_ops;
	struct channel_registry *reg = corpus_registry();
	struct channel *ch = registry_find_id(reg, 1);
	json_t *pub;

	assert_string_equal(o->type, "whatsapp_cloud");
	assert_string_equal(o->webhook_path, "whatsapp");
	assert_non_null(o->validate);
	assert_non_null(o->open);
	assert_non_null(o->close);
	assert_non_null(o->on_start);
	assert_non_null(o->webhook);
	assert_ptr_equal(channel_type_find("whatsapp_cloud"), o);
	assert_ptr_equal(channel_type_by_webhook_path("whatsapp"), o);

	/* Secrets never leave msgd. */
	pub = channel_public_config(ch);
	assert_string_equal(json_string_value(json_object_get(pub, "access_token")), "********");
	assert_string_equal(json_string_value(json_object_get(pub, "app_secret")), "********");
	assert_string_equal(json_string_value(json_object_get(pub, "verify_token")), "********");
	assert_string_equal(json_string_value(json_object_get(pub, "phone_number_id")), TEXT_PNID);
	json_decref(pub);

	assert_non_null(ch->state);
	o->close(ch);
	assert_null(ch->state);
	assert_int_equal(o->open(ch), 0);
	assert_non_null(ch->state);
	registry_free(reg);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_corpus_complete),
		cmocka_unit_test(test_corpus_parses_strictly),
		cmocka_unit_test(test_resolver_zero_skips),
		cmocka_unit_test(test_wrong_object),
		cmocka_unit_test(test_nul_dropped),
		cmocka_unit_test(test_text_byte_exact),
		cmocka_unit_test(test_malformed_parts),
		cmocka_unit_test(test_webhook_signature),
		cmocka_unit_test(test_webhook_verify),
		cmocka_unit_test(test_webhook_bad_bodies),
		cmocka_unit_test(test_webhook_routing),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_ops_table),
	};
	struct CMUnitTest tests[ARRAY_LEN(rows) + ARRAY_LEN(fixed)];

	/* One named test per corpus row, then the rest. */
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		tests[i] = (struct CMUnitTest){
			.name = rows[i].file,
			.test_func = test_corpus_row,
			.initial_state = (void *)&rows[i],
		};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		tests[ARRAY_LEN(rows) + i] = fixed[i];
	return cmocka_run_group_tests_name("whatsapp_cloud", tests, NULL, NULL);
}
