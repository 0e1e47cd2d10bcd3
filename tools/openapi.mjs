#!/usr/bin/env node
// tools/openapi.mjs - the source of docs/openapi.json (OpenAPI 3.1.0), the
// machine-readable reference of every route of msgd's route table
// (src/api/api.c). The document is built from the compact tables below and
// written, pretty-printed, to docs/openapi.json, which the build embeds in
// the binary (GET /openapi.json) and the tests read:
//   node tools/openapi.mjs            write docs/openapi.json
//   node tools/openapi.mjs --check    exit 1 when docs/openapi.json is stale
// tests/unit/test_openapi.c holds the route table and the document to the
// same routes; tests/e2e/lib.mjs validates the e2e suite's answers against
// the schemas (MSGD_OPENAPI_CHECK=1). Edit this file, not the JSON.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
const str = (extra = {}) => ({ type: 'string', ...extra });
const int = (extra = {}) => ({ type: 'integer', ...extra });
const bool = { type: 'boolean' };
const num = { type: 'number' };
const obj = (properties = {}, required = [], extra = {}) => ({ type: 'object', properties, required, ...extra });
const strict = (properties, required = []) => obj(properties, required, { additionalProperties: false });
const arr = (items, extra = {}) => ({ type: 'array', items, ...extra });
const nul = (s) => ({ ...s, type: [s.type, 'null'] });
const oneOfNull = (s) => ({ oneOf: [s, { type: 'null' }] });
const time = str({ description: 'RFC 3339 UTC, e.g. 2025-10-09T08:53:21Z' });
const anyJson = {};

// ------------------------------------------------------------------ schemas

