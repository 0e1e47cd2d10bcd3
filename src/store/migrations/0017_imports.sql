-- 0017_imports.sql - imports (issue 14): a CSV or XLSX file (files, 0016)
-- read off the loop into a staging table, one row per data row of the file
-- with its normalized phone, its variables and its status, and the rows'
-- errors beside it. Campaigns read the valid rows of a validated import in
-- row order (store_import_rows_page).
CREATE TABLE imports (
	id INTEGER PRIMARY KEY,
	org_id INTEGER NOT NULL,
	file_id TEXT NOT NULL,
	channel_id INTEGER NOT NULL,       -- the channel whose address rules normalize phones
	format TEXT NOT NULL,              -- csv | xlsx
	request TEXT NOT NULL,             -- the mapping and options, as JSON (validate.h)
	status TEXT NOT NULL,              -- parsing | validated | failed
	error_code TEXT,                   -- failed: why (table_err_name(), a mapping problem)
	error_message TEXT,
	error_row INTEGER,
	columns TEXT,                      -- JSON array: the columns found
	preview TEXT,                      -- JSON array: the first rows as parsed
	n_rows INTEGER NOT NULL DEFAULT 0,
	n_valid INTEGER NOT NULL DEFAULT 0,
	n_invalid INTEGER NOT NULL DEFAULT 0,
	n_duplicates INTEGER NOT NULL DEFAULT 0,
	n_errors INTEGER NOT NULL DEFAULT 0,
	owner TEXT,                        -- the instance parsing it
	created_at INTEGER NOT NULL,       -- ms
	finished_at INTEGER                -- ms
);
CREATE INDEX imports_org ON imports (org_id, id);
CREATE INDEX imports_parsing ON imports (status) WHERE status = 'parsing';
-- The staging table: rows are written in file order, in chunks, and read
-- back in that order; SQLite keeps them in their primary key's b-tree only.
-- sqlite only
CREATE TABLE import_rows (import_id INTEGER NOT NULL, row_no INTEGER NOT NULL, phone TEXT, data TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (import_id, row_no)) WITHOUT ROWID;
CREATE TABLE import_errors (import_id INTEGER NOT NULL, n INTEGER NOT NULL, row_no INTEGER NOT NULL, col TEXT, value TEXT, code TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (import_id, n)) WITHOUT ROWID;
-- end sqlite only
--pg: CREATE TABLE import_rows (import_id BIGINT NOT NULL, row_no BIGINT NOT NULL, phone TEXT, data TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (import_id, row_no));
--pg: CREATE TABLE import_errors (import_id BIGINT NOT NULL, n BIGINT NOT NULL, row_no BIGINT NOT NULL, col TEXT, value TEXT, code TEXT NOT NULL, message TEXT NOT NULL, PRIMARY KEY (import_id, n));
