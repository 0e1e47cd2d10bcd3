// msgd web inbox: the open thread's messages and the indexes over them.
// Loaded before app.js (plain ES2020, no DOM). Every change goes through
// put(), which keeps two indexes up to date, so a reaction's target and a
// message's reactions are found without scanning the thread: a redraw of
// n messages costs O(n), however many reactions wait for a target.
'use strict';
(() => {
	// Oldest first; ties by msgd id.
	const byTime = (a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id - b.id);
	// The index keys a reaction names its target by: 'i:'+msgd id, 'p:'+provider id.
	function reactKeys(m) {
		const r = m.type === 'reaction' && m.reaction;
		if (!r) return [];
		const keys = [];
		if (r.message_id !== null && r.message_id !== undefined) keys.push('i:' + r.message_id);
		if (r.provider_message_id) keys.push('p:' + r.provider_message_id);
		return keys;
	}

	class Thread {
		constructor() {
			this.msgs = new Map();     // msgd id → message
			this.byPid = new Map();    // provider id → msgd id (messages other than reactions; the first kept)
			this.reacts = new Map();   // a reactKeys() key → Set of the msgd ids of the reactions naming it
		}
		get(id) { return this.msgs.get(id); }
		has(id) { return this.msgs.has(id); }
		values() { return this.msgs.values(); }
		sorted() { return [...this.msgs.values()].sort(byTime); }
		// Add a message, or replace the one with its id.
		put(m) {
			const old = this.msgs.get(m.id);
			if (old) this.unindex(old);
			this.msgs.set(m.id, m);
			if (m.type !== 'reaction' && m.provider_message_id && !this.byPid.has(m.provider_message_id)) this.byPid.set(m.provider_message_id, m.id);
			for (const k of reactKeys(m)) {
				if (!this.reacts.has(k)) this.reacts.set(k, new Set());
				this.reacts.get(k).add(m.id);
			}
		}
		unindex(m) {
			if (m.type !== 'reaction' && m.provider_message_id && this.byPid.get(m.provider_message_id) === m.id) this.byPid.delete(m.provider_message_id);
			for (const k of reactKeys(m)) {
				const set = this.reacts.get(k);
				if (set) { set.delete(m.id); if (!set.size) this.reacts.delete(k); }
			}
		}
		// A reaction's target among the loaded messages: by msgd id, else by the provider's id.
		target(m) {
			const r = m.type === 'reaction' && m.reaction;
			if (!r) return null;
			if (r.message_id !== null && r.message_id !== undefined && this.msgs.has(r.message_id)) return this.msgs.get(r.message_id);
			const id = r.provider_message_id ? this.byPid.get(r.provider_message_id) : undefined;
			return id === undefined ? null : this.msgs.get(id) || null;
		}
		// The loaded reactions that attach to message t (named by either of its ids).
		reactionsOf(t) {
			const ids = new Set([...(this.reacts.get('i:' + t.id) || []),
				...((t.provider_message_id && this.reacts.get('p:' + t.provider_message_id)) || [])]);
			const out = [];
			for (const id of ids) {
				const r = this.msgs.get(id);
				const x = r && this.target(r);
				if (x && x.id === t.id) out.push(r);
			}
			return out.sort(byTime);
		}
		// The emoji shown under t: the latest reaction per sender wins ("" removes it).
		emojiFor(t) {
			const by = new Map();
			for (const r of this.reactionsOf(t)) by.set(r.direction + ':' + r.from, r.reaction.emoji);
			return [...by.values()].filter(Boolean);
		}
	}
	Thread.byTime = byTime;
	globalThis.MsgdThread = Thread;
})();
