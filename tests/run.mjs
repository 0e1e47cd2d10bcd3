// run.mjs - run node:test files N at a time, on Node 18 (Debian 12's own
// nodejs, which has no --test-concurrency flag) as on later Node.
//
//   node tests/run.mjs [--concurrency N] DIR|FILE...
//
// Every *.test.mjs under a DIR is run, each file in a process of its own
// (node:test's run()), with the spec reporter. The last line is the plain
// count "tests: N passed, N failed"; the exit code is 1 when anything
// failed (or no test ran at all), else 0.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import fs from 'node:fs';
import path from 'node:path';

let concurrency = 2;
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
	if (args[i] === '--concurrency') {
		concurrency = Number(args[++i]);
		if (!Number.isInteger(concurrency) || concurrency < 1) {
			console.error('run.mjs: --concurrency takes a whole number >= 1');
			process.exit(2);
		}
		continue;
	}
	const p = path.resolve(args[i]);
	if (fs.statSync(p).isDirectory()) {
		for (const f of fs.readdirSync(p).sort()) {
			if (f.endsWith('.test.mjs')) files.push(path.join(p, f));
		}
	} else {
		files.push(p);
	}
}
if (files.length === 0) {
	console.error('run.mjs: no test files');
	process.exit(2);
}

let passed = 0;
let failed = 0;
// Leaf tests only: a suite (describe) or a file also reports pass/fail.
// details.type is 'suite' for describe() blocks on the Node versions that
// set it; a file's own entry has nesting 0 and the file's path as its name.
const isLeaf = (d) => !(d.details && d.details.type === 'suite') && !(d.nesting === 0 && files.includes(d.name));
const stream = run({ files, concurrency });
stream.on('test:pass', (d) => { if (isLeaf(d) && !d.skip && !d.todo) passed++; });
stream.on('test:fail', (d) => { if (isLeaf(d)) failed++; process.exitCode = 1; });
const reporter = typeof spec === 'function' && spec.prototype && spec.prototype.constructor === spec
	? new spec() : spec;
const out = stream.compose(reporter);
out.pipe(process.stdout);
out.on('end', () => {
	// After the reporter has written its summary.
	console.log(`tests: ${passed} passed, ${failed} failed`);
	if (passed + failed === 0) process.exitCode = 1;
});