const schemas = {
	Error: strict({
		error: strict({
			code: str({ pattern: '^[a-z][a-z0-9_]*$', description: 'snake_case reason (see docs/API.md)' }),
			message: str({ minLength: 1 }),
			field: str({ description: 'the field, parameter or header at fault' }),
		}, ['code', 'message']),
	}, ['error']),
	SendError: obj({ code: { type: ['integer', 'string', 'null'] }, title: nul(str()), detail: nul(str()) }),
	Status: strict({ status: str({ enum: ['ok'] }) }, ['status']),
	Ready: obj({
		status: str({ enum: ['ready', 'not_ready'] }),
		storage: str({ enum: ['ok', 'full', 'io_error', 'unavailable', 'error'] }),
		storage_error: str(), storage_failing_since: time, shutting_down: bool,
		channels: obj({}, [], { additionalProperties: ref('ChannelState') }),
	}, ['status']),
	Connection: obj({ state: str({ enum: ['unknown', 'connecting', 'pairing', 'connected', 'disconnected', 'paused', 'error'] }),
		reason: nul(str()), since: nul(str()) }, ['state']),
	ChannelState: obj({
		sending: obj({ state: str(), reason: oneOfNull(ref('SendError')), since: nul(str()), until: nul(str()) }),
		credentials: obj({ state: str(), message: nul(str()), checked_at: nul(str()) }),
		queue_depth: int(), inflight: int(), consecutive_failures: int(),
		dispatch: str({ enum: ['held', 'elsewhere'] }),
		connection: ref('Connection'),
	}),
	Capabilities: obj({
		send_types: arr(str()), receive_types: arr(str()),
		media: arr(obj({ kind: str(), max_bytes: int() })),
		templates: bool, interactive: bool, reactions: bool, edits: bool, deletes: bool, read_receipts: bool,
		typing: bool, groups: bool, replies: bool, pairing: bool,
		window_hours: nul(int()), max_text_length: int(),
	}),
	Channel: obj({
		id: int(), name: str(), type: str(),
		config: obj({}, [], { description: 'the type\'s config; secrets shown as "********"' }),
		created_at: time, updated_at: time,
		state: ref('ChannelState'), connection: ref('Connection'), capabilities: ref('Capabilities'),
		actions: bool, webhook_path: str(),
	}, ['id', 'name', 'type', 'config', 'created_at', 'updated_at', 'connection', 'capabilities', 'actions']),
	ChannelCreate: strict({ name: str(), type: str(), config: obj() }, ['name', 'type']),
	ChannelPatch: strict({ config: obj({}, [], { description: 'keys to replace; null removes one' }) }),
	ChannelType: obj({
		type: str(),
		config: arr(obj({ name: str(), type: str({ enum: ['string', 'boolean', 'integer', 'enum', 'url'] }),
			required: bool, secret: bool, values: arr(str()), min: int(), max: int(), description: str() },
		['name', 'type'])),
		capabilities: ref('Capabilities'), webhook: anyJson, actions: anyJson,
	}, ['type', 'config', 'capabilities']),
	ChannelAction: strict({ channel: str(), connection: ref('Connection') }, ['channel', 'connection']),
	ChannelQr: obj({ state: str(), qr: nul(str()), pairing_code: nul(str()), qr_updated_at: nul(int({ description: 'ms since the epoch' })) }, ['state']),
	ProviderTemplates: obj({
		channel: str(),
		templates: arr(obj({ name: str(), language: str(), category: nul(str()), status: str(), params: int(),
			components: anyJson, synced_at: nul(str()) })),
		sync: oneOfNull(obj({ synced_at: nul(str()), attempted_at: nul(str()), last_error: nul(str()) })),
	}, ['channel', 'templates', 'sync']),
	TemplateSync: strict({ channel: str(), sync: str({ enum: ['started'] }) }, ['channel', 'sync']),
	Contact: strict({ id: int(), address: nul(str()), name: nul(str()), opted_out: bool, opted_out_at: nul(str()),
		opted_out_keyword: nul(str()) }, ['id', 'address', 'name', 'opted_out', 'opted_out_at', 'opted_out_keyword']),
	Message: obj({
		id: int(), channel: str(), conversation_id: nul(int()), direction: str({ enum: ['in', 'out'] }),
		provider_message_id: nul(str()), from: nul(str()), to: nul(str()), type: str(), text: nul(str()),
		timestamp: nul(str()), status: nul(str()),
		status_history: arr(obj({ status: str(), at: nul(str()), error: anyJson })),
		attempts: int(), last_error: oneOfNull(ref('SendError')), next_attempt_at: nul(str()),
		throttled_until: nul(str()), error: oneOfNull(ref('SendError')),
		media: obj(), location: obj(), reaction: obj(), interactive: obj(), template: obj(),
		reply_to: { type: ['object', 'null'] }, client_id: nul(str()), metadata: anyJson,
		scheduled_at: nul(str()), erased: bool, echo: bool, deleted: bool, edited_at: nul(str()),
	}, ['id', 'channel', 'direction', 'type', 'provider_message_id', 'status', 'attempts', 'last_error', 'next_attempt_at',
		'throttled_until']),
	MessageList: obj({ messages: arr(ref('Message')), next: { type: ['string', 'integer', 'null'] } }, ['messages']),
	Conversation: strict({
		id: int(), channel: nul(str()), contact: ref('Contact'), last_message: oneOfNull(ref('Message')),
		unread_count: int({ minimum: 0 }), updated_at: nul(str()),
	}, ['id', 'channel', 'contact', 'last_message', 'unread_count', 'updated_at']),
	Event: strict({
		seq: int({ minimum: 1 }), type: str(), at: time, channel: nul(str()), conversation_id: nul(int()),
		message_id: nul(int()), data: anyJson,
	}, ['seq', 'type', 'at', 'channel', 'conversation_id', 'message_id', 'data']),
	SendBody: obj({
		channel: str(), to: str(), type: str({ enum: ['text', 'image', 'audio', 'voice', 'video', 'document', 'sticker',
			'location', 'template', 'interactive', 'reaction'] }),
		text: str(), preview_url: bool,
		media: obj({ url: str(), id: str(), file_id: str(), caption: str(), filename: str() }),
		location: obj({ latitude: num, longitude: num, name: str(), address: str() }),
		template: obj({ name: str(), language: str(), variables: { type: ['object', 'array'] }, components: arr(anyJson) }),
		interactive: obj(), reaction: obj({ message_id: { type: ['integer', 'string'] }, emoji: str() }),
		reply_to: { type: ['integer', 'string'] }, scheduled_at: time, client_id: str(), metadata: obj(),
		on_quota: str({ enum: ['queue', 'reject'] }), allow_duplicate: bool,
		parse_mode: str({ description: 'telegram' }), buttons: arr(anyJson, { description: 'telegram: [{"text","payload"|"url"}], an inner array a row' }),
		reply_markup: obj({}, [], { description: 'telegram, as Telegram takes it' }),
	}, ['channel', 'to'], { additionalProperties: false }),
	BatchResult: obj({
		results: arr(obj({ index: int(), message: ref('Message'), error: obj({ code: str(), message: str(), field: str() },
			['code', 'message']) }, ['index'])),
	}, ['results']),
	SandboxInbound: strict({ message: ref('Message'), duplicate: bool }, ['message', 'duplicate']),
	LocalTemplate: obj({ name: str(), language: nul(str()), body: str(), created_at: str() }, ['name', 'body']),
	Subscription: strict({
		id: int(), url: str(), events: arr(str()), secret: str({ enum: ['********'] }), delivered_seq: int(),
		state: strict({ attempts: int(), next_attempt_at: nul(str()), last_error: nul(str()), paused: bool },
			['attempts', 'next_attempt_at', 'last_error', 'paused']),
		created_at: time,
	}, ['id', 'url', 'events', 'secret', 'delivered_seq', 'state', 'created_at']),
	Export: strict({
		id: int(), kind: str({ enum: ['nats', 'amqp'] }), events: arr(str()),
		channels: nul(arr(str(), { description: 'null: every channel' })),
		config: obj({}, [], { description: 'the config with defaults; secrets shown as "********"' }), delivered_seq: int(), lag: int(),
		state: strict({ connected: bool, paused: bool, attempts: int(), next_attempt_at: nul(str()), last_error: nul(str()) },
			['connected', 'paused', 'attempts', 'next_attempt_at', 'last_error']),
		created_at: time,
	}, ['id', 'kind', 'events', 'channels', 'config', 'delivered_seq', 'lag', 'state', 'created_at']),
	ExportCreate: strict({
		kind: str({ enum: ['nats', 'amqp'] }),
		events: arr(str(), { minItems: 1, description: '["*"] or event types' }),
		channels: arr(str(), { description: 'only events of these channels' }),
		since: int({ minimum: 0, description: 'default: the head of the log' }),
		config: { anyOf: [
			strict({ url: str({ description: 'nats://127.0.0.1:4222' }), subject_prefix: str(), user: str(), password: str(),
				token: str() }, ['url']),
			strict({ url: str({ description: 'amqp://user:pass@host:port/vhost' }), exchange: str(), exchange_type: str(),
				queue: str(), binding_key: str() }, ['url']),
		] },
	}, ['kind', 'events', 'config']),
	User: obj({ name: str(), created_at: str(), role: nul(str()), must_change_password: bool, platform_admin: bool,
		one_time_password: str() }, ['name']),
	Key: strict({ id: int(), name: str(), scopes: arr(str()), prefix: str(), created_at: str(), expires_at: nul(str()),
		last_used_at: nul(str()), key: str({ pattern: '^msgd_[0-9a-f]{64}$', description: 'only in the 201 answer' }) },
	['id', 'name', 'scopes', 'prefix', 'created_at', 'expires_at', 'last_used_at']),
	Org: obj({ id: int(), name: str(), created_at: str(), settings: obj() }, ['id', 'name']),
	Principal: obj({ org: str(), org_id: int(), subject: str(), kind: str({ enum: ['admin', 'key', 'user'] }),
		role: nul(str()), scopes: arr(str()), permissions: arr(str()), platform_admin: bool,
		orgs: arr(obj({ name: str(), role: str() })), password_change_required: bool },
	['org', 'org_id', 'subject', 'kind']),
	Session: strict({ user: str(), csrf: str(), expires_at: str(), password_change_required: bool },
		['user', 'csrf', 'expires_at', 'password_change_required']),
	Usage: obj({ org: str(), messages: obj(), channels: obj() }, ['org', 'messages']),
	File: strict({ id: str({ pattern: '^f_[A-Za-z0-9]{26}$' }), sha256: str({ pattern: '^[0-9a-f]{64}$' }),
		size: int({ minimum: 1 }), mime_type: str(), filename: nul(str()),
		created_at: int({ description: 'ms since the epoch' }), refs: int({ description: 'in lists: what references it' }) },
	['id', 'sha256', 'size', 'mime_type', 'filename', 'created_at']),
	ImportCreate: strict({
		file_id: str(), channel: str(),
		mapping: obj({ phone: { type: ['string', 'integer'] }, variables: obj(), required: arr({ type: ['string', 'integer'] }) }),
		unknown_columns: str({ enum: ['ignore', 'error', 'keep_as_variables'] }), header: bool,
		delimiter: str({ enum: [',', ';', '\t', '|'] }), sheet: str(),
		template: { oneOf: [str(), obj({ name: str(), language: str() })] },
	}, ['file_id', 'channel', 'mapping']),
	Import: obj({
		id: int(), status: str({ enum: ['parsing', 'validated', 'failed'] }), file_id: nul(str()), channel: nul(str()),
		format: nul(str({ enum: ['csv', 'xlsx'] })), mapping: obj(), unknown_columns: str(), header: bool,
		delimiter: str(), sheet: str(), template: anyJson,
		counts: strict({ rows: int(), valid: int(), invalid: int(), duplicates: int(), errors: int() },
			['rows', 'valid', 'invalid', 'duplicates', 'errors']),
		columns: { type: ['array', 'null'], items: str() },
		preview: arr(obj({ row: int(), cells: arr(anyJson), status: nul(str()), errors: arr(obj()) }, ['row', 'status', 'errors'])),
		error: oneOfNull(strict({ code: nul(str()), message: nul(str()), row: nul(int()) }, ['code', 'message', 'row'])),
		created_at: time, finished_at: nul(str()),
	}, ['id', 'status', 'file_id', 'channel', 'format', 'counts', 'columns', 'error', 'created_at', 'finished_at'],
	{ description: 'the request\'s fields (mapping, unknown_columns, header, delimiter, sheet, template) as given; ' +
		'preview only for one import' }),
	ImportError: strict({ row: int(), column: nul(str()), value: nul(str()), code: nul(str()), message: nul(str()) },
		['row', 'column', 'value', 'code', 'message']),
	CampaignCreate: strict({
		name: str(), channel: str(),
		recipients: arr(obj({ to: str(), variables: obj() }, ['to']), { minItems: 1, maxItems: 1000000 }),
		import_id: int(), text: str(), template: obj({ name: str(), language: str() }), variables: obj(),
		scheduled_at: time, rate: int({ minimum: 1 }),
		quiet_hours: obj({ start: str(), end: str(), tz: str() }),
	}, ['name', 'channel']),
	Campaign: strict({
		id: int(), name: str(), channel: nul(str()),
		status: str({ enum: ['creating', 'scheduled', 'running', 'paused', 'completed', 'cancelled'] }),
		scheduled_at: nul(str()), rate: nul(int()), quiet_hours: { type: ['object', 'null'] }, content: { type: ['object', 'null'] },
		created: int(), counters: strict({ total: int(), queued: int(), sent: int(), delivered: int(), read: int(),
			failed: int(), cancelled: int(), replied: int(), skipped: int(), skipped_reasons: { type: ['object', 'null'] } },
		['total', 'queued', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'replied', 'skipped', 'skipped_reasons']),
		created_at: nul(str()), started_at: nul(str()), finished_at: nul(str()),
	}, ['id', 'name', 'channel', 'status', 'scheduled_at', 'rate', 'quiet_hours', 'content', 'created', 'counters',
		'created_at', 'started_at', 'finished_at']),
	Recipient: strict({ idx: int(), to: nul(str()), variables: anyJson, message_id: nul(int()), status: nul(str()),
		skip_reason: nul(str()), error: oneOfNull(ref('SendError')) },
	['idx', 'to', 'variables', 'message_id', 'status', 'skip_reason', 'error']),
	Health: obj({ status: str({ enum: ['ok', 'degraded'] }), version: str(),
		metrics: obj({ active_batches: int(), circuit_breaker_state: str() }, ['active_batches', 'circuit_breaker_state']) },
	['status', 'version', 'metrics']),
};

