// xlsxgen.mjs - a tiny XLSX writer for tests and the bench (no npm package
// here): a zip of the few parts msgd's reader needs, entries deflated with
// node's zlib (or stored), CRC-32 computed here.
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

export function crc32(buf) {
	let c = 0xffffffff;
	for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

/** entries: [{name, data (Buffer|string), store?: true}] → the zip's bytes. */
export function zip(entries) {
	const locals = [], centrals = [];
	let offset = 0;
	for (const e of entries) {
		const data = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8');
		const name = Buffer.from(e.name, 'utf8');
		const method = e.store ? 0 : 8;
		const body = e.store ? data : zlib.deflateRawSync(data);
		const crc = crc32(data);
		const lh = Buffer.alloc(30);
		lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6);
		lh.writeUInt16LE(method, 8); lh.writeUInt32LE(0, 10); lh.writeUInt32LE(crc, 14);
		lh.writeUInt32LE(body.length, 18); lh.writeUInt32LE(data.length, 22);
		lh.writeUInt16LE(name.length, 26); lh.writeUInt16LE(0, 28);
		const ch = Buffer.alloc(46);
		ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6);
		ch.writeUInt16LE(0x0800, 8); ch.writeUInt16LE(method, 10); ch.writeUInt32LE(0, 12);
		ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(body.length, 20); ch.writeUInt32LE(data.length, 24);
		ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(offset, 42);
		locals.push(lh, name, body);
		centrals.push(ch, name);
		offset += lh.length + name.length + body.length;
	}
	const cd = Buffer.concat(centrals);
	const end = Buffer.alloc(22);
	end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
	end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
	return Buffer.concat([...locals, cd, end]);
}

const NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
	'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';
const RELNS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships/';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function colName(i) {
	let s = '';
	for (i++; i > 0; i = Math.floor((i - 1) / 26)) s = String.fromCharCode(65 + ((i - 1) % 26)) + s;
	return s;
}

/**
 * A workbook: sheets [{name, rows}], each row an array of cells (or null:
 * no row there; row numbers count it). A cell: a string (a shared string),
 * a number, {date: serial} (styled as a date), {inline: text}, or null.
 * doctype: a DOCTYPE put in the sheet (hostile files).
 */
export function xlsx(sheets, { doctype = '' } = {}) {
	const sst = [], sstIndex = new Map();
	const sheetXml = sheets.map((sh) => {
		const parts = [];
		sh.rows.forEach((row, ri) => {
			if (!row) return;
			const r = ri + 1;
			const cells = row.map((c, ci) => {
				const ref = colName(ci) + r;
				if (c === null || c === undefined) return '';
				if (typeof c === 'number') return `<c r="${ref}"><v>${c}</v></c>`;
				if (typeof c === 'object' && 'date' in c) return `<c r="${ref}" s="1"><v>${c.date}</v></c>`;
				if (typeof c === 'object' && 'inline' in c) return `<c r="${ref}" t="inlineStr"><is><t>${esc(c.inline)}</t></is></c>`;
				let k = sstIndex.get(c);
				if (k === undefined) { k = sst.length; sst.push(c); sstIndex.set(c, k); }
				return `<c r="${ref}" t="s"><v>${k}</v></c>`;
			}).join('');
			parts.push(`<row r="${r}">${cells}</row>`);
		});
		return `<?xml version="1.0" encoding="UTF-8"?>\n${doctype}<worksheet ${NS}><sheetData>${parts.join('')}</sheetData></worksheet>`;
	});
	const types = '<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
		'<Default Extension="xml" ContentType="application/xml"/>' +
		'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
		sheets.map((_, i) => `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`).join('') +
		'</Types>';
	const workbook = `<?xml version="1.0" encoding="UTF-8"?>\n<workbook ${NS}><sheets>` +
		sheets.map((s, i) => `<sheet name="${esc(s.name)}" sheetId="${i + 1}" r:id="rId${i + 10}"/>`).join('') +
		'</sheets></workbook>';
	const rels = '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
		sheets.map((_, i) => `<Relationship Id="rId${i + 10}" Type="${RELNS}worksheet" Target="worksheets/sheet${i + 1}.xml"/>`).join('') +
		`<Relationship Id="rId2" Type="${RELNS}sharedStrings" Target="sharedStrings.xml"/>` +
		`<Relationship Id="rId3" Type="${RELNS}styles" Target="styles.xml"/></Relationships>`;
	const sstXml = `<?xml version="1.0" encoding="UTF-8"?>\n<sst ${NS} count="${sst.length}" uniqueCount="${sst.length}">` +
		sst.map((s) => `<si><t xml:space="preserve">${esc(s)}</t></si>`).join('') + '</sst>';
	const styles = `<?xml version="1.0" encoding="UTF-8"?>\n<styleSheet ${NS}><cellXfs count="2"><xf numFmtId="0"/>` +
		'<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>';
	return zip([
		{ name: '[Content_Types].xml', data: types },
		{ name: '_rels/.rels', data: '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>' },
		{ name: 'xl/workbook.xml', data: workbook },
		{ name: 'xl/_rels/workbook.xml.rels', data: rels },
		{ name: 'xl/sharedStrings.xml', data: sstXml },
		{ name: 'xl/styles.xml', data: styles },
		...sheetXml.map((x, i) => ({ name: `xl/worksheets/sheet${i + 1}.xml`, data: x })),
	]);
}
