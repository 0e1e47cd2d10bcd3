// msgd web inbox: how a message's parts look. Loaded before app.js (plain
// ES2020): the content of a bubble by type, and what channels v2 added to
// messages: a group message's sender, an edit (the earlier texts kept in
// edit_history, shown on hover and when expanded), a deletion (the bubble
// stays, struck through). Media stored by msgd (media.url "/v1/files/...")
// show inline: image and sticker thumbnails, audio and video players, a
// download link for documents (opts.fileUrl adds the organization).
// Everything goes in as text nodes.
'use strict';
window.MsgdParts = function MsgdParts(h, opts = {}) {
	const KIND = {
		image: 'Image', video: 'Video', audio: 'Audio', voice: 'Voice message', sticker: 'Sticker', document: 'Document',
	};
	const safeUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);
	// A file msgd stores (same origin): "/v1/files/f_..." only.
	const fileUrl = (u) => (typeof u === 'string' && /^\/v1\/files\/f_[a-z2-7]+$/.test(u)
		? (opts.fileUrl ? opts.fileUrl(u) : u) : null);
	// The stored media of a bubble: a thumbnail, a player or a download link.
	function storedMedia(m, media) {
		const src = fileUrl(media.url);
		if (!src || (media.status && media.status !== 'stored')) return null;
		const name = media.filename || (KIND[m.type] || 'file').toLowerCase();
		if (m.type === 'image' || m.type === 'sticker')
			return h('a', { href: src, target: '_blank', rel: 'noopener', class: 'thumb-link' },
				h('img', { class: m.type === 'sticker' ? 'thumb sticker' : 'thumb', src, alt: m.text || KIND[m.type], loading: 'lazy' }));
		if (m.type === 'audio' || m.type === 'voice')
			return h('audio', { class: 'player', controls: true, preload: 'none', src });
		if (m.type === 'video')
			return h('video', { class: 'player', controls: true, preload: 'metadata', src });
		return h('a', { href: src, download: name, class: 'download', text: 'Download' });
	}
	// Why an inbound media is not shown (yet).
	function mediaState(media) {
		if (media.status === 'pending') return h('div', { class: 'muted small media-state', text: 'Fetching the media\u2026' });
		if (media.status === 'failed') return h('div', { class: 'error small media-state', text: 'The media could not be fetched' + (media.error ? ': ' + media.error : '') });
		return null;
	}
	// "14:05" today, else "12 Jun 14:05".
	function hm(ts) {
		const d = new Date(ts);
		const t = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
		return d.toDateString() === new Date().toDateString() ? t : `${d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${t}`;
	}

	function contentEls(m) {
		const out = [];
		const media = m.media || {};
		if (KIND[m.type]) {
			const url = safeUrl(media.url);
			out.push(h('div', { class: 'media' },
				h('span', { class: 'kind', text: (m.type === 'sticker' && media.animated ? 'Animated sticker' : KIND[m.type]) }),
				media.filename ? [' \u00B7 ', media.filename] : null,
				media.mime_type ? h('span', { class: 'muted small', text: ` (${media.mime_type})` }) : null,
				url ? [' ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: 'open' })] : null,
				storedMedia(m, media), mediaState(media)));
			if (m.text) out.push(h('div', { class: 'body', text: m.text }));
		} else if (m.type === 'location') {
			const l = m.location || {};
			out.push(h('div', { class: 'media' }, h('span', { class: 'kind', text: 'Location' }),
				l.name ? h('div', { text: l.name }) : null, l.address ? h('div', { text: l.address }) : null,
				h('div', { class: 'muted small', text: `${l.latitude}, ${l.longitude}` }),
				safeUrl(l.url) ? h('a', { href: l.url, target: '_blank', rel: 'noopener noreferrer', text: l.url }) : null));
		} else if (m.type === 'contacts') {
			for (const c of m.contacts || []) {
				const name = (c.name && (c.name.formatted_name || [c.name.first_name, c.name.last_name].filter(Boolean).join(' '))) || 'Contact';
				out.push(h('div', { class: 'media' }, h('span', { class: 'kind', text: 'Contact' }), h('div', { text: name }),
					...(c.phones || []).map((p) => h('div', { class: 'small', text: `${p.phone || p.wa_id || ''}${p.type ? ` (${p.type})` : ''}` })),
					...(c.emails || []).map((p) => h('div', { class: 'small', text: p.email || '' }))));
			}
		} else if (m.type === 'template') {
			out.push(h('div', { class: 'media' }, h('span', { class: 'kind', text: 'Template' }), ' ', (m.template && m.template.name) || ''));
			if (m.text) out.push(h('div', { class: 'body', text: m.text }));
		} else if (m.type === 'button') {
			// A tapped button (a quick reply, a Telegram inline button): its label and payload.
			const b = m.button || {};
			out.push(h('div', { class: 'media button-msg' }, h('span', { class: 'kind', text: 'Button' }), ' ', m.text || b.text || ''));
			if (b.payload && b.payload !== (m.text || b.text)) out.push(h('div', { class: 'muted small payload', text: 'payload: ' + b.payload }));
		} else if (m.type === 'interactive') {
			const it = m.interactive || {};
			out.push(h('div', { class: 'body', text: m.text || it.title || '' }));
			if (it.description) out.push(h('div', { class: 'muted small', text: it.description }));
		} else if (m.type === 'order') {
			const items = (m.order && (m.order.product_items || m.order.items)) || [];
			out.push(h('div', { class: 'media' }, h('span', { class: 'kind', text: 'Order' }), ` \u00B7 ${items.length} item(s)`));
			if (m.text) out.push(h('div', { class: 'body', text: m.text }));
		} else if (m.type === 'edit') {
			out.push(h('div', { class: 'muted small', text: 'Edited message' }), h('div', { class: 'body', text: m.text || '' }));
		} else if (m.type === 'revoke') {
			out.push(h('div', { class: 'muted', text: 'Message deleted' }));
		} else if (m.type === 'text') {
			out.push(h('div', { class: 'body', text: m.text || '' }));
		} else {
			out.push(h('div', { class: 'muted', text: m.text || `Unsupported message (${m.unsupported_type || m.type})` }));
		}
		return out;
	}

	// The sender of a group message, above its bubble: name, else @username, else id.
	function senderEl(m) {
		const s = m.sender && typeof m.sender === 'object' ? m.sender : m.sender_name ? { name: m.sender_name } : null;
		if (!s) return null;
		const name = s.name || (s.username ? '@' + s.username : '') || s.id;
		if (!name) return null;
		return h('div', { class: 'sender', title: [s.username ? '@' + s.username : null, s.id].filter(Boolean).join(' \u00B7 ') || null, text: String(name) });
	}
	// A deleted message: the bubble stays where it was, its words struck through.
	function deletedEls(m) {
		const out = [h('div', { class: 'deleted-note', text: 'This message was deleted' })];
		const was = m.text || (m.media && m.media.caption);
		if (was) out.push(h('del', { class: 'body was', text: was }));
		return out;
	}
	// An edited message: "edited" with the earlier texts, on hover (title) and expanded.
	function editedEl(m) {
		const hist = Array.isArray(m.edit_history) ? m.edit_history : [];
		const title = hist.length ? 'Earlier: ' + hist.map((x) => `\u201C${x.text || ''}\u201D`).join(', ') : 'Edited';
		return h('details', { class: 'edited' },
			h('summary', { title, text: `edited${m.edited_at ? ' ' + hm(m.edited_at) : ''}` }),
			h('ol', { class: 'edit-history', 'aria-label': 'Earlier versions, oldest first' },
				...hist.map((x) => h('li', {}, h('span', { class: 'was', text: x.text || '' }), x.at ? h('time', { datetime: x.at, class: 'muted small', text: ' ' + hm(x.at) }) : null))));
	}

	return { KIND, safeUrl, contentEls, senderEl, deletedEls, editedEl };
};
