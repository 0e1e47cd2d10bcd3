/* sink.c - the sinks this build knows, by kind (sink.h). */
#include "sink.h"

#include <string.h>

static const struct sink_ops *const sinks[] = {
	&sink_webhook_ops,
	&sink_nats_ops,
	&sink_amqp_ops,
};

const struct sink_ops *
sink_ops_find(const char *kind)
{
	if (kind == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
		if (strcmp(sinks[i]->kind, kind) == 0)
			return sinks[i];
	return NULL;
}
