// imports.test.mjs - imports (issue 14): CSV and XLSX files uploaded to
// /v1/files, read into staging and validated row by row off the loop.
// Every file is generated here with the row errors it must produce written
// beside it (CASES); hostile files are refused with a clear error and
// nothing staged; the errors list pages and downloads as CSV; a kill -9
// while an import is read leaves it to be read again, once, at the start.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { msgdTest, request, assertStatus, assertError, waitFor } from './lib.mjs';
import { xlsx, zip } from './xlsxgen.mjs';

function upload(d, body, filename) {
	return request(d.url, 'POST', `/v1/files?filename=${encodeURIComponent(filename)}`, body,
	    { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream' });
}

async function uploaded(d, body, filename) {
	const r = await upload(d, body, filename);
	assert.ok(r.status === 201 || r.status === 200, `upload ${filename}: ${r.status} ${r.text}`);
	return r.json.id;
}

async function finished(d, id, deadlineMs = 30_000) {
	return waitFor(async () => {
		const r = assertStatus(await d.api('GET', `/v1/imports/${id}`), 200);
		return r.status !== 'parsing' ? r : null;
	}, deadlineMs, { what: `import ${id} finished` });
}

async function allErrors(d, id) {
	const out = [];
	let after = 0;
	for (;;) {
		const page = assertStatus(await d.api('GET', `/v1/imports/${id}/errors?limit=2&after=${after}`), 200);
		out.push(...page.data);
		if (page.next === null) return out;
		after = page.next;
	}
}

/** Upload, import with req, wait: the finished import and its errors. */
async function importFile(d, body, filename, req) {
	const file_id = await uploaded(d, body, filename);
	const created = assertStatus(await d.api('POST', '/v1/imports', { file_id, channel: 'sandbox', ...req }), 202);
	assert.equal(typeof created.id, 'number');
	assert.equal(created.file_id, file_id);
	const imp = await finished(d, created.id);
	return { imp, errors: await allErrors(d, created.id) };
}

const pick = (errors) => errors.map((e) => [e.row, e.column, e.code]);

// Each case: a file, the request, and what it must give.
const CASES = [
	{
		what: 'BOM, commas, CRLF, a quoted newline, empty rows, an invalid phone, a duplicate, a missing required column',
		file: '\uFEFFName,Phone,City\r\n"Ana\r\nMaria",+55 11 99999-0001,Rio\r\n\r\nBo,not-a-phone,SP\r\n' +
		    ',,\r\nCy,5511999990001,Rio\r\nDi,5511999990002,\r\n',
		filename: 'contacts.csv',
		req: { mapping: { phone: 'Phone', variables: { name: 'Name' }, required: ['City'] } },
		status: 'validated',
		counts: { rows: 4, valid: 1, invalid: 2, duplicates: 1, errors: 3 },
		errors: [[4, 'Phone', 'invalid_phone'], [6, 'Phone', 'duplicate'], [7, 'City', 'required_missing']],
		preview0: { row: 2, cells: ['Ana\r\nMaria', '+55 11 99999-0001', 'Rio'], status: 'valid' },
		columns: ['Name', 'Phone', 'City'],
	},
	{
		what: 'semicolons detected',
		file: 'phone;first\n5511999990001;Ana\n5511999990002;\n',
		filename: 'semi.csv',
		req: { mapping: { phone: 'phone', variables: { name: 'first' } } },
		status: 'validated',
		counts: { rows: 2, valid: 2, invalid: 0, duplicates: 0, errors: 0 },
		errors: [],
	},
	{
		what: 'tabs, no header row, columns by number',
		file: 'Ana\t5511999990001\tx\nBo\t12\ty\n',
		filename: 'tabs.tsv',
		req: { header: false, mapping: { phone: 2, variables: { name: 1 } } },
		status: 'validated',
		counts: { rows: 2, valid: 1, invalid: 1, duplicates: 0, errors: 1 },
		errors: [[2, '2', 'invalid_phone']],
		columns: ['1', '2', '3'],
	},
	{
		what: 'extra columns ignored',
		file: 'phone,name,extra\n5511999990001,Ana,x\n',
		filename: 'extra-ignore.csv',
		req: { mapping: { phone: 'phone', variables: { name: 'name' } }, unknown_columns: 'ignore' },
		status: 'validated',
		counts: { rows: 1, valid: 1, invalid: 0, duplicates: 0, errors: 0 },
		errors: [],
	},
	{
		what: 'extra columns refused row by row',
		file: 'phone,name,extra\n5511999990001,Ana,x\n5511999990002,Bo,\n',
		filename: 'extra-error.csv',
		req: { mapping: { phone: 'phone', variables: { name: 'name' } }, unknown_columns: 'error' },
		status: 'validated',
		counts: { rows: 2, valid: 1, invalid: 1, duplicates: 0, errors: 1 },
		errors: [[2, 'extra', 'unknown_column']],
	},
	{
		what: 'extra columns kept as variables, a template variable filled by one',
		file: 'phone,name,code\n5511999990001,Ana,A1\n5511999990002,Bo,\n',
		filename: 'extra-keep.csv',
		req: { mapping: { phone: 'phone', variables: { name: 'name' } }, unknown_columns: 'keep_as_variables',
			template: 'promo' },
		status: 'validated',
		counts: { rows: 2, valid: 1, invalid: 1, duplicates: 0, errors: 1 },
		errors: [[3, 'code', 'variable_missing']],
	},
	{
		what: 'Latin-1 bytes: refused naming the row, nothing staged',
		file: Buffer.concat([Buffer.from('phone,name\n5511999990001,Ana\n5511999990002,'), Buffer.from([0x4a, 0xe9, 0x72]),
			Buffer.from('\n')]),
		filename: 'latin1.csv',
		req: { mapping: { phone: 'phone' } },
		status: 'failed',
		error: { code: 'not_utf8', row: 3 },
		counts: { rows: 0, valid: 0, invalid: 0, duplicates: 0, errors: 0 },
		errors: [],
	},
	{
		what: 'a mapping naming a column the header lacks',
		file: 'phone,name\n5511999990001,Ana\n',
		filename: 'nomobile.csv',
		req: { mapping: { phone: 'mobile' } },
		status: 'failed',
		error: { code: 'unknown_column', row: 1 },
		counts: { rows: 0, valid: 0, invalid: 0, duplicates: 0, errors: 0 },
		errors: [],
	},
	{
		what: 'XLSX: shared and inline strings, numbers, Excel dates, empty rows, duplicates',
		file: xlsx([{ name: 'Contacts', rows: [
			['Phone', 'Name', 'Since'],
			[5511999990001, 'Ana & Bo', { date: 45292 }],
			null,
			[{ inline: '+55 11 99999-0002' }, { inline: 'Cy' }, { date: 45658 }],
			[5511999990001, 'Di', null],
			['abc', 'Ed', null],
		] }]),
		filename: 'book.xlsx',
		req: { mapping: { phone: 'Phone', variables: { name: 'Name', since: 'Since' } } },
		status: 'validated',
		counts: { rows: 4, valid: 2, invalid: 1, duplicates: 1, errors: 2 },
		errors: [[5, 'Phone', 'duplicate'], [6, 'Phone', 'invalid_phone']],
		preview0: { row: 2, cells: ['5511999990001', 'Ana & Bo', '2024-01-01'], status: 'valid' },
	},
	{
		what: 'XLSX: a named sheet',
		file: xlsx([{ name: 'Other', rows: [['x']] }, { name: 'List', rows: [['Phone'], ['5511999990009']] }]),
		filename: 'two.xlsx',
		req: { sheet: 'List', mapping: { phone: 'Phone' } },
		status: 'validated',
		counts: { rows: 1, valid: 1, invalid: 0, duplicates: 0, errors: 0 },
		errors: [],
	},
];

msgdTest('imports: generated CSV and XLSX files give the row errors written beside them', async (h) => {
	const d = await h.start();
	assertStatus(await d.api('POST', '/v1/templates', { name: 'promo', body: 'Hi {{name}}, use {{code}}' }), 201);
	for (const c of CASES) {
		const { imp, errors } = await importFile(d, Buffer.isBuffer(c.file) ? c.file : Buffer.from(c.file), c.filename, c.req);
		assert.equal(imp.status, c.status, `${c.what}: ${JSON.stringify(imp)}`);
		assert.deepEqual(imp.counts, c.counts, c.what);
		assert.deepEqual(pick(errors), c.errors, c.what);
		if (c.error) {
			assert.equal(imp.error.code, c.error.code, c.what);
			assert.equal(imp.error.row, c.error.row, c.what);
			assert.ok(imp.error.message.length > 0);
		} else {
			assert.equal(imp.error, null, c.what);
		}
		if (c.preview0) {
			const p = imp.preview[0];
			assert.deepEqual({ row: p.row, cells: p.cells, status: p.status }, c.preview0, c.what);
		}
		if (c.columns) assert.deepEqual(imp.columns, c.columns, c.what);
		for (const e of errors) assert.ok(e.message.length > 0 && typeof e.value === 'string');
	}
	// The preview shows each row's errors; the list shows every import.
	const list = assertStatus(await d.api('GET', '/v1/imports?limit=100'), 200);
	assert.equal(list.data.length, CASES.length);
	const first = list.data[list.data.length - 1];
	const one = assertStatus(await d.api('GET', `/v1/imports/${first.id}`), 200);
	assert.equal(one.mapping.phone, 'Phone');
	assert.equal(one.channel, 'sandbox');
	assert.equal(one.format, 'csv');
	const bo = one.preview.find((p) => p.row === 4);
	assert.equal(bo.status, 'invalid');
	assert.deepEqual(bo.errors.map((e) => e.code), ['invalid_phone']);
	assert.equal(bo.errors[0].value, 'not-a-phone');
});

msgdTest('imports: the errors download as CSV, streamed, quoted', async (h) => {
	const d = await h.start();
	// 3,000 rows with a bad phone each (more than one page of the download),
	// values needing quotes.
	let csv = 'phone,name\n';
	for (let i = 0; i < 3000; i++) csv += `"bad, ""${i}""",n${i}\n`;
	const { imp } = await importFile(d, Buffer.from(csv), 'bad.csv', { mapping: { phone: 'phone' } });
	assert.equal(imp.counts.invalid, 3000);
	for (const how of [{ q: '?format=csv', h: {} }, { q: '', h: { accept: 'text/csv' } }]) {
		const r = await d.api('GET', `/v1/imports/${imp.id}/errors${how.q}`, undefined, how.h);
		assert.equal(r.status, 200);
		assert.match(r.headers.get('content-type'), /^text\/csv/);
		assert.match(r.headers.get('content-disposition'), /attachment; filename="import-\d+-errors\.csv"/);
		const lines = r.text.split('\r\n');
		assert.equal(lines[0], 'row,column,value,code,message');
		assert.equal(lines.length, 3002);  // header, 3000 errors, the empty string after the last CRLF
		assert.ok(lines[1].startsWith('2,"phone","bad, ""0""","invalid_phone","'), lines[1]);
		assert.ok(lines[3000].startsWith('3001,"phone","bad, ""2999""","invalid_phone"'), lines[3000]);
	}
	assertError(await d.api('GET', '/v1/imports/999999/errors?format=csv'), 404, 'not_found');
	assertError(await d.api('GET', `/v1/imports/${imp.id}/errors?format=xml`), 400, 'invalid_parameter');
});

msgdTest('imports: the errors CSV defuses formulas: a value starting with = + - @ tab or CR gets a leading quote', async (h) => {
	const d = await h.start();
	const bad = ['=HYPERLINK("http://x.example","y")', '+cmd|calc', '-2+3', '@SUM(A1)', '\tx=1', '\rx=1', 'plain=1'];
	const csv = 'phone\n' + bad.map((v) => `"${v.replace(/"/g, '""')}"\n`).join('');
	const { imp, errors } = await importFile(d, Buffer.from(csv), 'formulas.csv', { mapping: { phone: 'phone' } });
	assert.equal(imp.counts.invalid, bad.length, JSON.stringify(imp));
	// The JSON list keeps the values as they were.
	assert.deepEqual(errors.map((e) => e.value), bad);
	const r = await d.api('GET', `/v1/imports/${imp.id}/errors?format=csv`);
	assert.equal(r.status, 200);
	const values = r.text.split('\r\n').slice(1, -1).map((l) => l.split(',"phone",')[1].split(',"invalid_phone"')[0]);
	// (a CR inside a value stays inside its quotes; split on CRLF only)
	assert.deepEqual(values, [
		'"\'=HYPERLINK(""http://x.example"",""y"")"', '"\'+cmd|calc"', '"\'-2+3"', '"\'@SUM(A1)"', '"\'\tx=1"',
		'"\'\rx=1"', '"plain=1"',
	]);
});

msgdTest('imports: hostile files are refused with a clear error and nothing staged', async (h) => {
	const d = await h.start();
	const sheet = (rows) => xlsx([{ name: 'S', rows }]);
	const good = sheet([['Phone'], ['5511999990001']]);
	// A zip bomb: a sheet of 20 MiB of spaces deflates to a few KiB.
	const bomb = zip([
		{ name: '[Content_Types].xml', data: '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>' },
		{ name: 'xl/workbook.xml', data: '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ' +
			'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>' +
			'<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>' },
		{ name: 'xl/_rels/workbook.xml.rels', data: '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
			'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" ' +
			'Target="worksheets/sheet1.xml"/></Relationships>' },
		{ name: 'xl/worksheets/sheet1.xml', data: Buffer.concat([Buffer.from('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'),
			Buffer.alloc(20 << 20, 0x20), Buffer.from('</sheetData></worksheet>')]) },
	]);
	const entity = xlsx([{ name: 'S', rows: [['Phone'], ['&lol;']] }],
	    { doctype: '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' });
	const truncated = good.subarray(0, Math.floor(good.length / 2));
	// A line longer than any cell may be: refused after its first 64 KiB.
	const longLine = Buffer.concat([Buffer.from('phone\n'), Buffer.alloc(3 << 20, 0x41), Buffer.from('\n')]);
	const cases = [
		[bomb, 'bomb.xlsx', 'zip_bomb'],
		[entity, 'entity.xlsx', 'xml_entity'],
		[truncated, 'truncated.xlsx', 'malformed'],
		[longLine, 'long.csv', 'cell_too_long'],
	];
	for (const [body, name, code] of cases) {
		const { imp, errors } = await importFile(d, body, name, { mapping: { phone: 1 } });
		assert.equal(imp.status, 'failed', `${name}: ${JSON.stringify(imp)}`);
		assert.equal(imp.error.code, code, name);
		assert.ok(imp.error.message.length > 0, name);
		assert.deepEqual(imp.counts, { rows: 0, valid: 0, invalid: 0, duplicates: 0, errors: 0 }, name);
		assert.deepEqual(errors, [], name);
		assert.deepEqual(imp.preview, [], name);
	}
	assert.match(d.logs(), /import failed/);
});

msgdTest('imports: import_rows_max caps the data rows (inclusive): one more fails with too_many_rows, nothing staged', async (h) => {
	const cfg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'msgd-imports-cfg-')), 'msgd.conf');
	fs.writeFileSync(cfg, 'import_rows_max = 6000;\n');
	h.t.after(() => fs.rmSync(path.dirname(cfg), { recursive: true, force: true }));
	const d = await h.start({ args: ['--config', cfg] });
	// More than a chunk (5,000 rows) of each, so the failed one had staged rows to drop.
	const rows = (n) => Array.from({ length: n }, (_, i) => `55119${String(i).padStart(8, '0')}\n`).join('');
	const ok = await importFile(d, Buffer.from('phone\n' + rows(6000)), 'cap.csv', { mapping: { phone: 'phone' } });
	assert.equal(ok.imp.status, 'validated', JSON.stringify(ok.imp.error));
	assert.equal(ok.imp.counts.rows, 6000);
	assert.equal(ok.imp.counts.valid, 6000);
	for (const [body, req] of [
		['phone\n' + rows(6001), { mapping: { phone: 'phone' } }],
		[rows(6001), { header: false, mapping: { phone: 1 } }],   // without a header every row counts
	]) {
		const { imp, errors } = await importFile(d, Buffer.from(body), 'over.csv', req);
		assert.equal(imp.status, 'failed', JSON.stringify(imp.counts));
		assert.equal(imp.error.code, 'too_many_rows');
		assert.match(imp.error.message, /6000/);
		assert.equal(imp.error.row, req.header === false ? 6001 : 6002);
		assert.deepEqual(imp.counts, { rows: 0, valid: 0, invalid: 0, duplicates: 0, errors: 0 });
		assert.deepEqual(errors, []);
		assert.ok(imp.preview.every((p) => p.status === null), 'no row kept');
	}
});