// ----------------------------------------------------------- building blocks

const json = (schema) => ({ 'application/json': { schema } });
const ok = (description, schema) => ({ description, content: json(schema) });
const noContent = (description = 'done; no body') => ({ description });
const E = { $ref: '#/components/responses/Error' };

/* Every route may answer these before or beside its own work: a malformed
 * request (framing, %00, a bad query number), a slow client, a head or
 * target too large, storage failing or msgd shutting down. */
const COMMON = ['400', '408', '414', '431', '500', '503'];
/* Routes that authenticate: no or a wrong credential, missing permission
 * (or CSRF, or a password to change), a rate limit or a throttled address;
 * an unknown Msgd-Org is a 404. */
const AUTHED = ['401', '403', '404', '429'];
/* Routes that read a JSON body. */
const BODY = ['413', '422'];

const PERM = {
	none: 'none', read: 'messages:read', send: 'messages:send', channels: 'channels:write',
	templates: 'templates:write', webhooks: 'webhooks:write', users: 'users:write', keys: 'keys:write',
	platform: 'platform', org: 'org:manage', erase: 'contacts:erase', audit: 'audit:read',
	events: 'events:read', auth: 'authenticated',
};

const qp = (name, schema, description) => ({ name, in: 'query', required: false, schema, description });
const limit = (def = 50, max = 200) => qp('limit', int({ minimum: 1, maximum: max, default: def }), `1..${max}, default ${def}`);
const cursor = qp('cursor', str(), 'the `next` of the previous page');

