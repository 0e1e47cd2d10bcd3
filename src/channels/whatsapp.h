/*
 * whatsapp.h - what the WhatsApp Cloud adapter's files share
 * (whatsapp_cloud.c: webhooks and sending; whatsapp_check.c: the
 * credential check).
 */
#ifndef MSGD_WHATSAPP_H
#define MSGD_WHATSAPP_H

#include "channel.h"

#define WA_DEFAULT_API_BASE    "https://graph.facebook.com"
#define WA_DEFAULT_API_VERSION "v21.0"

/* GET {api_base_url}/{api_version}/{phone_number_id} with the access token. */
int whatsapp_check_prepare(struct channel *ch, struct send_request *out);
void whatsapp_check_classify(const struct send_response *resp, struct check_result *out);

#endif