msgdTest('imports: bad requests are refused whole and create nothing', async (h) => {
	const d = await h.start();
	const csv = await uploaded(d, Buffer.from('phone,name\n5511999990001,Ana\n'), 'a.csv');
	const png = await uploaded(d, Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489' +
		'0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082', 'hex'), 'a.png');
	assertStatus(await d.api('POST', '/v1/templates', { name: 'hi', body: 'Hi {{name}} {{city}}' }), 201);
	const base = { file_id: csv, channel: 'sandbox', mapping: { phone: 'phone' } };
	const bad = [
		[{ ...base, file_id: undefined }, 422, 'validation_failed'],
		[{ ...base, channel: undefined }, 422, 'validation_failed'],
		[{ ...base, mapping: undefined }, 422, 'validation_failed'],
		[{ ...base, mapping: { phone: 0 } }, 422, 'validation_failed'],
		[{ ...base, mapping: { phone: 'phone', other: 1 } }, 422, 'validation_failed'],
		[{ ...base, unknown_columns: 'drop' }, 422, 'validation_failed'],
		[{ ...base, delimiter: '::' }, 422, 'validation_failed'],
		[{ ...base, needed: ['x'] }, 422, 'validation_failed'],
		[{ ...base, file_id: 'f_aaaaaaaaaaaaaaaaaaaaaaaaaa' }, 404, 'not_found'],
		[{ ...base, channel: 'nope' }, 404, 'not_found'],
		[{ ...base, file_id: png }, 422, 'unsupported_file_type'],
		[{ ...base, template: 'missing' }, 404, 'not_found'],
		[{ ...base, template: 'hi', mapping: { phone: 'phone', variables: { name: 'name' } } }, 422,
			'template_variables_unmapped'],
	];
	for (const [body, status, code] of bad)
		assertError(await d.api('POST', '/v1/imports', body), status, code);
	assert.deepEqual(assertStatus(await d.api('GET', '/v1/imports'), 200).data, []);
	assertError(await d.api('GET', '/v1/imports/12345'), 404, 'not_found');
	assertError(await d.api('DELETE', '/v1/imports/12345'), 404, 'not_found');

	// DELETE drops it with its rows and errors.
	const { imp } = await importFile(d, Buffer.from('phone\n5511999990001\nbad\n'), 'b.csv', { mapping: { phone: 'phone' } });
	assert.equal(imp.counts.errors, 1);
	// The import holds its file from the retention sweep until it is deleted.
	const refs = async () => assertStatus(await d.api('GET', '/v1/files?limit=100'), 200).files
		.find((f) => f.id === imp.file_id).refs;
	assert.equal(await refs(), 1);
	assert.equal((await d.api('DELETE', `/v1/imports/${imp.id}`)).status, 204);
	assert.equal(await refs(), 0);
	assertError(await d.api('GET', `/v1/imports/${imp.id}`), 404, 'not_found');
	assertError(await d.api('GET', `/v1/imports/${imp.id}/errors`), 404, 'not_found');
	// Another organization does not see it.
	const o = assertStatus(await d.api('POST', '/v1/orgs', { name: 'other' }), 201);
	const mine = (await importFile(d, Buffer.from('phone\n5511999990001\n'), 'c.csv', { mapping: { phone: 'phone' } })).imp;
	assertError(await d.api('GET', `/v1/imports/${mine.id}`, undefined, { 'msgd-org': o.name }), 404, 'not_found');
});