/* op(method, path, {tag, perm, summary, params, body, responses, ...}) */
const ops = [];
function op(method, pattern, o) {
	ops.push({ method, pattern, ...o });
}

// ------------------------------------------------------------------- routes

const T = { health: 'health', session: 'sessions', hooks_in: 'provider webhooks', channels: 'channels',
	reading: 'reading', events: 'events', sending: 'sending', templates: 'templates', ewh: 'event webhooks',
	users: 'users', keys: 'keys', orgs: 'organizations', privacy: 'privacy', files: 'files', imports: 'imports',
	campaigns: 'campaigns', exports: 'exports', docs: 'documentation', auth: 'access tokens' };

op('GET', '/healthz', { tag: T.health, perm: 'none', summary: 'Liveness', responses: { 200: ok('alive', ref('Status')) } });
op('GET', '/readyz', { tag: T.health, perm: 'none', summary: 'Readiness (detail with a credential)',
	description: 'Anyone may ask; with a valid token or session the answer adds storage and channel detail. A wrong token is no token.',
	responses: { 200: ok('ready', ref('Ready')), 503: ok('not ready', ref('Ready')), 404: E } });
op('POST', '/v1/session', { tag: T.session, perm: 'none', summary: 'Log in (web UI): a session cookie',
	body: { oneOf: [strict({ token: str() }, ['token']), strict({ user: str(), password: str() }, ['user', 'password'])] },
	responses: { 201: ok('logged in; Set-Cookie msgd_session', ref('Session')), 401: E, 413: E, 415: E, 422: E, 429: E } });
op('GET', '/v1/session', { tag: T.session, perm: 'none', summary: 'The current session (its CSRF token again)',
	responses: { 200: ok('logged in', ref('Session')), 401: E } });
op('DELETE', '/v1/session', { tag: T.session, perm: 'none', summary: 'Log out (needs X-Msgd-CSRF)',
	responses: { 204: noContent('logged out; cookie cleared'), 401: E, 403: E } });
op('GET', '/webhooks/{type}', { tag: T.hooks_in, perm: 'none', summary: 'Provider verification handshake (WhatsApp hub.challenge)',
	params: [qp('hub.mode', str()), qp('hub.verify_token', str()), qp('hub.challenge', str({ minLength: 1, maxLength: 256 }))],
	responses: { 200: { description: 'the challenge', content: { 'text/plain': { schema: str() } } }, 403: E, 404: E, 405: E } });
op('POST', '/webhooks/{type}', { tag: T.hooks_in, perm: 'none', summary: 'Provider webhook (WhatsApp Cloud: X-Hub-Signature-256)',
	body: obj(), bodyRequired: true,
	responses: { 200: ok('durably stored', ref('Status')), 401: E, 403: E, 404: E, 413: E, 422: E } });
op('POST', '/webhooks/{type}/{channel_id}', { tag: T.hooks_in, perm: 'none', summary: 'A channel\'s own webhook (telegram, evolution)',
	body: obj(), bodyRequired: true,
	responses: { 200: ok('durably stored; the body is the adapter\'s (evolution {"status":"ok"}, telegram {"ok":true})',
		{ oneOf: [ref('Status'), obj({ ok: { const: true } }, ['ok'])] }), 401: E, 403: E, 404: E, 413: E, 422: E } });

op('GET', '/v1/channel-types', { tag: T.channels, perm: 'read', summary: 'Channel types: config schemas and capabilities',
	responses: { 200: ok('the types', obj({ channel_types: arr(ref('ChannelType')) }, ['channel_types'])) } });
op('POST', '/v1/channels/{name}/connect', { tag: T.channels, perm: 'channels', summary: 'Start the adapter\'s connect action',
	responses: { 202: ok('started', ref('ChannelAction')), 422: E } });
op('POST', '/v1/channels/{name}/disconnect', { tag: T.channels, perm: 'channels', summary: 'Start the adapter\'s disconnect action',
	responses: { 202: ok('started', ref('ChannelAction')), 422: E } });
op('GET', '/v1/channels/{name}/qr', { tag: T.channels, perm: 'channels', summary: 'The QR code to scan while pairing',
	params: [qp('format', str({ enum: ['json', 'png', 'svg'] }))],
	responses: { 200: { description: 'the code', content: { ...json(ref('ChannelQr')), 'image/png': { schema: str() },
		'image/svg+xml': { schema: str() } } }, 422: E } });
op('POST', '/v1/channels', { tag: T.channels, perm: 'channels', summary: 'Create a channel', body: ref('ChannelCreate'),
	responses: { 201: ok('created', ref('Channel')), 409: E } });
op('GET', '/v1/channels', { tag: T.channels, perm: 'read', summary: 'List channels',
	responses: { 200: ok('the channels', obj({ channels: arr(ref('Channel')) }, ['channels'])) } });
op('GET', '/v1/channels/{name}', { tag: T.channels, perm: 'read', summary: 'A channel',
	responses: { 200: ok('the channel', ref('Channel')) } });
op('PATCH', '/v1/channels/{name}', { tag: T.channels, perm: 'channels', summary: 'Change a channel\'s config',
	body: ref('ChannelPatch'), responses: { 200: ok('changed', ref('Channel')), 409: E } });
op('DELETE', '/v1/channels/{name}', { tag: T.channels, perm: 'channels', summary: 'Delete a channel (its messages stay)',
	responses: { 204: noContent('deleted') } });
op('POST', '/v1/sandbox/{channel}/inbound', { tag: T.sending, perm: 'send', summary: 'An inbound message on a sandbox channel',
	body: strict({ from: str(), text: str(), name: str(), id: str() }, ['from', 'text']),
	responses: { 201: ok('stored', ref('SandboxInbound')), 200: ok('a duplicate', ref('SandboxInbound')) } });

op('GET', '/v1/conversations', { tag: T.reading, perm: 'read', summary: 'Conversations, most recent activity first',
	params: [limit(), qp('channel', str()), qp('q', str()), cursor],
	responses: { 200: ok('a page', obj({ conversations: arr(ref('Conversation')), next: nul(str()) }, ['conversations', 'next'])) } });
op('GET', '/v1/conversations/{id}', { tag: T.reading, perm: 'read', summary: 'A conversation',
	responses: { 200: ok('the conversation', ref('Conversation')) } });
op('GET', '/v1/conversations/{id}/messages', { tag: T.reading, perm: 'read', summary: 'A conversation\'s messages, newest page first',
	params: [limit(), cursor], responses: { 200: ok('a page', ref('MessageList')) } });
op('GET', '/v1/messages', { tag: T.reading, perm: 'read', summary: 'Find messages by provider id, or the retrying ones',
	params: [qp('provider_message_id', str()), qp('state', str({ enum: ['retrying'] })), limit()],
	responses: { 200: ok('the messages', ref('MessageList')) } });
op('GET', '/v1/messages/{id}', { tag: T.reading, perm: 'read', summary: 'A message',
	responses: { 200: ok('the message', ref('Message')) } });
op('GET', '/v1/events', { tag: T.events, perm: 'events', summary: 'The event log, ascending',
	params: [qp('since', int({ minimum: 0 })), limit(100, 1000)],
	responses: { 200: ok('a page', obj({ events: arr(ref('Event')), next: int() }, ['events', 'next'])) } });
op('GET', '/v1/stream', { tag: T.events, perm: 'events', summary: 'Server-Sent Events: the log, live, resumable',
	params: [qp('since', int({ minimum: 0 })), qp('channel', str()), qp('conversation_id', int()), qp('org', str()),
		{ name: 'Last-Event-ID', in: 'header', required: false, schema: str() }],
	responses: { 200: { description: 'text/event-stream: `id: <seq>` and `data: <event JSON>`',
		content: { 'text/event-stream': { schema: str() } } } } });
op('GET', '/v1/ws', { tag: T.events, perm: 'events', summary: 'WebSocket: the log, live; sends with {"op":"send"}',
	params: [qp('since', int({ minimum: 0 })), qp('channel', str()), qp('conversation_id', int()), qp('org', str())],
	responses: { 101: { description: 'switching protocols (RFC 6455)' } } });
op('POST', '/v1/messages', { tag: T.sending, perm: 'send', summary: 'Send a message (queued; 202 once committed)',
	params: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: str() }],
	body: ref('SendBody'),
	responses: { 202: ok('queued or scheduled', ref('Message')), 200: ok('a repeat: the original', ref('Message')),
		409: E } });
op('POST', '/v1/messages/batch', { tag: T.sending, perm: 'send', summary: 'Send up to batch_max messages in one transaction',
	body: strict({ messages: arr(obj({}, [], { description: 'a POST /v1/messages body (SendBody), checked one by one: ' +
		'an invalid one is an error result' }), { minItems: 1 }) }, ['messages']),
	responses: { 207: ok('one result per item', ref('BatchResult')) } });
op('DELETE', '/v1/messages/{id}', { tag: T.sending, perm: 'send', summary: 'Cancel a queued or scheduled message',
	responses: { 200: ok('cancelled', ref('Message')), 409: E } });
op('POST', '/v1/conversations/{id}/read', { tag: T.sending, perm: 'send', summary: 'Mark read (sends the read receipt)',
	responses: { 200: ok('the conversation', ref('Conversation')) } });

op('POST', '/v1/templates', { tag: T.templates, perm: 'templates', summary: 'Create a local template',
	body: strict({ name: str(), language: str(), body: str() }, ['name', 'body']),
	responses: { 201: ok('created', ref('LocalTemplate')), 409: E } });
op('GET', '/v1/templates', { tag: T.templates, perm: 'read', summary: 'List local templates',
	responses: { 200: ok('the templates', obj({ templates: arr(ref('LocalTemplate')) }, ['templates'])) } });
op('GET', '/v1/templates/{name}', { tag: T.templates, perm: 'read', summary: 'A local template',
	responses: { 200: ok('the template', ref('LocalTemplate')) } });
op('DELETE', '/v1/templates/{name}', { tag: T.templates, perm: 'templates', summary: 'Delete a local template',
	responses: { 204: noContent('deleted') } });

op('POST', '/v1/webhooks', { tag: T.ewh, perm: 'webhooks', summary: 'Subscribe a URL to events',
	body: strict({ url: str({ maxLength: 2048 }), events: arr(str(), { minItems: 1, maxItems: 64 }),
		secret: str({ minLength: 16, maxLength: 256 }), since: int({ minimum: 0 }) }, ['url', 'events', 'secret']),
	responses: { 201: ok('subscribed', ref('Subscription')), 409: E } });