const BIG = 200_000;

/** A big import started on d, and the moment some of its rows were staged. */
async function bigImport(d) {
	const lines = ['phone,name'];
	for (let i = 0; i < BIG; i++) lines.push(`55119${String(i % (BIG - 10)).padStart(8, '0')},n${i}`);
	const { id: file_id } = assertStatus(await upload(d, Buffer.from(lines.join('\n') + '\n'), 'big.csv'), 201);
	const created = assertStatus(await d.api('POST', '/v1/imports', { file_id, channel: 'sandbox',
		mapping: { phone: 'phone', variables: { name: 'name' } } }), 202);
	const seen = await waitFor(async () => {
		const r = assertStatus(await d.api('GET', `/v1/imports/${created.id}`), 200);
		return r.status !== 'parsing' || r.counts.rows > 0 ? r : null;
	}, 30_000, { what: 'rows staged' });
	return { id: created.id, seen };
}

/** After a restart: the big import read once, whole. */
async function bigImportDone(d, id) {
	const imp = await finished(d, id, 60_000);
	assert.equal(imp.status, 'validated');
	assert.deepEqual(imp.counts, { rows: BIG, valid: BIG - 10, invalid: 0, duplicates: 10, errors: 10 });
	const errs = assertStatus(await d.api('GET', `/v1/imports/${id}/errors?limit=100`), 200);
	assert.deepEqual(errs.data.map((e) => e.row), Array.from({ length: 10 }, (_, i) => BIG - 10 + i + 2));
	assert.match(errs.data[0].message, /row 2\b/);
}

msgdTest('imports: a kill -9 while a file is read: read again from the start at the next start, rows staged once', async (h) => {
	const d = await h.start({ keepDataDir: true });
	const { id, seen } = await bigImport(d);
	await d.kill9();
	assert.equal(seen.status, 'parsing', 'the file was read before the kill: make it bigger');
	assert.ok(seen.counts.rows < BIG);
	await bigImportDone(await h.start({ dataDir: d.dataDir }), id);
});

msgdTest('imports: SIGTERM while a file is read stops at once (no wait for the whole file); read again at the next start', async (h) => {
	const d = await h.start({ keepDataDir: true });
	const { id, seen } = await bigImport(d);
	assert.equal(seen.status, 'parsing', 'the file was read before the stop: make it bigger');
	await d.stop();
	// It stopped between rows: this msgd never finished the import.
	assert.doesNotMatch(d.logs(), /import validated/);
	await bigImportDone(await h.start({ dataDir: d.dataDir }), id);
});