op('GET', '/v1/webhooks', { tag: T.ewh, perm: 'webhooks', summary: 'List event webhooks',
	responses: { 200: ok('the subscriptions', obj({ webhooks: arr(ref('Subscription')) }, ['webhooks'])) } });
op('GET', '/v1/webhooks/{id}', { tag: T.ewh, perm: 'webhooks', summary: 'An event webhook',
	responses: { 200: ok('the subscription', ref('Subscription')) } });
op('DELETE', '/v1/webhooks/{id}', { tag: T.ewh, perm: 'webhooks', summary: 'Unsubscribe',
	responses: { 204: noContent('deleted') } });

op('GET', '/v1/users', { tag: T.users, perm: 'users', summary: 'The organization\'s members',
	responses: { 200: ok('the members', obj({ users: arr(ref('User')) }, ['users'])) } });
op('POST', '/v1/users', { tag: T.users, perm: 'users', summary: 'Create a user, add one, or invite one',
	body: strict({ name: str(), password: str({ minLength: 8, maxLength: 1024 }), role: str({ enum: ['owner', 'admin', 'agent', 'viewer'] }),
		invite: bool }, ['name']),
	responses: { 201: ok('a member', ref('User')), 409: E } });
op('DELETE', '/v1/users/{name}', { tag: T.users, perm: 'users', summary: 'Remove a member',
	responses: { 204: noContent('removed'), 409: E } });
op('PATCH', '/v1/users/{name}', { tag: T.users, perm: 'users', summary: 'Change a member\'s role or platform_admin',
	body: strict({ role: str({ enum: ['owner', 'admin', 'agent', 'viewer'] }), platform_admin: bool }),
	responses: { 200: ok('changed', ref('User')), 409: E } });
op('POST', '/v1/users/{name}/logout', { tag: T.users, perm: 'users', summary: 'End every session of a user',
	responses: { 200: ok('ended', obj({ name: str(), sessions_ended: int() }, ['name', 'sessions_ended'])) } });
op('PUT', '/v1/users/{name}/password', { tag: T.users, perm: 'users', summary: 'Set a user\'s password',
	body: strict({ password: str({ minLength: 8, maxLength: 1024 }), must_change_password: bool }, ['password']),
	responses: { 204: noContent('set; the user\'s sessions end') } });

op('POST', '/v1/keys', { tag: T.keys, perm: 'keys', summary: 'Create an API key (its secret shown once)',
	body: strict({ name: str({ minLength: 1, maxLength: 64 }), scopes: arr(str(), { minItems: 1 }), expires_at: time }, ['name', 'scopes']),
	responses: { 201: ok('created, with "key"', ref('Key')) } });
op('GET', '/v1/keys', { tag: T.keys, perm: 'keys', summary: 'The organization\'s live keys (no secrets)',
	responses: { 200: ok('the keys', obj({ keys: arr(ref('Key')) }, ['keys'])) } });
op('DELETE', '/v1/keys/{id}', { tag: T.keys, perm: 'keys', summary: 'Revoke a key', responses: { 204: noContent('revoked') } });

op('POST', '/v1/orgs', { tag: T.orgs, perm: 'platform', summary: 'Create an organization',
	body: strict({ name: str({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) }, ['name']),
	responses: { 201: ok('created', ref('Org')), 409: E } });
op('GET', '/v1/orgs', { tag: T.orgs, perm: 'platform', summary: 'List organizations',
	responses: { 200: ok('the organizations', obj({ orgs: arr(ref('Org')) }, ['orgs'])) } });
op('GET', '/v1/orgs/{org}', { tag: T.orgs, perm: 'auth', summary: 'An organization and its settings',
	responses: { 200: ok('the organization', ref('Org')) } });
op('PATCH', '/v1/orgs/{org}', { tag: T.orgs, perm: 'org', summary: 'Change an organization\'s settings',
	body: strict({ settings: obj() }, ['settings']),
	responses: { 200: ok('the merged settings', ref('Org')) } });
op('GET', '/v1/orgs/{org}/usage', { tag: T.orgs, perm: 'read', summary: 'Sending quota usage',
	responses: { 200: ok('usage', ref('Usage')) } });
op('DELETE', '/v1/contacts/{id}', { tag: T.privacy, perm: 'erase', summary: 'Erase a contact and its messages\' content',
	responses: { 200: ok('erased', obj({ contact_id: int(), conversation_id: nul(int()), messages_erased: int() },
		['contact_id', 'messages_erased'])) } });
op('GET', '/v1/audit', { tag: T.privacy, perm: 'audit', summary: 'The audit trail',
	params: [qp('since', int({ minimum: 0 })), limit(100, 1000)],
	responses: { 200: ok('a page', obj({ events: arr(ref('Event')), next: int() }, ['events'])) } });
op('GET', '/v1/auth/me', { tag: T.auth, perm: 'auth', summary: 'Who is calling', pwChange: true,
	responses: { 200: ok('the principal', ref('Principal')) } });
op('PUT', '/v1/auth/password', { tag: T.auth, perm: 'auth', summary: 'A user changes their own password', pwChange: true,
	body: strict({ current: str(), new: str({ minLength: 8, maxLength: 1024 }) }, ['current', 'new']),
	responses: { 204: noContent('changed; every session of the user ends') } });
op('POST', '/v1/auth/token', { tag: T.auth, perm: 'none', summary: 'An access token (JWT, 15 min)',
	body: { oneOf: [strict({ user: str(), password: str() }, ['user', 'password']), strict({ key: str() }, ['key'])] },
	responses: { 200: ok('the token', obj({ access_token: str(), token_type: str({ enum: ['Bearer'] }), expires_in: int(),
		principal: ref('Principal') }, ['access_token', 'token_type', 'expires_in'])), 401: E, 404: E, 413: E, 422: E, 429: E } });

op('GET', '/v1/channels/{name}/templates', { tag: T.templates, perm: 'read', summary: 'A channel\'s provider templates (synced)',
	responses: { 200: ok('the templates', ref('ProviderTemplates')) } });
op('POST', '/v1/channels/{name}/templates/sync', { tag: T.templates, perm: 'channels', summary: 'Sync provider templates now',
	responses: { 202: ok('started', ref('TemplateSync')), 422: E } });

op('POST', '/v1/campaigns', { tag: T.campaigns, perm: 'send', summary: 'Create a campaign (202 once its row is durable)',
	body: ref('CampaignCreate'), responses: { 202: ok('creating', ref('Campaign')) } });
op('GET', '/v1/campaigns', { tag: T.campaigns, perm: 'read', summary: 'Campaigns, newest first',
	params: [qp('before', int({ minimum: 1 })), limit()],
	responses: { 200: ok('a page', obj({ campaigns: arr(ref('Campaign')), next: nul(int()) }, ['campaigns'])) } });
op('GET', '/v1/campaigns/{id}', { tag: T.campaigns, perm: 'read', summary: 'A campaign',
	responses: { 200: ok('the campaign', ref('Campaign')) } });
op('GET', '/v1/campaigns/{id}/recipients', { tag: T.campaigns, perm: 'read', summary: 'A campaign\'s recipients',
	params: [qp('status', str({ enum: ['queued', 'scheduled', 'accepted', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'skipped'] })),
		qp('after', int({ minimum: 0 })), limit(100, 1000)],
	responses: { 200: ok('a page', obj({ recipients: arr(ref('Recipient')), next: nul(int()) }, ['recipients'])) } });
for (const a of ['pause', 'resume', 'cancel'])
	op('POST', `/v1/campaigns/{id}/${a}`, { tag: T.campaigns, perm: 'send', summary: `${a[0].toUpperCase()}${a.slice(1)} a campaign (idempotent)`,
		responses: { 200: ok('the campaign', ref('Campaign')), 409: E } });

op('POST', '/v1/files', { tag: T.files, perm: 'send', summary: 'Upload a file (raw body or multipart/form-data), streamed',
	params: [qp('filename', str())],
	rawBody: { 'application/octet-stream': { schema: str({ contentMediaType: 'application/octet-stream' }) },
		'multipart/form-data': { schema: obj({ file: str() }) } },
	responses: { 201: ok('stored', ref('File')), 200: ok('the same bytes were stored already', ref('File')), 413: E } });
op('GET', '/v1/files', { tag: T.files, perm: 'read', summary: 'Files, newest first', params: [limit(), cursor],
	responses: { 200: ok('a page', obj({ files: arr(ref('File')), next: nul(str()) }, ['files'])) } });
op('GET', '/v1/files/{id}', { tag: T.files, perm: 'read', summary: 'A file\'s bytes (ETag, one Range)',
	params: [qp('org', str())],
	responses: { 200: { description: 'the bytes', content: { '*/*': { schema: str() } } },
		206: { description: 'the range', content: { '*/*': { schema: str() } } },
		304: noContent('not modified'), 416: E } });
op('GET', '/v1/files/{id}/meta', { tag: T.files, perm: 'read', summary: 'A file\'s metadata',
	responses: { 200: ok('the file', ref('File')) } });

op('POST', '/v1/imports', { tag: T.imports, perm: 'send', summary: 'Import a CSV or XLSX file (202, parsed in the background)',
	body: ref('ImportCreate'), responses: { 202: ok('parsing', ref('Import')) } });
op('GET', '/v1/imports', { tag: T.imports, perm: 'read', summary: 'Imports, newest first',
	params: [qp('before', int({ minimum: 1 })), limit()],
	responses: { 200: ok('a page', obj({ data: arr(ref('Import')), next: nul(int()) }, ['data'])) } });
op('GET', '/v1/imports/{id}', { tag: T.imports, perm: 'read', summary: 'An import with counts and a preview',
	responses: { 200: ok('the import', ref('Import')) } });
op('GET', '/v1/imports/{id}/errors', { tag: T.imports, perm: 'read', summary: 'An import\'s row errors (JSON or CSV)',
	params: [qp('after', int({ minimum: 0 })), limit(100, 1000), qp('format', str({ enum: ['json', 'csv'] }))],
	responses: { 200: { description: 'a page, or the whole list as CSV', content: {
		...json(obj({ data: arr(ref('ImportError')), next: nul(int()) }, ['data'])), 'text/csv': { schema: str() } } } } });
op('DELETE', '/v1/imports/{id}', { tag: T.imports, perm: 'send', summary: 'Delete an import',
	responses: { 204: noContent('deleted'), 409: E } });

// h15openapi: this document and its page.
op('GET', '/openapi.json', { tag: T.docs, perm: 'none', summary: 'This document (OpenAPI 3.1)', cached: true,
	responses: { 200: ok('the document', obj({ openapi: str({ const: '3.1.0' }) }, ['openapi'])), 304: noContent('not modified') } });
op('GET', '/docs', { tag: T.docs, perm: 'none', summary: 'The API reference, browsable (HTML, no external resources)', cached: true,
	responses: { 200: { description: 'the page', content: { 'text/html': { schema: str() } } }, 304: noContent('not modified') } });

// Exports of the event log to brokers (issue 15: src/hooks/, api_exports.c).
op('POST', '/v1/exports', { tag: T.exports, perm: 'webhooks', summary: 'Create an export to NATS or RabbitMQ',
	body: ref('ExportCreate'), responses: { 201: ok('created', ref('Export')), 409: E } });
op('GET', '/v1/exports', { tag: T.exports, perm: 'webhooks', summary: 'List exports',
	responses: { 200: ok('the exports', obj({ exports: arr(ref('Export')) }, ['exports'])) } });
op('GET', '/v1/exports/{id}', { tag: T.exports, perm: 'webhooks', summary: 'An export with its lag and state',
	responses: { 200: ok('the export', ref('Export')) } });
op('POST', '/v1/exports/{id}/pause', { tag: T.exports, perm: 'webhooks', summary: 'Pause an export (idempotent)',
	responses: { 200: ok('the export', ref('Export')) } });
op('POST', '/v1/exports/{id}/resume', { tag: T.exports, perm: 'webhooks', summary: 'Resume an export (idempotent)',
	responses: { 200: ok('the export', ref('Export')) } });
op('DELETE', '/v1/exports/{id}', { tag: T.exports, perm: 'webhooks', summary: 'Delete an export',
	responses: { 204: noContent('deleted') } });
// Prometheus metrics and the seeds' health shape (issue 15: src/metrics/).
op('GET', '/metrics', { tag: T.health, perm: 'platform', summary: 'Prometheus metrics (text format 0.0.4)',
	description: 'Instance-wide: the platform permission (the admin token as a bearer), unless the setting metrics_public makes it public.',
	responses: { 200: { description: 'the metrics', content: { 'text/plain; version=0.0.4': { schema: str() } } } } });
op('GET', '/health', { tag: T.health, perm: 'none', summary: 'Health in the seeds\' shape',
	responses: { 200: ok('healthy or degraded', ref('Health')) } });

// ---------------------------------------------------------------- assembly

const PARAM_DOC = {
	name: 'a channel name', id: 'an id', channel: 'a sandbox channel\'s name', type: 'a channel type (whatsapp, telegram, evolution)',
	channel_id: 'a channel id', org: 'an organization name',
};

function operation(o) {
	const authed = o.perm !== 'none';
	const names = [...o.pattern.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
	const params = names.map((n) => ({ name: n, in: 'path', required: true,
		schema: n === 'id' && !o.pattern.startsWith('/v1/files') ? int({ minimum: 1 }) : str(), description: PARAM_DOC[n] }));
	if (authed) params.push({ $ref: '#/components/parameters/MsgdOrg' });
	params.push(...(o.params ?? []));
	const responses = {};
	const codes = [...COMMON, ...(authed ? AUTHED : []), ...(o.body || o.rawBody ? BODY : [])];
	for (const [k, v] of Object.entries(o.responses)) responses[k] = v;
	for (const c of codes) responses[c] ??= E;
	const sorted = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
	const out = {
		tags: [o.tag],
		summary: o.summary,
		...(o.description ? { description: o.description } : {}),
		operationId: `${o.method.toLowerCase()}${o.pattern.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g,
			(_, c) => (c ? c.toUpperCase() : ''))}`,
		'x-msgd-permission': PERM[o.perm],
		...(o.pwChange ? { 'x-msgd-password-change': true } : {}),
		security: authed ? (o.method === 'GET' ? [{ bearer: [] }, { session: [] }] : [{ bearer: [] }, { session: [], csrf: [] }]) : [],
		parameters: params,
	};
	if (o.body) out.requestBody = { required: true, content: json(o.body) };
	else if (o.bodyRequired) out.requestBody = { required: true, content: json(obj()) };
	if (o.rawBody) out.requestBody = { required: true, content: o.rawBody };
	out.responses = sorted;
	return out;
}

export function build() {
	const paths = {};
	for (const o of ops) {
		paths[o.pattern] ??= {};
		if (paths[o.pattern][o.method.toLowerCase()]) throw new Error(`twice: ${o.method} ${o.pattern}`);
		paths[o.pattern][o.method.toLowerCase()] = operation(o);
	}
	return {
		openapi: '3.1.0',
		info: {
			title: 'msgd API',
			version: '1',
			summary: 'A self-hosted message gateway: channels, messages, events, campaigns',
			description: 'The prose reference is docs/API.md. Every error is {"error":{"code","message"}} with a 4xx or 5xx ' +
				'status. Times are RFC 3339 UTC strings; ids are integers (files: "f_..."). Authenticate with ' +
				'`Authorization: Bearer <admin token | API key | access token>` or the web UI\'s session cookie ' +
				'(then POST/PATCH/PUT/DELETE also need X-Msgd-CSRF). `x-msgd-permission` names the one permission ' +
				'each route needs.',
			license: { name: 'see the repository' },
		},
		servers: [{ url: '/' }],
		tags: Object.values(T).map((name) => ({ name })),
		paths,
		components: {
			schemas,
			responses: { Error: { description: 'an error', content: json(ref('Error')) } },
			parameters: {
				MsgdOrg: { name: 'Msgd-Org', in: 'header', required: false, schema: str(),
					description: 'the organization to act in (admin token and users; `?org=` where a header cannot be sent)' },
			},
			securitySchemes: {
				bearer: { type: 'http', scheme: 'bearer', description: 'the admin token, an API key (msgd_...) or an access token (JWT)' },
				session: { type: 'apiKey', in: 'cookie', name: 'msgd_session', description: 'from POST /v1/session' },
				csrf: { type: 'apiKey', in: 'header', name: 'X-Msgd-CSRF', description: 'the session\'s csrf token (changes need it with the cookie)' },
			},
		},
	};
}

export function text() {
	return JSON.stringify(build(), null, 1) + '\n';
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(HERE, '..', 'docs', 'openapi.json');

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	if (process.argv.includes('--check')) {
		const cur = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
		if (cur !== text()) {
			console.error('docs/openapi.json is stale: run node tools/openapi.mjs');
			process.exit(1);
		}
	} else {
		fs.writeFileSync(OUT, text());
	}
}
